//! Builds the eBPF object (`fw-ebpf`) with the Debian BPF toolchain and puts
//! it in `OUT_DIR/fw.o`, where `loader::object` embeds it.
//!
//! The toolchain (`rustup toolchain link debian-bpf /usr`, Debian's
//! `rustc-web` + `libstd-rust-web-dev-bpf`, and `bpf-linker`) is installed by
//! `cargo xtask setup`. `fw-ebpf` has its own lockfile and target dir so that
//! Debian's compiler and rustup's never share artefacts.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    let ebpf = root.join("fw-ebpf");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for p in [
        "fw-ebpf/src",
        "fw-ebpf/Cargo.toml",
        "fw-ebpf/Cargo.lock",
        "fw-common/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=FW_EBPF_TOOLCHAIN");
    let toolchain = env::var("FW_EBPF_TOOLCHAIN").unwrap_or_else(|_| "debian-bpf".into());

    let mut cmd = Command::new("rustup");
    cmd.args(["run", &toolchain, "cargo", "build", "--release", "--locked"])
        .args(["--target", "bpfel-unknown-none"])
        .current_dir(&ebpf);
    // Nothing of the outer (rustup) build may leak into the inner one.
    for (k, _) in env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_") && k != "CARGO_HOME"
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTUP_TOOLCHAIN")
            || k == "RUSTFLAGS"
            || k == "RUSTDOCFLAGS"
            || k == "CARGO"
            || k == "DEBUG"
            || k == "OPT_LEVEL"
            || k == "PROFILE"
            || k == "TARGET"
            || k == "HOST"
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("RUSTC_BOOTSTRAP", "aya_ebpf")
        .env("CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER", "bpf-linker")
        .env("RUSTFLAGS", "-C debuginfo=2 -C link-arg=--btf");
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run rustup to build fw-ebpf ({e}); run `cargo xtask setup` first")
    });
    assert!(
        status.success(),
        "building fw-ebpf with toolchain `{toolchain}` failed; if the toolchain or bpf-linker \
         is missing, run `cargo xtask setup`"
    );
    let obj = ebpf.join("target/bpfel-unknown-none/release/fw");
    copy(&obj, &out.join("fw.o"));
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}

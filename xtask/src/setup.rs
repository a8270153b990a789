//! `cargo xtask setup`: installs what is missing, idempotently.
//!
//! - Debian's `rustc-web`, `cargo-web`, `libstd-rust-web-dev-bpf` (a prebuilt
//!   `core` for the BPF targets) and `llvm-22-dev`, linked as the rustup
//!   toolchain `debian-bpf` (see shared/docs/toolchain.md: the usual
//!   nightly + build-std recipe does not work on these machines);
//! - `bpf-linker` built against LLVM 22;
//! - `iproute2` and `util-linux` (ip, nsenter, mount) for the tests;
//! - bpffs on /sys/fs/bpf.

use std::{path::Path, process::Command};

use anyhow::{Result, bail};

use crate::run as exec;

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn bpffs_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf") && l.contains(" bpf "))
    })
}

const PACKAGES: &[(&str, &str)] = &[
    ("rustc-web", "/usr/bin/rustc"),
    ("cargo-web", "/usr/bin/cargo"),
    (
        "libstd-rust-web-dev-bpf",
        "/usr/lib/rustlib/bpfel-unknown-none/lib",
    ),
    ("llvm-22-dev", "/usr/lib/llvm-22/bin/llvm-config"),
    ("iproute2", "/usr/bin/ip"),
    ("util-linux", "/usr/bin/nsenter"),
    // Real ufw for the parity tests; it only ever runs inside test
    // namespaces with a private /etc/ufw. Installing it enables nothing
    // (its ufw.conf says ENABLED=no).
    ("ufw", "/usr/sbin/ufw"),
    // ping for the end-to-end tests of tracked ICMP echo.
    ("iputils-ping", "/usr/bin/ping"),
    // Prometheus and promtool for the metrics tests (started by the tests
    // themselves, on loopback inside a test namespace).
    ("prometheus", "/usr/bin/promtool"),
    // fail2ban for the ban-through-fw test (a private server started by
    // the test in a namespace; the packaged service is never started, see
    // `run`).
    ("fail2ban", "/usr/bin/fail2ban-server"),
    // tmux drives `fw-ctl top` in its test (send-keys, capture-pane).
    ("tmux", "/usr/bin/tmux"),
    // rsyslog receives the daemon's syslog lines in the logs test (a
    // private rsyslogd with its own config and socket, started by the
    // test; the packaged service is never started, see `run`).
    ("rsyslog", "/usr/sbin/rsyslogd"),
    // The flood bench's peers and probes (`cargo xtask bench`): xdp-filter,
    // nft's netdev ingress hook, veth's own counters (ethtool -S) and perf
    // for profiling; all run only inside the bench's namespaces.
    ("xdp-tools", "/usr/sbin/xdp-filter"),
    ("nftables", "/usr/sbin/nft"),
    ("ethtool", "/usr/sbin/ethtool"),
    ("linux-perf", "/usr/bin/perf"),
];

/// Debian's hook that tells package scripts whether they may start
/// services: while it exists and exits 101, installing prometheus,
/// fail2ban or rsyslog starts no daemon on the host (fail2ban's would
/// manage the host's firewall).
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// Installs what is missing.
pub(crate) fn run() -> Result<()> {
    if !is_root() {
        bail!("fw needs root (BPF, network namespaces): run as root");
    }
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, probe)| !Path::new(probe).exists())
        .map(|(p, _)| *p)
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask setup: installing {}", missing.join(" "));
        exec(Command::new("apt-get").args(["update", "-q"]))?;
        let own_policy = !Path::new(POLICY_RC_D).exists();
        if own_policy {
            std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n")?;
            std::fs::set_permissions(
                POLICY_RC_D,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )?;
        }
        let installed = exec(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
        if own_policy {
            let _ = std::fs::remove_file(POLICY_RC_D);
        }
        installed?;
    }
    let toolchains = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()?;
    if !String::from_utf8_lossy(&toolchains.stdout)
        .lines()
        .any(|l| l.starts_with("debian-bpf"))
    {
        eprintln!("xtask setup: linking Debian's rustc as toolchain debian-bpf");
        exec(Command::new("rustup").args(["toolchain", "link", "debian-bpf", "/usr"]))?;
    }
    if !have("bpf-linker", &["--version"]) {
        eprintln!("xtask setup: building bpf-linker against LLVM 22 (about a minute)");
        exec(
            Command::new("cargo")
                .args([
                    "install",
                    "bpf-linker",
                    "--locked",
                    "--no-default-features",
                    "--features",
                    "llvm-22",
                ])
                .env("LLVM_PREFIX", "/usr/lib/llvm-22"),
        )?;
    }
    if !bpffs_mounted() {
        eprintln!("xtask setup: mounting bpffs on /sys/fs/bpf");
        exec(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))?;
    }
    Ok(())
}

//! fw's task runner: `cargo xtask setup|build|test|demo|bench|install`.
//!
//! This is the only entry point that needs root. `test` and `demo` run
//! `setup` first, so a fresh machine needs nothing but this repository.

mod demo;
mod install;
mod setup;

use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};

fn usage() -> &'static str {
    "usage: cargo xtask <setup|build|test|demo|bench>\n\
     \n  setup   install what is missing (Debian packages, the BPF toolchain, bpf-linker), mount bpffs\
     \n  build   setup, then build everything (the eBPF object is built by fw-ctl's build script)\
     \n  test    setup, build, then run every test (unit, BPF_PROG_TEST_RUN, differential, namespaces)\
     \n  demo    setup, build, then a self-contained demonstration in network namespaces\
     \n  bench   setup, then the per-packet cost at 10..100,000 rules, rule-set apply times, floods\
     \n          of live XDP frames against fw, xdp-filter, nft and ufw, and bans at scale\
     \n  install [--root DIR]  setup, build fw-ctl (release), install it to /usr/local/sbin and the\
     \n          units fw.service (boot) and fw-daemon.service (new interfaces, metrics) to\
     \n          /etc/systemd/system, and enable both"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("build") => setup::run().and_then(|()| build()),
        Some("test") => setup::run()
            .and_then(|()| build())
            .and_then(|()| test(&args[1..])),
        Some("bench") => setup::run().and_then(|()| bench(&args[1..])),
        Some("install") => setup::run().and_then(|()| install::run(&args[1..])),
        Some("demo") => setup::run()
            .and_then(|()| build())
            .and_then(|()| demo::run()),
        _ => {
            eprintln!("{}", usage());
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command, failing with its name when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let st = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed with {st}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn build() -> Result<()> {
    run(cargo().args(["build", "--workspace", "--all-targets"]))
}

/// The benchmark is a release binary of the test crate (it needs the test
/// rig); numbers go to stdout as Markdown tables.
fn bench(extra: &[String]) -> Result<()> {
    // The flood runs the fw-ctl binary beside fw-bench.
    run(cargo().args(["build", "--release", "-p", "fw-ctl", "--bin", "fw-ctl"]))?;
    let r = run(cargo()
        .args([
            "run",
            "--release",
            "-p",
            "fw-tests",
            "--bin",
            "fw-bench",
            "--",
        ])
        .args(extra));
    remove_test_cgroups();
    r
}

fn test(extra: &[String]) -> Result<()> {
    let mut c = cargo();
    c.args(["test", "--workspace", "--no-fail-fast"])
        .args(extra);
    let r = run(&mut c);
    remove_test_cgroups();
    r
}

/// Removes the (by now empty) cgroups the test processes made for fw's
/// cgroup program (`fw_tests::cgroup`); a test binary removes its
/// predecessors', this the last one's (and the bench's).
fn remove_test_cgroups() {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for l in info.lines() {
        let Some((pre, post)) = l.split_once(" - ") else {
            continue;
        };
        if post.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        let Some(root) = pre.split_whitespace().nth(4) else {
            continue;
        };
        let Ok(rd) = std::fs::read_dir(root) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("fw-test-cg-") {
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}

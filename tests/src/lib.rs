//! Helpers for fw's integration tests (they need root and a BPF kernel):
//! packet building, a rig that loads the real eBPF object under unique pins
//! and runs it with BPF_PROG_TEST_RUN, and network-namespace guards for the
//! end-to-end tests. Every resource is released by `Drop`, also when a test
//! fails.

pub mod cases;
pub mod cgroup;
pub mod empty;
pub mod flood;
pub mod fwctl;
pub mod netns;
pub mod packet;
pub mod rig;
pub mod ufw;
pub mod wire;
pub mod workload;

/// The number of cases a randomised test runs: environment variable
/// `var` when set to a number, else `default`.
#[must_use]
pub fn cases_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A child process (a daemon a test started) killed and reaped on drop,
/// also when the test fails.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cmd` run as the child of a shell whose process name is `sshd`, so the
/// program sees an SSH session among its ancestors (ufw and fw-ctl ask
/// before `enable` and `reset` then). `sshd` is a symlink to `/bin/sh`
/// in `dir`.
///
/// # Panics
/// When the link cannot be made.
#[must_use]
pub fn under_fake_sshd(
    cmd: &std::process::Command,
    dir: &std::path::Path,
) -> std::process::Command {
    let sshd = dir.join("sshd");
    if !sshd.exists() {
        std::fs::create_dir_all(dir).expect("mkdir");
        // A symlink, not a copy: a file written while other test threads
        // fork can be "busy" when executed (ETXTBSY); the process name
        // comes from the link's name either way.
        std::os::unix::fs::symlink("/bin/sh", &sshd).expect("symlink /bin/sh");
    }
    let mut c = std::process::Command::new(&sshd);
    // `; exit $?` keeps the shell alive as the parent (no exec).
    c.args(["-c", "\"$@\"; exit $?", "sshd"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

//! The test process's own cgroup, where fw's cgroup egress program goes
//! (`FW_CGROUP`), so that no test hooks the host's root cgroup: the
//! process moves into `CGROUP2/fw-test-cg-PID-0` at its first network test, and
//! `FW_CGROUP` is set in its environment for every fw-ctl it starts (also
//! through fail2ban, tmux or a unit's command line). Cgroups left by
//! earlier test processes are removed by [`crate::netns::sweep_stale`].

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

static CGROUP: OnceLock<PathBuf> = OnceLock::new();

/// The cgroup2 hierarchy's mount point.
///
/// # Panics
/// When no cgroup2 is mounted.
#[must_use]
pub fn root() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    info.lines()
        .find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            (post.split_whitespace().next() == Some("cgroup2"))
                .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))
                .flatten()
        })
        .expect("a cgroup2 mount")
}

/// Moves this process into its test cgroup (once) and returns it.
///
/// # Panics
/// When the cgroup cannot be made or joined.
pub fn enter() -> &'static Path {
    CGROUP.get_or_init(|| {
        let dir = root().join(format!("fw-test-cg-{}-0", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test cgroup");
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
            .expect("join the test cgroup");
        // SAFETY: set once, before the first fw-ctl of this process starts;
        // no other thread reads FW_CGROUP.
        unsafe { std::env::set_var("FW_CGROUP", &dir) };
        dir
    })
}

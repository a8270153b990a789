//! Network namespaces joined by veth pairs, deleted on drop.

use std::{
    fs::File,
    os::fd::AsRawFd as _,
    path::Path,
    process::{Command, Output},
    sync::{
        Once,
        atomic::{AtomicU32, Ordering},
    },
};

static SEQ: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// The pid in a test resource name `PREFIX-PID-N`, if it has that form.
fn owner_pid(name: &str) -> Option<u32> {
    let mut it = name.rsplit('-');
    let _n: u32 = it.next()?.parse().ok()?;
    it.next()?.parse().ok()
}

/// Name prefixes of the namespaces and pin dirs the tests create.
pub const TEST_PREFIXES: &[&str] = &["fw-test-", "fwt-"];

/// Removes what earlier test runs left behind when they were killed before
/// their guards ran (an abort skips `Drop`): namespaces and pin dirs named
/// `fw-test-...-PID-N` or `fwt-...-PID-N` whose PID is gone. Runs once per
/// test process.
pub fn sweep_stale() {
    SWEEP.call_once(|| {
        let dead = |name: &str| {
            TEST_PREFIXES.iter().any(|p| name.starts_with(p))
                && owner_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        };
        if let Ok(rd) = std::fs::read_dir("/run/netns") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if dead(&name) {
                    let _ = Command::new("ip").args(["netns", "del", &name]).output();
                }
            }
        }
        let cgroups = crate::cgroup::root();
        for dir in [
            Path::new("/sys/fs/bpf"),
            Path::new("/sys/fs/bpf/fw"),
            Path::new("/etc/netns"),
            Path::new("/etc/fw/netns"),
        ] {
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if dead(&name) {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        // Test cgroups (empty once their process is gone: rmdir, never a
        // recursive removal).
        if let Ok(rd) = std::fs::read_dir(&cgroups) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if dead(&name) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
    });
}

/// Runs a command and panics with its output when it fails.
///
/// # Panics
/// When the command cannot run or exits non-zero.
pub fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates a namespace with a unique name `fwt-PREFIX-PID-N`, and
    /// brings its loopback up.
    ///
    /// # Panics
    /// When `ip netns add` fails.
    #[must_use]
    pub fn new(prefix: &str) -> Self {
        sweep_stale();
        crate::cgroup::enter();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("fwt-{prefix}-{}-{n}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Sets the namespace's sysctls `settings` (`name=value`; its own
    /// /proc/sys/net through `ip netns exec`), asserting success.
    ///
    /// # Panics
    /// When `sysctl` fails.
    pub fn sysctl(&self, settings: &[&str]) {
        let mut v = vec!["ip", "netns", "exec", &self.name, "sysctl", "-qw"];
        v.extend_from_slice(settings);
        let out = sh(&v);
        assert!(out.status.success(), "sysctl {settings:?}: {out:?}");
    }

    /// Gives `dev` the addresses `addrs` (`ADDR/LEN`, IPv4 or IPv6; IPv6
    /// without duplicate address detection, usable at once) and brings it
    /// up.
    pub fn addrs_up(&self, dev: &str, addrs: &[&str]) {
        for a in addrs {
            if a.contains(':') {
                self.ip(&["-6", "addr", "add", a, "dev", dev, "nodad"]);
            } else {
                self.ip(&["addr", "add", a, "dev", dev]);
            }
        }
        self.ip(&["link", "set", dev, "up"]);
    }

    /// The path of the namespace file.
    #[must_use]
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Runs `f` on a thread that has entered this namespace (sockets made
    /// there belong to it).
    ///
    /// # Panics
    /// When entering the namespace fails or `f` panics.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f).join().expect("netns thread")
    }

    /// Spawns a thread inside the namespace and returns its handle.
    ///
    /// # Panics
    /// When entering the namespace fails.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = self.path();
        std::thread::spawn(move || {
            let file = File::open(&path).expect("open netns");
            // SAFETY: setns on this thread only, with a valid namespace fd.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}");
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair, addressed with documentation
/// prefixes: `host` (fw runs here) 192.0.2.1/24 + 2001:db8:1::1/64 on
/// `fw0`, `client` 192.0.2.2/24 + 2001:db8:1::2/64 on `cl0`.
pub struct Pair {
    /// The protected host.
    pub host: Netns,
    /// The client.
    pub client: Netns,
}

impl Pair {
    /// Creates the pair with one address per family on each side.
    ///
    /// # Panics
    /// When a command fails.
    #[must_use]
    pub fn new(prefix: &str) -> Self {
        Self::with_addrs(
            prefix,
            &["192.0.2.1/24", "2001:db8:1::1/64"],
            &["192.0.2.2/24", "2001:db8:1::2/64"],
        )
    }

    /// Creates the pair with the given addresses (`ADDR/LEN`, IPv4 or
    /// IPv6) on `fw0` (host) and `cl0` (client). IPv6 addresses skip
    /// duplicate address detection, so they are usable at once.
    ///
    /// # Panics
    /// When a command fails.
    #[must_use]
    pub fn with_addrs(prefix: &str, host_addrs: &[&str], client_addrs: &[&str]) -> Self {
        let host = Netns::new(&format!("{prefix}h"));
        let client = Netns::new(&format!("{prefix}c"));
        host.ip(&[
            "link",
            "add",
            "fw0",
            "type",
            "veth",
            "peer",
            "name",
            "cl0",
            "netns",
            &client.name,
        ]);
        host.addrs_up("fw0", host_addrs);
        client.addrs_up("cl0", client_addrs);
        Self { host, client }
    }
}

/// Three namespaces in a row: client A -- router R -- server B. R and A
/// are a [`Pair`] (R is its `host`: `fw0` 192.0.2.1, 2001:db8:1::1; A its
/// `client`: `cl0` 192.0.2.2, 2001:db8:1::2, default routes via R); B
/// (`sv0` 198.51.100.2, 2001:db8:2::2, default routes via R) hangs off
/// R's `rb0` (198.51.100.1, 2001:db8:2::1). R forwards (IPv4 and IPv6).
pub struct Routed {
    /// R (`host`) and A (`client`).
    pub left: Pair,
    /// B.
    pub far: Netns,
}

impl Routed {
    /// Builds the three namespaces and waits (bounded) until A reaches B
    /// both ways (fresh IPv6 links take a moment).
    ///
    /// # Panics
    /// When a command fails or B stays unreachable.
    #[must_use]
    pub fn new(prefix: &str) -> Self {
        let left = Pair::new(prefix);
        let far = Netns::new(&format!("{prefix}b"));
        let (router, a) = (&left.host, &left.client);
        router.ip(&[
            "link", "add", "rb0", "type", "veth", "peer", "name", "sv0", "netns", &far.name,
        ]);
        router.addrs_up("rb0", &["198.51.100.1/24", "2001:db8:2::1/64"]);
        far.addrs_up("sv0", &["198.51.100.2/24", "2001:db8:2::2/64"]);
        far.ip(&["route", "add", "default", "via", "198.51.100.1"]);
        far.ip(&["-6", "route", "add", "default", "via", "2001:db8:2::1"]);
        a.ip(&["route", "add", "default", "via", "192.0.2.1"]);
        a.ip(&["-6", "route", "add", "default", "via", "2001:db8:1::1"]);
        router.run(|| {
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").expect("ip_forward");
            std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1").expect("forwarding");
        });
        for to in [Self::B4, Self::B6] {
            assert!(
                (0..10).any(|_| crate::fwctl::ping(a, to)),
                "{to} unreachable from A"
            );
        }
        Self { left, far }
    }

    /// A's IPv4 address.
    pub const A4: &str = "192.0.2.2";
    /// A's IPv6 address.
    pub const A6: &str = "2001:db8:1::2";
    /// B's IPv4 address.
    pub const B4: &str = "198.51.100.2";
    /// B's IPv6 address.
    pub const B6: &str = "2001:db8:2::2";
}

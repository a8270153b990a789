//! The real `fw-ctl` binary, run inside a test namespace with its own state
//! and pin dirs, disabled and removed on drop; plus the traffic the
//! end-to-end tests send through it.

use std::{
    collections::BTreeMap,
    io::ErrorKind,
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    path::PathBuf,
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use crate::netns::Netns;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The fw-ctl binary: `FW_CTL_BIN`, else `fw-ctl` beside this executable
/// or in the profile directory above it (`cargo build --workspace` puts it
/// there).
///
/// # Panics
/// When it cannot be found.
#[must_use]
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FW_CTL_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/<test> -> target/debug/fw-ctl; a binary such as
    // target/release/fw-bench -> target/release/fw-ctl.
    let dir = exe.parent().expect("target dir");
    let candidates = [
        dir.join("fw-ctl"),
        dir.parent().expect("target dir").join("fw-ctl"),
    ];
    let p = candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| candidates[1].clone());
    assert!(
        p.exists(),
        "{} not found: build it first (`cargo build -p fw-ctl`, done by `cargo xtask test`) \
         or set FW_CTL_BIN",
        p.display()
    );
    p
}

/// How fw-ctl is started in the namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// `nsenter --net=/run/netns/NS`: only the network namespace changes.
    Nsenter,
    /// `ip netns exec NS`: also a private mount namespace with a fresh /sys.
    IpNetnsExec,
}

/// One fw instance: a namespace, a state dir and a pin dir.
pub struct FwCtl {
    ns: String,
    /// The state dir (a fresh temporary directory).
    pub state: PathBuf,
    /// The pin dir (`None`: fw-ctl's default for the namespace).
    pub pins: Option<PathBuf>,
    launch: Launch,
    bin: PathBuf,
}

impl FwCtl {
    /// An instance for `ns` with unique state and pin dirs.
    #[must_use]
    pub fn new(ns: &Netns, launch: Launch) -> Self {
        crate::cgroup::enter();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{n}", std::process::id());
        let state = std::env::temp_dir().join(format!("fw-test-state-{tag}"));
        Self {
            ns: ns.name.clone(),
            state,
            pins: Some(PathBuf::from(format!("/sys/fs/bpf/fw-test-e2e-{tag}"))),
            launch,
            bin: binary(),
        }
    }

    /// Uses fw-ctl's default pin dir for the namespace
    /// (`/sys/fs/bpf/fw/NAME`).
    #[must_use]
    pub fn with_default_pins(mut self) -> Self {
        self.pins = None;
        self
    }

    /// The pin dir in use, as seen from the test process.
    #[must_use]
    pub fn pin_dir(&self) -> PathBuf {
        self.pins
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("/sys/fs/bpf/fw/{}", self.ns)))
    }

    /// The command that runs fw-ctl with `args`.
    #[must_use]
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = match self.launch {
            Launch::Nsenter => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{}", self.ns))
                    .arg(&self.bin);
                c
            }
            Launch::IpNetnsExec => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &self.ns]).arg(&self.bin);
                c
            }
        };
        c.args(args).env("FW_STATE_DIR", &self.state);
        match &self.pins {
            Some(p) => c.env("FW_PIN_DIR", p),
            None => c.env_remove("FW_PIN_DIR"),
        };
        c
    }

    /// Runs fw-ctl with `args`, whatever its exit status.
    ///
    /// # Panics
    /// When it cannot be started.
    #[must_use]
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("fw-ctl {args:?}: {e}"))
    }

    /// Runs fw-ctl with `args`, asserts success, returns stdout.
    ///
    /// # Panics
    /// When it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "fw-ctl {args:?} exited {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Adds an application profile file to this instance's
    /// `STATE_DIR/applications.d`.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn add_profile(&self, file: &str, text: &str) {
        let dir = self.state.join("applications.d");
        std::fs::create_dir_all(&dir).expect("fw profile dir");
        std::fs::write(dir.join(file), text).expect("write fw profile");
    }

    /// Per-rule packet counters from `fw-ctl stats`, keyed by the rule's
    /// text with ` (v6)` for IPv6 rules.
    #[must_use]
    pub fn rule_packets(&self) -> BTreeMap<String, u64> {
        let out = self.ok(&["stats"]);
        let mut m = BTreeMap::new();
        let mut in_rules = false;
        for line in out.lines() {
            if line.starts_with("Num ") {
                in_rules = true;
                continue;
            }
            if !in_rules || line.trim().is_empty() {
                continue;
            }
            // Num Id Packets Bytes  Rule (canonical text, single spaces)
            let w: Vec<&str> = line.split_whitespace().collect();
            assert!(w.len() > 4, "stats line: {line}");
            m.insert(w[4..].join(" "), w[2].parse().expect("packets column"));
        }
        m
    }

    /// Packets counted under `reason` in direction `dir` (`in`/`out`) with
    /// `verdict` (`pass`/`drop`), from `fw-ctl stats`.
    #[must_use]
    pub fn reason_packets(&self, reason: &str, dir: &str, verdict: &str) -> u64 {
        let out = self.ok(&["stats"]);
        out.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.len() == 5 && w[0] == reason && w[1] == dir && w[2] == verdict)
            .map_or(0, |w| w[3].parse().expect("packets"))
    }
}

impl Drop for FwCtl {
    fn drop(&mut self) {
        let _ = self.command(&["disable"]).output();
        let _ = std::fs::remove_dir_all(&self.state);
        let _ = std::fs::remove_dir_all(self.pin_dir());
    }
}

/// Connect timeout for the end-to-end tests: a dropped SYN shows as a
/// timeout, a closed port as a refusal.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(700);

/// Opens TCP listeners on `[::]:port` (IPv4 and IPv6) in `ns`; they keep
/// the namespace they were made in.
#[must_use]
pub fn tcp_listeners(ns: &Netns, ports: &[u16]) -> Vec<TcpListener> {
    let ports = ports.to_vec();
    ns.run(move || {
        ports
            .iter()
            .map(|p| TcpListener::bind(("::", *p)).expect("tcp listener"))
            .collect()
    })
}

/// Opens UDP sockets on `[::]:port` in `ns` with a short read timeout.
#[must_use]
pub fn udp_sockets(ns: &Netns, ports: &[u16]) -> Vec<UdpSocket> {
    let ports = ports.to_vec();
    ns.run(move || {
        ports
            .iter()
            .map(|p| {
                let s = UdpSocket::bind(("::", *p)).expect("udp socket");
                s.set_read_timeout(Some(Duration::from_millis(300)))
                    .expect("timeout");
                s
            })
            .collect()
    })
}

/// The outcome of one TCP connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connect {
    /// Established.
    Connected,
    /// No answer within [`CONNECT_TIMEOUT`] (the SYN was dropped).
    Silence,
    /// Refused (RST) or another error.
    Failed(ErrorKind),
}

/// One TCP connect from `ns` to `to`.
#[must_use]
pub fn tcp_connect(ns: &Netns, to: SocketAddr) -> Connect {
    ns.run(
        move || match TcpStream::connect_timeout(&to, CONNECT_TIMEOUT) {
            Ok(_) => Connect::Connected,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                Connect::Silence
            }
            Err(e) => Connect::Failed(e.kind()),
        },
    )
}

/// One UDP flow from a new socket in `ns` to `to`, where `rx` listens: a
/// datagram, the host's answer (from `rx`) and a second datagram. True
/// when all three arrived (bounded by the sockets' read timeouts).
#[must_use]
pub fn udp_exchange(ns: &Netns, to: SocketAddr, rx: &UdpSocket) -> bool {
    let client = ns.run(move || {
        let s =
            UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).expect("udp socket");
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        s.connect(to).expect("connect");
        s
    });
    let mut buf = [0u8; 64];
    if client.send(b"one").is_err() {
        return false;
    }
    let Ok((_, from)) = rx.recv_from(&mut buf) else {
        return false;
    };
    if rx.send_to(b"answer", from).is_err() || client.recv(&mut buf).is_err() {
        return false;
    }
    client.send(b"two").is_ok() && rx.recv_from(&mut buf).is_ok()
}

/// Sends `count` datagrams from `ns` to `to`, then counts how many `rx`
/// received (bounded by its read timeout).
#[must_use]
pub fn udp_delivered(ns: &Netns, to: SocketAddr, count: usize, rx: &UdpSocket) -> usize {
    ns.run(move || {
        let bind: SocketAddr = if to.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        let s = UdpSocket::bind(bind).expect("client udp");
        for i in 0..count {
            s.send_to(format!("fw test datagram {i}").as_bytes(), to)
                .expect("send");
        }
    });
    let mut got = 0;
    let mut buf = [0u8; 1500];
    while got < count {
        match rx.recv_from(&mut buf) {
            Ok(_) => got += 1,
            Err(_) => break,
        }
    }
    got
}

/// One datagram from a connected UDP socket in `ns` to `to`, then one
/// receive (at most 800 ms): the answer's length, or the error the socket
/// reports (`ConnectionRefused` when an ICMP port-unreachable came back,
/// `WouldBlock` / `TimedOut` on silence).
///
/// # Errors
/// The socket's error kind.
///
/// # Panics
/// When the socket cannot be made.
pub fn udp_ask(ns: &Netns, to: SocketAddr) -> Result<usize, ErrorKind> {
    ns.run(move || {
        let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let s = UdpSocket::bind(bind).expect("udp");
        s.connect(to).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_millis(800)))
            .expect("timeout");
        let _ = s.send(b"fw test question");
        let mut buf = [0u8; 64];
        s.recv(&mut buf).map_err(|e| e.kind())
    })
}

/// One datagram from `ns` to `to` on a connected UDP socket, then a short
/// wait for an error the network reports (ICMP): the error of `send`, else
/// "connection refused" from a short `recv`, else Ok.
///
/// # Errors
/// The send's error, or the refusal.
///
/// # Panics
/// When the socket cannot be made.
pub fn udp_send(ns: &Netns, to: SocketAddr) -> std::io::Result<()> {
    ns.run(move || {
        let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let s = UdpSocket::bind(bind).expect("udp");
        s.connect(to).expect("connect");
        s.send(b"datagram")?;
        s.set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        match s.recv(&mut buf) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Err(e),
            _ => Ok(()),
        }
    })
}

/// One HTTP/1.0 GET of `path` at `addr` from inside `ns`: (status line,
/// body), or None when nothing answers. Bounded by a 2-second connect and
/// a 5-second read timeout.
#[must_use]
pub fn http_get(ns: &Netns, addr: &'static str, path: String) -> Option<(String, String)> {
    use std::io::{Read as _, Write as _};
    ns.run(move || {
        let addr: SocketAddr = addr.parse().ok()?;
        let mut s = TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        Some((head.lines().next()?.to_owned(), body.to_owned()))
    })
}

/// `ping -c 1` from `ns` to `addr` (one echo request, one second to
/// answer): true when the reply came back.
///
/// # Panics
/// When ping cannot be started (`cargo xtask setup` installs it).
#[must_use]
pub fn ping(ns: &Netns, addr: &str) -> bool {
    Command::new("nsenter")
        .arg(format!("--net={}", ns.path()))
        .args(["ping", "-n", "-q", "-c", "1", "-W", "1", addr])
        .output()
        .expect("ping")
        .status
        .success()
}

//! Drop logs: ufw's logging levels and rate limits in the data plane
//! (BPF_PROG_TEST_RUN, reading the ring buffer), and end to end: the
//! daemon writes ufw's lines for real packets, and `fail2ban-regex` with a
//! filter for ufw's lines finds the offending address in fw's output.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use fw_common::{
    Direction, Verdict,
    log::{LOG_FULL, LOG_HIGH, LOG_MEDIUM, LOG_OFF, LogKind},
};
use fw_ctl::rule::{Action, compile::Defaults};
use fw_tests::{
    ChildGuard,
    fwctl::{Connect, FwCtl, Launch, tcp_connect, tcp_listeners},
    netns::Pair,
    packet::{L4, Pkt},
    rig::{Rig, rules},
};

fn deny_in() -> Defaults {
    Defaults {
        incoming: Action::Deny,
        outgoing: Action::Allow,
        routed: Action::Deny,
    }
}

/// ufw's after.rules and after6.rules: NetBIOS, DHCP and limited-broadcast
/// packets the incoming policy drops leave no `[UFW BLOCK]` line (and an
/// allow policy's no `[UFW ALLOW]` at medium); the same ports outgoing,
/// another port, or a `log` rule on them are logged as before.
#[test]
fn ufws_after_rules_keep_netbios_dhcp_and_broadcast_out_of_the_log() {
    let mut rig = Rig::stateful();
    rig.load(&rules(&["deny log 445/tcp"]), deny_in());
    let quiet = [
        Pkt::new("198.51.100.7", "192.0.2.1", L4::Udp(137, 137)),
        Pkt::new("198.51.100.7", "192.0.2.1", L4::Udp(138, 138)),
        Pkt::new("198.51.100.7", "192.0.2.1", L4::Tcp(40000, 139)),
        Pkt::new("198.51.100.7", "192.0.2.1", L4::Udp(68, 67)),
        Pkt::new("0.0.0.0", "255.255.255.255", L4::Udp(68, 67)),
        Pkt::new("198.51.100.7", "255.255.255.255", L4::Udp(40000, 17500)),
        Pkt::new("2001:db8::7", "2001:db8::1", L4::Udp(547, 547)),
        Pkt::new("2001:db8::7", "2001:db8::1", L4::Udp(137, 137)),
    ];
    for p in &quiet {
        assert_eq!(rig.verdict(Direction::In, &p.bytes()), Verdict::Drop);
    }
    assert!(rig.log_events().is_empty(), "after.rules: no line");
    let loud = [
        Pkt::new("198.51.100.7", "192.0.2.1", L4::Udp(137, 140)),
        Pkt::new("198.51.100.7", "192.0.2.255", L4::Udp(40000, 17500)),
        Pkt::new("2001:db8::7", "2001:db8::1", L4::Udp(68, 67)),
        Pkt::new("198.51.100.7", "192.0.2.1", L4::Tcp(40001, 445)),
    ];
    for p in &loud {
        assert_eq!(rig.verdict(Direction::In, &p.bytes()), Verdict::Drop);
    }
    let kinds: Vec<u8> = rig.log_events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [LogKind::Block as u8; 4], "logged as before");
    // Outgoing (a deny policy), the same ports are logged.
    rig.load(
        &[],
        Defaults {
            outgoing: Action::Deny,
            ..deny_in()
        },
    );
    let out = Pkt::new("192.0.2.1", "198.51.100.7", L4::Udp(137, 137));
    assert_eq!(rig.verdict(Direction::Out, &out.bytes()), Verdict::Drop);
    assert_eq!(
        rig.log_events().len(),
        1,
        "ufw-after-output has no such lines"
    );
    // medium, default allow incoming: no [UFW ALLOW] for them, an AUDIT only.
    rig.dp.set_logging(LOG_MEDIUM).unwrap();
    rig.load(
        &[],
        Defaults {
            incoming: Action::Allow,
            ..deny_in()
        },
    );
    let p = Pkt::new("198.51.100.7", "192.0.2.1", L4::Udp(40002, 138));
    assert_eq!(rig.verdict(Direction::In, &p.bytes()), Verdict::Pass);
    let kinds: Vec<u8> = rig.log_events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [LogKind::Audit as u8]);
}

/// ufw's limits: a flood of packets the policy drops gives the burst (10)
/// lines, the rest are counted as suppressed; `log` rules have their own
/// bucket; `full` has no limit; `medium` adds `[UFW AUDIT]` for new
/// packets, `high` for every packet (limited); `off` logs nothing, not even
/// `log` rules; the events carry the frame and where it came from.
#[test]
fn levels_and_rate_limits_hold_in_the_kernel() {
    let mut rig = Rig::stateful();
    rig.load(&rules(&["allow log 2222/tcp"]), deny_in());
    let denied = |k: u16| Pkt::new("198.51.100.7", "192.0.2.1", L4::Tcp(30000 + k, 9999));
    for k in 0..30 {
        let _ = rig.verdict(Direction::In, &denied(k).bytes());
    }
    let events = rig.log_events();
    assert_eq!(
        events.len(),
        10,
        "the burst, then nothing within the minute"
    );
    assert!(events.iter().all(|e| e.kind == LogKind::Block as u8));
    let (written, suppressed, _) = rig.dp.log_stats().unwrap();
    assert_eq!((written, suppressed), (10, 20));
    // The event holds the frame as it arrived.
    let first = &events[0];
    assert_eq!(first.len as usize, denied(0).bytes().len());
    assert_eq!(
        &first.data[..first.caplen as usize],
        &denied(0).bytes()[..first.caplen as usize]
    );
    // A `log` rule: its own bucket, new connections only.
    let syn = Pkt::new("198.51.100.7", "192.0.2.1", L4::Tcp(40000, 2222));
    let _ = rig.verdict(Direction::In, &syn.bytes());
    let _ = rig.verdict(Direction::Out, &syn.reply(0x12).bytes());
    let _ = rig.verdict(Direction::In, &syn.clone().flags(0x10).bytes());
    let events = rig.log_events();
    assert_eq!(events.len(), 1, "the SYN, not the established ACK");
    assert_eq!(events[0].kind, LogKind::Allow as u8);
    // full: no limit (and each new packet has its AUDIT line first).
    rig.dp.set_logging(LOG_FULL).unwrap();
    for k in 0..30 {
        let _ = rig.verdict(Direction::In, &denied(100 + k).bytes());
    }
    let kinds: Vec<u8> = rig.log_events().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [LogKind::Audit as u8, LogKind::Block as u8].repeat(30)
    );
    // medium: invalid packets are logged too.
    rig.dp.set_logging(LOG_MEDIUM).unwrap();
    let synfin = Pkt::new("198.51.100.7", "192.0.2.1", L4::Tcp(40001, 80)).flags(0x03);
    let _ = rig.verdict(Direction::In, &synfin.bytes());
    let kinds: Vec<u8> = rig.log_events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [LogKind::AuditInvalid as u8], "invalid is not new");
    // medium: [UFW AUDIT] for every new packet (its own bucket per
    // direction), before the packet's own line; an allow policy's packets
    // are logged too.
    let out = |k: u16| Pkt::new("192.0.2.1", "198.51.100.9", L4::Udp(5000 + k, 53));
    let reply = |k: u16| Pkt::new("198.51.100.9", "192.0.2.1", L4::Udp(53, 5000 + k));
    let _ = rig.verdict(Direction::Out, &out(0).bytes());
    let kinds: Vec<(u8, u8)> = rig.log_events().iter().map(|e| (e.kind, e.dir)).collect();
    let o = Direction::Out as u8;
    assert_eq!(
        kinds,
        [(LogKind::Audit as u8, o), (LogKind::Allow as u8, o)],
        "AUDIT, then the policy's ALLOW"
    );
    for k in 1..30 {
        let _ = rig.verdict(Direction::Out, &out(k).bytes());
    }
    let events = rig.log_events();
    let count = |kind: LogKind| events.iter().filter(|e| e.kind == kind as u8).count();
    assert_eq!((count(LogKind::Audit), count(LogKind::Allow)), (9, 9));
    // Packets of tracked flows are not new: nothing at medium...
    // (nor an ICMP error the host sends about one of them: RELATED; the
    // buckets are empty by now, so not even a suppressed line)
    let related = {
        let mut e = Pkt::new("192.0.2.1", "198.51.100.9", L4::Icmp(3));
        e.payload = reply(1).bytes()[14..14 + 28].to_vec();
        e
    };
    let stats = rig.dp.log_stats().unwrap();
    let _ = rig.verdict(Direction::In, &reply(0).bytes());
    assert_eq!(rig.verdict(Direction::Out, &related.bytes()), Verdict::Pass);
    assert!(
        rig.log_events().is_empty(),
        "an established reply and a related error at medium"
    );
    assert_eq!(rig.dp.log_stats().unwrap(), stats, "not judged at all");
    // ...but every packet is audited at high, limited (burst 10)...
    rig.dp.set_logging(LOG_HIGH).unwrap();
    for k in 0..30 {
        let _ = rig.verdict(Direction::In, &reply(k).bytes());
    }
    let events = rig.log_events();
    assert_eq!(events.len(), 10, "the burst of AUDIT lines");
    assert!(
        events
            .iter()
            .all(|e| e.kind == LogKind::Audit as u8 && e.dir == Direction::In as u8)
    );
    // ...and without limit at full.
    rig.dp.set_logging(LOG_FULL).unwrap();
    for k in 0..30 {
        let _ = rig.verdict(Direction::In, &reply(k).bytes());
    }
    assert_eq!(rig.log_events().len(), 30);
    let _ = rig.verdict(Direction::Out, &related.bytes());
    let kinds: Vec<(u8, u8)> = rig.log_events().iter().map(|e| (e.kind, e.dir)).collect();
    assert_eq!(kinds, [(LogKind::Audit as u8, o)], "related at full");
    // off: nothing.
    rig.dp.set_logging(LOG_OFF).unwrap();
    let _ = rig.verdict(Direction::In, &denied(200).bytes());
    let _ = rig.verdict(
        Direction::In,
        &Pkt::new("198.51.100.8", "192.0.2.1", L4::Tcp(40002, 2222)).bytes(),
    );
    assert!(rig.log_events().is_empty());
}

/// Starts the daemon writing its lines to `dest`, then the client's SYN
/// to the host's port 9999 is dropped by the policy (a `[UFW BLOCK]` line).
fn daemon_then_a_dropped_syn(fw: &FwCtl, pair: &Pair, dest: &str) -> ChildGuard {
    let daemon = ChildGuard(
        fw.command(&["daemon", "--log", dest])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the daemon"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        tcp_connect(&pair.client, "192.0.2.1:9999".parse().unwrap()),
        Connect::Silence
    );
    daemon
}

#[test]
fn the_daemon_writes_ufws_lines_and_fail2ban_reads_them() {
    let pair = Pair::new("logs");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _service = tcp_listeners(&pair.host, &[2222]);
    fw.ok(&["allow", "log", "2222/tcp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    let log = fw.state.join("fw.log");
    let _daemon = daemon_then_a_dropped_syn(&fw, &pair, &format!("file:{}", log.display()));
    assert_eq!(
        tcp_connect(&pair.client, "192.0.2.1:2222".parse().unwrap()),
        Connect::Connected
    );
    let start = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("[UFW ALLOW]") && text.contains("[UFW BLOCK]") {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no lines: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let block = text
        .lines()
        .find(|l| l.contains("[UFW BLOCK]") && l.contains("DPT=9999"))
        .unwrap_or_else(|| panic!("{text}"));
    for part in [
        " fw: [UFW BLOCK] IN=fw0 OUT= MAC=",
        " SRC=192.0.2.2 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=",
        " DF PROTO=TCP SPT=",
        " DPT=9999 WINDOW=",
        " RES=0x00 SYN URGP=0",
    ] {
        assert!(block.contains(part), "{part:?} in {block}");
    }
    assert!(
        text.lines()
            .any(|l| l.contains("[UFW ALLOW] IN=fw0") && l.contains("DPT=2222")),
        "{text}"
    );

    // The daemon counts them for Prometheus too.
    let (_, metrics) = fw_tests::fwctl::http_get(&pair.host, "127.0.0.1:9848", "/metrics".into())
        .expect("the daemon answers /metrics");
    let written: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("fw_log_events_total{outcome=\"written\"} "))
        .and_then(|v| v.parse().ok())
        .expect("fw_log_events_total");
    assert!(written >= 2.0, "{metrics}");

    // fail2ban reads them with a filter for ufw's lines.
    let filter = fw.state.join("ufw-block.conf");
    std::fs::write(
        &filter,
        "[Definition]\nfailregex = \\[UFW BLOCK\\].+SRC=<HOST> DST\n",
    )
    .unwrap();
    let out = Command::new("fail2ban-regex")
        .arg(&log)
        .arg(&filter)
        .output()
        .expect("fail2ban-regex (Debian package fail2ban)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    let matched: usize = report
        .lines()
        .find_map(|l| {
            l.strip_prefix("Lines: ")?
                .split(", ")
                .find_map(|p| p.strip_suffix(" matched")?.parse().ok())
        })
        .expect("fail2ban-regex's summary");
    let text = std::fs::read_to_string(&log).unwrap();
    let blocks = text.lines().filter(|l| l.contains("[UFW BLOCK]")).count();
    assert_eq!(matched, blocks, "{report}");
    let verbose = Command::new("fail2ban-regex")
        .args(["-v", "--print-all-matched"])
        .arg(&log)
        .arg(&filter)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&verbose.stdout).contains("192.0.2.2"),
        "the offending address"
    );
}

/// The daemon's syslog destination with a real rsyslogd (Debian's
/// package; a private instance with its own config and socket, so the
/// host's logging is untouched): Debian ufw's own rsyslog rule
/// (`:msg,contains,"[UFW "`, from its 20-ufw.conf) files fw's lines, and a
/// `kern.warning` selector gets them too (facility kern, severity warning,
/// as the kernel's LOG lines).
#[test]
fn rsyslog_files_the_daemons_lines_as_ufws() {
    let pair = Pair::new("rsys");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let dir = fw.state.join("rsyslog");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{d}/log\")\n\
             :msg,contains,\"[UFW \" {d}/ufw.log\n\
             kern.warning {d}/kern.log\n\
             user.* {d}/user.log\n"
        ),
    )
    .unwrap();
    let _rsyslogd = ChildGuard(
        Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd (Debian package rsyslog)"),
    );
    let socket = dir.join("log");
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "rsyslogd's socket"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    fw.ok(&["enable", "-i", "fw0"]);
    let _daemon = daemon_then_a_dropped_syn(&fw, &pair, &format!("syslog:{}", socket.display()));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let start = Instant::now();
    while !(read("ufw.log").contains("DPT=9999") && read("kern.log").contains("DPT=9999")) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ufw.log: {:?}, kern.log: {:?}",
            read("ufw.log"),
            read("kern.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let ufw_log = read("ufw.log");
    let line = ufw_log
        .lines()
        .find(|l| l.contains("DPT=9999"))
        .unwrap()
        .to_owned();
    assert!(
        line.contains(" fw: [UFW BLOCK] IN=fw0 OUT= MAC=")
            && line.contains(" SRC=192.0.2.2 DST=192.0.2.1 LEN=60 "),
        "{line}"
    );
    assert!(!read("user.log").contains("[UFW "), "not facility user");
}

/// `fw-ctl log --follow` without a daemon: ufw's lines on standard output
/// as packets are dropped; Ctrl-C (SIGINT) ends it cleanly.
#[test]
fn log_follow_prints_the_lines() {
    use std::io::BufRead as _;
    let pair = Pair::new("follow");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["enable", "-i", "fw0"]);
    let mut child = ChildGuard(
        fw.command(&["log", "--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("fw-ctl log --follow"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        tcp_connect(&pair.client, "192.0.2.1:9999".parse().unwrap()),
        Connect::Silence
    );
    let start = Instant::now();
    let line = loop {
        let left = Duration::from_secs(10).saturating_sub(start.elapsed());
        let l = rx.recv_timeout(left).expect("a line within 10 s");
        if l.contains("DPT=9999") {
            break l;
        }
    };
    assert!(
        line.starts_with("[UFW BLOCK] IN=fw0 OUT= MAC=") && line.contains("SRC=192.0.2.2"),
        "{line}"
    );
    // SAFETY: a plain kill(2) on our own child.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}

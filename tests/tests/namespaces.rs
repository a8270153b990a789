//! End-to-end tests with real traffic: the fw-ctl binary protects one end
//! of a veth pair between two network namespaces; real TCP connects and UDP
//! datagrams (IPv4 and IPv6) are delivered or meet silence as the rules say,
//! and the counters `fw-ctl stats` shows move accordingly. Namespaces, state
//! and pins are removed by guards, also when a test fails.

use std::{
    collections::BTreeMap,
    hash::{DefaultHasher, Hasher as _},
    net::SocketAddr,
    path::{Path, PathBuf},
};

use fw_common::{
    abi::ABI_VERSION,
    rules::{EntryV6, KeyV4, KeyV6, RuleEntry, RulesetHeader},
};
use fw_ctl::loader::{Dataplane, Pins};
use fw_tests::{
    fwctl::{
        Connect, FwCtl, Launch, ping, tcp_connect, tcp_listeners, udp_ask, udp_delivered, udp_send,
        udp_sockets,
    },
    netns::Pair,
};

const HOST4: &str = "192.0.2.1";
const HOST6: &str = "2001:db8:1::1";

fn at(host: &str, port: u16) -> SocketAddr {
    let ip: std::net::IpAddr = host.parse().unwrap();
    SocketAddr::new(ip, port)
}

#[test]
fn real_tcp_and_udp_v4_v6_are_delivered_or_dropped_and_counted() {
    let pair = Pair::new("e2e");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _tcp = tcp_listeners(&pair.host, &[9000, 9001, 9002]);
    let udp = udp_sockets(&pair.host, &[514, 515]);

    // Without fw every port answers: the silence below is the filter's.
    for host in [HOST4, HOST6] {
        assert_eq!(
            tcp_connect(&pair.client, at(host, 9001)),
            Connect::Connected
        );
        assert_eq!(udp_delivered(&pair.client, at(host, 515), 1, &udp[1]), 1);
    }

    fw.ok(&["default", "deny", "incoming"]);
    fw.ok(&[
        "allow",
        "from",
        "192.0.2.0/24",
        "to",
        "any",
        "port",
        "9000",
        "proto",
        "tcp",
    ]);
    fw.ok(&[
        "allow",
        "from",
        "2001:db8:1::/64",
        "to",
        "any",
        "port",
        "9000",
        "proto",
        "tcp",
    ]);
    fw.ok(&["allow", "514/udp"]);
    fw.ok(&["deny", "9002/tcp"]);
    // No -i: every non-loopback interface (here fw0).
    fw.ok(&["enable"]);

    for host in [HOST4, HOST6] {
        assert_eq!(
            tcp_connect(&pair.client, at(host, 9000)),
            Connect::Connected,
            "{host}:9000 allowed"
        );
        assert_eq!(
            tcp_connect(&pair.client, at(host, 9001)),
            Connect::Silence,
            "{host}:9001 default deny"
        );
        assert_eq!(
            tcp_connect(&pair.client, at(host, 9002)),
            Connect::Silence,
            "{host}:9002 deny rule"
        );
        assert_eq!(
            udp_delivered(&pair.client, at(host, 514), 3, &udp[0]),
            3,
            "{host}:514/udp allowed"
        );
        assert_eq!(
            udp_delivered(&pair.client, at(host, 515), 3, &udp[1]),
            0,
            "{host}:515/udp default deny"
        );
    }
    // Loopback is never filtered (default deny incoming notwithstanding).
    for host in ["127.0.0.1", "::1"] {
        assert_eq!(
            tcp_connect(&pair.host, at(host, 9001)),
            Connect::Connected,
            "loopback {host}"
        );
    }

    let counts = fw.rule_packets();
    let get = |text: &str| -> u64 {
        *counts
            .get(text)
            .unwrap_or_else(|| panic!("no rule '{text}' in {counts:#?}"))
    };
    // Flows are tracked, so a rule counts the packets it decided, as
    // ufw's: the opening SYN of each connection, per family ...
    assert!(get("allow in proto tcp from 192.0.2.0/24 to any port 9000") >= 1);
    assert!(get("allow in proto tcp from 2001:db8:1::/64 to any port 9000 (v6)") >= 1);
    // ... and, as in ufw, each of the three datagrams sent from one
    // socket: unanswered, they are all new packets (netfilter's ctstate
    // NEW until a reply is seen); the connections' later packets pass as
    // established.
    assert_eq!(
        get("allow in proto udp from any to any port 514"),
        3,
        "{counts:#?}"
    );
    assert_eq!(
        get("allow in proto udp from any to any port 514 (v6)"),
        3,
        "{counts:#?}"
    );
    assert!(fw.reason_packets("established", "in", "pass") >= 4);
    assert!(get("deny in proto tcp from any to any port 9002") >= 1);
    assert!(get("deny in proto tcp from any to any port 9002 (v6)") >= 1);
    // 9001's SYNs and 515's six datagrams fell to the default policy.
    assert!(fw.reason_packets("policy", "in", "drop") >= 8);

    // `show raw`: every live entry, one line each, then the same counters.
    let raw = fw.ok(&["show", "raw"]);
    let live = snapshot(&fw);
    let entries = |from: &str, to: &str| {
        let start = raw.find(from).expect(from) + from.len();
        let end = raw[start..].find(to).map_or(raw.len(), |e| start + e);
        raw[start..end]
            .lines()
            .filter(|l| l.starts_with("  shape "))
            .count()
    };
    assert_eq!(
        entries("Entries v4:", "Entries v6:"),
        live.v4.len(),
        "{raw}"
    );
    assert_eq!(
        entries("Entries v6:", "Port classes"),
        live.v6.len(),
        "{raw}"
    );
    assert!(
        raw.lines().any(|l| {
            l.ends_with("  allow in proto udp from any to any port 514")
                && l.split_whitespace().nth(2) == Some("3")
        }),
        "{raw}"
    );

    // The filter is gone after disable, pins too.
    fw.ok(&["disable"]);
    assert!(
        !fw.pin_dir().join(format!("v{ABI_VERSION}")).exists(),
        "pins left after disable"
    );
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 9001)),
        Connect::Connected
    );
}

/// What a failed command must leave exactly as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    files: BTreeMap<PathBuf, String>,
    /// The live slot's header, as a digest (it is 256 KiB).
    header: u64,
    v4: Vec<(KeyV4, RuleEntry)>,
    v6: Vec<(KeyV6, EntryV6)>,
    generation: u64,
}

fn snapshot(fw: &FwCtl) -> Snapshot {
    // Reading the 256 KiB header takes a few copies on the stack in debug
    // builds: more than a test thread's default 2 MiB.
    let (state, pins) = (fw.state.clone(), fw.pin_dir());
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(move || read_snapshot(&state, &pins))
        .expect("spawn")
        .join()
        .expect("snapshot")
}

fn read_snapshot(state: &Path, pins: &Path) -> Snapshot {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(state).expect("state dir") {
        let p = e.expect("entry").path();
        if p.is_file() {
            files.insert(
                p.clone(),
                std::fs::read_to_string(&p).expect("read state file"),
            );
        }
    }
    let dp = Dataplane::open(&Pins::new(pins)).expect("open pinned maps");
    let header: Box<RulesetHeader> = Box::new(dp.live_header().expect("header"));
    let mut h = DefaultHasher::new();
    // SAFETY: RulesetHeader is repr(C) plain data without padding
    // (fw_common asserts its size); reading its bytes is sound.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&raw const *header).cast::<u8>(),
            size_of::<RulesetHeader>(),
        )
    };
    h.write(bytes);
    let (mut v4, mut v6) = dp.live_entries().expect("entries");
    v4.sort_by_key(|(k, _)| *k);
    v6.sort_by_key(|(k, _)| *k);
    Snapshot {
        files,
        header: h.finish(),
        v4,
        v6,
        generation: dp.config().expect("config").generation,
    }
}

#[test]
fn bad_input_is_refused_naming_the_token_and_changes_nothing() {
    let pair = Pair::new("bad");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["allow", "from", "10.0.0.0/8", "to", "any", "port", "9000"]);
    fw.ok(&["deny", "from", "198.51.100.7"]);
    fw.ok(&["allow", "22/tcp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    let before = snapshot(&fw);
    assert!(!before.v4.is_empty() && !before.v6.is_empty());

    let cases: &[(&[&str], &str)] = &[
        (&["allow", "70000"], "70000"),
        (&["allow", "22/tcpx"], "22/tcpx"),
        (&["allow", "from", "10.0.0.0/33"], "10.0.0.0/33"),
        (&["allow", "from", "10.0.0.300"], "10.0.0.300"),
        (&["allow", "proto", "foo", "from", "10.0.0.1"], "foo"),
        (
            &["allow", "from", "10.0.0.1", "to", "any", "port", "1:99999"],
            "1:99999",
        ),
        (&["deny", "from", "10.0.0.1", "to", "2001:db8::1"], "Mixed"),
        (&["--force", "delete", "99"], "99"),
        (&["insert", "99", "allow", "80"], "99"),
        (&["default", "sideways"], "sideways"),
        (&["enable", "-i", "nosuch0"], "nosuch0"),
    ];
    for (args, token) in cases {
        let out = fw.output(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: exit; stderr {stderr}"
        );
        assert!(
            stderr.starts_with("ERROR: ") && stderr.contains(token),
            "{args:?}: error must name '{token}', got: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert_eq!(snapshot(&fw), before, "{args:?} changed state or maps");
    }
    // --dry-run prints what would change and changes nothing either.
    let out = fw.ok(&["--dry-run", "allow", "5555/tcp", "comment", "dry"]);
    assert!(
        out.contains("allow in proto tcp from any to any port 5555 comment 'dry'")
            && out.ends_with("Rules updated\nRules updated (v6)\n"),
        "{out}"
    );
    assert_eq!(
        snapshot(&fw),
        before,
        "--dry-run allow changed state or maps"
    );
    let dry: &[&[&str]] = &[
        &["--dry-run", "--force", "delete", "1"],
        &["--dry-run", "delete", "allow", "22/tcp"],
        &["--dry-run", "default", "allow"],
        &["--dry-run", "default", "reject", "routed"],
        &["--dry-run", "logging", "off"],
        &["--dry-run", "app", "default", "allow"],
        &["--dry-run", "disable"],
        &["--dry-run", "reload"],
        &["--dry-run", "--force", "reset"],
    ];
    for args in dry {
        fw.ok(args);
        assert_eq!(snapshot(&fw), before, "{args:?} changed state or maps");
    }
    // And a good command after all that still works (the lock was released).
    fw.ok(&["allow", "80/tcp"]);
    assert_ne!(snapshot(&fw).generation, before.generation);
}

#[test]
fn ip_netns_exec_finds_the_pins_of_its_namespace_again() {
    let pair = Pair::new("exec");
    let fw = FwCtl::new(&pair.host, Launch::IpNetnsExec).with_default_pins();
    let _tcp = tcp_listeners(&pair.host, &[9000, 9001]);
    fw.ok(&["default", "deny"]);
    fw.ok(&["enable", "-i", "fw0"]);
    // Each command is a new `ip netns exec` with a fresh /sys: the pins
    // must live on the host's bpffs under the namespace's name.
    let pins = fw.pin_dir();
    assert!(
        Path::new(&pins)
            .join(format!("v{ABI_VERSION}/maps"))
            .exists(),
        "pins at {}",
        pins.display()
    );
    fw.ok(&["allow", "9000/tcp"]);
    let status = fw.ok(&["status"]);
    assert!(status.contains("Status: active"), "{status}");
    assert!(status.contains("9000/tcp"), "{status}");
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 9000)),
        Connect::Connected
    );
    assert_eq!(tcp_connect(&pair.client, at(HOST4, 9001)), Connect::Silence);
    assert_eq!(
        tcp_connect(&pair.client, at(HOST6, 9000)),
        Connect::Connected
    );
    assert!(fw.rule_packets()["allow in proto tcp from any to any port 9000"] >= 1);
    fw.ok(&["disable"]);
    assert!(
        !pins.join(format!("v{ABI_VERSION}")).exists(),
        "pins left after disable"
    );
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 9001)),
        Connect::Connected
    );
}

/// The arguments of the shipped unit's `ExecStart=/usr/local/sbin/fw-ctl
/// ...`, checked to run before the network comes up.
fn boot_command() -> Vec<&'static str> {
    let unit = include_str!("../../fw-ctl/systemd/fw.service");
    assert!(
        unit.lines()
            .any(|l| l.starts_with("Before=") && l.contains("network-pre.target")),
        "the unit must run before the network comes up"
    );
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/local/sbin/fw-ctl "))
        .expect("ExecStart=/usr/local/sbin/fw-ctl ...");
    exec.split_whitespace().collect()
}

/// As after a reboot: the pins (and with them programs, links and maps)
/// are gone while the state dir still says enabled; `fw-ctl reload`, the
/// boot command (the shipped systemd unit's `ExecStart`), brings the same
/// filter back.
#[test]
fn reload_restores_the_filter_when_its_pins_are_gone() {
    let pair = Pair::new("reload");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _tcp = tcp_listeners(&pair.host, &[9000, 9001]);
    fw.ok(&["default", "deny", "incoming"]);
    fw.ok(&["allow", "9000/tcp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    assert_eq!(tcp_connect(&pair.client, at(HOST4, 9001)), Connect::Silence);

    // "Reboot": everything pinned disappears, the filter with it.
    Dataplane::destroy(&Pins::new(&fw.pin_dir())).expect("unpin");
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 9001)),
        Connect::Connected
    );

    // The boot command is what the shipped systemd unit runs.
    let boot = boot_command();
    assert_eq!(fw.ok(&boot), "Firewall reloaded\n");
    assert_eq!(tcp_connect(&pair.client, at(HOST4, 9001)), Connect::Silence);
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 9000)),
        Connect::Connected
    );
    assert!(fw.rule_packets()["allow in proto tcp from any to any port 9000"] >= 1);

    // Not enabled: reload leaves the kernel alone.
    fw.ok(&["disable"]);
    assert_eq!(
        fw.ok(&["reload"]),
        "Firewall not enabled (skipping reload)\n"
    );
    assert!(!fw.pin_dir().join(format!("v{ABI_VERSION}")).exists());
}

/// `reset` as ufw: without `--force` it asks and (no answer) aborts,
/// changing nothing; with it, the filter goes, the rules file is kept as
/// `rules.YYYYMMDD_HHMMSS`, no rules remain, and the default policies and
/// logging level stay.
#[test]
fn reset_backs_up_the_rules_and_starts_empty() {
    let pair = Pair::new("reset");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _tcp = tcp_listeners(&pair.host, &[9001]);
    fw.ok(&["default", "deny", "outgoing"]);
    fw.ok(&["logging", "medium"]);
    fw.ok(&["allow", "22/tcp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    let rules_before = std::fs::read_to_string(fw.state.join("rules")).expect("rules");
    assert!(rules_before.contains("port 22"));

    assert_eq!(
        fw.ok(&["reset"]),
        "Resetting all rules to installed defaults. Proceed with operation (y|n)? Aborted\n"
    );
    assert_eq!(
        std::fs::read_to_string(fw.state.join("rules")).expect("rules"),
        rules_before
    );
    assert_eq!(tcp_connect(&pair.client, at(HOST4, 9001)), Connect::Silence);

    let out = fw.ok(&["--force", "reset"]);
    let backup = out
        .strip_prefix("Backing up 'rules' to '")
        .and_then(|r| r.strip_suffix("'\n\n"))
        .unwrap_or_else(|| panic!("reset said: {out:?}"));
    let stamp = backup
        .rsplit_once("rules.")
        .map(|(_, s)| s)
        .expect("timestamp");
    assert!(
        stamp.len() == 15 && stamp.as_bytes()[8] == b'_',
        "timestamp {stamp}"
    );
    assert_eq!(
        std::fs::read_to_string(backup).expect("backup"),
        rules_before
    );
    assert_eq!(fw.ok(&["status"]), "Status: inactive\n");
    assert!(fw.ok(&["show", "added"]).ends_with("(None)\n"));
    assert!(!fw.pin_dir().join(format!("v{ABI_VERSION}")).exists());
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 9001)),
        Connect::Connected
    );
    fw.ok(&["enable", "-i", "fw0"]);
    let verbose = fw.ok(&["status", "verbose"]);
    assert!(
        verbose.contains("Logging: on (medium)") && verbose.contains("deny (outgoing)"),
        "{verbose}"
    );
}

const CLIENT4: &str = "192.0.2.2";
const CLIENT6: &str = "2001:db8:1::2";

/// Stateful filtering with real traffic, as ufw's conntrack rules do it:
/// under `default deny incoming` the host's own TCP connections, UDP
/// requests and pings get their answers, unsolicited packets do not pass,
/// and (unlike ufw) a new `deny` cuts an established connection it matches.
#[test]
fn replies_pass_unsolicited_packets_do_not_and_a_new_deny_cuts_a_flow() {
    use std::io::{Read as _, Write as _};

    let pair = Pair::new("state");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _client_tcp = tcp_listeners(&pair.client, &[8443]);
    let host_tcp = tcp_listeners(&pair.host, &[9000, 9001]);
    // A UDP echo service on the client, answering a bounded number of
    // datagrams.
    let echo = udp_sockets(&pair.client, &[5353]).remove(0);
    let echo_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        for _ in 0..40 {
            if let Ok((n, from)) = echo.recv_from(&mut buf) {
                let _ = echo.send_to(&buf[..n], from);
            }
        }
    });
    fw.ok(&["default", "deny", "incoming"]);
    fw.ok(&["allow", "9000/tcp"]);
    fw.ok(&["enable", "-i", "fw0"]);

    for client in [CLIENT4, CLIENT6] {
        assert_eq!(
            tcp_connect(&pair.host, at(client, 8443)),
            Connect::Connected,
            "the host's own connection to {client}"
        );
        assert_eq!(
            tcp_connect(
                &pair.client,
                at(if client == CLIENT4 { HOST4 } else { HOST6 }, 9001)
            ),
            Connect::Silence,
            "unsolicited from {client}"
        );
        let answer = pair.host.run({
            let to = at(client, 5353);
            move || {
                let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let s = std::net::UdpSocket::bind(bind).expect("udp");
                s.set_read_timeout(Some(std::time::Duration::from_millis(800)))
                    .expect("timeout");
                s.send_to(b"question", to).expect("send");
                let mut buf = [0u8; 64];
                s.recv_from(&mut buf).map(|(n, _)| buf[..n].to_vec()).ok()
            }
        });
        assert_eq!(
            answer.as_deref(),
            Some(&b"question"[..]),
            "UDP answer from {client}"
        );
        assert!(ping(&pair.host, client), "ping {client} from the host");
        // ufw's built-in rules accept echo requests; the reply goes out
        // as part of the tracked exchange.
        assert!(
            ping(&pair.client, if client == CLIENT4 { HOST4 } else { HOST6 }),
            "ping the host from {client}"
        );
    }

    // An established connection from the client, then a deny for it.
    let listener = host_tcp[0].try_clone().expect("listener");
    let server = pair.host.spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(std::time::Duration::from_millis(1500)))
            .expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        // Bounded: at most 4 reads, each at most 1.5 s.
        for _ in 0..4 {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    });
    let client = pair.client.spawn(move || {
        let mut s = std::net::TcpStream::connect_timeout(
            &at(HOST4, 9000),
            std::time::Duration::from_secs(2),
        )
        .expect("connect 9000");
        s.write_all(b"before").expect("write");
        std::thread::sleep(std::time::Duration::from_millis(500));
        s
    });
    let mut stream = client.join().expect("client");
    fw.ok(&["insert", "1", "deny", "from", CLIENT4]);
    let _ = stream.write_all(b"after");
    let got = server.join().expect("server");
    assert_eq!(got, b"before", "the deny cut the established connection");
    drop(stream);
    drop(echo_thread);
    assert!(fw.reason_packets("established", "in", "pass") >= 4);
    assert!(fw.reason_packets("builtin_icmp", "in", "pass") >= 2);
    let builtins = fw.ok(&["show", "builtins"]);
    assert!(
        builtins.contains("-p icmp --icmp-type echo-request -j ACCEPT")
            && builtins.lines().any(|l| l.starts_with("builtin_icmp")
                && l.split_whitespace().nth(2).is_some_and(|p| p != "0")),
        "{builtins}"
    );
    // The flow table's fill level, then the settings in fw.conf.
    let stats = fw.ok(&["stats"]);
    let flows = stats
        .lines()
        .find_map(|l| l.strip_prefix("Flows: "))
        .expect("a Flows line");
    let n: usize = flows.split(' ').next().unwrap().parse().unwrap();
    assert!(n >= 4 && flows.contains(" tracked of 262144 "), "{stats}");
    let conf = fw.state.join("fw.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains("CONNTRACK=yes\nCONNTRACK_MAX=262144\n"),
        "{text}"
    );
    std::fs::write(
        &conf,
        text.replace("CONNTRACK=yes", "CONNTRACK=no")
            .replace("CONNTRACK_MAX=262144", "CONNTRACK_MAX=4096"),
    )
    .unwrap();
    let out = fw.output(&["reload"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CONNTRACK_MAX=4096 takes effect after"),
        "{out:?}"
    );
    // Stateless now: the answers to the host's own connection meet the
    // incoming policy.
    assert_eq!(tcp_connect(&pair.host, at(CLIENT4, 8443)), Connect::Silence);
    assert!(fw.ok(&["stats"]).contains("stateful mode off"));
    fw.ok(&["disable"]);
    fw.ok(&["enable", "-i", "fw0"]);
    assert!(fw.ok(&["stats"]).contains(" tracked of 4096 "));
}

/// Publishes `port` of the host `ns` as 203.0.113.2:80 with `tool`
/// (`iptables`: Debian's nf_tables backend, or `iptables-legacy`).
fn add_dnat(ns: &fw_tests::netns::Netns, tool: &str, port: u16) {
    let out = fw_tests::netns::sh(&[
        "nsenter",
        &format!("--net={}", ns.path()),
        tool,
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-p",
        "tcp",
        "--dport",
        &port.to_string(),
        "-j",
        "DNAT",
        "--to-destination",
        "203.0.113.2:80",
    ]);
    assert!(out.status.success(), "{tool}: {out:?}");
}

/// The fw host of [`Pair`] `prefix` forwards 8080/tcp to a "container"
/// namespace's port 80 (203.0.113.2 behind the host's `brk0`) through an
/// iptables DNAT rule, as container engines publish ports; the service is
/// reachable before fw is enabled.
fn dnat_lab(prefix: &str) -> (Pair, fw_tests::netns::Netns, Vec<std::net::TcpListener>) {
    let pair = Pair::new(prefix);
    let container = fw_tests::netns::Netns::new(&format!("{prefix}k"));
    pair.host.ip(&[
        "link",
        "add",
        "brk0",
        "type",
        "veth",
        "peer",
        "name",
        "ctr0",
        "netns",
        &container.name,
    ]);
    pair.host
        .ip(&["addr", "add", "203.0.113.1/24", "dev", "brk0"]);
    pair.host.ip(&["link", "set", "brk0", "up"]);
    container.ip(&["addr", "add", "203.0.113.2/24", "dev", "ctr0"]);
    container.ip(&["link", "set", "ctr0", "up"]);
    container.ip(&["route", "add", "default", "via", "203.0.113.1"]);
    // Forwarding and the DNAT rule, in the fw host's namespace only.
    pair.host
        .run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").expect("ip_forward"));
    add_dnat(&pair.host, "iptables", 8080);
    let service = tcp_listeners(&container, &[80]);
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 8080)),
        Connect::Connected,
        "published without fw"
    );

    (pair, container, service)
}

/// A port published through DNAT (as container engines do) is filtered by
/// fw's incoming rules: XDP sees the packet before the NAT, where ufw's
/// INPUT rules never do. The fw host forwards 8080/tcp to a "container"
/// namespace's port 80; `deny 8080/tcp` stops it.
#[test]
fn a_deny_stops_a_port_published_through_dnat() {
    let (pair, _container, _service) = dnat_lab("dnat");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["default", "allow", "incoming"]);
    fw.ok(&["enable", "-i", "fw0"]);
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 8080)),
        Connect::Connected,
        "published, fw allowing"
    );
    fw.ok(&["deny", "8080/tcp"]);
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 8080)),
        Connect::Silence,
        "the deny stops the published port"
    );
    assert!(fw.rule_packets()["deny in proto tcp from any to any port 8080"] >= 1);
}

/// `reject` answers on the wire: a client's connection to a rejected port
/// is refused at once (a RST), where a `deny` leaves it to time out. IPv4
/// and IPv6. `limit` refuses the sixth connection. On a plain veth pair,
/// the way containers and labs are joined.
#[test]
fn reject_refuses_connections_on_a_plain_veth() {
    reject_refuses("rej", false);
}

/// The same with an XDP program on the client's veth (which changes how a
/// veth delivers frames: with NAPI).
#[test]
fn reject_refuses_connections_with_an_xdp_peer() {
    reject_refuses("rjx", true);
}

fn reject_refuses(prefix: &str, xdp_peer: bool) {
    let pair = Pair::new(prefix);
    let link = xdp_peer.then(|| fw_tests::empty::EmptyXdp::pass_on(&pair.client, c"cl0"));
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _tcp = tcp_listeners(&pair.host, &[2222, 2223]);
    fw.ok(&["reject", "2222/tcp"]);
    fw.ok(&["deny", "2223/tcp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    for host in [HOST4, HOST6] {
        assert_eq!(
            tcp_connect(&pair.client, at(host, 2222)),
            Connect::Failed(std::io::ErrorKind::ConnectionRefused),
            "{host}: rejected"
        );
        assert_eq!(
            tcp_connect(&pair.client, at(host, 2223)),
            Connect::Silence,
            "{host}: denied"
        );
    }
    // UDP to a rejected port: ICMP port-unreachable, which a connected
    // UDP socket reports as "connection refused".
    fw.ok(&["reject", "514/udp"]);
    let _syslog = udp_sockets(&pair.host, &[514]);
    for host in [HOST4, HOST6] {
        let refused = udp_ask(&pair.client, at(host, 514)).err();
        assert_eq!(
            refused,
            Some(std::io::ErrorKind::ConnectionRefused),
            "{host}: UDP rejected"
        );
    }
    // `limit`: five new connections from the client pass, the sixth is
    // refused on the wire (IPv4; the table is per source address).
    let _ssh = tcp_listeners(&pair.host, &[2224]);
    fw.ok(&["limit", "2224/tcp"]);
    for k in 0..5 {
        assert_eq!(
            tcp_connect(&pair.client, at(HOST4, 2224)),
            Connect::Connected,
            "connection {k}"
        );
    }
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 2224)),
        Connect::Failed(std::io::ErrorKind::ConnectionRefused),
        "the sixth within 30 s"
    );
    assert_eq!(
        tcp_connect(&pair.client, at(HOST6, 2224)),
        Connect::Connected,
        "another source address"
    );
    assert!(fw.reason_packets("limit", "in", "drop") >= 1);
    // The block lifts once the source stays quiet for the window (shortened
    // to 2 s in fw.conf; attempts within it keep it closed).
    let conf = fw.state.join("fw.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("LIMIT_WINDOW=30\n"), "{text}");
    std::fs::write(&conf, text.replace("LIMIT_WINDOW=30", "LIMIT_WINDOW=2")).unwrap();
    fw.ok(&["reload"]);
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 2224)),
        Connect::Failed(std::io::ErrorKind::ConnectionRefused),
        "still within the window"
    );
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 2224)),
        Connect::Connected,
        "the window passed"
    );
    drop(link);
}

/// Out rules end to end under `default deny outgoing`: `allow out to ADDR
/// port P` lets the host's connection to that address and port through
/// (its answers pass as part of the flow), nothing else leaves (but
/// ufw's built-in ICMPv6), and `deny out` placed before an allow wins.
/// IPv4 and IPv6.
#[test]
fn out_rules_decide_what_the_host_may_open() {
    let pair = Pair::new("out");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _tcp = tcp_listeners(&pair.client, &[8443, 8444]);
    fw.ok(&["default", "deny", "outgoing"]);
    for client in [CLIENT4, CLIENT6] {
        fw.ok(&["allow", "out", "to", client, "port", "8443", "proto", "tcp"]);
    }
    fw.ok(&["enable", "-i", "fw0"]);
    for client in [CLIENT4, CLIENT6] {
        assert_eq!(
            tcp_connect(&pair.host, at(client, 8443)),
            Connect::Connected,
            "allow out to {client} port 8443"
        );
        assert_eq!(
            tcp_connect(&pair.host, at(client, 8444)),
            Connect::Silence,
            "{client}:8444 under default deny outgoing"
        );
    }
    // As ufw: IPv4 echo requests need a rule to leave, IPv6 ones are among
    // before6.rules' accepted ICMPv6 types.
    assert!(
        !ping(&pair.host, CLIENT4),
        "ping {CLIENT4}: no rule lets it out"
    );
    assert!(ping(&pair.host, CLIENT6), "ping {CLIENT6}: a built-in rule");
    fw.ok(&["insert", "1", "deny", "out", "to", CLIENT4]);
    assert_eq!(
        tcp_connect(&pair.host, at(CLIENT4, 8443)),
        Connect::Silence,
        "deny out before the allow"
    );
    assert_eq!(
        tcp_connect(&pair.host, at(CLIENT6, 8443)),
        Connect::Connected,
        "the IPv6 allow still holds"
    );
    let counted = fw.rule_packets();
    assert!(
        counted
            .get(&format!("deny out from any to {CLIENT4}"))
            .is_some_and(|n| *n >= 1),
        "{counted:?}"
    );
}

/// Route rules with three namespaces: client A (192.0.2.2, 2001:db8:1::2)
/// -- router R (fw here; `fw0` towards A, `rb0` towards B; forwarding on)
/// -- server B (198.51.100.2, 2001:db8:2::2). Under `default deny routed`
/// an input rule for the port does not let A through to B (input rules
/// never see forwarded packets); a route rule does, and B's answers come
/// back as part of the tracked flow; B cannot open connections to A; ufw's
/// before-forward rules let pings through; `default allow routed` opens
/// the rest. Then fw on A as well, with `default deny incoming`, and a
/// 1280-byte MTU between R and B: A's full-size segments make R send
/// "fragmentation needed" / "packet too big", which must reach A for its
/// 64 KiB upload to B to complete.
#[test]
fn route_rules_filter_forwarded_traffic_between_three_namespaces() {
    use std::io::{Read as _, Write as _};

    let lab = fw_tests::netns::Routed::new("rt");
    let (router, a, b) = (&lab.left.host, &lab.left.client, &lab.far);
    use fw_tests::netns::Routed as R;
    const A4: &str = R::A4;
    const A6: &str = R::A6;
    const B4: &str = R::B4;
    const B6: &str = R::B6;
    let _b_tcp = tcp_listeners(b, &[80, 81]);
    let _a_tcp = tcp_listeners(a, &[8080]);
    for to in [B4, B6] {
        assert_eq!(
            tcp_connect(a, at(to, 80)),
            Connect::Connected,
            "{to} without fw"
        );
    }

    let fw = FwCtl::new(router, Launch::Nsenter);
    fw.ok(&["allow", "80/tcp"]);
    fw.ok(&["enable"]);
    assert!(
        fw.ok(&["status", "verbose"]).contains("deny (routed)"),
        "forwarding is on: the routed policy is live"
    );
    for to in [B4, B6] {
        assert_eq!(
            tcp_connect(a, at(to, 80)),
            Connect::Silence,
            "the input rule does not forward to {to}"
        );
        assert!(ping(a, to), "ufw's before-forward rules pass pings to {to}");
    }
    fw.ok(&[
        "route", "allow", "in", "on", "fw0", "out", "on", "rb0", "to", B4, "port", "80", "proto",
        "tcp",
    ]);
    fw.ok(&[
        "route", "allow", "in", "on", "fw0", "out", "on", "rb0", "to", B6, "port", "80", "proto",
        "tcp",
    ]);
    for (from, to) in [(A4, B4), (A6, B6)] {
        assert_eq!(
            tcp_connect(a, at(to, 80)),
            Connect::Connected,
            "route rule to {to}:80"
        );
        assert_eq!(tcp_connect(a, at(to, 81)), Connect::Silence, "{to}:81");
        assert_eq!(
            tcp_connect(b, at(from, 8080)),
            Connect::Silence,
            "{to} cannot open a connection to {from}"
        );
    }
    assert!(fw.reason_packets("established", "fwd", "pass") >= 4);
    let counted = fw.rule_packets();
    assert!(
        counted
            .iter()
            .any(|(rule, n)| rule.contains("fw0") && rule.contains(B4) && *n >= 1),
        "{counted:?}"
    );
    fw.ok(&["default", "allow", "routed"]);
    for (from, to) in [(A4, B4), (A6, B6)] {
        assert_eq!(
            tcp_connect(b, at(from, 8080)),
            Connect::Connected,
            "{to} -> {from}"
        );
        assert_eq!(tcp_connect(a, at(to, 81)), Connect::Connected, "{to}:81");
    }

    // fw on A too, and a narrower link between R and B.
    router.ip(&["link", "set", "rb0", "mtu", "1280"]);
    let fw_a = FwCtl::new(a, Launch::Nsenter);
    fw_a.ok(&["enable"]);
    let upload = |to: &'static str| {
        let listener = b.run(move || {
            let l = std::net::TcpListener::bind(at(to, 9000)).expect("bind 9000");
            l.set_nonblocking(false).unwrap();
            l
        });
        let server = b.spawn(move || {
            let (mut c, _) = listener.accept().expect("accept");
            c.set_read_timeout(Some(std::time::Duration::from_secs(8)))
                .unwrap();
            let mut total = 0usize;
            let mut buf = [0u8; 8192];
            loop {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            let _ = c.write_all(total.to_string().as_bytes());
            total
        });
        let client = a.run(move || {
            let mut s = std::net::TcpStream::connect_timeout(
                &at(to, 9000),
                std::time::Duration::from_secs(2),
            )
            .expect("connect 9000");
            s.set_write_timeout(Some(std::time::Duration::from_secs(8)))
                .unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(8)))
                .unwrap();
            let sent = s.write_all(&[0x5a; 65536]).is_ok();
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            (sent, answer)
        });
        (server.join().expect("server"), client)
    };
    for to in [B4, B6] {
        let (received, (sent, answer)) = upload(to);
        assert!(sent, "A's upload to {to} stalled");
        assert_eq!(
            (received, answer.as_str()),
            (65536, "65536"),
            "upload to {to}"
        );
    }
    assert!(
        fw_a.reason_packets("builtin_icmp", "in", "pass") >= 2,
        "the ICMP errors reached A through its built-in rules"
    );
}

/// RELATED out, end to end: under `default deny outgoing` with UDP port
/// 5353 allowed in, a client's datagram to that port with nothing
/// listening gets the host's ICMP port-unreachable back (its connected
/// socket reports "connection refused"), as with ufw; a port the rules do
/// not let in stays silent. IPv4 (IPv6 errors out are built-in rules).
#[test]
fn the_hosts_icmp_errors_for_allowed_flows_pass_under_default_deny_outgoing() {
    let pair = Pair::new("rel");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["default", "deny", "outgoing"]);
    fw.ok(&["allow", "5353/udp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    let answer = |port: u16| udp_ask(&pair.client, at(HOST4, port));
    assert_eq!(
        answer(5353),
        Err(std::io::ErrorKind::ConnectionRefused),
        "the host's port-unreachable came back"
    );
    assert!(fw.reason_packets("related", "out", "pass") >= 1);
    assert!(
        matches!(
            answer(5354),
            Err(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        ),
        "a port the rules do not let in stays silent"
    );
}

/// `reject out` as ufw's: the host's own connection to a rejected port is
/// refused at once (the TC program turns the SYN into a RST and hands it
/// to the host's receive path), a UDP socket gets "connection refused"
/// from the ICMP answer, and `deny out` leaves the connect to time out.
/// IPv4 and IPv6.
#[test]
fn reject_out_refuses_the_hosts_own_connections() {
    let pair = Pair::new("rjo");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _tcp = tcp_listeners(&pair.client, &[2222, 2223, 2224]);
    fw.ok(&["reject", "out", "2222/tcp"]);
    fw.ok(&["deny", "out", "2223/tcp"]);
    fw.ok(&["reject", "out", "5355/udp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    for client in [CLIENT4, CLIENT6] {
        assert_eq!(
            tcp_connect(&pair.host, at(client, 2222)),
            Connect::Failed(std::io::ErrorKind::ConnectionRefused),
            "reject out {client}:2222"
        );
        assert_eq!(
            tcp_connect(&pair.host, at(client, 2223)),
            Connect::Silence,
            "deny out {client}:2223"
        );
        assert_eq!(
            tcp_connect(&pair.host, at(client, 2224)),
            Connect::Connected,
            "{client}:2224 is allowed"
        );
        let got = udp_ask(&pair.host, at(client, 5355));
        assert_eq!(
            got,
            Err(std::io::ErrorKind::ConnectionRefused),
            "reject out {client}:5355/udp"
        );
    }
    let counted = fw.rule_packets();
    for rule in [
        "reject out proto tcp from any to any port 2222",
        "reject out proto udp from any to any port 5355",
    ] {
        for name in [rule.to_string(), format!("{rule} (v6)")] {
            assert!(
                counted.get(&name).is_some_and(|n| *n >= 1),
                "{name}: {counted:?}"
            );
        }
    }
}

/// As ufw's: a datagram the host sends that an out rule or the outgoing
/// policy denies or rejects fails at once with EPERM ("Operation not
/// permitted"), and the rest goes out. IPv4 and IPv6; the drop is counted once, under its
/// rule.
#[test]
fn denied_local_sends_fail_with_eperm() {
    let pair = Pair::new("eperm");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _sink = udp_sockets(&pair.client, &[5002]);
    fw.ok(&["deny", "out", "5000/udp"]);
    fw.ok(&["reject", "out", "5001/udp"]);
    fw.ok(&["enable"]);
    for client in [CLIENT4, "2001:db8:1::2"] {
        let e = udp_send(&pair.host, at(client, 5000)).expect_err("denied");
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{client}: {e}");
        // As ufw's REJECT in OUTPUT: the datagram is dropped, EPERM too.
        let e = udp_send(&pair.host, at(client, 5001)).expect_err("rejected");
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{client}: {e}");
        udp_send(&pair.host, at(client, 5002)).expect("allowed");
    }
    let stats = fw.ok(&["stats"]);
    let denied: Vec<&str> = stats
        .lines()
        .filter(|l| l.contains("deny out proto udp from any to any port 5000"))
        .map(|l| l.split_whitespace().nth(2).unwrap_or("?"))
        .collect();
    assert_eq!(denied, ["1", "1"], "{stats}");
    // The outgoing policy too; the host's own flows still pass.
    fw.ok(&["default", "deny", "outgoing"]);
    let e = udp_send(&pair.host, at(CLIENT4, 5002)).expect_err("policy");
    assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    fw.ok(&["allow", "out", "5002/udp"]);
    udp_send(&pair.host, at(CLIENT4, 5002)).expect("allowed again");
    assert!(fw.reason_packets("policy", "out", "drop") >= 1);
}

/// The before.rules edits ufw users make, as fw's switches: `builtin ping
/// deny` stops answering IPv4 pings from a plain peer (IPv6 still
/// answers), `builtin ping6 off` leaves IPv6 pings to the rules and the
/// default policy; the settings live in fw.conf, are shown by `status
/// verbose` and `show builtins`, survive `reload` and `disable`/`enable`,
/// and a bad setting changes nothing.
#[test]
fn builtin_switches_stop_pings_as_a_before_rules_edit_does() {
    let pair = Pair::new("bsw");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["enable"]);
    assert!(
        ping(&pair.client, HOST4) && ping(&pair.client, HOST6),
        "ufw's lines"
    );
    let out = fw.ok(&["builtin", "ping", "deny"]);
    assert!(out.contains("'ping'") && out.contains("'deny'"), "{out}");
    assert!(!ping(&pair.client, HOST4), "ping deny");
    assert!(ping(&pair.client, HOST6), "ping6 is another switch");
    let verbose = fw.ok(&["status", "verbose"]);
    assert!(
        verbose.starts_with("Status: active\n")
            && verbose.contains("Built-in rules: ufw's, but ping deny "),
        "{verbose}"
    );
    let shown = fw.ok(&["show", "builtins"]);
    assert!(
        shown.contains("-p icmp --icmp-type echo-request -j DROP")
            && shown.contains("(builtin ping deny)"),
        "{shown}"
    );
    assert!(fw.reason_packets("builtin_icmp", "in", "drop") >= 1);
    // ufw's reports of its chains answer with fw's equivalents.
    let before = fw.ok(&["show", "before-rules"]);
    assert!(
        before.contains("-p icmp --icmp-type echo-request -j DROP"),
        "{before}"
    );
    fw.ok(&["logging", "medium"]);
    let logging = fw.ok(&["show", "logging-rules"]);
    assert!(
        logging.contains("\n* medium ") && logging.contains("\n  low "),
        "{logging}"
    );
    assert!(
        fw.ok(&["show", "after-rules"])
            .contains("tcp dport 139, 445")
    );

    fw.ok(&["builtin", "ping6", "off"]);
    assert!(
        !ping(&pair.client, HOST6),
        "ping6 off: default deny incoming"
    );
    fw.ok(&["allow", "from", "2001:db8:1::2"]);
    assert!(ping(&pair.client, HOST6), "ping6 off: a rule allows it");
    assert!(!ping(&pair.client, HOST4), "ping still deny");

    let conf = std::fs::read(fw.state.join("fw.conf")).unwrap();
    let text = String::from_utf8_lossy(&conf);
    assert!(
        text.contains("BUILTIN_PING=deny\n") && text.contains("BUILTIN_PING6=off\n"),
        "{text}"
    );
    for bad in [
        &["builtin", "ping", "drop"][..],
        &["builtin", "ssh", "off"],
        &["builtin", "ping"],
    ] {
        let o = fw.output(bad);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(bad[bad.len() - 1]),
            "{bad:?}: {err}"
        );
        assert_eq!(
            std::fs::read(fw.state.join("fw.conf")).unwrap(),
            conf,
            "{bad:?}"
        );
    }
    fw.ok(&["reload"]);
    assert!(!ping(&pair.client, HOST4), "after reload");
    fw.ok(&["disable"]);
    assert!(ping(&pair.client, HOST4), "disabled");
    fw.ok(&["enable"]);
    assert!(!ping(&pair.client, HOST4), "enabled again from fw.conf");
    fw.ok(&["builtin", "ping", "allow"]);
    assert!(ping(&pair.client, HOST4), "allow again");
    assert!(fw.ok(&["status"]).starts_with("Status: active\n"));
    // fw.conf edited by hand: `status` says the kernel does not enforce
    // it until `reload` does.
    let conf = fw.state.join("fw.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        text.replace("BUILTIN_PING=allow", "BUILTIN_PING=deny"),
    )
    .unwrap();
    let o = fw.output(&["status"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(
        !o.status.success()
            && out.starts_with("Status: degraded")
            && err.contains("built-in rule settings"),
        "{out}{err}"
    );
    assert!(ping(&pair.client, HOST4), "not yet enforced");
    fw.ok(&["reload"]);
    assert!(!ping(&pair.client, HOST4), "enforced after reload");
    assert!(fw.ok(&["status"]).starts_with("Status: active\n"));
}

/// A port published through DNAT that no rule allows is named by `enable`,
/// `status verbose` and `show listening` with the command that allows it
/// (ufw never filtered it; fw does, so a host moved from ufw would lose
/// the service silently). Run as printed, it brings the service back
/// under `default deny` and `default deny routed`, every interface
/// (also the target's) protected: the target's answers are forwarded
/// packets that pass with the flow fw opened as the first packet left.
#[test]
fn ports_published_by_dnat_are_named_with_the_commands_that_allow_them() {
    let (pair, _container, _service) = dnat_lab("dnan");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let out = fw.output(&["enable"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let note = err
        .lines()
        .find(|l| l.starts_with("NOTE: 8080/tcp published by DNAT to 203.0.113.2:80: "))
        .unwrap_or_else(|| panic!("enable names the port: {err}"));
    // Stateful: the target's answers pass with the flow fw opens when the
    // first packet leaves for it (no route rule needed).
    assert!(
        note.contains(": fw-ctl allow proto tcp to 0.0.0.0/0 port 8080 (fw filters"),
        "one command: {note}"
    );
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 8080)),
        Connect::Silence,
        "fw filters the published port"
    );
    let verbose = fw.ok(&["status", "verbose"]);
    assert!(
        verbose.contains("Published, not allowed: 8080/tcp "),
        "{verbose}"
    );
    let listening = fw.ok(&["show", "listening"]);
    assert!(
        listening.contains("\n  8080/tcp published by DNAT"),
        "{listening}"
    );
    let commands = note
        .split_once(": fw-ctl ")
        .map(|(_, c)| c.split(" (fw filters").next().unwrap_or(c))
        .expect("commands");
    for cmd in format!("fw-ctl {commands}").split(" && ") {
        let words: Vec<&str> = cmd.strip_prefix("fw-ctl ").expect(cmd).split(' ').collect();
        fw.ok(&words);
    }
    assert_eq!(
        tcp_connect(&pair.client, at(HOST4, 8080)),
        Connect::Connected,
        "the printed commands allow it"
    );
    assert!(
        !fw.ok(&["status", "verbose"])
            .contains("Published, not allowed")
    );
    assert!(!fw.ok(&["show", "listening"]).contains("published by DNAT"));
}

/// Looking for ports published by DNAT changes no firewall: `enable`,
/// `status verbose` and `show listening` leave the namespace without a
/// legacy `nat` table (listing one creates it, and with it NAT and
/// connection tracking for every packet), yet read a DNAT rule from one
/// that exists.
#[test]
fn looking_for_dnat_rules_creates_no_nat_table() {
    let pair = Pair::new("dnnt");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let tables = || {
        ["ip_tables_names", "ip6_tables_names"]
            .map(|f| {
                let out = std::process::Command::new("nsenter")
                    .arg(format!("--net={}", pair.host.path()))
                    .args(["cat", &format!("/proc/net/{f}")])
                    .output()
                    .expect("nsenter");
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .join(" ")
    };
    assert!(!tables().contains("nat"), "no nat table at first");
    fw.ok(&["enable"]);
    fw.ok(&["status", "verbose"]);
    fw.ok(&["show", "listening"]);
    assert!(
        !tables().contains("nat"),
        "fw made a nat table: {}",
        tables()
    );
    // A legacy table that exists is read.
    add_dnat(&pair.host, "iptables-legacy", 8081);
    let verbose = fw.ok(&["status", "verbose"]);
    assert!(
        verbose.contains("Published, not allowed: 8081/tcp "),
        "{verbose}"
    );
}

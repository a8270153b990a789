//! Parity with real ufw 0.36.2: the same command lines go to ufw (in a
//! namespace with a private /etc/ufw) and to fw-ctl (in another namespace);
//! every command's stdout, stderr and exit code must be identical, and so
//! must the fate of real packets sent afterwards from a client namespace
//! (TCP connects and UDP datagrams, IPv4 and IPv6) to each side.
//!
//! This is the start of the acceptance harness of the ufw-surface issue:
//! the scenarios below are the ones fw-ctl already matches; the issue adds
//! the rest (every error, app profiles, comments, ...).

use std::{
    net::{IpAddr, SocketAddr},
    process::Output,
};

use fw_tests::{
    fwctl::{
        Connect, FwCtl, Launch, ping, tcp_connect, tcp_listeners, udp_ask, udp_delivered, udp_send,
        udp_sockets,
    },
    netns::Pair,
    ufw::{PROFILES, Ufw, names_token},
};

/// Host addresses: one subnet per role (admin 192.0.2.0/24, analysts
/// 198.51.100.0/24, agents 203.0.113.0/24), so the client reaches each
/// from the matching source address.
const HOST_ADDRS: &[&str] = &[
    "192.0.2.1/24",
    "198.51.100.1/24",
    "203.0.113.1/24",
    "2001:db8:1::1/64",
];
/// The client: admin 192.0.2.10, analyst 198.51.100.20, agent 203.0.113.30.
const CLIENT_ADDRS: &[&str] = &[
    "192.0.2.10/24",
    "198.51.100.20/24",
    "203.0.113.30/24",
    "2001:db8:1::10/64",
];

/// A packet probe: TCP connect or UDP datagram to a host address and port.
#[derive(Clone, Copy, Debug)]
enum Probe {
    Tcp(&'static str, u16),
    Udp(&'static str, u16),
    /// One ICMP / ICMPv6 echo request (`ping -c 1`).
    Ping(&'static str),
    /// One datagram on a connected socket to a closed host port: refused
    /// (ICMP port-unreachable, from the host or a `reject`) or silent.
    UdpRefused(&'static str, u16),
    /// One datagram the *host* sends to the client's address and port
    /// (a socket listens there): EPERM, refused, delivered or lost.
    Send(&'static str, u16),
}

/// What happened to a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Tcp(Connect),
    /// Datagrams delivered out of 2.
    Udp(usize),
    /// The echo reply came back.
    Ping(bool),
    /// The socket's error kind, if any.
    UdpRefused(Option<std::io::ErrorKind>),
    /// The host's send: its errno, if it failed or was refused, else
    /// whether the client got the datagram.
    Send(Result<bool, i32>),
}

fn probe_ports(probes: &[Probe]) -> (Vec<u16>, Vec<u16>) {
    let mut tcp: Vec<u16> = Vec::new();
    let mut udp: Vec<u16> = Vec::new();
    for p in probes {
        match p {
            Probe::Tcp(_, port) => tcp.push(*port),
            Probe::Udp(_, port) => udp.push(*port),
            Probe::Ping(_) | Probe::UdpRefused(..) | Probe::Send(..) => {}
        }
    }
    tcp.sort_unstable();
    tcp.dedup();
    udp.sort_unstable();
    udp.dedup();
    (tcp, udp)
}

/// Sends every probe from the client to the host of `pair`.
fn fates(pair: &Pair, probes: &[Probe]) -> Vec<Fate> {
    let (tcp, udp) = probe_ports(probes);
    let _listeners = tcp_listeners(&pair.host, &tcp);
    let sockets = udp_sockets(&pair.host, &udp);
    probes
        .iter()
        .map(|p| match *p {
            Probe::Tcp(host, port) => {
                let ip: IpAddr = host.parse().unwrap();
                Fate::Tcp(tcp_connect(&pair.client, SocketAddr::new(ip, port)))
            }
            Probe::Udp(host, port) => {
                let ip: IpAddr = host.parse().unwrap();
                let i = udp.iter().position(|u| *u == port).unwrap();
                Fate::Udp(udp_delivered(
                    &pair.client,
                    SocketAddr::new(ip, port),
                    2,
                    &sockets[i],
                ))
            }
            Probe::Ping(host) => Fate::Ping(ping(&pair.client, host)),
            Probe::UdpRefused(host, port) => {
                let ip: IpAddr = host.parse().unwrap();
                Fate::UdpRefused(
                    udp_ask(&pair.client, SocketAddr::new(ip, port))
                        .err()
                        .filter(|k| *k == std::io::ErrorKind::ConnectionRefused),
                )
            }
            Probe::Send(client, port) => Fate::Send(host_send(pair, client, port)),
        })
        .collect()
}

/// [`Probe::Send`]: one datagram from the host to `client:port`.
fn host_send(pair: &Pair, client: &'static str, port: u16) -> Result<bool, i32> {
    let ip: IpAddr = client.parse().unwrap();
    let to = SocketAddr::new(ip, port);
    let sink = udp_sockets(&pair.client, &[port]).remove(0);
    sink.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .expect("timeout");
    udp_send(&pair.host, to).map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let mut buf = [0u8; 16];
    Ok(sink.recv(&mut buf).is_ok())
}

/// Splits a command line like a shell would for these scripts: on spaces,
/// with single- or double-quoted words kept whole.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (c, quote) {
            ('\'' | '"', None) => {
                quote = Some(c);
                cur.get_or_insert_with(String::new);
            }
            (c, Some(q)) if c == q => quote = None,
            (' ', None) => out.extend(cur.take()),
            (c, _) => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    out
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What one scenario compared.
#[derive(Default)]
struct Tally {
    commands: usize,
    /// Commands whose output differs only in the token fw's error names.
    token_named: usize,
    /// Commands whose output differs only by the program's name (`show
    /// added` prints `fw-ctl allow ...` where ufw prints `ufw allow ...`).
    renamed: usize,
    packets: usize,
    diffs: Vec<String>,
}

/// fw's stdout as ufw would print it: the program's name (`show added`
/// prints `fw-ctl allow ...`, the usage text `Usage: fw-ctl COMMAND`), and
/// without the section of fw-only commands that ends fw's usage text.
fn as_ufw_would(fw: &[u8]) -> String {
    let text = String::from_utf8_lossy(fw);
    let text = fw_lines_out(&text);
    let text = match text.find(fw_ctl::cli::usage::FW_SECTION) {
        Some(i) => &text[..i],
        None => &text,
    };
    text.replace("fw-ctl", "ufw")
}

/// fw's output without the lines it adds to ufw's on purpose (the
/// README's list of differences): `status verbose`'s `Protected:` and
/// `Not filtered (...)` lines, naming the interfaces the filter runs on
/// and those `enable -i` left out.
fn fw_lines_out(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|l| {
            !l.starts_with("Protected: ")
                && !l.starts_with("Not filtered (")
                && !l.starts_with("Built-in rules: ")
                && !l.starts_with("Published, not allowed: ")
        })
        .collect()
}

/// fw's output as ufw's, byte for byte where only fw's added lines differ.
fn without_fw_lines(mut o: std::process::Output) -> std::process::Output {
    o.stdout = fw_lines_out(&String::from_utf8_lossy(&o.stdout)).into_bytes();
    o
}

/// A ufw lab and an fw lab alike (`PREFIX` + `u` / `f`), each side with
/// [`PROFILES`] and `extra` profile files.
fn labs(prefix: &str, extra: &[(&str, &str)]) -> (Pair, Pair, Ufw, FwCtl) {
    let ufw_lab = Pair::with_addrs(&format!("{prefix}u"), HOST_ADDRS, CLIENT_ADDRS);
    let fw_lab = Pair::with_addrs(&format!("{prefix}f"), HOST_ADDRS, CLIENT_ADDRS);
    let ufw = Ufw::new(&ufw_lab.host);
    let fw = FwCtl::new(&fw_lab.host, Launch::Nsenter);
    for (file, text) in PROFILES.iter().chain(extra) {
        ufw.add_profile(file, text);
        fw.add_profile(file, text);
    }
    (ufw_lab, fw_lab, ufw, fw)
}

/// Runs `script` against both, then the probes; records every difference.
fn compare(name: &str, script: &[&str], probes: &[Probe], t: &mut Tally) {
    compare_with(name, &[], script, probes, t);
}

/// [`compare`] with profile files `extra` beside [`PROFILES`].
fn compare_with(
    name: &str,
    extra: &[(&str, &str)],
    script: &[&str],
    probes: &[Probe],
    t: &mut Tally,
) {
    let (ufw_lab, fw_lab, ufw, fw) = labs("p", extra);
    for line in script {
        let w = words(line);
        let args: Vec<&str> = w.iter().map(String::as_str).collect();
        let (a, b) = (ufw.output(&args), without_fw_lines(fw.output(&args)));
        t.commands += 1;
        let same_code = a.status.code() == b.status.code();
        let renamed = as_ufw_would(&b.stdout) == String::from_utf8_lossy(&a.stdout);
        let token = names_token(&a.stderr, &b.stderr, &w);
        if same_code && a.stdout == b.stdout && a.stderr == b.stderr {
            // Identical.
        } else if same_code && a.stdout == b.stdout && token {
            t.token_named += 1;
        } else if same_code && a.stderr == b.stderr && renamed {
            t.renamed += 1;
        } else if same_code && token && renamed {
            // `ERROR: Invalid syntax near 'WORD'` and fw's usage text.
            t.token_named += 1;
        } else {
            t.diffs.push(format!(
                "[{name}] `{line}`\n=== ufw: {}=== fw-ctl: {}",
                show(&a),
                show(&b)
            ));
        }
    }
    let (a, b) = (fates(&ufw_lab, probes), fates(&fw_lab, probes));
    for ((p, x), y) in probes.iter().zip(&a).zip(&b) {
        t.packets += 1;
        if x != y {
            t.diffs
                .push(format!("[{name}] probe {p:?}: ufw {x:?}, fw-ctl {y:?}"));
        }
    }
}

type Scenario = (&'static str, &'static [&'static str], &'static [Probe]);

/// ufw's add / insert / prepend / delete decisions (backend set_rule):
/// exact duplicates, the same tuple with another action, logging or
/// comment, IPv4-only, IPv6-only and both-family rules, deletes with and
/// without the comment. Run inactive and active (the wording differs).
const EDIT_TABLE: &[&str] = &[
    "allow 80",
    "allow 80",
    "deny 80",
    "deny 80 comment 'web'",
    "deny 80 comment 'web'",
    "insert 1 allow 80",
    "insert 2 deny 80 comment 'web'",
    "prepend deny from 192.0.2.9",
    "prepend deny from 192.0.2.9",
    "prepend allow from 192.0.2.9",
    "allow from 192.0.2.9",
    "deny from 2001:db8::9",
    "prepend deny from 2001:db8::9",
    "prepend deny from 2001:db8::10",
    "insert 1 allow 22/tcp",
    "insert 1 allow 23/tcp",
    "allow log 22/tcp",
    "allow 22/tcp",
    "insert 2 allow log-all 22/tcp",
    "insert 4 deny from 2001:db8::11",
    "insert 8 allow 2222/tcp",
    "show added",
    "delete deny 80 comment 'other'",
    "delete allow 80",
    "delete deny log 80",
    "delete allow log 22/tcp",
    "delete deny 80",
    "delete deny from 2001:db8::12",
    "show added",
];

const SCENARIOS: &[Scenario] = &[
    (
        "updates",
        &[
            "--force enable",
            "allow 8080/tcp",
            "allow 8080/tcp",
            "deny 8080/tcp",
            "deny in 8080/tcp",
            "allow from 10.0.0.0/8 to any port 9000",
            "deny from 10.0.0.0/8 to any port 9000",
            "status",
            "reject 9090",
            "limit 22/tcp",
            "reject out 25",
            "show added",
            "status numbered",
            "status verbose",
        ],
        &[],
    ),
    (
        "insert next to rules without an IPv6 twin; prepend",
        &[
            "--force enable",
            "prepend allow 7000/tcp",
            "prepend deny from 2001:db8::5",
            "--force delete 1",
            "--force delete 1",
            "--force delete 1",
            "allow 22",
            "allow from 10.0.0.1",
            "allow 23",
            "allow from 2001:db8::1",
            "insert 2 allow 82",
            "insert 3 allow 83",
            "insert 4 deny from 10.9.9.9",
            "insert 5 deny from 10.9.9.8",
            "insert 9 deny from 2001:db8::9",
            "insert 12 deny from 2001:db8::9",
            "insert 11 deny from 2001:db8::9",
            "prepend deny from 2001:db8::10",
            "prepend allow 24",
            "status numbered",
            "show added",
        ],
        &[],
    ),
    (
        "insert positions across families",
        &[
            "--force enable",
            "allow 22",
            "allow from 10.0.0.1",
            "allow from 2001:db8::1",
            "status numbered",
            "insert 1 deny from 2001:db8:1::66",
            "insert 2 deny from 2001:db8:1::66",
            "insert 3 deny from 2001:db8:1::66",
            "insert 4 deny from 2001:db8:1::67",
            "status numbered",
            "insert 1 allow 80",
            "status numbered",
            "insert 3 deny from 10.9.9.9",
            "insert 6 deny from 10.9.9.10",
            "insert 7 deny from 10.9.9.11",
            "insert 99 deny 22",
            "insert 5 allow 81",
            "status numbered",
        ],
        &[],
    ),
    (
        "edits while inactive, then active",
        &[
            "allow 22",
            "insert 1 deny from 192.0.2.66",
            "prepend deny from 198.51.100.77",
            "prepend deny from 2001:db8::77",
            "status",
            "delete allow 22",
            "delete allow 9999",
            "--force delete 1",
            "--force enable",
            "status numbered",
            "allow 22",
            "insert 1 deny from 192.0.2.67",
            "prepend deny from 198.51.100.78",
            "prepend deny from 2001:db8::78",
            "prepend allow 8080/tcp",
            "status numbered",
            "delete allow 22",
            "--force delete 1",
            "status numbered",
        ],
        &[
            Probe::Tcp("192.0.2.1", 8080),
            Probe::Tcp("198.51.100.1", 8080),
            Probe::Tcp("2001:db8:1::1", 8080),
        ],
    ),
    (
        "errors",
        &[
            "--force enable",
            "allow 22",
            "delete 99",
            "delete 0",
            "allow 70000",
            "allow 0",
            "allow 9001:9000/tcp",
            "allow 22/foo",
            "allow 22/icmp",
            "allow to any port 22 proto tcp from any port 70000",
            "allow 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16/tcp",
            "allow 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15/tcp",
            "allow 9000:9001",
            "allow 80,443",
            "allow http,https",
            "allow proto sctp from 1.2.3.4",
            "allow proto esp from any to any port 500",
            "allow from 10.0.0.0/8 to any port ssh proto udp",
            "allow from 10.0.0.0/33",
            "allow from 10.0.0.256",
            "allow from 2001:db8::/129",
            "allow from 10.0.0.0/8 to 192.168.1.1/33",
            "allow from 10.0.0.1 to 2001:db8::1",
            "allow from 10.1.2.3/8 to any port 9000",
            "allow port 22",
            "allow 22/tcp 80/tcp",
            "allow from 10.0.0.0/8 9000",
            "allow foobar",
            "allow 1.2.3.4",
            "allow 2224/tcp log",
            "allow 8082/tcp comment",
            "insert 0 allow 80",
            "insert -1 allow 80",
            "insert 99 deny 22",
        ],
        &[],
    ),
    (
        "more errors: protocols, route, invalid syntax and usage",
        &[
            "allow proto icmp from 1.2.3.4",
            "allow proto 6 from 1.2.3.4",
            "route allow in 80",
            "route delete 1",
            "default drop incoming",
            "default deny sideways",
            "logging verbose",
            "logging",
            "show",
            "show foo",
            "status foo",
            "foo",
            "delete allow",
            "ALLOW 22",
            "allow",
            "allow to any app OpenSSH proto tcp",
            "allow to any app OpenSSH port 22",
            "allow in on vlab0:1 to any port 80",
            "allow in on ab!c to any port 80",
            "allow in on averyveryverylongname0 to any port 80",
            "allow in on 'vlab*' to any port 80",
            "allow 8081/tcp comment \"it's\"",
            "allow in on vlab0 80",
            "allow on vlab0 80",
            "app info Nope",
            "app foo",
            "status verbose",
        ],
        &[],
    ),
    (
        "comments and per-rule logging",
        &[
            "--force enable",
            "allow 8080/tcp comment 'web alt'",
            "allow from 198.51.100.0/24 to any port 9000 proto tcp comment 'app servers'",
            "allow 8083/tcp comment 'a b c d'",
            "allow 8080/tcp comment 'renamed'",
            "rule allow 8080/tcp comment 'renamed'",
            "deny 8083/tcp comment 'a b c d'",
            "allow log 2222/tcp",
            "allow log-all from 198.51.100.0/24 to any port 2223",
            "allow in on vlab0 log from 198.51.100.0/24 to any port 81 proto tcp",
            "allow out on vlab1 to 203.0.113.0/24 port 25 proto tcp",
            "deny out on vlab1 log to any port 443 proto tcp comment 'no tls out'",
            "allow in on vlab+ to any port 9002 proto tcp",
            "allow 2224/tcp log",
            "allow 8082/tcp comment",
            "status",
            "status numbered",
            "status verbose",
            "show added",
            "delete allow 8080/tcp comment 'renamed'",
            "delete allow log 2222/tcp",
            // fail2ban's ufw action: banned with a comment, unbanned without.
            "prepend deny from 203.0.113.77 to any comment 'by Fail2Ban after 3 attempts'",
            "status numbered",
            "delete deny from 203.0.113.77 to any",
            "delete deny from 203.0.113.77 to any",
            "status numbered",
        ],
        &[
            Probe::Tcp("198.51.100.1", 9000),
            Probe::Tcp("192.0.2.1", 9000),
            Probe::Tcp("192.0.2.1", 8083),
            Probe::Tcp("198.51.100.1", 2223),
            Probe::Udp("198.51.100.1", 2223),
            Probe::Tcp("2001:db8:1::1", 2222),
        ],
    ),
    (
        "application profiles",
        &[
            "app list",
            "app info OpenSSH",
            "app info 'WWW Full'",
            "app info MyApp",
            "allow OpenSSH",
            "allow Apache",
            "allow 'Apache Full'",
            "allow openssh",
            "allow MyApp",
            "allow from 198.51.100.0/24 to any app 'WWW Secure'",
            "allow from 198.51.100.0/24 app OpenSSH",
            "allow foobar",
            "--force enable",
            "status",
            "status numbered",
            "status verbose",
            "show added",
            "delete allow Apache",
            "deny MyApp",
            "app update MyApp",
            "app default allow",
            "status verbose",
            "app default skip",
            "--force delete 2",
            "status numbered",
        ],
        &[
            Probe::Tcp("192.0.2.1", 22),
            Probe::Tcp("2001:db8:1::1", 22),
            Probe::Tcp("192.0.2.1", 80),
            Probe::Tcp("192.0.2.1", 443),
            Probe::Tcp("198.51.100.1", 443),
            Probe::Tcp("192.0.2.1", 9001),
            Probe::Udp("192.0.2.1", 5000),
        ],
    ),
    (
        "route rules",
        &[
            "route allow in on vlab0 out on vlab1 to 203.0.113.2 port 80 proto tcp",
            "route allow in on vlab0 out on vlab1",
            "route deny from 198.51.100.66 to 203.0.113.0/24",
            "route allow 8000/tcp",
            "route reject in on vlab1 out on vlab0 comment 'no back'",
            "route limit in on vlab0 to any port 22 proto tcp",
            "route insert 1 deny in on vlab0 from 198.51.100.130",
            "route allow out on vlab1 to any port 53",
            "allow 22/tcp",
            "deny out 25",
            "--force enable",
            "status",
            "status numbered",
            "status verbose",
            "show added",
            "route delete allow 8000/tcp",
            "route delete allow 8000/tcp",
            "--force delete 1",
            "status numbered",
            "default allow routed",
            "status verbose",
        ],
        &[Probe::Tcp("192.0.2.1", 22), Probe::Tcp("192.0.2.1", 8000)],
    ),
    (
        "SIEM manager, single node",
        &[
            "default deny incoming",
            "default allow outgoing",
            "allow from 192.0.2.10 to any port 22 proto tcp",
            "allow from 198.51.100.0/24 to any port 443 proto tcp",
            "allow from 203.0.113.0/24 to any port 9000 proto tcp",
            "allow from 203.0.113.0/24 to any port 9001 proto tcp",
            "allow from 203.0.113.0/24 to any port 50051 proto tcp",
            "allow from 203.0.113.0/24 to any port 9000,9001,50051 proto tcp",
            "allow 514/udp",
            "allow 6514/tcp",
            "allow 2055/udp",
            "allow 4739/udp",
            "show added",
            "--force enable",
            "status verbose",
            "status numbered",
        ],
        &[
            Probe::Tcp("192.0.2.1", 22),
            Probe::Tcp("198.51.100.1", 22),
            Probe::Tcp("198.51.100.1", 443),
            Probe::Tcp("203.0.113.1", 9000),
            Probe::Tcp("203.0.113.1", 50051),
            Probe::Tcp("203.0.113.1", 9002),
            Probe::Udp("192.0.2.1", 514),
            Probe::Udp("192.0.2.1", 2055),
            Probe::Udp("203.0.113.1", 4739),
            Probe::Udp("192.0.2.1", 515),
            Probe::Tcp("192.0.2.1", 6514),
            Probe::Tcp("2001:db8:1::1", 22),
            Probe::Udp("2001:db8:1::1", 514),
            Probe::Tcp("2001:db8:1::1", 6514),
            // ufw's before.rules accept echo requests under default deny.
            Probe::Ping("192.0.2.1"),
            Probe::Ping("2001:db8:1::1"),
        ],
    ),
    (
        "SIEM cluster node",
        &[
            "allow from 192.0.2.21 to any port 2377 proto tcp",
            "allow from 192.0.2.21 to any port 7946",
            "allow from 192.0.2.21 to any port 4789 proto udp",
            "allow from 192.0.2.21 to any port 9200 proto tcp",
            "allow from 192.0.2.21 to any port 9300 proto tcp",
            "allow from 192.0.2.22 to any port 2377 proto tcp",
            "allow from 192.0.2.22 to any port 7946",
            "allow from 192.0.2.22 to any port 4789 proto udp",
            "allow from 192.0.2.22 to any port 9200:9300 proto tcp",
            "show added",
            "--force enable",
            "status",
            "status numbered",
        ],
        &[Probe::Tcp("192.0.2.1", 2377), Probe::Udp("192.0.2.1", 4789)],
    ),
    (
        "appliance moves its web ports",
        &[
            "allow 80/tcp",
            "allow 443/tcp",
            "allow out 53",
            "allow out 123/udp",
            "show added",
            "--force enable",
            "allow 1780/tcp",
            "allow 1443/tcp",
            "delete allow 80/tcp",
            "delete allow 443/tcp",
            "status numbered",
            "status verbose",
        ],
        &[
            Probe::Tcp("192.0.2.1", 80),
            Probe::Tcp("192.0.2.1", 443),
            Probe::Tcp("192.0.2.1", 1780),
            Probe::Tcp("198.51.100.1", 1443),
            Probe::Tcp("2001:db8:1::1", 1780),
        ],
    ),
    (
        "issue examples",
        &[
            "default deny incoming",
            "default allow outgoing",
            "default deny",
            "allow ssh",
            "allow 1780",
            "allow 1443/tcp",
            "allow in 4000/tcp",
            "allow out 1680/tcp",
            "deny out 5555/tcp",
            "allow 443",
            "--force enable",
            "status",
            "delete allow in 4000/tcp",
            "delete deny out 5555/tcp",
            "delete allow 443",
            "delete allow 443",
            "allow from 192.168.1.0/24 to any port 443 proto tcp",
            "allow from 10.0.0.0/8 to any port 514 proto udp",
            "allow out to 203.0.113.9 port 50052 proto tcp",
            "allow from 198.51.100.7 to any port 7946",
            "allow 1443/tcp",
            "status numbered",
            "delete 3",
            "--force delete 3",
            "status verbose",
            "reset",
            "reload",
            "disable",
            "status",
            "reload",
        ],
        &[Probe::Tcp("192.0.2.1", 5000)],
    ),
    (
        "collector basics",
        &[
            "default deny incoming",
            "default allow outgoing",
            "allow 22/tcp",
            "allow from 10.0.0.0/8 to any port 514 proto udp",
            "allow from 198.51.100.7 to any port 7946",
            "allow out to 203.0.113.9 port 50052 proto tcp",
            "deny out 5555/tcp",
            "--force enable",
            "status",
            "status numbered",
            "delete 9",
            "allow proto foo from 10.0.0.1",
        ],
        &[
            Probe::Tcp("192.0.2.1", 22),
            Probe::Udp("192.0.2.1", 514),
            Probe::Tcp("192.0.2.1", 7946),
            Probe::Tcp("2001:db8:1::1", 22),
        ],
    ),
    (
        "reject and limit on the wire, the host's denied sends",
        &[
            "--force enable",
            "reject 2222/tcp",
            "reject 514/udp",
            "limit 2224/tcp",
            "deny out 5000/udp",
            "reject out 5001/udp",
        ],
        &[
            Probe::Tcp("192.0.2.1", 2222),
            Probe::Tcp("2001:db8:1::1", 2222),
            Probe::UdpRefused("192.0.2.1", 514),
            Probe::UdpRefused("2001:db8:1::1", 514),
            Probe::UdpRefused("192.0.2.1", 515),
            Probe::Tcp("192.0.2.1", 2224),
            Probe::Tcp("192.0.2.1", 2224),
            Probe::Tcp("192.0.2.1", 2224),
            Probe::Tcp("192.0.2.1", 2224),
            Probe::Tcp("192.0.2.1", 2224),
            Probe::Tcp("192.0.2.1", 2224),
            Probe::Send("192.0.2.2", 5000),
            Probe::Send("2001:db8:1::2", 5000),
            Probe::Send("192.0.2.2", 5001),
            Probe::Send("2001:db8:1::2", 5001),
            Probe::Send("192.0.2.2", 5002),
        ],
    ),
    (
        "default reject incoming, default deny outgoing",
        &[
            "--force enable",
            "default reject incoming",
            "default deny outgoing",
            "allow out 5002/udp",
        ],
        &[
            Probe::Tcp("192.0.2.1", 2225),
            Probe::Tcp("2001:db8:1::1", 2225),
            Probe::UdpRefused("192.0.2.1", 516),
            Probe::Send("192.0.2.2", 5003),
            Probe::Send("2001:db8:1::2", 5003),
            Probe::Send("192.0.2.2", 5002),
        ],
    ),
    (
        "logging levels",
        &[
            "--force enable",
            "status",
            "status numbered",
            "status verbose",
            "logging off",
            "status verbose",
            "logging on",
            "status verbose",
            "logging high",
            "logging on",
            "status verbose",
            "logging full",
            "status verbose",
            "logging low",
            "default deny outgoing",
            "status verbose",
        ],
        // Default deny outgoing at the end: replies need the stateful issue.
        &[],
    ),
    (
        "numbering across v4 and v6",
        &[
            "--force enable",
            "allow 1443/tcp",
            "allow from 192.0.2.0/24 to any port 443 proto tcp",
            "allow from 2001:db8::/32 to any port 443 proto tcp",
            "deny from 192.0.2.66",
            "status numbered",
            "show added",
            "--force delete 2",
            "status numbered",
            "--force delete 3",
            "status numbered",
        ],
        &[
            Probe::Tcp("192.0.2.1", 1443),
            Probe::Tcp("192.0.2.1", 443),
            Probe::Tcp("2001:db8:1::1", 443),
        ],
    ),
];

#[test]
fn fw_ctl_prints_and_enforces_what_ufw_does() {
    // ufw runs with private copies of these; the host's must not change.
    let host_files = [
        "/etc/default/ufw",
        "/etc/ufw/ufw.conf",
        "/etc/ufw/user.rules",
    ];
    let before: Vec<Vec<u8>> = host_files
        .iter()
        .map(|f| std::fs::read(f).expect("host ufw file"))
        .collect();
    let mut t = Tally::default();
    for (name, script, probes) in SCENARIOS {
        compare(name, script, probes, &mut t);
    }
    compare("edit decisions, inactive", EDIT_TABLE, &[], &mut t);
    let mut active = vec!["--force enable"];
    active.extend_from_slice(EDIT_TABLE);
    active.push("status numbered");
    compare(
        "edit decisions, active",
        &active,
        &[
            Probe::Tcp("192.0.2.1", 80),
            Probe::Tcp("2001:db8:1::1", 80),
            Probe::Tcp("192.0.2.1", 22),
            Probe::Tcp("2001:db8:1::1", 22),
            Probe::Tcp("192.0.2.1", 2222),
        ],
        &mut t,
    );
    for (f, b) in host_files.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(f).expect("host ufw file"),
            b,
            "the parity test changed the host's {f}"
        );
    }
    eprintln!(
        "parity: {} commands compared, {} identical, {} identical but for the token fw's \
         error names, {} but for the program name; \
         {} packets compared; {} differences",
        t.commands,
        t.commands
            - t.token_named
            - t.renamed
            - t.diffs.iter().filter(|d| !d.contains("probe")).count(),
        t.token_named,
        t.renamed,
        t.packets,
        t.diffs.len()
    );
    assert!(t.diffs.is_empty(), "{}", t.diffs.join("\n"));
}

/// Profile files as packages write them and as people edit them, read by
/// Python's configparser in ufw: continuation lines (a multi-line
/// `description`, a blank line inside it), `:` and spaced delimiters,
/// keys in any case, full-line comments, `[DEFAULT]` inherited, an inline
/// `;` that is part of the value; files configparser refuses (a duplicate
/// section or key, no section header, a line without a delimiter); the
/// same profile in two files.
const TRICKY_PROFILES: &[(&str, &str)] = &[
    (
        "multi",
        "[Multi]\ntitle=Multi-line description\ndescription=First line of it,\n  \
         continued on a second line\n\tand a third, tab-indented.\nports=7001/tcp\n",
    ),
    (
        "colon",
        "# a comment\n; another comment\n[Colon]\nTITLE: Colon delimiter\n\
         Description : spaced key\nPORTS = 7002/udp\n",
    ),
    (
        "inherit",
        "[DEFAULT]\ntitle=From DEFAULT\ndescription=Inherited from DEFAULT\n\n\
         [Inherit]\nports=7003/tcp|7004/udp\n",
    ),
    (
        "blank",
        "[Blank]\ntitle=Blank line inside\ndescription=Paragraph one.\n\n  Paragraph two.\n\
         ports=7005/tcp\n",
    ),
    (
        "inline",
        "[Inline]\ntitle=Inline\ndescription=x\nports=7006/tcp ; not a comment\n",
    ),
    (
        "dupsection",
        "[DupSec]\ntitle=a\ndescription=a\nports=7007/tcp\n[DupSec]\ntitle=b\n",
    ),
    (
        "dupkey",
        "[DupKey]\ntitle=a\ndescription=a\nports=7008/tcp\nports=7009/tcp\n",
    ),
    ("noheader", "title=no header\nports=7010/tcp\n"),
    (
        "nodelim",
        "[NoDelim]\ntitle=a\ndescription=a\nports 7011/tcp\n",
    ),
    (
        "twice-a",
        "[Twice]\ntitle=first\ndescription=a\nports=7012/tcp\n",
    ),
    (
        "twice-b",
        "[Twice]\ntitle=second\ndescription=b\nports=7013/tcp\n",
    ),
];

/// The tricky profile files: what `app list`, `app info` and rules with
/// them print, and that the rules enforce, as under ufw.
#[test]
fn profiles_are_read_as_ufws_configparser_reads_them() {
    let mut t = Tally::default();
    compare_with(
        "configparser profiles",
        TRICKY_PROFILES,
        &[
            "app list",
            "app info Multi",
            "app info Colon",
            "app info Inherit",
            "app info Blank",
            "app info Inline",
            "app info DupSec",
            "app info DupKey",
            "app info NoDelim",
            "app info Twice",
            "allow Multi",
            "allow from 198.51.100.0/24 to any app Inherit",
            "allow Blank",
            "allow Twice",
            "allow DupSec",
            "--force enable",
            "status verbose",
        ],
        &[
            Probe::Tcp("192.0.2.1", 7001),
            Probe::Tcp("192.0.2.1", 7003),
            Probe::Tcp("198.51.100.1", 7003),
            Probe::Tcp("192.0.2.1", 7005),
            Probe::Tcp("192.0.2.1", 7012),
            Probe::Tcp("192.0.2.1", 7013),
            Probe::Tcp("192.0.2.1", 7007),
        ],
        &mut t,
    );
    eprintln!(
        "profiles: {} commands, {} packets compared; {} differences",
        t.commands,
        t.packets,
        t.diffs.len()
    );
    assert!(t.diffs.is_empty(), "{}", t.diffs.join("\n"));
}

/// `show listening`: the same sockets (wildcard and bound to one
/// address, TCP and UDP, IPv4 and IPv6, loopback left out) under the same
/// rules give the same report as ufw's, byte for byte: which rules apply
/// to which socket (ports, lists and ranges, protocols, addresses,
/// networks and interfaces; outgoing and route rules never).
#[test]
fn show_listening_names_the_rules_ufw_names() {
    let (ufw_lab, fw_lab, ufw, fw) = labs("l", &[]);
    let script = [
        "allow 22/tcp",
        "allow from 198.51.100.0/24 to any port 9000 proto tcp",
        "allow in on fw0 to any port 514 proto udp",
        "deny 8000:8100/tcp",
        "allow to 192.0.2.1 port 8080",
        "allow to 203.0.113.0/24 port 8443 proto tcp",
        "allow 53",
        "allow out 53/udp",
        "route allow in on fw0 out on fw0 to any port 22 proto tcp",
        "reject 2001:db8:1::1 to any port 9000",
        "allow to 2001:db8:1::/64 port 9000 proto tcp",
        "allow Apache Full",
        "limit 2222/tcp",
        "allow in on fw0 to 192.0.2.1 port 7000 proto tcp",
    ];
    for line in script {
        let w = words(line);
        let args: Vec<&str> = w.iter().map(String::as_str).collect();
        let a = ufw.output(&args);
        let b = fw.output(&args);
        assert_eq!(
            a.status.success(),
            b.status.success(),
            "{line}: {}{}",
            show(&a),
            show(&b)
        );
    }
    let open = |ns: &fw_tests::netns::Netns| {
        ns.run(|| {
            use std::net::{TcpListener, UdpSocket};
            let tcp: Vec<TcpListener> = [
                "[::]:22",
                "0.0.0.0:9000",
                "192.0.2.1:8080",
                "203.0.113.1:8443",
                "127.0.0.1:8050",
                "[::1]:7001",
                "198.51.100.1:8050",
                "[2001:db8:1::1]:9000",
                "0.0.0.0:80",
                "192.0.2.1:7000",
                "0.0.0.0:2222",
            ]
            .iter()
            .map(|a| TcpListener::bind(a).expect("tcp listener"))
            .collect();
            let udp: Vec<UdpSocket> =
                ["0.0.0.0:514", "192.0.2.1:53", "[::]:9001", "127.0.0.1:5353"]
                    .iter()
                    .map(|a| UdpSocket::bind(a).expect("udp socket"))
                    .collect();
            (tcp, udp)
        })
    };
    let _u = open(&ufw_lab.host);
    let _f = open(&fw_lab.host);
    let a = ufw.output(&["show", "listening"]);
    let b = fw.output(&["show", "listening"]);
    assert!(a.status.success(), "{}", show(&a));
    // The deliberate difference: fw names the IPv4 rules with `in on IF`
    // that apply (ufw 0.36.2 never does: its SIOCGIFADDR call fails
    // under Python 3, so `fuzzy_dst_match` finds no interface address).
    let fw_out = String::from_utf8_lossy(&b.stdout).into_owned();
    let mut as_ufw = fw_out.clone();
    for extra in [
        "\n   [11] allow in on fw0 to 192.0.2.1 port 7000 proto tcp\n",
        "\n   [ 3] allow in on fw0 to any port 514 proto udp\n",
    ] {
        assert!(
            as_ufw.contains(extra),
            "fw-ctl does not name{extra}in:\n{fw_out}"
        );
        as_ufw = as_ufw.replacen(extra, "", 1);
    }
    assert_eq!(
        as_ufw,
        String::from_utf8_lossy(&a.stdout),
        "fw-ctl's report differs from ufw's:\n{}",
        show(&b)
    );
    assert!(a.stdout.len() > 200, "{}", show(&a));
}

/// `fw-ctl import-ufw` of `ufw`'s configuration directory and defaults
/// file; its output.
fn import_ufw(fw: &FwCtl, ufw: &Ufw) -> String {
    fw.ok(&[
        "import-ufw",
        ufw.etc().join("ufw").to_str().unwrap(),
        "--defaults",
        ufw.etc().join("default/ufw").to_str().unwrap(),
    ])
}

/// `fw-ctl import-ufw`: a ufw configured by the commands of a vendor
/// document, carried over to fw, shows the same `status numbered`,
/// `status verbose` and `show added`, and gives real packets the same fate.
#[test]
fn import_ufw_carries_the_configuration_over() {
    let ufw_lab = Pair::with_addrs("iu", HOST_ADDRS, CLIENT_ADDRS);
    let fw_lab = Pair::with_addrs("if", HOST_ADDRS, CLIENT_ADDRS);
    let ufw = Ufw::new(&ufw_lab.host);
    let fw = FwCtl::new(&fw_lab.host, Launch::Nsenter);
    for (file, text) in PROFILES {
        ufw.add_profile(file, text);
    }
    let setup = [
        "default deny incoming",
        "default allow outgoing",
        "default reject routed",
        "logging medium",
        "allow 22/tcp",
        "allow from 198.51.100.0/24 to any port 9000 proto tcp comment 'app servers'",
        "allow from 203.0.113.0/24 to any port 514 proto udp",
        "allow MyApp",
        "allow from 198.51.100.0/24 to any app 'WWW Full'",
        "allow log 2222/tcp",
        "deny out on vlab1 to any port 25 proto tcp",
        "route allow in on vlab0 out on vlab1 to 203.0.113.2 port 80 proto tcp",
        "allow from 2001:db8::/32 to any port 443 proto tcp",
        "limit 23/tcp",
        "deny from 192.0.2.66",
        "--force enable",
    ];
    for line in setup {
        let w = words(line);
        let args: Vec<&str> = w.iter().map(String::as_str).collect();
        let o = ufw.output(&args);
        assert!(o.status.success(), "ufw {line}: {}", show(&o));
    }
    let out = import_ufw(&fw, &ufw);
    assert!(
        out.starts_with("Imported 16 rules (10 IPv4, 6 IPv6)"),
        "{out}"
    );
    assert!(
        out.contains("Default: deny (incoming), allow (outgoing), reject (routed); logging medium"),
        "{out}"
    );
    fw.ok(&["--force", "enable"]);
    for cmd in ["status numbered", "status verbose", "show added"] {
        let args: Vec<&str> = cmd.split(' ').collect();
        let (a, b) = (ufw.output(&args), fw.output(&args));
        assert_eq!(
            as_ufw_would(&b.stdout),
            String::from_utf8_lossy(&a.stdout),
            "{cmd} after import"
        );
    }
    let probes = [
        Probe::Tcp("192.0.2.1", 22),
        Probe::Tcp("198.51.100.1", 9000),
        Probe::Tcp("192.0.2.1", 9000),
        Probe::Udp("203.0.113.1", 514),
        Probe::Tcp("192.0.2.1", 9001),
        Probe::Udp("192.0.2.1", 5000),
        Probe::Tcp("198.51.100.1", 443),
        Probe::Tcp("2001:db8:1::1", 443),
        Probe::Tcp("2001:db8:1::1", 22),
    ];
    assert_eq!(fates(&ufw_lab, &probes), fates(&fw_lab, &probes));
}

/// The two before.rules edits ufw users make most (the host's
/// echo-request ACCEPT turned into DROP, here in before.rules and
/// before6.rules, and the DHCP client line removed) are carried over by
/// `import-ufw` as fw's switches, and pings meet the same fate under both
/// tools; a hand-written rule it cannot carry over is named with its line.
#[test]
fn import_ufw_carries_before_rules_edits_over() {
    let ufw_lab = Pair::with_addrs("ib", HOST_ADDRS, CLIENT_ADDRS);
    let fw_lab = Pair::with_addrs("ic", HOST_ADDRS, CLIENT_ADDRS);
    let ufw = Ufw::new(&ufw_lab.host);
    let fw = FwCtl::new(&fw_lab.host, Launch::Nsenter);
    let dir = ufw.etc().join("ufw");
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).expect("ufw's rules file");
        assert!(text.contains(from), "{file} has '{from}'");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("edit");
    };
    edit(
        "before.rules",
        "-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT",
        "-A ufw-before-input -p icmp --icmp-type echo-request -j DROP",
    );
    edit(
        "before.rules",
        "-A ufw-before-input -p udp --sport 67 --dport 68 -j ACCEPT\n",
        "",
    );
    edit(
        "before.rules",
        "-A ufw-before-input -j ufw-not-local\n",
        "-A ufw-before-input -j ufw-not-local\n-A ufw-before-input -s 198.51.100.99 -j DROP\n",
    );
    edit(
        "before6.rules",
        "-A ufw6-before-input -p icmpv6 --icmpv6-type echo-request -j ACCEPT",
        "-A ufw6-before-input -p icmpv6 --icmpv6-type echo-request -j DROP",
    );
    for line in ["allow 22/tcp", "--force enable"] {
        let args: Vec<&str> = line.split(' ').collect();
        let o = ufw.output(&args);
        assert!(o.status.success(), "ufw {line}: {}", show(&o));
    }
    let out = import_ufw(&fw, &ufw);
    assert!(
        out.contains("Built-in rules: ufw's, but ping deny, ping6 deny, dhcp off\n"),
        "{out}"
    );
    let named: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Not carried over: before"))
        .collect();
    assert!(
        named.len() == 1
            && named[0].contains("before.rules line ")
            && named[0].contains("'-A ufw-before-input -s 198.51.100.99 -j DROP'"),
        "{out}"
    );
    let conf = std::fs::read_to_string(fw.state.join("fw.conf")).unwrap();
    assert!(
        conf.contains(
            "BUILTIN_PING=deny\nBUILTIN_PING6=deny\nBUILTIN_DHCP=off\nBUILTIN_DHCP6=allow\n"
        ),
        "{conf}"
    );
    fw.ok(&["--force", "enable"]);
    let probes = [
        Probe::Ping("192.0.2.1"),
        Probe::Ping("2001:db8:1::1"),
        Probe::Tcp("192.0.2.1", 22),
    ];
    let (a, b) = (fates(&ufw_lab, &probes), fates(&fw_lab, &probes));
    assert_eq!(a, b);
    assert_eq!(a[0], Fate::Ping(false), "the edit stops pings");
}

/// Over SSH, ufw asks before `enable` and `reset` (its `under_ssh`: an
/// `sshd` process among the ancestors); with no answer it aborts and
/// nothing changes. fw-ctl asks the same questions the same way.
#[test]
fn enable_and_reset_over_ssh_ask_first() {
    let ufw_lab = Pair::with_addrs("su", HOST_ADDRS, CLIENT_ADDRS);
    let fw_lab = Pair::with_addrs("sf", HOST_ADDRS, CLIENT_ADDRS);
    let ufw = Ufw::new(&ufw_lab.host);
    let fw = FwCtl::new(&fw_lab.host, Launch::Nsenter);
    let fake = std::env::temp_dir().join(format!("fw-test-sshd-{}", std::process::id()));
    let run = |mut c: std::process::Command| {
        c.stdin(std::process::Stdio::null())
            .output()
            .expect("run under fake sshd")
    };
    for line in [
        "allow 22/tcp",
        "enable",
        "status",
        "--force enable",
        "reset",
        "status",
    ] {
        let args: Vec<&str> = line.split(' ').collect();
        let a = run(fw_tests::under_fake_sshd(&ufw.command(&args), &fake));
        let b = run(fw_tests::under_fake_sshd(&fw.command(&args), &fake));
        assert_eq!(a.status.code(), b.status.code(), "{line}");
        assert_eq!(
            as_ufw_would(&b.stdout),
            String::from_utf8_lossy(&a.stdout),
            "{line}: stdout"
        );
        assert_eq!(b.stderr, a.stderr, "{line}: stderr");
        let out = String::from_utf8_lossy(&b.stdout);
        match line {
            "enable" => assert_eq!(
                out,
                "Command may disrupt existing ssh connections. Proceed with operation (y|n)? Aborted\n"
            ),
            "reset" => assert!(
                out.contains("This may disrupt existing ssh") && out.ends_with("Aborted\n"),
                "{out}"
            ),
            _ => {}
        }
    }
    let _ = std::fs::remove_dir_all(&fake);
    // The unanswered `enable` left fw disabled, the forced one enabled it,
    // the unanswered `reset` kept it.
    assert!(fw.ok(&["status"]).starts_with("Status: active"));
}

/// Route rules and the routed policy, ufw against fw-ctl on a router
/// between two networks (`fw_tests::netns::Routed`, one lab each): the
/// same commands on R, then the same probes from A through R to B and
/// from B to A (TCP connects, UDP datagrams, pings; IPv4 and IPv6) must
/// meet the same fate. Covers: input rules never forward, route rules
/// with interfaces/addresses/ports, replies of forwarded flows, ufw's
/// before-forward ICMP, `default allow|deny|reject routed`.
#[test]
fn route_rules_forward_what_ufws_do() {
    use fw_tests::netns::Routed as R;
    let (ul, fl) = (R::new("ru"), R::new("rf"));
    // Plain veth pairs: nothing on A's or B's side.
    let ufw = Ufw::new(&ul.left.host);
    let fw = FwCtl::new(&fl.left.host, Launch::Nsenter);
    #[derive(Clone, Copy, Debug)]
    enum Way {
        AtoB,
        BtoA,
    }
    let probes: Vec<(Way, Probe)> = vec![
        (Way::AtoB, Probe::Tcp(R::B4, 80)),
        (Way::AtoB, Probe::Tcp(R::B6, 80)),
        (Way::AtoB, Probe::Tcp(R::B4, 81)),
        (Way::AtoB, Probe::Tcp(R::B6, 81)),
        (Way::AtoB, Probe::Tcp(R::B4, 22)),
        (Way::AtoB, Probe::Udp(R::B4, 53)),
        (Way::AtoB, Probe::Udp(R::B6, 53)),
        (Way::AtoB, Probe::Udp(R::B4, 5353)),
        (Way::AtoB, Probe::Ping(R::B4)),
        (Way::AtoB, Probe::Ping(R::B6)),
        (Way::BtoA, Probe::Tcp(R::A4, 8080)),
        (Way::BtoA, Probe::Tcp(R::A6, 8080)),
        (Way::BtoA, Probe::Udp(R::A4, 5353)),
    ];
    let run = |lab: &R| -> Vec<Fate> {
        let (a, b) = (&lab.left.client, &lab.far);
        let _a_tcp = tcp_listeners(a, &[8080]);
        let _b_tcp = tcp_listeners(b, &[22, 80, 81]);
        let a_udp = udp_sockets(a, &[5353]);
        let b_udp = udp_sockets(b, &[53, 5353]);
        probes
            .iter()
            .map(|(way, p)| {
                let (from, rx) = match way {
                    Way::AtoB => (a, &b_udp),
                    Way::BtoA => (b, &a_udp),
                };
                match *p {
                    Probe::Tcp(h, port) => {
                        Fate::Tcp(tcp_connect(from, SocketAddr::new(h.parse().unwrap(), port)))
                    }
                    Probe::Udp(h, port) => {
                        let sock = match (way, port) {
                            (Way::AtoB, 53) => &rx[0],
                            _ => rx.last().unwrap(),
                        };
                        Fate::Udp(udp_delivered(
                            from,
                            SocketAddr::new(h.parse().unwrap(), port),
                            2,
                            sock,
                        ))
                    }
                    Probe::Ping(h) => Fate::Ping(ping(from, h)),
                    Probe::UdpRefused(h, port) => Fate::UdpRefused(
                        udp_ask(from, SocketAddr::new(h.parse().unwrap(), port))
                            .err()
                            .filter(|k| *k == std::io::ErrorKind::ConnectionRefused),
                    ),
                    Probe::Send(..) => unreachable!("no host sends through a router"),
                }
            })
            .collect()
    };
    let mut phases = 0;
    for script in [
        &[
            "allow 22/tcp",
            "allow 80/tcp",
            "route allow in on fw0 out on rb0 to 198.51.100.2 port 80 proto tcp",
            "route allow in on fw0 out on rb0 to 2001:db8:2::2 port 80 proto tcp",
            "route allow proto udp to any port 53",
            "--force enable",
        ][..],
        &[
            "route deny in on fw0 to any port 81 proto tcp",
            "default allow routed",
        ][..],
        &[
            "default reject routed",
            "route delete allow proto udp to any port 53",
        ][..],
    ] {
        for line in script {
            let w = words(line);
            let args: Vec<&str> = w.iter().map(String::as_str).collect();
            let (a, b) = (ufw.output(&args), without_fw_lines(fw.output(&args)));
            assert!(a.status.success(), "ufw {line}: {}", show(&a));
            assert_eq!(
                (a.status.code(), &a.stdout),
                (b.status.code(), &b.stdout),
                "{line}: ufw {} fw-ctl {}",
                show(&a),
                show(&b)
            );
        }
        let (a, b) = (run(&ul), run(&fl));
        for ((p, x), y) in probes.iter().zip(&a).zip(&b) {
            assert_eq!(x, y, "phase {phases}: probe {p:?}: ufw {x:?}, fw-ctl {y:?}");
        }
        phases += 1;
    }
    let verbose = ["status", "verbose"];
    assert_eq!(
        String::from_utf8_lossy(&ufw.output(&verbose).stdout),
        as_ufw_would(&fw.output(&verbose).stdout)
    );
    eprintln!(
        "routed parity: {phases} phases x {} probes through a router, identical",
        probes.len()
    );
}

//! `fw-ctl explain`: which rule decides a packet, by the reference
//! classifier, cross-checked with BPF_PROG_TEST_RUN of a private copy of
//! the data plane; they agree on a mix of cases (IPv4 and IPv6, in and
//! out, interfaces, ports, prefixes, the default policies), the live
//! filter's counters are untouched, and bad input names the bad word; and
//! on the differential test's random cases (`fw_tests::cases`).

use std::{net::IpAddr, path::Path};

use fw_common::{Direction, Family};
use fw_ctl::{
    reference::classify,
    rule::{PacketMeta, PortSet, Proto, Rule},
    state::{State, StateDir, parse_rules, render_rules},
};
use fw_tests::{
    cases::case,
    fwctl::{FwCtl, Launch},
    netns::{Netns, Pair},
    packet::{L4, Pkt},
};
use ipnet::IpNet;
use proptest::{
    strategy::{Strategy, ValueTree},
    test_runner::TestRunner,
};

#[test]
fn explain_agrees_with_the_data_plane() {
    let pair = Pair::new("expl");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    for rule in [
        &["deny", "from", "10.0.0.0/8"][..],
        &["allow", "22/tcp"],
        &[
            "allow", "in", "on", "fw0", "to", "any", "port", "514", "proto", "udp",
        ],
        &[
            "allow",
            "from",
            "2001:db8:9::/48",
            "to",
            "any",
            "port",
            "9000:9010",
            "proto",
            "tcp",
        ],
        &[
            "reject",
            "out",
            "to",
            "203.0.113.0/24",
            "port",
            "25",
            "proto",
            "tcp",
        ],
        &["limit", "2222/tcp"],
    ] {
        fw.ok(rule);
    }
    fw.ok(&["enable", "-i", "fw0"]);
    // (Reason counters move with the fresh link's own IPv6 chatter; the
    // rule counters only with packets the rules decide.)
    let before = fw.rule_packets();
    for (args, decided) in [
        (
            "tcp 198.51.100.7:40000 192.0.2.1:22",
            "rule 2 (id 1): allow in proto tcp from any to any port 22",
        ),
        (
            "tcp 10.9.8.7:40000 192.0.2.1:22",
            "rule 1 (id 0): deny in from 10.0.0.0/8",
        ),
        (
            "udp 198.51.100.7:5000 192.0.2.1:514 in on fw0",
            "allow in on fw0 proto udp",
        ),
        (
            "udp 198.51.100.7:5000 192.0.2.1:514",
            "the default incoming policy (deny)",
        ),
        (
            "tcp 192.0.2.1:40000 203.0.113.9:25 out",
            "reject out proto tcp from any to 203.0.113.0/24 port 25",
        ),
        (
            "tcp 192.0.2.1:40000 198.51.100.9:25 out",
            "the default outgoing policy (allow)",
        ),
        (
            "tcp [2001:db8:9::5]:4000 [2001:db8:1::1]:9005",
            "from 2001:db8:9::/48 to any port 9000:9010",
        ),
        (
            "tcp [2001:db8:7::5]:4000 [2001:db8:1::1]:9005",
            "the default incoming policy (deny)",
        ),
        (
            "tcp 198.51.100.7:40000 192.0.2.1:2222",
            "limit in proto tcp from any to any port 2222",
        ),
        (
            "icmp 198.51.100.7 192.0.2.1",
            "the default incoming policy (deny)",
        ),
    ] {
        let words: Vec<&str> = std::iter::once("explain").chain(args.split(' ')).collect();
        let out = fw.output(&words);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Agree: yes"), "{args}: {text}");
        let reference = text.lines().find(|l| l.starts_with("Reference: ")).unwrap();
        assert!(reference.contains(decided), "{args}: {reference}");
    }
    // The live filter saw none of it.
    assert_eq!(fw.rule_packets(), before);
    for (args, token) in [
        ("sctp 1.2.3.4 5.6.7.8", "'sctp'"),
        ("tcp 1.2.3.4:x 5.6.7.8", "'1.2.3.4:x'"),
        ("tcp 1.2.3.4 5.6.7.8 sideways", "'sideways'"),
        ("icmp 1.2.3.4:5 5.6.7.8", "'icmp'"),
        ("udp 1.2.3.4 5.6.7.8 on nosuch0", "'nosuch0'"),
    ] {
        let words: Vec<&str> = std::iter::once("explain").chain(args.split(' ')).collect();
        let out = fw.output(&words);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args}");
        assert!(err.contains(token), "{args}: {err}");
    }
}

/// The words of `fw-ctl explain` for packet `p` seen in `dir` on `iface`.
fn explain_words(p: &Pkt, dir: Direction, iface: Option<&str>) -> Vec<String> {
    let at = |a: IpAddr, port: Option<u16>| match (a, port) {
        (IpAddr::V4(v), Some(n)) => format!("{v}:{n}"),
        (IpAddr::V6(v), Some(n)) => format!("[{v}]:{n}"),
        (a, None) => a.to_string(),
    };
    let (proto, ports) = match p.l4 {
        L4::Tcp(s, d) => ("tcp".to_owned(), Some((s, d))),
        L4::Udp(s, d) => ("udp".to_owned(), Some((s, d))),
        L4::Icmp(_) | L4::Icmpv6(_) => ("icmp".to_owned(), None),
        L4::Other(n) => (n.to_string(), None),
    };
    let mut w = vec![
        "explain".to_owned(),
        proto,
        at(p.src, ports.map(|x| x.0)),
        at(p.dst, ports.map(|x| x.1)),
        dir.as_str().to_owned(),
    ];
    if let Some(i) = iface {
        w.extend(["on".to_owned(), i.to_owned()]);
    }
    w
}

/// A packet the rule `r` (in or out) matches, unless an earlier rule
/// decides it first, and the interface to explain it on.
fn packet_for(r: &Rule) -> Option<(Direction, Pkt, Option<&'static str>)> {
    if r.opts.forward {
        return None;
    }
    let any = match r.family {
        Family::V4 => "198.51.100.7",
        Family::V6 => "2001:db8:5::7",
    };
    let at = |n: &Option<IpNet>| n.map_or_else(|| any.parse().unwrap(), |n| n.network());
    let lo = |set: &Option<PortSet>, or: u16| set.as_ref().map_or(or, |s| s.0[0].lo);
    let (sport, dport) = (lo(&r.sport, 40000), lo(&r.dport, 80));
    let l4 = match r.proto {
        Proto::Any | Proto::TCP => L4::Tcp(sport, dport),
        Proto::UDP => L4::Udp(sport, dport),
        Proto::Num(1) => L4::Icmp(8),
        Proto::Num(58) => L4::Icmpv6(128),
        Proto::Num(n) => L4::Other(n),
    };
    let mut p = Pkt::new(any, any, l4);
    (p.src, p.dst) = (at(&r.src), at(&r.dst));
    let iface = match r.iface.as_deref() {
        None => None,
        Some("eth9") => Some("eth9"),
        Some(_) => Some("eth7"),
    };
    Some((r.dir, p, iface))
}

/// `fw-ctl explain` on the differential test's cases: random rule lists
/// (in, out and route rules, interfaces, port sets, prefixes) saved as the
/// rule set, and their incoming and outgoing packets (plain frames, as
/// explain builds them) explained on two interfaces the rules name or
/// none, and packets made to meet some of the rules; explain must find the
/// reference's rule and agree with the data plane every time. `FW_EXPLAIN_CASES` packets (default 150).
#[test]
fn explain_agrees_on_the_differential_cases() {
    let total = fw_tests::cases_from_env("FW_EXPLAIN_CASES", 150);
    let ns = Netns::new("explr");
    // The interfaces the generator's in/out rules name (eth+ is both).
    ns.ip(&[
        "link", "add", "eth7", "type", "veth", "peer", "name", "eth9",
    ]);
    let index = |name: &str| -> u32 {
        let out = ns.ip(&["-o", "link", "show", name]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(':').next().unwrap().trim().parse().unwrap()
    };
    let (eth7, eth9) = (index("eth7"), index("eth9"));
    let resolve = |n: &str| match n {
        "eth7" => vec![eth7],
        "eth9" => vec![eth9],
        "eth+" => vec![eth7, eth9],
        "lo" => vec![1],
        _ => vec![],
    };
    let fw = FwCtl::new(&ns, Launch::Nsenter);
    let mut runner = TestRunner::deterministic();
    let (mut checked, mut by_rule) = (0, 0);
    while checked < total {
        let mut c = case().new_tree(&mut runner).unwrap().current();
        // Only rules fw-ctl accepts (the generator also makes some its
        // grammar refuses, as port 0); the numbered list holds IPv4 rules
        // first (each family's order kept).
        c.rules.retain(|r| {
            parse_rules(&render_rules(std::slice::from_ref(r)), Path::new("rules")).is_ok()
        });
        c.rules.sort_by_key(|r| r.rule.family != Family::V4);
        let st = State {
            rules: c.rules.clone(),
            defaults: c.defaults,
            ..State::default()
        };
        StateDir::open_locked(&fw.state).unwrap().save(&st).unwrap();
        let random = c
            .packets
            .iter()
            .enumerate()
            .take(8)
            .filter_map(|(n, (dir, p))| {
                let iface = [None, Some("eth7"), Some("eth9")][n % 3];
                (*dir != Direction::Fwd).then(|| (*dir, p.clone(), iface))
            });
        let made = c.rules.iter().filter_map(|r| packet_for(&r.rule)).take(4);
        for (dir, mut p, iface) in random.chain(made) {
            (p.vlans, p.v4_frag, p.v4_options, p.v6_ext) = (vec![], 0, vec![], vec![]);
            let ifindex = match iface {
                Some("eth7") => eth7,
                Some(_) => eth9,
                None => 0,
            };
            let meta = PacketMeta {
                ifindex,
                ..p.meta(dir)
            };
            let want = classify(&c.rules, c.defaults, &meta, &resolve);
            let words = explain_words(&p, dir, iface);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let out = fw.output(&words);
            let text = String::from_utf8_lossy(&out.stdout);
            let context = || {
                format!(
                    "{}\n{text}{}\nrules:\n{}",
                    words.join(" "),
                    String::from_utf8_lossy(&out.stderr),
                    std::fs::read_to_string(fw.state.join("rules")).unwrap_or_default()
                )
            };
            assert!(text.contains("\nAgree: yes\n"), "{}", context());
            assert_eq!(out.status.code(), Some(0), "{}", context());
            let reference = text.lines().find(|l| l.starts_with("Reference: ")).unwrap();
            let data_plane = text
                .lines()
                .find(|l| l.starts_with("Data plane: "))
                .unwrap();
            match want.rule_id {
                Some(id) => {
                    by_rule += 1;
                    let pos = want.position.unwrap() + 1;
                    assert!(
                        reference.contains(&format!("rule {pos} (id {id}): ")),
                        "{}",
                        context()
                    );
                    assert!(
                        data_plane.contains(&format!(", rule id {id})")),
                        "{}",
                        context()
                    );
                }
                None => assert!(
                    reference.contains("no rule matches: the default"),
                    "{}",
                    context()
                ),
            }
            checked += 1;
        }
    }
    eprintln!("explain: {checked} packets of the differential cases, {by_rule} decided by a rule");
    assert!(
        by_rule > 0,
        "no packet met a rule: the cases test only the policies"
    );
}

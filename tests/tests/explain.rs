//! `fw-ctl explain`: which rule decides a packet, by the reference
//! classifier, cross-checked with BPF_PROG_TEST_RUN of a private copy of
//! the data plane; they agree on a mix of cases (IPv4 and IPv6, in and
//! out, interfaces, ports, prefixes, the default policies), the live
//! filter's counters are untouched, and bad input names the bad word.

use fw_tests::{
    fwctl::{FwCtl, Launch},
    netns::Pair,
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

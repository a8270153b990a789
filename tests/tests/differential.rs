//! Differential property test: random rule lists and random packets through
//! the real eBPF object (XDP for incoming, TC for outgoing, via
//! BPF_PROG_TEST_RUN) against the reference classifier's linear first match.
//!
//! Every (rule list, packet) case must agree on the outcome (passed,
//! dropped, or dropped and answered: a reject's reset or port-unreachable
//! frame, where fw answers), and the counter
//! of the deciding rule (or of the default policy) must move by exactly that
//! packet; after each list, every rule counter must equal the reference's
//! tally. Addresses, prefixes and ports come from small pools so that rules
//! overlap and order decides (the generators: `fw_tests::cases`).
//!
//! `FW_DIFF_CASES` sets the number of (rule list, packet) cases (default
//! 100,000). Failures are shrunk by proptest and their seeds kept in
//! `differential.regressions` beside this file, replayed first on every run.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    net::IpAddr,
};

use fw_common::{Direction, Family, Reason};
use fw_ctl::{
    reference::classify,
    rule::{Action, PortRange, PortSet, Proto, Rule, StoredRule, compile::Defaults},
};
use fw_tests::{
    cases::{Case, MAX_PACKETS_PER_LIST, case},
    packet::{L4, Pkt},
    rig::{Outcome, Rig},
    workload::inbound,
};
use ipnet::IpNet;
use proptest::{
    prelude::*,
    test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner},
};

fn check(rig: &mut Rig, case: &Case) -> Result<usize, TestCaseError> {
    rig.load(&case.rules, case.defaults);
    let show = |rules: &[StoredRule]| {
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "[{i}] id {} {:?} {}",
                    r.id,
                    r.rule.family,
                    fw_ctl::rule::display::canonical(&r.rule)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut tally: HashMap<u32, (u64, u64)> = HashMap::new();
    let router = rig.router.as_ref().expect("the rig has a router");
    let (ifin, ifout) = (router.ifin, router.ifout);
    let ifaces = |n: &str| router.ifaces(n);
    for (dir, p) in &case.packets {
        let (dir, frame) = (*dir, p.bytes());
        let mut m = p.meta(dir);
        if dir == Direction::Fwd {
            (m.ifindex, m.oifindex) = (ifin, ifout);
        }
        let want = classify(&case.rules, case.defaults, &m, &ifaces);
        let want_verdict = want.action.verdict();
        // A reject answers (a rule's TCP with a reset) what fw can answer.
        let want_outcome = match want.action {
            Action::Allow | Action::Limit => Outcome::Pass,
            Action::Reject if p.answerable(dir, want.rule_id.is_some()) => Outcome::Answer,
            Action::Deny | Action::Reject => Outcome::Drop,
        };
        let read = |rig: &Rig| match want.rule_id {
            Some(id) => rig.rule(id),
            None => {
                let reason = if p.non_first_fragment() {
                    Reason::Fragment
                } else {
                    Reason::Policy
                };
                rig.reason(reason, dir, want_verdict)
            }
        };
        let before = read(rig);
        let got = rig.outcome(dir, &frame);
        let after = read(rig);
        prop_assert_eq!(
            got,
            want_outcome,
            "outcome for {:?} {:?}: reference says {:?}\nrules:\n{}",
            dir,
            m,
            want,
            show(&case.rules)
        );
        prop_assert_eq!(
            (after.packets - before.packets, after.bytes - before.bytes),
            (1, frame.len() as u64),
            "counter of {:?} for {:?} {:?}\nrules:\n{}",
            want,
            dir,
            m,
            show(&case.rules)
        );
        if let Some(id) = want.rule_id {
            let t = tally.entry(id).or_default();
            t.0 += 1;
            t.1 += frame.len() as u64;
        }
    }
    for r in &case.rules {
        let c = rig.rule(r.id);
        let want = tally.get(&r.id).copied().unwrap_or_default();
        prop_assert_eq!(
            (c.packets, c.bytes),
            want,
            "rule id {} counters after the list\nrules:\n{}",
            r.id,
            show(&case.rules)
        );
    }
    Ok(case.packets.len())
}

/// Runs `check` on random cases (`case()`) in `rig` until `total` packets
/// were checked (lists hold a random number of packets); `what` names the
/// run in its last line.
fn run_cases(
    total: usize,
    rig: Rig,
    check: fn(&mut Rig, &Case) -> Result<usize, TestCaseError>,
    what: &str,
) {
    let rig = RefCell::new(rig);
    let (offered, checked) = (Cell::new(0usize), Cell::new(0usize));
    while offered.get() < total {
        let lists = (total - offered.get()).div_ceil(MAX_PACKETS_PER_LIST / 2);
        let mut runner = TestRunner::new(Config {
            cases: lists as u32,
            source_file: Some(file!()),
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
            max_shrink_iters: 4096,
            ..Config::default()
        });
        let result = runner.run(&case(), |c| {
            // Counted as offered, so the rounds end; what was checked is
            // counted apart.
            offered.set(offered.get() + c.packets.len());
            let n = check(&mut rig.borrow_mut(), &c)?;
            checked.set(checked.get() + n);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    eprintln!(
        "{what}: {} (rule list, packet) cases checked of {} generated, no disagreement",
        checked.get(),
        offered.get()
    );
    assert!(
        checked.get() * 2 > offered.get(),
        "{what}: most generated packets must be checked"
    );
}

#[test]
fn ebpf_agrees_with_reference_classifier() {
    let total = fw_tests::cases_from_env("FW_DIFF_CASES", 100_000);
    run_cases(total, Rig::new().with_router(), check, "differential");
}

/// ufw's built-in rules (fw_common::builtins) under the switch settings
/// `word` for the packets the generator makes: echo requests (IPv4 in and
/// forwarded, IPv6 every way), DHCP and DHCPv6 answers, mDNS and SSDP
/// multicast. `Some(deny)` when one decides (`deny`: a switch set to deny
/// drops it), `None` when the rules do.
fn builtin(dir: Direction, p: &Pkt, word: u32) -> Option<bool> {
    use fw_common::builtins::{Setting, Switch};
    let switched = |s: Switch| match Setting::of(word, s) {
        Setting::Allow => Some(false),
        Setting::Off => None,
        Setting::Deny => Some(true),
    };
    let ll = |a: IpAddr| matches!(a, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
    let dst = p.dst.to_string();
    match p.l4 {
        L4::Icmp(8) if dir == Direction::In => switched(Switch::Ping),
        L4::Icmp(8) => (dir == Direction::Fwd).then_some(false),
        L4::Icmpv6(128) if dir == Direction::In => switched(Switch::Ping6),
        L4::Icmpv6(128) => Some(false),
        L4::Udp(67, 68) if dir == Direction::In && p.src.is_ipv4() => switched(Switch::Dhcp),
        L4::Udp(547, 546) if dir == Direction::In && ll(p.src) && ll(p.dst) => {
            switched(Switch::Dhcp6)
        }
        L4::Udp(_, d) if dir == Direction::In => ((d == 5353
            && (dst == "224.0.0.251" || dst == "ff02::fb"))
            || (d == 1900 && (dst == "239.255.255.250" || dst == "ff02::f")))
            .then_some(false),
        _ => None,
    }
}

/// The key of the flow `p` seen in `dir` would open, the same whichever
/// way its packets go (`None`: not tracked).
fn flow_key(dir: Direction, p: &Pkt) -> Option<(bool, u8, IpAddr, u16, IpAddr, u16)> {
    let (a, b) = match p.l4 {
        L4::Tcp(s, d) | L4::Udp(s, d) => (s, d),
        L4::Icmp(8) | L4::Icmpv6(128) => (p.echo_id, p.echo_id),
        _ => return None,
    };
    let proto = p.l4.proto();
    Some(match dir {
        Direction::In => (false, proto, p.dst, b, p.src, a),
        Direction::Out => (false, proto, p.src, a, p.dst, b),
        Direction::Fwd if (p.src, a) < (p.dst, b) => (true, proto, p.src, a, p.dst, b),
        Direction::Fwd => (true, proto, p.dst, b, p.src, a),
    })
}

/// [`check`] in fw's default mode (flows tracked, ufw's built-in rules on):
/// each packet opens a flow of its own (a packet whose flow an earlier one
/// of the list opened, either way, is left out: the reference classifier
/// has no flows), so the outcome is the built-in rules', else the
/// rules' with `limit` refusing a source's 6th new connection.
fn check_stateful(rig: &mut Rig, case: &Case) -> Result<usize, TestCaseError> {
    rig.dp.clear_flows().expect("clear flows and limit records");
    rig.load(&case.rules, case.defaults);
    rig.dp.set_builtins(case.builtins).expect("switches");
    let mut checked = 0;
    let router = rig.router.as_ref().expect("the rig has a router");
    let (ifin, ifout) = (router.ifin, router.ifout);
    let ifaces = |n: &str| router.ifaces(n);
    let mut seen = std::collections::HashSet::new();
    let mut limited: HashMap<IpAddr, u32> = HashMap::new();
    for (k, (dir, p)) in case.packets.iter().enumerate() {
        let dir = *dir;
        let mut p = p.clone();
        p.echo_id = 1000 + k as u16;
        let fragment = p.non_first_fragment();
        if !fragment
            && let Some(key) = flow_key(dir, &p)
            && !seen.insert(key)
        {
            continue;
        }
        let mut m = p.meta(dir);
        if dir == Direction::Fwd {
            (m.ifindex, m.oifindex) = (ifin, ifout);
        }
        let want = classify(&case.rules, case.defaults, &m, &ifaces);
        let opens = matches!(
            p.l4,
            L4::Tcp(..) | L4::Udp(..) | L4::Icmp(8) | L4::Icmpv6(128)
        );
        let want_outcome = if let Some(deny) = builtin(dir, &p, case.builtins).filter(|_| !fragment)
        {
            if deny { Outcome::Drop } else { Outcome::Pass }
        } else {
            match want.action {
                Action::Allow => Outcome::Pass,
                Action::Limit if fragment || !opens => Outcome::Pass,
                Action::Limit => {
                    let peer = if dir == Direction::Out { p.dst } else { p.src };
                    let n = limited.entry(peer).or_default();
                    *n += 1;
                    if *n < fw_common::limit::DEFAULT_HITS {
                        Outcome::Pass
                    } else if p.answerable(dir, false) {
                        Outcome::Answer
                    } else {
                        Outcome::Drop
                    }
                }
                Action::Reject if p.answerable(dir, want.rule_id.is_some()) => Outcome::Answer,
                Action::Deny | Action::Reject => Outcome::Drop,
            }
        };
        let got = rig.outcome(dir, &p.bytes());
        checked += 1;
        prop_assert_eq!(
            got,
            want_outcome,
            "stateful (switches {:#x}): outcome for {:?} {:?} (packet {} of the list): reference says {:?}\nrules:\n{}",
            case.builtins,
            dir,
            m,
            k,
            want,
            case.rules
                .iter()
                .map(|r| fw_ctl::rule::display::canonical(&r.rule))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(checked)
}

/// The differential in fw's default mode: stateful, with ufw's built-in
/// rules, `limit` and reject answers. `FW_DIFF_STATEFUL_CASES` sets the
/// number of packets (default 20,000).
#[test]
fn ebpf_agrees_with_reference_in_stateful_mode() {
    let total = fw_tests::cases_from_env("FW_DIFF_STATEFUL_CASES", 20_000);
    run_cases(
        total,
        Rig::stateful().with_router(),
        check_stateful,
        "differential (stateful)",
    );
}

fn v4(s: &str) -> Option<IpNet> {
    Some(s.parse().unwrap())
}

fn ports(lo: u16, hi: u16) -> Option<PortSet> {
    Some(PortSet(vec![PortRange { lo, hi }]))
}

/// Hand-written edge cases through the same check, readable when they fail:
/// port 0 and 65535 at range edges, /0 and host prefixes, a wildcard
/// interface, and a non-first fragment against a port rule.
#[test]
fn differential_edges() {
    let mut rig = Rig::new().with_router();
    let deny = inbound(Action::Deny, Family::V4);
    let allow = inbound(Action::Allow, Family::V4);
    let id = |rules: Vec<Rule>| -> Vec<StoredRule> {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| StoredRule {
                id: 900 - i as u32,
                rule,
            })
            .collect()
    };
    let cases = vec![
        Case {
            builtins: 0,
            rules: id(vec![
                Rule {
                    dport: ports(0, 0),
                    src: v4("10.0.0.0/8"),
                    ..deny.clone()
                },
                Rule {
                    dport: ports(65535, 65535),
                    ..deny.clone()
                },
                Rule {
                    src: v4("0.0.0.0/0"),
                    proto: Proto::UDP,
                    dport: ports(1, 65534),
                    ..allow.clone()
                },
            ]),
            defaults: Defaults {
                incoming: Action::Deny,
                outgoing: Action::Allow,
                routed: Action::Deny,
            },
            packets: vec![
                (
                    Direction::In,
                    Pkt::new("10.9.9.9", "192.0.2.1", L4::Udp(7, 0)),
                ),
                (
                    Direction::In,
                    Pkt::new("11.9.9.9", "192.0.2.1", L4::Udp(7, 0)),
                ),
                (
                    Direction::In,
                    Pkt::new("11.9.9.9", "192.0.2.1", L4::Udp(7, 1)),
                ),
                (
                    Direction::In,
                    Pkt::new("11.9.9.9", "192.0.2.1", L4::Udp(7, 65534)),
                ),
                (
                    Direction::In,
                    Pkt::new("11.9.9.9", "192.0.2.1", L4::Udp(7, 65535)),
                ),
                (
                    Direction::In,
                    Pkt::new("11.9.9.9", "192.0.2.1", L4::Tcp(7, 65535)),
                ),
                (
                    Direction::In,
                    Pkt::new("11.9.9.9", "192.0.2.1", L4::Tcp(7, 80)),
                ),
            ],
        },
        Case {
            builtins: 0,
            rules: id(vec![
                Rule {
                    src: v4("192.0.2.66/32"),
                    ..deny.clone()
                },
                Rule {
                    iface: Some("eth+".to_owned()),
                    src: v4("192.0.2.0/24"),
                    proto: Proto::TCP,
                    dport: ports(22, 22),
                    ..allow.clone()
                },
                Rule {
                    iface: Some("eth7".to_owned()),
                    ..allow.clone()
                },
            ]),
            defaults: Defaults {
                incoming: Action::Deny,
                outgoing: Action::Deny,
                routed: Action::Deny,
            },
            packets: vec![
                (
                    Direction::In,
                    Pkt::new("192.0.2.66", "192.0.2.1", L4::Tcp(7, 22)),
                ),
                (
                    Direction::In,
                    Pkt::new("192.0.2.67", "192.0.2.1", L4::Tcp(7, 22)),
                ),
                (
                    Direction::In,
                    Pkt::new("192.0.3.67", "192.0.2.1", L4::Tcp(7, 22)),
                ),
                (Direction::In, {
                    let mut p = Pkt::new("192.0.2.67", "192.0.2.1", L4::Tcp(7, 22));
                    p.v4_frag = 100;
                    p
                }),
                (
                    Direction::Out,
                    Pkt::new("192.0.2.1", "192.0.2.67", L4::Tcp(22, 7)),
                ),
            ],
        },
    ];
    for c in &cases {
        if let Err(e) = check(&mut rig, c) {
            panic!("{e}");
        }
    }
}

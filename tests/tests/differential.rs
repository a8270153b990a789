//! Differential property test: random rule lists and random packets through
//! the real eBPF object (XDP for incoming, TC for outgoing, via
//! BPF_PROG_TEST_RUN) against the reference classifier's linear first match.
//!
//! Every (rule list, packet) case must agree on the verdict, and the counter
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
};

use fw_common::{Direction, Family, Reason};
use fw_ctl::{
    reference::classify,
    rule::{Action, PortRange, PortSet, Proto, Rule, StoredRule, compile::Defaults},
};
use fw_tests::{
    cases::{Case, MAX_PACKETS_PER_LIST, case},
    packet::{L4, Pkt},
    rig::Rig,
    workload::inbound,
};
use ipnet::IpNet;
use proptest::{
    prelude::*,
    test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner},
};

fn check(rig: &mut Rig, case: &Case) -> Result<(), TestCaseError> {
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
        let got = rig.verdict(dir, &frame);
        let after = read(rig);
        prop_assert_eq!(
            got,
            want_verdict,
            "verdict for {:?} {:?}: reference says {:?}\nrules:\n{}",
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
    Ok(())
}

#[test]
fn ebpf_agrees_with_reference_classifier() {
    let total = fw_tests::cases_from_env("FW_DIFF_CASES", 100_000);
    let rig = RefCell::new(Rig::new().with_router());
    let checked = Cell::new(0usize);
    // Rounds until enough cases ran (lists hold a random number of packets).
    while checked.get() < total {
        let lists = (total - checked.get()).div_ceil(MAX_PACKETS_PER_LIST / 2);
        let mut runner = TestRunner::new(Config {
            cases: lists as u32,
            source_file: Some(file!()),
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
            max_shrink_iters: 4096,
            ..Config::default()
        });
        let result = runner.run(&case(), |c| {
            checked.set(checked.get() + c.packets.len());
            check(&mut rig.borrow_mut(), &c)
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    eprintln!(
        "differential: {} (rule list, packet) cases, no disagreement",
        checked.get()
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

//! 100,000 rules load and are enforced: the realistic rule set of the
//! benchmark goes into the real data plane, and packets aimed at rules all
//! over the list get the reference classifier's verdict, counted on the
//! reference's deciding rule.

use std::net::IpAddr;

use fw_common::{Direction, Family, Reason};
use fw_ctl::{
    reference::classify,
    rule::{Action, Proto, compile::Defaults},
};
use fw_tests::{
    packet::{L4, Pkt},
    rig::{Rig, test_ifaces},
    workload::{self, Position},
};

const RULES: usize = 100_000;

/// A packet from inside rule `r`'s source network to its port, if any.
fn aimed_at(rule: &fw_ctl::rule::Rule, salt: u32) -> Pkt {
    let (src, dst) = match rule.family {
        Family::V4 => {
            let base = match rule.src {
                Some(n) => u32::from(match n.addr() {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => unreachable!(),
                }),
                None => 0x0b00_0000,
            };
            let host_bits = 32 - rule.src.map_or(8, |n| u32::from(n.prefix_len()));
            let host = if host_bits == 0 {
                0
            } else {
                salt & (u32::MAX >> (32 - host_bits))
            };
            (
                IpAddr::V4((base | host).into()),
                "192.0.2.1".parse().unwrap(),
            )
        }
        Family::V6 => {
            let base = match rule.src {
                Some(n) => u128::from(match n.addr() {
                    IpAddr::V6(a) => a,
                    IpAddr::V4(_) => unreachable!(),
                }),
                None => u128::from("2001:db8:ffff::".parse::<std::net::Ipv6Addr>().unwrap()),
            };
            let host_bits = 128 - rule.src.map_or(48, |n| u32::from(n.prefix_len()));
            let host = if host_bits == 0 {
                0
            } else {
                u128::from(salt) & (u128::MAX >> (128 - host_bits))
            };
            (
                IpAddr::V6((base | host).into()),
                "2001:db8:1::1".parse().unwrap(),
            )
        }
    };
    let dport = rule.dport.as_ref().map_or(443, |p| p.0[0].hi);
    let l4 = match rule.proto {
        Proto::UDP => L4::Udp(40000, dport),
        _ => L4::Tcp(40000, dport),
    };
    let mut p = Pkt::new("0.0.0.0", "0.0.0.0", l4);
    p.src = src;
    p.dst = dst;
    p
}

#[test]
fn one_hundred_thousand_rules_load_and_enforce() {
    let defaults = Defaults {
        incoming: Action::Deny,
        outgoing: Action::Allow,
        routed: Action::Deny,
    };
    let rules = workload::rules(RULES, 7);
    let mut rig = Rig::new();
    let report = rig.load(&rules, defaults);
    eprintln!(
        "{RULES} rules: {} + {} entries, build {:?}, switch {:?}",
        report.entries_v4, report.entries_v6, report.build, report.switch
    );

    let mut packets: Vec<Pkt> = Vec::new();
    for family in [Family::V4, Family::V6] {
        for pos in Position::ALL {
            for k in 0..workload::PROBES {
                packets.push(workload::probe(family, pos, k));
            }
        }
    }
    // Rules spread over the whole list, both families.
    for k in 0..300u32 {
        let i = (k as usize * 7919) % RULES;
        packets.push(aimed_at(&rules[i].rule, k.wrapping_mul(2_654_435_761)));
    }

    let mut decided_by_rule = 0;
    for p in &packets {
        let meta = p.meta(Direction::In);
        let want = classify(&rules, defaults, &meta, &test_ifaces);
        let verdict = want.action.verdict();
        let read = |rig: &Rig| match want.rule_id {
            Some(id) => rig.rule(id),
            None => rig.reason(Reason::Policy, Direction::In, verdict),
        };
        let before = read(&rig);
        assert_eq!(
            rig.verdict(Direction::In, &p.bytes()),
            verdict,
            "{meta:?}: reference {want:?}"
        );
        assert_eq!(read(&rig).packets, before.packets + 1, "{meta:?}: {want:?}");
        decided_by_rule += usize::from(want.rule_id.is_some());
    }
    // The sample really exercised the rules, not just the default policy.
    assert!(
        decided_by_rule > 250,
        "only {decided_by_rule} decided by rules"
    );
    // Every rule's counters read in batches (as the daemon and `stats` do)
    // equal the one-by-one lookups, in the order asked for.
    let mut ids: Vec<u32> = rules.iter().map(|r| r.id).collect();
    ids.reverse();
    let batch = rig.dp.rule_counters(&ids).expect("batched read");
    let single: Vec<_> = ids.iter().map(|&id| rig.rule(id)).collect();
    assert_eq!(batch.len(), ids.len());
    assert!(batch == single, "batched and single reads differ");
    assert!(batch.iter().filter(|c| c.packets > 0).count() > 250);
}

//! Route rules and the `routed` policy through the real eBPF object
//! (BPF_PROG_TEST_RUN in a namespace that forwards, see
//! `fw_tests::rig::Router`): the XDP program asks the kernel's FIB whether
//! a packet is for the host or forwarded; forwarded packets meet the route
//! rules and the routed default, never the input rules, and the host's
//! own packets never the route rules. IPv4 and IPv6 each time.

use fw_common::conntrack::{TCP_ACK as ACK, TCP_SYN as SYN};
use fw_common::{Direction, Reason, Verdict};
use fw_ctl::rule::{Action, compile::Defaults};
use fw_tests::{
    packet::{L4, Pkt},
    rig::{Rig, TC_DROP, TC_PASS, XDP_DROP, XDP_PASS, XDP_REJECT, rules},
};

/// Per family: (a host on fwin0's side, the router's own fwin0 address, a
/// host beyond fwout0).
const NETS: [(&str, &str, &str); 2] = [
    ("192.0.2.7", "192.0.2.1", "203.0.113.7"),
    ("2001:db8:1::7", "2001:db8:1::1", "2001:db8:3::7"),
];

fn defaults(routed: Action) -> Defaults {
    Defaults {
        incoming: Action::Deny,
        outgoing: Action::Allow,
        routed,
    }
}

/// The verdict for `p` received on the router's interface `ifindex`.
fn on(rig: &Rig, ifindex: u32, p: &Pkt) -> Verdict {
    match rig.xdp_on(ifindex, &p.bytes()) {
        XDP_PASS => Verdict::Pass,
        XDP_DROP | XDP_REJECT => Verdict::Drop,
        other => panic!("unexpected XDP return {other}"),
    }
}

#[test]
fn route_rules_decide_forwarded_packets_and_input_rules_do_not() {
    let mut rig = Rig::new().with_router();
    let (ifin, ifout) = {
        let r = rig.router.as_ref().unwrap();
        (r.ifin, r.ifout)
    };
    // An input rule for 80/tcp: it lets the router's own port 80 in and
    // does nothing for forwarded traffic.
    rig.load(&rules(&["allow 80/tcp"]), defaults(Action::Deny));
    for (a, router, b) in NETS {
        let through = Pkt::new(a, b, L4::Tcp(40000, 80)).flags(SYN);
        let to_router = Pkt::new(a, router, L4::Tcp(40000, 80)).flags(SYN);
        let before = rig.reason(Reason::Policy, Direction::Fwd, Verdict::Drop);
        assert_eq!(on(&rig, ifin, &through), Verdict::Drop, "{a} -> {b}:80");
        assert_eq!(
            rig.reason(Reason::Policy, Direction::Fwd, Verdict::Drop)
                .packets,
            before.packets + 1,
            "counted as forwarded, under the routed policy"
        );
        let before = rig.reason(Reason::Rule, Direction::In, Verdict::Pass);
        assert_eq!(
            on(&rig, ifin, &to_router),
            Verdict::Pass,
            "{a} -> {router}:80"
        );
        assert_eq!(
            rig.reason(Reason::Rule, Direction::In, Verdict::Pass)
                .packets,
            before.packets + 1,
            "the router's own traffic meets the input rules"
        );
    }

    // Route rules with interfaces, ports and addresses.
    let set = rules(&[
        "route allow in on fwin0 out on fwout0 proto tcp to 203.0.113.0/24 port 80",
        "route allow in on fwin0 out on fwout0 proto tcp to 2001:db8:3::/48 port 80",
        "route reject in on fwin0 proto tcp to any port 8080",
        "route allow out on fwout0 proto udp to any port 53",
        "allow 22/tcp",
    ]);
    rig.load(&set, defaults(Action::Deny));
    for (a, router, b) in NETS {
        let tcp = |dport| Pkt::new(a, b, L4::Tcp(40000, dport)).flags(SYN);
        assert_eq!(on(&rig, ifin, &tcp(80)), Verdict::Pass, "{a} -> {b}:80");
        assert_eq!(on(&rig, ifin, &tcp(81)), Verdict::Drop, "{a} -> {b}:81");
        assert_eq!(
            on(&rig, ifin, &tcp(22)),
            Verdict::Drop,
            "input rule, forwarded"
        );
        // A route reject answers on the wire.
        assert_eq!(rig.xdp_on(ifin, &tcp(8080).bytes()), XDP_REJECT, "{b}:8080");
        // `in on fwin0`: the same packet coming in on fwout0 (routed back
        // out of fwout0) is not matched.
        assert_eq!(on(&rig, ifout, &tcp(80)), Verdict::Drop, "in on fwout0");
        // `out on fwout0` alone matches whatever the incoming interface.
        let dns = Pkt::new(a, b, L4::Udp(40000, 53));
        assert_eq!(on(&rig, ifin, &dns), Verdict::Pass, "udp 53 via fwout0");
        // The host's own traffic never meets the route rules.
        let own = Pkt::new(a, router, L4::Tcp(40000, 80)).flags(SYN);
        assert_eq!(
            on(&rig, ifin, &own),
            Verdict::Drop,
            "{router}:80 is not routed"
        );
        let own22 = Pkt::new(a, router, L4::Tcp(40000, 22)).flags(SYN);
        assert_eq!(on(&rig, ifin, &own22), Verdict::Pass, "{router}:22");
    }
    // Each route rule counted what it decided (ids in list order, IPv4
    // rules first: 0..=3 are the route rules' IPv4 copies, where one
    // exists).
    assert!(rig.rule(0).packets >= 1, "the IPv4 route allow counted");

    // `default allow routed`, and a route deny before it.
    let set = rules(&["route deny in on fw+ proto udp"]);
    rig.load(&set, defaults(Action::Allow));
    for (a, router, b) in NETS {
        let tcp = Pkt::new(a, b, L4::Tcp(40000, 81)).flags(SYN);
        assert_eq!(on(&rig, ifin, &tcp), Verdict::Pass, "routed allow");
        let udp = Pkt::new(a, b, L4::Udp(40000, 123));
        assert_eq!(on(&rig, ifin, &udp), Verdict::Drop, "route deny udp");
        // The routed policy does not open the host: incoming deny holds.
        let own = Pkt::new(a, router, L4::Tcp(40000, 81)).flags(SYN);
        assert_eq!(on(&rig, ifin, &own), Verdict::Drop, "{router}:81");
    }

    // What the host forwards leaves without meeting the output rules
    // (they were decided where they came in): TC egress has no opinion.
    rig.load(&rules(&["deny out to any"]), defaults(Action::Allow));
    for (a, _, b) in NETS {
        let p = Pkt::new(a, b, L4::Tcp(40000, 80)).flags(SYN).bytes();
        assert_eq!(rig.tc(&p), TC_DROP, "the host's own packet meets deny out");
        assert_eq!(
            rig.tc_forwarded(&p, ifin),
            TC_PASS,
            "a forwarded one does not"
        );
    }
}

#[test]
fn forwarded_flows_are_tracked_both_ways_and_cut_by_a_rule_change() {
    let mut rig = Rig::stateful().with_router();
    let (ifin, ifout) = {
        let r = rig.router.as_ref().unwrap();
        (r.ifin, r.ifout)
    };
    let set = rules(&[
        "route allow in on fwin0 out on fwout0 proto tcp to 203.0.113.0/24 port 80",
        "route allow in on fwin0 out on fwout0 proto tcp to 2001:db8:3::/48 port 80",
    ]);
    rig.load(&set, defaults(Action::Deny));
    for (i, (a, _, b)) in NETS.iter().enumerate() {
        let sport = 41000 + i as u16;
        let syn = Pkt::new(a, b, L4::Tcp(sport, 80)).flags(SYN);
        let synack = syn.reply(SYN | ACK);
        let ack = syn.clone().flags(ACK);
        assert_eq!(on(&rig, ifin, &syn), Verdict::Pass, "SYN {a} -> {b}");
        let est = rig.reason(Reason::Established, Direction::Fwd, Verdict::Pass);
        // The answer comes in on fwout0 and goes out of fwin0: no rule
        // allows that way, the flow does.
        assert_eq!(
            on(&rig, ifout, &synack),
            Verdict::Pass,
            "SYN-ACK {b} -> {a}"
        );
        assert_eq!(on(&rig, ifin, &ack), Verdict::Pass, "ACK");
        assert_eq!(
            rig.reason(Reason::Established, Direction::Fwd, Verdict::Pass)
                .packets,
            est.packets + 2
        );
        // Unsolicited from beyond fwout0: no flow, no rule.
        let other = Pkt::new(b, a, L4::Tcp(80, sport + 100)).flags(SYN);
        assert_eq!(
            on(&rig, ifout, &other),
            Verdict::Drop,
            "unsolicited {b} -> {a}"
        );
    }
    // Deleting the route rules cuts both flows, both ways.
    rig.load(&[], defaults(Action::Deny));
    for (i, (a, _, b)) in NETS.iter().enumerate() {
        let sport = 41000 + i as u16;
        let ack = Pkt::new(a, b, L4::Tcp(sport, 80)).flags(ACK);
        assert_eq!(on(&rig, ifin, &ack), Verdict::Drop, "cut {a} -> {b}");
        assert_eq!(
            on(&rig, ifout, &ack.reply(ACK)),
            Verdict::Drop,
            "cut {b} -> {a}"
        );
    }
    // Allowed again, the flows resume.
    rig.load(&set, defaults(Action::Deny));
    for (i, (a, _, b)) in NETS.iter().enumerate() {
        let sport = 41000 + i as u16;
        let ack = Pkt::new(a, b, L4::Tcp(sport, 80)).flags(ACK);
        assert_eq!(
            on(&rig, ifout, &ack.reply(ACK)),
            Verdict::Pass,
            "{b} -> {a}"
        );
        assert_eq!(on(&rig, ifin, &ack), Verdict::Pass, "{a} -> {b}");
    }
}

/// A forwarded packet whose flow the table does not hold when it leaves (a
/// port published by DNAT: it came in addressed to the host and met the
/// input rules there, before the NAT) opens its forwarded flow at TC
/// egress: the target's answers pass under `default deny routed`, also
/// after a rule change, and unrelated packets from the target still meet
/// the routed policy. In stateless mode nothing is opened.
#[test]
fn a_flow_first_seen_leaving_lets_its_answers_back() {
    let mut rig = Rig::stateful().with_router();
    let (ifin, ifout) = {
        let r = rig.router.as_ref().unwrap();
        (r.ifin, r.ifout)
    };
    rig.load(&[], defaults(Action::Deny));
    for (i, (a, _, b)) in NETS.iter().enumerate() {
        let sport = 42000 + i as u16;
        // After the NAT: from the client `a` to the target `b`.
        let syn = Pkt::new(a, b, L4::Tcp(sport, 80)).flags(SYN);
        let synack = syn.reply(SYN | ACK);
        assert_eq!(
            on(&rig, ifout, &synack),
            Verdict::Drop,
            "no flow: the routed policy"
        );
        assert_eq!(rig.tc_forwarded(&syn.bytes(), ifin), TC_PASS);
        assert_eq!(on(&rig, ifout, &synack), Verdict::Pass, "{b}'s answer");
        assert_eq!(
            rig.tc_forwarded(&syn.clone().flags(ACK).bytes(), ifin),
            TC_PASS
        );
        rig.load(&rules(&["deny 9/tcp"]), defaults(Action::Deny));
        assert_eq!(
            on(&rig, ifout, &synack.clone().flags(ACK)),
            Verdict::Pass,
            "not rechecked by a rule change"
        );
        let other = Pkt::new(b, a, L4::Tcp(80, sport + 100)).flags(SYN | ACK);
        assert_eq!(on(&rig, ifout, &other), Verdict::Drop, "another flow");
    }
    let mut plain = Rig::new().with_router();
    plain.load(&[], defaults(Action::Deny));
    let (ifin, ifout) = {
        let r = plain.router.as_ref().unwrap();
        (r.ifin, r.ifout)
    };
    let (a, _, b) = NETS[0];
    let syn = Pkt::new(a, b, L4::Tcp(43000, 80)).flags(SYN);
    assert_eq!(plain.tc_forwarded(&syn.bytes(), ifin), TC_PASS);
    assert_eq!(
        on(&plain, ifout, &syn.reply(SYN | ACK)),
        Verdict::Drop,
        "stateless: the route rules decide"
    );
}

/// The data plane keeps the FIB's "forwarding disabled" answer for the
/// rest of the kernel's tick (`route`): switching forwarding on or off is
/// honoured once the tick is over, in both directions, and the answer
/// kept is the interface's own.
#[test]
fn forwarding_switched_on_and_off_is_honoured_after_a_tick() {
    // The answer is kept per CPU: one CPU meets every packet.
    fw_tests::flood::pin_to_cpu(0);
    let mut rig = Rig::new().with_router();
    let (ifin, ifout) = {
        let r = rig.router.as_ref().unwrap();
        (r.ifin, r.ifout)
    };
    rig.load(
        &rules(&["route allow in on fwin0 out on fwout0"]),
        defaults(Action::Deny),
    );
    let forwarding = |on: u8| {
        rig.router.as_ref().unwrap().ns.sysctl(&[
            &format!("net.ipv4.conf.fwin0.forwarding={on}"),
            &format!("net.ipv6.conf.all.forwarding={on}"),
        ]);
        // Longer than a tick at any HZ.
        std::thread::sleep(std::time::Duration::from_millis(30));
    };
    for round in 0..2 {
        forwarding(0);
        for (a, _, b) in NETS {
            let p = Pkt::new(a, b, L4::Udp(40000, 53));
            // Twice: the second from the kept answer.
            for _ in 0..2 {
                assert_eq!(
                    on(&rig, ifin, &p),
                    Verdict::Drop,
                    "round {round}: {a} -> {b} is not forwarded: the incoming policy"
                );
            }
        }
        forwarding(1);
        for (a, _, b) in NETS {
            let p = Pkt::new(a, b, L4::Udp(40000, 53));
            assert_eq!(
                on(&rig, ifin, &p),
                Verdict::Pass,
                "round {round}: {a} -> {b} is forwarded again: the route rule"
            );
        }
        // fwout0 forwards all along (IPv4): its packets meet the route
        // rules, whatever fwin0's answer was.
        let p = Pkt::new("198.51.100.7", "192.0.2.7", L4::Udp(40000, 53));
        let before = rig.reason(Reason::Policy, Direction::Fwd, Verdict::Drop);
        assert_eq!(on(&rig, ifout, &p), Verdict::Drop, "round {round}");
        assert_eq!(
            rig.reason(Reason::Policy, Direction::Fwd, Verdict::Drop)
                .packets,
            before.packets + 1,
            "round {round}: fwout0's packet meets the routed policy"
        );
    }
}

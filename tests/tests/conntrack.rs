//! Connection tracking through the real eBPF object (BPF_PROG_TEST_RUN):
//! the TC program sees what the host sends, the XDP program what it
//! receives, and the flow table they share decides replies before the
//! rules. IPv4 and IPv6 each time.

use fw_common::conntrack::{
    TCP_ACK as ACK, TCP_FIN as FIN, TCP_PSH as PSH, TCP_RST as RST, TCP_SYN as SYN,
};
use fw_common::{Direction, Reason, Verdict};
use fw_ctl::rule::{Action, compile::Defaults};
use fw_tests::{
    packet::{L4, Pkt},
    rig::{Rig, rules},
};

/// (host, peer, other peer) per family.
const HOSTS: [(&str, &str, &str); 2] = [
    ("192.0.2.1", "198.51.100.7", "198.51.100.8"),
    ("2001:db8:1::1", "2001:db8:2::7", "2001:db8:2::8"),
];

fn deny_in_allow_out() -> Defaults {
    Defaults {
        incoming: Action::Deny,
        outgoing: Action::Allow,
        routed: Action::Deny,
    }
}

fn inn(rig: &Rig, p: &Pkt) -> Verdict {
    rig.verdict(Direction::In, &p.bytes())
}

fn out(rig: &Rig, p: &Pkt) -> Verdict {
    rig.verdict(Direction::Out, &p.bytes())
}

#[test]
fn replies_to_the_hosts_own_flows_pass_under_default_deny_incoming() {
    let mut rig = Rig::stateful();
    rig.load(&[], deny_in_allow_out());
    for (host, peer, other) in HOSTS {
        // TCP: the host connects out.
        let syn = Pkt::new(host, peer, L4::Tcp(40000, 443));
        assert_eq!(
            inn(&rig, &syn.reply(SYN | ACK)),
            Verdict::Drop,
            "{host}: no flow yet"
        );
        assert_eq!(out(&rig, &syn), Verdict::Pass, "{host}: SYN out");
        assert_eq!(
            inn(&rig, &syn.reply(SYN | ACK)),
            Verdict::Pass,
            "{host}: SYN-ACK in"
        );
        assert_eq!(out(&rig, &syn.clone().flags(ACK)), Verdict::Pass);
        assert_eq!(
            inn(&rig, &syn.reply(ACK | PSH)),
            Verdict::Pass,
            "{host}: data in"
        );
        // Another port or another peer is not that flow.
        let wrong_port = Pkt::new(peer, host, L4::Tcp(444, 40000)).flags(ACK);
        assert_eq!(inn(&rig, &wrong_port), Verdict::Drop);
        let wrong_peer = Pkt::new(other, host, L4::Tcp(443, 40000)).flags(ACK);
        assert_eq!(inn(&rig, &wrong_peer), Verdict::Drop);

        // UDP request and response.
        let q = Pkt::new(host, peer, L4::Udp(53000, 53));
        assert_eq!(inn(&rig, &q.reply(0)), Verdict::Drop, "{host}: unsolicited");
        assert_eq!(out(&rig, &q), Verdict::Pass);
        assert_eq!(inn(&rig, &q.reply(0)), Verdict::Pass, "{host}: DNS answer");

        // ICMP echo: the reply with the request's identifier passes. (For
        // IPv6 ufw's before6.rules accept every echo reply: a built-in.)
        let v6 = host.contains(':');
        let echo = if v6 {
            Pkt::new(host, peer, L4::Icmpv6(128))
        } else {
            Pkt::new(host, peer, L4::Icmp(8))
        };
        let mut other_id = echo.reply(0);
        other_id.echo_id = 77;
        let unsolicited = if v6 { Verdict::Pass } else { Verdict::Drop };
        assert_eq!(
            inn(&rig, &echo.reply(0)),
            unsolicited,
            "{host}: no ping yet"
        );
        assert_eq!(out(&rig, &echo), Verdict::Pass);
        assert_eq!(
            inn(&rig, &echo.reply(0)),
            Verdict::Pass,
            "{host}: echo reply"
        );
        assert_eq!(inn(&rig, &other_id), unsolicited, "{host}: another id");
    }
    // Per family: SYN-ACK, data, DNS answer, echo reply.
    let est = rig.reason(Reason::Established, Direction::In, Verdict::Pass);
    assert_eq!(est.packets, 2 * 4, "{est:?}");
    // The two IPv6 echo replies of no ping.
    let b = rig.reason(Reason::BuiltinIcmp, Direction::In, Verdict::Pass);
    assert_eq!(b.packets, 2, "{b:?}");
}

#[test]
fn flows_the_rules_allowed_in_pass_back_out_under_default_deny_outgoing() {
    let mut rig = Rig::stateful();
    let list = rules(&["allow 22/tcp"]);
    rig.load(
        &list,
        Defaults {
            incoming: Action::Deny,
            outgoing: Action::Deny,
            routed: Action::Deny,
        },
    );
    for (host, peer, _) in HOSTS {
        let syn = Pkt::new(peer, host, L4::Tcp(50000, 22));
        assert_eq!(
            out(&rig, &syn.reply(SYN | ACK)),
            Verdict::Drop,
            "{host}: no flow yet"
        );
        assert_eq!(inn(&rig, &syn), Verdict::Pass);
        assert_eq!(
            out(&rig, &syn.reply(SYN | ACK)),
            Verdict::Pass,
            "{host}: SYN-ACK out"
        );
        assert_eq!(inn(&rig, &syn.clone().flags(ACK)), Verdict::Pass);
        // A packet that is no reply still meets the policy.
        let other = Pkt::new(host, peer, L4::Tcp(22, 50001)).flags(SYN | ACK);
        assert_eq!(out(&rig, &other), Verdict::Drop);
    }
    // The rule decided the two opening SYNs only.
    assert_eq!(rig.rule(0).packets + rig.rule(1).packets, 2);
}

#[test]
fn invalid_tcp_flags_are_dropped_before_the_rules() {
    let mut rig = Rig::stateful();
    let list = rules(&["allow 22/tcp"]);
    rig.load(
        &list,
        Defaults {
            incoming: Action::Allow,
            outgoing: Action::Allow,
            routed: Action::Deny,
        },
    );
    for (host, peer, _) in HOSTS {
        for flags in [SYN | FIN, SYN | RST, 0, FIN, FIN | PSH | 0x20] {
            let p = Pkt::new(peer, host, L4::Tcp(50000, 22)).flags(flags);
            assert_eq!(inn(&rig, &p), Verdict::Drop, "{host}: flags {flags:#x}");
            assert_eq!(
                out(&rig, &p.reply(flags)),
                Verdict::Drop,
                "{host}: out {flags:#x}"
            );
        }
    }
    assert_eq!(
        rig.reason(Reason::Invalid, Direction::In, Verdict::Drop)
            .packets,
        10
    );
    assert_eq!(
        rig.rule(0).packets + rig.rule(1).packets,
        0,
        "before the rules"
    );
}

#[test]
fn a_rule_change_cuts_the_flows_it_denies_and_keeps_the_others() {
    let mut rig = Rig::stateful();
    rig.load(&rules(&["allow 9000/tcp"]), deny_in_allow_out());
    let flows: Vec<(Pkt, Pkt)> = HOSTS
        .iter()
        .map(|(host, peer, other)| {
            (
                Pkt::new(peer, host, L4::Tcp(50000, 9000)),
                Pkt::new(other, host, L4::Tcp(50000, 9000)),
            )
        })
        .collect();
    for (a, b) in &flows {
        for syn in [a, b] {
            assert_eq!(inn(&rig, syn), Verdict::Pass);
            assert_eq!(out(&rig, &syn.reply(SYN | ACK)), Verdict::Pass);
            assert_eq!(inn(&rig, &syn.clone().flags(ACK)), Verdict::Pass);
        }
    }
    // A new deny for the first peers, above the allow.
    let list = rules(&[
        "deny from 198.51.100.7",
        "deny from 2001:db8:2::7",
        "allow 9000/tcp",
    ]);
    rig.load(&list, deny_in_allow_out());
    for (a, b) in &flows {
        assert_eq!(inn(&rig, &a.clone().flags(ACK)), Verdict::Drop, "cut");
        // The host's next packet of the cut flow cannot open it again.
        assert_eq!(out(&rig, &a.reply(ACK)), Verdict::Drop, "cut, host side");
        assert_eq!(inn(&rig, &a.clone().flags(ACK)), Verdict::Drop, "still cut");
        // The other flow is allowed by the new rules too: it goes on.
        assert_eq!(inn(&rig, &b.clone().flags(ACK)), Verdict::Pass, "kept");
        assert_eq!(out(&rig, &b.reply(ACK)), Verdict::Pass, "kept, host side");
    }
    // Ids: v4 rules first (deny 0, allow 1), then v6 (deny 2, allow 3).
    // The deny rules counted the packets they cut: 2 in + 1 out each; the
    // allow rules the one recheck of the flow they keep.
    assert_eq!(rig.rule(0).packets, 3, "v4 deny");
    assert_eq!(rig.rule(2).packets, 3, "v6 deny");
    assert_eq!(rig.rule(1).packets, 1, "v4 allow");
    assert_eq!(rig.rule(3).packets, 1, "v6 allow");
    // Deleting the allow stops the other flows too.
    rig.load(&rules(&["deny from 198.51.100.7"]), deny_in_allow_out());
    for (_, b) in &flows {
        assert_eq!(
            inn(&rig, &b.clone().flags(ACK)),
            Verdict::Drop,
            "allow deleted"
        );
    }
    // Allowed again: the cut flows come back.
    rig.load(&rules(&["allow 9000/tcp"]), deny_in_allow_out());
    for (a, b) in &flows {
        assert_eq!(inn(&rig, &a.clone().flags(ACK)), Verdict::Pass);
        assert_eq!(inn(&rig, &b.clone().flags(ACK)), Verdict::Pass);
    }
}

#[test]
fn closed_flows_stop_passing_and_a_new_syn_is_decided_again() {
    let mut rig = Rig::stateful();
    rig.load(&rules(&["allow 9000/tcp"]), deny_in_allow_out());
    let (host, peer, _) = HOSTS[0];
    let syn = Pkt::new(peer, host, L4::Tcp(50000, 9000));
    assert_eq!(inn(&rig, &syn), Verdict::Pass);
    assert_eq!(out(&rig, &syn.reply(RST | ACK)), Verdict::Pass);
    // A new SYN on the closed flow is decided by the rules (and allowed).
    assert_eq!(inn(&rig, &syn), Verdict::Pass);
    assert_eq!(rig.rule(0).packets, 2);
}

/// One packet per built-in rule of `fw_common::builtins` passes under
/// `default deny` both ways, counted under the rule's reason; near misses
/// (wrong hop limit, not link-local, another type or port) meet the
/// policy. With the rules alone (tracking off) none of them applies.
#[test]
fn ufws_built_in_rules_pass_what_they_name_and_nothing_else() {
    use fw_common::{Family, builtins::BUILTINS};
    let mut rig = Rig::stateful().with_router();
    let deny = Defaults {
        incoming: Action::Deny,
        outgoing: Action::Deny,
        routed: Action::Deny,
    };
    rig.load(&[], deny);
    let packet = |b: &fw_common::builtins::Builtin, near_miss: bool| -> Pkt {
        let v6 = b.family == Family::V6;
        let (local, peer) = if v6 {
            ("fe80::1", "fe80::2")
        } else {
            ("192.0.2.1", "198.51.100.7")
        };
        let (src, dst) = match b.dir {
            Direction::In => (peer, local),
            Direction::Out => (local, peer),
            // Through the router: from its fwin0 side to beyond fwout0.
            Direction::Fwd if v6 => ("2001:db8:1::7", "2001:db8:3::7"),
            Direction::Fwd => ("192.0.2.7", "203.0.113.7"),
        };
        let mut p = match b.proto {
            1 => Pkt::new(src, dst, L4::Icmp(b.what as u8)),
            58 => Pkt::new(src, dst, L4::Icmpv6(b.what as u8)),
            _ => {
                let sport = match b.what {
                    68 => 67,
                    546 => 547,
                    w => w,
                };
                let dst = match (v6, b.what) {
                    (false, 5353) => "224.0.0.251",
                    (false, 1900) => "239.255.255.250",
                    (true, 5353) => "ff02::fb",
                    (true, 1900) => "ff02::f",
                    _ => dst,
                };
                Pkt::new(src, dst, L4::Udp(sport, b.what))
            }
        };
        p.hop_limit = if b.text.contains("--hl-eq 1 ") {
            1
        } else {
            255
        };
        // Echo requests are tracked: a distinct identifier per line keeps
        // each packet out of the others' flows.
        p.echo_id = b.what
            + match b.dir {
                Direction::In => 0,
                Direction::Out => 1000,
                Direction::Fwd => 2000,
            };
        if near_miss {
            if b.text.contains("--hl-eq") {
                p.hop_limit = 64;
            } else if b.text.contains("-s fe80::/10") {
                p.src = "2001:db8:2::7".parse().unwrap();
            } else {
                p.l4 = match p.l4 {
                    L4::Icmp(_) => L4::Icmp(5),
                    L4::Icmpv6(_) => L4::Icmpv6(150),
                    L4::Udp(s, d) => L4::Udp(s, d + 1),
                    ref o => o.clone(),
                };
            }
        }
        p
    };
    for b in BUILTINS {
        let before = rig.reason(b.reason, b.dir, Verdict::Pass).packets;
        assert_eq!(
            rig.verdict(b.dir, &packet(b, false).bytes()),
            Verdict::Pass,
            "{}",
            b.text
        );
        assert_eq!(
            rig.reason(b.reason, b.dir, Verdict::Pass).packets,
            before + 1,
            "{}: counted under {:?}",
            b.text,
            b.reason
        );
        assert_eq!(
            rig.verdict(b.dir, &packet(b, true).bytes()),
            Verdict::Drop,
            "near miss of {}",
            b.text
        );
    }
    // The switches (`fw-ctl builtin NAME deny|off`): deny drops before the
    // rules, off leaves the packet to them; the flows the lines opened
    // above are forgotten with the change (else the echo requests would
    // pass as established). Lines without a switch stay as they are.
    use fw_common::builtins::{Setting, Switch};
    let all = |s: Setting| Switch::ALL.into_iter().fold(0, |w, x| x.set(w, s));
    let switched: Vec<_> = BUILTINS
        .iter()
        .filter(|b| Switch::of(b).is_some())
        .collect();
    assert_eq!(switched.len(), 4, "ping, ping6, dhcp, dhcp6");
    rig.dp.set_builtins(all(Setting::Deny)).expect("switches");
    for b in BUILTINS {
        let d = rig.reason(b.reason, b.dir, Verdict::Drop).packets;
        let want = if Switch::of(b).is_some() {
            Verdict::Drop
        } else {
            Verdict::Pass
        };
        assert_eq!(
            rig.verdict(b.dir, &packet(b, false).bytes()),
            want,
            "all switches deny: {}",
            b.text
        );
        if want == Verdict::Drop {
            assert_eq!(
                rig.reason(b.reason, b.dir, Verdict::Drop).packets,
                d + 1,
                "{}: a denied built-in line is counted under its reason",
                b.text
            );
        }
    }
    rig.dp.set_builtins(all(Setting::Off)).expect("switches");
    for b in &switched {
        let policy = rig.reason(Reason::Policy, b.dir, Verdict::Drop).packets;
        assert_eq!(rig.verdict(b.dir, &packet(b, false).bytes()), Verdict::Drop);
        assert_eq!(
            rig.reason(Reason::Policy, b.dir, Verdict::Drop).packets,
            policy + 1,
            "off: {} meets the default policy",
            b.text
        );
    }
    let allow_in = Defaults {
        incoming: Action::Allow,
        ..deny
    };
    rig.load(&[], allow_in);
    for b in &switched {
        assert_eq!(
            rig.verdict(b.dir, &packet(b, false).bytes()),
            Verdict::Pass,
            "off, default allow incoming: {}",
            b.text
        );
    }
    rig.dp
        .set_builtins(Switch::Ping.set(0, Setting::Deny))
        .expect("switches");
    for b in &switched {
        let want = if Switch::of(b) == Some(Switch::Ping) {
            Verdict::Drop
        } else {
            Verdict::Pass
        };
        let mut p = packet(b, false);
        p.echo_id += 100;
        assert_eq!(
            rig.verdict(b.dir, &p.bytes()),
            want,
            "ping deny only: {}",
            b.text
        );
    }
    let mut plain = Rig::new().with_router();
    plain.load(&[], deny);
    for b in BUILTINS {
        assert_eq!(
            plain.verdict(b.dir, &packet(b, false).bytes()),
            Verdict::Drop,
            "rules alone: {}",
            b.text
        );
    }
}

/// `limit` as ufw's: per source, the 6th new connection within 30 s is
/// refused (a RST here), attempts keep the window fresh, other sources and
/// established flows are not affected; the rate is configurable.
#[test]
fn limit_refuses_the_sixth_new_connection_from_a_source() {
    let mut rig = Rig::stateful();
    rig.load(&rules(&["limit 22/tcp"]), deny_in_allow_out());
    for (host, peer, other) in HOSTS {
        let syn = |from: &str, k: u16| Pkt::new(from, host, L4::Tcp(40000 + k, 22));
        for k in 0..5 {
            assert_eq!(
                inn(&rig, &syn(peer, k)),
                Verdict::Pass,
                "{host}: connection {k}"
            );
        }
        let (ret, _) = rig.xdp_out(&syn(peer, 5).bytes());
        assert_eq!(
            ret,
            fw_tests::rig::XDP_REJECT,
            "{host}: the 6th is refused with a RST"
        );
        assert_eq!(
            inn(&rig, &syn(peer, 6)),
            Verdict::Drop,
            "{host}: still refused"
        );
        // An established flow of that source goes on (the host answered
        // its SYN); another source is free.
        assert_eq!(out(&rig, &syn(peer, 0).reply(SYN | ACK)), Verdict::Pass);
        assert_eq!(inn(&rig, &syn(peer, 0).flags(ACK)), Verdict::Pass);
        assert_eq!(inn(&rig, &syn(other, 0)), Verdict::Pass);
    }
    assert_eq!(
        rig.reason(Reason::Limit, Direction::In, Verdict::Drop)
            .packets,
        4
    );
    // The limit rule counted every attempt it decided: 7 per family.
    assert_eq!(rig.rule(0).packets + rig.rule(1).packets, 14 + 2);
    // A 1-second window: after it, the source may connect again.
    rig.dp.set_limit(6, 1).expect("set limit");
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let (host, peer, _) = HOSTS[0];
    assert_eq!(
        inn(&rig, &Pkt::new(peer, host, L4::Tcp(41000, 22))),
        Verdict::Pass,
        "after the window"
    );
}

/// A full flow table: the least recently used flows go first (their
/// packets then meet the rules again), the recent ones keep passing, and
/// a packet the rules deny is never let through for lack of room. (Only
/// answered flows are in the table: each handshake here completes.)
#[test]
fn a_full_flow_table_evicts_old_flows_and_never_lets_new_ones_through() {
    const CAP: u32 = 1024;
    const OPENED: u16 = 3000;
    let mut rig = Rig::stateful_with(CAP);
    rig.load(&[], deny_in_allow_out());
    let (host, peer, other) = HOSTS[0];
    let syn = |k: u16| Pkt::new(host, peer, L4::Tcp(20000 + k, 443));
    for k in 0..OPENED {
        assert_eq!(out(&rig, &syn(k)), Verdict::Pass);
        assert_eq!(inn(&rig, &syn(k).reply(SYN | ACK)), Verdict::Pass);
    }
    let (n, cap) = rig.dp.flows().expect("flows");
    assert_eq!(cap, CAP);
    assert!(n <= CAP as usize, "{n} flows in a table of {cap}");
    // The 200 most recent flows are tracked: their data passes.
    let recent = (OPENED - 200..OPENED)
        .filter(|k| inn(&rig, &syn(*k).reply(ACK | PSH)) == Verdict::Pass)
        .count();
    assert_eq!(recent, 200, "recent flows kept");
    // The 200 oldest were evicted: their data meets `default deny`.
    let old = (0..200)
        .filter(|k| inn(&rig, &syn(*k).reply(ACK | PSH)) == Verdict::Pass)
        .count();
    assert!(old <= 20, "{old} of the 200 oldest flows still tracked");
    // Full or not, what the rules deny stays denied.
    let unsolicited = Pkt::new(other, host, L4::Tcp(50000, 22));
    assert_eq!(inn(&rig, &unsolicited), Verdict::Drop);
}

/// conntrack's RELATED in ufw's before-output chain: under `default deny
/// outgoing`, the ICMP port-unreachable the host sends for a datagram the
/// rules let in passes (reason `related`); one quoting a packet of no flow
/// meets the policy; without tracking there is no relation. IPv6 errors
/// out are ufw's built-in rules (they pass either way).
#[test]
fn icmp_errors_about_tracked_flows_pass_out_under_default_deny_outgoing() {
    let deny_both = Defaults {
        incoming: Action::Deny,
        outgoing: Action::Deny,
        routed: Action::Deny,
    };
    // The host's answer to `p`: ICMP type 3 quoting its IP header + 8.
    let unreachable = |p: &Pkt| {
        let frame = p.bytes();
        let mut e = Pkt::new(&p.dst.to_string(), &p.src.to_string(), L4::Icmp(3));
        e.payload = frame[14..14 + 28].to_vec();
        e
    };
    let mut rig = Rig::stateful();
    rig.load(&rules(&["allow 5353/udp"]), deny_both);
    let (host, peer, other) = HOSTS[0];
    let datagram = Pkt::new(peer, host, L4::Udp(40000, 5353));
    assert_eq!(inn(&rig, &datagram), Verdict::Pass);
    let before = rig
        .reason(Reason::Related, Direction::Out, Verdict::Pass)
        .packets;
    assert_eq!(out(&rig, &unreachable(&datagram)), Verdict::Pass, "related");
    assert_eq!(
        rig.reason(Reason::Related, Direction::Out, Verdict::Pass)
            .packets,
        before + 1
    );
    // Quoting a datagram of no flow (another peer, another port).
    let stranger = Pkt::new(other, host, L4::Udp(40000, 5353));
    assert_eq!(out(&rig, &unreachable(&stranger)), Verdict::Drop, "no flow");
    let elsewhere = Pkt::new(peer, host, L4::Udp(40000, 5354));
    assert_eq!(
        out(&rig, &unreachable(&elsewhere)),
        Verdict::Drop,
        "no flow"
    );
    // A TCP flow too, and a flow cut by a rule change is no longer related.
    rig.load(&rules(&["allow 5353/udp", "allow 22/tcp"]), deny_both);
    let syn = Pkt::new(peer, host, L4::Tcp(40001, 22)).flags(SYN);
    assert_eq!(inn(&rig, &syn), Verdict::Pass);
    assert_eq!(
        out(&rig, &unreachable(&syn)),
        Verdict::Pass,
        "related to TCP"
    );
    rig.load(&rules(&["allow 5353/udp"]), deny_both);
    assert_eq!(inn(&rig, &syn.clone().flags(ACK)), Verdict::Drop, "cut");
    assert_eq!(
        out(&rig, &unreachable(&syn)),
        Verdict::Drop,
        "cut flows relate nothing"
    );
    // IPv6: ufw's before6.rules accept these errors out anyway.
    let (host6, peer6, _) = HOSTS[1];
    let mut e6 = Pkt::new(host6, peer6, L4::Icmpv6(1));
    e6.payload = Pkt::new(peer6, host6, L4::Udp(40000, 9)).bytes()[14..14 + 48].to_vec();
    assert_eq!(
        out(&rig, &e6),
        Verdict::Pass,
        "ICMPv6 errors out are built in"
    );
    // Without tracking, no relation: the policy decides.
    let mut plain = Rig::new();
    plain.load(&rules(&["allow 5353/udp"]), deny_both);
    assert_eq!(inn(&plain, &datagram), Verdict::Pass);
    assert_eq!(
        out(&plain, &unreachable(&datagram)),
        Verdict::Drop,
        "stateless"
    );
}

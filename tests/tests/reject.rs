//! `reject` on the wire, through the real XDP program
//! (BPF_PROG_TEST_RUN, reading back the frame it sends with XDP_TX): a TCP
//! packet gets a RST from the address and port it was sent to, with valid
//! checksums, IPv4 and IPv6; the drop is counted under the rule.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use fw_common::conntrack::{TCP_ACK as ACK, TCP_RST as RST, TCP_SYN as SYN};
use fw_common::{Direction, Reason, Verdict};
use fw_ctl::rule::{Action, compile::Defaults};
use fw_tests::{
    packet::{L4, Pkt},
    rig::{Rig, TC_PASS, TC_REDIRECT, XDP_DROP, XDP_TX, rules},
};

/// Checks that `out` is the ICMP / ICMPv6 port-unreachable answering
/// `sent`: from the address it was sent to, quoting its IP header and
/// first 8 bytes, with valid checksums.
fn check_port_unreachable(out: &[u8], sent: &Pkt) {
    use etherparse::{Icmpv4Type, Icmpv6Type, IpNumber};
    let s = SlicedPacket::from_ethernet(out).expect("a frame");
    let original = sent.bytes();
    match s.net.expect("ip") {
        NetSlice::Ipv4(ip) => {
            let h = ip.header().to_header();
            assert_eq!(std::net::IpAddr::from(h.source), sent.dst);
            assert_eq!(std::net::IpAddr::from(h.destination), sent.src);
            assert_eq!(h.protocol, IpNumber::ICMP);
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            let Some(TransportSlice::Icmpv4(icmp)) = s.transport else {
                panic!("no ICMP")
            };
            assert_eq!(
                icmp.icmp_type(),
                Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Port)
            );
            assert_eq!(icmp.payload(), &original[14..14 + 28], "quote");
            let c = icmp.header().icmp_type.calc_checksum(icmp.payload());
            assert_eq!(icmp.checksum(), c, "ICMP checksum");
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header().to_header();
            assert_eq!(std::net::IpAddr::from(h.source), sent.dst);
            assert_eq!(std::net::IpAddr::from(h.destination), sent.src);
            let Some(TransportSlice::Icmpv6(icmp)) = s.transport else {
                panic!("no ICMPv6")
            };
            assert_eq!(
                icmp.icmp_type(),
                Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port)
            );
            assert_eq!(icmp.payload(), &original[14..14 + 48], "quote");
            let c = icmp
                .header()
                .icmp_type
                .calc_checksum(h.source, h.destination, icmp.payload())
                .unwrap();
            assert_eq!(icmp.checksum(), c, "ICMPv6 checksum");
        }
    }
}

/// The RST's (sport, dport, seq, ack, rst, ack flag) after checking the
/// addresses were swapped and every checksum holds.
fn rst_of(out: &[u8], sent: &Pkt) -> (u16, u16, u32, u32, bool, bool) {
    let s = SlicedPacket::from_ethernet(out).expect("a frame");
    let eth = s.link.expect("ethernet").to_header().expect("eth");
    let eth = match eth {
        etherparse::LinkHeader::Ethernet2(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        eth.destination,
        [2, 0, 0, 0, 0, 2],
        "back to the sender's MAC"
    );
    let Some(TransportSlice::Tcp(t)) = s.transport else {
        panic!("no TCP in {out:?}")
    };
    let th = t.to_header();
    assert!(t.payload().is_empty());
    match s.net.expect("ip") {
        NetSlice::Ipv4(ip) => {
            let h = ip.header().to_header();
            assert_eq!(std::net::IpAddr::from(h.source), sent.dst);
            assert_eq!(std::net::IpAddr::from(h.destination), sent.src);
            assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
            assert_eq!(
                th.checksum,
                th.calc_checksum_ipv4(&h, &[]).unwrap(),
                "TCP checksum"
            );
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header().to_header();
            assert_eq!(std::net::IpAddr::from(h.source), sent.dst);
            assert_eq!(std::net::IpAddr::from(h.destination), sent.src);
            assert_eq!(
                th.checksum,
                th.calc_checksum_ipv6(&h, &[]).unwrap(),
                "TCP checksum"
            );
        }
    }
    (
        th.source_port,
        th.destination_port,
        th.sequence_number,
        th.acknowledgment_number,
        th.rst,
        th.ack,
    )
}

#[test]
fn reject_answers_tcp_with_a_reset() {
    let mut rig = Rig::stateful();
    let list = rules(&["reject 22/tcp", "reject from 198.51.100.9"]);
    rig.load(
        &list,
        Defaults {
            incoming: Action::Reject,
            outgoing: Action::Allow,
            routed: Action::Deny,
        },
    );
    for (host, peer) in [
        ("192.0.2.1", "198.51.100.7"),
        ("2001:db8:1::1", "2001:db8:2::7"),
    ] {
        // A SYN (sequence 1, with the builder's 18 bytes of payload): the
        // RST acknowledges all of it (1 + 18 + SYN = 20), sequence 0.
        let syn = Pkt::new(peer, host, L4::Tcp(50000, 22)).flags(SYN);
        let (ret, out) = rig.xdp_out(&syn.bytes());
        assert_eq!(ret, XDP_TX, "{host}");
        assert_eq!(rst_of(&out, &syn), (22, 50000, 0, 20, true, true), "{host}");
        // A segment with ACK: the RST takes its acknowledgment number.
        let mut seg = Pkt::new(peer, host, L4::Tcp(50001, 22)).flags(ACK);
        seg.tcp_ack = 12345;
        let (ret, out) = rig.xdp_out(&seg.bytes());
        assert_eq!(ret, XDP_TX);
        assert_eq!(rst_of(&out, &seg), (22, 50001, 12345, 0, true, false));
        // The default policy rejects too; a RST is never answered.
        let other = Pkt::new(peer, host, L4::Tcp(50002, 8080)).flags(SYN);
        assert_eq!(rig.xdp_out(&other.bytes()).0, XDP_TX);
        let rst = Pkt::new(peer, host, L4::Tcp(50003, 22)).flags(RST);
        assert_eq!(rig.xdp_out(&rst.bytes()).0, XDP_DROP);
        // Not TCP: ICMP port-unreachable (next test).
        let udp = Pkt::new(peer, host, L4::Udp(50004, 22));
        assert_eq!(rig.xdp_out(&udp.bytes()).0, XDP_TX);
    }
    // The v4 and v6 copies of `reject 22/tcp` counted SYN, ACK segment, RST.
    assert_eq!(rig.rule(0).packets, 3, "v4");
    assert_eq!(rig.rule(2).packets, 3, "v6");
    let d = rig
        .reason(Reason::Policy, Direction::In, Verdict::Drop)
        .packets;
    assert_eq!(
        d,
        2 * 2,
        "default reject: the 8080 SYN and the UDP datagram"
    );
}

/// UDP (and the reject policy, for TCP too, as ufw) gets an ICMP /
/// ICMPv6 port-unreachable quoting the packet's IP header and first 8
/// bytes, from the address it was sent to, with valid checksums.
#[test]
fn reject_answers_udp_with_port_unreachable() {
    let mut rig = Rig::stateful();
    rig.load(
        &rules(&["reject 514/udp"]),
        Defaults {
            incoming: Action::Reject,
            outgoing: Action::Allow,
            routed: Action::Deny,
        },
    );
    for (host, peer) in [
        ("192.0.2.1", "198.51.100.7"),
        ("2001:db8:1::1", "2001:db8:2::7"),
    ] {
        let mut short = Pkt::new(peer, host, L4::Udp(50005, 514));
        // As short as a datagram gets: the quote is the whole packet.
        short.payload.clear();
        for sent in [
            Pkt::new(peer, host, L4::Udp(50000, 514)),
            short,
            // The policy answers TCP with ICMP too.
            Pkt::new(peer, host, L4::Tcp(50001, 8080)).flags(SYN),
        ] {
            let (ret, out) = rig.xdp_out(&sent.bytes());
            assert_eq!(ret, XDP_TX, "{host}: {sent:?}");
            check_port_unreachable(&out, &sent);
        }
        // ICMP is never answered with ICMP.
        let ping = if host.contains(':') {
            Pkt::new(peer, host, L4::Icmpv6(140))
        } else {
            Pkt::new(peer, host, L4::Icmp(13))
        };
        assert_eq!(rig.xdp_out(&ping.bytes()).0, XDP_DROP);
    }
}

/// `reject out`, as ufw's: the host's own packet to a rejected port is
/// turned into the answer (a RST for TCP, ICMP / ICMPv6 port-unreachable
/// otherwise) and handed to the interface's receive path (TC_ACT_REDIRECT
/// to ingress), so the local sender gets its error at once. IPv4 and IPv6.
#[test]
fn reject_out_answers_the_local_sender() {
    let mut rig = Rig::stateful();
    rig.load(
        &rules(&["reject out 80/tcp", "reject out 53/udp"]),
        Defaults {
            incoming: Action::Deny,
            outgoing: Action::Allow,
            routed: Action::Deny,
        },
    );
    for (host, peer) in [
        ("192.0.2.1", "198.51.100.7"),
        ("2001:db8:1::1", "2001:db8:2::7"),
    ] {
        let syn = Pkt::new(host, peer, L4::Tcp(40000, 80)).flags(SYN);
        let (ret, out) = rig.tc_out(&syn.bytes());
        assert_eq!(ret, TC_REDIRECT, "{host}: the SYN is answered");
        // SYN with sequence number 1 and 18 bytes of data: RST+ACK
        // acknowledging all of it (1 + 18 + 1).
        assert_eq!(rst_of(&out, &syn), (80, 40000, 0, 20, true, true));
        let dns = Pkt::new(host, peer, L4::Udp(40001, 53));
        let (ret, out) = rig.tc_out(&dns.bytes());
        assert_eq!(ret, TC_REDIRECT, "{host}: the datagram is answered");
        check_port_unreachable(&out, &dns);
        let other = Pkt::new(host, peer, L4::Tcp(40002, 81)).flags(SYN);
        assert_eq!(rig.tc(&other.bytes()), TC_PASS, "{host}: 81 is allowed");
    }
    assert_eq!(rig.rule(0).packets, 1, "IPv4 reject out 80/tcp");
    assert_eq!(
        rig.reason(Reason::Rule, Direction::Out, Verdict::Drop)
            .packets,
        4
    );
}

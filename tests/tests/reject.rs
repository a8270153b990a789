//! `reject` on the wire. XDP decides and marks a rejected packet for TC
//! ingress, which sends the answer back out of the interface
//! (`fw_common::answer`): checked on the XDP program alone
//! (BPF_PROG_TEST_RUN: the mark, the counters), then with real frames on
//! a plain veth pair, nothing set on the client's side, read back there
//! as tcpdump would: a TCP packet gets a RST from the address and port it
//! was sent to, UDP (and the reject policy) an ICMP / ICMPv6
//! port-unreachable, with valid checksums, IPv4 and IPv6. `reject out`
//! answers the local sender (TC egress).

use std::time::Duration;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use fw_common::answer::{MARK_ICMP, MARK_RESET_OR_ICMP, mark_answer};
use fw_common::conntrack::{TCP_ACK as ACK, TCP_RST as RST, TCP_SYN as SYN};
use fw_common::{Direction, Reason, Verdict};
use fw_ctl::rule::{Action, compile::Defaults};
use fw_tests::{
    fwctl::{FwCtl, Launch},
    netns::Pair,
    packet::{L4, Pkt},
    rig::{Rig, TC_PASS, TC_REDIRECT, XDP_DROP, XDP_REJECT, rules},
    wire::Wire,
};

/// The answer XDP's mark asks for (it must be there).
fn mark_of(out: &[u8]) -> u32 {
    mark_answer(u32::from_ne_bytes([out[0], out[1], out[2], out[3]])).expect("fw's mark")
}

/// A host protected by fw-ctl on a plain veth pair, and a packet socket on
/// the client's end.
struct Lab {
    // Dropped in this order: fw before its namespace.
    _fw: FwCtl,
    wire: Wire,
    host_mac: [u8; 6],
    _pair: Pair,
}

const HOST4: &str = "192.0.2.1";
const CLIENT4: &str = "192.0.2.2";
const HOST6: &str = "2001:db8:1::1";
const CLIENT6: &str = "2001:db8:1::2";

impl Lab {
    fn new(prefix: &str, commands: &[&[&str]]) -> Self {
        let pair = Pair::new(prefix);
        let fw = FwCtl::new(&pair.host, Launch::Nsenter);
        for c in commands {
            fw.ok(c);
        }
        fw.ok(&["enable", "-i", "fw0"]);
        let wire = Wire::open(&pair.client, "cl0");
        let host_mac = fw_tests::flood::mac(&pair.host, "fw0");
        Self {
            _fw: fw,
            wire,
            host_mac,
            _pair: pair,
        }
    }

    /// Sends `p` from the client's wire and returns the first frame back
    /// from the host's address within a second.
    fn answer(&self, p: &Pkt) -> Option<Vec<u8>> {
        let mut f = p.bytes();
        f[..6].copy_from_slice(&self.host_mac);
        f[6..12].copy_from_slice(&self.wire.mac);
        self.wire.send(&f);
        let from = p.dst;
        self.wire.recv(
            Duration::from_secs(1),
            |r| match SlicedPacket::from_ethernet(r).ok().and_then(|s| s.net) {
                Some(NetSlice::Ipv4(ip)) => {
                    std::net::IpAddr::from(ip.header().source_addr()) == from
                }
                Some(NetSlice::Ipv6(ip)) => {
                    std::net::IpAddr::from(ip.header().source_addr()) == from
                }
                _ => false,
            },
        )
    }
}

/// Checks that `out` is the ICMP / ICMPv6 port-unreachable answering
/// `sent`: from the address it was sent to, quoting its IP header and
/// first 8 bytes (a TCP segment's 20-byte header), with valid checksums.
fn check_port_unreachable(out: &[u8], sent: &Pkt) {
    use etherparse::{Icmpv4Type, Icmpv6Type, IpNumber};
    let s = SlicedPacket::from_ethernet(out).expect("a frame");
    let original = sent.bytes();
    let after = if matches!(sent.l4, L4::Tcp(..)) {
        20
    } else {
        8
    };
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
            assert_eq!(icmp.payload(), &original[14..14 + 20 + after], "quote");
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
            assert_eq!(icmp.payload(), &original[14..14 + 40 + after], "quote");
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
fn rst_of(out: &[u8], sent: &Pkt, to_mac: [u8; 6]) -> (u16, u16, u32, u32, bool, bool) {
    let s = SlicedPacket::from_ethernet(out).expect("a frame");
    let eth = s.link.expect("ethernet").to_header().expect("eth");
    let eth = match eth {
        etherparse::LinkHeader::Ethernet2(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(eth.destination, to_mac, "back to the sender's MAC");
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

/// XDP marks what it rejects for TC ingress, with the answer it asks for
/// (a `reject` rule: a reset for TCP; the policy: ICMP), and counts the
/// drop under the rule or policy; what can never be answered (a RST, an
/// ICMP message) is just dropped.
#[test]
fn xdp_marks_rejects_for_tc_ingress() {
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
        let syn = Pkt::new(peer, host, L4::Tcp(50000, 22)).flags(SYN);
        let (ret, out) = rig.xdp_out(&syn.bytes());
        assert_eq!(ret, XDP_REJECT, "{host}");
        assert_eq!(mark_of(&out), MARK_RESET_OR_ICMP, "{host}");
        assert_eq!(&out[4..], &syn.bytes()[..], "{host}: the frame as it came");
        let seg = Pkt::new(peer, host, L4::Tcp(50001, 22)).flags(ACK);
        assert_eq!(rig.xdp(&seg.bytes()), XDP_REJECT);
        // The default policy rejects with ICMP, TCP too.
        let other = Pkt::new(peer, host, L4::Tcp(50002, 8080)).flags(SYN);
        let (ret, out) = rig.xdp_out(&other.bytes());
        assert_eq!((ret, mark_of(&out)), (XDP_REJECT, MARK_ICMP));
        let rst = Pkt::new(peer, host, L4::Tcp(50003, 22)).flags(RST);
        assert_eq!(rig.xdp(&rst.bytes()), XDP_DROP);
        let udp = Pkt::new(peer, host, L4::Udp(50004, 22));
        assert_eq!(rig.xdp(&udp.bytes()), XDP_REJECT);
        let ping = if host.contains(':') {
            Pkt::new(peer, host, L4::Icmpv6(140))
        } else {
            Pkt::new(peer, host, L4::Icmp(13))
        };
        assert_eq!(rig.xdp(&ping.bytes()), XDP_DROP, "ICMP is never answered");
    }
    // The v4 and v6 copies of `reject 22/tcp` counted SYN, ACK segment, RST.
    assert_eq!(rig.rule(0).packets, 3, "v4");
    assert_eq!(rig.rule(2).packets, 3, "v6");
    let d = rig
        .reason(Reason::Policy, Direction::In, Verdict::Drop)
        .packets;
    assert_eq!(
        d,
        2 * 3,
        "default reject: the 8080 SYN, the UDP datagram, the ICMP message"
    );
}

/// On a plain veth pair (nothing on the client's side): a TCP packet to
/// a `reject` port gets a RST (RFC 9293: a SYN's acknowledges it, an ACK
/// segment's takes its acknowledgment number), UDP and the reject policy
/// (TCP too, as ufw) an ICMP / ICMPv6 port-unreachable quoting the IP
/// header and first 8 bytes; ICMP and RSTs get nothing. IPv4 and IPv6.
#[test]
fn reject_answers_reach_a_plain_peer() {
    let lab = Lab::new(
        "rjw",
        &[
            &["default", "reject", "incoming"],
            &["reject", "22/tcp"],
            &["reject", "514/udp"],
        ],
    );
    let to = lab.wire.mac;
    for (host, peer) in [(HOST4, CLIENT4), (HOST6, CLIENT6)] {
        // A SYN (sequence 1, with the builder's 18 bytes of payload): the
        // RST acknowledges all of it (1 + 18 + SYN = 20), sequence 0.
        let syn = Pkt::new(peer, host, L4::Tcp(50000, 22)).flags(SYN);
        let out = lab.answer(&syn).unwrap_or_else(|| panic!("{host}: no RST"));
        assert_eq!(
            rst_of(&out, &syn, to),
            (22, 50000, 0, 20, true, true),
            "{host}"
        );
        let mut seg = Pkt::new(peer, host, L4::Tcp(50001, 22)).flags(ACK);
        seg.tcp_ack = 12345;
        let out = lab.answer(&seg).unwrap_or_else(|| panic!("{host}: no RST"));
        assert_eq!(rst_of(&out, &seg, to), (22, 50001, 12345, 0, true, false));
        let mut short = Pkt::new(peer, host, L4::Udp(50005, 514));
        // As short as a datagram gets: the quote is the whole packet.
        short.payload.clear();
        for sent in [
            Pkt::new(peer, host, L4::Udp(50002, 514)),
            short,
            Pkt::new(peer, host, L4::Tcp(50003, 8080)).flags(SYN),
        ] {
            let out = lab
                .answer(&sent)
                .unwrap_or_else(|| panic!("{host}: no answer to {sent:?}"));
            check_port_unreachable(&out, &sent);
        }
        let rst = Pkt::new(peer, host, L4::Tcp(50004, 22)).flags(RST);
        assert_eq!(lab.answer(&rst), None, "{host}: a RST is never answered");
        let ping = if host.contains(':') {
            Pkt::new(peer, host, L4::Icmpv6(140))
        } else {
            Pkt::new(peer, host, L4::Icmp(13))
        };
        assert_eq!(lab.answer(&ping), None, "{host}: ICMP is never answered");
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
        assert_eq!(
            rst_of(&out, &syn, [2, 0, 0, 0, 0, 2]),
            (80, 40000, 0, 20, true, true)
        );
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

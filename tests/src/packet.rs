//! Crafted frames for BPF_PROG_TEST_RUN, built from etherparse's headers.

use std::net::IpAddr;

use fw_ctl::rule::{Direction, PacketMeta};

use etherparse::{
    EtherType, Ethernet2Header, Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpAuthHeader,
    IpFragOffset, IpNumber, Ipv4Header, Ipv6Header, Ipv6RawExtHeader, SingleVlanHeader, TcpHeader,
    UdpHeader, VlanId,
};

use crate::rig::TEST_IFINDEX;

/// The transport part of a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP with ports.
    Tcp(u16, u16),
    /// UDP with ports.
    Udp(u16, u16),
    /// ICMP (v4) echo request or another type.
    Icmp(u8),
    /// ICMPv6 of a type.
    Icmpv6(u8),
    /// Any other protocol by number, with 8 bytes of payload.
    Other(u8),
}

impl L4 {
    /// The IP protocol number.
    #[must_use]
    pub fn proto(&self) -> u8 {
        match self {
            Self::Tcp(..) => 6,
            Self::Udp(..) => 17,
            Self::Icmp(_) => 1,
            Self::Icmpv6(_) => 58,
            Self::Other(p) => *p,
        }
    }

    /// Ports, for TCP and UDP.
    #[must_use]
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self {
            Self::Tcp(s, d) | Self::Udp(s, d) => Some((*s, *d)),
            _ => None,
        }
    }
}

/// An IPv6 extension header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ext {
    /// Hop-by-hop options (8 bytes).
    HopByHop,
    /// Routing header (type 4 segment-routing shape, 24 bytes).
    Routing,
    /// Destination options (8 bytes).
    DestOpts,
    /// Authentication header (with 4 bytes of ICV: 16 bytes).
    Auth,
    /// Fragment header with an offset (8-byte units) and the more flag.
    Fragment(u16, bool),
}

/// A frame description.
#[derive(Clone, Debug)]
pub struct Pkt {
    /// VLAN tags, outermost first.
    pub vlans: Vec<u16>,
    /// Source address (the family of the packet).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport.
    pub l4: L4,
    /// IPv4 options (a multiple of 4 bytes).
    pub v4_options: Vec<u8>,
    /// IPv4 fragment offset in 8-byte units (non-zero: non-first fragment).
    pub v4_frag: u16,
    /// IPv4 more-fragments flag.
    pub v4_more: bool,
    /// IPv6 extension headers, in order.
    pub v6_ext: Vec<Ext>,
    /// Payload after the transport header.
    pub payload: Vec<u8>,
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG
    /// 0x20); a SYN by default.
    pub tcp_flags: u8,
    /// ICMP / ICMPv6 echo identifier (for echo request and reply).
    pub echo_id: u16,
    /// IPv4 TTL / IPv6 hop limit.
    pub hop_limit: u8,
    /// TCP acknowledgment number (sequence number is 1); 0: 2 when the ACK
    /// flag is set (what answers the other side's sequence number 1).
    pub tcp_ack: u32,
}

impl Pkt {
    /// A packet with defaults for everything but addresses and transport.
    #[must_use]
    pub fn new(src: &str, dst: &str, l4: L4) -> Self {
        Self {
            vlans: Vec::new(),
            src: src.parse().expect("src address"),
            dst: dst.parse().expect("dst address"),
            l4,
            v4_options: Vec::new(),
            v4_frag: 0,
            v4_more: false,
            v6_ext: Vec::new(),
            payload: vec![0xab; 18],
            tcp_flags: 0x02,
            echo_id: 1,
            hop_limit: 64,
            tcp_ack: 0,
        }
    }

    /// The same packet with these TCP flags.
    #[must_use]
    pub fn flags(mut self, tcp_flags: u8) -> Self {
        self.tcp_flags = tcp_flags;
        self
    }

    /// The answer to this packet: addresses and ports swapped, with `flags`
    /// for TCP; an echo request becomes its reply.
    #[must_use]
    pub fn reply(&self, tcp_flags: u8) -> Self {
        let mut r = self.clone();
        r.src = self.dst;
        r.dst = self.src;
        r.tcp_flags = tcp_flags;
        r.l4 = match self.l4 {
            L4::Tcp(s, d) => L4::Tcp(d, s),
            L4::Udp(s, d) => L4::Udp(d, s),
            L4::Icmp(8) => L4::Icmp(0),
            L4::Icmpv6(128) => L4::Icmpv6(129),
            ref other => other.clone(),
        };
        r
    }

    /// What the classifier (and the reference) sees of this packet in `dir`
    /// on the BPF_PROG_TEST_RUN device.
    #[must_use]
    pub fn meta(&self, dir: Direction) -> PacketMeta {
        PacketMeta {
            dir,
            ifindex: TEST_IFINDEX,
            oifindex: 0,
            proto: self.l4.proto(),
            src: self.src,
            dst: self.dst,
            ports: if self.non_first_fragment() {
                None
            } else {
                self.l4.ports()
            },
        }
    }

    /// True when fw answers this packet when it is rejected in `dir` (a
    /// TCP reset when `reset`, i.e. a `reject` rule's TCP answer, else an
    /// ICMP/ICMPv6 port-unreachable): never an ICMP packet or a fragment;
    /// a reset for up to two VLAN tags, port-unreachable for untagged
    /// frames; neither with IPv4 options or IPv6 extension headers (ufw
    /// answers those too: the README lists it).
    #[must_use]
    pub fn answerable(&self, dir: Direction, reset: bool) -> bool {
        let plain = self.v4_options.is_empty() && self.v6_ext.is_empty();
        if self.non_first_fragment() {
            return false;
        }
        if let (true, L4::Tcp(..)) = (reset, &self.l4) {
            return self.tcp_flags & 0x04 == 0 && self.vlans.len() <= 2 && plain;
        }
        // (The same in every direction: XDP marks what TC ingress answers,
        // TC egress answers what it can at once.)
        let _ = dir;
        !matches!(self.l4, L4::Icmp(_) | L4::Icmpv6(_)) && self.vlans.is_empty() && plain
    }

    /// True when this is a non-first fragment (no transport header).
    #[must_use]
    pub fn non_first_fragment(&self) -> bool {
        self.v4_frag != 0
            || self
                .v6_ext
                .iter()
                .any(|e| matches!(e, Ext::Fragment(o, _) if *o != 0))
    }

    fn transport(&self) -> Vec<u8> {
        let mut b = Vec::new();
        if self.non_first_fragment() {
            // Bytes that would read as ports 22 -> 22 if misparsed.
            b.extend_from_slice(&[0, 22, 0, 22, 0, 0, 0, 0]);
            b.extend_from_slice(&self.payload);
            return b;
        }
        match self.l4 {
            L4::Tcp(s, d) => {
                let mut h = TcpHeader::new(s, d, 1, 64240);
                let f = self.tcp_flags;
                h.fin = f & 0x01 != 0;
                h.syn = f & 0x02 != 0;
                h.rst = f & 0x04 != 0;
                h.psh = f & 0x08 != 0;
                h.ack = f & 0x10 != 0;
                h.urg = f & 0x20 != 0;
                // Every segment's sequence number is 1, so an ACK
                // acknowledges 2, as a real stack's answer would.
                h.acknowledgment_number = if self.tcp_ack == 0 && h.ack {
                    2
                } else {
                    self.tcp_ack
                };
                h.write(&mut b).expect("tcp");
            }
            L4::Udp(s, d) => {
                let h = UdpHeader {
                    source_port: s,
                    destination_port: d,
                    length: (8 + self.payload.len()) as u16,
                    checksum: 0,
                };
                h.write(&mut b).expect("udp");
            }
            L4::Icmp(t) => {
                let echo = etherparse::IcmpEchoHeader {
                    id: self.echo_id,
                    seq: 1,
                };
                let ty = if t == 8 {
                    Icmpv4Type::EchoRequest(echo)
                } else if t == 0 {
                    Icmpv4Type::EchoReply(echo)
                } else {
                    Icmpv4Type::Unknown {
                        type_u8: t,
                        code_u8: 0,
                        bytes5to8: [0; 4],
                    }
                };
                Icmpv4Header::new(ty).write(&mut b).expect("icmp");
            }
            L4::Icmpv6(t) => {
                let echo = etherparse::IcmpEchoHeader {
                    id: self.echo_id,
                    seq: 1,
                };
                let ty = match t {
                    128 => Icmpv6Type::EchoRequest(echo),
                    129 => Icmpv6Type::EchoReply(echo),
                    _ => Icmpv6Type::Unknown {
                        type_u8: t,
                        code_u8: 0,
                        bytes5to8: [0; 4],
                    },
                };
                Icmpv6Header::new(ty).write(&mut b).expect("icmpv6");
            }
            L4::Other(_) => b.extend_from_slice(&[0; 8]),
        }
        b.extend_from_slice(&self.payload);
        b
    }

    /// The frame's bytes.
    #[must_use]
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let l3_type = if self.src.is_ipv4() {
            EtherType::IPV4
        } else {
            EtherType::IPV6
        };
        let first_type = match self.vlans.len() {
            0 => l3_type,
            1 => EtherType::VLAN_TAGGED_FRAME,
            _ => EtherType::PROVIDER_BRIDGING,
        };
        Ethernet2Header {
            source: [2, 0, 0, 0, 0, 2],
            destination: [2, 0, 0, 0, 0, 1],
            ether_type: first_type,
        }
        .write(&mut out)
        .expect("eth");
        for (i, v) in self.vlans.iter().enumerate() {
            let next = if i + 1 == self.vlans.len() {
                l3_type
            } else {
                EtherType::VLAN_TAGGED_FRAME
            };
            SingleVlanHeader {
                pcp: etherparse::VlanPcp::ZERO,
                drop_eligible_indicator: false,
                vlan_id: VlanId::try_new(*v).expect("vlan id"),
                ether_type: next,
            }
            .write(&mut out)
            .expect("vlan");
        }
        let transport = self.transport();
        let proto = IpNumber(self.l4.proto());
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut h = Ipv4Header::new(
                    transport.len() as u16,
                    self.hop_limit,
                    proto,
                    s.octets(),
                    d.octets(),
                )
                .expect("ipv4");
                if !self.v4_options.is_empty() {
                    h.options = etherparse::Ipv4Options::try_from(&self.v4_options[..])
                        .expect("ipv4 options");
                }
                h.fragment_offset = IpFragOffset::try_new(self.v4_frag).expect("frag offset");
                h.more_fragments = self.v4_more;
                h.dont_fragment = false;
                h.total_len = (h.header_len() + transport.len()) as u16;
                h.header_checksum = h.calc_header_checksum();
                h.write(&mut out).expect("ipv4 write");
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut ext = Vec::new();
                let nexts: Vec<u8> = self
                    .v6_ext
                    .iter()
                    .map(|e| match e {
                        Ext::HopByHop => 0,
                        Ext::Routing => 43,
                        Ext::DestOpts => 60,
                        Ext::Auth => 51,
                        Ext::Fragment(..) => 44,
                    })
                    .chain(std::iter::once(self.l4.proto()))
                    .collect();
                for (i, e) in self.v6_ext.iter().enumerate() {
                    let next = IpNumber(nexts[i + 1]);
                    match e {
                        Ext::HopByHop | Ext::DestOpts => {
                            Ipv6RawExtHeader::new_raw(next, &[1, 4, 0, 0, 0, 0])
                                .expect("ext")
                                .write(&mut ext)
                                .expect("w");
                        }
                        Ext::Routing => {
                            Ipv6RawExtHeader::new_raw(
                                next,
                                &[
                                    4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                    0,
                                ],
                            )
                            .expect("routing")
                            .write(&mut ext)
                            .expect("w");
                        }
                        Ext::Auth => {
                            IpAuthHeader::new(next, 7, 1, &[0; 4])
                                .expect("ah")
                                .write(&mut ext)
                                .expect("w");
                        }
                        Ext::Fragment(off, more) => {
                            // RFC 8200 layout: offset(13) | res(2) | M(1) in
                            // network order. etherparse 0.16's
                            // Ipv6FragmentHeader puts M in bit 7 of the low
                            // byte, so it is written by hand.
                            let field = (*off << 3) | u16::from(*more);
                            ext.extend_from_slice(&[next.0, 0]);
                            ext.extend_from_slice(&field.to_be_bytes());
                            ext.extend_from_slice(&42u32.to_be_bytes());
                        }
                    }
                }
                Ipv6Header {
                    traffic_class: 0,
                    flow_label: Default::default(),
                    payload_length: (ext.len() + transport.len()) as u16,
                    next_header: IpNumber(nexts[0]),
                    hop_limit: self.hop_limit,
                    source: s.octets(),
                    destination: d.octets(),
                }
                .write(&mut out)
                .expect("ipv6");
                out.extend_from_slice(&ext);
            }
            _ => panic!("mixed address families in a test packet"),
        }
        out.extend_from_slice(&transport);
        out
    }
}

//! The differential test's random cases (proptest strategies): rule lists
//! and packets drawn from small pools of addresses, prefixes, ports and
//! interface names, so that rules overlap and order decides. Shared by the
//! differential test (the data plane against the reference classifier) and
//! the explain test (`fw-ctl explain` on the same cases).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fw_common::{Direction, Family};
use fw_ctl::rule::{Action, PortRange, PortSet, Proto, Rule, StoredRule, compile::Defaults};
use ipnet::IpNet;
use proptest::prelude::*;

use crate::packet::{Ext, L4, Pkt};

/// Most packets per rule list (the number is random so that shrinking can
/// drop packets, down to the one that disagrees).
pub const MAX_PACKETS_PER_LIST: usize = 200;

const V4_ANCHORS: &[[u8; 4]] = &[
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [10, 1, 2, 3],
    [192, 0, 2, 1],
    [192, 0, 2, 66],
    [198, 51, 100, 7],
    [203, 0, 113, 9],
    [255, 255, 255, 255],
    // ufw's built-in rules' multicast destinations (mDNS, SSDP).
    [224, 0, 0, 251],
    [239, 255, 255, 250],
];

const V6_ANCHORS: &[&str] = &[
    "2001:db8::1",
    "2001:db8::2",
    "2001:db8:1::66",
    "2001:db8:1:2:3:4:5:6",
    "fe80::1",
    "fe80::2",
    "ff02::fb",
    "ff02::f",
    "fd00::9",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
];

/// Ports that rules and packets share (range edges are drawn from here).
const PORTS: &[u16] = &[
    0, 1, 22, 53, 67, 68, 80, 137, 443, 445, 514, 546, 547, 1023, 1024, 1900, 2055, 5353, 9000,
    9001, 9999, 65534, 65535,
];

fn v4_anchor() -> impl Strategy<Value = u32> {
    prop::sample::select(V4_ANCHORS).prop_map(u32::from_be_bytes)
}

fn v6_anchor() -> impl Strategy<Value = u128> {
    prop::sample::select(V6_ANCHORS).prop_map(|s| u128::from(s.parse::<Ipv6Addr>().unwrap()))
}

/// An anchor with some of its low bits changed: near it, in or just out of
/// the prefixes around it.
fn address(family: Family) -> BoxedStrategy<IpAddr> {
    match family {
        Family::V4 => (v4_anchor(), 0u32..=32, any::<u32>())
            .prop_map(|(a, bits, noise)| {
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX >> (32 - bits)
                };
                IpAddr::V4(Ipv4Addr::from(a ^ (noise & mask & 0xff_ff_ff_0f)))
            })
            .boxed(),
        Family::V6 => (v6_anchor(), 0u32..=128, any::<u128>())
            .prop_map(|(a, bits, noise)| {
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX >> (128 - bits)
                };
                IpAddr::V6(Ipv6Addr::from(a ^ (noise & mask & !0xf0)))
            })
            .boxed(),
    }
}

fn prefix(family: Family) -> BoxedStrategy<IpNet> {
    let max = match family {
        Family::V4 => 32u8,
        Family::V6 => 128,
    };
    let len = prop_oneof![
        3 => Just(max),
        2 => max - 8..=max,
        2 => Just(max / 4 * 3),
        1 => Just(max / 2),
        2 => 0..=max,
    ];
    (address(family), len)
        .prop_map(|(a, l)| IpNet::new(a, l).unwrap().trunc())
        .boxed()
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => prop::sample::select(PORTS),
        2 => prop::sample::select(PORTS).prop_map(|p| p.wrapping_add(1)),
        1 => any::<u16>(),
    ]
}

fn port_set() -> impl Strategy<Value = PortSet> {
    let range = (port(), port(), prop::bool::weighted(0.4)).prop_map(|(a, b, is_range)| {
        if is_range {
            PortRange {
                lo: a.min(b),
                hi: a.max(b),
            }
        } else {
            PortRange { lo: a, hi: a }
        }
    });
    prop::collection::vec(range, 1..=4).prop_map(PortSet)
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        3 => Just(Direction::In),
        2 => Just(Direction::Out),
        1 => Just(Direction::Fwd),
    ]
}

/// A destination the router rig forwards out of `fwout0` (its default
/// route): IPv4 in 10/8 or 203/8, IPv6 in 2001:db8:0::/48 or fd00::/8
/// (away from its connected prefixes and own addresses).
fn beyond(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let mut o = v.octets();
            if o[0] != 10 && o[0] != 203 {
                o[0] = 10;
            }
            IpAddr::V4(Ipv4Addr::from(o))
        }
        IpAddr::V6(v) => {
            let mut g = v.segments();
            if g[0] >> 8 != 0xfd && (g[0], g[1], g[2]) != (0x2001, 0xdb8, 0) {
                (g[0], g[1], g[2]) = (0x2001, 0xdb8, 0);
            }
            IpAddr::V6(Ipv6Addr::from(g))
        }
    }
}

/// A source the kernel forwards from: global unicast (multicast,
/// broadcast, unspecified, loopback and link-local sources are never
/// forwarded; the FIB lookup declines them too).
fn unicast(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let mut o = v.octets();
            if o[0] == 0 || o[0] == 127 || o[0] >= 224 {
                o[0] = 192;
            }
            IpAddr::V4(Ipv4Addr::from(o))
        }
        IpAddr::V6(v) => {
            let mut g = v.segments();
            if g[0] >> 8 == 0xff || g[0] == 0 || g[0] & 0xffc0 == 0xfe80 {
                g[0] = 0x2001;
            }
            IpAddr::V6(Ipv6Addr::from(g))
        }
    }
}

/// The router rig's interface names (route rules) and others.
fn route_iface() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        5 => Just(None),
        1 => Just(Some("fwin0".to_owned())),
        1 => Just(Some("fwout0".to_owned())),
        1 => Just(Some("fw+".to_owned())),
        1 => Just(Some("eth9".to_owned())),
    ]
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

/// A random rule: in, out or route (the router rig's interfaces), IPv4
/// or IPv6, any action, protocol, ports, prefixes and interface.
pub fn rule() -> impl Strategy<Value = Rule> {
    (direction(), family()).prop_flat_map(|(dir, family)| {
        let action = prop_oneof![
            4 => Just(Action::Allow),
            4 => Just(Action::Deny),
            1 => Just(Action::Reject),
            1 => Just(Action::Limit),
        ];
        let iface = prop_oneof![
            6 => Just(None),
            1 => Just(Some("eth9".to_owned())),
            1 => Just(Some("eth7".to_owned())),
            1 => Just(Some("eth+".to_owned())),
        ];
        let own_icmp = match family {
            Family::V4 => 1u8,
            Family::V6 => 58,
        };
        // Protocol and ports together: ports only with tcp, udp or any.
        let l4 = prop_oneof![
            3 => Just((Proto::Any, None, None)),
            3 => (
                prop_oneof![Just(Proto::Any), Just(Proto::TCP), Just(Proto::UDP)],
                prop::option::weighted(0.3, port_set()),
                prop::option::weighted(0.8, port_set()),
            ),
            2 => prop_oneof![Just(Proto::TCP), Just(Proto::UDP)]
                .prop_map(|p| (p, None, None)),
            1 => prop::sample::select(vec![own_icmp, 47, 50, 132])
                .prop_map(|n| (Proto::Num(n), None, None)),
        ];
        // A route rule: `in on` / `out on` the router rig's interfaces.
        let route = (route_iface(), route_iface());
        (
            action,
            iface,
            l4,
            prop::option::weighted(0.6, prefix(family)),
            prop::option::weighted(0.4, prefix(family)),
            route,
        )
            .prop_map(
                move |(action, iface, (proto, sport, dport), src, dst, (r_in, r_out))| {
                    let forward = dir == Direction::Fwd;
                    Rule {
                        action,
                        dir: if forward { Direction::In } else { dir },
                        iface: if forward { r_in } else { iface },
                        proto,
                        src,
                        sport,
                        dst,
                        dport,
                        family,
                        opts: fw_ctl::rule::RuleOpts {
                            forward,
                            iface_out: if forward { r_out } else { None },
                            ..Default::default()
                        },
                    }
                },
            )
    })
}

/// A default policy: allow, deny or reject.
fn policy() -> impl Strategy<Value = Action> {
    prop_oneof![2 => Just(Action::Allow), 2 => Just(Action::Deny), 1 => Just(Action::Reject)]
}

/// A random packet and the direction it is seen in (forwarded ones go
/// through the router rig), plain or VLAN-tagged, fragmented, with IPv4
/// options or IPv6 extension headers.
pub fn packet() -> impl Strategy<Value = (Direction, Pkt)> {
    (direction(), family()).prop_flat_map(|(dir, family)| {
        let own_icmp = match family {
            Family::V4 => L4::Icmp(8),
            // Echo request: neighbour discovery (133-137) always passes and
            // is covered by the verdict tests.
            Family::V6 => L4::Icmpv6(128),
        };
        let l4 = prop_oneof![
            4 => (port(), port()).prop_map(|(s, d)| L4::Tcp(s, d)),
            4 => (port(), port()).prop_map(|(s, d)| L4::Udp(s, d)),
            // What ufw's built-in rules name: DHCP and DHCPv6 answers, mDNS, SSDP.
            1 => prop::sample::select(vec![(67u16, 68u16), (547, 546), (5353, 5353), (40000, 1900)])
                .prop_map(|(s, d)| L4::Udp(s, d)),
            1 => Just(own_icmp),
            1 => prop::sample::select(vec![47u8, 50, 132]).prop_map(L4::Other),
        ];
        let shape = prop_oneof![
            8 => Just(0u8),
            1 => Just(1), // VLAN-tagged
            1 => Just(2), // non-first fragment
            1 => Just(3), // IPv4 options / IPv6 extension headers
        ];
        (
            address(family),
            address(family),
            l4,
            shape,
            1u16..4000,
            prop::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(move |(src, dst, l4, shape, n, payload)| {
                let mut p = Pkt::new("0.0.0.0", "0.0.0.0", l4);
                let fwd = dir == Direction::Fwd;
                p.src = if fwd { unicast(src) } else { src };
                p.dst = if fwd { beyond(dst) } else { dst };
                p.payload = payload;
                match (shape, family) {
                    (1, _) => p.vlans = if n % 2 == 0 { vec![n] } else { vec![n, 7] },
                    (2, Family::V4) => p.v4_frag = n,
                    (2, Family::V6) => p.v6_ext = vec![Ext::Fragment(n, n % 2 == 0)],
                    (3, Family::V4) => p.v4_options = vec![1; 4 * (1 + n as usize % 10)],
                    (3, Family::V6) => p.v6_ext = vec![Ext::HopByHop, Ext::Routing, Ext::DestOpts],
                    _ => {}
                }
                (dir, p)
            })
    })
}

/// A rule list with its default policies and the packets to send through.
#[derive(Clone, Debug)]
pub struct Case {
    /// The rules, ids deliberately not positions.
    pub rules: Vec<StoredRule>,
    /// The default policies.
    pub defaults: Defaults,
    /// The packets and the direction each is seen in.
    pub packets: Vec<(Direction, Pkt)>,
    /// The built-in rule switches (`Config::builtins`) for a stateful
    /// run: each `allow`, `off` or `deny`.
    pub builtins: u32,
}

/// A random rule list (up to 40 rules), default policies and packets.
pub fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(rule(), 0..40),
        policy(),
        policy(),
        policy(),
        prop::collection::vec(packet(), 1..=MAX_PACKETS_PER_LIST),
        prop::collection::vec(prop_oneof![4 => Just(0u32), 1 => Just(1), 1 => Just(2)], 4),
    )
        .prop_map(
            |(rules, incoming, outgoing, routed, packets, switches)| Case {
                rules: rules
                    .into_iter()
                    .enumerate()
                    // Ids deliberately not positions: counters follow ids.
                    .map(|(i, rule)| StoredRule {
                        id: (i as u32 * 7 + 3) % 1000,
                        rule,
                    })
                    .collect(),
                defaults: Defaults {
                    incoming,
                    outgoing,
                    routed,
                },
                packets,
                builtins: switches
                    .iter()
                    .enumerate()
                    .fold(0, |w, (i, s)| w | (s << (2 * i))),
            },
        )
}

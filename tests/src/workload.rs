//! A realistic large rule set, deterministic from a seed, with probe packets
//! whose first match is known: the input of the benchmark and of the
//! 100,000-rule test.
//!
//! The mix (per family, rules alternate IPv4 / IPv6): 55% `deny from` one
//! host (/32, /128), 25% `deny from` a network (/24, /64), 10%
//! `allow from NET/16 (/48) to any port LO:HI proto tcp`, 10%
//! `allow to any port P proto udp|tcp`. Generated addresses lie in
//! 10.0.0.0/8, 172.16.0.0/12 and 2001:db8:a000::/36, generated ports in
//! 20000..60000.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fw_ctl::rule::{Action, Direction, Family, PortRange, PortSet, Proto, Rule, StoredRule};
use ipnet::IpNet;
use proptest::{
    prelude::Rng as _,
    test_runner::{RngAlgorithm, TestRng},
};

use crate::packet::{L4, Pkt};

/// Where a probe's first match is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// The first rule of its family.
    Early,
    /// The last rule of its family.
    Late,
    /// No rule: the default policy decides.
    None,
}

impl Position {
    /// All positions.
    pub const ALL: [Self; 3] = [Self::Early, Self::Late, Self::None];

    /// A short name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Early => "early",
            Self::Late => "late",
            Self::None => "no match",
        }
    }
}

/// An incoming rule of `family` that names nothing else (fill in fields
/// with struct update syntax).
#[must_use]
pub fn inbound(action: Action, family: Family) -> Rule {
    Rule {
        action,
        dir: Direction::In,
        iface: None,
        proto: Proto::Any,
        src: None,
        sport: None,
        dst: None,
        dport: None,
        family,
        opts: Default::default(),
    }
}

fn net(addr: IpAddr, len: u8) -> Option<IpNet> {
    Some(IpNet::new(addr, len).expect("prefix").trunc())
}

fn v4(rng: &mut TestRng, base: u32, host_bits: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        base | (rng.next_u32() & ((1u32 << host_bits) - 1)),
    ))
}

fn v6(rng: &mut TestRng) -> IpAddr {
    let base = u128::from("2001:db8:a000::".parse::<Ipv6Addr>().unwrap());
    let low = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) >> 36;
    IpAddr::V6(Ipv6Addr::from(base | low))
}

fn generated(rng: &mut TestRng, family: Family) -> Rule {
    let roll = rng.next_u32() % 100;
    let host = |rng: &mut TestRng| match family {
        Family::V4 => v4(rng, 10 << 24, 24),
        Family::V6 => v6(rng),
    };
    let (host_len, net_len, wide_len) = match family {
        Family::V4 => (32, 24, 16),
        Family::V6 => (128, 64, 48),
    };
    let port = |rng: &mut TestRng| -> u16 { 20000 + (rng.next_u32() % 40000) as u16 };
    match roll {
        0..55 => Rule {
            src: net(host(rng), host_len),
            ..inbound(Action::Deny, family)
        },
        55..80 => {
            let src = match family {
                Family::V4 => v4(rng, 0xac10_0000, 20),
                Family::V6 => v6(rng),
            };
            Rule {
                src: net(src, net_len),
                ..inbound(Action::Deny, family)
            }
        }
        80..90 => {
            let lo = port(rng);
            let hi = lo.saturating_add((rng.next_u32() % 100) as u16).min(59999);
            Rule {
                proto: Proto::TCP,
                src: net(host(rng), wide_len),
                dport: Some(PortSet(vec![PortRange { lo, hi }])),
                ..inbound(Action::Allow, family)
            }
        }
        _ => {
            let p = port(rng);
            Rule {
                proto: if rng.next_u32().is_multiple_of(2) {
                    Proto::UDP
                } else {
                    Proto::TCP
                },
                dport: Some(PortSet(vec![PortRange { lo: p, hi: p }])),
                ..inbound(Action::Allow, family)
            }
        }
    }
}

/// `n` rules (at least 4): per family, the first is `deny from` the early
/// probe's source, the last `allow from` the late probe's network `to any
/// port 9000 proto tcp`, the rest generated. Ids are positions.
#[must_use]
pub fn rules(n: usize, seed: u64) -> Vec<StoredRule> {
    assert!(n >= 4, "at least 4 rules");
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &{
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        s
    });
    let per_family = [n.div_ceil(2), n / 2];
    let mut out = Vec::with_capacity(n);
    for (fi, family) in [Family::V4, Family::V6].into_iter().enumerate() {
        let m = per_family[fi];
        let (early, late) = match family {
            Family::V4 => ("192.0.2.66/32", "198.51.100.0/24"),
            Family::V6 => ("2001:db8:66::66/128", "2001:db8:51::/48"),
        };
        out.push(Rule {
            src: Some(early.parse().unwrap()),
            ..inbound(Action::Deny, family)
        });
        for _ in 1..m.saturating_sub(1) {
            out.push(generated(&mut rng, family));
        }
        out.push(Rule {
            proto: Proto::TCP,
            src: Some(late.parse().unwrap()),
            dport: Some(PortSet(vec![PortRange { lo: 9000, hi: 9000 }])),
            ..inbound(Action::Allow, family)
        });
    }
    out.into_iter()
        .enumerate()
        .map(|(i, rule)| StoredRule { id: i as u32, rule })
        .collect()
}

/// Probe packets per (family, position): their sources differ, so a
/// measurement averages over where they fall in the shapes' filters.
pub const PROBES: u8 = 16;

/// Probe packet `k` (< [`PROBES`]) of `family` for `pos` (incoming TCP to
/// port 9000): early from the first rule's host (`k` varies the source
/// port), late from hosts of the last rule's network, none from hosts no
/// rule names.
#[must_use]
pub fn probe(family: Family, pos: Position, k: u8) -> Pkt {
    let h = u16::from(k) + 1;
    let (src, dst) = match (family, pos) {
        (Family::V4, Position::Early) => ("192.0.2.66".to_owned(), "192.0.2.1"),
        (Family::V4, Position::Late) => (format!("198.51.100.{h}"), "192.0.2.1"),
        (Family::V4, Position::None) => (format!("203.0.113.{h}"), "192.0.2.1"),
        (Family::V6, Position::Early) => ("2001:db8:66::66".to_owned(), "2001:db8:1::1"),
        (Family::V6, Position::Late) => (format!("2001:db8:51::{h:x}"), "2001:db8:1::1"),
        (Family::V6, Position::None) => (format!("2001:db8:99::{h:x}"), "2001:db8:1::1"),
    };
    Pkt::new(&src, dst, L4::Tcp(40000 + h, 9000))
}

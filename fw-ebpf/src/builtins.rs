//! ufw's built-in rules (`fw_common::builtins` lists them): ICMP errors and
//! echo, DHCP answers, mDNS/SSDP multicast, and for IPv6 the router and
//! neighbour discovery and MLD messages ufw's before6.rules accept;
//! forwarded, ICMP errors and echo only (ufw's before-forward chains).

use fw_common::ipproto::{ICMP as IPPROTO_ICMP, ICMPV6 as IPPROTO_ICMPV6, UDP as IPPROTO_UDP};
use fw_common::{Direction, Family, Reason};

use crate::parse::Packet;

/// A network-order address word from its four bytes.
const fn w(b: [u8; 4]) -> u32 {
    u32::from_ne_bytes(b)
}

/// fe80::/10.
#[inline(always)]
fn link_local(a: &[u32; 4]) -> bool {
    u32::from_be(a[0]) & 0xffc0_0000 == 0xfe80_0000
}

/// ff02::N.
#[inline(always)]
fn ff02(a: &[u32; 4], n: u8) -> bool {
    a[0] == w([0xff, 0x02, 0, 0]) && a[1] == 0 && a[2] == 0 && a[3] == w([0, 0, 0, n])
}

/// The built-in rule that accepts `pkt` in `dir`, as its reason.
#[inline(always)]
pub fn accepts(pkt: &Packet, dir: Direction) -> Option<Reason> {
    let inbound = dir == Direction::In;
    let forwarded = dir == Direction::Fwd;
    if pkt.fragment != 0 {
        return None;
    }
    if pkt.family == Family::V4 as u8 {
        if dir == Direction::Out {
            return None;
        }
        if pkt.proto == IPPROTO_ICMP {
            return matches!(pkt.icmp_type, 3 | 8 | 11 | 12).then_some(Reason::BuiltinIcmp);
        }
        if inbound && pkt.proto == IPPROTO_UDP && pkt.has_ports != 0 {
            if pkt.sport == 67 && pkt.dport == 68 {
                return Some(Reason::BuiltinDhcp);
            }
            if (pkt.dport == 5353 && pkt.dst[0] == w([224, 0, 0, 251]))
                || (pkt.dport == 1900 && pkt.dst[0] == w([239, 255, 255, 250]))
            {
                return Some(Reason::BuiltinMulticast);
            }
        }
        return None;
    }
    if pkt.proto == IPPROTO_ICMPV6 {
        let t = pkt.icmp_type;
        let hl255 = pkt.hop_limit == 255;
        let ll = link_local(&pkt.src);
        return match t {
            1..=4 | 128 | 129 => Some(Reason::BuiltinIcmp),
            _ if forwarded => None,
            144..=147 if inbound => Some(Reason::BuiltinIcmp),
            141 | 142 | 148 | 149 if hl255 => Some(Reason::BuiltinNdp),
            130..=132 | 143 if ll => Some(Reason::BuiltinMld),
            151..=153 if ll && pkt.hop_limit == 1 => Some(Reason::BuiltinMld),
            _ => None,
        };
    }
    if inbound && pkt.proto == IPPROTO_UDP && pkt.has_ports != 0 {
        if pkt.sport == 547 && pkt.dport == 546 && link_local(&pkt.src) && link_local(&pkt.dst) {
            return Some(Reason::BuiltinDhcp);
        }
        if (pkt.dport == 5353 && ff02(&pkt.dst, 0xfb))
            || (pkt.dport == 1900 && ff02(&pkt.dst, 0x0f))
        {
            return Some(Reason::BuiltinMulticast);
        }
    }
    None
}

/// The reason with number `r` among the built-in ones.
#[inline(always)]
pub fn reason(r: u8) -> Reason {
    match r {
        12 => Reason::BuiltinDhcp,
        13 => Reason::BuiltinMulticast,
        14 => Reason::BuiltinNdp,
        15 => Reason::BuiltinMld,
        _ => Reason::BuiltinIcmp,
    }
}

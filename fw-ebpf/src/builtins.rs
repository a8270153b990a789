//! ufw's built-in rules (`fw_common::builtins` lists them): ICMP errors and
//! echo, DHCP answers, mDNS/SSDP multicast, and for IPv6 the router and
//! neighbour discovery and MLD messages ufw's before6.rules accept;
//! forwarded, ICMP errors and echo only (ufw's before-forward chains).

use fw_common::builtins::{Setting, Switch};
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

/// What a built-in rule does with a packet: its reason, and whether it
/// drops (a switch set to deny) rather than accepts.
pub type Builtin = Option<(Reason, bool)>;

/// The answer of a switchable line under the settings `word`.
#[inline(always)]
fn switched(word: u32, s: Switch, r: Reason) -> Builtin {
    let v = (word >> s.shift()) & 3;
    if v == Setting::Off as u32 {
        return None;
    }
    Some((r, v == Setting::Deny as u32))
}

/// The built-in rule that accepts `pkt` in `dir` with every switch as ufw
/// has it, as its reason.
#[inline(always)]
pub fn accepts(pkt: &Packet, dir: Direction) -> Option<Reason> {
    decides(pkt, dir, 0).map(|(r, _)| r)
}

/// The built-in rule that decides `pkt` in `dir` under the switch settings
/// `word` (`Config::builtins`).
#[inline(always)]
pub fn decides(pkt: &Packet, dir: Direction, word: u32) -> Builtin {
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
            if inbound && pkt.icmp_type == 8 {
                return switched(word, Switch::Ping, Reason::BuiltinIcmp);
            }
            return matches!(pkt.icmp_type, 3 | 8 | 11 | 12)
                .then_some((Reason::BuiltinIcmp, false));
        }
        if inbound && pkt.proto == IPPROTO_UDP && pkt.has_ports != 0 {
            if pkt.sport == 67 && pkt.dport == 68 {
                return switched(word, Switch::Dhcp, Reason::BuiltinDhcp);
            }
            if (pkt.dport == 5353 && pkt.dst[0] == w([224, 0, 0, 251]))
                || (pkt.dport == 1900 && pkt.dst[0] == w([239, 255, 255, 250]))
            {
                return Some((Reason::BuiltinMulticast, false));
            }
        }
        return None;
    }
    if pkt.proto == IPPROTO_ICMPV6 {
        let t = pkt.icmp_type;
        let hl255 = pkt.hop_limit == 255;
        let ll = link_local(&pkt.src);
        let accept = |r: Reason| Some((r, false));
        return match t {
            128 if inbound => switched(word, Switch::Ping6, Reason::BuiltinIcmp),
            1..=4 | 128 | 129 => accept(Reason::BuiltinIcmp),
            _ if forwarded => None,
            144..=147 if inbound => accept(Reason::BuiltinIcmp),
            141 | 142 | 148 | 149 if hl255 => accept(Reason::BuiltinNdp),
            130..=132 | 143 if ll => accept(Reason::BuiltinMld),
            151..=153 if ll && pkt.hop_limit == 1 => accept(Reason::BuiltinMld),
            _ => None,
        };
    }
    if inbound && pkt.proto == IPPROTO_UDP && pkt.has_ports != 0 {
        if pkt.sport == 547 && pkt.dport == 546 && link_local(&pkt.src) && link_local(&pkt.dst) {
            return switched(word, Switch::Dhcp6, Reason::BuiltinDhcp);
        }
        if (pkt.dport == 5353 && ff02(&pkt.dst, 0xfb))
            || (pkt.dport == 1900 && ff02(&pkt.dst, 0x0f))
        {
            return Some((Reason::BuiltinMulticast, false));
        }
    }
    None
}

/// `ScratchSlot::reason` of a built-in decision: the reason's number,
/// [`DENIED`] set when it drops.
#[inline(always)]
pub fn slot_reason(r: Reason, deny: bool) -> u8 {
    r as u8 | (u8::from(deny) << 7)
}

/// The bit of [`slot_reason`] that says the built-in rule drops.
pub const DENIED: u8 = 0x80;

/// The verdict of a built-in decision stored by [`slot_reason`], without
/// a branch (a branch here would double the classifier's verification).
#[inline(always)]
pub fn verdict(r: u8) -> fw_common::Verdict {
    // SAFETY: `r >> 7` is 0 or 1, `Verdict::Pass` and `Verdict::Drop` of a
    // `#[repr(u8)]` enum.
    unsafe { core::mem::transmute::<u8, fw_common::Verdict>(r >> 7) }
}

/// The reason of a built-in decision stored by [`slot_reason`].
#[inline(always)]
pub fn reason(r: u8) -> Reason {
    match r & !DENIED {
        12 => Reason::BuiltinDhcp,
        13 => Reason::BuiltinMulticast,
        14 => Reason::BuiltinNdp,
        15 => Reason::BuiltinMld,
        _ => Reason::BuiltinIcmp,
    }
}

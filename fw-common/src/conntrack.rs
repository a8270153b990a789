//! Connection tracking: the flow table shared by XDP ingress and TC egress.
//!
//! A flow is keyed from the host's point of view, so a packet and its reply
//! compute the same key whichever hook sees them:
//!
//! ```text
//! ingress packet  src -> dst   key { local: dst, remote: src, lport: dport, rport: sport }
//! egress packet   src -> dst   key { local: src, remote: dst, lport: sport, rport: dport }
//! ICMP echo       lport = identifier, rport = 0
//! ```
//! The value remembers who started the flow (`origin`), its state and when
//! it was last seen, and the rule-set generation that allowed it. A packet
//! of a live flow whose generation is current passes before the rules; when
//! the rules changed since, the flow's first packet is decided again as the
//! flow's opening packet would be (a new `deny` cuts it, a deleted `allow`
//! too): allowed, the entry takes the new generation; denied, the flow is
//! marked [`CtState::Denied`] and its packets are dropped in both
//! directions, so the host's next packet of the flow cannot open it again.
//!
//! Timeouts (seconds, `Config::ct_timeout_s`, defaults in the spirit of the
//! kernel's nf_conntrack): see [`DEFAULT_TIMEOUTS`]. The table is an LRU
//! hash: when it is full the least recently used flows go first; a new flow
//! is still decided by the rules, never allowed because it could not be
//! tracked.

use crate::{assert_size, pod};

/// Default capacity of the flow table (set at load time).
pub const CT_DEFAULT_ENTRIES: u32 = 262_144;

/// Key of the flow table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtKey {
    /// [`crate::Family`] as `u8`.
    pub family: u8,
    /// IP protocol.
    pub proto: u8,
    /// [`CT_ZONE_HOST`] or [`CT_ZONE_FWD`].
    pub zone: u8,
    /// Explicit padding, always zero.
    pub _pad: u8,
    /// The host's port (ICMP echo: the identifier).
    pub lport: u16,
    /// The peer's port (ICMP echo: 0).
    pub rport: u16,
    /// The host's address, network-order words (IPv4 in word 0).
    pub local: [u32; 4],
    /// The peer's address.
    pub remote: [u32; 4],
}
assert_size!(CtKey, 40);

/// Value of the flow table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtEntry {
    /// `bpf_ktime_get_coarse_ns` of the last packet.
    pub last_seen: u64,
    /// The rule-set generation the flow was last decided under.
    pub generation: u64,
    /// The rule that allowed the flow, or [`CT_NO_RULE`] (default policy).
    pub rule_id: u32,
    /// [`CtState`] as `u8`.
    pub state: u8,
    /// [`crate::Direction`] of the packet that opened the flow.
    pub origin: u8,
    /// Explicit padding, always zero.
    pub _pad: [u8; 2],
}
assert_size!(CtEntry, 24);
pod!(CtKey, CtEntry);

/// `CtKey::zone` of the host's own flows.
pub const CT_ZONE_HOST: u8 = 0;

/// `CtKey::zone` of forwarded flows. Both ends are other hosts, so the key
/// is oriented by its addresses instead: "local" is the side with the
/// lower (address, port), whichever way the packet goes, and `origin`
/// says how the opening packet was oriented ([`crate::Direction::In`]: its
/// destination is the "local" side).
pub const CT_ZONE_FWD: u8 = 1;

/// `CtEntry::rule_id` of a flow the default policy allowed.
pub const CT_NO_RULE: u32 = u32::MAX;

/// `CtEntry::rule_id` of a flow a built-in rule allowed (an echo request
/// to the host): rule changes do not recheck it.
pub const CT_BUILTIN: u32 = u32::MAX - 1;

/// States of a tracked flow (indexes of `Config::ct_timeout_s`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtState {
    /// TCP: SYN seen, no answer yet.
    TcpSynSent = 0,
    /// TCP: both sides spoke.
    TcpEstablished = 1,
    /// TCP: a FIN was seen.
    TcpClosing = 2,
    /// TCP: a RST was seen.
    TcpClosed = 3,
    /// UDP (or another protocol with ports): one side only so far.
    UdpUnreplied = 4,
    /// UDP: both sides spoke.
    UdpReplied = 5,
    /// ICMP / ICMPv6 echo.
    IcmpEcho = 6,
    /// Cut by a rule change: its packets are dropped (in both directions)
    /// until the rules change again and allow its opening packet.
    Denied = 7,
}

/// Number of [`CtState`]s (dimension of `Config::ct_timeout_s`).
pub const CT_STATES: usize = 8;

/// Default idle timeouts in seconds per [`CtState`]: TCP SYN sent 120,
/// established 432,000 (5 days, the kernel's default; vendor guides ask
/// for at least 14,400), closing 120, closed 10; UDP unreplied 30, replied
/// 180; ICMP echo 30; a cut flow is remembered for 120.
pub const DEFAULT_TIMEOUTS: [u32; CT_STATES] = [120, 432_000, 120, 10, 30, 180, 30, 120];

/// TCP flag bits.
pub const TCP_FIN: u8 = 0x01;
/// SYN.
pub const TCP_SYN: u8 = 0x02;
/// RST.
pub const TCP_RST: u8 = 0x04;
/// PSH.
pub const TCP_PSH: u8 = 0x08;
/// ACK.
pub const TCP_ACK: u8 = 0x10;
/// URG.
pub const TCP_URG: u8 = 0x20;

/// The flag combinations nf_conntrack accepts (`tcp_valid_flags`), over
/// FIN..URG with PSH ignored: bit `f` set when combination `f` is valid.
pub const TCP_VALID_FLAGS: u64 = (1 << TCP_SYN)
    | (1 << (TCP_SYN | TCP_URG))
    | (1 << (TCP_SYN | TCP_ACK))
    | (1 << TCP_RST)
    | (1 << (TCP_RST | TCP_ACK))
    | (1 << (TCP_FIN | TCP_ACK))
    | (1 << (TCP_FIN | TCP_ACK | TCP_URG))
    | (1 << TCP_ACK)
    | (1 << (TCP_ACK | TCP_URG));

/// True when conntrack would accept these TCP flags.
#[inline(always)]
#[must_use]
pub const fn tcp_flags_valid(flags: u8) -> bool {
    let f = flags & 0x3f & !TCP_PSH;
    (TCP_VALID_FLAGS >> f) & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_flag_combinations() {
        for ok in [
            TCP_SYN,
            TCP_SYN | TCP_ACK,
            TCP_ACK,
            TCP_ACK | TCP_PSH,
            TCP_FIN | TCP_ACK,
            TCP_RST,
            TCP_RST | TCP_ACK,
            0x80 | TCP_SYN,
        ] {
            assert!(tcp_flags_valid(ok), "{ok:#x}");
        }
        for bad in [
            0,
            TCP_SYN | TCP_FIN,
            TCP_SYN | TCP_RST,
            TCP_FIN,
            TCP_FIN | TCP_PSH | TCP_URG,
            TCP_PSH,
        ] {
            assert!(!tcp_flags_valid(bad), "{bad:#x}");
        }
    }
}

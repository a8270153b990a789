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
//!
//! ## Half-open flows stay out of the flow table
//!
//! The host's own flows enter the flow table only once both sides have
//! spoken: UDP and other protocols with ports at the first reply, TCP when
//! the handshake completes (the answer's acknowledgement number checked
//! against the sequence number recorded from the other side), so a
//! spoofed flood, whose frames are never answered, cannot evict a real
//! connection. Until then a flow is a *half-open record* in
//! [`CtPending`], a direct-mapped array indexed by [`ct_hash`] of the key:
//! a write to one slot, no allocation, no lock, no eviction list. A
//! record is only ever needed to recognise the flow's first reply (and,
//! for TCP, the handshake's last ACK); the packets of the opening
//! direction are decided by the rules one by one, as netfilter decides the
//! packets of an unreplied flow (`ctstate NEW`). Records overwrite each
//! other in a flood, as nf_conntrack's early drop evicts unreplied entries
//! first; what is lost is only the chance to recognise a reply that the
//! rules of its own direction then decide.
//!
//! [`CT_PORTS`] marks the local ports (per TCP / other) that flows
//! in the flow table or half-open records of flows the host opened may
//! use: a received packet whose local port has no bit set belongs to no
//! such flow, so it costs no lookup at all (a flood to a closed or denied
//! port meets only the rules). Ports are marked before the entry is written
//! and never cleared while the filter is loaded.
//!
//! Forwarded flows (zone [`CT_ZONE_FWD`]) are tracked from their first
//! packet, as before.

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

/// Slots of the half-open records (a power of two).
pub const CT_PENDING_ENTRIES: u32 = 65_536;

/// A half-open flow of the host's: its opening packet passed, no reply
/// yet (or, TCP, no handshake completed). See the module's doc.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtPending {
    /// [`ct_fingerprint`] of the key; 0: an empty slot.
    pub fp: u32,
    /// The rule that allowed the opening packet, [`CT_NO_RULE`] or
    /// [`CT_BUILTIN`].
    pub rule_id: u32,
    /// `bpf_ktime_get_coarse_ns` of the opening packet, in seconds.
    pub seen_s: u32,
    /// TCP: the sequence number of the last SYN seen of this flow (the
    /// opener's, then the answer's): the next packet the other way must
    /// acknowledge it plus one.
    pub isn: u32,
    /// The rule-set generation it was decided under.
    pub generation: u64,
    /// [`CtState`] as `u8` (`TcpSynSent`, `UdpUnreplied`, `IcmpEcho`).
    pub state: u8,
    /// [`crate::Direction`] of the opening packet (host zone: in or out).
    pub origin: u8,
    /// TCP: 1 when the SYN was answered (SYN-ACK seen), waiting for the
    /// handshake's last ACK.
    pub answered: u8,
    /// Explicit padding, always zero.
    pub _pad: [u8; 5],
}
assert_size!(CtPending, 32);
pod!(CtPending);

/// Words of the [`CT_PORTS`] map: one byte per (TCP or other, local
/// port), eight to a word (bytes, not bits: a plain store sets one, with
/// no lost update when CPUs race).
pub const CT_PORTS_WORDS: u32 = 2 * 65_536 / 8;

/// The name of the local-port map (see the module's doc).
pub const CT_PORTS: &str = "CT_PORTS";

/// The word of [`CT_PORTS`] and the byte in it for a flow of `proto`
/// with local port (ICMP echo: identifier) `lport`.
#[inline(always)]
#[must_use]
pub const fn port_byte(proto: u8, lport: u16) -> (u32, usize) {
    let tcp = (proto == 6) as u32;
    let i = (tcp << 16) | lport as u32;
    (i >> 3, (i & 7) as usize)
}

/// A 64-bit hash of a flow key (multiply-xorshift over its five 64-bit
/// words, then murmur3's finaliser, so every bit of the key reaches the
/// low bits): the low bits index [`CtPending`], the high half is the
/// record's fingerprint.
#[inline(always)]
#[must_use]
pub fn ct_hash(k: &CtKey) -> u64 {
    const M: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = u64::from(k.family)
        | u64::from(k.proto) << 8
        | u64::from(k.zone) << 16
        | u64::from(k.lport) << 32
        | u64::from(k.rport) << 48;
    h = h.wrapping_mul(M);
    h ^= h >> 32;
    let mut i = 0;
    while i < 4 {
        h = (h ^ (u64::from(k.local[i]) << 32 | u64::from(k.remote[i]))).wrapping_mul(M);
        h ^= h >> 32;
        i += 1;
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The slot of [`CtPending`] and the fingerprint (never 0) for hash `h`.
#[inline(always)]
#[must_use]
pub const fn ct_slot(h: u64) -> (u32, u32) {
    (
        (h as u32) & (CT_PENDING_ENTRIES - 1),
        ((h >> 32) as u32) | 1,
    )
}

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

/// `CtEntry::rule_id` of a forwarded flow the data plane saw first as it
/// left the host (TC egress), not where it came in: a port published by
/// DNAT, whose packets came in addressed to the host (the input rules
/// decided them, before the NAT), or a packet from an interface fw does
/// not filter. Its answers pass as the flow's; rule changes do not
/// recheck it (the input side of a DNAT flow is rechecked where it comes
/// in).
pub const CT_NAT: u32 = u32::MAX - 2;

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

    /// Keys that differ in one field only land in different slots: the
    /// hash spreads every field over the index bits.
    #[test]
    fn pending_slots_spread() {
        let base = CtKey {
            family: 4,
            proto: 6,
            local: [0x0100_00c0, 0, 0, 0],
            remote: [0x0200_00c0, 0, 0, 0],
            lport: 22,
            ..CtKey::default()
        };
        let mut seen = [false; CT_PENDING_ENTRIES as usize];
        let mut distinct = 0;
        let mut mark = |k: &CtKey| {
            let i = ct_slot(ct_hash(k)).0 as usize;
            if !seen[i] {
                seen[i] = true;
                distinct += 1;
            }
        };
        for p in 0..1000u16 {
            mark(&CtKey {
                rport: 40000 + p,
                ..base
            });
            let mut k = base;
            k.remote[0] = (u32::from(p) << 16) | 0x00c6;
            mark(&k);
        }
        assert!(distinct > 1950, "{distinct} distinct slots of 2000 keys");
    }

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

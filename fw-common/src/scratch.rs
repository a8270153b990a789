//! The per-CPU scratch slot between the parser and the classifier.
//!
//! The data plane writes each parsed packet here and reads it back before
//! classifying it (and once more, with the direction and mode chosen by
//! connection tracking, right before the classifier). At run time that is a few stores and loads; for the
//! verifier it turns everything the parser's branches taught it (this
//! packet is TCP, has ports, is not a fragment, ...) into unknown values, so
//! the classifier is verified once per family instead of once per parser
//! path. On kernel 6.18 the XDP program costs the verifier about 63,000
//! processed instructions with it and 350,000 without (the limit is a
//! million).

use crate::{assert_size, pod};

/// A parsed IP packet, as the classifier needs it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParsedPacket {
    /// [`crate::Family`] as `u8`.
    pub family: u8,
    /// IP protocol (IPv6: after extension headers).
    pub proto: u8,
    /// 1 when `sport`/`dport` are real (TCP or UDP, not a non-first fragment).
    pub has_ports: u8,
    /// 1 for a non-first fragment.
    pub fragment: u8,
    /// Source port, host order.
    pub sport: u16,
    /// Destination port, host order.
    pub dport: u16,
    /// Source address, network-order words (IPv4 in word 0).
    pub src: [u32; 4],
    /// Destination address, network-order words.
    pub dst: [u32; 4],
    /// TCP flags (byte 13 of the header: FIN 0x01 ... CWR 0x80); 0 else.
    pub tcp_flags: u8,
    /// ICMP / ICMPv6 type; 0 for other protocols.
    pub icmp_type: u8,
    /// ICMP / ICMPv6 echo identifier (echo request and reply only).
    pub icmp_id: u16,
    /// IPv4 TTL / IPv6 hop limit.
    pub hop_limit: u8,
    /// Offset of the IP header in the frame (after VLAN tags).
    pub l3_off: u8,
    /// Offset of the transport header in the frame.
    pub l4_off: u16,
}
assert_size!(ParsedPacket, 48);
pod!(ParsedPacket);

/// The value of `SCRATCH`: a packet to classify, and for the second pass
/// (connection tracking, see fw-ebpf's `conntrack`) the direction to
/// classify it in and what to do with the answer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScratchSlot {
    /// The packet.
    pub pkt: ParsedPacket,
    /// [`crate::Direction`] as `u8`.
    pub dir: u8,
    /// What the caller does with the decision (its own enum as `u8`).
    pub mode: u8,
    /// For a built-in decision, its [`crate::Reason`] as `u8`.
    pub reason: u8,
    /// What the lookup before the route lookup learnt of a received
    /// packet's host flow: [`ABSENT_FLOW`] (not in the flow table: the
    /// second lookup is skipped) and [`NO_HOST_OPENED`] (no flow the host
    /// opened can have this local port: no half-open record to look for).
    pub absent: u8,
    /// The interface the classifier matches `in on` / `out on` against
    /// (forwarded: the incoming one).
    pub ifindex: u32,
    /// Forwarded: the outgoing interface; 0 otherwise.
    pub oifindex: u32,
    /// TCP: the sequence number, host order (0 for other protocols).
    /// Kept beside the packet, not in it: every copy of the packet the
    /// data plane makes is on its 512-byte stack.
    pub tcp_seq: u32,
    /// TCP: the acknowledgement number, host order.
    pub tcp_ack: u32,
    /// Explicit padding (`fib` is 8-byte aligned), always zero.
    pub _pad: u32,
    /// Room for the route lookup's parameters (the kernel's `struct
    /// bpf_fib_lookup`, 64 bytes): off the data plane's 512-byte stack.
    /// After the lookup, connection tracking builds a new flow table
    /// entry here (8-byte aligned: at offset 72).
    pub fib: [u32; 16],
    /// Per family (IPv4, IPv6), the last route lookup that found
    /// forwarding disabled where the packet came in: the interface
    /// (0: none) ...
    pub fwd_off_ifindex: [u32; 2],
    /// ... and the `bpf_jiffies64` tick it was made in. Within the same
    /// tick a packet from that interface is not forwarded without asking
    /// the kernel's FIB again (see fw-ebpf's `route`).
    pub fwd_off_tick: [u64; 2],
}
assert_size!(ScratchSlot, 160);
const _: () = assert!(core::mem::offset_of!(ScratchSlot, fib) % 8 == 0);

/// `ScratchSlot::absent`: the packet's host flow is not in the flow table.
pub const ABSENT_FLOW: u8 = 1;
/// `ScratchSlot::absent`: no flow the host opened uses the packet's local
/// port (`crate::conntrack::CT_PORTS`).
pub const NO_HOST_OPENED: u8 = 2;
/// `ScratchSlot::absent`: the recheck under way is of a half-open record
/// (`crate::conntrack::CtPending`), not of a flow table entry.
pub const RECHECK_PENDING: u8 = 4;
pod!(ScratchSlot);

/// Entries of `SCRATCH` (one per CPU, it is a per-CPU array).
pub const SCRATCH_ENTRIES: u32 = 1;

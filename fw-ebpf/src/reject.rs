//! `reject` on the wire: a TCP packet gets a RST back, built in place from
//! the packet itself (RFC 9293: if the offending segment has ACK, the RST
//! takes its acknowledgment number as sequence number; otherwise it
//! acknowledges the segment).
//!
//! Other packets get an ICMP (ICMPv6) port-unreachable quoting their IP
//! header and first 8 bytes, as ufw's `REJECT` sends; so does TCP under the
//! reject policy and `limit`, as with ufw.
//!
//! Received packets are answered in two steps (`fw_common::answer` says
//! why): XDP decides, counts and [`mark`]s the packet; TC ingress finds the
//! mark ([`marked`]), turns the packet into the answer and sends it back
//! out of the interface (to the remote sender, whatever the device and its
//! peer). TC egress turns the host's own packet into the answer and hands
//! it to the same interface's receive path (`bpf_redirect` with
//! `BPF_F_INGRESS`), so the local sender gets its error at once
//! (`ECONNREFUSED`), as with ufw's `reject out`.
//!
//! Handled: IPv4 without options and IPv6 without extension headers; the
//! RST also with up to two VLAN tags, the ICMP answer without tags. Never
//! answered: a RST, an ICMP message, a non-first fragment. Those drop.

use aya_ebpf::{
    bindings::bpf_adj_room_mode::BPF_ADJ_ROOM_MAC,
    helpers::{bpf_skb_change_tail, bpf_xdp_adjust_meta},
    programs::{TcContext, XdpContext},
};
use fw_common::ipproto::{ICMP as IPPROTO_ICMP, ICMPV6 as IPPROTO_ICMPV6, TCP as IPPROTO_TCP};
use fw_common::{
    Family,
    answer::{MARK_ICMP, MARK_MAGIC, MARK_RESET_OR_ICMP, Mark, mark_answer},
    conntrack::{TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN},
    scratch::ParsedPacket,
};

use crate::maps::SCRATCH;

/// Makes `n` bytes of room between the Ethernet header and the IP header
/// of the skb: afterwards the frame starts with the Ethernet header and
/// the old IP header follows at `14 + n`. None when it cannot.
#[inline(always)]
fn grow(ctx: &TcContext, n: u32) -> Option<()> {
    ctx.adjust_room(n as i32, BPF_ADJ_ROOM_MAC, 0).ok()?;
    // The new headers and the quote (as long as the room) must be in the
    // linear part.
    let want = 14 + 2 * n;
    let len = ctx.len();
    ctx.pull_data(if len < want { len } else { want }).ok()?;
    Some(())
}

/// Sets the skb's length to `len` bytes (only ever shorter).
#[inline(always)]
fn set_len(ctx: &TcContext, len: u32) -> bool {
    // SAFETY: the skb of this invocation; the helper checks the length.
    unsafe { bpf_skb_change_tail(ctx.skb.skb, len, 0) == 0 }
}

/// True when the packet `p` can be answered (with a reset when `reset`
/// and it is TCP): what [`answer`] accepts, checked before XDP hands the
/// packet on, so that what TC would only drop is dropped at once.
#[inline(always)]
fn answerable(p: &ParsedPacket, reset: bool) -> bool {
    let v6 = p.family == Family::V6 as u8;
    let ip_len: u16 = if v6 { 40 } else { 20 };
    if p.fragment != 0 {
        return false;
    }
    if reset && p.proto == IPPROTO_TCP {
        return p.has_ports != 0
            && p.tcp_flags & TCP_RST == 0
            && p.l3_off <= 22
            && p.l4_off == u16::from(p.l3_off) + ip_len;
    }
    p.proto != IPPROTO_ICMP
        && p.proto != IPPROTO_ICMPV6
        && p.l3_off == 14
        && p.l4_off == 14 + ip_len
}

/// XDP: marks the dropped packet in the scratch slot for an answer by TC
/// ingress (a reset when `reset` says so, see [`answer`]). False when it
/// cannot be answered, or the mark does not fit: the packet is dropped.
#[inline(always)]
pub fn mark(ctx: &XdpContext, reset: bool) -> bool {
    let Some(slot) = SCRATCH.get(0) else {
        return false;
    };
    if !answerable(&slot.pkt, reset) {
        return false;
    }
    let size = core::mem::size_of::<Mark>();
    // SAFETY: the helper checks the headroom.
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, -(size as i32)) } != 0 {
        return false;
    }
    // SAFETY: ctx.ctx is the kernel's xdp_md for this invocation.
    let (meta, data) = unsafe { ((*ctx.ctx).data_meta as usize, (*ctx.ctx).data as usize) };
    if meta + size > data {
        return false;
    }
    let m = MARK_MAGIC | if reset { MARK_RESET_OR_ICMP } else { MARK_ICMP };
    // SAFETY: `size` bytes of metadata, checked above.
    unsafe { *(meta as *mut Mark) = m };
    true
}

/// TC ingress: whether the packet carries fw's mark, and then whether it
/// asks for a reset (see [`mark`]). The mark is cleared, so that it is
/// never found again on the answer.
#[inline(always)]
pub fn marked(ctx: &TcContext) -> Option<bool> {
    let size = core::mem::size_of::<Mark>();
    // SAFETY: ctx.skb.skb is the kernel's __sk_buff for this invocation.
    let (meta, data) = unsafe { ((*ctx.skb.skb).data_meta as usize, (*ctx.skb.skb).data as usize) };
    if meta + size > data {
        return None;
    }
    // SAFETY: `size` bytes of metadata, checked above.
    let a = mark_answer(unsafe { *(meta as *const Mark) })?;
    // SAFETY: as above.
    unsafe { *(meta as *mut Mark) = 0 };
    Some(a == MARK_RESET_OR_ICMP)
}

#[inline(always)]
fn be16(p: usize) -> u16 {
    // SAFETY: callers check `p + 2 <= data_end`.
    u16::from_be_bytes(unsafe { *(p as *const [u8; 2]) })
}

#[inline(always)]
fn be32(p: usize) -> u32 {
    // SAFETY: callers check `p + 4 <= data_end`.
    u32::from_be_bytes(unsafe { *(p as *const [u8; 4]) })
}

#[inline(always)]
fn put16(p: usize, v: u16) {
    // SAFETY: callers check `p + 2 <= data_end`.
    unsafe { *(p as *mut [u8; 2]) = v.to_be_bytes() }
}

#[inline(always)]
fn put32(p: usize, v: u32) {
    // SAFETY: callers check `p + 4 <= data_end`.
    unsafe { *(p as *mut [u8; 4]) = v.to_be_bytes() }
}

/// Swaps `N` bytes at `a` and `b`.
#[inline(always)]
fn swap<const N: usize>(a: usize, b: usize) {
    // SAFETY: callers check both ranges are inside the frame.
    unsafe {
        let x = *(a as *const [u8; N]);
        *(a as *mut [u8; N]) = *(b as *const [u8; N]);
        *(b as *mut [u8; N]) = x;
    }
}

/// One's-complement sum of `N` big-endian 16-bit words at `p`.
#[inline(always)]
fn sum<const N: usize>(p: usize) -> u32 {
    let mut s = 0u32;
    let mut i = 0;
    while i < N {
        s += u32::from(be16(p + 2 * i));
        i += 1;
    }
    s
}

#[inline(always)]
fn fold(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// Answers the dropped packet in the frame: TCP with a reset when
/// `reset` says so, else (and for everything but ICMP errors' kin) with
/// ICMP / ICMPv6 port-unreachable. False when it cannot be answered.
/// A function of its own (a BPF-to-BPF call, made only for rejected
/// packets): its locals stay off the classifier's frame.
#[inline(never)]
pub fn answer(ctx: &TcContext, reset: bool) -> bool {
    let Some(slot) = SCRATCH.get(0) else {
        return false;
    };
    let p = &slot.pkt;
    if reset && p.proto == IPPROTO_TCP {
        return tcp_reset(ctx);
    }
    if p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6 || p.fragment != 0 {
        return false;
    }
    match (p.family == Family::V6 as u8, p.proto == IPPROTO_TCP) {
        (true, true) => port_unreachable::<true, true>(ctx),
        (true, false) => port_unreachable::<true, false>(ctx),
        (false, true) => port_unreachable::<false, true>(ctx),
        (false, false) => port_unreachable::<false, false>(ctx),
    }
}

/// Turns the packet (without VLAN tags, IPv4 without options or IPv6
/// without extension headers, at least 8 bytes after the IP header) into
/// the ICMP / ICMPv6 port-unreachable that answers it, quoting its IP
/// header and first 8 bytes (RFC 792 / RFC 4443); a TCP segment's whole
/// 20-byte header (`TCP`): a segment the host's stack built (or a peer's
/// on a veth) may carry a checksum still to be computed (CHECKSUM_PARTIAL),
/// and the kernel refuses to trim the packet short of that checksum's field.
/// `V6` and `TCP` are constants so that every offset below is one to the
/// verifier. Each of the four a subprogram of its own: their locals
/// share no frame.
#[inline(never)]
fn port_unreachable<const V6: bool, const TCP: bool>(ctx: &TcContext) -> bool {
    let Some(slot) = SCRATCH.get(0) else {
        return false;
    };
    let p = &slot.pkt;
    let v6 = V6;
    if p.l3_off != 14 || p.l4_off != if v6 { 54 } else { 34 } {
        return false;
    }
    // Room for the new IP header and ICMP header in front of the old IP
    // header, which (with the first 8 bytes after it) becomes the quote.
    let room: i32 = if v6 { 48 } else { 28 };
    if grow(ctx, room as u32).is_none() {
        return false;
    }
    let start = ctx.data();
    let end = ctx.data_end();
    // The IP header and 8 bytes after it; for TCP 12 more.
    let extra = if TCP { 12 } else { 0 };
    let quote = if v6 { 48 } else { 28 } + extra;
    let total = 14 + room as usize + quote;
    if start + total > end {
        return false;
    }
    // Ethernet (still at the start): back to the sender.
    swap::<6>(start, start + 6);
    // The old IP header (the quote) is right after the new IP and ICMP
    // headers: it is already in place. Trim what follows the quote.
    if !set_len(ctx, (14 + room as usize + quote) as u32) {
        return false;
    }
    let start = ctx.data();
    let end = ctx.data_end();
    if start + 14 + room as usize + quote > end {
        return false;
    }
    let ip = start + 14;
    let q = ip + room as usize;
    if v6 {
        put32(ip, 0x6000_0000);
        put16(ip + 4, (8 + quote) as u16);
        // SAFETY: inside the checked frame.
        unsafe {
            *((ip + 6) as *mut u8) = IPPROTO_ICMPV6;
            *((ip + 7) as *mut u8) = 64;
            // Source: the quoted packet's destination; destination: its source.
            *((ip + 8) as *mut [u8; 16]) = *((q + 24) as *const [u8; 16]);
            *((ip + 24) as *mut [u8; 16]) = *((q + 8) as *const [u8; 16]);
        }
        let icmp = ip + 40;
        put32(icmp, 0x0104_0000); // type 1, code 4, checksum 0
        put32(icmp + 4, 0);
        let pseudo = sum::<16>(ip + 8) + (8 + quote) as u32 + u32::from(IPPROTO_ICMPV6);
        let tail = if TCP { sum::<6>(icmp + 8 + 48) } else { 0 };
        let c = fold(pseudo + sum::<4>(icmp) + sum::<24>(icmp + 8) + tail);
        put16(icmp + 2, c);
    } else {
        put16(ip, 0x4500);
        put16(ip + 2, (20 + 8 + quote) as u16);
        put32(ip + 4, 0);
        put16(ip + 8, (64 << 8) | u16::from(IPPROTO_ICMP));
        put16(ip + 10, 0);
        // SAFETY: inside the checked frame.
        unsafe {
            *((ip + 12) as *mut [u8; 4]) = *((q + 16) as *const [u8; 4]);
            *((ip + 16) as *mut [u8; 4]) = *((q + 12) as *const [u8; 4]);
        }
        let c = fold(sum::<10>(ip));
        put16(ip + 10, c);
        let icmp = ip + 20;
        put32(icmp, 0x0303_0000); // type 3, code 3, checksum 0
        put32(icmp + 4, 0);
        let tail = if TCP { sum::<6>(icmp + 8 + 28) } else { 0 };
        let c = fold(sum::<4>(icmp) + sum::<14>(icmp + 8) + tail);
        put16(icmp + 2, c);
    }
    true
}

/// Turns the TCP packet in the frame into the RST that answers it. False
/// when this packet cannot be answered (it is then dropped). A subprogram,
/// as [`port_unreachable`].
#[inline(never)]
fn tcp_reset(ctx: &TcContext) -> bool {
    let Some(slot) = SCRATCH.get(0) else {
        return false;
    };
    let p = &slot.pkt;
    if p.proto != IPPROTO_TCP || p.has_ports == 0 || p.fragment != 0 || p.tcp_flags & TCP_RST != 0 {
        return false;
    }
    let v6 = p.family == Family::V6 as u8;
    let l3 = p.l3_off as usize;
    if l3 > 22 {
        return false;
    }
    let ip_len = if v6 { 40 } else { 20 };
    let l4 = l3 + ip_len;
    if p.l4_off as usize != l4 {
        return false;
    }
    let start = ctx.data();
    // Every access below is at a constant offset from `ip`, checked once:
    // the verifier ties bounds to one pointer.
    let ip = start + l3;
    if ip + ip_len + 20 > ctx.data_end() {
        return false;
    }
    let t = ip + ip_len;
    let seq = be32(t + 4);
    let ack = be32(t + 8);
    let doff = u32::from(be16(t + 12) >> 12) * 4;
    let flags = p.tcp_flags;
    let payload = if v6 {
        u32::from(be16(ip + 4))
    } else {
        u32::from(be16(ip + 2)).wrapping_sub(20)
    };
    let seg_len = payload.wrapping_sub(doff)
        + u32::from(flags & TCP_SYN != 0)
        + u32::from(flags & TCP_FIN != 0);
    let (rseq, rack, rflags) = if flags & TCP_ACK != 0 {
        (ack, 0, TCP_RST)
    } else {
        (0, seq.wrapping_add(seg_len), TCP_RST | TCP_ACK)
    };
    // Keep the headers only.
    if !set_len(ctx, (l4 + 20) as u32) {
        return false;
    }
    let start = ctx.data();
    let end = ctx.data_end();
    if start + 12 > end {
        return false;
    }
    swap::<6>(start, start + 6);
    let ip = start + l3;
    if ip + ip_len + 20 > end {
        return false;
    }
    let t = ip + ip_len;
    if v6 {
        // Version 6, no traffic class or flow label; 20 bytes of TCP.
        put32(ip, 0x6000_0000);
        put16(ip + 4, 20);
        // SAFETY: inside the checked frame.
        unsafe {
            *((ip + 6) as *mut u8) = IPPROTO_TCP;
            *((ip + 7) as *mut u8) = 64;
        }
        swap::<16>(ip + 8, ip + 24);
    } else {
        put16(ip, 0x4500);
        put16(ip + 2, 40);
        put32(ip + 4, 0x0000_4000); // id 0, DF
        put16(ip + 8, (64 << 8) | u16::from(IPPROTO_TCP));
        put16(ip + 10, 0);
        swap::<4>(ip + 12, ip + 16);
        let c = fold(sum::<10>(ip));
        put16(ip + 10, c);
    }
    swap::<2>(t, t + 2);
    put32(t + 4, rseq);
    put32(t + 8, rack);
    put16(t + 12, (5 << 12) | u16::from(rflags));
    put16(t + 14, 0); // window
    put16(t + 16, 0); // checksum
    put16(t + 18, 0); // urgent pointer
    let pseudo = if v6 {
        sum::<16>(ip + 8) + 20 + u32::from(IPPROTO_TCP)
    } else {
        sum::<4>(ip + 12) + 20 + u32::from(IPPROTO_TCP)
    };
    let c = fold(pseudo + sum::<10>(t));
    put16(t + 16, c);
    true
}

//! IPv4, honouring IHL (options) and fragment offsets.

use fw_common::{Family, Reason};
use network_types::ip::Ipv4Hdr;

use super::{Packet, Parsed, l4, ptr_at};

/// Parses an IPv4 header at `l3` and what follows it.
#[inline(always)]
pub fn parse(start: usize, end: usize, l3: usize) -> Parsed {
    let Some(ip) = ptr_at::<Ipv4Hdr>(start, end, l3) else {
        return Parsed::Drop(Reason::Malformed);
    };
    // SAFETY: ptr_at checked the whole fixed header is inside the frame.
    let ip = unsafe { core::ptr::read_unaligned(ip) };
    let ihl = ((ip.vihl & 0x0f) as usize) * 4;
    if ip.vihl >> 4 != 4 || ihl < 20 || u16::from_be_bytes(ip.tot_len) < ihl as u16 {
        return Parsed::Drop(Reason::Malformed);
    }
    let l4 = l3 + ihl;
    if start + l4 > end {
        return Parsed::Drop(Reason::Malformed);
    }
    let frag_off = u16::from_be_bytes(ip.frags) & 0x1fff;
    let mut pkt = Packet {
        family: Family::V4,
        proto: ip.proto,
        has_ports: false,
        fragment: frag_off != 0,
        sport: 0,
        dport: 0,
        src: [u32::from_ne_bytes(ip.src_addr), 0, 0, 0],
        dst: [u32::from_ne_bytes(ip.dst_addr), 0, 0, 0],
    };
    if pkt.fragment {
        return Parsed::Ip(pkt);
    }
    match l4::parse(start, end, l4, pkt.proto, &mut pkt) {
        Ok(()) => Parsed::Ip(pkt),
        Err(last) => last,
    }
}

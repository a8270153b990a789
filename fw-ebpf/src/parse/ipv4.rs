//! IPv4, honouring IHL (options) and fragment offsets.

use fw_common::{Family, Reason};
use network_types::ip::Ipv4Hdr;

use super::{Packet, Parsed, l4, ptr_at, word_at};

/// Parses an IPv4 header at `l3` and what follows it.
#[inline(always)]
pub fn parse(start: usize, end: usize, l3: usize) -> Parsed {
    let Some(ip) = ptr_at::<Ipv4Hdr>(start, end, l3) else {
        return Parsed::Drop(Reason::Malformed);
    };
    // Only the fields used are read (not a copy of the whole header).
    let ip = ip as usize;
    // SAFETY: ptr_at checked the whole fixed header is inside the frame.
    let (vihl, tot_len, frags, ttl, proto, src, dst) = unsafe {
        (
            *(ip as *const u8),
            u16::from_be_bytes(*((ip + 2) as *const [u8; 2])),
            u16::from_be_bytes(*((ip + 6) as *const [u8; 2])),
            *((ip + 8) as *const u8),
            *((ip + 9) as *const u8),
            word_at(ip + 12),
            word_at(ip + 16),
        )
    };
    let ihl = ((vihl & 0x0f) as usize) * 4;
    if vihl >> 4 != 4 || ihl < 20 || tot_len < ihl as u16 {
        return Parsed::Drop(Reason::Malformed);
    }
    let l4 = l3 + ihl;
    if start + l4 > end {
        return Parsed::Drop(Reason::Malformed);
    }
    let frag_off = frags & 0x1fff;
    let mut pkt = Packet {
        family: Family::V4 as u8,
        proto,
        has_ports: 0,
        fragment: u8::from(frag_off != 0),
        sport: 0,
        dport: 0,
        src: [src, 0, 0, 0],
        dst: [dst, 0, 0, 0],
        tcp_flags: 0,
        icmp_type: 0,
        icmp_id: 0,
        hop_limit: ttl,
        l3_off: l3 as u8,
        l4_off: 0,
    };
    if pkt.fragment != 0 {
        return Parsed::Ip(pkt);
    }
    match l4::parse(start, end, l4, pkt.proto, &mut pkt) {
        Ok(()) => Parsed::Ip(pkt),
        Err(last) => last,
    }
}

//! IPv6 with a bounded walk over extension headers.
//!
//! Walked: hop-by-hop (0), routing (43), fragment (44), destination options
//! (60) and AH (51, whose length unit is 4 octets, `(len + 2) * 4`). At most
//! [`MAX_EXT`] headers and [`MAX_EXT_BYTES`] bytes of them; beyond that the
//! packet is dropped as `TooDeep`. A fragment header with a non-zero offset
//! ends the walk: the packet is a non-first fragment without ports.

use fw_common::{Family, Reason};
use network_types::ip::Ipv6Hdr;

use super::{Packet, Parsed, l4, ptr_at, read, word_at};

/// Most extension headers walked.
const MAX_EXT: usize = 8;
/// Most bytes of extension headers walked.
const MAX_EXT_BYTES: usize = 1024;

const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_AUTH: u8 = 51;
const NEXTHDR_DEST: u8 = 60;

/// Parses an IPv6 header at `l3` and what follows it.
#[inline(always)]
pub fn parse(start: usize, end: usize, l3: usize) -> Parsed {
    let Some(ip) = ptr_at::<Ipv6Hdr>(start, end, l3) else {
        return Parsed::Drop(Reason::Malformed);
    };
    // Only the fields used are read (not a copy of the whole header).
    let ip = ip as usize;
    // SAFETY: ptr_at checked the whole fixed header is inside the frame.
    let (version, next_hdr, hop_limit) = unsafe {
        (
            *(ip as *const u8) >> 4,
            *((ip + 6) as *const u8),
            *((ip + 7) as *const u8),
        )
    };
    if version != 6 {
        return Parsed::Drop(Reason::Malformed);
    }
    // SAFETY: as above; addresses at 8..24 and 24..40.
    let (src, dst) = unsafe {
        (
            [
                word_at(ip + 8),
                word_at(ip + 12),
                word_at(ip + 16),
                word_at(ip + 20),
            ],
            [
                word_at(ip + 24),
                word_at(ip + 28),
                word_at(ip + 32),
                word_at(ip + 36),
            ],
        )
    };
    let mut pkt = Packet {
        family: Family::V6 as u8,
        proto: next_hdr,
        has_ports: 0,
        fragment: 0,
        sport: 0,
        dport: 0,
        src,
        dst,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_id: 0,
        hop_limit,
        l3_off: l3 as u8,
        l4_off: 0,
    };
    let base = l3 + 40;
    let mut ext = 0usize;
    let mut done = false;
    for _ in 0..MAX_EXT {
        let next = pkt.proto;
        if !(next == NEXTHDR_HOP
            || next == NEXTHDR_ROUTING
            || next == NEXTHDR_FRAGMENT
            || next == NEXTHDR_AUTH
            || next == NEXTHDR_DEST)
        {
            done = true;
            break;
        }
        let Some(h) = read::<[u8; 4]>(start, end, base + ext) else {
            return Parsed::Drop(Reason::Malformed);
        };
        pkt.proto = h[0];
        if next == NEXTHDR_FRAGMENT {
            // Fragment header: 8 bytes; offset in the upper 13 bits of bytes 2-3.
            ext += 8;
            if u16::from_be_bytes([h[2], h[3]]) >> 3 != 0 {
                pkt.fragment = 1;
                return Parsed::Ip(pkt);
            }
        } else if next == NEXTHDR_AUTH {
            ext += (h[1] as usize + 2) * 4;
        } else {
            ext += (h[1] as usize + 1) * 8;
        }
        if ext > MAX_EXT_BYTES {
            return Parsed::Drop(Reason::TooDeep);
        }
    }
    if !done {
        // Still an extension header after MAX_EXT of them.
        let next = pkt.proto;
        if next == NEXTHDR_HOP
            || next == NEXTHDR_ROUTING
            || next == NEXTHDR_FRAGMENT
            || next == NEXTHDR_AUTH
            || next == NEXTHDR_DEST
        {
            return Parsed::Drop(Reason::TooDeep);
        }
    }
    match l4::parse(start, end, base + ext, pkt.proto, &mut pkt) {
        Ok(()) => Parsed::Ip(pkt),
        Err(last) => last,
    }
}

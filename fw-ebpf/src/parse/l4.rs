//! TCP, UDP, ICMP and ICMPv6 headers of a first (or only) fragment: ports,
//! TCP flags, ICMP type and echo identifier.
//!
//! TCP needs its full header (data offset >= 5, inside the frame), UDP its
//! 8 bytes, ICMP and ICMPv6 their 4-byte type/code/checksum; anything
//! shorter is `Malformed`. Other protocols are classified by number alone.
//! ICMPv6 neighbour discovery (types 133-137) is passed here, before any
//! rule, so a deny policy can never cut the host off its neighbours.

use fw_common::Reason;
use fw_common::ipproto::{
    ICMP as IPPROTO_ICMP, ICMPV6 as IPPROTO_ICMPV6, TCP as IPPROTO_TCP, UDP as IPPROTO_UDP,
};

use super::{Packet, Parsed, read};

const MALFORMED: Parsed = Parsed::Drop(Reason::Malformed);

/// Fills the ports of `pkt` from the L4 header at `off`; `Err` carries a
/// final answer (malformed header, or neighbour discovery to pass).
#[inline(always)]
pub fn parse(
    start: usize,
    end: usize,
    off: usize,
    proto: u8,
    pkt: &mut Packet,
) -> Result<(), Parsed> {
    pkt.l4_off = off as u16;
    if proto == IPPROTO_TCP {
        let h: [u8; 20] = read(start, end, off).ok_or(MALFORMED)?;
        let doff = (h[12] >> 4) as usize * 4;
        if doff < 20 || start + off + doff > end {
            return Err(MALFORMED);
        }
        pkt.sport = u16::from_be_bytes([h[0], h[1]]);
        pkt.dport = u16::from_be_bytes([h[2], h[3]]);
        pkt.has_ports = 1;
        pkt.tcp_flags = h[13];
    } else if proto == IPPROTO_UDP {
        let h: [u8; 8] = read(start, end, off).ok_or(MALFORMED)?;
        pkt.sport = u16::from_be_bytes([h[0], h[1]]);
        pkt.dport = u16::from_be_bytes([h[2], h[3]]);
        pkt.has_ports = 1;
    } else if proto == IPPROTO_ICMP {
        let h: [u8; 4] = read(start, end, off).ok_or(MALFORMED)?;
        pkt.icmp_type = h[0];
        if h[0] == 8 || h[0] == 0 {
            // Echo request / reply: the identifier tracks the exchange.
            let e: [u8; 8] = read(start, end, off).ok_or(MALFORMED)?;
            pkt.icmp_id = u16::from_be_bytes([e[4], e[5]]);
        }
    } else if proto == IPPROTO_ICMPV6 {
        let h: [u8; 4] = read(start, end, off).ok_or(MALFORMED)?;
        if (133..=137).contains(&h[0]) {
            return Err(Parsed::Pass(Reason::NeighborDiscovery));
        }
        pkt.icmp_type = h[0];
        if h[0] == 128 || h[0] == 129 {
            let e: [u8; 8] = read(start, end, off).ok_or(MALFORMED)?;
            pkt.icmp_id = u16::from_be_bytes([e[4], e[5]]);
        }
    }
    Ok(())
}

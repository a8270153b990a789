//! TCP, UDP, ICMP and ICMPv6 headers of a first (or only) fragment.
//!
//! TCP needs its full header (data offset >= 5, inside the frame), UDP its
//! 8 bytes, ICMP and ICMPv6 their 4-byte type/code/checksum; anything
//! shorter is `Malformed`. Other protocols are classified by number alone.
//! ICMPv6 neighbour discovery (types 133-137) is passed here, before any
//! rule, so a deny policy can never cut the host off its neighbours.

use fw_common::Reason;

use super::{Packet, Parsed, read};

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
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
    if proto == IPPROTO_TCP {
        let h: [u8; 20] = read(start, end, off).ok_or(MALFORMED)?;
        let doff = (h[12] >> 4) as usize * 4;
        if doff < 20 || start + off + doff > end {
            return Err(MALFORMED);
        }
        pkt.sport = u16::from_be_bytes([h[0], h[1]]);
        pkt.dport = u16::from_be_bytes([h[2], h[3]]);
        pkt.has_ports = 1;
    } else if proto == IPPROTO_UDP {
        let h: [u8; 8] = read(start, end, off).ok_or(MALFORMED)?;
        pkt.sport = u16::from_be_bytes([h[0], h[1]]);
        pkt.dport = u16::from_be_bytes([h[2], h[3]]);
        pkt.has_ports = 1;
    } else if proto == IPPROTO_ICMP {
        let _: [u8; 4] = read(start, end, off).ok_or(MALFORMED)?;
    } else if proto == IPPROTO_ICMPV6 {
        let h: [u8; 4] = read(start, end, off).ok_or(MALFORMED)?;
        if (133..=137).contains(&h[0]) {
            return Err(Parsed::Pass(Reason::NeighborDiscovery));
        }
    }
    Ok(())
}

//! Ethernet with up to two VLAN tags (802.1Q and 802.1ad).

use fw_common::Reason;

use super::read;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;

#[inline(always)]
fn is_vlan(t: u16) -> bool {
    t == ETH_P_8021Q || t == ETH_P_8021AD
}

/// Returns the inner ethertype and the offset of the L3 header.
#[inline(always)]
pub fn parse(start: usize, end: usize) -> Result<(u16, usize), Reason> {
    let t: [u8; 2] = read(start, end, 12).ok_or(Reason::Malformed)?;
    let mut ethertype = u16::from_be_bytes(t);
    let mut off = ETH_HLEN;
    if is_vlan(ethertype) {
        let t: [u8; 2] = read(start, end, off + 2).ok_or(Reason::Malformed)?;
        ethertype = u16::from_be_bytes(t);
        off += VLAN_HLEN;
        if is_vlan(ethertype) {
            let t: [u8; 2] = read(start, end, off + 2).ok_or(Reason::Malformed)?;
            ethertype = u16::from_be_bytes(t);
            off += VLAN_HLEN;
            if is_vlan(ethertype) {
                return Err(Reason::TooDeep);
            }
        }
    }
    Ok((ethertype, off))
}

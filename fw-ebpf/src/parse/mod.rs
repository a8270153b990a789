//! Header parsing with one bounds-checked accessor.
//!
//! Every `parse_*` takes the frame bounds and an offset, checks that the
//! header fits before reading it, and says where the next header starts.
//! The result of [`parse`] is either an IP packet to classify or a verdict
//! decided by the parser itself (non-IP, ARP, neighbour discovery,
//! malformed, too deep).

mod eth;
mod ipv4;
mod ipv6;
mod l4;

use fw_common::Reason;

/// What the classifier needs to know of an IP packet (the layout of the
/// scratch slot it goes through, see `fw_common::scratch`).
pub use fw_common::scratch::ParsedPacket as Packet;

/// The parser's result.
pub enum Parsed {
    /// An IP packet for the classifier.
    Ip(Packet),
    /// Passed without classification, for this reason.
    Pass(Reason),
    /// Dropped without classification, for this reason.
    Drop(Reason),
}

/// Returns a pointer to a `T` at `off` if it lies entirely inside the frame.
#[inline(always)]
pub(crate) fn ptr_at<T>(start: usize, end: usize, off: usize) -> Option<*const T> {
    if start + off + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + off) as *const T)
}

/// Reads a `T` at `off`, unaligned, if it lies inside the frame.
#[inline(always)]
pub(crate) fn read<T: Copy>(start: usize, end: usize, off: usize) -> Option<T> {
    // SAFETY: ptr_at checked that size_of::<T>() bytes at off are in the frame.
    ptr_at::<T>(start, end, off).map(|p| unsafe { core::ptr::read_unaligned(p) })
}

/// Reads the four bytes at `addr` as a native word (network order kept).
///
/// # Safety
/// `addr .. addr + 4` must lie inside the frame.
#[inline(always)]
pub(crate) unsafe fn word_at(addr: usize) -> u32 {
    // SAFETY: the caller guarantees the bytes are in the frame.
    unsafe { core::ptr::read_unaligned(addr as *const u32) }
}

/// Parses an IP packet without a link header (a cgroup hook's view),
/// `ethertype` saying which IP it is: `Pass` for anything else.
#[inline(always)]
pub fn parse_l3(start: usize, end: usize, ethertype: u16) -> Parsed {
    match ethertype {
        eth::ETH_P_IP => ipv4::parse(start, end, 0),
        eth::ETH_P_IPV6 => ipv6::parse(start, end, 0),
        _ => Parsed::Pass(Reason::NonIp),
    }
}

/// Parses the frame between `start` and `end`.
#[inline(always)]
pub fn parse(start: usize, end: usize) -> Parsed {
    let (ethertype, l3) = match eth::parse(start, end) {
        Ok(v) => v,
        Err(reason) => return Parsed::Drop(reason),
    };
    match ethertype {
        eth::ETH_P_IP => ipv4::parse(start, end, l3),
        eth::ETH_P_IPV6 => ipv6::parse(start, end, l3),
        eth::ETH_P_ARP => Parsed::Pass(Reason::Arp),
        _ => Parsed::Pass(Reason::NonIp),
    }
}

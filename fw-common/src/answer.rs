//! How XDP hands a `reject` to TC ingress.
//!
//! A rejected packet is answered on the wire (a TCP reset or an ICMP /
//! ICMPv6 port-unreachable). XDP could send the answer itself with
//! `XDP_TX`, but a veth delivers `XDP_TX` frames only when its peer runs an
//! XDP program: on the plain veth pairs of containers, guests and labs the
//! answer would be lost and `reject` would act as `deny`. So `fw_xdp`
//! decides and counts the drop, writes one [`Mark`] word in front of the
//! frame (XDP metadata) and passes it; `fw_tc_ingress`, the first program
//! the packet meets in the stack, builds the answer from it and sends it
//! back out of the same interface (`bpf_redirect`, which works on every
//! device). A marked packet never goes further: if it cannot be answered
//! it is dropped there.

/// The metadata word `fw_xdp` writes in front of a packet to reject:
/// [`MARK_MAGIC`] in the high bits, the answer in the low byte.
pub type Mark = u32;

/// High 24 bits of a [`Mark`] (native byte order): fw's, not another
/// program's metadata.
pub const MARK_MAGIC: u32 = 0x6677_7200;
/// Mask of [`MARK_MAGIC`] in a [`Mark`].
pub const MARK_MAGIC_MASK: u32 = 0xffff_ff00;
/// Answer TCP with a reset, other protocols with ICMP port-unreachable
/// (a `reject` rule).
pub const MARK_RESET_OR_ICMP: u32 = 1;
/// Answer with ICMP port-unreachable (the reject policy, `limit`).
pub const MARK_ICMP: u32 = 2;

/// The answer a [`Mark`] asks for ([`MARK_RESET_OR_ICMP`] or
/// [`MARK_ICMP`]), or None when the word is not fw's mark.
#[must_use]
#[inline(always)]
pub const fn mark_answer(m: Mark) -> Option<u32> {
    let a = m & !MARK_MAGIC_MASK;
    if m & MARK_MAGIC_MASK == MARK_MAGIC && (a == MARK_RESET_OR_ICMP || a == MARK_ICMP) {
        Some(a)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fws_marks_ask_for_an_answer() {
        assert_eq!(mark_answer(MARK_MAGIC | MARK_ICMP), Some(MARK_ICMP));
        assert_eq!(
            mark_answer(MARK_MAGIC | MARK_RESET_OR_ICMP),
            Some(MARK_RESET_OR_ICMP)
        );
        assert_eq!(mark_answer(MARK_MAGIC), None);
        assert_eq!(mark_answer(MARK_MAGIC | 3), None);
        assert_eq!(mark_answer(MARK_ICMP), None);
        assert_eq!(mark_answer(0), None);
    }
}

//! The parsed packet goes through the per-CPU `SCRATCH` slot before it is
//! classified (see `fw_common::scratch` for why: the verifier). The slot
//! keeps it: connection tracking then sets the slot's direction and mode
//! (and may rewrite the packet) and the classifier reads its input there.

use fw_common::ipproto::TCP as IPPROTO_TCP;

use crate::{maps::SCRATCH, parse::Packet};

/// Writes `pkt` (of the frame between `start` and `end`) to this CPU's
/// scratch slot, with a TCP segment's sequence and acknowledgement
/// numbers beside it, and reads it back.
#[inline(always)]
pub fn launder(pkt: &Packet, start: usize, end: usize) -> Option<Packet> {
    let p = SCRATCH.get_ptr_mut(0)?;
    let (mut seq, mut ack) = (0, 0);
    if pkt.proto == IPPROTO_TCP && pkt.has_ports != 0 {
        let at = start + (usize::from(pkt.l4_off) & 0x3ff) + 4;
        if at + 8 <= end {
            // SAFETY: 8 bytes inside the frame, checked above.
            let b = unsafe { *(at as *const [u8; 8]) };
            seq = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            ack = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        }
    }
    // SAFETY: this CPU's slot of a per-CPU array; programs do not migrate
    // while they run, so nothing else touches it until we return.
    unsafe {
        (*p).pkt = *pkt;
        (*p).absent = 0;
        (*p).tcp_seq = seq;
        (*p).tcp_ack = ack;
    }
    SCRATCH.get(0).map(|s| s.pkt)
}

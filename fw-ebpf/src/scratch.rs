//! The parsed packet goes through the per-CPU `SCRATCH` slot before it is
//! classified (see `fw_common::scratch` for why: the verifier). The slot
//! keeps it: connection tracking then sets the slot's direction and mode
//! (and may rewrite the packet) and the classifier reads its input there.

use crate::{maps::SCRATCH, parse::Packet};

/// Writes `pkt` to this CPU's scratch slot and reads it back.
#[inline(always)]
pub fn launder(pkt: &Packet) -> Option<Packet> {
    let p = SCRATCH.get_ptr_mut(0)?;
    // SAFETY: this CPU's slot of a per-CPU array; programs do not migrate
    // while they run, so nothing else touches it until we return.
    unsafe {
        (*p).pkt = *pkt;
        (*p).absent = 0;
    }
    SCRATCH.get(0).map(|s| s.pkt)
}

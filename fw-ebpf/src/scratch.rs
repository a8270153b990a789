//! The parsed packet goes through the per-CPU `SCRATCH` slot before it is
//! classified (see `fw_common::scratch` for why: the verifier).

use fw_common::{Family, scratch::ParsedPacket};

use crate::{maps::SCRATCH, parse::Packet};

/// Writes `pkt` to this CPU's scratch slot and reads it back.
#[inline(always)]
pub fn launder(pkt: &Packet) -> Option<Packet> {
    let slot = SCRATCH.get_ptr_mut(0)?;
    // SAFETY: this CPU's slot of a per-CPU array; programs do not migrate
    // while they run, so nothing else touches it until we return.
    unsafe {
        *slot = ParsedPacket {
            family: pkt.family as u8,
            proto: pkt.proto,
            has_ports: u8::from(pkt.has_ports),
            fragment: u8::from(pkt.fragment),
            sport: pkt.sport,
            dport: pkt.dport,
            src: pkt.src,
            dst: pkt.dst,
        };
    }
    let w = SCRATCH.get(0)?;
    Some(Packet {
        family: if w.family == Family::V6 as u8 {
            Family::V6
        } else {
            Family::V4
        },
        proto: w.proto,
        has_ports: w.has_ports != 0,
        fragment: w.fragment != 0,
        sport: w.sport,
        dport: w.dport,
        src: w.src,
        dst: w.dst,
    })
}

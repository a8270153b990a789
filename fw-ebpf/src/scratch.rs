//! The parsed packet goes through the per-CPU `SCRATCH` slot before it is
//! classified (see `fw_common::scratch` for why: the verifier). The slot
//! keeps it: connection tracking then sets the slot's direction and mode
//! (and may rewrite the packet) and the classifier reads its input there.

use fw_common::ipproto::TCP as IPPROTO_TCP;

use crate::{maps::SCRATCH, parse::Packet};

/// Writes `pkt` (of the frame between `start` and `end`) to this CPU's
/// scratch slot, with a TCP segment's sequence and acknowledgement
/// numbers beside it, and reads it back (by 32-bit words, as LLVM copies
/// it).
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
        write_words(&raw mut (*p).pkt, pkt);
        (*p).absent = 0;
        (*p).tcp_seq = seq;
        (*p).tcp_ack = ack;
    }
    SCRATCH.get(0).map(|s| s.pkt)
}

/// Writes `pkt` to `dst` in the 32-bit words the copy back reads, each
/// composed from its fields: a word read over narrower stores waits for
/// them (a store-forwarding stall: in a flood's profile the copy's
/// samples fell from 709 to 224 of ~5,900 in the program).
///
/// # Safety
/// `dst` is valid for writes of a `Packet` and 4-byte aligned.
#[inline(always)]
unsafe fn write_words(dst: *mut Packet, pkt: &Packet) {
    let b = |x: [u8; 4]| u32::from_ne_bytes(x);
    let h = |x: u16, y: u16| {
        let (x, y) = (x.to_ne_bytes(), y.to_ne_bytes());
        u32::from_ne_bytes([x[0], x[1], y[0], y[1]])
    };
    let id = pkt.icmp_id.to_ne_bytes();
    let l4 = pkt.l4_off.to_ne_bytes();
    let w = dst.cast::<u32>();
    // One store per word, no array of them (the hooks' stacks are full).
    macro_rules! store {
        ($($i:expr => $v:expr),*) => {$(
            // SAFETY: word `$i` of the 48-byte packet at `dst`.
            unsafe { core::ptr::write_volatile(w.add($i), $v) };
        )*};
    }
    store!(
        0 => b([pkt.family, pkt.proto, pkt.has_ports, pkt.fragment]),
        1 => h(pkt.sport, pkt.dport),
        2 => pkt.src[0],
        3 => pkt.src[1],
        4 => pkt.src[2],
        5 => pkt.src[3],
        6 => pkt.dst[0],
        7 => pkt.dst[1],
        8 => pkt.dst[2],
        9 => pkt.dst[3],
        10 => b([pkt.tcp_flags, pkt.icmp_type, id[0], id[1]]),
        11 => b([pkt.hop_limit, pkt.l3_off, l4[0], l4[1]])
    );
}

// The word layout above is the packet's.
const _: () = {
    assert!(core::mem::size_of::<Packet>() == 48);
    assert!(core::mem::offset_of!(Packet, sport) == 4);
    assert!(core::mem::offset_of!(Packet, src) == 8);
    assert!(core::mem::offset_of!(Packet, dst) == 24);
    assert!(core::mem::offset_of!(Packet, tcp_flags) == 40);
    assert!(core::mem::offset_of!(Packet, icmp_id) == 42);
    assert!(core::mem::offset_of!(Packet, hop_limit) == 44);
    assert!(core::mem::offset_of!(Packet, l4_off) == 46);
};

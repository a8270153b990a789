//! `limit` (`fw_common::limit`): new connections per source address.

use aya_ebpf::helpers::bpf_ktime_get_coarse_ns;
use fw_common::{
    Direction,
    limit::{LIMIT_SLOTS, LimitEntry, LimitKey},
};

use crate::{
    maps::{CONFIG, LIMIT, SCRATCH},
    parse::Packet,
};

/// The entry of a source not seen yet.
static EMPTY: LimitEntry = LimitEntry {
    stamps: [0; LIMIT_SLOTS],
    count: 0,
};

/// Records a new connection of `pkt`'s peer (the source of an incoming or
/// forwarded packet, the destination of an outgoing one) and says whether it is
/// over the rate: the one that makes `limit_hits` within `limit_window_s`.
/// A function of its own (a BPF-to-BPF call, made only for new
/// connections of `limit` rules): its table entry stays off the hooks'
/// stack frames.
#[inline(never)]
pub fn over(pkt: &Packet, dir: Direction) -> bool {
    let (hits, window_s) = match CONFIG.get(0) {
        Some(c) => (c.limit_hits, c.limit_window_s),
        None => return false,
    };
    // The key is built in the scratch slot's route lookup area (done with
    // by now; a new flow's entry and key go there later), not on the
    // stack: this frame adds to the hook's, which is near the limit.
    let Some(slot) = SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's slot; `fib` is 8-byte aligned and larger than a
    // LimitKey.
    let key = unsafe { &mut *(*slot).fib.as_mut_ptr().cast::<LimitKey>() };
    key.family = pkt.family;
    key._pad = [0; 3];
    key.addr = if dir == Direction::Out {
        pkt.dst
    } else {
        pkt.src
    };
    let key: &LimitKey = key;
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let window = u64::from(window_s) * 1_000_000_000;
    let Some(e) = LIMIT.get_ptr_mut(key) else {
        // A new source: insert an empty entry (from read-only data, not a
        // 72-byte copy on the stack), then record this connection in it.
        let _ = LIMIT.insert(key, &EMPTY, 0);
        if let Some(e) = LIMIT.get_ptr_mut(key) {
            // SAFETY: as below.
            unsafe {
                (*e).stamps[0] = now;
                (*e).count = 1;
            }
        }
        return hits <= 1;
    };
    // SAFETY: a value of our hash map; a race between CPUs can lose one
    // stamp, never read out of bounds.
    let e = unsafe { &mut *e };
    e.stamps[(e.count as usize) & (LIMIT_SLOTS - 1)] = now;
    e.count += 1;
    let mut recent = 0u32;
    let mut i = 0;
    while i < LIMIT_SLOTS {
        let t = e.stamps[i];
        if t != 0 && now.wrapping_sub(t) <= window {
            recent += 1;
        }
        i += 1;
    }
    recent >= hits
}

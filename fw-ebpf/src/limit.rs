//! `limit` (`fw_common::limit`): new connections per source address.

use aya_ebpf::helpers::bpf_ktime_get_coarse_ns;
use fw_common::{
    Direction,
    limit::{LIMIT_SLOTS, LimitEntry, LimitKey},
};

use crate::{
    maps::{CONFIG, LIMIT},
    parse::Packet,
};

/// Records a new connection of `pkt`'s peer (the source of an incoming or
/// forwarded packet, the destination of an outgoing one) and says whether it is
/// over the rate: the one that makes `limit_hits` within `limit_window_s`.
#[inline(always)]
pub fn over(pkt: &Packet, dir: Direction) -> bool {
    let (hits, window_s) = match CONFIG.get(0) {
        Some(c) => (c.limit_hits, c.limit_window_s),
        None => return false,
    };
    let key = LimitKey {
        family: pkt.family,
        _pad: [0; 3],
        addr: if dir == Direction::Out {
            pkt.dst
        } else {
            pkt.src
        },
    };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let window = u64::from(window_s) * 1_000_000_000;
    let Some(e) = LIMIT.get_ptr_mut(&key) else {
        let mut e = LimitEntry::default();
        e.stamps[0] = now;
        e.count = 1;
        let _ = LIMIT.insert(&key, &e, 0);
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

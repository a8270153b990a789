//! Counters: per reason/direction/verdict (`STATS`) and per rule (`RULE_STATS`).
//!
//! Both are per-CPU arrays of [`Counter`]; readers sum over CPUs. Bytes are
//! whole frames as the hook sees them (with the Ethernet header).

use crate::{Direction, Reason, Verdict, assert_size, pod};

/// Packets and bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted.
    pub bytes: u64,
}
assert_size!(Counter, 16);
pod!(Counter);

/// Reasons the `STATS` array has room for (more than [`Reason::COUNT`], so
/// new reasons do not change the map's size).
pub const REASON_SLOTS: usize = 64;

/// Entries of `STATS`.
pub const STATS_ENTRIES: u32 = (REASON_SLOTS * Direction::COUNT * Verdict::COUNT) as u32;

/// Index into `STATS` for a reason, direction and verdict.
#[inline(always)]
#[must_use]
pub const fn stats_index(reason: Reason, dir: Direction, verdict: Verdict) -> u32 {
    ((reason as u32 * Direction::COUNT as u32 + dir as u32) * Verdict::COUNT as u32)
        + verdict as u32
}

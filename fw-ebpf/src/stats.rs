//! Counting: every verdict is counted under its reason, direction and
//! verdict, and under the rule that decided it, if any.

use fw_common::{Direction, Reason, Verdict, stats::stats_index};

use crate::maps::{RULE_STATS, STATS};

/// Adds one packet of `len` bytes to the reason counter and, when a rule
/// decided, to that rule's counter.
#[inline(always)]
pub fn count(reason: Reason, dir: Direction, verdict: Verdict, rule: Option<u32>, len: u64) {
    if let Some(c) = STATS.get_ptr_mut(stats_index(reason, dir, verdict)) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe {
            (*c).packets += 1;
            (*c).bytes += len;
        }
    }
    if let Some(id) = rule
        && let Some(c) = RULE_STATS.get_ptr_mut(id)
    {
        // SAFETY: as above.
        unsafe {
            (*c).packets += 1;
            (*c).bytes += len;
        }
    }
}

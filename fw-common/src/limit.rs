//! `limit`, as ufw's (`-m recent --set` then `--update --seconds 30
//! --hitcount 6`): every new connection a `limit` rule matches is recorded
//! for its source address (/32 or /128), the current one included; the one
//! that makes [`DEFAULT_HITS`] within [`DEFAULT_WINDOW_S`] seconds is refused,
//! and refused attempts are recorded too (so a source that keeps trying
//! stays refused). One table for all `limit` rules, as ufw's. Packets of
//! established flows are never limited.

use crate::{assert_size, pod};

/// Timestamps kept per source (the most `hits` can be).
pub const LIMIT_SLOTS: usize = 8;
/// ufw's hit count.
pub const DEFAULT_HITS: u32 = 6;
/// ufw's window in seconds.
pub const DEFAULT_WINDOW_S: u32 = 30;
/// Sources remembered (an LRU hash: the least recently seen go first).
pub const LIMIT_ENTRIES: u32 = 65_536;

/// Key of `LIMIT`: a source address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitKey {
    /// [`crate::Family`] as `u8`.
    pub family: u8,
    /// Explicit padding, always zero.
    pub _pad: [u8; 3],
    /// The address, network-order words (IPv4 in word 0).
    pub addr: [u32; 4],
}
assert_size!(LimitKey, 20);

/// Value of `LIMIT`: the source's latest attempts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitEntry {
    /// `bpf_ktime_get_coarse_ns` of the latest attempts, a ring.
    pub stamps: [u64; LIMIT_SLOTS],
    /// Attempts recorded so far (the ring's next slot is `count % SLOTS`).
    pub count: u64,
}
assert_size!(LimitEntry, 72);
pod!(LimitKey, LimitEntry);

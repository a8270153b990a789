//! Drop logs: what the data plane tells userspace about a packet it logs,
//! and how often it may (ufw's logging levels and rate limits).
//!
//! The data plane decides whether a packet is logged (the level in
//! `Config::log_level`, the deciding rule's `log` / `log-all`, and a token
//! bucket per log source), then writes one [`LogEvent`] with the frame's
//! first [`LOG_CAPTURE`] bytes to the `LOGS` ring buffer; the daemon formats
//! it as ufw's line. A flood can never flood userspace: every source is
//! limited in the kernel (ufw's `-m limit --limit 3/min --limit-burst 10`,
//! `[UFW LIMIT BLOCK]` burst 5; none at `full`, and none for policy and
//! invalid lines at `high`), and what the limits suppress is counted in
//! `LOG_STATS`.
//!
//! What each level logs (ufw's table, see ufw-reference 2.6):
//!
//! ```text
//! off     nothing, not even `log` rules
//! low     [UFW BLOCK] packets a deny/reject policy drops; `log` rules
//!         ([UFW ALLOW] / [UFW BLOCK]); [UFW LIMIT BLOCK]
//! medium  low + [UFW ALLOW] packets an allow policy passes,
//!         [UFW AUDIT INVALID] packets dropped as invalid,
//!         [UFW AUDIT] every new packet (not of a tracked flow), limited
//!         per direction
//! high    medium, policy and invalid lines without rate limit, and
//!         [UFW AUDIT] for every packet (established ones too), limited
//! full    everything without rate limit
//! ```
//!
//! A packet may give two lines, as in ufw: `[UFW AUDIT]` (ufw's
//! before-logging chains) and then its verdict's line.

use crate::{assert_size, pod, rules::MAX_RULES};

/// Bytes of the frame an event carries (Ethernet, IP and transport headers
/// of every packet fw logs).
pub const LOG_CAPTURE: usize = 128;

/// One logged packet (a `LOGS` ring-buffer record).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// [`LogKind`] as `u8`.
    pub kind: u8,
    /// [`crate::Direction`] as `u8`.
    pub dir: u8,
    /// Explicit padding, always zero.
    pub _pad: [u8; 2],
    /// The interface it came in on (0: sent by the host).
    pub ifindex: u32,
    /// The interface it leaves by (0: for the host).
    pub oifindex: u32,
    /// The frame's length.
    pub len: u32,
    /// Bytes of `data` that hold the frame's start.
    pub caplen: u32,
    /// The frame's first bytes (from the Ethernet header).
    pub data: [u8; LOG_CAPTURE],
}
assert_size!(LogEvent, 20 + LOG_CAPTURE);
pod!(LogEvent);

/// What a line says, as ufw's prefixes.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// `[UFW BLOCK]`.
    Block = 1,
    /// `[UFW ALLOW]`.
    Allow = 2,
    /// `[UFW LIMIT BLOCK]`.
    LimitBlock = 3,
    /// `[UFW AUDIT INVALID]`.
    AuditInvalid = 4,
    /// `[UFW AUDIT]`.
    Audit = 5,
}

impl LogKind {
    /// The kind with number `v`, if any.
    #[must_use]
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Block),
            2 => Some(Self::Allow),
            3 => Some(Self::LimitBlock),
            4 => Some(Self::AuditInvalid),
            5 => Some(Self::Audit),
            _ => None,
        }
    }

    /// ufw's word inside the brackets: `BLOCK`, `ALLOW`, `LIMIT BLOCK`,
    /// `AUDIT INVALID`, `AUDIT` (the prefix is `[UFW ` + word + `]` by default).
    #[must_use]
    pub const fn word(self) -> &'static str {
        match self {
            Self::Block => "BLOCK",
            Self::Allow => "ALLOW",
            Self::LimitBlock => "LIMIT BLOCK",
            Self::AuditInvalid => "AUDIT INVALID",
            Self::Audit => "AUDIT",
        }
    }
}

/// `Config::log_level`: off.
pub const LOG_OFF: u32 = 0;
/// low (ufw's default).
pub const LOG_LOW: u32 = 1;
/// medium.
pub const LOG_MEDIUM: u32 = 2;
/// high.
pub const LOG_HIGH: u32 = 3;
/// full.
pub const LOG_FULL: u32 = 4;

/// A rule entry's action byte carries the rule's log type above this bit:
/// `action | log << RULE_LOG_SHIFT`.
pub const RULE_LOG_SHIFT: u32 = 4;
/// Rule log type: `log` (new connections).
pub const RULE_LOG: u8 = 1;
/// Rule log type: `log-all` (every packet the rule decides).
pub const RULE_LOG_ALL: u8 = 2;

/// Token buckets (`LOG_BUCKETS`): one per rule id, then these.
pub const BUCKET_POLICY: u32 = MAX_RULES;
/// Invalid packets, per direction (after the three policy buckets).
pub const BUCKET_INVALID: u32 = MAX_RULES + 3;
/// `[UFW LIMIT BLOCK]`.
pub const BUCKET_LIMIT: u32 = MAX_RULES + 6;
/// `[UFW AUDIT]`, per direction.
pub const BUCKET_AUDIT: u32 = MAX_RULES + 7;
/// Entries of `LOG_BUCKETS`.
pub const LOG_BUCKETS_ENTRIES: u32 = MAX_RULES + 10;

/// The bit of a hook's log byte that asks for a `[UFW AUDIT]` line before
/// the line of the kind in the low bits.
pub const LOG_AUDIT_BIT: u8 = 0x80;

/// ufw's rate: 3 per minute, one token every 20 s.
pub const LOG_INTERVAL_NS: u64 = 20_000_000_000;
/// ufw's burst for log rules, policy and invalid lines.
pub const LOG_BURST: u64 = 10;
/// ufw's burst for `[UFW LIMIT BLOCK]`.
pub const LIMIT_LOG_BURST: u64 = 5;

/// Size of the `LOGS` ring buffer in bytes (a power of two of pages).
pub const LOGS_BYTES: u32 = 1 << 18;

/// `LOG_STATS` index: events written.
pub const LOG_STAT_WRITTEN: u32 = 0;
/// `LOG_STATS` index: lines a rate limit suppressed.
pub const LOG_STAT_SUPPRESSED: u32 = 1;
/// `LOG_STATS` index: events lost because the ring buffer was full.
pub const LOG_STAT_LOST: u32 = 2;
/// Entries of `LOG_STATS` (a per-CPU array of `u64`).
pub const LOG_STATS_ENTRIES: u32 = 4;

/// One GCRA step of a bucket holding its theoretical arrival time `tat`:
/// the new `tat` if a line may go out at `now`, None if the bucket is
/// empty (`burst` lines at once, then one per `interval`).
#[inline(always)]
#[must_use]
pub const fn bucket_take(tat: u64, now: u64, interval: u64, burst: u64) -> Option<u64> {
    let t = if tat > now { tat } else { now };
    if t - now > (burst - 1) * interval {
        None
    } else {
        Some(t + interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_the_burst_through_then_one_per_interval() {
        let mut tat = 0u64;
        let mut now = 1_000u64;
        let mut passed = 0;
        for _ in 0..15 {
            if let Some(t) = bucket_take(tat, now, LOG_INTERVAL_NS, LOG_BURST) {
                tat = t;
                passed += 1;
            }
        }
        assert_eq!(passed, 10, "the burst");
        now += LOG_INTERVAL_NS;
        assert!(
            bucket_take(tat, now, LOG_INTERVAL_NS, LOG_BURST).is_some(),
            "one token back"
        );
        tat = bucket_take(tat, now, LOG_INTERVAL_NS, LOG_BURST).unwrap();
        assert!(bucket_take(tat, now, LOG_INTERVAL_NS, LOG_BURST).is_none());
    }
}

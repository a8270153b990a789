//! Drop logs (`fw_common::log`): whether a decision is logged (level, the
//! rule's `log` / `log-all`, the source's token bucket) and the event the
//! hook writes to the `LOGS` ring buffer.

use aya_ebpf::{
    helpers::{bpf_ktime_get_coarse_ns, bpf_skb_load_bytes, bpf_xdp_load_bytes},
    programs::{TcContext, XdpContext},
};
use fw_common::{
    Direction, Reason, Verdict,
    log::{
        BUCKET_INVALID, BUCKET_LIMIT, BUCKET_POLICY, LIMIT_LOG_BURST, LOG_BURST, LOG_CAPTURE,
        LOG_FULL, LOG_HIGH, LOG_INTERVAL_NS, LOG_MEDIUM, LOG_OFF, LOG_STAT_LOST,
        LOG_STAT_SUPPRESSED, LOG_STAT_WRITTEN, LogKind, bucket_take,
    },
};

use crate::{
    maps::{CONFIG, LOG_BUCKETS, LOG_STATS, LOGS},
    policy::Decision,
};

#[inline(always)]
fn bump(i: u32) {
    if let Some(c) = LOG_STATS.get_ptr_mut(i) {
        // SAFETY: this CPU's slot of a per-CPU array.
        unsafe { *c += 1 };
    }
}

/// Takes a token from bucket `b` (false: the bucket is empty).
#[inline(always)]
fn take(b: u32, burst: u64) -> bool {
    let Some(t) = LOG_BUCKETS.get_ptr_mut(b) else {
        return false;
    };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    // SAFETY: a value of our array; a race between CPUs can let one more
    // line through, never read out of bounds.
    unsafe {
        match bucket_take(*t, now, LOG_INTERVAL_NS, burst) {
            Some(n) => {
                *t = n;
                true
            }
            None => false,
        }
    }
}

/// The [`LogKind`] (as `u8`, 0: none) of decision `d` in `dir`, its rate
/// limit taken.
#[inline(always)]
pub fn judge(d: &Decision, dir: Direction) -> u8 {
    let Some(cfg) = CONFIG.get(0) else {
        return 0;
    };
    let level = cfg.log_level;
    if level == LOG_OFF {
        return 0;
    }
    let pass = d.verdict == Verdict::Pass;
    let (kind, bucket, limited, burst) = match d.reason {
        Reason::Rule if d.log != 0 => (
            if pass { LogKind::Allow } else { LogKind::Block },
            d.rule.unwrap_or(0),
            level < LOG_FULL,
            LOG_BURST,
        ),
        Reason::Limit => (
            LogKind::LimitBlock,
            BUCKET_LIMIT,
            level < LOG_FULL,
            LIMIT_LOG_BURST,
        ),
        Reason::Policy if !pass => (
            LogKind::Block,
            BUCKET_POLICY + dir as u32,
            level < LOG_HIGH,
            LOG_BURST,
        ),
        Reason::Policy if level >= LOG_MEDIUM => (
            LogKind::Allow,
            BUCKET_POLICY + dir as u32,
            level < LOG_HIGH,
            LOG_BURST,
        ),
        Reason::Invalid if level >= LOG_MEDIUM => (
            LogKind::AuditInvalid,
            BUCKET_INVALID + dir as u32,
            level < LOG_HIGH,
            LOG_BURST,
        ),
        _ => return 0,
    };
    if limited && !take(bucket, burst) {
        bump(LOG_STAT_SUPPRESSED);
        return 0;
    }
    kind as u8
}

/// A hook's frame, as the event's bytes are copied from it.
pub trait Capture {
    /// Copies the frame's first `n` bytes (1..=LOG_CAPTURE) to `dst`.
    fn load(&self, dst: *mut u8, n: u32) -> bool;
}

impl Capture for XdpContext {
    #[inline(always)]
    fn load(&self, dst: *mut u8, n: u32) -> bool {
        // SAFETY: `dst` has room for LOG_CAPTURE bytes, `n` is at most that.
        unsafe { bpf_xdp_load_bytes(self.ctx, 0, dst.cast(), n) == 0 }
    }
}

impl Capture for TcContext {
    #[inline(always)]
    fn load(&self, dst: *mut u8, n: u32) -> bool {
        // SAFETY: as above.
        unsafe { bpf_skb_load_bytes(self.skb.skb.cast(), 0, dst.cast(), n) == 0 }
    }
}

/// Writes the event of a logged packet of `len` bytes: `what` is its
/// [`LogKind`] (from [`judge`]) and, shifted by 8, the [`Direction`] it was
/// seen in (see [`what`]), on `ifindex` (forwarded: leaving by
/// `oifindex`). A function of its own (a BPF-to-BPF call): the hooks call
/// it only for the packets they log, and its locals stay off their stack.
#[inline(never)]
pub fn emit<C: Capture>(ctx: &C, what: u32, ifindex: u32, oifindex: u32, len: u32) {
    let kind = what as u8;
    let dir = (what >> 8) as u8;
    let Some(mut entry) = LOGS.reserve(0) else {
        bump(LOG_STAT_LOST);
        return;
    };
    let e = entry.as_mut_ptr();
    let inbound = dir != Direction::Out as u8;
    let n = if len < LOG_CAPTURE as u32 {
        len
    } else {
        LOG_CAPTURE as u32
    };
    // SAFETY: `e` points at a reserved record of size_of::<LogEvent>().
    unsafe {
        (*e).kind = kind;
        (*e).dir = dir;
        (*e)._pad = [0; 2];
        (*e).ifindex = if inbound { ifindex } else { 0 };
        (*e).oifindex = if inbound { oifindex } else { ifindex };
        (*e).len = len;
        (*e).caplen = n;
        if n == 0 || !ctx.load((*e).data.as_mut_ptr(), n) {
            (*e).caplen = 0;
        }
    }
    entry.submit(0);
    bump(LOG_STAT_WRITTEN);
}

/// [`emit`]'s `what`: the kind and the direction in one word.
#[inline(always)]
pub fn what(kind: u8, dir: Direction) -> u32 {
    u32::from(kind) | (dir as u32) << 8
}

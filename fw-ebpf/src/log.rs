//! Drop logs (`fw_common::log`): whether a decision is logged (level, the
//! rule's `log` / `log-all`, the source's token bucket) and the event the
//! hook writes to the `LOGS` ring buffer.

use aya_ebpf::{
    helpers::{bpf_ktime_get_coarse_ns, bpf_skb_load_bytes, bpf_xdp_load_bytes},
    programs::{SkBuffContext, TcContext, XdpContext},
};
use fw_common::ipproto::{TCP as IPPROTO_TCP, UDP as IPPROTO_UDP};
use fw_common::{
    Direction, Family, Reason, Verdict,
    log::{
        BUCKET_AUDIT, BUCKET_INVALID, BUCKET_LIMIT, BUCKET_POLICY, LIMIT_LOG_BURST, LOG_AUDIT_BIT,
        LOG_BURST, LOG_CAPTURE, LOG_FULL, LOG_HIGH, LOG_INTERVAL_NS, LOG_MEDIUM, LOG_OFF,
        LOG_STAT_LOST, LOG_STAT_SUPPRESSED, LOG_STAT_WRITTEN, LogKind, bucket_take,
    },
};

use crate::{
    maps::{CONFIG, LOG_BUCKETS, LOG_STATS, LOGS, SCRATCH},
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

/// Takes a token for a line from `bucket` (a rate limit applies when
/// `limited`), counting a suppressed line.
#[inline(always)]
fn allowed(limited: bool, bucket: u32, burst: u64) -> bool {
    if limited && !take(bucket, burst) {
        bump(LOG_STAT_SUPPRESSED);
        return false;
    }
    true
}

/// `[UFW AUDIT]` for a packet seen in `dir` at `level` (medium and up):
/// [`LOG_AUDIT_BIT`] or 0. Limited at every level but `full`.
#[inline(always)]
fn audit(level: u32, dir: Direction) -> u8 {
    if level >= LOG_MEDIUM && allowed(level < LOG_FULL, BUCKET_AUDIT + dir as u32, LOG_BURST) {
        LOG_AUDIT_BIT
    } else {
        0
    }
}

/// ufw's after.rules and after6.rules: incoming NetBIOS (137/udp,
/// 138/udp, 139/tcp, 445/tcp), DHCP (67/udp, 68/udp; IPv6 546/udp,
/// 547/udp) and IPv4 limited-broadcast (255.255.255.255) packets meet the
/// default policy without a line. Reads the packet from the scratch slot
/// (a function without captures: the hooks' stacks are full); never for
/// a flow decided again after a rule change.
#[inline(always)]
pub fn after_rules() -> bool {
    let Some(slot) = SCRATCH.get(0) else {
        return false;
    };
    // A flow decided again after a rule change: the slot holds its
    // opening packet, not this one (and ufw's after rules see only new
    // packets' policy).
    if !crate::conntrack::decided_new() {
        return false;
    }
    let pkt = &slot.pkt;
    let v6 = pkt.family == Family::V6 as u8;
    if pkt.has_ports != 0 && pkt.fragment == 0 {
        let d = pkt.dport;
        if pkt.proto == IPPROTO_UDP
            && (d == 137 || d == 138 || if v6 { d == 546 || d == 547 } else { d == 67 || d == 68 })
        {
            return true;
        }
        if pkt.proto == IPPROTO_TCP && (d == 139 || d == 445) {
            return true;
        }
    }
    !v6 && pkt.dst[0] == u32::MAX
}

/// The log byte of decision `d` in `dir`: the [`LogKind`] (0: none) of its
/// line, its rate limit taken, with [`LOG_AUDIT_BIT`] for a new packet at
/// medium and up. `new` says whether the packet is new (not of a tracked
/// flow; a flow decided again after a rule change is not new); `quiet`
/// whether an incoming packet the policy decides has no line (ufw's
/// after.rules, [`after_rules`]).
#[inline(always)]
pub fn judge(
    d: &Decision,
    dir: Direction,
    new: impl FnOnce() -> bool,
    quiet: impl FnOnce() -> bool,
) -> u8 {
    let Some(cfg) = CONFIG.get(0) else {
        return 0;
    };
    let level = cfg.log_level;
    if level == LOG_OFF {
        return 0;
    }
    let audit =
        if level >= LOG_HIGH || (level >= LOG_MEDIUM && d.reason != Reason::Invalid && new()) {
            audit(level, dir)
        } else {
            0
        };
    let pass = d.verdict == Verdict::Pass;
    if d.reason == Reason::Policy && dir == Direction::In && quiet() {
        return audit;
    }
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
        _ => return audit,
    };
    if !allowed(limited, bucket, burst) {
        return audit;
    }
    audit | kind as u8
}

/// The log byte of a packet of a live flow (established or related),
/// whose line is `[UFW AUDIT]` at `high` and `full` only. `maybe`: false
/// when the caller already knows the level is lower (the established fast
/// path reads it once, in the flow check), so the config is not read again.
#[inline(always)]
pub fn established(maybe: bool, dir: Direction) -> u8 {
    if !maybe {
        return 0;
    }
    match CONFIG.get(0) {
        Some(cfg) if cfg.log_level >= LOG_HIGH => audit(cfg.log_level, dir),
        _ => 0,
    }
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

/// A cgroup hook's packet (from the IP header): the event's frame gets an
/// Ethernet header without addresses in front (the log line of a packet
/// the host sends names no MAC).
impl Capture for SkBuffContext {
    #[inline(always)]
    fn load(&self, dst: *mut u8, n: u32) -> bool {
        if n <= 14 {
            return false;
        }
        // SAFETY: the skb of this invocation.
        let proto = unsafe { (*self.skb.skb).protocol } as u16;
        // SAFETY: `dst` has room for LOG_CAPTURE (> 14) bytes; `n` is at
        // most that.
        unsafe {
            core::ptr::write_bytes(dst, 0, 12);
            *dst.add(12).cast::<[u8; 2]>() = proto.to_ne_bytes();
            bpf_skb_load_bytes(self.skb.skb.cast(), 0, dst.add(14).cast(), n - 14) == 0
        }
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
fn what(kind: u8, dir: Direction) -> u32 {
    u32::from(kind) | (dir as u32) << 8
}

/// Writes the lines of log byte `log` (from [`judge`] or [`established`]):
/// `[UFW AUDIT]` first when asked, then the decision's line (see [`emit`]).
#[inline(always)]
pub fn emit_all<C: Capture>(
    ctx: &C,
    log: u8,
    dir: Direction,
    ifindex: u32,
    oifindex: u32,
    len: u32,
) {
    if log & LOG_AUDIT_BIT != 0 {
        emit(ctx, what(LogKind::Audit as u8, dir), ifindex, oifindex, len);
    }
    let kind = log & !LOG_AUDIT_BIT;
    if kind != 0 {
        emit(ctx, what(kind, dir), ifindex, oifindex, len);
    }
}

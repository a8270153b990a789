//! The host's own packets at the socket's side of the stack (cgroup_skb
//! egress), so that a send the rules deny fails at once, as under ufw
//! (iptables' OUTPUT DROP makes `sendmsg` return EPERM; a denied TCP
//! connect then times out, as there).
//!
//! TC egress stays the filter of every packet the host sends; this hook
//! only takes the packets it would drop at once, before they get there:
//! one of this instance's network namespace (its cookie), leaving by an
//! interface fw protects (`fw_common::config::CONFIG_LOCAL_EPERM`: all
//! but loopback), that no flow, half-open flow or built-in rule can
//! decide (`conntrack::may_track_out`), and that the rules drop: `deny`,
//! or `reject` but for TCP (a rejected TCP segment is answered by TC
//! egress with a RST; ufw's REJECT of a datagram also ends in EPERM). Such
//! a packet is counted and logged here as TC egress would, and dropped:
//! the kernel hands the socket EPERM. Everything else passes on to TC.
//!
//! This program runs in process context, where a softirq on the same CPU
//! may run fw's other programs in between: it keeps the packet on its own
//! stack, never in the scratch slot. (Its counter increments are plain
//! read-add-writes of this CPU's slots, as everywhere in fw: the BPF
//! target has no atomic add in Rust. A softirq counting under the same
//! reason in the very instructions between its read and its write would
//! lose one count.)

use aya_ebpf::{helpers::bpf_get_netns_cookie, programs::SkBuffContext};
use fw_common::{
    Direction, Reason, Verdict, config::CONFIG_LOCAL_EPERM, ipproto::TCP as IPPROTO_TCP,
};

use crate::{conntrack, log, maps::CONFIG, parse, policy, stats};

/// The loopback device's index in every namespace (never protected).
const LOOPBACK: u32 = 1;

/// True when the rules deny the host's packet in `ctx` outright (it has
/// been counted and logged): the hook drops it.
#[inline(always)]
pub fn denied(ctx: &SkBuffContext) -> bool {
    let Some(cfg) = CONFIG.get(0) else {
        return false;
    };
    if cfg.flags & CONFIG_LOCAL_EPERM == 0 {
        return false;
    }
    // SAFETY: a helper taking the hook's context.
    if unsafe { bpf_get_netns_cookie(ctx.skb.skb.cast()) } != cfg.netns_cookie {
        return false;
    }
    // SAFETY: ctx.skb.skb is the kernel's __sk_buff for this invocation.
    let (ifindex, proto, len, start, end) = unsafe {
        let s = &*ctx.skb.skb;
        (
            s.ifindex,
            s.protocol as u16,
            s.len,
            s.data as usize,
            s.data_end as usize,
        )
    };
    if ifindex == LOOPBACK {
        return false;
    }
    let parse::Parsed::Ip(pkt) = parse::parse_l3(start, end, u16::from_be(proto))
    else {
        return false;
    };
    if conntrack::may_track_out(&pkt, cfg) {
        return false;
    }
    let d = policy::decide(&pkt, Direction::Out as usize, ifindex, 0);
    // A rejected TCP segment is answered by TC egress (the connect is
    // refused, as ufw's); other rejected sends fail with EPERM here, as
    // under ufw (REJECT in OUTPUT drops the packet: the send gets EPERM).
    let answered = d.reject && pkt.proto == IPPROTO_TCP;
    if d.verdict != Verdict::Drop || answered || !matches!(d.reason, Reason::Rule | Reason::Policy)
    {
        return false;
    }
    // Counted as TC egress counts frames: with the Ethernet header.
    let frame = len + 14;
    stats::count(d.reason, Direction::Out, Verdict::Drop, d.rule, u64::from(frame));
    let line = log::judge(&d, Direction::Out, || true, || false);
    if line != 0 {
        log::emit_all(ctx, line, Direction::Out, ifindex, 0, frame);
    }
    true
}

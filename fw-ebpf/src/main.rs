//! fw's data plane: thin entry points over a parse -> decide -> count core.
//!
//! `fw_xdp` filters what arrives on a protected interface (direction `in`,
//! or `fwd` when the host will forward it, see `route`), `fw_tc_egress`
//! what the host sends out of it (direction `out`). Both run [`core::run`] on
//! the frame and translate its [`fw_common::Verdict`] into their hook's
//! return code. `fw_tc_ingress` only answers the rejects `fw_xdp` decided
//! (`reject`); `fw_cgroup_egress` refuses the host's sends that the rules
//! deny outright, with EPERM, before TC egress would drop them (`local`). Nothing here may panic: a reachable panic gets the program
//! rejected by the verifier.
#![no_std]
#![no_main]

mod builtins;
mod conntrack;
mod core;
mod limit;
mod local;
mod log;
mod maps;
mod parse;
mod policy;
mod reject;
mod route;
mod scratch;
mod stats;

use aya_ebpf::{
    bindings::{BPF_F_INGRESS, TC_ACT_SHOT, TC_ACT_UNSPEC, xdp_action},
    helpers::bpf_redirect,
    macros::{cgroup_skb, classifier, xdp},
    programs::{SkBuffContext, TcContext, XdpContext},
};
use fw_common::{Direction, Verdict};

/// XDP ingress: every frame received on a protected interface.
#[xdp]
pub fn fw_xdp(ctx: XdpContext) -> u32 {
    // SAFETY: ctx.ctx is the kernel's xdp_md for this invocation.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    let route = || route::out_ifindex(ctx.ctx.cast(), ifindex);
    let o = core::run(ctx.data(), ctx.data_end(), Direction::In, ifindex, route);
    // Logged before a reject rewrites the frame.
    if o.log != 0 {
        let len = (ctx.data_end() - ctx.data()) as u32;
        log::emit_all(&ctx, o.log, o.dir, ifindex, o.oifindex, len);
    }
    match (o.verdict, o.answer) {
        (Verdict::Pass, _) => xdp_action::XDP_PASS,
        (Verdict::Drop, core::Answer::None) => xdp_action::XDP_DROP,
        // Answered by `fw_tc_ingress` (see `fw_common::answer`).
        (Verdict::Drop, a) if reject::mark(&ctx, a == core::Answer::ResetOrIcmp) => {
            xdp_action::XDP_PASS
        }
        (Verdict::Drop, _) => xdp_action::XDP_DROP,
    }
}

/// TC (tcx) ingress: answers the packets `fw_xdp` marked for a reject
/// (`fw_common::answer`), sending the answer back out of the interface;
/// everything else goes on untouched.
#[classifier]
pub fn fw_tc_ingress(ctx: TcContext) -> i32 {
    let Some(reset) = reject::marked(&ctx) else {
        return TC_ACT_UNSPEC;
    };
    let len = ctx.len();
    let want = if len < 128 { len } else { 128 };
    if ctx.data_end() - ctx.data() < want as usize {
        let _ = ctx.pull_data(want);
    }
    let (start, end) = (ctx.data(), ctx.data_end());
    // The answer is built from the packet in the scratch slot.
    let parse::Parsed::Ip(pkt) = parse::parse(start, end) else {
        return TC_ACT_SHOT;
    };
    if scratch::launder(&pkt, start, end).is_none() || !reject::answer(&ctx, reset) {
        return TC_ACT_SHOT;
    }
    // SAFETY: ctx.skb.skb is the kernel's __sk_buff for this invocation.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    // SAFETY: a helper with plain arguments; 0: out of the interface.
    unsafe { bpf_redirect(ifindex, 0) as i32 }
}

/// TC (tcx) egress: every frame sent out of a protected interface.
/// Passing returns `TCX_NEXT` (no opinion) so programs after fw still run.
/// Forwarded packets (received on an interface, so with an ingress index)
/// were decided by the route rules where they came in; ufw's output rules
/// never see them. One whose forwarded flow is not tracked (a port
/// published by DNAT) opens it here (`conntrack::forwarded_out`).
#[classifier]
pub fn fw_tc_egress(ctx: TcContext) -> i32 {
    // Make sure the headers we parse are in the linear part of the skb
    // (a forwarded packet's too: `forwarded_out` parses it).
    let len = ctx.len();
    let want = if len < 128 { len } else { 128 };
    if ctx.data_end() - ctx.data() < want as usize {
        let _ = ctx.pull_data(want);
    }
    // SAFETY: ctx.skb.skb is the kernel's __sk_buff for this invocation.
    if unsafe { (*ctx.skb.skb).ingress_ifindex } != 0 {
        conntrack::forwarded_out(ctx.data(), ctx.data_end());
        return TC_ACT_UNSPEC;
    }
    // SAFETY: ctx.skb.skb is the kernel's __sk_buff for this invocation.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let o = egress_decide(ctx.data(), ctx.data_end(), ifindex);
    if o.log != 0 {
        log::emit_all(&ctx, o.log, o.dir, ifindex, 0, ctx.len());
    }
    match (o.verdict, o.answer) {
        (Verdict::Pass, _) => TC_ACT_UNSPEC,
        (Verdict::Drop, core::Answer::None) => TC_ACT_SHOT,
        // `reject out`: the answer goes to the host's own receive path.
        (Verdict::Drop, a) if reject::answer(&ctx, a == core::Answer::ResetOrIcmp) => {
            // SAFETY: a helper with plain arguments.
            unsafe { bpf_redirect(ifindex, u64::from(BPF_F_INGRESS)) as i32 }
        }
        (Verdict::Drop, _) => TC_ACT_SHOT,
    }
}

/// cgroup_skb egress: the host's own packets before they reach an
/// interface; those the rules deny outright are dropped here, so the
/// sender gets EPERM (`local`). 1 passes the packet on (to TC egress).
#[cgroup_skb(egress)]
pub fn fw_cgroup_egress(ctx: SkBuffContext) -> i32 {
    i32::from(!local::denied(&ctx))
}

/// [`core::run`] for `fw_tc_egress`, a subprogram of its own: the
/// classifier's locals are gone from the stack by the time the hook calls
/// `reject::answer` (the verifier sums the frames of a call chain, at most
/// 512 bytes).
#[inline(never)]
fn egress_decide(start: usize, end: usize, ifindex: u32) -> core::Outcome {
    core::run(start, end, Direction::Out, ifindex, || 0)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &::core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

//! fw's data plane: thin entry points over a parse -> decide -> count core.
//!
//! `fw_xdp` filters what arrives on a protected interface (direction `in`,
//! or `fwd` when the host will forward it, see `route`), `fw_tc_egress`
//! what the host sends out of it (direction `out`). Both run [`core::run`] on
//! the frame and translate its [`fw_common::Verdict`] into their hook's
//! return code. Nothing here may panic: a reachable panic gets the program
//! rejected by the verifier.
#![no_std]
#![no_main]

mod builtins;
mod conntrack;
mod core;
mod limit;
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
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
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
        (Verdict::Drop, a) if reject::answer(&ctx, a == core::Answer::ResetOrIcmp) => {
            xdp_action::XDP_TX
        }
        (Verdict::Drop, _) => xdp_action::XDP_DROP,
    }
}

/// TC (tcx) egress: every frame sent out of a protected interface.
/// Passing returns `TCX_NEXT` (no opinion) so programs after fw still run.
/// Forwarded packets (received on an interface, so with an ingress index)
/// were decided by the route rules where they came in; ufw's output rules
/// never see them.
#[classifier]
pub fn fw_tc_egress(ctx: TcContext) -> i32 {
    // SAFETY: ctx.skb.skb is the kernel's __sk_buff for this invocation.
    if unsafe { (*ctx.skb.skb).ingress_ifindex } != 0 {
        return TC_ACT_UNSPEC;
    }
    // Make sure the headers we parse are in the linear part of the skb.
    let len = ctx.len();
    let want = if len < 128 { len } else { 128 };
    if ctx.data_end() - ctx.data() < want as usize {
        let _ = ctx.pull_data(want);
    }
    // SAFETY: ctx.skb.skb is the kernel's __sk_buff for this invocation.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let o = core::run(ctx.data(), ctx.data_end(), Direction::Out, ifindex, || 0);
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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &::core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

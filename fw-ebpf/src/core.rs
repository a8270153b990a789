//! The core shared by both hooks: parse the frame, decide (flows first,
//! then the rules), count.

use fw_common::{Direction, Reason, Verdict};

use crate::{
    conntrack,
    parse::{self, Parsed},
    scratch, stats,
};

/// Classifies the frame between `start` and `end` seen in direction `dir` on
/// interface `ifindex`, counts it, and returns the verdict, and for a drop
/// whether it is a `reject` (the hook may answer on the wire).
#[inline(always)]
pub fn run(start: usize, end: usize, dir: Direction, ifindex: u32) -> (Verdict, bool) {
    let len = (end - start) as u64;
    match parse::parse(start, end) {
        Parsed::Ip(pkt) => {
            // Hides the parser's path from the verifier (fw_common::scratch).
            let Some(pkt) = scratch::launder(&pkt) else {
                stats::count(Reason::NoRuleset, dir, Verdict::Pass, None, len);
                return (Verdict::Pass, false);
            };
            let d = conntrack::filter(&pkt, dir, ifindex);
            let reason = if pkt.fragment != 0 && matches!(d.reason, Reason::Rule | Reason::Policy) {
                Reason::Fragment
            } else {
                d.reason
            };
            stats::count(reason, dir, d.verdict, d.rule, len);
            (d.verdict, d.reject)
        }
        Parsed::Pass(reason) => {
            stats::count(reason, dir, Verdict::Pass, None, len);
            (Verdict::Pass, false)
        }
        Parsed::Drop(reason) => {
            stats::count(reason, dir, Verdict::Drop, None, len);
            (Verdict::Drop, false)
        }
    }
}

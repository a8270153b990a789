//! The core shared by both hooks: parse the frame, decide (flows first,
//! then the rules), count.

use fw_common::{Direction, Reason, Verdict};

use crate::{
    conntrack,
    parse::{self, Parsed},
    scratch, stats,
};

/// How a dropped packet is answered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Not at all.
    None,
    /// TCP with a reset, others with ICMP port-unreachable.
    ResetOrIcmp,
    /// ICMP port-unreachable.
    Icmp,
}

/// Classifies the frame between `start` and `end` seen in direction `dir` on
/// interface `ifindex`, counts it, and returns the verdict, and for a drop
/// how a drop may be answered on the wire.
#[inline(always)]
pub fn run(start: usize, end: usize, dir: Direction, ifindex: u32) -> (Verdict, Answer) {
    let len = (end - start) as u64;
    match parse::parse(start, end) {
        Parsed::Ip(pkt) => {
            // Hides the parser's path from the verifier (fw_common::scratch).
            let Some(pkt) = scratch::launder(&pkt) else {
                stats::count(Reason::NoRuleset, dir, Verdict::Pass, None, len);
                return (Verdict::Pass, Answer::None);
            };
            let d = conntrack::filter(&pkt, dir, ifindex);
            let reason = if pkt.fragment != 0 && matches!(d.reason, Reason::Rule | Reason::Policy) {
                Reason::Fragment
            } else {
                d.reason
            };
            stats::count(reason, dir, d.verdict, d.rule, len);
            // As ufw: a `reject` rule answers TCP with a reset, the reject
            // policy and `limit` with ICMP port-unreachable.
            let answer = match (d.reject, d.reason) {
                (false, _) => Answer::None,
                (true, Reason::Rule) => Answer::ResetOrIcmp,
                (true, _) => Answer::Icmp,
            };
            (d.verdict, answer)
        }
        Parsed::Pass(reason) => {
            stats::count(reason, dir, Verdict::Pass, None, len);
            (Verdict::Pass, Answer::None)
        }
        Parsed::Drop(reason) => {
            stats::count(reason, dir, Verdict::Drop, None, len);
            (Verdict::Drop, Answer::None)
        }
    }
}

//! The core shared by both hooks: parse the frame, decide (flows first,
//! then the rules), count.

use fw_common::{Direction, Reason, Verdict};

use crate::{
    conntrack, log,
    parse::{self, Parsed},
    scratch, stats,
};

/// What the hook does with a packet: the verdict, how a drop is answered,
/// and whether (and how) it is logged.
#[derive(Clone, Copy)]
pub struct Outcome {
    /// Pass or drop.
    pub verdict: Verdict,
    /// How a drop is answered on the wire.
    pub answer: Answer,
    /// `fw_common::log::LogKind` as `u8` (0: no line) with
    /// `fw_common::log::LOG_AUDIT_BIT` for a `[UFW AUDIT]` line first.
    pub log: u8,
    /// The direction it was decided in (a received packet: in or fwd).
    pub dir: Direction,
    /// Forwarded: the interface it leaves by.
    pub oifindex: u32,
}

impl Outcome {
    #[inline(always)]
    fn plain(verdict: Verdict, dir: Direction) -> Self {
        Self {
            verdict,
            answer: Answer::None,
            log: 0,
            dir,
            oifindex: 0,
        }
    }
}

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
/// how a drop may be answered on the wire. `forwarded_to` says which
/// interface a received packet (in the scratch slot by then) will be
/// forwarded out of (0: it is for the host); a forwarded packet is decided
/// in direction `Fwd`.
#[inline(always)]
pub fn run(
    start: usize,
    end: usize,
    dir: Direction,
    ifindex: u32,
    forwarded_to: impl FnOnce() -> u32,
) -> Outcome {
    let len = (end - start) as u64;
    match parse::parse(start, end) {
        Parsed::Ip(pkt) => {
            // Hides the parser's path from the verifier (fw_common::scratch).
            let Some(pkt) = scratch::launder(&pkt, start, end) else {
                stats::count(Reason::NoRuleset, dir, Verdict::Pass, None, len);
                return Outcome::plain(Verdict::Pass, dir);
            };
            // Received packets of the host's own live flows first: no
            // route lookup for them.
            if dir == Direction::In
                && let Some(d) = conntrack::fast()
            {
                stats::count(d.reason, dir, d.verdict, d.rule, len);
                return Outcome {
                    log: log::established(d.log != 0, dir),
                    ..Outcome::plain(d.verdict, dir)
                };
            }
            // Two copies of what follows, each with its direction known
            // at compile time: one direction unknown to the verifier would
            // split every test of it in two (it ran out of its budget).
            let oifindex = forwarded_to();
            if oifindex != 0 {
                decide(&pkt, Direction::Fwd, ifindex, oifindex, len)
            } else if dir == Direction::Out && conntrack::related(start, end) {
                stats::count(Reason::Related, dir, Verdict::Pass, None, len);
                Outcome {
                    log: log::established(true, dir),
                    ..Outcome::plain(Verdict::Pass, dir)
                }
            } else {
                decide(&pkt, dir, ifindex, 0, len)
            }
        }
        Parsed::Pass(reason) => {
            stats::count(reason, dir, Verdict::Pass, None, len);
            Outcome::plain(Verdict::Pass, dir)
        }
        Parsed::Drop(reason) => {
            stats::count(reason, dir, Verdict::Drop, None, len);
            Outcome::plain(Verdict::Drop, dir)
        }
    }
}

/// Decides and counts a parsed packet (see [`run`]).
#[inline(always)]
fn decide(pkt: &parse::Packet, dir: Direction, ifindex: u32, oifindex: u32, len: u64) -> Outcome {
    let d = conntrack::filter(pkt, dir, ifindex, oifindex);
    let reason = if pkt.fragment != 0 && matches!(d.reason, Reason::Rule | Reason::Policy) {
        Reason::Fragment
    } else {
        d.reason
    };
    stats::count(reason, dir, d.verdict, d.rule, len);
    // As ufw: a `reject` rule answers TCP with a reset, the reject policy
    // and `limit` with ICMP port-unreachable.
    let answer = match (d.reject, d.reason) {
        (false, _) => Answer::None,
        (true, Reason::Rule) => Answer::ResetOrIcmp,
        (true, _) => Answer::Icmp,
    };
    Outcome {
        verdict: d.verdict,
        answer,
        log: log::judge(&d, dir, conntrack::decided_new, log::after_rules),
        dir,
        oifindex,
    }
}

//! Connection tracking in front of the rules (layout and timeouts:
//! `fw_common::conntrack`).
//!
//! ```text
//! invalid TCP flags ------------------------------------------> drop (invalid)
//! tracked flow, alive, rules unchanged since it was decided --> pass (established)
//! tracked flow cut by a rule change, rules unchanged since ----> drop
//! tracked flow, alive, rules changed -> decide its opening packet again:
//!                                       allow: keep (new generation), deny: mark cut, drop
//! a built-in rule (`builtins`) accepts it -----------------------> pass (builtin_*)
//! otherwise -> decide this packet; allowed and it opens a flow -> track it
//! ```
//! One call site of the classifier, whichever way: the verifier walks it
//! once.

use aya_ebpf::helpers::bpf_ktime_get_coarse_ns;
use fw_common::ipproto::{ICMP as IPPROTO_ICMP, ICMPV6 as IPPROTO_ICMPV6, TCP as IPPROTO_TCP};
use fw_common::{
    Direction, Reason, Verdict,
    config::{CONFIG_CONNTRACK, Config},
    conntrack::{
        CT_BUILTIN, CT_NO_RULE, CtEntry, CtKey, CtState, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN,
        tcp_flags_valid,
    },
    scratch::ScratchSlot,
};

use crate::{
    builtins, limit,
    maps::{CONFIG, CONNTRACK, SCRATCH},
    parse::Packet,
    policy::{self, Decision},
};

/// True for ICMP / ICMPv6 echo request or reply.
#[inline(always)]
fn is_echo(pkt: &Packet) -> bool {
    (pkt.proto == IPPROTO_ICMP && (pkt.icmp_type == 8 || pkt.icmp_type == 0))
        || (pkt.proto == IPPROTO_ICMPV6 && (pkt.icmp_type == 128 || pkt.icmp_type == 129))
}

/// The flow key of `pkt` seen in `dir`, from the host's point of view (an
/// echo exchange is keyed by its identifier alone: request and reply carry
/// the same one).
#[inline(always)]
fn key_of(pkt: &Packet, dir: Direction) -> CtKey {
    let inbound = dir == Direction::In;
    let (lport, rport) = if pkt.has_ports == 0 {
        (pkt.icmp_id, 0)
    } else if inbound {
        (pkt.dport, pkt.sport)
    } else {
        (pkt.sport, pkt.dport)
    };
    CtKey {
        family: pkt.family,
        proto: pkt.proto,
        _pad: 0,
        lport,
        rport,
        local: if inbound { pkt.dst } else { pkt.src },
        remote: if inbound { pkt.src } else { pkt.dst },
    }
}

/// Turns `p` (a copy of the current packet) into the packet that opened
/// the flow of `key`, as its origin saw it.
#[inline(always)]
fn to_opening(p: &mut Packet, key: &CtKey, origin: Direction) {
    let out = origin == Direction::Out;
    p.src = if out { key.local } else { key.remote };
    p.dst = if out { key.remote } else { key.local };
    if p.has_ports != 0 {
        p.sport = if out { key.lport } else { key.rport };
        p.dport = if out { key.rport } else { key.lport };
    }
}

/// The state a flow starts in when `pkt` opens it, if it does.
#[inline(always)]
fn opens(pkt: &Packet) -> Option<CtState> {
    if pkt.proto == IPPROTO_TCP && pkt.has_ports != 0 {
        let f = pkt.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN);
        // Only a SYN opens a TCP flow (no mid-stream pickup: a packet of a
        // flow cut by a rule change must not open it again). Other packets
        // without a flow are decided by the rules one by one.
        if f == TCP_SYN {
            return Some(CtState::TcpSynSent);
        }
        return None;
    }
    if pkt.has_ports != 0 {
        return Some(CtState::UdpUnreplied);
    }
    if (pkt.proto == IPPROTO_ICMP && pkt.icmp_type == 8)
        || (pkt.proto == IPPROTO_ICMPV6 && pkt.icmp_type == 128)
    {
        return Some(CtState::IcmpEcho);
    }
    None
}

/// Moves a live flow on with `pkt` seen in `dir`.
#[inline(always)]
fn advance(e: &mut CtEntry, pkt: &Packet, dir: Direction, now: u64) {
    e.last_seen = now;
    let reply = dir as u8 != e.origin;
    if pkt.proto == IPPROTO_TCP {
        if pkt.tcp_flags & TCP_RST != 0 {
            e.state = CtState::TcpClosed as u8;
        } else if pkt.tcp_flags & TCP_FIN != 0 {
            if e.state != CtState::TcpClosed as u8 {
                e.state = CtState::TcpClosing as u8;
            }
        } else if e.state == CtState::TcpSynSent as u8 && reply && pkt.tcp_flags & TCP_ACK != 0 {
            e.state = CtState::TcpEstablished as u8;
        }
    } else if reply && e.state == CtState::UdpUnreplied as u8 {
        e.state = CtState::UdpReplied as u8;
    }
}

const MODE_STATELESS: u8 = 0;
const MODE_NEW: u8 = 1;
const MODE_RECHECK: u8 = 2;
/// Accepted by a built-in rule (`slot.reason` says which); tracked as new.
const MODE_BUILTIN: u8 = 3;

/// Before the rules: an invalid packet or a packet of a live, current flow
/// gets its answer here (`Err`); otherwise the scratch slot (which holds
/// the packet) gets the direction to classify in and the mode, and for a
/// recheck the flow's opening packet.
///
/// It reads the packet from the slot, not from the caller's copy: what its
/// branches teach the verifier about those fields must not reach the
/// caller's copy, or the classifier would be verified once per branch.
#[inline(always)]
fn prepare(dir: Direction) -> Result<(), Decision> {
    let Some(slot) = SCRATCH.get_ptr_mut(0) else {
        return Ok(());
    };
    // SAFETY: this CPU's scratch slot (see `scratch`).
    let slot = unsafe { &mut *slot };
    slot.dir = dir as u8;
    slot.mode = MODE_STATELESS;
    let Some(cfg) = CONFIG.get(0) else {
        return Ok(());
    };
    // Stateful mode: flows, then ufw's built-in rules; else the rules alone.
    if cfg.flags & CONFIG_CONNTRACK == 0 || slot.pkt.fragment != 0 {
        return Ok(());
    }
    if slot.pkt.has_ports != 0 || is_echo(&slot.pkt) {
        track(slot, dir, cfg)?;
    }
    if slot.mode != MODE_RECHECK
        && let Some(r) = builtins::accepts(&slot.pkt, dir)
    {
        slot.reason = r as u8;
        slot.mode = MODE_BUILTIN;
    }
    Ok(())
}

/// The flow part of [`prepare`] for a packet that can belong to a flow.
#[inline(always)]
fn track(slot: &mut ScratchSlot, dir: Direction, cfg: &Config) -> Result<(), Decision> {
    let generation = cfg.generation;
    let pkt = &slot.pkt;
    if pkt.proto == IPPROTO_TCP && !tcp_flags_valid(pkt.tcp_flags) {
        return Err(Decision {
            verdict: Verdict::Drop,
            reason: Reason::Invalid,
            rule: None,
            reject: false,
            limit: false,
        });
    }
    slot.mode = MODE_NEW;
    let key = key_of(pkt, dir);
    let Some(e) = CONNTRACK.get_ptr_mut(&key) else {
        return Ok(());
    };
    // SAFETY: a value of our hash map; concurrent updates of its plain
    // integers from another CPU are benign (last writer wins).
    let e = unsafe { &mut *e };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let timeout = u64::from(cfg.ct_timeout_s[(e.state & 7) as usize]) * 1_000_000_000;
    let alive = now.wrapping_sub(e.last_seen) <= timeout;
    // A new SYN on a closing or closed flow starts over.
    let restart = pkt.proto == IPPROTO_TCP
        && pkt.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
        && e.state >= CtState::TcpClosing as u8;
    if !alive || restart {
        return Ok(());
    }
    // Flows a built-in rule opened are not the user rules' business.
    if e.rule_id == CT_BUILTIN {
        e.generation = generation;
    }
    if e.generation == generation {
        if e.state == CtState::Denied as u8 {
            e.last_seen = now;
            let rule = (e.rule_id != CT_NO_RULE).then_some(e.rule_id);
            return Err(Decision {
                verdict: Verdict::Drop,
                reason: if rule.is_some() {
                    Reason::Rule
                } else {
                    Reason::Policy
                },
                rule,
                reject: false,
                limit: false,
            });
        }
        advance(e, pkt, dir, now);
        return Err(Decision {
            verdict: Verdict::Pass,
            reason: Reason::Established,
            rule: None,
            reject: false,
            limit: false,
        });
    }
    // The rules changed since the flow was decided: decide its opening
    // packet again, in the direction it was opened.
    let origin = if e.origin == Direction::Out as u8 {
        Direction::Out
    } else {
        Direction::In
    };
    to_opening(&mut slot.pkt, &key, origin);
    slot.dir = origin as u8;
    slot.mode = MODE_RECHECK;
    Ok(())
}

/// After the rules: track a new flow, or update or forget a rechecked one.
#[inline(always)]
fn finish(pkt: &Packet, dir: Direction, mode: u8, d: &Decision) {
    if mode != MODE_NEW && mode != MODE_RECHECK && mode != MODE_BUILTIN {
        return;
    }
    let generation = CONFIG.get(0).map_or(0, |c| c.generation);
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let key = key_of(pkt, dir);
    let pass = d.verdict == Verdict::Pass;
    if mode == MODE_RECHECK {
        if let Some(e) = CONNTRACK.get_ptr_mut(&key) {
            // SAFETY: as in `prepare`.
            let e = unsafe { &mut *e };
            e.generation = generation;
            e.rule_id = d.rule.unwrap_or(CT_NO_RULE);
            e.last_seen = now;
            if !pass {
                e.state = CtState::Denied as u8;
            } else if e.state == CtState::Denied as u8 {
                // Allowed again: it had both sides talking before.
                e.state = if pkt.proto == IPPROTO_TCP {
                    CtState::TcpEstablished as u8
                } else if pkt.has_ports != 0 {
                    CtState::UdpReplied as u8
                } else {
                    CtState::IcmpEcho as u8
                };
            } else {
                advance(e, pkt, dir, now);
            }
        }
        return;
    }
    if pass && let Some(state) = opens(pkt) {
        let e = CtEntry {
            last_seen: now,
            generation,
            rule_id: if mode == MODE_BUILTIN {
                CT_BUILTIN
            } else {
                d.rule.unwrap_or(CT_NO_RULE)
            },
            state: state as u8,
            origin: dir as u8,
            _pad: [0; 2],
        };
        // A full table evicts its least recently used flow; if the insert
        // still fails the packet passes untracked.
        let _ = CONNTRACK.insert(&key, &e, 0);
    }
}

/// Decides `pkt` (just written to the scratch slot by
/// [`scratch::launder`]) seen in `dir` on `ifindex`, tracking flows when
/// enabled.
#[inline(always)]
pub fn filter(pkt: &Packet, dir: Direction, ifindex: u32) -> Decision {
    if let Err(d) = prepare(dir) {
        return d;
    }
    // Read back from the map, the classifier's input looks the same to
    // the verifier whichever way led here.
    let Some(slot) = SCRATCH.get(0) else {
        return Decision {
            verdict: Verdict::Pass,
            reason: Reason::NoRuleset,
            rule: None,
            reject: false,
            limit: false,
        };
    };
    let mode = slot.mode;
    // Built-in rules answer without the classifier.
    let d = if mode == MODE_BUILTIN {
        Decision {
            verdict: Verdict::Pass,
            reason: builtins::reason(slot.reason),
            rule: None,
            reject: false,
            limit: false,
        }
    } else {
        policy::decide(&slot.pkt, usize::from(slot.dir), ifindex)
    };
    // `limit`: a new connection over the rate is refused.
    let d = if d.limit && mode == MODE_NEW && opens(pkt).is_some() && limit::over(pkt, dir) {
        Decision {
            verdict: Verdict::Drop,
            reason: Reason::Limit,
            rule: d.rule,
            reject: true,
            limit: true,
        }
    } else {
        d
    };
    finish(pkt, dir, mode, &d);
    d
}

//! Connection tracking in front of the rules (layout and timeouts:
//! `fw_common::conntrack`).
//!
//! ```text
//! invalid TCP flags ------------------------------------------> drop (invalid)
//! tracked flow, alive, rules unchanged since it was decided --> pass (established)
//! tracked flow cut by a rule change, rules unchanged since ----> drop
//! tracked flow, alive, rules changed -> decide its opening packet again:
//!                                       allow: keep (new generation), deny: mark cut, drop
//! the answer to a half-open host flow (SYN-ACK, last ACK, first reply,
//! echo reply), rules unchanged since it opened --------------> pass (established)
//!     and UDP / a completed handshake -> into the flow table
//! the same, rules changed -> decide its opening packet again: allow: as above,
//!                                       deny: forget it, drop
//! a built-in rule (`builtins`) accepts it -----------------------> pass (builtin_*)
//! otherwise -> decide this packet; allowed and it opens a flow -> host: a
//!              half-open record; forwarded: into the flow table
//! ```
//! One call site of the classifier, whichever way: the verifier walks it
//! once.
//!
//! The host's flows enter the flow table only when both sides have spoken;
//! until then they are half-open records (`fw_common::conntrack` explains
//! why: a spoofed flood must neither evict real flows nor pay for a table
//! insert). A received packet whose local port no tracked flow uses
//! (`CT_PORTS`) skips the flow table altogether.
//!
//! [`forwarded_out`]: a forwarded packet leaving the host whose flow the
//! table does not hold (a port published by DNAT: it came in addressed to
//! the host, so it was decided as incoming, before the NAT) opens its
//! forwarded flow there, so the answers of the DNAT target pass.
//!
//! [`related`]: an ICMP error the host sends (IPv4 destination-unreachable,
//! time-exceeded, parameter-problem) about a packet of a live flow passes
//! before the rules, as conntrack's RELATED does in ufw's before-output
//! chain (IPv6 errors out are among ufw's built-in rules already; errors
//! coming in or forwarded are built-in rules too).

use aya_ebpf::helpers::bpf_ktime_get_coarse_ns;
use fw_common::ipproto::{
    ICMP as IPPROTO_ICMP, ICMPV6 as IPPROTO_ICMPV6, TCP as IPPROTO_TCP, UDP as IPPROTO_UDP,
};
use fw_common::{
    Direction, Family, Reason, Verdict,
    config::{CONFIG_CONNTRACK, Config},
    conntrack::{
        CT_BUILTIN, CT_NAT, CT_NO_RULE, CT_ZONE_FWD, CT_ZONE_HOST, CtEntry, CtKey, CtPending, CtState,
        TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, ct_hash, ct_slot, port_byte, tcp_flags_valid,
    },
    log::LOG_HIGH,
    scratch::{ABSENT_FLOW, NO_HOST_OPENED, RECHECK_PENDING, ScratchSlot},
};

use crate::{
    builtins, limit,
    maps::{CONFIG, CONNTRACK, CT_PENDING, CT_PORTS, SCRATCH},
    parse::{self, Packet, Parsed},
    policy::{self, Decision},
    scratch,
};

/// True for ICMP / ICMPv6 echo request or reply.
#[inline(always)]
fn is_echo(pkt: &Packet) -> bool {
    (pkt.proto == IPPROTO_ICMP && (pkt.icmp_type == 8 || pkt.icmp_type == 0))
        || (pkt.proto == IPPROTO_ICMPV6 && (pkt.icmp_type == 128 || pkt.icmp_type == 129))
}

/// How `pkt` seen in `dir` is keyed: the orientation of its key and the
/// key's zone. The host's own flows are keyed from the host's side (the
/// direction itself); forwarded ones by their addresses
/// (`fw_common::conntrack::CT_ZONE_FWD`): oriented `In` when the
/// destination (address, port) is the lower end, so a packet and its reply
/// meet in one key.
#[inline(always)]
fn orient(pkt: &Packet, dir: Direction) -> (Direction, u8) {
    if dir != Direction::Fwd {
        return (dir, CT_ZONE_HOST);
    }
    // Lexicographic (dst, dport) < (src, sport) over the address words
    // (big-endian values) and the ports, computed without branches: the
    // verifier would walk every combination of compares.
    let mut lt = 0u64;
    let mut eq = 1u64;
    let mut i = 0;
    while i < 4 {
        let d = u64::from(u32::from_be(pkt.dst[i]));
        let s = u64::from(u32::from_be(pkt.src[i]));
        lt |= eq & (d.wrapping_sub(s) >> 63);
        eq &= 1 ^ (((d ^ s) + 0xffff_ffff) >> 32);
        i += 1;
    }
    let (d, s) = (u64::from(pkt.dport), u64::from(pkt.sport));
    lt |= eq & (d.wrapping_sub(s) >> 63);
    let lower = core::hint::black_box(lt) != 0;
    (
        if lower { Direction::In } else { Direction::Out },
        CT_ZONE_FWD,
    )
}

/// The flow key of `pkt` oriented as `kdir` (from [`orient`]) in `zone`:
/// `In` keys the destination as the local side (an echo exchange is keyed
/// by its identifier alone: request and reply carry the same one).
#[inline(always)]
fn key_of(pkt: &Packet, kdir: Direction, zone: u8) -> CtKey {
    let inbound = kdir == Direction::In;
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
        zone,
        _pad: 0,
        lport,
        rport,
        local: if inbound { pkt.dst } else { pkt.src },
        remote: if inbound { pkt.src } else { pkt.dst },
    }
}

/// True when a flow of the flow table, or a half-open flow the host
/// opened, may have local port `lport` (`CT_PORTS`).
#[inline(always)]
fn port_marked(proto: u8, lport: u16) -> bool {
    let (w, b) = port_byte(proto, lport);
    CT_PORTS
        .get(w)
        .is_some_and(|v| (*v >> ((b & 7) * 8)) & 0xff != 0)
}

/// Marks `lport` in `CT_PORTS` (before the flow that uses it is written).
#[inline(always)]
fn mark_port(proto: u8, lport: u16) {
    let (w, b) = port_byte(proto, lport);
    if let Some(v) = CT_PORTS.get_ptr_mut(w) {
        // SAFETY: byte `b` (< 8) of a u64 value of our array; other CPUs
        // write other bytes of it, a byte store loses none of theirs.
        unsafe {
            let p = v.cast::<u8>().add(b & 7);
            if *p == 0 {
                *p = 1;
            }
        }
    }
}

/// Seconds of a `bpf_ktime_get_coarse_ns` reading, for half-open records.
#[inline(always)]
fn secs(now: u64) -> u32 {
    (now / 1_000_000_000) as u32
}

/// The half-open record of `key` and its fingerprint, if its slot holds
/// this key's (a live one: not timed out).
#[inline(always)]
fn pending(key: &CtKey, cfg: &Config, now: u64) -> Option<&'static mut CtPending> {
    let (i, fp) = ct_slot(ct_hash(key));
    let p = CT_PENDING.get_ptr_mut(i)?;
    // SAFETY: a value of our array; a race with another CPU writing the
    // same slot can at worst lose a record (benign).
    let p = unsafe { &mut *p };
    let timeout = cfg.ct_timeout_s[(p.state & 7) as usize];
    (p.fp == fp && secs(now).wrapping_sub(p.seen_s) <= timeout).then_some(p)
}

/// How `pkt`, keyed as `kdir`, relates to the half-open flow `p`: what
/// it does to the flow when it is decided as part of it, or `None` when
/// it is not part of it (a packet the rules decide as a new one).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// TCP: the SYN's answer (SYN-ACK acknowledging it) by the host.
    Answered,
    /// The flow is established (first reply of UDP, the SYN-ACK of a
    /// flow the host opened, the handshake's last ACK): into the table.
    Promote,
    /// An answer that ends the flow (a reset, an echo reply).
    Done,
}

/// `ack` is a TCP segment's acknowledgement number.
#[inline(always)]
fn step(p: &CtPending, pkt: &Packet, kdir: Direction, ack: u32) -> Option<Step> {
    let reply = kdir as u8 != p.origin;
    if pkt.proto == IPPROTO_TCP {
        let f = pkt.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST);
        let acks = ack == p.isn.wrapping_add(1);
        if !acks {
            return None;
        }
        if reply && p.answered == 0 && f == TCP_SYN | TCP_ACK {
            // The host answers a SYN it received: wait for the last ACK.
            // The other side answers the host's SYN: established.
            return Some(if p.origin == Direction::In as u8 {
                Step::Answered
            } else {
                Step::Promote
            });
        }
        if reply && p.answered == 0 && f & TCP_RST != 0 {
            return Some(Step::Done);
        }
        if !reply && p.answered != 0 && f == TCP_ACK {
            return Some(Step::Promote);
        }
        return None;
    }
    if !reply {
        return None;
    }
    if pkt.has_ports != 0 {
        return Some(Step::Promote);
    }
    let echo_reply = (pkt.proto == IPPROTO_ICMP && pkt.icmp_type == 0)
        || (pkt.proto == IPPROTO_ICMPV6 && pkt.icmp_type == 129);
    echo_reply.then_some(Step::Done)
}

/// Moves the half-open flow `p` of `key` on by `st` (decided under
/// `generation`, now `now`); `seq` is a TCP segment's sequence number.
#[inline(always)]
fn apply_step(
    p: &mut CtPending,
    key: &CtKey,
    pkt: &Packet,
    st: Step,
    generation: u64,
    now: u64,
    seq: u32,
) {
    match st {
        Step::Answered => {
            p.answered = 1;
            p.isn = seq;
            p.generation = generation;
            p.seen_s = secs(now);
        }
        Step::Done => p.fp = 0,
        Step::Promote => {
            mark_port(key.proto, key.lport);
            // The new entry is built in the scratch slot's route lookup
            // area (done with by now), not on the stack.
            if let Some(slot) = SCRATCH.get_ptr_mut(0) {
                // SAFETY: this CPU's slot; `fib` is 8-byte aligned and
                // larger than a CtEntry.
                let e = unsafe { &mut *(*slot).fib.as_mut_ptr().cast::<CtEntry>() };
                e.last_seen = now;
                e.generation = generation;
                e.rule_id = p.rule_id;
                e.state = if pkt.proto == IPPROTO_TCP {
                    CtState::TcpEstablished as u8
                } else {
                    CtState::UdpReplied as u8
                };
                e.origin = p.origin;
                e._pad = [0; 2];
                // A full table evicts its least recently used flow.
                let _ = CONNTRACK.insert(key, e, 0);
            }
            p.fp = 0;
        }
    }
}

/// Writes the flow key of `pkt` (oriented as `kdir` in `zone`) to the
/// scratch slot's route lookup area, after the room [`apply_step`] builds
/// an entry in, and returns it there: keys stay off the 512-byte stack.
#[inline(always)]
fn scratch_key(pkt: &Packet, kdir: Direction, zone: u8) -> Option<&'static CtKey> {
    let slot = SCRATCH.get_ptr_mut(0)?;
    // SAFETY: this CPU's slot; `fib` words 6..16 (offset 24, 40 bytes)
    // hold a CtKey (4-byte aligned), words 0..6 the entry of `apply_step`.
    unsafe {
        let k = (*slot).fib.as_mut_ptr().add(6).cast::<CtKey>();
        *k = key_of(pkt, kdir, zone);
        Some(&*k)
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

/// Moves a live flow on with `pkt`, whose key is oriented as `kdir`.
#[inline(always)]
fn advance(e: &mut CtEntry, pkt: &Packet, kdir: Direction, now: u64) {
    e.last_seen = now;
    let reply = kdir as u8 != e.origin;
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
/// Decided by a built-in rule (`slot.reason` says which, and whether it
/// drops); tracked as new when it accepts.
const MODE_BUILTIN: u8 = 3;
/// Decided by its live flow's entry (not a new packet).
const MODE_FLOW: u8 = 4;

/// Before the rules: an invalid packet or a packet of a live, current flow
/// gets its answer here (`Err`); otherwise the scratch slot (which holds
/// the packet) gets the direction to classify in and the mode, and for a
/// recheck the flow's opening packet.
///
/// It reads the packet from the slot, not from the caller's copy: what its
/// branches teach the verifier about those fields must not reach the
/// caller's copy, or the classifier would be verified once per branch.
#[inline(always)]
fn prepare(dir: Direction, ifindex: u32, oifindex: u32) -> Result<(), Decision> {
    let Some(slot) = SCRATCH.get_ptr_mut(0) else {
        return Ok(());
    };
    // SAFETY: this CPU's scratch slot (see `scratch`).
    let slot = unsafe { &mut *slot };
    slot.dir = dir as u8;
    slot.mode = MODE_STATELESS;
    slot.ifindex = ifindex;
    slot.oifindex = oifindex;
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
        && let Some((r, deny)) = builtins::decides(&slot.pkt, dir, cfg.builtins)
    {
        slot.reason = builtins::slot_reason(r, deny);
        slot.mode = MODE_BUILTIN;
    }
    Ok(())
}

/// A packet of a live flow: it passes, as `established`.
const ESTABLISHED: Decision = Decision {
    verdict: Verdict::Pass,
    reason: Reason::Established,
    rule: None,
    reject: false,
    limit: false,
    log: 0,
};

/// What a flow table entry says about a packet of its flow.
enum Hit {
    /// Timed out, or a new SYN on a closed flow: as if there were none.
    Gone,
    /// Live and decided under the current rules: this is the answer.
    Decided(Decision),
    /// Live, but the rules changed since: decide its opening packet again.
    Stale,
}

/// Checks the entry `e` of `pkt`'s flow (key oriented as `kdir`) at
/// `now`; a packet it decides moves the flow on.
#[inline(always)]
fn check(e: &mut CtEntry, pkt: &Packet, kdir: Direction, cfg: &Config, now: u64) -> Hit {
    let generation = cfg.generation;
    let timeout = u64::from(cfg.ct_timeout_s[(e.state & 7) as usize]) * 1_000_000_000;
    let alive = now.wrapping_sub(e.last_seen) <= timeout;
    // A new SYN on a closing or closed flow starts over.
    let restart = pkt.proto == IPPROTO_TCP
        && pkt.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
        && e.state >= CtState::TcpClosing as u8;
    if !alive || restart {
        return Hit::Gone;
    }
    // Flows a built-in rule opened are not the user rules' business, nor
    // those opened on the way out (`forwarded_out`).
    if e.rule_id == CT_BUILTIN || e.rule_id == CT_NAT {
        e.generation = generation;
    }
    if e.generation != generation {
        return Hit::Stale;
    }
    if e.state == CtState::Denied as u8 {
        e.last_seen = now;
        let rule = (e.rule_id != CT_NO_RULE).then_some(e.rule_id);
        return Hit::Decided(Decision {
            verdict: Verdict::Drop,
            reason: if rule.is_some() {
                Reason::Rule
            } else {
                Reason::Policy
            },
            rule,
            reject: false,
            limit: false,
            log: 0,
        });
    }
    advance(e, pkt, kdir, now);
    Hit::Decided(ESTABLISHED)
}

/// The fast path of a received packet, before the route lookup: a packet
/// of one of the host's own live flows, decided under the current rules,
/// gets its answer here without asking the FIB (a forwarded packet's
/// destination is never the host's, so it never meets the host's flows).
/// None: look further (no such flow, or it must be decided again).
#[inline(always)]
pub fn fast() -> Option<Decision> {
    let slot = SCRATCH.get_ptr_mut(0)?;
    // SAFETY: this CPU's scratch slot (see `scratch`).
    let slot = unsafe { &mut *slot };
    let cfg = CONFIG.get(0)?;
    let pkt = &slot.pkt;
    if cfg.flags & CONFIG_CONNTRACK == 0
        || pkt.fragment != 0
        || (pkt.has_ports == 0 && !is_echo(pkt))
        || (pkt.proto == IPPROTO_TCP && !tcp_flags_valid(pkt.tcp_flags))
    {
        return None;
    }
    // The local port as `key_of` keys it (received: the destination),
    // tested before any key is built: most packets of a flood stop here.
    let lport = if pkt.has_ports == 0 {
        pkt.icmp_id
    } else {
        pkt.dport
    };
    if !port_marked(pkt.proto, lport) {
        // No tracked flow, no flow the host opened: nothing to look up.
        slot.absent = ABSENT_FLOW | NO_HOST_OPENED;
        return None;
    }
    let key = key_of(pkt, Direction::In, CT_ZONE_HOST);
    let Some(e) = CONNTRACK.get_ptr_mut(&key) else {
        // `track` need not look again: a new flow pays one lookup.
        slot.absent = ABSENT_FLOW;
        return None;
    };
    // SAFETY: as in `track`.
    let e = unsafe { &mut *e };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    match check(e, pkt, Direction::In, cfg, now) {
        // `log` tells the hook whether the level wants a line for it.
        Hit::Decided(d) => Some(Decision {
            log: u8::from(cfg.log_level >= LOG_HIGH),
            ..d
        }),
        Hit::Gone | Hit::Stale => None,
    }
}

/// The host's own packet `pkt` (not yet in the scratch slot) as the
/// cgroup egress program sees it: true when tracking may decide it
/// otherwise than the rules alone (an invalid TCP packet, a flow or a
/// half-open flow of its key, a built-in rule), or it is not one the
/// rules decide at once (a fragment, ICMP but echo requests). Reads only:
/// TC egress decides such packets as always.
#[inline(always)]
pub fn may_track_out(pkt: &Packet, cfg: &Config) -> bool {
    let echo_request = (pkt.proto == IPPROTO_ICMP && pkt.icmp_type == 8)
        || (pkt.proto == IPPROTO_ICMPV6 && pkt.icmp_type == 128);
    if pkt.fragment != 0 || (pkt.has_ports == 0 && !echo_request) {
        return true;
    }
    if cfg.flags & CONFIG_CONNTRACK == 0 {
        return false;
    }
    if pkt.proto == IPPROTO_TCP && !tcp_flags_valid(pkt.tcp_flags) {
        return true;
    }
    let key = key_of(pkt, Direction::Out, CT_ZONE_HOST);
    if CONNTRACK.get_ptr(&key).is_some() {
        return true;
    }
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    pending(&key, cfg, now).is_some() || builtins::accepts(pkt, Direction::Out).is_some()
}

/// True unless the packet just decided belongs to a tracked flow (its
/// entry decided it, or it was its flow's opening packet decided again):
/// conntrack's NEW, for `[UFW AUDIT]` at `medium`.
#[inline(always)]
pub fn decided_new() -> bool {
    SCRATCH
        .get(0)
        .is_none_or(|s| s.mode != MODE_FLOW && s.mode != MODE_RECHECK)
}

/// The flow part of [`prepare`] for a packet that can belong to a flow.
#[inline(always)]
fn track(slot: &mut ScratchSlot, dir: Direction, cfg: &Config) -> Result<(), Decision> {
    let pkt = &slot.pkt;
    if pkt.proto == IPPROTO_TCP && !tcp_flags_valid(pkt.tcp_flags) {
        return Err(Decision {
            verdict: Verdict::Drop,
            reason: Reason::Invalid,
            rule: None,
            reject: false,
            limit: false,
            log: 0,
        });
    }
    slot.mode = MODE_NEW;
    // Received where no flow uses the local port and the host opened none
    // (`fast` found out): only a handshake's last ACK can be part of a flow.
    let final_ack = pkt.proto == IPPROTO_TCP && pkt.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_ACK;
    if dir == Direction::In
        && slot.absent & (ABSENT_FLOW | NO_HOST_OPENED) == ABSENT_FLOW | NO_HOST_OPENED
        && !final_ack
    {
        return Ok(());
    }
    let (kdir, zone) = orient(pkt, dir);
    let Some(key) = scratch_key(pkt, kdir, zone) else {
        return Ok(());
    };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let known_absent = zone == CT_ZONE_HOST && slot.absent & ABSENT_FLOW != 0;
    if !known_absent && let Some(e) = CONNTRACK.get_ptr_mut(key) {
        // SAFETY: a value of our hash map; concurrent updates of its plain
        // integers from another CPU are benign (last writer wins).
        let e = unsafe { &mut *e };
        match check(e, pkt, kdir, cfg, now) {
            Hit::Gone => {
                // Timed out, or a new SYN on a closed flow: it starts over.
                let _ = CONNTRACK.remove(key);
            }
            Hit::Decided(d) => {
                slot.mode = MODE_FLOW;
                return Err(d);
            }
            Hit::Stale => {
                let origin = if e.origin == Direction::Out as u8 {
                    Direction::Out
                } else {
                    Direction::In
                };
                recheck(slot, key, zone, kdir, origin);
                return Ok(());
            }
        }
    }
    if zone != CT_ZONE_HOST {
        return Ok(());
    }
    if !half_open(slot, key, kdir as u8, now) {
        return Ok(());
    }
    slot.mode = MODE_FLOW;
    Err(ESTABLISHED)
}

/// The half-open part of [`track`] for a host flow keyed as `kdir`
/// (`Direction` as `u8`): true when the packet is part of a half-open
/// flow and passes with it (its step applied); false when the rules
/// decide it, the slot set up for a recheck if the rules changed since
/// the flow opened. A subprogram of its own, not inlined: its branches
/// return to one state of the caller, instead of multiplying the
/// classifier's paths for the verifier.
#[inline(never)]
fn half_open(slot: &mut ScratchSlot, key: &CtKey, kdir: u8, now: u64) -> bool {
    let Some(cfg) = CONFIG.get(0) else {
        return false;
    };
    let kdir = if kdir == Direction::Out as u8 {
        Direction::Out
    } else {
        Direction::In
    };
    let pkt = &slot.pkt;
    // Received: only where the host opened flows on this local port, or a
    // TCP ACK (the last of a handshake the host answered).
    let final_ack = pkt.proto == IPPROTO_TCP && pkt.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_ACK;
    if kdir == Direction::In && slot.absent & NO_HOST_OPENED != 0 && !final_ack {
        return false;
    }
    let Some(p) = pending(key, cfg, now) else {
        return false;
    };
    let Some(st) = step(p, pkt, kdir, slot.tcp_ack) else {
        return false;
    };
    if p.generation != cfg.generation && p.rule_id != CT_BUILTIN {
        // The rules changed since it was opened: decide its opening packet
        // again (`finish` applies the step if it is still allowed).
        let origin = if p.origin == Direction::Out as u8 {
            Direction::Out
        } else {
            Direction::In
        };
        slot.absent |= RECHECK_PENDING;
        recheck(slot, key, CT_ZONE_HOST, kdir, origin);
        return false;
    }
    let seq = slot.tcp_seq;
    apply_step(p, key, &slot.pkt, st, cfg.generation, now, seq);
    true
}

/// Sets the slot up to decide the opening packet of `key`'s flow again,
/// in the direction it was opened (a forwarded one stays forwarded,
/// between the same interfaces the other way round when this packet goes
/// against it).
#[inline(always)]
fn recheck(slot: &mut ScratchSlot, key: &CtKey, zone: u8, kdir: Direction, origin: Direction) {
    to_opening(&mut slot.pkt, key, origin);
    if zone == CT_ZONE_HOST {
        slot.dir = origin as u8;
    } else if origin != kdir {
        let i = slot.ifindex;
        slot.ifindex = slot.oifindex;
        slot.oifindex = i;
    }
    slot.mode = MODE_RECHECK;
}

/// After the rules: track a new flow, or update or forget a rechecked one.
/// `absent` is the slot's (see [`ScratchSlot`]).
#[inline(always)]
fn finish(pkt: &Packet, dir: Direction, mode: u8, absent: u8, d: &Decision) {
    if mode != MODE_NEW && mode != MODE_RECHECK && mode != MODE_BUILTIN {
        return;
    }
    let pass = d.verdict == Verdict::Pass;
    // A new packet the rules drop leaves no trace.
    if mode != MODE_RECHECK && !pass {
        return;
    }
    let Some(cfg) = CONFIG.get(0) else {
        return;
    };
    let generation = cfg.generation;
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let (kdir, zone) = orient(pkt, dir);
    let Some(key) = scratch_key(pkt, kdir, zone) else {
        return;
    };
    if mode == MODE_RECHECK && absent & RECHECK_PENDING != 0 {
        let flags = FINISH_RECHECK | if pass { FINISH_PASS } else { 0 };
        host_finish(pkt, key, kdir as u8, d.rule.unwrap_or(CT_NO_RULE), flags);
        return;
    }
    if mode == MODE_RECHECK {
        if let Some(e) = CONNTRACK.get_ptr_mut(key) {
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
                advance(e, pkt, kdir, now);
            }
        }
        return;
    }
    let Some(state) = opens(pkt) else {
        return;
    };
    let rule_id = if mode == MODE_BUILTIN {
        CT_BUILTIN
    } else {
        d.rule.unwrap_or(CT_NO_RULE)
    };
    if zone == CT_ZONE_HOST {
        host_finish(pkt, key, kdir as u8, rule_id, FINISH_PASS);
        return;
    }
    let e = CtEntry {
        last_seen: now,
        generation,
        rule_id,
        state: state as u8,
        origin: kdir as u8,
        _pad: [0; 2],
    };
    // A full table evicts its least recently used flow; if the insert
    // still fails the packet passes untracked.
    let _ = CONNTRACK.insert(key, &e, 0);
}

/// [`host_finish`]: a recheck of a half-open flow.
const FINISH_RECHECK: u32 = 1;
/// [`host_finish`]: the rules allowed it.
const FINISH_PASS: u32 = 2;

/// The host-flow part of [`finish`] for `pkt` keyed as `key`, `kdir`
/// (a subprogram, as [`half_open`]): with [`FINISH_RECHECK`] it applies
/// the step of a rechecked half-open flow, or forgets the flow when the
/// recheck denied it (no [`FINISH_PASS`]); without, it records a new
/// half-open flow that `rule_id` allowed.
#[inline(never)]
fn host_finish(pkt: &Packet, key: &CtKey, kdir: u8, rule_id: u32, flags: u32) {
    let (Some(cfg), Some(slot)) = (CONFIG.get(0), SCRATCH.get(0)) else {
        return;
    };
    let (seq, ack) = (slot.tcp_seq, slot.tcp_ack);
    let kdir = if kdir == Direction::Out as u8 {
        Direction::Out
    } else {
        Direction::In
    };
    let generation = cfg.generation;
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    if flags & FINISH_RECHECK != 0 {
        if let Some(p) = pending(key, cfg, now) {
            match (flags & FINISH_PASS != 0, step(p, pkt, kdir, ack)) {
                (true, Some(st)) => {
                    p.rule_id = rule_id;
                    apply_step(p, key, pkt, st, generation, now, seq);
                }
                // Denied now: its replies are decided as new packets.
                _ => p.fp = 0,
            }
        }
        return;
    }
    let Some(state) = opens(pkt) else {
        return;
    };
    // Half-open until the other side answers.
    if kdir == Direction::Out {
        mark_port(key.proto, key.lport);
    }
    let (i, fp) = ct_slot(ct_hash(key));
    if let Some(p) = CT_PENDING.get_ptr_mut(i) {
        // SAFETY: a value of our array (see `pending`); written field by
        // field, so no copy of it goes on the stack.
        let p = unsafe { &mut *p };
        p.fp = fp;
        p.rule_id = rule_id;
        p.seen_s = secs(now);
        p.isn = seq;
        p.generation = generation;
        p.state = state as u8;
        p.origin = kdir as u8;
        p.answered = 0;
    }
}

/// Decides `pkt` (just written to the scratch slot by
/// [`scratch::launder`]) seen in `dir` on `ifindex` (forwarded: coming in
/// on `ifindex`, going out on `oifindex`), tracking flows when enabled.
#[inline(always)]
pub fn filter(pkt: &Packet, dir: Direction, ifindex: u32, oifindex: u32) -> Decision {
    if let Err(d) = prepare(dir, ifindex, oifindex) {
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
            log: 0,
        };
    };
    let mode = slot.mode;
    let absent = slot.absent;
    // Built-in rules answer without the classifier.
    // One switched to deny drops (and, dropped, leaves no trace).
    let d = if mode == MODE_BUILTIN {
        Decision {
            verdict: builtins::verdict(slot.reason),
            reason: builtins::reason(slot.reason),
            rule: None,
            reject: false,
            limit: false,
            log: 0,
        }
    } else {
        policy::decide(
            &slot.pkt,
            usize::from(slot.dir),
            slot.ifindex,
            slot.oifindex,
        )
    };
    // `limit`: a new connection over the rate is refused.
    let d = if d.limit && mode == MODE_NEW && opens(pkt).is_some() && limit::over(pkt, dir) {
        Decision {
            verdict: Verdict::Drop,
            reason: Reason::Limit,
            rule: d.rule,
            reject: true,
            limit: true,
            log: 0,
        }
    } else {
        d
    };
    finish(pkt, dir, mode, absent, &d);
    // A recheck decides an established flow again: not a new connection
    // for a `log` rule.
    if mode == MODE_RECHECK {
        return Decision { log: 0, ..d };
    }
    d
}

/// TC egress, a forwarded packet (frame between `start` and `end`): it was
/// decided where it came in. When the flow table holds no forwarded flow
/// for it, it came in as something else: addressed to the host, through a
/// DNAT rule (a port published for a container: the input rules decided
/// it before the NAT), or on an interface fw does not filter. It opens its
/// forwarded flow here ([`CT_NAT`]), so its answers, which come back as
/// forwarded packets of the NAT's inner addresses, pass with it; later
/// packets on the way out move that flow on. Nothing in stateless mode.
/// A subprogram of its own: its parse and key stay off the hook's frame.
#[inline(never)]
pub fn forwarded_out(start: usize, end: usize) {
    let Some(cfg) = CONFIG.get(0) else {
        return;
    };
    if cfg.flags & CONFIG_CONNTRACK == 0 {
        return;
    }
    let Parsed::Ip(pkt) = parse::parse(start, end) else {
        return;
    };
    // A TCP segment without SYN, FIN or RST (most of a flow's packets)
    // changes nothing here: the answers move the flow on where they come
    // in.
    if pkt.proto == IPPROTO_TCP && pkt.tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST) == 0 {
        return;
    }
    if pkt.fragment != 0
        || (pkt.has_ports == 0 && !is_echo(&pkt))
        || (pkt.proto == IPPROTO_TCP && !tcp_flags_valid(pkt.tcp_flags))
    {
        return;
    }
    let Some(pkt) = scratch::launder(&pkt, start, end) else {
        return;
    };
    let (kdir, zone) = orient(&pkt, Direction::Fwd);
    let Some(key) = scratch_key(&pkt, kdir, zone) else {
        return;
    };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    if let Some(e) = CONNTRACK.get_ptr_mut(key) {
        // SAFETY: a value of our hash map (see `track`).
        let e = unsafe { &mut *e };
        if e.rule_id != CT_NAT {
            // Decided where it came in (and moved on there).
            return;
        }
        let timeout = u64::from(cfg.ct_timeout_s[(e.state & 7) as usize]) * 1_000_000_000;
        let restart = pkt.proto == IPPROTO_TCP
            && pkt.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
            && e.state >= CtState::TcpClosing as u8;
        if now.wrapping_sub(e.last_seen) <= timeout && !restart {
            advance(e, &pkt, kdir, now);
            return;
        }
    }
    let Some(state) = opens(&pkt) else {
        return;
    };
    let e = CtEntry {
        last_seen: now,
        generation: cfg.generation,
        rule_id: CT_NAT,
        state: state as u8,
        origin: kdir as u8,
        _pad: [0; 2],
    };
    let _ = CONNTRACK.insert(key, &e, 0);
}

/// True when the IPv4 ICMP error in the scratch slot (frame between
/// `start` and `end`) quotes a packet of a live flow that is not cut: one
/// the host received (a port-unreachable for a datagram the rules let in)
/// or forwarded (a router's time-exceeded or fragmentation-needed).
/// Reads the slot, not the caller's copy (see [`prepare`]).
/// A subprogram of its own: its quoted packet and keys stay off the hook's
/// stack frame.
#[inline(never)]
pub fn related(start: usize, end: usize) -> bool {
    let (Some(slot), Some(cfg)) = (SCRATCH.get(0), CONFIG.get(0)) else {
        return false;
    };
    let p = &slot.pkt;
    if cfg.flags & CONFIG_CONNTRACK == 0
        || p.family != Family::V4 as u8
        || p.proto != IPPROTO_ICMP
        || p.fragment != 0
        || !matches!(p.icmp_type, 3 | 11 | 12)
    {
        return false;
    }
    // The quoted IPv4 header (without options) and 8 bytes of its payload.
    let inner = start + (usize::from(p.l4_off) & 0x3ff) + 8;
    if inner + 28 > end {
        return false;
    }
    // SAFETY: 28 bytes inside the frame, checked above.
    let h = unsafe { *(inner as *const [u8; 28]) };
    if h[0] != 0x45 {
        return false;
    }
    let mut q = Packet {
        family: Family::V4 as u8,
        proto: h[9],
        ..Packet::default()
    };
    q.src[0] = u32::from_ne_bytes([h[12], h[13], h[14], h[15]]);
    q.dst[0] = u32::from_ne_bytes([h[16], h[17], h[18], h[19]]);
    if q.proto == IPPROTO_TCP || q.proto == IPPROTO_UDP {
        q.has_ports = 1;
        q.sport = u16::from_be_bytes([h[20], h[21]]);
        q.dport = u16::from_be_bytes([h[22], h[23]]);
    } else if q.proto == IPPROTO_ICMP && (h[20] == 8 || h[20] == 0) {
        q.icmp_id = u16::from_be_bytes([h[24], h[25]]);
    } else {
        return false;
    }
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let live = |key: &CtKey| match CONNTRACK.get_ptr(key) {
        Some(e) => {
            // SAFETY: a value pointer returned by the lookup helper.
            let e = unsafe { &*e };
            let timeout = u64::from(cfg.ct_timeout_s[(e.state & 7) as usize]) * 1_000_000_000;
            e.state != CtState::Denied as u8 && now.wrapping_sub(e.last_seen) <= timeout
        }
        None => false,
    };
    let Some(host) = scratch_key(&q, Direction::In, CT_ZONE_HOST) else {
        return false;
    };
    // A half-open flow relates only while the rules that opened it stand.
    let half_open = pending(host, cfg, now)
        .is_some_and(|p| p.generation == cfg.generation || p.rule_id == CT_BUILTIN);
    if live(host) || half_open {
        return true;
    }
    let (kdir, zone) = orient(&q, Direction::Fwd);
    scratch_key(&q, kdir, zone).is_some_and(live)
}

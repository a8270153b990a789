//! The classifier: tuple-space search over the live rule set.
//!
//! One hash lookup per distinct match shape of the packet's (direction,
//! family), in ascending order of the shape's best rule position, stopping
//! as soon as no remaining shape can hold an earlier rule than the best match
//! so far. The lowest rule position found is the first matching rule;
//! without a match the slot's default policy for the direction decides.
//! See `fw_common::rules` for the layout.

use fw_common::{
    Action, Family, Reason, Verdict,
    log::RULE_LOG_SHIFT,
    rules::{
        Filter, KeyV4, KeyV6, LISTS, MAX_SHAPES, RuleEntry, RulesetHeader, SHAPE_DPORT,
        SHAPE_IFACE, SHAPE_OIFACE, SHAPE_PROTO, SHAPE_SPORT, ShapeDesc, filter_absent,
        filter_hash_v4, filter_hash_v6_parts, filter_slot, fingerprint, shape_id, small_fields,
    },
};

use crate::{
    maps::{CONFIG, EntriesV4, EntriesV6, FILTER, RULES_V4, RULES_V6, RULESET},
    parse::Packet,
};

/// The classifier's answer.
pub struct Decision {
    /// Pass or drop.
    pub verdict: Verdict,
    /// `Rule`, `Policy` or `NoRuleset`.
    pub reason: Reason,
    /// The deciding rule's id, if a rule decided.
    pub rule: Option<u32>,
    /// The drop is a `reject`: answer on the wire where the hook can.
    pub reject: bool,
    /// A `limit` rule allowed it: count new connections per source.
    pub limit: bool,
    /// The deciding rule's log type (`fw_common::log::RULE_LOG*`), 0 else.
    pub log: u8,
}

/// The fields of a packet that every shape masks from.
struct Probe {
    list: usize,
    proto: u8,
    sport_class: u16,
    dport_class: u16,
    ifindex: u32,
    oifindex: u32,
    /// Bit 0 (1) set when no shape naming a source (destination) port can
    /// match (see [`no_port`]).
    no_ports: u32,
}

/// [`Probe::no_ports`]: the packet has no ports, or its port is of class
/// 0, which no rule names (`fw_common::rules`). Computed, not compared
/// (see [`search`]): `(c - 1) >> 31` is 1 for class 0.
#[inline(always)]
fn no_port(has_ports: u8, sport_class: u16, dport_class: u16) -> u32 {
    let none = u32::from(has_ports ^ 1) & 1;
    (none | (u32::from(sport_class).wrapping_sub(1) >> 31))
        | (none | (u32::from(dport_class).wrapping_sub(1) >> 31)) << 1
}

/// Best match so far, packed in one word as `prio << 40 | action << 32 |
/// rule_id`, so that keeping the lower of two is one branchless minimum:
/// fewer paths for the verifier to walk in the shape loop.
struct Best(u64);

impl Best {
    /// No match yet (above every packed entry: prio < 2^18).
    const NONE: u64 = u64::MAX >> 2;

    #[inline(always)]
    fn offer(&mut self, e: Option<RuleEntry>) {
        if let Some(e) = e {
            let cand =
                (u64::from(e.prio) << 40) | (u64::from(e.action) << 32) | u64::from(e.rule_id);
            // min(best, cand) without a branch: both are below 2^62.
            let diff = self.0.wrapping_sub(cand);
            let mask = ((diff as i64) >> 63) as u64;
            self.0 = cand.wrapping_add(diff & mask);
        }
    }

    #[inline(always)]
    fn prio(&self) -> u32 {
        (self.0 >> 40) as u32
    }

    #[inline(always)]
    fn found(&self) -> bool {
        self.0 != Self::NONE
    }
}

/// The answer while no rule set is installed (fail open: an instance being
/// created, never a live one).
const NO_RULESET: Decision = Decision {
    verdict: Verdict::Pass,
    reason: Reason::NoRuleset,
    rule: None,
    reject: false,
    limit: false,
    log: 0,
};

/// Decides the packet against the live rule set.
#[inline(always)]
///
/// `dir` is the [`fw_common::Direction`] as a number (0 in, 1 out, 2 forwarded):
/// connection tracking may ask for any direction, and a value the verifier
/// does not know keeps one path through the classifier (a `Direction`
/// would be three). `ifindex` is the interface `in on` / `out on` match;
/// forwarded, `oifindex` is the outgoing one (0 otherwise).
pub fn decide(pkt: &Packet, dir: usize, ifindex: u32, oifindex: u32) -> Decision {
    let dir = dir & 3;
    let Some(cfg) = CONFIG.get(0) else {
        return NO_RULESET;
    };
    let slot = cfg.active_slot & 1;
    let Some(hdr) = RULESET.get(slot) else {
        return NO_RULESET;
    };
    let hdr: &RulesetHeader = hdr;
    let Some(filter) = FILTER.get(slot) else {
        return NO_RULESET;
    };
    let filter: &Filter = filter;
    let family = if pkt.family == Family::V6 as u8 {
        Family::V6
    } else {
        Family::V4
    };
    // Without ports, sport and dport are 0 and shapes naming ports are
    // skipped, so their classes are read unconditionally (one path less).
    let probe = Probe {
        list: dir * Family::COUNT + family as usize,
        proto: pkt.proto,
        sport_class: hdr.sport_class[(pkt.sport & hdr.port_masks[0]) as usize],
        dport_class: hdr.dport_class[(pkt.dport & hdr.port_masks[1]) as usize],
        ifindex,
        oifindex,
        no_ports: no_port(
            pkt.has_ports,
            hdr.sport_class[(pkt.sport & hdr.port_masks[0]) as usize],
            hdr.dport_class[(pkt.dport & hdr.port_masks[1]) as usize],
        ),
    };
    let mut best = Best(Best::NONE);
    let found = match family {
        Family::V4 => match RULES_V4.get(slot) {
            Some(inner) => {
                search(hdr, &probe, &mut best, &V4 { pkt, inner, filter });
                true
            }
            None => false,
        },
        Family::V6 => match RULES_V6.get(slot) {
            Some(inner) => {
                search(hdr, &probe, &mut best, &V6 { pkt, inner, filter });
                true
            }
            None => false,
        },
    };
    if !found {
        return NO_RULESET;
    }
    if best.found() {
        // The entry's action byte: action, and the rule's log type above.
        let byte = (best.0 >> 32) as u8;
        let action = byte & 0xf;
        Decision {
            verdict: Action::from_u8(action).verdict(),
            reason: Reason::Rule,
            rule: Some(best.0 as u32),
            reject: action == Action::Reject as u8,
            limit: action == Action::Limit as u8,
            log: byte >> RULE_LOG_SHIFT,
        }
    } else {
        let policy = hdr.default_policy[dir];
        Decision {
            verdict: Action::from_u8(policy).verdict(),
            reason: Reason::Policy,
            rule: None,
            reject: policy == Action::Reject as u8,
            limit: false,
            log: 0,
        }
    }
}

/// True when the shape's filter proves no entry has a key of this hash.
#[inline(always)]
fn absent(filter: &Filter, d: &ShapeDesc, hash: u64) -> bool {
    if d.filter_words == 0 {
        return false;
    }
    let (word, mask) = filter_slot(hash, d.filter_off, d.filter_words);
    filter_absent(filter.words[word], mask)
}

/// The shape-independent part of a key.
struct KeyBase {
    shape: u16,
    proto: u8,
    sport_class: u16,
    dport_class: u16,
    ifindex: u32,
    oifindex: u32,
}

/// One family's entries: builds the key of a shape from the packet, tries
/// the filter, looks the key up.
trait Table {
    /// The entry of the packet's key in shape `d`, if any.
    fn lookup(&self, d: &ShapeDesc, base: &KeyBase) -> Option<RuleEntry>;
}

/// The IPv4 entries of the live slot.
struct V4<'a> {
    pkt: &'a Packet,
    inner: &'a EntriesV4,
    filter: &'a Filter,
}

impl Table for V4<'_> {
    #[inline(always)]
    fn lookup(&self, d: &ShapeDesc, base: &KeyBase) -> Option<RuleEntry> {
        let key = KeyV4 {
            shape: base.shape,
            proto: base.proto,
            _pad: 0,
            sport_class: base.sport_class,
            dport_class: base.dport_class,
            ifindex: base.ifindex,
            oifindex: base.oifindex,
            src: self.pkt.src[0] & d.src_mask[0],
            dst: self.pkt.dst[0] & d.dst_mask[0],
        };
        if absent(self.filter, d, filter_hash_v4(&key)) {
            return None;
        }
        // SAFETY: a value pointer returned by the lookup helper.
        self.inner
            .get_ptr(&key)
            .map(|e| unsafe { core::ptr::read(e) })
    }
}

/// The IPv6 entries of the live slot.
struct V6<'a> {
    pkt: &'a Packet,
    inner: &'a EntriesV6,
    filter: &'a Filter,
}

impl Table for V6<'_> {
    #[inline(always)]
    fn lookup(&self, d: &ShapeDesc, base: &KeyBase) -> Option<RuleEntry> {
        let (p, m) = (&self.pkt, d);
        let src = [
            p.src[0] & m.src_mask[0],
            p.src[1] & m.src_mask[1],
            p.src[2] & m.src_mask[2],
            p.src[3] & m.src_mask[3],
        ];
        let dst = [
            p.dst[0] & m.dst_mask[0],
            p.dst[1] & m.dst_mask[1],
            p.dst[2] & m.dst_mask[2],
            p.dst[3] & m.dst_mask[3],
        ];
        let small = small_fields(
            base.proto,
            base.sport_class,
            base.dport_class,
            base.ifindex,
            base.oifindex,
        );
        let hash = filter_hash_v6_parts(&src, &dst, small);
        if absent(self.filter, d, hash) {
            return None;
        }
        let key = KeyV6 {
            shape: base.shape,
            proto: base.proto,
            _pad: 0,
            sport_class: base.sport_class,
            dport_class: base.dport_class,
            ifindex: base.ifindex,
            oifindex: base.oifindex,
            fp: fingerprint(hash),
        };
        let e = self.inner.get_ptr(&key)?;
        // SAFETY: a value pointer returned by the lookup helper.
        let e = unsafe { &*e };
        // The fingerprint names one address pair; another pair is in no
        // entry of this shape. (One branch, not eight: fewer verifier paths.)
        let diff = (e.src[0] ^ src[0])
            | (e.src[1] ^ src[1])
            | (e.src[2] ^ src[2])
            | (e.src[3] ^ src[3])
            | (e.dst[0] ^ dst[0])
            | (e.dst[1] ^ dst[1])
            | (e.dst[2] ^ dst[2])
            | (e.dst[3] ^ dst[3]);
        if diff == 0 { Some(e.entry) } else { None }
    }
}

/// Walks the shapes of the probe's list, looking each up in `table`.
#[inline(always)]
fn search<T: Table>(hdr: &RulesetHeader, probe: &Probe, best: &mut Best, table: &T) {
    let list = &hdr.lists[probe.list & (LISTS - 1)];
    let count = list.count as usize;
    for i in 0..MAX_SHAPES {
        let d = &list.shapes[i];
        // One exit test per shape: past the last shape, or no remaining shape
        // can beat the best match (best.prio < min_prio). Computed, not
        // compared: comparisons would teach the verifier ranges for `best`
        // and `count` on each path, and states with different ranges do not
        // prune (together they doubled its work). black_box keeps LLVM from
        // turning the arithmetic back into comparisons.
        let beaten = u64::from(best.prio()).wrapping_sub(u64::from(d.min_prio));
        let past = (i as u64).wrapping_sub(count as u64) ^ (1 << 63);
        if core::hint::black_box(beaten | past) >> 63 != 0 {
            break;
        }
        let f = d.flags;
        // A shape naming a port cannot match a packet without, nor one
        // whose port no rule names: computed, not compared, for the same
        // reason as the exit test.
        let cannot = ((f >> SHAPE_SPORT.trailing_zeros()) & probe.no_ports)
            | ((f >> SHAPE_DPORT.trailing_zeros()) & (probe.no_ports >> 1));
        if core::hint::black_box(cannot & 1) != 0 {
            continue;
        }
        let base = KeyBase {
            shape: shape_id(probe.list & (LISTS - 1), i),
            proto: if f & SHAPE_PROTO != 0 { probe.proto } else { 0 },
            sport_class: if f & SHAPE_SPORT != 0 {
                probe.sport_class
            } else {
                0
            },
            dport_class: if f & SHAPE_DPORT != 0 {
                probe.dport_class
            } else {
                0
            },
            ifindex: if f & SHAPE_IFACE != 0 {
                probe.ifindex
            } else {
                0
            },
            // Masked, not branched on: a branch per field and shape would
            // multiply the verifier's paths.
            oifindex: probe.oifindex & 0u32.wrapping_sub((f / SHAPE_OIFACE) & 1),
        };
        best.offer(table.lookup(d, &base));
    }
}

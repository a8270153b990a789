//! The classifier: tuple-space search over the live rule set.
//!
//! One hash lookup per distinct match shape of the packet's (direction,
//! family), in ascending order of the shape's best rule position, stopping
//! as soon as no remaining shape can hold an earlier rule than the best match
//! so far. The lowest rule position found is the first matching rule;
//! without a match the slot's default policy for the direction decides.
//! See `fw_common::rules` for the layout.

use fw_common::{
    Action, Direction, Family, Reason, Verdict,
    rules::{
        Filter, KeyV4, KeyV6, MAX_SHAPES, RuleEntry, RulesetHeader, SHAPE_DPORT, SHAPE_IFACE,
        SHAPE_PROTO, SHAPE_SPORT, ShapeDesc, filter_absent, filter_hash_v4, filter_hash_v6_parts,
        filter_slot, list_index, shape_id, small_fields,
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
}

/// The fields of a packet that every shape masks from.
struct Probe {
    list: usize,
    proto: u8,
    sport_class: u16,
    dport_class: u16,
    ifindex: u32,
    has_ports: bool,
}

/// Best match so far.
struct Best {
    prio: u32,
    rule_id: u32,
    action: u8,
}

impl Best {
    #[inline(always)]
    fn offer(&mut self, e: Option<RuleEntry>) {
        if let Some(e) = e {
            if e.prio < self.prio {
                self.prio = e.prio;
                self.rule_id = e.rule_id;
                self.action = e.action;
            }
        }
    }
}

/// The answer while no rule set is installed (fail open: an instance being
/// created, never a live one).
const NO_RULESET: Decision = Decision {
    verdict: Verdict::Pass,
    reason: Reason::NoRuleset,
    rule: None,
};

/// Decides the packet against the live rule set.
#[inline(always)]
pub fn decide(pkt: &Packet, dir: Direction, ifindex: u32) -> Decision {
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
    let (sport_class, dport_class) = if pkt.has_ports {
        (
            hdr.sport_class[pkt.sport as usize],
            hdr.dport_class[pkt.dport as usize],
        )
    } else {
        (0, 0)
    };
    let probe = Probe {
        list: list_index(dir, pkt.family),
        proto: pkt.proto,
        sport_class,
        dport_class,
        ifindex,
        has_ports: pkt.has_ports,
    };
    let mut best = Best {
        prio: u32::MAX,
        rule_id: 0,
        action: 0,
    };
    let found = match pkt.family {
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
    if best.prio != u32::MAX {
        Decision {
            verdict: Action::from_u8(best.action).verdict(),
            reason: Reason::Rule,
            rule: Some(best.rule_id),
        }
    } else {
        let policy = hdr.default_policy[dir as usize & 1];
        Decision {
            verdict: Action::from_u8(policy).verdict(),
            reason: Reason::Policy,
            rule: None,
        }
    }
}

/// True when the shape's filter proves no entry has a key of this hash.
#[inline(always)]
fn absent(filter: &Filter, d: &ShapeDesc, hash: u64) -> bool {
    let bits = d.filter_bits;
    if bits < 6 || bits > fw_common::rules::FILTER_MAX_BITS {
        return false;
    }
    let (word, mask) = filter_slot(hash, d.filter_off, bits);
    filter_absent(filter.words[word], mask)
}

/// The shape-independent part of a key.
struct KeyBase {
    shape: u16,
    proto: u8,
    sport_class: u16,
    dport_class: u16,
    ifindex: u32,
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
        let small = small_fields(base.proto, base.sport_class, base.dport_class, base.ifindex);
        // The key is written only when the filter lets it through.
        if absent(self.filter, d, filter_hash_v6_parts(&src, &dst, small)) {
            return None;
        }
        let key = KeyV6 {
            shape: base.shape,
            proto: base.proto,
            _pad: 0,
            sport_class: base.sport_class,
            dport_class: base.dport_class,
            ifindex: base.ifindex,
            src,
            dst,
        };
        // SAFETY: a value pointer returned by the lookup helper.
        self.inner
            .get_ptr(&key)
            .map(|e| unsafe { core::ptr::read(e) })
    }
}

/// Walks the shapes of the probe's list, looking each up in `table`.
#[inline(always)]
fn search<T: Table>(hdr: &RulesetHeader, probe: &Probe, best: &mut Best, table: &T) {
    let list = &hdr.lists[probe.list & 3];
    let count = list.count as usize;
    for i in 0..MAX_SHAPES {
        if i >= count {
            break;
        }
        let d = &list.shapes[i];
        if best.prio < d.min_prio {
            break;
        }
        let f = d.flags;
        if f & (SHAPE_SPORT | SHAPE_DPORT) != 0 && !probe.has_ports {
            continue;
        }
        let base = KeyBase {
            shape: shape_id(probe.list & 3, i),
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
        };
        best.offer(table.lookup(d, &base));
    }
}

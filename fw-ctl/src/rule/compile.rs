//! Rules -> the kernel's tuple-space layout (see `fw_common::rules`).
//!
//! 1. Port classes: every range boundary used by any rule splits 0..=65535
//!    into elementary intervals; each gets a class number, and each port's
//!    class goes into the slot header's tables. A port set is then a set of
//!    classes (a range covers the classes from its first to its last port).
//! 2. Shapes: per (direction, family), the distinct (source prefix length,
//!    destination prefix length, named fields) of the rules, sorted by the
//!    position of their first rule.
//! 3. Entries: per rule, one key per (protocol, source class, destination
//!    class, interface) it covers; a key produced twice keeps the earlier
//!    rule (the later one can never be the first match for it).
//!
//! Nothing here touches the kernel: errors (too many shapes or entries)
//! come before any map is written.

use std::collections::{HashMap, hash_map::Entry};

use fw_common::rules::{
    EntryV6, FILTER_MAX_BITS, FILTER_WORDS, Filter, KeyV4, KeyV6, LISTS, MAX_ENTRIES, MAX_RULES,
    MAX_SHAPES, PORTS, RuleEntry, RulesetHeader, SHAPE_DPORT, SHAPE_IFACE, SHAPE_OIFACE,
    SHAPE_PROTO, SHAPE_SPORT, ShapeDesc, filter_hash_v4, filter_hash_v6, filter_hash_v6_parts,
    filter_slot, fingerprint, list_index, shape_id, small_fields,
};
use ipnet::IpNet;

use super::{Action, Direction, Family, PortSet, Proto, StoredRule};

/// The default policy per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// Incoming.
    pub incoming: Action,
    /// Outgoing.
    pub outgoing: Action,
    /// Forwarded (`routed`).
    pub routed: Action,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            incoming: Action::Deny,
            outgoing: Action::Allow,
            routed: Action::Deny,
        }
    }
}

impl Defaults {
    /// The policy of a direction.
    #[must_use]
    pub fn of(&self, dir: Direction) -> Action {
        match dir {
            Direction::In => self.incoming,
            Direction::Out => self.outgoing,
            Direction::Fwd => self.routed,
        }
    }
}

/// Why a rule set cannot be put in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// More distinct match shapes than the data plane searches.
    #[error(
        "the rules have {count} distinct match shapes for {dir} {family} traffic, \
         more than the {max} the data plane searches"
    )]
    TooManyShapes {
        /// Direction ("incoming"/"outgoing").
        dir: &'static str,
        /// Family ("IPv4"/"IPv6").
        family: &'static str,
        /// Shapes found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More entries than the entry map holds.
    #[error("the rules compile to more than {max} {family} entries")]
    TooManyEntries {
        /// Family ("IPv4"/"IPv6").
        family: &'static str,
        /// The limit.
        max: u32,
    },
    /// Two IPv6 entries of one shape have the same 64-bit fingerprint (about
    /// one chance in 10^7 for a million entries).
    #[error(
        "two IPv6 rules of this set hash to the same fingerprint; change one of them \
         (e.g. its order) and apply again"
    )]
    FingerprintCollision,
    /// A rule id outside the counter array.
    #[error("rule id {0} is out of range (max {MAX_RULES})")]
    BadRuleId(u32),
}

/// A compiled rule set, ready to be written to a slot.
pub struct Compiled {
    /// The slot header (shapes, port classes, default policies).
    pub header: Box<RulesetHeader>,
    /// IPv4 entries.
    pub v4: Vec<(KeyV4, RuleEntry)>,
    /// IPv6 entries.
    pub v6: Vec<(KeyV6, EntryV6)>,
    /// The negative filter of the shapes.
    pub filter: Box<Filter>,
}

impl Compiled {
    /// Number of shapes per list (in, v4), (in, v6), (out, v4), (out, v6),
    /// (routed, v4), (routed, v6).
    #[must_use]
    pub fn shape_counts(&self) -> [u32; 6] {
        let l = &self.header.lists;
        [
            l[0].count, l[1].count, l[2].count, l[3].count, l[4].count, l[5].count,
        ]
    }
}

/// Builds an all-zero header on the heap (it is ~260 KiB, too big for the
/// stack): no shapes, every port in class 0.
#[must_use]
pub fn empty_header() -> Box<RulesetHeader> {
    // SAFETY: RulesetHeader is plain integers and arrays of them.
    unsafe { zeroed_box() }
}

/// An all-zero filter on the heap (1 MiB).
#[must_use]
pub fn zeroed_filter() -> Box<Filter> {
    // SAFETY: Filter is an array of integers.
    unsafe { zeroed_box() }
}

/// A heap value with all bytes zero, never on the stack.
///
/// # Safety
/// All-zero bytes must be a valid `T` (plain integers and arrays of them).
unsafe fn zeroed_box<T>() -> Box<T> {
    let layout = std::alloc::Layout::new::<T>();
    // SAFETY: the layout is T's own (non-zero size for the types used here);
    // the caller guarantees zero bytes are a valid T.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<T>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(p)
    }
}

/// Port -> class table for a collection of port sets: the ports no set
/// names are class 0 (the data plane skips, without a lookup, every shape
/// naming a port of that class: a flood to a closed port pays for no
/// port shape), each elementary interval of the named ones a class from 1.
#[must_use]
pub fn port_classes<'a>(sets: impl Iterator<Item = &'a PortSet>) -> Vec<u16> {
    let mut start = vec![false; PORTS + 1];
    let mut covered = vec![0i32; PORTS + 1];
    for set in sets {
        for r in &set.0 {
            start[r.lo as usize] = true;
            start[r.hi as usize + 1] = true;
            covered[r.lo as usize] += 1;
            covered[r.hi as usize + 1] -= 1;
        }
    }
    let mut table = vec![0u16; PORTS];
    let (mut class, mut depth): (u32, i32) = (0, 0);
    for (p, t) in table.iter_mut().enumerate() {
        depth += covered[p];
        if start[p] && depth > 0 {
            class += 1;
        }
        *t = if depth > 0 { class as u16 } else { 0 };
    }
    table
}

/// The classes a port set covers, ascending and distinct.
fn classes_of(set: &PortSet, table: &[u16]) -> Vec<u16> {
    let mut v: Vec<u16> = Vec::new();
    for r in &set.0 {
        for c in table[r.lo as usize]..=table[r.hi as usize] {
            v.push(c);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ShapeKey {
    src_len: u8,
    dst_len: u8,
    flags: u32,
}

/// The list a rule belongs to: route rules to the forwarded one.
fn dir_of(r: &super::Rule) -> Direction {
    if r.opts.forward {
        Direction::Fwd
    } else {
        r.dir
    }
}

fn shape_key(r: &super::Rule) -> ShapeKey {
    let mut flags = 0;
    // A port rule for "any" protocol means TCP and UDP: the protocol is named.
    if r.proto != Proto::Any || r.has_ports() {
        flags |= SHAPE_PROTO;
    }
    if r.sport.is_some() {
        flags |= SHAPE_SPORT;
    }
    if r.dport.is_some() {
        flags |= SHAPE_DPORT;
    }
    if r.iface.is_some() {
        flags |= SHAPE_IFACE;
    }
    if r.opts.forward && r.opts.iface_out.is_some() {
        flags |= SHAPE_OIFACE;
    }
    ShapeKey {
        src_len: r.src.map_or(0, |n| n.prefix_len()),
        dst_len: r.dst.map_or(0, |n| n.prefix_len()),
        flags,
    }
}

/// Mask words (network order, read natively) of a prefix length.
fn mask_words(len: u8) -> [u32; 4] {
    let mut m = [0u32; 4];
    for (i, w) in m.iter_mut().enumerate() {
        let bits = (i32::from(len) - 32 * i as i32).clamp(0, 32) as u32;
        let v: u32 = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        *w = u32::from_ne_bytes(v.to_be_bytes());
    }
    m
}

/// Address words (network order, read natively) of a prefix, host bits clear.
fn addr_words(net: &Option<IpNet>) -> [u32; 4] {
    let Some(net) = net else { return [0; 4] };
    let mut w = [0u32; 4];
    match net.trunc() {
        IpNet::V4(n) => w[0] = u32::from_ne_bytes(n.addr().octets()),
        IpNet::V6(n) => {
            let o = n.addr().octets();
            for (i, x) in w.iter_mut().enumerate() {
                *x = u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]);
            }
        }
    }
    w
}

fn names(list: usize) -> (&'static str, &'static str) {
    (
        match list / 2 {
            0 => "incoming",
            1 => "outgoing",
            _ => "routed",
        },
        if list.is_multiple_of(2) {
            "IPv4"
        } else {
            "IPv6"
        },
    )
}

/// Compiles the ordered rule list. `ifaces` resolves an interface name (a
/// trailing `+` is a prefix wildcard) to the indexes it names now; a rule on
/// an interface that does not exist matches nothing.
///
/// # Errors
/// [`CompileError`] when the set does not fit the data plane.
pub fn compile(
    rules: &[StoredRule],
    defaults: Defaults,
    ifaces: &dyn Fn(&str) -> Vec<u32>,
) -> Result<Compiled, CompileError> {
    // What the filter enforces: application rules as one plain rule per
    // port spec (same id, so one counter).
    let plain: Vec<StoredRule> = rules
        .iter()
        .flat_map(|r| {
            r.rule
                .legs()
                .into_iter()
                .map(|rule| StoredRule { id: r.id, rule })
        })
        .collect();
    let rules = &plain[..];
    let sport_table = port_classes(rules.iter().filter_map(|r| r.rule.sport.as_ref()));
    let dport_table = port_classes(rules.iter().filter_map(|r| r.rule.dport.as_ref()));

    // Resolve interfaces once per rule, as (in, out) index pairs (out only
    // for route rules); a rule naming a missing one drops out.
    let resolve = |name: &Option<String>| match name {
        None => vec![0],
        Some(name) => ifaces(name),
    };
    let resolved: Vec<Option<Vec<(u32, u32)>>> = rules
        .iter()
        .map(|r| {
            let ins = resolve(&r.rule.iface);
            let outs = if r.rule.opts.forward {
                resolve(&r.rule.opts.iface_out)
            } else {
                vec![0]
            };
            let pairs: Vec<(u32, u32)> = ins
                .iter()
                .flat_map(|&i| outs.iter().map(move |&o| (i, o)))
                .collect();
            (!pairs.is_empty()).then_some(pairs)
        })
        .collect();

    // Pass 1: shapes per list, with the position of their first rule.
    let mut shapes: [Vec<(ShapeKey, u32)>; LISTS] = Default::default();
    for (prio, (sr, res)) in rules.iter().zip(&resolved).enumerate() {
        if sr.id >= MAX_RULES {
            return Err(CompileError::BadRuleId(sr.id));
        }
        if res.is_none() {
            continue;
        }
        let r = &sr.rule;
        let list = list_index(dir_of(r), r.family);
        let key = shape_key(r);
        if !shapes[list].iter().any(|(k, _)| *k == key) {
            shapes[list].push((key, prio as u32));
        }
    }
    let mut header = empty_header();
    header.default_policy = [
        defaults.incoming as u8,
        defaults.outgoing as u8,
        defaults.routed as u8,
        Action::Deny as u8,
    ];
    header.sport_class.copy_from_slice(&sport_table);
    header.dport_class.copy_from_slice(&dport_table);
    let mask = |t: &[u16]| {
        if t.iter().all(|&c| c == t[0]) {
            0
        } else {
            u16::MAX
        }
    };
    header.port_masks = [mask(&sport_table), mask(&dport_table)];
    for (list, v) in shapes.iter_mut().enumerate() {
        // Already in ascending order of first rule, as rules were walked in order.
        if v.len() > MAX_SHAPES {
            let (dir, family) = names(list);
            return Err(CompileError::TooManyShapes {
                dir,
                family,
                count: v.len(),
                max: MAX_SHAPES,
            });
        }
        let l = &mut header.lists[list];
        l.count = v.len() as u32;
        for (i, (k, min_prio)) in v.iter().enumerate() {
            l.shapes[i] = ShapeDesc {
                src_mask: mask_words(k.src_len),
                dst_mask: mask_words(k.dst_len),
                min_prio: *min_prio,
                flags: k.flags,
                filter_off: 0,
                filter_words: 0,
            };
        }
    }

    // Pass 2: entries.
    let mut v4: HashMap<KeyV4, RuleEntry> = HashMap::new();
    let mut v6: HashMap<KeyV6, EntryV6> = HashMap::new();
    for (prio, (sr, res)) in rules.iter().zip(&resolved).enumerate() {
        let Some(ifidx) = res else { continue };
        let r = &sr.rule;
        let list = list_index(dir_of(r), r.family);
        let skey = shape_key(r);
        let i = shapes[list]
            .iter()
            .position(|(k, _)| *k == skey)
            .unwrap_or(0);
        let shape = shape_id(list, i);
        let protos: Vec<u8> = match r.proto {
            Proto::Any if r.has_ports() => vec![6, 17],
            Proto::Any => vec![0],
            Proto::Num(n) => vec![n],
        };
        let sclasses = r
            .sport
            .as_ref()
            .map_or_else(|| vec![0], |s| classes_of(s, &sport_table));
        let dclasses = r
            .dport
            .as_ref()
            .map_or_else(|| vec![0], |s| classes_of(s, &dport_table));
        let (src, dst) = (addr_words(&r.src), addr_words(&r.dst));
        // The action byte carries the rule's log type (fw_common::log).
        let log: u8 = match r.opts.log {
            super::LogType::None => 0,
            super::LogType::Log => fw_common::log::RULE_LOG,
            super::LogType::LogAll => fw_common::log::RULE_LOG_ALL,
        };
        let entry = RuleEntry {
            prio: prio as u32,
            rule_id: sr.id,
            action: r.action as u8 | log << fw_common::log::RULE_LOG_SHIFT,
            _pad: [0; 3],
        };
        for &proto in &protos {
            for &sc in &sclasses {
                for &dc in &dclasses {
                    for &(ifindex, oifindex) in ifidx {
                        match r.family {
                            Family::V4 => {
                                let k = KeyV4 {
                                    shape,
                                    proto,
                                    _pad: 0,
                                    sport_class: sc,
                                    dport_class: dc,
                                    ifindex,
                                    oifindex,
                                    src: src[0],
                                    dst: dst[0],
                                };
                                insert(&mut v4, k, entry, "IPv4")?;
                            }
                            Family::V6 => {
                                let small = small_fields(proto, sc, dc, ifindex, oifindex);
                                let k = KeyV6 {
                                    shape,
                                    proto,
                                    _pad: 0,
                                    sport_class: sc,
                                    dport_class: dc,
                                    ifindex,
                                    oifindex,
                                    fp: fingerprint(filter_hash_v6_parts(&src, &dst, small)),
                                };
                                let e = EntryV6 { entry, src, dst };
                                if let Some(old) = v6.get(&k)
                                    && (old.src, old.dst) != (src, dst)
                                {
                                    return Err(CompileError::FingerprintCollision);
                                }
                                insert(&mut v6, k, e, "IPv6")?;
                            }
                        }
                    }
                }
            }
        }
    }
    let mut v4: Vec<_> = v4.into_iter().collect();
    let mut v6: Vec<_> = v6.into_iter().collect();
    v4.sort_unstable_by_key(|(k, _)| *k);
    v6.sort_unstable_by_key(|(k, _)| *k);
    let filter = build_filter(&mut header, &v4, &v6);
    Ok(Compiled {
        header,
        v4,
        v6,
        filter,
    })
}

/// Sizes each shape's filter region (about 8 bits per entry, a power of two
/// between 64 bits and the whole filter; the largest regions shrink until
/// all fit), records them in the header and sets one bit per entry.
fn build_filter(
    header: &mut RulesetHeader,
    v4: &[(KeyV4, RuleEntry)],
    v6: &[(KeyV6, EntryV6)],
) -> Box<Filter> {
    let shape_of = |id: u16| (id as usize / MAX_SHAPES, id as usize % MAX_SHAPES);
    let mut counts = [[0usize; MAX_SHAPES]; LISTS];
    for (k, _) in v4 {
        let (l, i) = shape_of(k.shape);
        counts[l][i] += 1;
    }
    for (k, _) in v6 {
        let (l, i) = shape_of(k.shape);
        counts[l][i] += 1;
    }
    // log2 bits per (list, shape) that has entries.
    let mut bits: Vec<((usize, usize), u32)> = Vec::new();
    for (l, list) in counts.iter().enumerate() {
        for (i, &n) in list.iter().enumerate().take(header.lists[l].count as usize) {
            if n > 0 {
                let want = (n * 8).next_power_of_two().trailing_zeros();
                bits.push(((l, i), want.clamp(6, FILTER_MAX_BITS)));
            }
        }
    }
    let total = |b: &[((usize, usize), u32)]| b.iter().map(|(_, x)| 1usize << x).sum::<usize>();
    while total(&bits) > FILTER_WORDS * 64 {
        let largest = bits
            .iter_mut()
            .max_by_key(|(_, x)| *x)
            .expect("a region exists when over budget");
        largest.1 -= 1;
    }
    let mut filter = zeroed_filter();
    let mut off = 0u32;
    for &((l, i), b) in &bits {
        let d = &mut header.lists[l].shapes[i];
        d.filter_off = off;
        d.filter_words = (1u32 << b) / 64;
        off += (1u32 << b) / 64;
    }
    let mut set = |shape: u16, hash: u64| {
        let (l, i) = shape_of(shape);
        let d = &header.lists[l].shapes[i];
        let (w, m) = filter_slot(hash, d.filter_off, d.filter_words);
        filter.words[w] |= m;
    };
    for (k, _) in v4 {
        set(k.shape, filter_hash_v4(k));
    }
    for (k, _) in v6 {
        set(k.shape, filter_hash_v6(k));
    }
    filter
}

fn insert<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    k: K,
    e: V,
    family: &'static str,
) -> Result<(), CompileError> {
    match map.entry(k) {
        Entry::Occupied(_) => {} // an earlier rule owns this key
        Entry::Vacant(v) => {
            v.insert(e);
        }
    }
    if map.len() > MAX_ENTRIES as usize {
        return Err(CompileError::TooManyEntries {
            family,
            max: MAX_ENTRIES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use fw_common::rules::filter_absent;

    use super::*;
    use crate::rule::{PortRange, PortSet};

    #[test]
    fn port_classes_are_elementary_intervals() {
        let a = PortSet(vec![PortRange { lo: 9000, hi: 9001 }]);
        let b = PortSet(vec![
            PortRange { lo: 22, hi: 22 },
            PortRange { lo: 8000, hi: 9000 },
        ]);
        let t = port_classes([&a, &b].into_iter());
        assert_eq!(t[0], t[21]);
        assert_ne!(t[21], t[22]);
        assert_ne!(t[22], t[23]);
        assert_eq!(t[23], t[7999]);
        assert_eq!(t[8000], t[8999]);
        let ca = classes_of(&a, &t);
        assert_eq!(ca, vec![t[9000], t[9001]]);
        let cb = classes_of(&b, &t);
        assert_eq!(cb, vec![t[22], t[8000], t[9000]]);
        assert_eq!(t[9002], t[65535]);
        // No set names them: class 0, whatever interval they are in.
        assert_eq!((t[0], t[23], t[9002]), (0, 0, 0));
        assert!(ca.iter().chain(&cb).all(|&c| c != 0));
    }

    #[test]
    fn masks_are_network_order() {
        assert_eq!(mask_words(24)[0].to_ne_bytes(), [255, 255, 255, 0]);
        assert_eq!(mask_words(0), [0; 4]);
        let m = mask_words(33);
        assert_eq!(m[0], u32::MAX);
        assert_eq!(m[1].to_ne_bytes(), [128, 0, 0, 0]);
    }

    fn host_rules(n: u32) -> Vec<StoredRule> {
        use crate::rule::{Action, Direction, Rule};
        (0..n)
            .map(|i| {
                let v4 = std::net::Ipv4Addr::from(0x0a00_0000 | i);
                StoredRule {
                    id: i,
                    rule: Rule {
                        action: Action::Deny,
                        dir: Direction::In,
                        iface: None,
                        proto: Proto::Any,
                        src: Some(
                            IpNet::new(v4.into(), 32 - (i % 3) as u8 * 8)
                                .unwrap()
                                .trunc(),
                        ),
                        sport: None,
                        dst: None,
                        dport: (i % 5 == 0).then(|| {
                            PortSet(vec![PortRange {
                                lo: 1000 + (i % 700) as u16,
                                hi: 1000 + (i % 700) as u16,
                            }])
                        }),
                        family: Family::V4,
                        opts: Default::default(),
                    },
                }
            })
            .collect()
    }

    /// Regions: inside the filter, disjoint, sized from the entry counts.
    fn check_regions(c: &Compiled) {
        let mut regions: Vec<(u32, u32)> = Vec::new();
        for l in &c.header.lists {
            for d in &l.shapes[..l.count as usize] {
                if d.filter_words == 0 {
                    continue;
                }
                let words = d.filter_words;
                assert!(words.is_power_of_two() && words as usize <= FILTER_WORDS);
                assert!((d.filter_off + words) as usize <= FILTER_WORDS);
                regions.push((d.filter_off, d.filter_off + words));
            }
        }
        regions.sort_unstable();
        for w in regions.windows(2) {
            assert!(w[0].1 <= w[1].0, "overlapping filter regions {w:?}");
        }
    }

    #[test]
    fn filter_has_every_entry_and_disjoint_regions() {
        let rules = host_rules(20_000);
        let c = compile(&rules, Defaults::default(), &|_| Vec::new()).unwrap();
        check_regions(&c);
        let shape = |id: u16| {
            let (l, i) = (id as usize / MAX_SHAPES, id as usize % MAX_SHAPES);
            c.header.lists[l].shapes[i]
        };
        for (k, _) in &c.v4 {
            let d = shape(k.shape);
            let (w, m) = filter_slot(filter_hash_v4(k), d.filter_off, d.filter_words);
            assert_ne!(
                c.filter.words[w] & m,
                0,
                "entry {k:?} missing from the filter"
            );
        }
        // And it rejects most absent keys (a few per cent pass).
        let mut hits = 0;
        for i in 0..10_000u32 {
            let k = KeyV4 {
                src: u32::from_ne_bytes([192, 0, (i >> 8) as u8, i as u8]),
                ..c.v4[0].0
            };
            let d = shape(k.shape);
            let (w, m) = filter_slot(filter_hash_v4(&k), d.filter_off, d.filter_words);
            hits += u32::from(!filter_absent(c.filter.words[w], m));
        }
        assert!(hits < 800, "{hits} of 10000 absent keys pass the filter");
    }

    #[test]
    fn filter_regions_shrink_to_fit() {
        // 2^20 entries in one shape would want 2^23 bits alone; with the
        // other shapes the budget is exceeded and the largest region shrinks.
        let mut header = empty_header();
        header.lists[0].count = 3;
        let v4: Vec<(KeyV4, RuleEntry)> = (0..(1u32 << 20) + 2000)
            .map(|i| {
                let shape = if i < 1000 {
                    1
                } else if i < 2000 {
                    2
                } else {
                    0
                };
                (
                    KeyV4 {
                        shape,
                        src: i,
                        ..KeyV4::default()
                    },
                    RuleEntry::default(),
                )
            })
            .collect();
        let filter = build_filter(&mut header, &v4, &[]);
        let c = Compiled {
            header,
            v4,
            v6: Vec::new(),
            filter,
        };
        check_regions(&c);
        let bits: Vec<u32> = c.header.lists[0].shapes[..3]
            .iter()
            .map(|d| d.filter_words.trailing_zeros() + 6)
            .collect();
        assert_eq!(bits, vec![22, 13, 13]);
        for (k, _) in &c.v4 {
            let d = c.header.lists[0].shapes[k.shape as usize];
            let (w, m) = filter_slot(filter_hash_v4(k), d.filter_off, d.filter_words);
            assert!(!filter_absent(c.filter.words[w], m));
        }
    }

    /// Route rules go to the routed lists, keyed by (in, out) interface
    /// pairs; the routed default takes the third policy slot; a route rule
    /// on a missing interface matches nothing.
    #[test]
    fn route_rules_compile_to_the_routed_lists() {
        use crate::rule::{
            Action,
            parse::{NoApps, NoServices, parse_rule_with},
        };
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let mut rules = Vec::new();
        for (id, text) in [
            "in on eth0 out on eth1 proto tcp to 10.0.0.0/8 port 80",
            "out on eth+ proto udp",
            "in on nosuch",
        ]
        .iter()
        .enumerate()
        {
            let p = parse_rule_with(Action::Allow, &words(text), &NoServices, &NoApps, true)
                .expect("parses");
            let rule = p.spec.expand().into_iter().next().expect("a rule");
            rules.push(StoredRule {
                id: id as u32,
                rule,
            });
        }
        rules.push(StoredRule {
            id: 3,
            rule: parse_rule_with(Action::Deny, &words("80/tcp"), &NoServices, &NoApps, false)
                .unwrap()
                .spec
                .expand()
                .remove(0),
        });
        let ifaces = |n: &str| match n {
            "eth0" => vec![2],
            "eth1" => vec![3],
            "eth+" => vec![2, 3],
            _ => Vec::new(),
        };
        let defaults = Defaults {
            incoming: Action::Deny,
            outgoing: Action::Allow,
            routed: Action::Reject,
        };
        let c = compile(&rules, defaults, &ifaces).unwrap();
        assert_eq!(
            c.header.default_policy[..3],
            [
                Action::Deny as u8,
                Action::Allow as u8,
                Action::Reject as u8
            ]
        );
        let routed = list_index(Direction::Fwd, Family::V4);
        assert_eq!(c.shape_counts(), [1, 0, 0, 0, 2, 0]);
        let flags: Vec<u32> = (0..2)
            .map(|i| c.header.lists[routed].shapes[i].flags)
            .collect();
        assert_eq!(
            flags[0],
            SHAPE_PROTO | SHAPE_DPORT | SHAPE_IFACE | SHAPE_OIFACE
        );
        assert_eq!(flags[1], SHAPE_PROTO | SHAPE_OIFACE);
        let pairs = |id: u32| {
            let mut v: Vec<(u32, u32)> =
                c.v4.iter()
                    .filter(|(_, e)| e.rule_id == id)
                    .map(|(k, _)| (k.ifindex, k.oifindex))
                    .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        assert_eq!(pairs(0), vec![(2, 3)]);
        assert_eq!(pairs(1), vec![(0, 2), (0, 3)]);
        assert!(pairs(2).is_empty(), "a missing interface matches nothing");
        assert_eq!(pairs(3), vec![(0, 0)], "input rules name no interface pair");
    }
}

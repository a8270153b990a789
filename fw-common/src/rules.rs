//! The compiled rule set: tuple-space search over match shapes.
//!
//! The controller turns the ordered rule list into *entries*. An entry is the
//! rule's match with every field masked to the rule's *shape*: which of
//! protocol, source port, destination port and interface it names, and its
//! source and destination prefix lengths. All rules of one shape live in one
//! hash table (here: one inner hash map per family, with the shape index in
//! the key), so a packet costs one hash lookup per distinct shape, never one
//! comparison per rule. Each entry stores the lowest rule position (`prio`)
//! among the rules that produce that key; the packet keeps the lowest `prio`
//! over all shapes, which is exactly the first matching rule.
//!
//! Ports are not masked: they are mapped to *port classes* (the elementary
//! intervals between all range boundaries used by any rule), through the
//! two 65,536-entry tables of the slot header. A rule naming a range gets
//! one entry per class inside it, and every port rule has one shape whatever
//! its ranges look like.
//!
//! Shapes are sorted by the lowest `prio` they hold, so the search stops as
//! soon as no later shape can beat the best match so far.
//!
//! Addresses are kept in network byte order: the bytes as on the wire,
//! loaded as native `u32` words, and masks likewise.

use crate::{Direction, Family, assert_size, pod};

/// Rule-set slots (the live one and the one being built).
pub const SLOTS: u32 = 2;

/// Rule ids (and per-rule counter slots) range over `0..MAX_RULES`.
pub const MAX_RULES: u32 = 1 << 18;

/// Distinct shapes per (direction, family).
pub const MAX_SHAPES: usize = 32;

/// Entries per family and slot (inner hash capacity).
pub const MAX_ENTRIES: u32 = 1 << 20;

/// Map flags of the inner hash maps (`BPF_F_NO_PREALLOC`: memory follows use).
pub const ENTRY_MAP_FLAGS: u32 = 1;

/// Size of a port-class table (one class per port number).
pub const PORTS: usize = 65536;

/// Shape flag: the rule names a protocol.
pub const SHAPE_PROTO: u32 = 1 << 0;
/// Shape flag: the rule names source ports (needs a packet with ports).
pub const SHAPE_SPORT: u32 = 1 << 1;
/// Shape flag: the rule names destination ports (needs a packet with ports).
pub const SHAPE_DPORT: u32 = 1 << 2;
/// Shape flag: the rule names an interface.
pub const SHAPE_IFACE: u32 = 1 << 3;

/// Index of the shape list for a direction and family in [`RulesetHeader::lists`].
#[inline(always)]
#[must_use]
pub const fn list_index(dir: Direction, family: Family) -> usize {
    (dir as usize) * Family::COUNT + family as usize
}

/// The value of `key.shape` for shape `i` of list `list`.
#[inline(always)]
#[must_use]
pub const fn shape_id(list: usize, i: usize) -> u16 {
    (list * MAX_SHAPES + i) as u16
}

/// Key of the IPv4 entry map (`RULES_V4` inner maps).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyV4 {
    /// [`shape_id`] of the shape this entry belongs to.
    pub shape: u16,
    /// IP protocol number, 0 when the shape names none.
    pub proto: u8,
    /// Explicit padding, always zero.
    pub _pad: u8,
    /// Source port class, 0 when the shape names no source port.
    pub sport_class: u16,
    /// Destination port class, 0 when the shape names no destination port.
    pub dport_class: u16,
    /// Interface index, 0 when the shape names no interface.
    pub ifindex: u32,
    /// Source address masked to the shape's prefix (network order).
    pub src: u32,
    /// Destination address masked to the shape's prefix (network order).
    pub dst: u32,
}
assert_size!(KeyV4, 20);

/// Key of the IPv6 entry map (`RULES_V6` inner maps); fields as in [`KeyV4`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyV6 {
    /// [`shape_id`] of the shape this entry belongs to.
    pub shape: u16,
    /// IP protocol number (after extension headers), 0 when not named.
    pub proto: u8,
    /// Explicit padding, always zero.
    pub _pad: u8,
    /// Source port class.
    pub sport_class: u16,
    /// Destination port class.
    pub dport_class: u16,
    /// Interface index.
    pub ifindex: u32,
    /// Masked source address, four network-order words.
    pub src: [u32; 4],
    /// Masked destination address, four network-order words.
    pub dst: [u32; 4],
}
assert_size!(KeyV6, 44);

/// Value of both entry maps.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleEntry {
    /// Position of the rule in its (direction, family) evaluation order;
    /// lower wins.
    pub prio: u32,
    /// The rule's stable id: index of its counters in `RULE_STATS`.
    pub rule_id: u32,
    /// [`crate::Action`] as `u8`.
    pub action: u8,
    /// Explicit padding, always zero.
    pub _pad: [u8; 3],
}
assert_size!(RuleEntry, 12);

/// One shape: which fields a group of entries names, and how.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShapeDesc {
    /// Source prefix mask, network-order words (IPv4 uses word 0).
    pub src_mask: [u32; 4],
    /// Destination prefix mask, network-order words.
    pub dst_mask: [u32; 4],
    /// Lowest `prio` of any entry of this shape (the search stops when the
    /// best match so far is lower).
    pub min_prio: u32,
    /// `SHAPE_*` flags.
    pub flags: u32,
}
assert_size!(ShapeDesc, 40);

/// The shapes of one (direction, family), sorted by `min_prio`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeList {
    /// Number of valid entries in `shapes`.
    pub count: u32,
    /// Explicit padding, always zero.
    pub _pad: u32,
    /// The shapes; only the first `count` are used.
    pub shapes: [ShapeDesc; MAX_SHAPES],
}
assert_size!(ShapeList, 8 + 40 * MAX_SHAPES);

impl Default for ShapeList {
    fn default() -> Self {
        Self {
            count: 0,
            _pad: 0,
            shapes: [ShapeDesc::default(); MAX_SHAPES],
        }
    }
}

/// The per-slot header of a rule set (value of `RULESET`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RulesetHeader {
    /// Generation of this rule set (matches `Config::generation` when live).
    pub generation: u64,
    /// Default policy per [`Direction`], as [`crate::Action`] `u8`.
    pub default_policy: [u8; Direction::COUNT],
    /// Explicit padding, always zero.
    pub _pad: [u8; 6],
    /// Shape lists, indexed by [`list_index`].
    pub lists: [ShapeList; Direction::COUNT * Family::COUNT],
    /// Source port -> source port class.
    pub sport_class: [u16; PORTS],
    /// Destination port -> destination port class.
    pub dport_class: [u16; PORTS],
}
assert_size!(
    RulesetHeader,
    16 + 4 * (8 + 40 * MAX_SHAPES) + 2 * 2 * PORTS
);

/// Entries of `RULESET` (one header per slot).
pub const RULESET_ENTRIES: u32 = SLOTS;

pod!(KeyV4, KeyV6, RuleEntry, ShapeDesc, ShapeList, RulesetHeader);

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
//! Before its hash lookup, a shape is tried against its region of the slot's
//! [`Filter`]: one bit per value of a cheap multiplicative hash of the key
//! ([`filter_hash_v4`], [`filter_hash_v6`]), set for every entry of the
//! shape. A clear bit proves the key is absent, so most shapes a packet
//! does not match cost a few multiplications and one array load instead of
//! a hash-table lookup. Set bits only cost the lookup (no false negatives).
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
/// Shape flag: the rule names an interface (route rules: `in on`).
pub const SHAPE_IFACE: u32 = 1 << 3;
/// Shape flag: a route rule names an `out on` interface.
pub const SHAPE_OIFACE: u32 = 1 << 4;

/// Number of shape lists in [`RulesetHeader::lists`]: one per (direction,
/// family), rounded up to a power of two.
pub const LISTS: usize = (Direction::COUNT * Family::COUNT).next_power_of_two();

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
    /// Interface index, 0 when the shape names no interface (route rules:
    /// the `in on` interface).
    pub ifindex: u32,
    /// Route rules: the `out on` interface index, 0 when the shape names
    /// none (always 0 for incoming and outgoing rules).
    pub oifindex: u32,
    /// Source address masked to the shape's prefix (network order).
    pub src: u32,
    /// Destination address masked to the shape's prefix (network order).
    pub dst: u32,
}
assert_size!(KeyV4, 24);

/// Key of the IPv6 entry map (`RULES_V6` inner maps): as [`KeyV4`], but the
/// masked addresses (32 bytes) are replaced by a 64-bit fingerprint of them
/// ([`filter_hash_v6_parts`], which also feeds the filter), and the
/// addresses themselves live in the value ([`EntryV6`]) to be compared after
/// the lookup. A 24-byte key hashes and compares much faster than a 48-byte
/// one. The compiler refuses a rule set in which two entries of one shape
/// share a fingerprint (about 1 in 10^7 for a million entries), so a
/// fingerprint names at most one address pair and a packet whose addresses
/// differ from its entry's is in no entry of that shape.
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
    /// Route rules: the `out on` interface index.
    pub oifindex: u32,
    /// [`fingerprint`] of the masked addresses and the fields above.
    pub fp: [u32; 2],
}
assert_size!(KeyV6, 24);

/// Value of the IPv6 entry map: the entry and the masked addresses its
/// fingerprint stands for.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryV6 {
    /// The rule entry.
    pub entry: RuleEntry,
    /// Masked source address, four network-order words.
    pub src: [u32; 4],
    /// Masked destination address, four network-order words.
    pub dst: [u32; 4],
}
assert_size!(EntryV6, 44);

/// The key's form of a 64-bit hash.
#[inline(always)]
#[must_use]
pub const fn fingerprint(hash: u64) -> [u32; 2] {
    [(hash >> 32) as u32, hash as u32]
}

/// Value of the IPv4 entry map (and the first part of [`EntryV6`]).
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
    /// First word of this shape's region in the slot's [`Filter`].
    pub filter_off: u32,
    /// The region's size in words (1 ..= [`FILTER_WORDS`]); 0: no filter,
    /// always look up.
    pub filter_words: u32,
}
assert_size!(ShapeDesc, 48);

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
assert_size!(ShapeList, 8 + 48 * MAX_SHAPES);

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
    /// Default policy per [`Direction`], as [`crate::Action`] `u8` (a
    /// power of two entries, the last unused: the data plane bounds the
    /// index with a mask).
    pub default_policy: [u8; 4],
    /// Digest of the saved state this rule set was compiled from (rules,
    /// default policies, interface names resolved), written by fw-ctl so
    /// that every later command can tell whether the kernel enforces what
    /// the state files say. The data plane never reads it.
    pub digest: u32,
    /// Masks applied to a packet's source / destination port before its
    /// class is read: 0 when every port has one class (no rule names
    /// one), so the data plane reads one hot entry instead of a random
    /// line of a 128 KiB table for each spoofed port of a flood.
    pub port_masks: [u16; 2],
    /// Explicit padding, always zero.
    pub _pad: u32,
    /// Shape lists, indexed by [`list_index`] (the last two are unused: a
    /// power of two lets the data plane bound the index with a mask).
    pub lists: [ShapeList; LISTS],
    /// Source port -> source port class: 0 for the ports no rule names
    /// (no entry of a shape naming a port has class 0), the elementary
    /// intervals of the named ones from 1.
    pub sport_class: [u16; PORTS],
    /// Destination port -> destination port class (as `sport_class`).
    pub dport_class: [u16; PORTS],
}
assert_size!(
    RulesetHeader,
    24 + LISTS * (8 + 48 * MAX_SHAPES) + 2 * 2 * PORTS
);

/// Entries of `RULESET` (one header per slot).
pub const RULESET_ENTRIES: u32 = SLOTS;

/// Words (`u64`) of one slot's [`Filter`]: 8 Mbit, 1 MiB.
pub const FILTER_WORDS: usize = 1 << 17;

/// Largest region of one shape, log2 of bits (the whole filter).
pub const FILTER_MAX_BITS: u32 = 23;

/// The per-slot negative filter (value of `FILTER`, one per slot): regions
/// of `filter_words` words, one per shape, at `filter_off`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The bits.
    pub words: [u64; FILTER_WORDS],
}
assert_size!(Filter, 8 * FILTER_WORDS);

/// Entries of `FILTER` (one per slot).
pub const FILTER_ENTRIES: u32 = SLOTS;

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;
const K3: u64 = 0x1656_67b1_9e37_79f9;
const K4: u64 = 0xd6e8_feb8_6659_fd93;
const K5: u64 = 0xa076_1d64_78bd_642f;
const K6: u64 = 0xe703_7ed1_a0b4_28db;

#[inline(always)]
const fn finish(x: u64) -> u64 {
    (x ^ (x >> 32)).wrapping_mul(K4)
}

/// The key fields other than addresses, packed for the filter hash.
#[inline(always)]
#[must_use]
pub const fn small_fields(
    proto: u8,
    sport_class: u16,
    dport_class: u16,
    ifindex: u32,
    oifindex: u32,
) -> u64 {
    (((ifindex ^ oifindex.rotate_left(16)) as u64) << 32)
        | ((dport_class as u64) << 16)
        | sport_class as u64
        | ((proto as u64) << 56)
}

/// The filter hash of an IPv4 key (its shape is implied by the region).
#[inline(always)]
#[must_use]
pub const fn filter_hash_v4(k: &KeyV4) -> u64 {
    let a = ((k.src as u64) << 32) | k.dst as u64;
    let b = small_fields(k.proto, k.sport_class, k.dport_class, k.ifindex, k.oifindex);
    finish(a.wrapping_mul(K1) ^ b.wrapping_mul(K2))
}

/// The filter hash of an IPv6 key: its fingerprint.
#[inline(always)]
#[must_use]
pub const fn filter_hash_v6(k: &KeyV6) -> u64 {
    ((k.fp[0] as u64) << 32) | k.fp[1] as u64
}

/// The hash of an IPv6 key's parts: its fingerprint and its filter hash;
/// `small` is [`small_fields`] of the key.
#[inline(always)]
#[must_use]
pub const fn filter_hash_v6_parts(src: &[u32; 4], dst: &[u32; 4], small: u64) -> u64 {
    let s0 = ((src[0] as u64) << 32) | src[1] as u64;
    let s1 = ((src[2] as u64) << 32) | src[3] as u64;
    let d0 = ((dst[0] as u64) << 32) | dst[1] as u64;
    let d1 = ((dst[2] as u64) << 32) | dst[3] as u64;
    finish(
        s0.wrapping_mul(K1)
            ^ s1.wrapping_mul(K3)
            ^ d0.wrapping_mul(K5)
            ^ d1.wrapping_mul(K6)
            ^ small.wrapping_mul(K2),
    )
}

/// Where a hash falls in a shape's region of `words` words (at least 1):
/// (word index in the filter, the three bits of that word that must all be
/// set). The word comes from the hash's top half by multiply-shift range
/// reduction, the three bit positions from bits 14..32 (a Bloom filter
/// blocked to one word: one load, about 3% false positives at 8 bits per
/// entry). No branch, so the verifier has no paths to multiply.
#[inline(always)]
#[must_use]
pub const fn filter_slot(hash: u64, off: u32, words: u32) -> (usize, u64) {
    let word = ((hash >> 32) * words as u64) >> 32;
    let mask = (1u64 << ((hash >> 14) & 63))
        | (1u64 << ((hash >> 20) & 63))
        | (1u64 << ((hash >> 26) & 63));
    ((off as usize + word as usize) & (FILTER_WORDS - 1), mask)
}

/// True when `word` (from [`filter_slot`]) proves the key absent.
#[inline(always)]
#[must_use]
pub const fn filter_absent(word: u64, mask: u64) -> bool {
    word & mask != mask
}

pod!(
    KeyV4,
    KeyV6,
    EntryV6,
    RuleEntry,
    ShapeDesc,
    ShapeList,
    RulesetHeader,
    Filter
);

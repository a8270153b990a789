//! Every map of the data plane. Names (the statics' identifiers), sizes and
//! layouts come from `fw_common`; the loader checks them against
//! `fw_common::maps::ALL`.

use aya_ebpf::{
    btf_maps::{Array, ArrayOfMaps, HashMap, LruHashMap, PerCpuArray, RingBuf},
    macros::btf_map,
};
use fw_common::{
    config::{CONFIG_ENTRIES, Config},
    conntrack::{CT_DEFAULT_ENTRIES, CT_PENDING_ENTRIES, CT_PORTS_WORDS, CtEntry, CtKey, CtPending},
    limit::{LIMIT_ENTRIES, LimitEntry, LimitKey},
    log::{LOG_BUCKETS_ENTRIES, LOG_STATS_ENTRIES, LOGS_BYTES, LogEvent},
    rules::{
        ENTRY_MAP_FLAGS, EntryV6, FILTER_ENTRIES, Filter, KeyV4, KeyV6, MAX_ENTRIES, MAX_RULES,
        RULESET_ENTRIES, RuleEntry, RulesetHeader, SLOTS,
    },
    scratch::{SCRATCH_ENTRIES, ScratchSlot},
    stats::{Counter, STATS_ENTRIES},
};

/// Inner map type of `RULES_V4`: IPv4 entries of one slot.
pub type EntriesV4 =
    HashMap<KeyV4, RuleEntry, { MAX_ENTRIES as usize }, { ENTRY_MAP_FLAGS as usize }>;
/// Inner map type of `RULES_V6`: IPv6 entries of one slot.
pub type EntriesV6 =
    HashMap<KeyV6, EntryV6, { MAX_ENTRIES as usize }, { ENTRY_MAP_FLAGS as usize }>;

#[btf_map]
pub static CONFIG: Array<Config, { CONFIG_ENTRIES as usize }> = Array::new();

#[btf_map]
pub static RULESET: Array<RulesetHeader, { RULESET_ENTRIES as usize }> = Array::new();

#[btf_map]
pub static RULES_V4: ArrayOfMaps<EntriesV4, { SLOTS as usize }> = ArrayOfMaps::new();

#[btf_map]
pub static RULES_V6: ArrayOfMaps<EntriesV6, { SLOTS as usize }> = ArrayOfMaps::new();

#[btf_map]
pub static FILTER: Array<Filter, { FILTER_ENTRIES as usize }> = Array::new();

#[btf_map]
pub static SCRATCH: PerCpuArray<ScratchSlot, { SCRATCH_ENTRIES as usize }> = PerCpuArray::new();

#[btf_map]
pub static STATS: PerCpuArray<Counter, { STATS_ENTRIES as usize }> = PerCpuArray::new();

#[btf_map]
pub static RULE_STATS: PerCpuArray<Counter, { MAX_RULES as usize }> = PerCpuArray::new();

/// The flow table (`fw_common::conntrack`); the loader sets its size.
#[btf_map]
pub static CONNTRACK: LruHashMap<CtKey, CtEntry, { CT_DEFAULT_ENTRIES as usize }> =
    LruHashMap::new();

/// Half-open records of the host's flows (`fw_common::conntrack`).
#[btf_map]
pub static CT_PENDING: Array<CtPending, { CT_PENDING_ENTRIES as usize }> = Array::new();

/// Local ports that tracked flows may use (`fw_common::conntrack`).
#[btf_map]
pub static CT_PORTS: Array<u64, { CT_PORTS_WORDS as usize }> = Array::new();

/// Drop-log events (`fw_common::log`).
#[btf_map]
pub static LOGS: RingBuf<LogEvent, { LOGS_BYTES as usize }> = RingBuf::new();

/// The log rate limits' token buckets.
#[btf_map]
pub static LOG_BUCKETS: Array<u64, { LOG_BUCKETS_ENTRIES as usize }> = Array::new();

/// Log counters: written, suppressed, lost.
#[btf_map]
pub static LOG_STATS: PerCpuArray<u64, { LOG_STATS_ENTRIES as usize }> = PerCpuArray::new();

/// The `limit` table (`fw_common::limit`).
#[btf_map]
pub static LIMIT: LruHashMap<LimitKey, LimitEntry, { LIMIT_ENTRIES as usize }> = LruHashMap::new();

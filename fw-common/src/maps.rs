//! The catalogue of maps: names, kinds and sizes.
//!
//! The eBPF statics are named exactly like the constants here (a BTF map's
//! name is its static's identifier); the loader checks the embedded object
//! against [`ALL`] before it trusts it.

use core::mem::size_of;

use crate::{
    config::{CONFIG_ENTRIES, Config},
    conntrack::{
        CT_DEFAULT_ENTRIES, CT_PENDING_ENTRIES, CT_PORTS_WORDS, CtEntry, CtKey, CtPending,
    },
    limit::{LIMIT_ENTRIES, LimitEntry, LimitKey},
    log::{LOG_BUCKETS_ENTRIES, LOG_STATS_ENTRIES, LOGS_BYTES},
    rules::{FILTER_ENTRIES, Filter, MAX_RULES, RULESET_ENTRIES, RulesetHeader, SLOTS},
    scratch::{SCRATCH_ENTRIES, ScratchSlot},
    stats::{Counter, STATS_ENTRIES},
};

/// Name of the config map.
pub const CONFIG: &str = "CONFIG";
/// Name of the per-slot rule-set header map.
pub const RULESET: &str = "RULESET";
/// Name of the outer map of IPv4 entry maps.
pub const RULES_V4: &str = "RULES_V4";
/// Name of the outer map of IPv6 entry maps.
pub const RULES_V6: &str = "RULES_V6";
/// Name of the per-slot negative filter.
pub const FILTER: &str = "FILTER";
/// Name of the per-CPU scratch slot of the parsed packet.
pub const SCRATCH: &str = "SCRATCH";
/// Name of the reason counters.
pub const STATS: &str = "STATS";
/// Name of the per-rule counters.
pub const RULE_STATS: &str = "RULE_STATS";
/// Name of the flow table (an LRU hash; its size is set at load time).
pub const CONNTRACK: &str = "CONNTRACK";
/// Name of the half-open records (`crate::conntrack::CtPending`).
pub const CT_PENDING: &str = "CT_PENDING";
/// Name of the local-port bitmap of tracked flows.
pub const CT_PORTS: &str = crate::conntrack::CT_PORTS;
/// Name of the `limit` table (an LRU hash of sources).
pub const LIMIT: &str = "LIMIT";
/// Name of the drop-log ring buffer (`crate::log`).
pub const LOGS: &str = "LOGS";
/// Name of the log rate limits' token buckets.
pub const LOG_BUCKETS: &str = "LOG_BUCKETS";
/// Name of the log counters (written, suppressed, lost).
pub const LOG_STATS: &str = "LOG_STATS";

/// What the loader expects of one map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// The map's name.
    pub name: &'static str,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (for maps of maps: 4, a map id).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
}

/// Every map of the data plane.
pub const ALL: [MapSpec; 15] = [
    MapSpec {
        name: CONFIG,
        key_size: 4,
        value_size: size_of::<Config>() as u32,
        max_entries: CONFIG_ENTRIES,
    },
    MapSpec {
        name: RULESET,
        key_size: 4,
        value_size: size_of::<RulesetHeader>() as u32,
        max_entries: RULESET_ENTRIES,
    },
    MapSpec {
        name: RULES_V4,
        key_size: 4,
        value_size: 4,
        max_entries: SLOTS,
    },
    MapSpec {
        name: RULES_V6,
        key_size: 4,
        value_size: 4,
        max_entries: SLOTS,
    },
    MapSpec {
        name: FILTER,
        key_size: 4,
        value_size: size_of::<Filter>() as u32,
        max_entries: FILTER_ENTRIES,
    },
    MapSpec {
        name: SCRATCH,
        key_size: 4,
        value_size: size_of::<ScratchSlot>() as u32,
        max_entries: SCRATCH_ENTRIES,
    },
    MapSpec {
        name: STATS,
        key_size: 4,
        value_size: size_of::<Counter>() as u32,
        max_entries: STATS_ENTRIES,
    },
    MapSpec {
        name: RULE_STATS,
        key_size: 4,
        value_size: size_of::<Counter>() as u32,
        max_entries: MAX_RULES,
    },
    MapSpec {
        name: CONNTRACK,
        key_size: size_of::<CtKey>() as u32,
        value_size: size_of::<CtEntry>() as u32,
        max_entries: CT_DEFAULT_ENTRIES,
    },
    MapSpec {
        name: CT_PENDING,
        key_size: 4,
        value_size: size_of::<CtPending>() as u32,
        max_entries: CT_PENDING_ENTRIES,
    },
    MapSpec {
        name: CT_PORTS,
        key_size: 4,
        value_size: 8,
        max_entries: CT_PORTS_WORDS,
    },
    MapSpec {
        name: LIMIT,
        key_size: size_of::<LimitKey>() as u32,
        value_size: size_of::<LimitEntry>() as u32,
        max_entries: LIMIT_ENTRIES,
    },
    MapSpec {
        name: LOGS,
        key_size: 0,
        value_size: 0,
        max_entries: LOGS_BYTES,
    },
    MapSpec {
        name: LOG_BUCKETS,
        key_size: 4,
        value_size: 8,
        max_entries: LOG_BUCKETS_ENTRIES,
    },
    MapSpec {
        name: LOG_STATS,
        key_size: 4,
        value_size: 8,
        max_entries: LOG_STATS_ENTRIES,
    },
];

/// Name of the XDP ingress program.
pub const PROG_XDP: &str = "fw_xdp";
/// Name of the TC egress program.
pub const PROG_TC_EGRESS: &str = "fw_tc_egress";
/// Name of the TC ingress program (answers the rejects XDP marks, see
/// `crate::answer`).
pub const PROG_TC_INGRESS: &str = "fw_tc_ingress";
/// Name of the cgroup_skb egress program (refuses the host's sends the
/// rules deny, with EPERM).
pub const PROG_CGROUP_EGRESS: &str = "fw_cgroup_egress";

//! Loading, pinning, attaching and updating the data plane.
//!
//! [`Dataplane`] is a handle on one instance's pinned maps. `create` loads
//! the embedded object, checks it against `fw_common::maps::ALL`, pins its
//! programs and maps and writes `CONFIG` last (an instance exists once
//! `CONFIG` is pinned with the right magic). `open` finds it again from any
//! later fw-ctl, refusing a mismatched ABI. [`Dataplane::apply`] swaps rule
//! sets atomically (see `fw_common::config`).

pub mod abi;
pub mod attach;
pub mod object;
pub mod pins;

use std::{
    fs, io,
    path::PathBuf,
    time::{Duration, Instant},
};

use aya::{
    EbpfLoader,
    maps::{Array, ArrayOfMaps, HashMap, Map, MapData, MapError, PerCpuArray, PerCpuValues},
    programs::{CgroupSkb, ProgramError, SchedClassifier, Xdp},
    util::nr_cpus,
};
use fw_common::{
    Direction, Reason, Verdict,
    abi::{ABI_VERSION, MAGIC},
    config::{CONFIG_CONNTRACK, CONFIG_LOCAL_EPERM, Config},
    conntrack::{CtEntry, CtKey, CtPending, DEFAULT_TIMEOUTS},
    limit::{DEFAULT_HITS, DEFAULT_WINDOW_S, LIMIT_SLOTS, LimitEntry, LimitKey},
    maps::{self as names, PROG_CGROUP_EGRESS, PROG_TC_EGRESS, PROG_TC_INGRESS, PROG_XDP},
    rules::{
        ENTRY_MAP_FLAGS, EntryV6, Filter, KeyV4, KeyV6, MAX_ENTRIES, RuleEntry, RulesetHeader,
    },
    stats::{Counter, stats_index},
};
pub use pins::Pins;

use crate::rule::compile::Compiled;

/// Errors of the data plane handle.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The embedded object could not be loaded (verifier, memlock, ...).
    #[error("cannot load the eBPF object")]
    Load(#[source] Box<aya::EbpfError>),
    /// A program could not be loaded or pinned.
    #[error("program {name}")]
    Program {
        /// The program.
        name: &'static str,
        /// The cause.
        #[source]
        source: Box<ProgramError>,
    },
    /// A map operation failed.
    #[error("map {name}: {op}")]
    Map {
        /// The map.
        name: &'static str,
        /// What was done.
        op: &'static str,
        /// The cause.
        #[source]
        source: Box<MapError>,
    },
    /// Pinning failed.
    #[error("cannot pin {path}")]
    Pin {
        /// The pin path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another XDP program owns the interface.
    #[error(
        "interface {iface} already runs another XDP program ({found}): fw's filter cannot go \
         on beside it. Remove that program (for example `xdp-loader unload {iface} --all` or \
         `ip link set dev {iface} xdp off`), or leave {iface} out: `fw-ctl enable -i` with \
         the other interfaces"
    )]
    XdpBusy {
        /// The interface.
        iface: String,
        /// The program found there: `id N, name X, driver mode`.
        found: String,
        /// The kernel's answer to fw's attach.
        #[source]
        source: Box<ProgramError>,
    },
    /// The object's maps do not match `fw_common`.
    #[error(transparent)]
    Abi(#[from] abi::AbiError),
    /// Pin directory problems.
    #[error(transparent)]
    PinDir(#[from] pins::PinDirError),
    /// The cgroup for the cgroup egress program cannot be opened.
    #[error("cannot open the cgroup {path}")]
    Cgroup {
        /// The cgroup's directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Removing pins failed.
    #[error("cannot remove {path}")]
    Remove {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn map_err(name: &'static str, op: &'static str) -> impl FnOnce(MapError) -> LoaderError {
    move |e| LoaderError::Map {
        name,
        op,
        source: Box::new(e),
    }
}

/// `bpf(2)` command number of a batched lookup.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// `union bpf_attr` for the `BPF_MAP_*_BATCH` commands.
#[repr(C)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// The live slot's IPv4 and IPv6 entries.
pub type LiveEntries = (Vec<(KeyV4, RuleEntry)>, Vec<(KeyV6, EntryV6)>);

/// Handles on the pinned maps of one instance.
pub struct Dataplane {
    pins: Pins,
    config: Array<MapData, Config>,
    ruleset: Array<MapData, RulesetHeader>,
    rules_v4: ArrayOfMaps<MapData, HashMap<MapData, KeyV4, RuleEntry>>,
    rules_v6: ArrayOfMaps<MapData, HashMap<MapData, KeyV6, EntryV6>>,
    filter: Array<MapData, Filter>,
    stats: PerCpuArray<MapData, Counter>,
    rule_stats: PerCpuArray<MapData, Counter>,
    conntrack: HashMap<MapData, CtKey, CtEntry>,
    limit: HashMap<MapData, LimitKey, LimitEntry>,
}

/// A rule set built in the inactive slot, not yet live.
pub struct Prepared {
    slot: u32,
    generation: u64,
    h4: HashMap<MapData, KeyV4, RuleEntry>,
    entries_v4: usize,
    entries_v6: usize,
    build: Duration,
}

/// What an apply did and how long it took.
#[derive(Clone, Copy, Debug)]
pub struct ApplyReport {
    /// The new generation.
    pub generation: u64,
    /// IPv4 entries written.
    pub entries_v4: usize,
    /// IPv6 entries written.
    pub entries_v6: usize,
    /// Time to build the new slot (maps created and filled).
    pub build: Duration,
    /// Time from the switch until the old rule set is out of use.
    pub switch: Duration,
}

fn open_map(pins: &Pins, name: &'static str) -> Result<Map, LoaderError> {
    let data = MapData::from_pin(pins.map(name)).map_err(map_err(name, "open pin"))?;
    abi::check_map(name, &data)?;
    Map::from_map_data(data).map_err(map_err(name, "open pin"))
}

/// The drop-log ring buffer of the instance at `pins`, with the kernel's
/// id of the map (a new id means the filter was loaded anew).
///
/// # Errors
/// When it is not pinned or not the map fw expects.
pub fn open_logs(pins: &Pins) -> Result<(aya::maps::RingBuf<MapData>, u32), LoaderError> {
    let id = logs_id(pins).ok_or(abi::AbiError::MissingMap(names::LOGS))?;
    let ring = open_map(pins, names::LOGS)?
        .try_into()
        .map_err(map_err(names::LOGS, "open"))?;
    Ok((ring, id))
}

/// The kernel's id of the pinned drop-log ring buffer, if pinned.
#[must_use]
pub fn logs_id(pins: &Pins) -> Option<u32> {
    MapData::from_pin(pins.map(names::LOGS))
        .ok()?
        .info()
        .ok()
        .map(|i| i.id())
}

impl Dataplane {
    /// True when an instance is pinned at `pins` (its `CONFIG` exists).
    #[must_use]
    pub fn exists(pins: &Pins) -> bool {
        pins.map(names::CONFIG).exists()
    }

    /// Loads the embedded object and pins programs and maps at `pins`, with
    /// an empty rule set in slot 0.
    ///
    /// # Errors
    /// Load, verification, ABI or pinning failures.
    pub fn create(pins: &Pins, netns_cookie: u64, flows: u32) -> Result<Self, LoaderError> {
        raise_memlock();
        pins.create_dirs()?;
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(names::CONNTRACK, flows)
            .load(object::OBJECT)
            .map_err(|e| LoaderError::Load(Box::new(e)))?;
        {
            let p: &mut Xdp = program(&mut ebpf, PROG_XDP)?;
            p.load().map_err(prog_err(PROG_XDP))?;
            pin_prog(p.pin(pins.prog(PROG_XDP)), pins.prog(PROG_XDP))?;
        }
        for name in [PROG_TC_EGRESS, PROG_TC_INGRESS] {
            let p: &mut SchedClassifier = program(&mut ebpf, name)?;
            p.load().map_err(prog_err(name))?;
            pin_prog(p.pin(pins.prog(name)), pins.prog(name))?;
        }
        {
            let name = PROG_CGROUP_EGRESS;
            let p: &mut CgroupSkb = program(&mut ebpf, name)?;
            p.load().map_err(prog_err(name))?;
            pin_prog(p.pin(pins.prog(name)), pins.prog(name))?;
        }
        let mut cfg: Array<&mut MapData, Config> = Array::try_from(
            ebpf.map_mut(names::CONFIG)
                .ok_or(abi::AbiError::MissingMap(names::CONFIG))?,
        )
        .map_err(map_err(names::CONFIG, "open"))?;
        let c = Config {
            magic: MAGIC,
            abi_version: ABI_VERSION,
            active_slot: 0,
            flags: CONFIG_CONNTRACK,
            generation: 0,
            netns_cookie,
            ct_timeout_s: DEFAULT_TIMEOUTS,
            limit_hits: DEFAULT_HITS,
            limit_window_s: DEFAULT_WINDOW_S,
            log_level: fw_common::log::LOG_LOW,
            builtins: 0,
        };
        cfg.set(0, c, 0).map_err(map_err(names::CONFIG, "init"))?;
        // CONFIG is pinned last (ALL lists it first): it marks a complete instance.
        for spec in fw_common::maps::ALL.iter().rev() {
            let map = ebpf
                .map(spec.name)
                .ok_or(abi::AbiError::MissingMap(spec.name))?;
            let path = pins.map(spec.name);
            map.pin(&path).map_err(|e| LoaderError::Pin {
                path: path.clone(),
                source: Box::new(e),
            })?;
        }
        drop(ebpf);
        Self::open(pins)
    }

    /// Opens the instance pinned at `pins`.
    ///
    /// # Errors
    /// Missing pins, or pins of another ABI (with a recovery hint).
    pub fn open(pins: &Pins) -> Result<Self, LoaderError> {
        let config: Array<MapData, Config> = open_map(pins, names::CONFIG)?
            .try_into()
            .map_err(map_err(names::CONFIG, "open"))?;
        let c = config.get(&0, 0).map_err(map_err(names::CONFIG, "read"))?;
        if c.magic != MAGIC || c.abi_version != ABI_VERSION {
            return Err(abi::AbiError::Version {
                found_magic: c.magic,
                found: c.abi_version,
            }
            .into());
        }
        Ok(Self {
            pins: pins.clone(),
            config,
            ruleset: open_map(pins, names::RULESET)?
                .try_into()
                .map_err(map_err(names::RULESET, "open"))?,
            rules_v4: open_map(pins, names::RULES_V4)?
                .try_into()
                .map_err(map_err(names::RULES_V4, "open"))?,
            rules_v6: open_map(pins, names::RULES_V6)?
                .try_into()
                .map_err(map_err(names::RULES_V6, "open"))?,
            filter: open_map(pins, names::FILTER)?
                .try_into()
                .map_err(map_err(names::FILTER, "open"))?,
            stats: open_map(pins, names::STATS)?
                .try_into()
                .map_err(map_err(names::STATS, "open"))?,
            rule_stats: open_map(pins, names::RULE_STATS)?
                .try_into()
                .map_err(map_err(names::RULE_STATS, "open"))?,
            conntrack: open_map(pins, names::CONNTRACK)?
                .try_into()
                .map_err(map_err(names::CONNTRACK, "open"))?,
            limit: open_map(pins, names::LIMIT)?
                .try_into()
                .map_err(map_err(names::LIMIT, "open"))?,
        })
    }

    /// Forgets every tracked flow and every `limit` record (tests start
    /// each sequence from empty tables).
    ///
    /// # Errors
    /// When a map cannot be read or written.
    pub fn clear_flows(&mut self) -> Result<(), LoaderError> {
        let keys: Vec<CtKey> = self.conntrack.keys().filter_map(Result::ok).collect();
        for k in keys {
            let _ = self.conntrack.remove(&k);
        }
        let keys: Vec<LimitKey> = self.limit.keys().filter_map(Result::ok).collect();
        for k in keys {
            let _ = self.limit.remove(&k);
        }
        self.clear_pending(|_| true)
    }

    /// Empties the half-open records `which` selects.
    fn clear_pending(&self, which: impl Fn(&CtPending) -> bool) -> Result<(), LoaderError> {
        let mut pending: Array<MapData, CtPending> = open_map(&self.pins, names::CT_PENDING)?
            .try_into()
            .map_err(map_err(names::CT_PENDING, "open"))?;
        for i in 0..fw_common::conntrack::CT_PENDING_ENTRIES {
            if pending.get(&i, 0).is_ok_and(|p| p.fp != 0 && which(&p)) {
                pending
                    .set(i, CtPending::default(), 0)
                    .map_err(map_err(names::CT_PENDING, "clear"))?;
            }
        }
        Ok(())
    }

    /// Tracked flows now and the table's capacity. Counting walks the
    /// table's keys (one system call each).
    ///
    /// # Errors
    /// When the map cannot be read.
    pub fn flows(&self) -> Result<(usize, u32), LoaderError> {
        let cap = MapData::from_pin(self.pins.map(names::CONNTRACK))
            .map_err(map_err(names::CONNTRACK, "open pin"))?
            .info()
            .map_err(map_err(names::CONNTRACK, "describe"))?
            .max_entries();
        Ok((self.conntrack.keys().filter(Result::is_ok).count(), cap))
    }

    /// The pin layout.
    #[must_use]
    pub fn pins(&self) -> &Pins {
        &self.pins
    }

    /// The live `CONFIG` value.
    ///
    /// # Errors
    /// When the map cannot be read.
    pub fn config(&self) -> Result<Config, LoaderError> {
        self.config
            .get(&0, 0)
            .map_err(map_err(names::CONFIG, "read"))
    }

    /// Installs a compiled rule set atomically ([`Self::prepare`] then
    /// [`Self::commit`]).
    ///
    /// # Errors
    /// Map creation or update failures; the live rule set is then unchanged.
    pub fn apply(&mut self, c: &Compiled, fresh_ids: &[u32]) -> Result<ApplyReport, LoaderError> {
        let p = self.prepare(c, fresh_ids)?;
        self.commit(p)
    }

    /// Builds a compiled rule set in the inactive slot and zeroes the
    /// counters of `fresh_ids` (rules new in this set). Nothing a packet can
    /// see changes; dropping the result abandons it.
    ///
    /// # Errors
    /// Map creation or update failures.
    pub fn prepare(&mut self, c: &Compiled, fresh_ids: &[u32]) -> Result<Prepared, LoaderError> {
        let t0 = Instant::now();
        let cfg = self.config()?;
        let new = 1 - (cfg.active_slot & 1);
        let mut h4 =
            HashMap::<MapData, KeyV4, RuleEntry>::create(capacity(c.v4.len()), ENTRY_MAP_FLAGS)
                .map_err(map_err(names::RULES_V4, "create inner map"))?;
        for (k, v) in &c.v4 {
            h4.insert(k, v, 0)
                .map_err(map_err(names::RULES_V4, "fill inner map"))?;
        }
        let mut h6 =
            HashMap::<MapData, KeyV6, EntryV6>::create(capacity(c.v6.len()), ENTRY_MAP_FLAGS)
                .map_err(map_err(names::RULES_V6, "create inner map"))?;
        for (k, v) in &c.v6 {
            h6.insert(k, v, 0)
                .map_err(map_err(names::RULES_V6, "fill inner map"))?;
        }
        let generation = cfg.generation + 1;
        let mut hdr = c.header.clone();
        hdr.generation = generation;
        #[allow(
            clippy::needless_borrows_for_generic_args,
            reason = "the filter is 1 MiB: by value it would be copied to the stack"
        )]
        self.filter
            .set(new, &*c.filter, 0)
            .map_err(map_err(names::FILTER, "write slot"))?;
        self.ruleset
            .set(new, *hdr, 0)
            .map_err(map_err(names::RULESET, "write slot"))?;
        self.rules_v4
            .set(new, &h4, 0)
            .map_err(map_err(names::RULES_V4, "write slot"))?;
        self.rules_v6
            .set(new, &h6, 0)
            .map_err(map_err(names::RULES_V6, "write slot"))?;
        for &id in fresh_ids {
            self.rule_stats
                .set(id, per_cpu_zero()?, 0)
                .map_err(map_err(names::RULE_STATS, "zero counters"))?;
        }
        Ok(Prepared {
            slot: new,
            generation,
            h4,
            entries_v4: c.v4.len(),
            entries_v6: c.v6.len(),
            build: t0.elapsed(),
        })
    }

    /// Makes a prepared rule set live with one write and waits until no
    /// packet can still be using the old one.
    ///
    /// # Errors
    /// Map update failures.
    pub fn commit(&mut self, p: Prepared) -> Result<ApplyReport, LoaderError> {
        let t1 = Instant::now();
        let mut cfg = self.config()?;
        cfg.active_slot = p.slot;
        cfg.generation = p.generation;
        self.config
            .set(0, cfg, 0)
            .map_err(map_err(names::CONFIG, "switch slot"))?;
        // Grace period: an update of an ARRAY_OF_MAPS returns only after
        // synchronize_rcu(), i.e. when every program that may still have read
        // the old active_slot has finished.
        self.rules_v4
            .set(p.slot, &p.h4, 0)
            .map_err(map_err(names::RULES_V4, "wait grace period"))?;
        let switch = t1.elapsed();
        // The old slot's entries stay allocated until the next prepare
        // replaces them: freeing them now would cost two more grace periods
        // per apply, for memory the next apply frees anyway.
        Ok(ApplyReport {
            generation: p.generation,
            entries_v4: p.entries_v4,
            entries_v6: p.entries_v6,
            build: p.build,
            switch,
        })
    }

    /// Turns stateful mode (flow tracking and ufw's built-in rules) on or
    /// off (`Config::flags`; on after [`Dataplane::create`]). Off, the
    /// filter is the rules alone.
    ///
    /// # Errors
    /// When `CONFIG` cannot be read or written.
    pub fn set_conntrack(&mut self, on: bool) -> Result<(), LoaderError> {
        let t = self.config()?.ct_timeout_s;
        self.set_tracking(on, t)
    }

    /// Whether the cgroup egress program may refuse the host's denied
    /// sends (`fw_common::config::CONFIG_LOCAL_EPERM`: when every
    /// interface is protected).
    ///
    /// # Errors
    /// When `CONFIG` cannot be read or written.
    pub fn set_local_eperm(&mut self, on: bool) -> Result<(), LoaderError> {
        let mut c = self.config()?;
        let flags = if on {
            c.flags | CONFIG_LOCAL_EPERM
        } else {
            c.flags & !CONFIG_LOCAL_EPERM
        };
        if flags == c.flags {
            return Ok(());
        }
        c.flags = flags;
        self.config
            .set(0, c, 0)
            .map_err(map_err(names::CONFIG, "write"))
    }

    /// Stateful mode on or off and the flows' idle timeouts (seconds per
    /// `fw_common::conntrack::CtState`).
    ///
    /// # Errors
    /// When `CONFIG` cannot be read or written.
    pub fn set_tracking(
        &mut self,
        on: bool,
        timeouts: [u32; fw_common::conntrack::CT_STATES],
    ) -> Result<(), LoaderError> {
        let mut c = self.config()?;
        c.ct_timeout_s = timeouts;
        c.flags = if on {
            c.flags | CONFIG_CONNTRACK
        } else {
            c.flags & !CONFIG_CONNTRACK
        };
        self.config
            .set(0, c, 0)
            .map_err(map_err(names::CONFIG, "write"))
    }

    /// `limit`'s rate: the new connection that makes `hits` (1 to 8) from
    /// one source within `window_s` seconds is refused.
    ///
    /// # Errors
    /// When `CONFIG` cannot be read or written.
    pub fn set_limit(&mut self, hits: u32, window_s: u32) -> Result<(), LoaderError> {
        let mut c = self.config()?;
        c.limit_hits = hits.clamp(1, LIMIT_SLOTS as u32);
        c.limit_window_s = window_s;
        self.config
            .set(0, c, 0)
            .map_err(map_err(names::CONFIG, "write"))
    }

    /// Sets the switchable built-in rules (`Config::builtins`, a word of
    /// `fw_common::builtins::Setting`s). When it changes, the flows those
    /// rules opened are forgotten, and so are the flows of the switched
    /// kinds that rules opened (echo requests and DHCP answers the host
    /// received), so the next packet of each meets the new setting (as a
    /// rule change rechecks the flows rules opened).
    ///
    /// # Errors
    /// When `CONFIG` or the flow tables cannot be read or written.
    pub fn set_builtins(&mut self, word: u32) -> Result<(), LoaderError> {
        let mut c = self.config()?;
        if c.builtins == word {
            return Ok(());
        }
        c.builtins = word;
        self.config
            .set(0, c, 0)
            .map_err(map_err(names::CONFIG, "write"))?;
        self.forget_builtin_flows()
    }

    /// Removes the flows and half-open records a built-in rule opened, and
    /// the host's flows of the kinds the switches name that a peer opened
    /// (echo requests to the host, DHCP and DHCPv6 answers to its client),
    /// whichever rule opened them.
    fn forget_builtin_flows(&mut self) -> Result<(), LoaderError> {
        use fw_common::conntrack::{CT_BUILTIN, CT_ZONE_HOST};
        use fw_common::ipproto::{ICMP, ICMPV6, UDP};
        let switched = |k: &CtKey, e: &CtEntry| {
            k.zone == CT_ZONE_HOST
                && e.origin == fw_common::Direction::In as u8
                && (k.proto == ICMP
                    || k.proto == ICMPV6
                    || (k.proto == UDP && matches!((k.lport, k.rport), (68, 67) | (546, 547))))
        };
        let keys: Vec<CtKey> = self
            .conntrack
            .iter()
            .filter_map(Result::ok)
            .filter(|(k, e)| e.rule_id == CT_BUILTIN || switched(k, e))
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            let _ = self.conntrack.remove(&k);
        }
        self.clear_pending(|p| p.rule_id == CT_BUILTIN)
    }

    /// Sets the logging level (`fw_common::log::LOG_OFF` ..= `LOG_FULL`).
    ///
    /// # Errors
    /// When the map cannot be written.
    pub fn set_logging(&mut self, level: u32) -> Result<(), LoaderError> {
        let mut c = self.config()?;
        c.log_level = level.min(fw_common::log::LOG_FULL);
        self.config
            .set(0, c, 0)
            .map_err(map_err(names::CONFIG, "write"))
    }

    /// The log counters summed over CPUs: (written, suppressed by a rate
    /// limit, lost to a full ring buffer).
    ///
    /// # Errors
    /// When the map cannot be opened or read.
    pub fn log_stats(&self) -> Result<(u64, u64, u64), LoaderError> {
        use fw_common::log::{LOG_STAT_LOST, LOG_STAT_SUPPRESSED, LOG_STAT_WRITTEN};
        let map: aya::maps::PerCpuArray<MapData, u64> = open_map(&self.pins, names::LOG_STATS)?
            .try_into()
            .map_err(map_err(names::LOG_STATS, "open"))?;
        let get = |i: u32| -> Result<u64, LoaderError> {
            Ok(map
                .get(&i, 0)
                .map_err(map_err(names::LOG_STATS, "read"))?
                .iter()
                .sum())
        };
        Ok((
            get(LOG_STAT_WRITTEN)?,
            get(LOG_STAT_SUPPRESSED)?,
            get(LOG_STAT_LOST)?,
        ))
    }

    /// The header of the live slot.
    ///
    /// # Errors
    /// When a map cannot be read.
    pub fn live_header(&self) -> Result<RulesetHeader, LoaderError> {
        let slot = self.config()?.active_slot & 1;
        self.ruleset
            .get(&slot, 0)
            .map_err(map_err(names::RULESET, "read"))
    }

    /// The entries of the live slot (for `show raw` and tests).
    ///
    /// # Errors
    /// When a map cannot be read.
    pub fn live_entries(&self) -> Result<LiveEntries, LoaderError> {
        let slot = self.config()?.active_slot & 1;
        let h4 = self
            .rules_v4
            .get(&slot, 0)
            .map_err(map_err(names::RULES_V4, "read slot"))?;
        let h6 = self
            .rules_v6
            .get(&slot, 0)
            .map_err(map_err(names::RULES_V6, "read slot"))?;
        let v4 = h4
            .iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err(names::RULES_V4, "iterate"))?;
        let v6 = h6
            .iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err(names::RULES_V6, "iterate"))?;
        Ok((v4, v6))
    }

    /// A rule's counters, summed over CPUs.
    ///
    /// # Errors
    /// When the map cannot be read.
    pub fn rule_counter(&self, id: u32) -> Result<Counter, LoaderError> {
        let v = self
            .rule_stats
            .get(&id, 0)
            .map_err(map_err(names::RULE_STATS, "read"))?;
        Ok(sum(&v))
    }

    /// The counters of rules `ids` (in that order), summed over CPUs, read
    /// with `BPF_MAP_LOOKUP_BATCH` (a call per 4,096 ids up to the highest,
    /// not a lookup per rule: a scrape of 100,000 rules).
    ///
    /// # Errors
    /// When the map cannot be opened or read.
    pub fn rule_counters(&self, ids: &[u32]) -> Result<Vec<Counter>, LoaderError> {
        let all = self.counters_below(ids.iter().map(|i| i + 1).max().unwrap_or(0))?;
        Ok(ids
            .iter()
            .map(|&i| all.get(i as usize).copied().unwrap_or_default())
            .collect())
    }

    /// The counters of rule ids `0..n` (see [`Self::rule_counters`]).
    fn counters_below(&self, n: u32) -> Result<Vec<Counter>, LoaderError> {
        let syscall_err = |call: &'static str, io_error: std::io::Error| LoaderError::Map {
            name: names::RULE_STATS,
            op: "read in batches",
            source: Box::new(MapError::SyscallError(aya::sys::SyscallError {
                call,
                io_error,
            })),
        };
        let data = MapData::from_pin(self.pins.map(names::RULE_STATS))
            .map_err(map_err(names::RULE_STATS, "open pin"))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(data.fd()));
        let cpus = nr_cpus().map_err(|(_, e)| syscall_err("nr_cpus", e))?;
        let n = n.min(fw_common::rules::MAX_RULES) as usize;
        let mut out = vec![Counter::default(); n];
        const CHUNK: usize = 4096;
        let mut keys = vec![0u32; CHUNK];
        let mut values = vec![Counter::default(); CHUNK * cpus];
        let (mut next, mut done) = (0u32, 0usize);
        while done < n {
            let mut attr = BatchAttr {
                in_batch: if done == 0 {
                    0
                } else {
                    std::ptr::from_ref(&next) as u64
                },
                out_batch: std::ptr::from_mut(&mut next) as u64,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: CHUNK.min(n - done) as u32,
                map_fd: fd as u32,
                elem_flags: 0,
                flags: 0,
            };
            // SAFETY: BPF_MAP_LOOKUP_BATCH with buffers for `count` keys
            // and `count` per-CPU values, and a key-sized out_batch.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_bpf,
                    BPF_MAP_LOOKUP_BATCH,
                    std::ptr::from_mut(&mut attr),
                    size_of::<BatchAttr>(),
                )
            };
            let last = r < 0;
            if last {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ENOENT) {
                    return Err(syscall_err("bpf(BPF_MAP_LOOKUP_BATCH)", e));
                }
            }
            let got = attr.count as usize;
            for (i, &k) in keys[..got].iter().enumerate() {
                if let Some(c) = out.get_mut(k as usize) {
                    *c =
                        values[i * cpus..(i + 1) * cpus]
                            .iter()
                            .fold(Counter::default(), |a, v| Counter {
                                packets: a.packets + v.packets,
                                bytes: a.bytes + v.bytes,
                            });
                }
            }
            done += got;
            if last || got == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// A reason counter, summed over CPUs.
    ///
    /// # Errors
    /// When the map cannot be read.
    pub fn reason_counter(
        &self,
        r: Reason,
        d: Direction,
        v: Verdict,
    ) -> Result<Counter, LoaderError> {
        let vals = self
            .stats
            .get(&stats_index(r, d, v), 0)
            .map_err(map_err(names::STATS, "read"))?;
        Ok(sum(&vals))
    }

    /// Removes every pin of the instance at `pins`: links first (which
    /// detaches the programs), then programs and maps.
    ///
    /// # Errors
    /// When a pin cannot be removed.
    pub fn destroy(pins: &Pins) -> Result<(), LoaderError> {
        attach::detach_all(pins)?;
        let root = pins.root().to_path_buf();
        if root.exists() {
            fs::remove_dir_all(&root).map_err(|source| LoaderError::Remove {
                path: root.clone(),
                source,
            })?;
        }
        if let Some(parent) = root.parent() {
            let _ = fs::remove_dir(parent); // only if empty
        }
        Ok(())
    }
}

/// The capacity of an inner entry map holding `n` entries. The kernel does
/// not compare `max_entries` of hash maps when an inner map is stored in a
/// map-in-map (`bpf_map_meta_equal`), so each set is sized to fit: the hash
/// table's buckets (16 bytes per power-of-two slot) are allocated and
/// zeroed at creation, and a 2^20-entry table would cost 16 MiB per apply.
fn capacity(n: usize) -> u32 {
    (n as u32).clamp(64, MAX_ENTRIES)
}

fn sum(v: &PerCpuValues<Counter>) -> Counter {
    v.iter().fold(Counter::default(), |a, c| Counter {
        packets: a.packets + c.packets,
        bytes: a.bytes + c.bytes,
    })
}

fn per_cpu_zero() -> Result<PerCpuValues<Counter>, LoaderError> {
    let n = nr_cpus().map_err(|(_, e)| LoaderError::Map {
        name: names::RULE_STATS,
        op: "count CPUs",
        source: Box::new(MapError::SyscallError(aya::sys::SyscallError {
            call: "nr_cpus",
            io_error: e,
        })),
    })?;
    PerCpuValues::try_from(vec![Counter::default(); n]).map_err(|e| LoaderError::Map {
        name: names::RULE_STATS,
        op: "zero value",
        source: Box::new(MapError::SyscallError(aya::sys::SyscallError {
            call: "per-cpu",
            io_error: e,
        })),
    })
}

fn program<'a, T>(ebpf: &'a mut aya::Ebpf, name: &'static str) -> Result<&'a mut T, LoaderError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let p = ebpf
        .program_mut(name)
        .ok_or(abi::AbiError::MissingProgram(name))?;
    p.try_into().map_err(prog_err(name))
}

fn prog_err(name: &'static str) -> impl FnOnce(ProgramError) -> LoaderError {
    move |e| LoaderError::Program {
        name,
        source: Box::new(e),
    }
}

fn pin_prog(r: Result<(), aya::pin::PinError>, path: PathBuf) -> Result<(), LoaderError> {
    r.map_err(|e| LoaderError::Pin {
        path,
        source: Box::new(e),
    })
}

/// Lifts RLIMIT_MEMLOCK for kernels that still charge BPF memory to it.
fn raise_memlock() {
    let r = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid struct.
    unsafe {
        libc::setrlimit(libc::RLIMIT_MEMLOCK, &raw const r);
    }
}

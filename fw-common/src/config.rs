//! The `CONFIG` map: one value saying which rule-set slot is live.
//!
//! ```text
//! CONFIG[0] = Config { magic, abi_version, active_slot, flags, generation, netns_cookie,
//!                      ct_timeout_s }
//!                                  |
//!            +---------------------+---------------------+
//!            v                                           v
//!  RULESET[slot]  (header: shapes, port classes,   RULES_V4[slot] / RULES_V6[slot]
//!                  default policies)                (inner hash maps of entries)
//! ```
//! A packet reads `active_slot` once and then only touches that slot, so it
//! sees one complete rule set. The controller fills the other slot, flips
//! `active_slot` with one write, and waits for an RCU grace period (an update
//! of an `ARRAY_OF_MAPS`, which the kernel follows with `synchronize_rcu()`)
//! before it ever writes the old slot again.

use crate::{assert_size, pod};

/// Number of entries of `CONFIG`.
pub const CONFIG_ENTRIES: u32 = 1;

/// The single value of `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// [`crate::abi::MAGIC`].
    pub magic: u32,
    /// [`crate::abi::ABI_VERSION`].
    pub abi_version: u32,
    /// The rule-set slot packets use now (0 or 1).
    pub active_slot: u32,
    /// `CONFIG_*` flags.
    pub flags: u32,
    /// Incremented by every rule-set change; also stored in the slot header.
    pub generation: u64,
    /// The kernel's cookie of the network namespace this instance filters
    /// (`SO_NETNS_COOKIE`), so pins left by a dead namespace are recognised.
    pub netns_cookie: u64,
    /// Idle timeouts of tracked flows in seconds, indexed by
    /// [`crate::conntrack::CtState`].
    pub ct_timeout_s: [u32; crate::conntrack::CT_STATES],
    /// `limit`: the new connection from one source that makes this many
    /// within [`Config::limit_window_s`] is refused (ufw: 6; at most
    /// [`crate::limit::LIMIT_SLOTS`]).
    pub limit_hits: u32,
    /// `limit`: the window in seconds (ufw: 30).
    pub limit_window_s: u32,
    /// The logging level (`crate::log::LOG_OFF` .. `LOG_FULL`).
    pub log_level: u32,
    /// The settings of the switchable built-in rules: a
    /// [`crate::builtins::Setting`] in two bits per
    /// [`crate::builtins::Switch`] (0: every one ufw's).
    pub builtins: u32,
}
assert_size!(Config, 80);

/// `Config::flags`: stateful mode, as ufw: track flows (replies and later
/// packets of allowed flows pass before the rules) and apply ufw's built-in
/// rules (`crate::builtins`). Without it the filter is the rules alone.
pub const CONFIG_CONNTRACK: u32 = 1 << 0;
/// `Config::flags`: every interface but loopback is protected, so the
/// cgroup egress program may refuse the host's own packets that the rules
/// deny with EPERM before they reach one (fw-ebpf's `local`).
pub const CONFIG_LOCAL_EPERM: u32 = 1 << 1;
pod!(Config);

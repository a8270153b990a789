//! The Prometheus exposition of one instance: read from the pinned maps on
//! every scrape and encoded in the Prometheus text format (0.0.4) by the
//! `prometheus` crate (a fresh registry per scrape, so deleted rules leave
//! no stale series).
//!
//! Series (all `_total` are counters since the filter was loaded):
//!
//! ```text
//! fw_build_info{version,abi}                         1
//! fw_enabled                                         1 while the filter is live
//! fw_ruleset_generation                              rule-set generation in the kernel
//! fw_ruleset_last_apply_duration_seconds             compile + write of the last apply
//! fw_ruleset_last_apply_timestamp_seconds            when it happened (Unix time)
//! fw_rules                                           rules in the list
//! fw_rule_packets_total{number,id,action,direction,family,rule,comment}
//! fw_rule_bytes_total{...}                           packets/bytes each rule decided
//! fw_policy_packets_total{direction,action}          packets/bytes the default policies decided
//! fw_policy_bytes_total{direction,action}
//! fw_packets_total{reason,direction,verdict}         every packet, by reason (fw_common::Reason)
//! fw_bytes_total{reason,direction,verdict}
//! fw_conntrack_entries / fw_conntrack_capacity / fw_conntrack_fill_ratio
//! fw_bpf_stats_enabled                               kernel BPF run-time statistics on
//! fw_bpf_program_runs_total{program}                 runs and run time (while statistics are on)
//! fw_bpf_program_run_seconds_total{program}
//! fw_log_events_total{outcome}                       drop-log events written/suppressed/lost
//! fw_rule_series_aggregated                          1 when per-rule series are summed
//! ```
//!
//! Cardinality: per-rule series are 2 per rule. Above `--max-rule-series`
//! rules (default 10,000), or with `--aggregate-rules`, the rule series
//! are summed per (action, direction, family) instead (at most 36 series),
//! so 100,000 rules still give a scrape of a few hundred lines.

use std::path::Path;

use anyhow::{Context as _, Result};
use fw_common::{Direction, Family, Reason, Verdict, abi::ABI_VERSION, maps};
use prometheus::{Encoder as _, GaugeVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use super::Options;
use crate::{
    loader::{Dataplane, Pins, pins::resolve_root},
    rule::display::{action_word, canonical},
    state::{Cached, StateDir},
};

/// The Content-Type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Default for [`RuleSeries::PerRule`]'s limit.
pub const DEFAULT_MAX_RULE_SERIES: usize = 10_000;

/// How rule counters are exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleSeries {
    /// One pair of series per rule, up to this many rules; above it, as
    /// `Aggregated`.
    PerRule(usize),
    /// Sums per (action, direction, family).
    Aggregated,
}

/// The exposition for one scrape.
///
/// # Errors
/// When the state or the pinned maps cannot be read.
pub fn render(opts: &Options) -> Result<Vec<u8>> {
    let registry = Registry::new();
    gather(opts, &registry)?;
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .context("encoding the metrics")?;
    Ok(out)
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    reg.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(reg: &Registry, name: &str, help: &str) -> Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    reg.register(Box::new(g.clone()))?;
    Ok(g)
}

fn family_label(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

fn gather(opts: &Options, reg: &Registry) -> Result<()> {
    // A gauge by convention (a counter would get `_total`).
    let build = GaugeVec::new(
        Opts::new(
            "fw_build_info",
            "fw-ctl's version and the data plane ABI it speaks (always 1).",
        ),
        &["version", "abi"],
    )?;
    reg.register(Box::new(build.clone()))?;
    build
        .with_label_values(&[env!("CARGO_PKG_VERSION"), &ABI_VERSION.to_string()])
        .set(1.0);

    let enabled = gauge(
        reg,
        "fw_enabled",
        "1 while the filter is enabled and its pinned data plane is live.",
    )?;
    let dir = StateDir::open_locked(&opts.state_dir)?;
    // Parsing 100,000 rules on every scrape would cost more than reading
    // their counters.
    static STATE: std::sync::Mutex<Cached> = std::sync::Mutex::new(Cached::new());
    let st = dir.load_cached(
        &mut STATE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )?;
    let pins = Pins::new(&resolve_root(&opts.pin_dir)?);
    if !st.enabled || !Dataplane::exists(&pins) {
        enabled.set(0);
        return Ok(());
    }
    let dp = Dataplane::open(&pins)?;
    enabled.set(1);

    gauge(
        reg,
        "fw_ruleset_generation",
        "Generation of the rule set the data plane enforces (one more per apply).",
    )?
    .set(i64::try_from(dp.config()?.generation).unwrap_or(i64::MAX));
    if let Some((secs, at)) = dir.last_apply() {
        let g = prometheus::Gauge::new(
            "fw_ruleset_last_apply_duration_seconds",
            "Time the last apply took: compiling the rules and writing them to the kernel.",
        )?;
        reg.register(Box::new(g.clone()))?;
        g.set(secs);
        let t = prometheus::Gauge::new(
            "fw_ruleset_last_apply_timestamp_seconds",
            "When the last apply happened (Unix time).",
        )?;
        reg.register(Box::new(t.clone()))?;
        t.set(at);
    }
    gauge(reg, "fw_rules", "Rules in the numbered list.")?
        .set(i64::try_from(st.rules.len()).unwrap_or(i64::MAX));

    rules(opts, reg, &dp, &st)?;

    // Every packet by reason, direction and verdict.
    let pk = counter(
        reg,
        "fw_packets_total",
        "Packets seen, by the reason of their verdict (rule, policy, established, invalid, \
         malformed, fragment, limit, builtin_*, ...), direction and verdict.",
        &["reason", "direction", "verdict"],
    )?;
    let by = counter(
        reg,
        "fw_bytes_total",
        "Bytes (whole frames) seen, as fw_packets_total.",
        &["reason", "direction", "verdict"],
    )?;
    let pp = counter(
        reg,
        "fw_policy_packets_total",
        "Packets the default policy decided, by direction and the policy's action.",
        &["direction", "action"],
    )?;
    let pb = counter(
        reg,
        "fw_policy_bytes_total",
        "Bytes the default policy decided, as fw_policy_packets_total.",
        &["direction", "action"],
    )?;
    for d in Direction::ALL {
        let mut policy = (0u64, 0u64);
        for r in Reason::ALL {
            for v in [Verdict::Pass, Verdict::Drop] {
                let c = dp.reason_counter(r, d, v)?;
                let labels = [r.as_str(), d.as_str(), v.as_str()];
                pk.with_label_values(&labels).inc_by(c.packets);
                by.with_label_values(&labels).inc_by(c.bytes);
                if r == Reason::Policy {
                    policy.0 += c.packets;
                    policy.1 += c.bytes;
                }
            }
        }
        let action = action_word(st.defaults.of(d));
        pp.with_label_values(&[d.as_str(), action]).inc_by(policy.0);
        pb.with_label_values(&[d.as_str(), action]).inc_by(policy.1);
    }

    // The flow table.
    let (n, cap) = dp.flows()?;
    gauge(reg, "fw_conntrack_entries", "Flows in the flow table.")?
        .set(i64::try_from(n).unwrap_or(i64::MAX));
    gauge(reg, "fw_conntrack_capacity", "Capacity of the flow table.")?.set(i64::from(cap));
    let fill = prometheus::Gauge::new(
        "fw_conntrack_fill_ratio",
        "Flows in the table over its capacity (0..1; the oldest go first when full).",
    )?;
    reg.register(Box::new(fill.clone()))?;
    fill.set(n as f64 / f64::from(cap.max(1)));

    // Drop logs: written, suppressed by the kernel's rate limits, lost.
    let logs = counter(
        reg,
        "fw_log_events_total",
        "Drop-log events: written to the ring buffer, suppressed by a rate limit, or lost \
         to a full ring buffer.",
        &["outcome"],
    )?;
    let (written, suppressed, lost) = dp.log_stats()?;
    for (outcome, n) in [
        ("written", written),
        ("suppressed", suppressed),
        ("lost", lost),
    ] {
        logs.with_label_values(&[outcome]).inc_by(n);
    }

    programs(reg, &pins)?;
    Ok(())
}

/// Per-rule series, or their sums when there are too many rules.
fn rules(opts: &Options, reg: &Registry, dp: &Dataplane, st: &crate::state::State) -> Result<()> {
    let aggregate = match opts.rules {
        RuleSeries::Aggregated => true,
        RuleSeries::PerRule(max) => st.rules.len() > max,
    };
    gauge(
        reg,
        "fw_rule_series_aggregated",
        "1 when rule counters are summed per action, direction and family instead of one \
         series per rule (--aggregate-rules, or more rules than --max-rule-series).",
    )?
    .set(i64::from(aggregate));
    let labels: &[&str] = if aggregate {
        &["action", "direction", "family"]
    } else {
        &[
            "number",
            "id",
            "action",
            "direction",
            "family",
            "rule",
            "comment",
        ]
    };
    let rp = counter(
        reg,
        "fw_rule_packets_total",
        "Packets each rule decided (a flow's first packet; later ones count as established).",
        labels,
    )?;
    let rb = counter(
        reg,
        "fw_rule_bytes_total",
        "Bytes each rule decided, as fw_rule_packets_total.",
        labels,
    )?;
    let ids: Vec<u32> = st.rules.iter().map(|r| r.id).collect();
    let counters = dp.rule_counters(&ids)?;
    for (i, (r, c)) in st.rules.iter().zip(counters).enumerate() {
        let dir = if r.rule.opts.forward {
            Direction::Fwd
        } else {
            r.rule.dir
        };
        let action = action_word(r.rule.action);
        let family = family_label(r.rule.family);
        if aggregate {
            let l = [action, dir.as_str(), family];
            rp.with_label_values(&l).inc_by(c.packets);
            rb.with_label_values(&l).inc_by(c.bytes);
        } else {
            // The rule's text without its comment (a label of its own).
            let mut bare = r.rule.clone();
            bare.opts.comment = None;
            let (number, id, text) = ((i + 1).to_string(), r.id.to_string(), canonical(&bare));
            let comment = r.rule.opts.comment.as_deref().unwrap_or("");
            let l = [
                number.as_str(),
                id.as_str(),
                action,
                dir.as_str(),
                family,
                text.as_str(),
                comment,
            ];
            rp.with_label_values(&l).inc_by(c.packets);
            rb.with_label_values(&l).inc_by(c.bytes);
        }
    }
    Ok(())
}

/// The kernel's run statistics of fw's programs (counted only while BPF
/// statistics are on: `--bpf-stats` or sysctl kernel.bpf_stats_enabled).
fn programs(reg: &Registry, pins: &Pins) -> Result<()> {
    let on = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    gauge(
        reg,
        "fw_bpf_stats_enabled",
        "1 while the kernel keeps BPF run-time statistics (they cost a little per packet).",
    )?
    .set(i64::from(on));
    let runs = counter(
        reg,
        "fw_bpf_program_runs_total",
        "Runs of each fw program, counted while BPF statistics are on.",
        &["program"],
    )?;
    let secs = prometheus::CounterVec::new(
        Opts::new(
            "fw_bpf_program_run_seconds_total",
            "Time spent in each fw program, counted while BPF statistics are on.",
        ),
        &["program"],
    )?;
    reg.register(Box::new(secs.clone()))?;
    for name in [
        maps::PROG_XDP,
        maps::PROG_TC_EGRESS,
        maps::PROG_TC_INGRESS,
        maps::PROG_CGROUP_EGRESS,
    ] {
        let path = pins.prog(name);
        if !Path::new(&path).exists() {
            continue;
        }
        let info = aya::programs::ProgramInfo::from_pin(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        runs.with_label_values(&[name]).inc_by(info.run_count());
        secs.with_label_values(&[name])
            .inc_by(info.run_time().as_secs_f64());
    }
    Ok(())
}

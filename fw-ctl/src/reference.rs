//! The reference classifier: the obvious linear first-match walk over the
//! rule list. It defines what the data plane must answer; the differential
//! tests hold the eBPF classifier to it, and `explain` will use it.

use crate::rule::{Action, Direction, PacketMeta, Proto, Rule, StoredRule, compile::Defaults};

/// The reference answer for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefDecision {
    /// The action taken: the first matching rule's, else the default policy.
    pub action: Action,
    /// The id of the first matching rule, if any.
    pub rule_id: Option<u32>,
    /// Its position in the list (0-based), if any.
    pub position: Option<usize>,
}

/// True when the plain rule `rule` (no application profile) matches `pkt`. `ifaces` resolves a rule's interface name
/// to the indexes it names.
#[must_use]
pub fn matches(rule: &Rule, pkt: &PacketMeta, ifaces: &dyn Fn(&str) -> Vec<u32>) -> bool {
    let dir = if rule.opts.forward {
        Direction::Fwd
    } else {
        rule.dir
    };
    if dir != pkt.dir || rule.family != pkt.family() {
        return false;
    }
    if let Some(name) = &rule.iface
        && !ifaces(name).contains(&pkt.ifindex)
    {
        return false;
    }
    if rule.opts.forward
        && let Some(name) = &rule.opts.iface_out
        && !ifaces(name).contains(&pkt.oifindex)
    {
        return false;
    }
    let proto_ok = match rule.proto {
        Proto::Any => !rule.has_ports() || (pkt.ports.is_some() && matches!(pkt.proto, 6 | 17)),
        Proto::Num(n) => pkt.proto == n,
    };
    if !proto_ok {
        return false;
    }
    if rule.src.is_some_and(|n| !n.contains(&pkt.src))
        || rule.dst.is_some_and(|n| !n.contains(&pkt.dst))
    {
        return false;
    }
    if let Some(s) = &rule.sport
        && !pkt.ports.is_some_and(|(sp, _)| s.contains(sp))
    {
        return false;
    }
    if let Some(s) = &rule.dport
        && !pkt.ports.is_some_and(|(_, dp)| s.contains(dp))
    {
        return false;
    }
    true
}

/// First match over `rules` in order, else the default policy.
#[must_use]
pub fn classify(
    rules: &[StoredRule],
    defaults: Defaults,
    pkt: &PacketMeta,
    ifaces: &dyn Fn(&str) -> Vec<u32>,
) -> RefDecision {
    for (i, r) in rules.iter().enumerate() {
        if r.rule.legs().iter().any(|l| matches(l, pkt, ifaces)) {
            return RefDecision {
                action: r.rule.action,
                rule_id: Some(r.id),
                position: Some(i),
            };
        }
    }
    RefDecision {
        action: defaults.of(pkt.dir),
        rule_id: None,
        position: None,
    }
}

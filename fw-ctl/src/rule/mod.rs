//! The user-level rule model: what an operator wrote, typed.
//!
//! A [`Rule`] is one entry of the numbered list, for one address family
//! (like ufw, a rule written without addresses becomes a v4 and a v6 rule).
//! User types never enter `fw_common`: [`compile`] turns rules into the
//! kernel's entries.

pub mod compile;
pub mod display;
pub mod edit;
pub mod parse;

use std::net::IpAddr;

pub use fw_common::{Action, Direction, Family};
use ipnet::IpNet;

/// IP protocol of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// Any protocol (with ports: TCP and UDP, as ufw).
    Any,
    /// One protocol by number.
    Num(u8),
}

impl Proto {
    /// TCP.
    pub const TCP: Self = Self::Num(6);
    /// UDP.
    pub const UDP: Self = Self::Num(17);

    /// True for protocols that carry ports (TCP, UDP).
    #[must_use]
    pub fn has_ports(self) -> bool {
        matches!(self, Self::Num(6 | 17))
    }

    /// The family a protocol restricts a rule to, if any.
    #[must_use]
    pub fn family(self) -> Option<Family> {
        match self {
            Self::Num(1 | 2 | 41) => Some(Family::V4),
            Self::Num(58) => Some(Family::V6),
            _ => None,
        }
    }
}

/// Names of protocols accepted and printed by name.
pub const PROTO_NAMES: &[(&str, u8)] = &[
    ("tcp", 6),
    ("udp", 17),
    ("icmp", 1),
    ("igmp", 2),
    ("ipv6", 41),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("vrrp", 112),
];

/// An inclusive port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port (>= lo).
    pub hi: u16,
}

/// A set of ports as written: single ports and ranges, in the user's order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSet(pub Vec<PortRange>);

impl PortSet {
    /// True when `port` is in the set.
    #[must_use]
    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|r| r.lo <= port && port <= r.hi)
    }

    /// True when the set is one single port.
    #[must_use]
    pub fn is_single(&self) -> bool {
        self.0.len() == 1 && self.0[0].lo == self.0[0].hi
    }
}

/// One rule of the numbered list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// What to do with a matching packet.
    pub action: Action,
    /// Incoming or outgoing.
    pub dir: Direction,
    /// The interface the rule is limited to.
    pub iface: Option<String>,
    /// Protocol.
    pub proto: Proto,
    /// Source prefix (`None`: any).
    pub src: Option<IpNet>,
    /// Source ports (`None`: any).
    pub sport: Option<PortSet>,
    /// Destination prefix (`None`: any).
    pub dst: Option<IpNet>,
    /// Destination ports (`None`: any).
    pub dport: Option<PortSet>,
    /// The address family this rule applies to.
    pub family: Family,
    /// Logging, comment, route and application parts.
    pub opts: RuleOpts,
}

/// ufw's per-rule logging keyword.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogType {
    /// No per-rule logging.
    #[default]
    None,
    /// `log`: new connections matching the rule.
    Log,
    /// `log-all`: every packet matching the rule.
    LogAll,
}

impl LogType {
    /// The keyword (empty for none).
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Log => "log",
            Self::LogAll => "log-all",
        }
    }
}

/// An application profile as a rule holds it: the name and the port specs
/// it had when the rule was added (`app update` refreshes them, as ufw).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct App {
    /// The profile's name as its file spells it.
    pub name: String,
    /// Its port specs in order: protocol (`Any` = tcp and udp) and ports.
    pub legs: Vec<(Proto, PortSet)>,
}

impl App {
    /// The specs in ufw's profile syntax: `80,443/tcp|53`.
    #[must_use]
    pub fn spec(&self) -> String {
        self.legs
            .iter()
            .map(|(p, ports)| match p {
                Proto::Any => ports.to_string(),
                p => format!("{ports}/{}", parse::proto_name(*p)),
            })
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// The parts of a rule beyond the packet match of the kernel's tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleOpts {
    /// `log` / `log-all`.
    pub log: LogType,
    /// `comment 'TEXT'`.
    pub comment: Option<String>,
    /// A `route` rule (forwarded traffic). For these `iface` is the
    /// `in on` interface.
    pub forward: bool,
    /// A route rule's `out on` interface.
    pub iface_out: Option<String>,
    /// Destination application profile.
    pub dapp: Option<App>,
    /// Source application profile.
    pub sapp: Option<App>,
}

impl Rule {
    /// True when both rules match the same packets (they may differ in action).
    #[must_use]
    pub fn same_match(&self, other: &Self) -> bool {
        let mut a = self.clone();
        a.action = other.action;
        a.opts.log = other.opts.log;
        a.opts.comment.clone_from(&other.opts.comment);
        a == *other
    }

    /// The plain rules this rule stands for in the packet filter: itself,
    /// or for an application rule one rule per port spec of its profile(s)
    /// (ufw's `get_app_rules_from_template`), each keeping the profile's
    /// name with that one spec. Route rules included (callers filter them).
    #[must_use]
    pub fn legs(&self) -> Vec<Self> {
        if self.opts.dapp.is_none() && self.opts.sapp.is_none() {
            return vec![self.clone()];
        }
        let one = |a: &App, leg: &(Proto, PortSet)| App {
            name: a.name.clone(),
            legs: vec![leg.clone()],
        };
        let mut out = Vec::new();
        let dlegs: Vec<Option<(Proto, PortSet)>> = match &self.opts.dapp {
            Some(a) => a.legs.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        let same = self.opts.dapp.is_some() && self.opts.dapp == self.opts.sapp;
        for d in &dlegs {
            let mut base = self.clone();
            if let (Some(a), Some(leg)) = (&self.opts.dapp, d) {
                base.proto = leg.0;
                base.dport = Some(leg.1.clone());
                base.opts.dapp = Some(one(a, leg));
            }
            match &self.opts.sapp {
                None => out.push(base),
                Some(a) if same => {
                    if let Some(leg) = d {
                        base.sport = Some(leg.1.clone());
                        base.opts.sapp = Some(one(a, leg));
                    }
                    out.push(base);
                }
                Some(a) => {
                    for leg in &a.legs {
                        let mut r = base.clone();
                        if r.proto == Proto::Any || leg.0 == Proto::Any || leg.0 == r.proto {
                            if leg.0 != Proto::Any {
                                r.proto = leg.0;
                            }
                            r.sport = Some(leg.1.clone());
                            r.opts.sapp = Some(one(a, leg));
                            out.push(r);
                        }
                    }
                }
            }
        }
        out
    }

    /// True when the rule names ports, so it can only match TCP/UDP packets
    /// with ports (never a non-first fragment).
    #[must_use]
    pub fn has_ports(&self) -> bool {
        self.sport.is_some() || self.dport.is_some()
    }
}

/// A rule with its stable id (the index of its counters in the kernel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRule {
    /// Stable id, unique among live rules; reused only after deletion.
    pub id: u32,
    /// The rule.
    pub rule: Rule,
}

/// A packet as the classifier sees it: the input of the reference classifier
/// and of the differential tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    /// Direction relative to the host.
    pub dir: Direction,
    /// Interface index it was seen on (forwarded: the incoming one).
    pub ifindex: u32,
    /// Forwarded: the interface it leaves by; 0 otherwise.
    pub oifindex: u32,
    /// Protocol (IPv6: after extension headers).
    pub proto: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// (source, destination) ports, when the packet carries them.
    pub ports: Option<(u16, u16)>,
}

impl PacketMeta {
    /// The packet's family.
    #[must_use]
    pub fn family(&self) -> Family {
        if self.src.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

//! Why the data plane gave a packet its verdict.
//!
//! The discriminants are part of the ABI: never renumber, only append; a
//! retired value becomes `UnusedN`. [`Reason::as_str`] is the stable label
//! used by `fw-ctl stats` and, later, by the Prometheus `reason` label.

/// The reason behind a verdict, counted per direction and verdict in `STATS`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The first matching user rule decided.
    Rule = 0,
    /// No rule matched: the default policy of the direction decided.
    Policy = 1,
    /// A non-first IP fragment (no ports): only port-less rules may match it,
    /// else the default policy decided.
    Fragment = 2,
    /// A truncated or invalid header (Ethernet, VLAN, IP or L4): dropped.
    Malformed = 3,
    /// More than two VLAN tags or more IPv6 extension headers than the parser
    /// walks: dropped.
    TooDeep = 4,
    /// ARP: always passed so neighbours keep resolving (no lock-out).
    Arp = 5,
    /// IPv6 neighbour discovery (ICMPv6 133-137): always passed.
    NeighborDiscovery = 6,
    /// Not IP and not ARP (LLDP, ...): passed, the firewall filters IP only.
    NonIp = 7,
    /// No rule set is loaded (should not happen while enabled): passed.
    NoRuleset = 8,
    /// A packet connection tracking calls invalid (TCP flags no stack
    /// sends, such as SYN+FIN or none): dropped before the rules, as ufw.
    Invalid = 9,
    /// A later packet or a reply of a tracked flow: passed before the rules
    /// (ufw's `RELATED,ESTABLISHED ACCEPT`).
    Established = 10,
    /// Built-in: ICMP errors and echo (ufw's before.rules), passed.
    BuiltinIcmp = 11,
    /// Built-in: DHCP / DHCPv6 answers to the host's client, passed.
    BuiltinDhcp = 12,
    /// Built-in: mDNS and UPnP (SSDP) multicast, passed.
    BuiltinMulticast = 13,
    /// Built-in: ICMPv6 router and neighbour discovery with hop limit 255
    /// (beyond the types the parser always passes), passed.
    BuiltinNdp = 14,
    /// Built-in: MLD and multicast router discovery from link-local
    /// addresses, passed.
    BuiltinMld = 15,
    /// A new connection over a `limit` rule's rate: refused.
    Limit = 16,
    /// An ICMP error the host sends about a packet of a tracked flow
    /// (conntrack's RELATED), passed before the rules.
    Related = 17,
}

impl Reason {
    /// Number of reasons (array dimension).
    pub const COUNT: usize = 18;

    /// Every reason, in discriminant order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Rule,
        Self::Policy,
        Self::Fragment,
        Self::Malformed,
        Self::TooDeep,
        Self::Arp,
        Self::NeighborDiscovery,
        Self::NonIp,
        Self::NoRuleset,
        Self::Invalid,
        Self::Established,
        Self::BuiltinIcmp,
        Self::BuiltinDhcp,
        Self::BuiltinMulticast,
        Self::BuiltinNdp,
        Self::BuiltinMld,
        Self::Limit,
        Self::Related,
    ];

    /// Stable lowercase label.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rule => "rule",
            Self::Policy => "policy",
            Self::Fragment => "fragment",
            Self::Malformed => "malformed",
            Self::TooDeep => "too_deep",
            Self::Arp => "arp",
            Self::NeighborDiscovery => "neighbor_discovery",
            Self::NonIp => "non_ip",
            Self::NoRuleset => "no_ruleset",
            Self::Invalid => "invalid",
            Self::Established => "established",
            Self::BuiltinIcmp => "builtin_icmp",
            Self::BuiltinDhcp => "builtin_dhcp",
            Self::BuiltinMulticast => "builtin_multicast",
            Self::BuiltinNdp => "builtin_ndp",
            Self::BuiltinMld => "builtin_mld",
            Self::Limit => "limit",
            Self::Related => "related",
        }
    }
}

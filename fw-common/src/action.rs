//! Actions, directions, address families and verdicts as the kernel sees them.

/// What a rule does with a packet it matches.
///
/// `Reject` drops and answers on the wire where it can; `Limit` allows new
/// connections from a source up to a rate (in stateful mode).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Let the packet through.
    Allow = 0,
    /// Drop the packet silently.
    Deny = 1,
    /// Drop and answer with a TCP reset or ICMP unreachable (enforced as deny for now).
    Reject = 2,
    /// Rate-limit new connections per source (enforced as deny for now).
    Limit = 3,
}

impl Action {
    /// Decodes the `u8` stored in a map value; unknown values read as `Deny`
    /// (fail safe).
    #[inline(always)]
    #[must_use]
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Allow,
            2 => Self::Reject,
            3 => Self::Limit,
            _ => Self::Deny,
        }
    }

    /// The verdict the data plane gives a packet for this action today.
    #[inline(always)]
    #[must_use]
    pub const fn verdict(self) -> Verdict {
        match self {
            // `limit` allows, up to its rate (stateful mode counts new
            // connections per source, fw-ebpf's `limit`).
            Self::Allow | Self::Limit => Verdict::Pass,
            Self::Deny | Self::Reject => Verdict::Drop,
        }
    }
}

/// Direction of traffic relative to the protected host.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Received on a protected interface (XDP ingress).
    In = 0,
    /// Sent out of a protected interface (TC egress).
    Out = 1,
    /// Forwarded through the host (ufw's `route` rules and `routed` policy).
    Fwd = 2,
}

impl Direction {
    /// Number of directions (array dimension).
    pub const COUNT: usize = 3;

    /// Every direction, in index order.
    pub const ALL: [Self; Self::COUNT] = [Self::In, Self::Out, Self::Fwd];

    /// Its name in reports: `in`, `out`, `fwd`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
            Self::Fwd => "fwd",
        }
    }
}

/// IP address family.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4 = 0,
    /// IPv6.
    V6 = 1,
}

impl Family {
    /// Number of families (array dimension).
    pub const COUNT: usize = 2;
}

/// The data plane's final decision for one packet.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Delivered (XDP_PASS / TCX_NEXT).
    Pass = 0,
    /// Dropped (XDP_DROP / TCX_DROP).
    Drop = 1,
}

impl Verdict {
    /// Number of verdicts (array dimension).
    pub const COUNT: usize = 2;

    /// Its name in reports: `pass`, `drop`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Drop => "drop",
        }
    }
}

//! ufw's built-in rules (its before.rules and before6.rules), as fw applies
//! them: after connection tracking, before the user's rules. The data plane
//! implements them in fw-ebpf's `builtins`; [`BUILTINS`] describes them for
//! `fw-ctl show builtins`, and the verdict tests send one packet per line.
//!
//! Forwarded packets get ufw's before-forward rules: ICMP errors and echo.
//!
//! Four of them can be switched ([`Switch`], `Config::builtins`): the two
//! edits of before.rules/before6.rules ufw users make most, turning the
//! echo-request ACCEPT into DROP and removing the DHCP client line.
//!
//! Loopback is never filtered (fw does not attach to it); ARP and ICMPv6
//! neighbour solicitation/advertisement, router solicitation/advertisement
//! and redirects (133-137) are always passed by the parser; invalid TCP
//! flags are dropped and replies of tracked flows pass before these.

use crate::{Direction, Family, Reason};

/// One built-in rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Builtin {
    /// Family.
    pub family: Family,
    /// Direction.
    pub dir: Direction,
    /// IP protocol.
    pub proto: u8,
    /// ICMP type, or UDP destination port.
    pub what: u16,
    /// The ufw rule it stands for.
    pub text: &'static str,
    /// The reason it is counted under.
    pub reason: Reason,
}

const fn b(
    family: Family,
    dir: Direction,
    proto: u8,
    what: u16,
    text: &'static str,
    reason: Reason,
) -> Builtin {
    Builtin {
        family,
        dir,
        proto,
        what,
        text,
        reason,
    }
}

use Direction::{Fwd, In, Out};
use Family::{V4, V6};
use Reason::{BuiltinDhcp, BuiltinIcmp, BuiltinMld, BuiltinMulticast, BuiltinNdp};

/// Every built-in rule, in ufw's order.
pub const BUILTINS: &[Builtin] = &[
    b(
        V4,
        In,
        1,
        3,
        "-p icmp --icmp-type destination-unreachable -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V4,
        In,
        1,
        11,
        "-p icmp --icmp-type time-exceeded -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V4,
        In,
        1,
        12,
        "-p icmp --icmp-type parameter-problem -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V4,
        In,
        1,
        8,
        "-p icmp --icmp-type echo-request -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V4,
        In,
        17,
        68,
        "-p udp --sport 67 --dport 68 -j ACCEPT",
        BuiltinDhcp,
    ),
    b(
        V4,
        In,
        17,
        5353,
        "-p udp -d 224.0.0.251 --dport 5353 -j ACCEPT",
        BuiltinMulticast,
    ),
    b(
        V4,
        In,
        17,
        1900,
        "-p udp -d 239.255.255.250 --dport 1900 -j ACCEPT",
        BuiltinMulticast,
    ),
    b(
        V6,
        In,
        58,
        129,
        "-p icmpv6 --icmpv6-type echo-reply -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        1,
        "-p icmpv6 --icmpv6-type destination-unreachable -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        2,
        "-p icmpv6 --icmpv6-type packet-too-big -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        3,
        "-p icmpv6 --icmpv6-type time-exceeded -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        4,
        "-p icmpv6 --icmpv6-type parameter-problem -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        128,
        "-p icmpv6 --icmpv6-type echo-request -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        141,
        "-p icmpv6 --icmpv6-type 141 -m hl --hl-eq 255 -j ACCEPT",
        BuiltinNdp,
    ),
    b(
        V6,
        In,
        58,
        142,
        "-p icmpv6 --icmpv6-type 142 -m hl --hl-eq 255 -j ACCEPT",
        BuiltinNdp,
    ),
    b(
        V6,
        In,
        58,
        130,
        "-p icmpv6 --icmpv6-type 130 -s fe80::/10 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        In,
        58,
        131,
        "-p icmpv6 --icmpv6-type 131 -s fe80::/10 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        In,
        58,
        132,
        "-p icmpv6 --icmpv6-type 132 -s fe80::/10 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        In,
        58,
        143,
        "-p icmpv6 --icmpv6-type 143 -s fe80::/10 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        In,
        58,
        148,
        "-p icmpv6 --icmpv6-type 148 -m hl --hl-eq 255 -j ACCEPT",
        BuiltinNdp,
    ),
    b(
        V6,
        In,
        58,
        149,
        "-p icmpv6 --icmpv6-type 149 -m hl --hl-eq 255 -j ACCEPT",
        BuiltinNdp,
    ),
    b(
        V6,
        In,
        58,
        151,
        "-p icmpv6 --icmpv6-type 151 -s fe80::/10 -m hl --hl-eq 1 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        In,
        58,
        152,
        "-p icmpv6 --icmpv6-type 152 -s fe80::/10 -m hl --hl-eq 1 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        In,
        58,
        153,
        "-p icmpv6 --icmpv6-type 153 -s fe80::/10 -m hl --hl-eq 1 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        In,
        58,
        144,
        "-p icmpv6 --icmpv6-type 144 -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        145,
        "-p icmpv6 --icmpv6-type 145 -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        146,
        "-p icmpv6 --icmpv6-type 146 -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        58,
        147,
        "-p icmpv6 --icmpv6-type 147 -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        In,
        17,
        546,
        "-p udp -s fe80::/10 --sport 547 -d fe80::/10 --dport 546 -j ACCEPT",
        BuiltinDhcp,
    ),
    b(
        V6,
        In,
        17,
        5353,
        "-p udp -d ff02::fb --dport 5353 -j ACCEPT",
        BuiltinMulticast,
    ),
    b(
        V6,
        In,
        17,
        1900,
        "-p udp -d ff02::f --dport 1900 -j ACCEPT",
        BuiltinMulticast,
    ),
    b(
        V6,
        Out,
        58,
        1,
        "-p icmpv6 --icmpv6-type destination-unreachable -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Out,
        58,
        2,
        "-p icmpv6 --icmpv6-type packet-too-big -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Out,
        58,
        3,
        "-p icmpv6 --icmpv6-type time-exceeded -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Out,
        58,
        4,
        "-p icmpv6 --icmpv6-type parameter-problem -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Out,
        58,
        128,
        "-p icmpv6 --icmpv6-type echo-request -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Out,
        58,
        129,
        "-p icmpv6 --icmpv6-type echo-reply -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Out,
        58,
        141,
        "-p icmpv6 --icmpv6-type 141 -m hl --hl-eq 255 -j ACCEPT",
        BuiltinNdp,
    ),
    b(
        V6,
        Out,
        58,
        142,
        "-p icmpv6 --icmpv6-type 142 -m hl --hl-eq 255 -j ACCEPT",
        BuiltinNdp,
    ),
    b(
        V6,
        Out,
        58,
        130,
        "-p icmpv6 --icmpv6-type 130 -s fe80::/10 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        Out,
        58,
        131,
        "-p icmpv6 --icmpv6-type 131 -s fe80::/10 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        Out,
        58,
        132,
        "-p icmpv6 --icmpv6-type 132 -s fe80::/10 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        Out,
        58,
        143,
        "-p icmpv6 --icmpv6-type 143 -s fe80::/10 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        Out,
        58,
        148,
        "-p icmpv6 --icmpv6-type 148 -m hl --hl-eq 255 -j ACCEPT",
        BuiltinNdp,
    ),
    b(
        V6,
        Out,
        58,
        149,
        "-p icmpv6 --icmpv6-type 149 -m hl --hl-eq 255 -j ACCEPT",
        BuiltinNdp,
    ),
    b(
        V6,
        Out,
        58,
        151,
        "-p icmpv6 --icmpv6-type 151 -s fe80::/10 -m hl --hl-eq 1 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        Out,
        58,
        152,
        "-p icmpv6 --icmpv6-type 152 -s fe80::/10 -m hl --hl-eq 1 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V6,
        Out,
        58,
        153,
        "-p icmpv6 --icmpv6-type 153 -s fe80::/10 -m hl --hl-eq 1 -j ACCEPT",
        BuiltinMld,
    ),
    b(
        V4,
        Fwd,
        1,
        3,
        "-p icmp --icmp-type destination-unreachable -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V4,
        Fwd,
        1,
        11,
        "-p icmp --icmp-type time-exceeded -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V4,
        Fwd,
        1,
        12,
        "-p icmp --icmp-type parameter-problem -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V4,
        Fwd,
        1,
        8,
        "-p icmp --icmp-type echo-request -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Fwd,
        58,
        1,
        "-p icmpv6 --icmpv6-type destination-unreachable -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Fwd,
        58,
        2,
        "-p icmpv6 --icmpv6-type packet-too-big -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Fwd,
        58,
        3,
        "-p icmpv6 --icmpv6-type time-exceeded -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Fwd,
        58,
        4,
        "-p icmpv6 --icmpv6-type parameter-problem -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Fwd,
        58,
        128,
        "-p icmpv6 --icmpv6-type echo-request -j ACCEPT",
        BuiltinIcmp,
    ),
    b(
        V6,
        Fwd,
        58,
        129,
        "-p icmpv6 --icmpv6-type echo-reply -j ACCEPT",
        BuiltinIcmp,
    ),
];

/// A built-in rule the operator can switch: the host's own echo requests
/// (`ping`, `ping6`: ufw-before-input's echo-request lines) and DHCP
/// answers to its client (`dhcp`, `dhcp6`). Forwarded echo requests keep
/// ufw's rule.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// IPv4 echo-request in.
    Ping = 0,
    /// IPv6 echo-request in.
    Ping6 = 1,
    /// IPv4 DHCP answers (`--sport 67 --dport 68`) in.
    Dhcp = 2,
    /// DHCPv6 answers (link-local 547 to 546) in.
    Dhcp6 = 3,
}

/// What a switched built-in rule does, two bits at [`Switch::shift`] of
/// `Config::builtins`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Setting {
    /// ufw's line: accepted.
    #[default]
    Allow = 0,
    /// The line removed: the packet meets the user's rules and the
    /// default policy.
    Off = 1,
    /// ACCEPT turned into DROP: dropped before the user's rules.
    Deny = 2,
}

impl Setting {
    /// Every setting, with its word.
    pub const ALL: [(Self, &'static str); 3] = [
        (Self::Allow, "allow"),
        (Self::Off, "off"),
        (Self::Deny, "deny"),
    ];

    /// The setting's word.
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Off => "off",
            Self::Deny => "deny",
        }
    }

    /// The setting named `w`.
    #[must_use]
    pub fn from_word(w: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == w).map(|(s, _)| *s)
    }

    /// The setting of `switch` in a `Config::builtins` word.
    #[must_use]
    pub const fn of(word: u32, switch: Switch) -> Self {
        match (word >> switch.shift()) & 3 {
            1 => Self::Off,
            2 => Self::Deny,
            _ => Self::Allow,
        }
    }
}

impl Switch {
    /// Every switch, in `Config::builtins` order.
    pub const ALL: [Self; 4] = [Self::Ping, Self::Ping6, Self::Dhcp, Self::Dhcp6];

    /// Bit position of its setting in `Config::builtins`.
    #[must_use]
    pub const fn shift(self) -> u32 {
        self as u32 * 2
    }

    /// Its name (`fw-ctl builtin NAME`; fw.conf `BUILTIN_NAME`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Ping6 => "ping6",
            Self::Dhcp => "dhcp",
            Self::Dhcp6 => "dhcp6",
        }
    }

    /// The switch named `n`.
    #[must_use]
    pub fn from_name(n: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == n)
    }

    /// What it stands for, in words.
    #[must_use]
    pub fn what(self) -> &'static str {
        match self {
            Self::Ping => "IPv4 echo requests to the host",
            Self::Ping6 => "IPv6 echo requests to the host",
            Self::Dhcp => "DHCP answers to the host's client",
            Self::Dhcp6 => "DHCPv6 answers to the host's client",
        }
    }

    /// The switch of built-in rule `b`, if it has one.
    #[must_use]
    pub fn of(b: &Builtin) -> Option<Self> {
        match (b.family, b.dir, b.proto, b.what) {
            (Family::V4, In, 1, 8) => Some(Self::Ping),
            (Family::V6, In, 58, 128) => Some(Self::Ping6),
            (Family::V4, In, 17, 68) => Some(Self::Dhcp),
            (Family::V6, In, 17, 546) => Some(Self::Dhcp6),
            _ => None,
        }
    }

    /// `word` with this switch's setting replaced by `s`.
    #[must_use]
    pub const fn set(self, word: u32, s: Setting) -> u32 {
        (word & !(3 << self.shift())) | ((s as u32) << self.shift())
    }
}

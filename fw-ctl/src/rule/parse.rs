//! The rule grammar: ufw's words, turned into typed rules. Pure: no I/O
//! except reading the services database handed in by the caller.
//!
//! ```text
//! RULE   := [in|out [on IFACE]] (SIMPLE | EXTENDED)
//! SIMPLE := PORT[/PROTO] | SERVICE[/PROTO] | PORTLIST/PROTO | RANGE/PROTO
//! EXTENDED := key/value pairs in any order:
//!             proto PROTO | from ADDR | to ADDR | port PORTS (binds to the
//!             latest from/to)
//! ADDR   := any | IPv4[/LEN|/MASK] | IPv6[/LEN]
//! PORTS  := N | A:B | item,item,...   (1..65535, A < B, at most 15 items)
//! ```
//! One deliberate difference from ufw: `from ADDR port P` with no `to`
//! clause means *destination* port P (ufw reads a source port there). The
//! parser returns a note saying so; with a `to` clause ufw's reading stands.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{
    Action, App, Direction, Family, LogType, PROTO_NAMES, PortRange, PortSet, Proto, Rule, RuleOpts,
};

/// Most items in a port list (as ufw and iptables' multiport).
pub const MAX_PORT_ITEMS: usize = 15;

/// A grammar error; every message names the offending token when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The words do not form a rule.
    #[error("Invalid syntax")]
    InvalidSyntax,
    /// A word that has no place where it stands.
    #[error("Invalid syntax near '{0}'")]
    Unexpected(String),
    /// A keyword without its value.
    #[error("Invalid syntax: '{0}' needs a value")]
    MissingValue(String),
    /// Not a port, range or list of them.
    #[error("Bad port '{0}'")]
    BadPort(String),
    /// A list or range without tcp/udp.
    #[error("Must specify 'tcp' or 'udp' with multiple ports")]
    MultiplePortsNeedProto,
    /// Service names in lists or ranges.
    #[error("Port ranges must be numeric")]
    NonNumericRange,
    /// Not a source address or prefix.
    #[error("Bad source address '{0}'")]
    BadSource(String),
    /// Not a destination address or prefix.
    #[error("Bad destination address '{0}'")]
    BadDestination(String),
    /// An IPv4 and an IPv6 address in one rule.
    #[error("Mixed IP versions for 'from' and 'to'")]
    MixedVersions,
    /// A protocol that is neither a known name nor a number 0-255.
    #[error("Unsupported protocol '{0}'")]
    UnsupportedProtocol(String),
    /// Ports with a protocol that has none.
    #[error("Invalid port with protocol '{0}'")]
    PortWithoutPortProto(String),
    /// A service's protocol contradicts `proto`.
    #[error("Protocol mismatch with specified protocol {0}")]
    ProtocolMismatch(String),
    /// A protocol of one family with an address of the other.
    #[error("Protocol '{0}' does not exist in {1}")]
    ProtocolFamily(String, &'static str),
    /// `port` before any `from`/`to`.
    #[error("Need 'to' or 'from' clause")]
    NeedToOrFrom,
    /// Words left over or missing.
    #[error("Wrong number of arguments")]
    WrongNumberOfArguments,
    /// An interface name the kernel cannot have.
    #[error("Bad interface name '{0}'{1}")]
    BadInterface(String, &'static str),
    /// A single word that is no port, service or profile.
    #[error("Could not find a profile matching '{0}'")]
    UnknownWord(String),
    /// ufw 0.36.2's frontend on a source profile named in another case
    /// with no destination profile: it takes the profile's name for a
    /// destination port.
    #[error("Bad port '{0}'")]
    AppCasePort(String),
    /// `log`/`log-all` after the port (ufw wants it after the direction).
    #[error("Option '{0}' not allowed here")]
    OptionNotAllowed(String),
    /// `comment` without its text.
    #[error("Option 'comment' missing required argument")]
    CommentMissingArgument,
    /// A comment with a `'` (ufw cannot store it either).
    #[error("Comment may not contain \"'\"")]
    CommentQuote,
    /// A comment with a control character (newline, tab, ESC, ...): fw's
    /// state files and every report keep a rule on one line (ufw stores
    /// such a comment hex-encoded and accepts it; a listed difference).
    #[error("Comment may not contain control characters (found '{0}')")]
    CommentControl(String),
    /// `app` together with `proto`, or a key given twice.
    #[error("Improper rule syntax")]
    ImproperSyntax,
    /// `app` and `port` on the same side.
    #[error("No rules found for application profile")]
    NoAppRules,
    /// `in`/`out` anywhere but in a leading `in on IF` / `out on IF`
    /// (ufw's check, made before it takes the comment out).
    #[error("Invalid interface clause")]
    InterfaceClause,
    /// A word where the long form wants a key.
    #[error("Invalid token '{0}'")]
    InvalidToken(String),
    /// `port` or `app` before any `from`/`to`.
    #[error("Need 'from' or 'to' with '{0}'")]
    NeedFromOrToWith(String),
    /// A service name whose protocol is neither tcp nor udp.
    #[error("Could not find protocol")]
    CouldNotFindProtocol,
    /// Service names on both sides with different protocols.
    #[error("Protocol mismatch (from/to)")]
    ProtocolMismatchFromTo,
    /// A protocol with an application profile.
    #[error("Improper rule syntax ('{0}' specified with app rule)")]
    ImproperAppProto(String),
    /// An IPv4-only protocol with an IPv6 address.
    #[error("Invalid IPv6 address with protocol '{0}'")]
    Ipv6WithProto(String),
    /// `insert N` with an N that is no number.
    #[error("Insert position '{0}' is not a valid position")]
    InsertPosition(String),
    /// A dotted netmask that is not a prefix (ufw passes it to iptables;
    /// fw matches prefixes; a listed difference).
    #[error(
        "Bad address '{0}': fw takes prefix netmasks only (a /LEN, or a dotted mask of leading ones)"
    )]
    NonContiguousMask(String),
    /// Both interfaces on a rule that is not a route rule (ufw stores it
    /// for a chain iptables cannot load it into; a listed difference).
    #[error("Only a route rule takes both 'in on' and 'out on' interfaces")]
    TwoInterfaces,
    /// A route rule with a direction but no interface.
    #[error("Invalid interface clause for route rule")]
    RouteInterface,
}

/// A rule before it is split by family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// The rule; its `family` is meaningless until [`RuleSpec::expand`].
    pub rule: Rule,
    /// `Some` when an address or the protocol fixes the family.
    pub family: Option<Family>,
}

impl RuleSpec {
    /// The rules this spec stands for: one per family it applies to, IPv4
    /// first (ufw's order).
    #[must_use]
    pub fn expand(&self) -> Vec<Rule> {
        let fams: &[Family] = match self.family {
            Some(Family::V4) => &[Family::V4],
            Some(Family::V6) => &[Family::V6],
            None => &[Family::V4, Family::V6],
        };
        fams.iter()
            .map(|&family| Rule {
                family,
                ..self.rule.clone()
            })
            .collect()
    }
}

/// A parsed rule with what the user should be told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The rule.
    pub spec: RuleSpec,
    /// Warnings and notes (printed before the result).
    pub notes: Vec<String>,
    /// An error ufw finds only once the insert position is checked
    /// ([`parse_command_rule`] only; the caller reports it after that).
    pub late: Option<ParseError>,
}

/// Looks up service names (`/etc/services`).
pub trait Services {
    /// Port and protocols of a service name: `(port, tcp, udp)`.
    fn lookup(&self, name: &str) -> Option<(u16, bool, bool)>;
}

/// No service names at all.
pub struct NoServices;

impl Services for NoServices {
    fn lookup(&self, _: &str) -> Option<(u16, bool, bool)> {
        None
    }
}

/// Services read from an `/etc/services`-format text.
pub struct ServicesDb(Vec<(String, u16, &'static str)>);

impl ServicesDb {
    /// Parses `/etc/services` text (name, port/proto, aliases).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut v = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut it = line.split_whitespace();
            let (Some(name), Some(pp)) = (it.next(), it.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let proto = match proto {
                "tcp" => "tcp",
                "udp" => "udp",
                _ => continue,
            };
            v.push((name.to_owned(), port, proto));
            for alias in it {
                v.push((alias.to_owned(), port, proto));
            }
        }
        Self(v)
    }

    /// Reads the system's database (empty if unreadable).
    #[must_use]
    pub fn system() -> Self {
        Self::parse(&std::fs::read_to_string("/etc/services").unwrap_or_default())
    }
}

impl Services for ServicesDb {
    fn lookup(&self, name: &str) -> Option<(u16, bool, bool)> {
        let mut found: Option<(u16, bool, bool)> = None;
        for (n, port, proto) in &self.0 {
            if n == name {
                let f = found.get_or_insert((*port, false, false));
                if f.0 != *port {
                    continue;
                }
                if *proto == "tcp" {
                    f.1 = true;
                } else {
                    f.2 = true;
                }
            }
        }
        found
    }
}

/// Looks up application profiles by name (case-insensitive, as ufw).
pub trait AppLookup {
    /// The profile, with its canonical name and port specs.
    fn app(&self, name: &str) -> Option<App>;
}

/// No application profiles at all.
pub struct NoApps;

impl AppLookup for NoApps {
    fn app(&self, _: &str) -> Option<App> {
        None
    }
}

/// Parses the words after the action (`allow`, `deny`, ...) of a normal
/// rule, without application profiles.
///
/// # Errors
/// A [`ParseError`] naming the bad token.
pub fn parse_rule(
    action: Action,
    args: &[String],
    services: &dyn Services,
) -> Result<Parsed, ParseError> {
    parse_rule_with(action, args, services, &NoApps, false)
}

/// Parses the words after the action; `forward` for `route` rules.
///
/// # Errors
/// A [`ParseError`] naming the bad token.
pub fn parse_rule_with(
    action: Action,
    args: &[String],
    services: &dyn Services,
    apps: &dyn AppLookup,
    forward: bool,
) -> Result<Parsed, ParseError> {
    let mut p = RuleParser {
        notes: Vec::new(),
        services,
        apps,
        protocols: Protocols::All,
        position: None,
        deleting: false,
    };
    p.rule(action, args, forward)
}

/// ufw's first check of a route command (`UFWCommandRouteRule.parse`),
/// made before it reads the action: a direction needs an interface.
/// `words` are the words after `route`.
///
/// # Errors
/// [`ParseError::RouteInterface`].
pub fn check_route_clause(words: &[String]) -> Result<(), ParseError> {
    let s = format!("route {}", words.join(" "));
    let has = |pat: &str| s.contains(pat);
    // (ufw's first branch, both `in on` and `out on`, passes.)
    if !has(" in on ")
        && !has(" out on ")
        && !has(" app in ")
        && !has(" app out ")
        && (has(" in ") || has(" out "))
    {
        return Err(ParseError::RouteInterface);
    }
    Ok(())
}

/// What a command does with the rule it names (ufw checks some words
/// differently for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit<'a> {
    /// `allow|deny|reject|limit RULE`, `prepend`.
    Add,
    /// `insert N RULE`, with N as typed.
    Insert(&'a str),
    /// `delete RULE`.
    Delete,
}

/// A rule typed on the command line: ufw's protocols only, and `insert
/// N`'s position checked where ufw checks it.
///
/// # Errors
/// A [`ParseError`], ufw's message with the bad token where ufw has none.
pub fn parse_command_rule(
    action: Action,
    args: &[String],
    services: &dyn Services,
    apps: &dyn AppLookup,
    forward: bool,
    edit: Edit<'_>,
) -> Result<Parsed, ParseError> {
    let mut p = RuleParser {
        notes: Vec::new(),
        services,
        apps,
        protocols: Protocols::Ufw,
        position: match edit {
            Edit::Insert(n) => Some(n.to_owned()),
            Edit::Add | Edit::Delete => None,
        },
        deleting: edit == Edit::Delete,
    };
    p.rule(action, args, forward)
}

struct RuleParser<'a> {
    notes: Vec<String>,
    services: &'a dyn Services,
    apps: &'a dyn AppLookup,
    protocols: Protocols,
    /// `insert N`'s N as typed, checked where ufw checks it.
    position: Option<String>,
    /// A `delete`: ufw's frontend forgives a profile lookup's errors.
    deleting: bool,
}

impl ParseError {
    /// Whether ufw finds this error after its parser accepted the words
    /// (in its frontend, which reads the profiles first and prints their
    /// warnings): a profile lookup's.
    #[must_use]
    pub fn after_parse(&self) -> bool {
        matches!(self, Self::UnknownWord(_) | Self::AppCasePort(_))
    }
}

/// Which protocol names `proto` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocols {
    /// ufw's (`util.supported_protocols`): the command line.
    Ufw,
    /// Also `icmp`, `icmpv6` and numbers: fw's state file.
    All,
}

/// The keys of ufw's long form (parser.py).
const KEYS: &[&str] = &["proto", "from", "to", "port", "app", "in", "out"];

/// ufw's protocols without ports (`util.portless_protocols`).
const PORTLESS: &[&str] = &["ipv6", "esp", "ah", "igmp", "gre", "vrrp"];

/// ufw's `^\d([0-9,:]*\d+)*$` (ASCII digits): a port, range or list
/// written in numbers.
fn numeric_ports(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_digit()
        && b[b.len() - 1].is_ascii_digit()
        && b.iter()
            .all(|c| c.is_ascii_digit() || *c == b',' || *c == b':')
}

/// An address family as ufw's parser tracks it (`from_type`, `to_type`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum AddrType {
    Any,
    V4,
    V6,
}

/// One side's port or application as the words gave it.
#[derive(Default)]
struct SideWords {
    addr: Option<String>,
    port: Option<String>,
    app: Option<String>,
    service: Option<String>,
}

impl RuleParser<'_> {
    /// ufw 0.36.2's `UFWCommandRouteRule.parse` and `UFWCommandRule.parse`,
    /// step for step (the same checks in the same order, so the same
    /// words are refused with the same message), then the typed rule.
    fn rule(
        &mut self,
        action: Action,
        args: &[String],
        forward: bool,
    ) -> Result<Parsed, ParseError> {
        let action_word = super::display::action_word(action);
        let mut argv: Vec<String> = std::iter::once(action_word.to_owned())
            .chain(args.iter().cloned())
            .collect();
        // Route rules: take the second interface clause out and add it
        // after the rest is parsed.
        let mut second: Option<(&'static str, String)> = None;
        if forward {
            let s = format!("route {}", argv.join(" "));
            let has = |pat: &str| s.contains(pat);
            if has(" in on ") && has(" out on ") {
                let at = |w: &str| argv.iter().position(|x| x == w);
                let strip = if at("in") > at("out") { "in" } else { "out" };
                let k = at(strip).ok_or(ParseError::InvalidSyntax)?;
                let name = argv.get(k + 2).ok_or(ParseError::InvalidSyntax)?.clone();
                argv.drain(k..(k + 3).min(argv.len()));
                second = Some((strip, name));
            } else if !has(" in on ")
                && !has(" out on ")
                && !has(" app in ")
                && !has(" app out ")
                && (has(" in ") || has(" out "))
            {
                return Err(ParseError::RouteInterface);
            }
        }
        let lower = |w: &str| w.to_lowercase();
        let is_dir = |w: &str| matches!(lower(w).as_str(), "in" | "out");
        if argv.len() < 2 {
            return Err(ParseError::InvalidSyntax);
        }
        let mut direction = Direction::In;
        if is_dir(&argv[1]) {
            direction = if lower(&argv[1]) == "in" {
                Direction::In
            } else {
                Direction::Out
            };
        }
        if argv.len() > 2 && argv[2] != "on" && is_dir(&argv[1]) {
            argv.remove(1);
        }
        let mut has_interface = false;
        if argv.len() > 1 && argv.iter().any(|w| w == "in" || w == "out") {
            if !is_dir(&argv[1]) || argv.len() < 3 || lower(&argv[2]) != "on" {
                return Err(ParseError::InterfaceClause);
            }
            argv.remove(2);
            has_interface = true;
        }
        let is_log = |w: &str| matches!(lower(w).as_str(), "log" | "log-all");
        let log_idx = if has_interface && argv.len() > 3 && is_log(&argv[3]) {
            3
        } else if argv.len() > 2 && is_log(&argv[1]) {
            1
        } else {
            0
        };
        let mut log = LogType::None;
        if log_idx > 0 {
            log = if lower(&argv[log_idx]) == "log" {
                LogType::Log
            } else {
                LogType::LogAll
            };
            argv.remove(log_idx);
        }
        for word in ["log", "log-all"] {
            if argv.iter().any(|w| w == word) {
                return Err(ParseError::OptionNotAllowed(word.into()));
            }
        }
        let mut comment = None;
        if let Some(k) = argv.iter().position(|w| w == "comment") {
            let text = argv.get(k + 1).ok_or(ParseError::CommentMissingArgument)?;
            if text.contains('\'') {
                return Err(ParseError::CommentQuote);
            }
            if let Some(c) = text.chars().find(|c| c.is_control()) {
                return Err(ParseError::CommentControl(crate::output::escape(
                    &c.to_string(),
                )));
            }
            comment = Some(text.clone()).filter(|t| !t.is_empty());
            argv.drain(k..k + 2);
        }
        if argv.len() < 2 || argv.len() > 13 {
            return Err(ParseError::InvalidSyntax);
        }
        if let Some(pos) = &self.position {
            // `UFWRule.set_position`: a leading number, else refused.
            if !pos.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(ParseError::InsertPosition(pos.clone()));
            }
            if !pos.chars().all(|c| c.is_ascii_digit()) {
                return Err(ParseError::InvalidSyntax);
            }
        }
        let mut proto = "any".to_owned();
        let mut ifaces: [Option<String>; 2] = [None, None];
        let (mut src, mut dst) = (SideWords::default(), SideWords::default());
        let (mut from_type, mut to_type) = (AddrType::Any, AddrType::Any);
        let mut saw_to = false;
        let mut short_app = None;
        let family: Option<Family>;
        if argv.len() == 2 {
            // Short form: a profile, or PORT[/PROTO].
            let w = &argv[1];
            if crate::apps::valid_name(w) && self.services.lookup(w).is_none() {
                short_app = Some(w.clone());
            } else {
                let (port, p) = parse_port_proto(w)?;
                if !numeric_ports(port) {
                    if port.contains([',', ':']) {
                        return Err(ParseError::NonNumericRange);
                    }
                    dst.service = Some(port.to_owned());
                }
                if !self.known_proto(p) {
                    return Err(ParseError::BadPort(w.clone()));
                }
                proto = p.to_owned();
                self.check_port(port)
                    .map_err(|_| ParseError::BadPort(w.clone()))?;
                dst.port = Some(port.to_owned());
            }
            family = None;
        } else if argv.len().is_multiple_of(2) {
            return Err(ParseError::WrongNumberOfArguments);
        } else if !argv
            .iter()
            .any(|w| matches!(w.as_str(), "from" | "to" | "in" | "out"))
        {
            return Err(ParseError::NeedToOrFrom);
        } else {
            let count = |k: &str| argv.iter().filter(|w| *w == k).count();
            if count("to") > 1
                || count("from") > 1
                || count("proto") > 1
                || count("port") > 2
                || count("in") > 1
                || count("out") > 1
                || count("app") > 2
                || (count("app") > 0 && count("proto") > 0)
            {
                return Err(ParseError::ImproperSyntax);
            }
            let mut loc: Option<Side> = None;
            let n = argv.len();
            for i in 0..n {
                let arg = argv[i].as_str();
                if i % 2 != 0 && !KEYS.contains(&arg) {
                    return Err(ParseError::InvalidToken(arg.into()));
                }
                let Some(value) = argv.get(i + 1) else {
                    continue;
                };
                match arg {
                    "proto" => {
                        if !self.known_proto(value) {
                            return Err(ParseError::UnsupportedProtocol(value.clone()));
                        }
                        proto.clone_from(value);
                    }
                    "in" | "out" => {
                        ufw_iface(value)?;
                        ifaces[usize::from(arg == "out")] = Some(value.clone());
                    }
                    "from" | "to" => {
                        let a = value.to_lowercase();
                        let t = if a == "any" {
                            AddrType::Any
                        } else if valid_address6(&a) {
                            AddrType::V6
                        } else {
                            AddrType::V4
                        };
                        if a != "any" && !valid_address4(&a) && !valid_address6(&a) {
                            return Err(if arg == "from" {
                                ParseError::BadSource(value.clone())
                            } else {
                                ParseError::BadDestination(value.clone())
                            });
                        }
                        if arg == "from" {
                            from_type = t;
                            src.addr = Some(a);
                            loc = Some(Side::From);
                        } else {
                            to_type = t;
                            dst.addr = Some(a);
                            saw_to = true;
                            loc = Some(Side::To);
                        }
                    }
                    "port" | "app" => {
                        let side = match loc {
                            None => return Err(ParseError::NeedFromOrToWith(arg.into())),
                            Some(Side::From) => &mut src,
                            Some(Side::To) => &mut dst,
                        };
                        if arg == "app" {
                            side.app = Some(value.clone());
                        } else {
                            if !numeric_ports(value) {
                                if value.contains([',', ':']) {
                                    return Err(ParseError::NonNumericRange);
                                }
                                side.service = Some(value.clone());
                            }
                            if side.app.is_none() {
                                self.check_port(value)?;
                            }
                            side.port = Some(value.clone());
                        }
                    }
                    _ => {}
                }
            }
            family = match (from_type, to_type) {
                (AddrType::Any, AddrType::Any) => None,
                (a, b) if a != AddrType::Any && b != AddrType::Any && a != b => {
                    return Err(ParseError::MixedVersions);
                }
                (AddrType::V4, _) | (_, AddrType::V4) => Some(Family::V4),
                _ => Some(Family::V6),
            };
        }
        // The protocol a service name implies, checked against `proto`.
        if dst.service.is_some() || src.service.is_some() {
            let mut implied = String::new();
            if let Some(s) = &dst.service {
                implied = self.service_proto(s)?.to_owned();
            }
            if let Some(s) = &src.service {
                let p = self.service_proto(s)?;
                if implied.is_empty() || implied == "any" || implied == p {
                    implied = p.to_owned();
                } else if p != "any" {
                    return Err(ParseError::ProtocolMismatchFromTo);
                }
            }
            if proto == "any" {
                proto = implied;
            } else if implied != "any" && proto != implied {
                return Err(ParseError::ProtocolMismatch(proto));
            }
        }
        let mut family = family;
        if matches!(proto.as_str(), "ipv6" | "igmp") && family.is_none() {
            family = Some(Family::V4);
        }
        // `UFWRule.verify`.
        if proto != "any" && (src.app.is_some() || dst.app.is_some() || short_app.is_some()) {
            return Err(ParseError::ImproperAppProto(proto));
        }
        if matches!(proto.as_str(), "ipv6" | "igmp") && family == Some(Family::V6) {
            return Err(ParseError::Ipv6WithProto(proto));
        }
        if PORTLESS.contains(&proto.as_str()) && (src.port.is_some() || dst.port.is_some()) {
            return Err(ParseError::PortWithoutPortProto(proto));
        }
        // A route rule's second interface.
        if let Some((strip, name)) = second {
            ufw_iface(&name)?;
            ifaces[usize::from(strip == "out")] = Some(name);
        }
        for name in ifaces.iter().flatten() {
            fw_iface(name)?;
        }
        self.typed(
            action,
            direction,
            forward,
            Typed {
                log,
                comment,
                proto,
                ifaces,
                src,
                dst,
                short_app,
                saw_to,
            },
            family,
        )
    }

    /// Whether `proto` takes `p` (ufw's `UFWRule.set_protocol`, or fw's
    /// state file's wider set).
    fn known_proto(&self, p: &str) -> bool {
        match self.protocols {
            Protocols::Ufw => matches!(
                p,
                "any" | "tcp" | "udp" | "ipv6" | "esp" | "ah" | "igmp" | "gre" | "vrrp"
            ),
            Protocols::All => parse_proto(p).is_ok(),
        }
    }

    /// `util.get_services_proto`: `tcp`, `udp` or `any`.
    fn service_proto(&self, name: &str) -> Result<&'static str, ParseError> {
        match self.services.lookup(name) {
            Some((_, true, true)) => Ok("any"),
            Some((_, true, false)) => Ok("tcp"),
            Some((_, false, true)) => Ok("udp"),
            _ => Err(ParseError::CouldNotFindProtocol),
        }
    }

    /// `UFWRule.set_port`'s checks on a port value (`any` passes).
    fn check_port(&self, port: &str) -> Result<(), ParseError> {
        let bad = || Err(ParseError::BadPort(port.into()));
        if port == "any" {
            return Ok(());
        }
        if port.starts_with([',', ':']) || port.ends_with([',', ':']) {
            return bad();
        }
        if port.matches([',', ':']).count() > 14 {
            return bad();
        }
        let in_range = |s: &str| s.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        for p in port.split(',') {
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            match p.split_once(':') {
                Some((a, b)) if digits(a) && digits(b) => {
                    if !in_range(a)
                        || !in_range(b)
                        || a.parse::<u32>().ok() >= b.parse::<u32>().ok()
                    {
                        return bad();
                    }
                }
                _ if digits(p) => {
                    if !in_range(p) {
                        return bad();
                    }
                }
                _ => {
                    // `^\w[\w\-]+` then getservbyname.
                    let mut cs = p.chars();
                    let word = cs.next().is_some_and(|c| c.is_alphanumeric() || c == '_')
                        && cs
                            .next()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
                    if !word || self.services.lookup(p).is_none() {
                        return bad();
                    }
                }
            }
        }
        Ok(())
    }

    /// The checked words as fw's typed rule.
    fn typed(
        &mut self,
        action: Action,
        dir: Direction,
        forward: bool,
        t: Typed,
        family: Option<Family>,
    ) -> Result<Parsed, ParseError> {
        let Typed {
            log,
            comment,
            proto,
            ifaces: [if_in, if_out],
            mut src,
            mut dst,
            short_app,
            saw_to,
        } = t;
        let mut opts = RuleOpts {
            log,
            comment,
            forward,
            ..RuleOpts::default()
        };
        let iface = if forward {
            opts.iface_out = if_out;
            if_in
        } else {
            if if_in.is_some() && if_out.is_some() {
                return Err(ParseError::TwoInterfaces);
            }
            if_in.or(if_out)
        };
        let mut rule = Rule {
            action,
            dir,
            iface,
            proto: parse_proto(&proto)?,
            src: None,
            sport: None,
            dst: None,
            dport: None,
            family: Family::V4,
            opts,
        };
        for (side, slot, bad) in [
            (
                &src,
                &mut rule.src,
                ParseError::BadSource as fn(String) -> ParseError,
            ),
            (&dst, &mut rule.dst, ParseError::BadDestination),
        ] {
            if let Some(a) = &side.addr
                && a != "any"
            {
                *slot = parse_addr(a, &mut self.notes).map_err(|m| match m {
                    AddrError::Mask => ParseError::NonContiguousMask(a.clone()),
                    AddrError::Bad => bad(a.clone()),
                })?;
            }
        }
        // Application profiles: ufw looks them up after parsing.
        if let Some(name) = &short_app {
            dst.app = Some(name.clone());
        }
        for (side, slot) in [(&src, &mut rule.opts.sapp), (&dst, &mut rule.opts.dapp)] {
            if let Some(n) = &side.app {
                *slot = Some(
                    self.apps
                        .app(n)
                        .ok_or_else(|| ParseError::UnknownWord(n.clone()))?,
                );
            }
        }
        // ufw 0.36.2's frontend, on a source profile named in another
        // case (`from any app ssh` for `SSH`), sets the destination port
        // to the profile's name: a bad port unless a destination profile
        // takes its place (and no error on a delete, which forgives it).
        if let (Some(given), Some(found), None) = (&src.app, &rule.opts.sapp, &dst.app)
            && self.protocols == Protocols::Ufw
            && !self.deleting
            && *given != found.name
            && self.services.lookup(&found.name).is_none()
        {
            return Err(ParseError::AppCasePort(found.name.clone()));
        }
        if (src.app.is_some() && src.port.is_some()) || (dst.app.is_some() && dst.port.is_some()) {
            return Err(ParseError::NoAppRules);
        }
        // The deliberate difference: `from X port P` without `to` = dport P.
        if !saw_to
            && src.app.is_none()
            && dst.port.is_none()
            && short_app.is_none()
            && let Some(p) = src.port.take()
        {
            let a = src.addr.as_deref().unwrap_or("any");
            self.notes.push(format!(
                "fw-ctl: read as 'from {a} to any port {p}' (destination port {p}); \
                 write 'from {a} port {p} to any' for a source port"
            ));
            dst.port = Some(p);
        }
        for (side, slot) in [(&src, &mut rule.sport), (&dst, &mut rule.dport)] {
            let Some(p) = &side.port else { continue };
            if p == "any" {
                continue;
            }
            let numbers: Vec<String> = p
                .split(',')
                .map(|item| match self.services.lookup(item) {
                    Some((port, _, _)) if !numeric_ports(item) => port.to_string(),
                    _ => item.to_owned(),
                })
                .collect();
            *slot =
                Some(parse_ports(&numbers.join(",")).map_err(|()| ParseError::BadPort(p.clone()))?);
        }
        self.finish(rule, family)
    }

    /// Checks that ports and protocol fit and fixes the family.
    fn finish(&mut self, rule: Rule, mut family: Option<Family>) -> Result<Parsed, ParseError> {
        let mut late = None;
        let user_multi = [&rule.sport, &rule.dport]
            .into_iter()
            .flatten()
            .any(|s| !s.is_single());
        if rule.opts.sapp.is_some() || rule.opts.dapp.is_some() {
            // ufw's backend checks each rule an application expands to,
            // with the protocol of the profile's port spec.
            if rule.proto == Proto::Any && app_legs_need_proto(&rule, user_multi) {
                if self.protocols == Protocols::Ufw {
                    late = Some(ParseError::MultiplePortsNeedProto);
                } else {
                    return Err(ParseError::MultiplePortsNeedProto);
                }
            }
        } else if rule.has_ports() {
            match rule.proto {
                Proto::Any => {
                    let multi = user_multi;
                    if multi {
                        // ufw's backend finds this after the frontend
                        // checked the insert position.
                        if self.protocols == Protocols::Ufw {
                            late = Some(ParseError::MultiplePortsNeedProto);
                        } else {
                            return Err(ParseError::MultiplePortsNeedProto);
                        }
                    }
                }
                p if p.has_ports() => {}
                p => return Err(ParseError::PortWithoutPortProto(proto_name(p))),
            }
        }
        if let Some(pf) = rule.proto.family() {
            if let Some(f) = family
                && f != pf
            {
                let fam = if f == Family::V4 { "IPv4" } else { "IPv6" };
                return Err(ParseError::ProtocolFamily(proto_name(rule.proto), fam));
            }
            family = Some(pf);
        }
        Ok(Parsed {
            spec: RuleSpec { rule, family },
            notes: std::mem::take(&mut self.notes),
            late,
        })
    }
}

/// Whether a rule an application expands to (ufw's
/// `get_app_rules_from_template`: each port spec of the destination
/// profile, with each of the source profile's) has several ports and no
/// protocol: `user_multi` when the command's own port is a list or range.
fn app_legs_need_proto(rule: &Rule, user_multi: bool) -> bool {
    let legs = |a: &Option<crate::rule::App>| -> Vec<(Proto, bool)> {
        a.as_ref().map_or_else(
            || vec![(Proto::Any, false)],
            |a| {
                a.legs
                    .iter()
                    .map(|(p, ports)| (*p, !ports.is_single()))
                    .collect()
            },
        )
    };
    let (d, s) = (legs(&rule.opts.dapp), legs(&rule.opts.sapp));
    d.iter().any(|&(dp, dm)| {
        s.iter().any(|&(sp, sm)| {
            let proto = if sp == Proto::Any { dp } else { sp };
            proto == Proto::Any && (user_multi || dm || sm)
        })
    })
}

/// The words of a rule once ufw's checks passed.
struct Typed {
    log: LogType,
    comment: Option<String>,
    proto: String,
    ifaces: [Option<String>; 2],
    src: SideWords,
    dst: SideWords,
    short_app: Option<String>,
    saw_to: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    From,
    To,
}

/// `util.parse_port_proto`: `PORT` or `PORT/PROTO`.
fn parse_port_proto(w: &str) -> Result<(&str, &str), ParseError> {
    let parts: Vec<&str> = w.split('/').collect();
    match parts[..] {
        [port] => Ok((port, "any")),
        [port, proto] => {
            if PORTLESS.contains(&proto) {
                return Err(ParseError::PortWithoutPortProto(proto.into()));
            }
            Ok((port, proto))
        }
        _ => Err(ParseError::BadPort(w.into())),
    }
}

/// `util.valid_address4`: a dotted quad, optionally `/LEN` (0-32) or
/// `/DOTTED.QUAD` (any mask).
fn valid_address4(a: &str) -> bool {
    if a.len() > 31
        || !a
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '/')
    {
        return false;
    }
    let net: Vec<&str> = a.split('/').collect();
    if net[0].parse::<Ipv4Addr>().is_err() {
        return false;
    }
    match net[..] {
        [_] => true,
        [_, m] => cidr_len(m, 32) || dotted_quads(m),
        _ => false,
    }
}

/// `util.valid_address6`: an IPv6 address, optionally `/LEN` (0-128).
fn valid_address6(a: &str) -> bool {
    if a.len() > 43
        || !a
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.' || c == '/')
    {
        return false;
    }
    let net: Vec<&str> = a.split('/').collect();
    if net[0].parse::<std::net::Ipv6Addr>().is_err() {
        return false;
    }
    match net[..] {
        [_] => true,
        [_, m] => cidr_len(m, 128),
        _ => false,
    }
}

/// `_valid_cidr_netmask`: digits, 0..=max.
fn cidr_len(m: &str, max: u32) -> bool {
    !m.is_empty()
        && m.chars().all(|c| c.is_ascii_digit())
        && m.parse::<u32>().is_ok_and(|n| n <= max)
}

/// `_valid_dotted_quads`: four numbers 0-255.
fn dotted_quads(m: &str) -> bool {
    let q: Vec<&str> = m.split('.').collect();
    q.len() == 4
        && q.iter().all(|x| {
            !x.is_empty()
                && x.chars().all(|c| c.is_ascii_digit())
                && x.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

/// The name of a protocol (or its number).
#[must_use]
pub fn proto_name(p: Proto) -> String {
    match p {
        Proto::Any => "any".into(),
        Proto::Num(n) => PROTO_NAMES
            .iter()
            .find(|(_, v)| *v == n)
            .map_or_else(|| n.to_string(), |(name, _)| (*name).to_owned()),
    }
}

/// Parses a protocol name or number.
///
/// # Errors
/// [`ParseError::UnsupportedProtocol`].
pub fn parse_proto(text: &str) -> Result<Proto, ParseError> {
    if text == "any" {
        return Ok(Proto::Any);
    }
    if let Some((_, n)) = PROTO_NAMES.iter().find(|(name, _)| *name == text) {
        return Ok(Proto::Num(*n));
    }
    if !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit())
        && let Ok(n) = text.parse::<u8>()
    {
        return Ok(Proto::Num(n));
    }
    Err(ParseError::UnsupportedProtocol(text.into()))
}

/// Parses `N`, `A:B` and comma lists of them.
///
/// # Errors
/// `Err(())` for anything else (the caller names the token).
#[expect(
    clippy::result_unit_err,
    reason = "the caller names the bad token in its own error"
)]
pub fn parse_ports(text: &str) -> Result<PortSet, ()> {
    let mut v = Vec::new();
    for item in text.split(',') {
        let port = |s: &str| -> Result<u16, ()> {
            if s.is_empty() || s.len() > 5 || !s.chars().all(|c| c.is_ascii_digit()) {
                return Err(());
            }
            match s.parse::<u32>() {
                Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
                _ => Err(()),
            }
        };
        let r = match item.split_once(':') {
            Some((a, b)) => {
                let (lo, hi) = (port(a)?, port(b)?);
                if lo >= hi {
                    return Err(());
                }
                PortRange { lo, hi }
            }
            None => {
                let p = port(item)?;
                PortRange { lo: p, hi: p }
            }
        };
        v.push(r);
    }
    if v.is_empty() || v.len() > MAX_PORT_ITEMS {
        return Err(());
    }
    Ok(PortSet(v))
}

/// Why an address is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrError {
    /// Not an address or prefix.
    Bad,
    /// An IPv4 dotted netmask that is not a prefix.
    Mask,
}

/// Parses `any`, an address, or a prefix (`/len`, or `/dotted.mask` for
/// IPv4), as ufw's `normalize_address`: host bits of an IPv4 prefix are
/// cleared and an IPv6 address is written in its canonical form, each
/// with ufw's warning; a `/0` prefix is `any` (of the family).
///
/// # Errors
/// [`AddrError`]; the caller names the bad token.
pub fn parse_addr(text: &str, notes: &mut Vec<String>) -> Result<Option<IpNet>, AddrError> {
    const CHANGED: &str = "WARN: Rule changed after normalization";
    let note = |notes: &mut Vec<String>| {
        if !notes.iter().any(|n| n == CHANGED) {
            notes.push(CHANGED.into());
        }
    };
    if text == "any" {
        return Ok(None);
    }
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| AddrError::Bad)?;
    let net = match ip {
        IpAddr::V4(a) => {
            let len = match len {
                None => 32,
                Some(l) if l.contains('.') => {
                    if !dotted_quads(l) {
                        return Err(AddrError::Bad);
                    }
                    let m: Ipv4Addr = l.parse().map_err(|_| AddrError::Bad)?;
                    let m = u32::from(m);
                    let ones = m.leading_ones();
                    if m.checked_shl(ones).unwrap_or(0) != 0 {
                        return Err(AddrError::Mask);
                    }
                    ones as u8
                }
                Some(l) => parse_len(l, 32)?,
            };
            let net = Ipv4Net::new(a, len).map_err(|_| AddrError::Bad)?;
            if net.trunc() != net {
                note(notes);
            }
            IpNet::V4(net.trunc())
        }
        IpAddr::V6(a) => {
            let len = match len {
                None => 128,
                Some(l) => parse_len(l, 128)?,
            };
            if a.to_string() != addr.to_lowercase() {
                note(notes);
            }
            IpNet::V6(Ipv6Net::new(a, len).map_err(|_| AddrError::Bad)?)
        }
    };
    Ok((net.prefix_len() > 0).then_some(net))
}

fn parse_len(l: &str, max: u8) -> Result<u8, AddrError> {
    if !cidr_len(l, u32::from(max)) {
        return Err(AddrError::Bad);
    }
    l.parse().map_err(|_| AddrError::Bad)
}

/// Checks an interface name (as ufw: at most 15 characters, no aliases, no
/// reserved characters; a trailing `+` is a prefix wildcard).
///
/// # Errors
/// [`ParseError::BadInterface`].
pub fn check_iface(name: &str) -> Result<String, ParseError> {
    ufw_iface(name)?;
    fw_iface(name)?;
    Ok(name.into())
}

/// ufw 0.36.2's checks and words (`UFWRule.set_interface`), in its order.
fn ufw_iface(name: &str) -> Result<(), ParseError> {
    let bad = |why| Err(ParseError::BadInterface(name.into(), why));
    if name.contains('!') {
        return bad(": reserved character: '!'");
    }
    if name.contains(':') {
        return bad(": can't use interface aliases");
    }
    if name == "." || name == ".." {
        return bad(": can't use '.' or '..'");
    }
    if name.is_empty() {
        return bad(": interface name is empty");
    }
    if name.chars().count() > 15 {
        return bad(": interface name too long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.+,=%@".contains(c))
    {
        return bad("");
    }
    Ok(())
}

/// fw's own checks, made once ufw's pass: a word of the grammar is no
/// interface name (ufw stores `in on out` or `in on on` as a garbled
/// rule; a listed difference), and the wildcard `+` is a trailing one (as
/// iptables').
fn fw_iface(name: &str) -> Result<(), ParseError> {
    let bad = |why| Err(ParseError::BadInterface(name.into(), why));
    if matches!(
        name,
        "in" | "out"
            | "on"
            | "proto"
            | "from"
            | "to"
            | "port"
            | "app"
            | "log"
            | "log-all"
            | "comment"
    ) {
        return bad(": a keyword");
    }
    if name[..name.len() - 1].contains('+') {
        return bad(": '+' only as the last character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::display::canonical;

    fn p(words: &str) -> Result<Parsed, ParseError> {
        let v: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
        parse_rule(Action::Allow, &v, &NoServices)
    }

    #[test]
    fn simple_and_extended_forms() {
        let r = p("22/tcp").unwrap().spec;
        assert_eq!(r.family, None);
        assert_eq!(
            canonical(&r.rule),
            "allow in proto tcp from any to any port 22"
        );
        let r = p("from 10.1.2.3/8 to any port 9000 proto tcp").unwrap();
        assert_eq!(
            r.notes,
            vec!["WARN: Rule changed after normalization".to_owned()]
        );
        assert_eq!(
            canonical(&r.spec.rule),
            "allow in proto tcp from 10.0.0.0/8 to any port 9000"
        );
        assert_eq!(r.spec.family, Some(Family::V4));
        let r = p("to any port 80 from 2001:db8::/32 proto tcp")
            .unwrap()
            .spec;
        assert_eq!(r.family, Some(Family::V6));
        let r = p("out on eth0 to 203.0.113.9 port 50052 proto tcp")
            .unwrap()
            .spec;
        assert_eq!(
            canonical(&r.rule),
            "allow out on eth0 proto tcp from any to 203.0.113.9 port 50052"
        );
        let r = p("from 10.0.0.1/255.255.255.0").unwrap().spec;
        assert_eq!(canonical(&r.rule), "allow in from 10.0.0.0/24 to any");
    }

    #[test]
    fn issue_12_long_form_without_to_from_or_interface_is_refused() {
        // `allow proto tcp` once became "allow all incoming TCP".
        for bad in [
            "proto tcp",
            "in proto tcp",
            "out proto udp",
            "proto tcp port 22",
        ] {
            assert!(matches!(p(bad), Err(ParseError::NeedToOrFrom)), "{bad}");
        }
        assert_eq!(
            canonical(&p("in on eth0 proto tcp").unwrap().spec.rule),
            "allow in on eth0 proto tcp from any to any"
        );
    }

    #[test]
    fn issue_12_a_second_direction_before_on_is_ufws_interface_clause() {
        // Found by the bad-input differential: ufw accepts these.
        for (line, want) in [
            (
                "in in on eth0 to any port 80",
                "allow in on eth0 from any to any port 80",
            ),
            (
                "out in on eth0 to any port 80",
                "allow out on eth0 from any to any port 80",
            ),
            (
                "in out on eth0 to any port 80",
                "allow in on eth0 from any to any port 80",
            ),
        ] {
            assert_eq!(canonical(&p(line).unwrap().spec.rule), want, "{line}");
        }
    }

    #[test]
    fn issue_12_in_or_out_anywhere_but_the_interface_clause_is_refused() {
        // ufw checks before it takes the comment out.
        for bad in ["22/tcp comment in", "comment out to 192.0.2.1 port 53"] {
            assert!(matches!(p(bad), Err(ParseError::InterfaceClause)), "{bad}");
        }
        assert!(p("in 22/tcp").is_ok());
        assert!(p("out on eth0 to any port 80").is_ok());
    }

    #[test]
    fn issue_12_keywords_are_no_interface_names() {
        // (`in on comment ...` takes `to` as the comment and `in on
        // log-all` is ufw's "Option 'log-all' not allowed here".)
        // ufw reads every word as a key, also one an `on` took: `in on
        // from to ...` is ufw's "Bad source address", `in on port` its
        // "Need 'from' or 'to' with 'port'".
        assert!(matches!(
            p("in on from to any port 80"),
            Err(ParseError::BadSource(_))
        ));
        for w in ["out", "on"] {
            let line = format!("in on {w} to any port 80");
            let r = p(&line);
            assert!(
                matches!(r, Err(ParseError::BadInterface(..))),
                "{line}: {r:?}"
            );
        }
        assert!(p("in on any to any port 80").is_ok());
    }

    #[test]
    fn issue_12_comments_with_control_characters_are_refused() {
        for text in ["a\nb", "tab\there", "\u{1b}[31m", "del\u{7f}"] {
            let v: Vec<String> = vec!["22".into(), "comment".into(), text.into()];
            let e = parse_rule(Action::Allow, &v, &NoServices).unwrap_err();
            assert!(matches!(e, ParseError::CommentControl(_)), "{text:?}: {e}");
            assert!(!e.to_string().chars().any(char::is_control), "{e}");
        }
        let v: Vec<String> = vec!["22".into(), "comment".into(), "caf\u{e9} ok".into()];
        assert!(parse_rule(Action::Allow, &v, &NoServices).is_ok());
    }

    #[test]
    fn fw_reads_from_port_without_to_as_destination_port() {
        let r = p("from 10.0.0.0/8 port 9000").unwrap();
        assert_eq!(
            canonical(&r.spec.rule),
            "allow in from 10.0.0.0/8 to any port 9000"
        );
        assert!(r.notes[0].contains("destination port 9000"));
        let r = p("from 10.0.0.0/8 port 9000 to any").unwrap();
        assert_eq!(
            canonical(&r.spec.rule),
            "allow in from 10.0.0.0/8 port 9000 to any"
        );
    }

    #[test]
    fn errors_name_the_bad_token() {
        assert_eq!(p("70000").unwrap_err(), ParseError::BadPort("70000".into()));
        assert_eq!(p("0").unwrap_err(), ParseError::BadPort("0".into()));
        assert_eq!(
            p("9001:9000/tcp").unwrap_err(),
            ParseError::BadPort("9001:9000/tcp".into())
        );
        assert_eq!(
            p("9000:9001").unwrap_err(),
            ParseError::MultiplePortsNeedProto
        );
        assert_eq!(
            p("from 10.0.0.0/33").unwrap_err(),
            ParseError::BadSource("10.0.0.0/33".into())
        );
        assert_eq!(
            p("to 10.0.0.256").unwrap_err(),
            ParseError::BadDestination("10.0.0.256".into())
        );
        assert_eq!(
            p("from 10.0.0.1 to 2001:db8::1").unwrap_err(),
            ParseError::MixedVersions
        );
        assert_eq!(
            p("proto sctpx from any").unwrap_err(),
            ParseError::UnsupportedProtocol("sctpx".into())
        );
        assert_eq!(
            p("proto esp to any port 500").unwrap_err(),
            ParseError::PortWithoutPortProto("esp".into())
        );
        assert_eq!(p("port 22").unwrap_err(), ParseError::NeedToOrFrom);
        assert_eq!(
            p("foobar").unwrap_err(),
            ParseError::UnknownWord("foobar".into())
        );
        let many = (1..=16)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            p(&format!("{many}/tcp")).unwrap_err(),
            ParseError::BadPort(format!("{many}/tcp"))
        );
        assert!(
            p(&format!(
                "{}/tcp",
                (1..=15)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ))
            .is_ok()
        );
        assert!(matches!(
            p("in on eth0:1 to any").unwrap_err(),
            ParseError::BadInterface(..)
        ));
    }

    #[test]
    fn services_resolve() {
        let db = ServicesDb::parse("ssh 22/tcp\ndomain 53/tcp\ndomain 53/udp\n");
        let v = vec!["ssh".to_owned()];
        let r = parse_rule(Action::Allow, &v, &db).unwrap().spec;
        assert_eq!(
            canonical(&r.rule),
            "allow in proto tcp from any to any port 22"
        );
        let v = vec!["domain".to_owned()];
        let r = parse_rule(Action::Allow, &v, &db).unwrap().spec;
        assert_eq!(canonical(&r.rule), "allow in from any to any port 53");
    }

    mod roundtrip {
        use proptest::prelude::*;

        use super::*;

        fn arb_rule() -> impl Strategy<Value = Rule> {
            // A /0 prefix is "any" (of its family) in every reading.
            let addr4 = (any::<[u8; 4]>(), 1u8..=32).prop_map(|(a, l)| {
                ipnet::Ipv4Net::new(a.into(), l)
                    .map(|n| IpNet::V4(n.trunc()))
                    .ok()
            });
            let ports = prop::collection::vec((1u16..=65535, 0u16..50), 1..4).prop_map(|v| {
                PortSet(
                    v.into_iter()
                        .map(|(lo, w)| PortRange {
                            lo,
                            hi: lo.saturating_add(w).max(lo),
                        })
                        .collect(),
                )
            });
            (
                prop_oneof![
                    Just(Action::Allow),
                    Just(Action::Deny),
                    Just(Action::Reject),
                    Just(Action::Limit)
                ],
                prop_oneof![Just(Direction::In), Just(Direction::Out)],
                prop::option::of("[a-z]{1,6}[0-9]".prop_map(String::from)),
                prop_oneof![Just(Proto::TCP), Just(Proto::UDP)],
                prop::option::of(addr4.clone()).prop_map(Option::flatten),
                prop::option::of(ports.clone()),
                prop::option::of(addr4).prop_map(Option::flatten),
                prop::option::of(ports),
            )
                .prop_map(|(action, dir, iface, proto, src, sport, dst, dport)| Rule {
                    action,
                    dir,
                    iface,
                    proto,
                    src,
                    sport,
                    dst,
                    dport,
                    family: Family::V4,
                    opts: RuleOpts::default(),
                })
        }

        /// Profiles the round-trip rules may name.
        struct TestApps;

        fn test_apps() -> Vec<App> {
            let p = |lo, hi| PortSet(vec![PortRange { lo, hi }]);
            vec![
                App {
                    name: "OpenSSH".into(),
                    legs: vec![(Proto::TCP, p(22, 22))],
                },
                App {
                    name: "WWW Full".into(),
                    legs: vec![(
                        Proto::TCP,
                        PortSet(vec![
                            PortRange { lo: 80, hi: 80 },
                            PortRange { lo: 443, hi: 443 },
                        ]),
                    )],
                },
                App {
                    name: "MyApp".into(),
                    legs: vec![(Proto::TCP, p(9000, 9001)), (Proto::Any, p(5000, 5000))],
                },
            ]
        }

        impl AppLookup for TestApps {
            fn app(&self, name: &str) -> Option<App> {
                test_apps()
                    .into_iter()
                    .find(|a| a.name.eq_ignore_ascii_case(name))
            }
        }

        /// Rules with every option: logging, comments, route rules with
        /// one or two interfaces, application profiles on either side.
        fn arb_full_rule() -> impl Strategy<Value = Rule> {
            (
                arb_rule(),
                prop_oneof![
                    Just(LogType::None),
                    Just(LogType::Log),
                    Just(LogType::LogAll)
                ],
                prop::option::of("[a-z0-9]{1,5}( [a-z.,]{1,5}){0,2}"),
                any::<bool>(),
                prop::option::of("[a-z]{1,6}[0-9]".prop_map(String::from)),
                prop::option::of(0usize..3),
                prop::option::of(0usize..3),
            )
                .prop_map(|(mut r, log, comment, forward, out_if, dapp, sapp)| {
                    r.opts.log = log;
                    r.opts.comment = comment;
                    if forward {
                        r.opts.forward = true;
                        r.opts.iface_out = out_if;
                        if r.iface.is_none() && r.opts.iface_out.is_some() {
                            r.dir = Direction::Out;
                        } else {
                            r.dir = Direction::In;
                        }
                    }
                    if dapp.is_some() || sapp.is_some() {
                        // Profile ports come with their own protocols.
                        r.proto = Proto::Any;
                        r.sport = None;
                        r.dport = None;
                    }
                    if let Some(i) = dapp {
                        r.opts.dapp = Some(test_apps()[i].clone());
                        r.dport = None;
                    }
                    if let Some(i) = sapp {
                        r.opts.sapp = Some(test_apps()[i].clone());
                        r.sport = None;
                    }
                    r
                })
        }

        /// The words of a rule text after `[route] ACTION`, and whether it
        /// is a route rule.
        fn rule_words(text: &str) -> (bool, Vec<String>) {
            let w = crate::state::split_words(text).expect("quotes pair up");
            let forward = w[0] == "route";
            (forward, w[usize::from(forward) + 1..].to_vec())
        }

        proptest! {
            #[test]
            fn canonical_text_parses_back(r in arb_full_rule()) {
                let text = canonical(&r);
                let (forward, words) = rule_words(&text);
                let back = parse_rule_with(r.action, &words, &NoServices, &TestApps, forward)
                    .unwrap_or_else(|e| panic!("{text}: {e}"));
                let mut got = back.spec.rule;
                got.family = Family::V4;
                prop_assert_eq!(got, r);
            }

            /// `show added` prints commands that fw-ctl reads back as the
            /// same rule (a /0 prefix reads back as "any").
            #[test]
            fn show_added_text_parses_back(r in arb_full_rule()) {
                let text = crate::rule::display::command_text(&r);
                let (forward, words) = rule_words(&text);
                let back = parse_rule_with(r.action, &words, &NoServices, &TestApps, forward)
                    .unwrap_or_else(|e| panic!("{text}: {e}"));
                let mut got = back.spec.rule;
                got.family = Family::V4;
                let zero = |a: Option<IpNet>| a.filter(|n| n.prefix_len() > 0);
                let want = Rule { src: zero(r.src), dst: zero(r.dst), ..r };
                prop_assert_eq!(got, want, "{}", text);
            }
        }
    }
}

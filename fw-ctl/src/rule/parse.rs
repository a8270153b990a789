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
    };
    p.rule(action, args, forward)
}

struct RuleParser<'a> {
    notes: Vec<String>,
    services: &'a dyn Services,
    apps: &'a dyn AppLookup,
}

/// True when `words` has `dir on` somewhere.
fn has_iface_clause(words: &[String], dir: &str) -> bool {
    words.windows(2).any(|w| w[0] == dir && w[1] == "on")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    From,
    To,
}

const KEYWORDS: &[&str] = &["proto", "from", "to", "port", "app", "on", "in", "out"];

impl RuleParser<'_> {
    fn rule(
        &mut self,
        action: Action,
        args: &[String],
        forward: bool,
    ) -> Result<Parsed, ParseError> {
        let mut args = args.to_vec();
        // A route rule may name both interfaces: as ufw, take the second
        // clause out and parse the rest as a normal rule.
        let mut second: Option<(Direction, String)> = None;
        if forward {
            if has_iface_clause(&args, "in") && has_iface_clause(&args, "out") {
                let at = |d: &str| args.windows(2).position(|w| w[0] == d && w[1] == "on");
                let (i_in, i_out) = (at("in").unwrap_or(0), at("out").unwrap_or(0));
                let (k, d) = if i_in < i_out {
                    (i_out, Direction::Out)
                } else {
                    (i_in, Direction::In)
                };
                let name = args
                    .get(k + 2)
                    .ok_or_else(|| ParseError::MissingValue("on".into()))?
                    .clone();
                second = Some((d, check_iface(&name)?));
                args.drain(k..k + 3);
            } else if !has_iface_clause(&args, "in")
                && !has_iface_clause(&args, "out")
                && !args.windows(2).any(|w| w[0] == "app")
                && args.iter().any(|w| w == "in" || w == "out")
            {
                return Err(ParseError::RouteInterface);
            }
        }
        let args = &args[..];
        if !forward {
            // ufw (parser.py): a leading direction not followed by `on` is
            // taken out; then any `in`/`out` left (even a comment's text)
            // must be a leading `in on` / `out on`.
            let lower = |k: usize| args.get(k).map(|w| w.to_ascii_lowercase());
            let rest = match lower(0).as_deref() {
                Some("in" | "out") if args.len() > 1 && args[1] != "on" => &args[1..],
                _ => args,
            };
            if rest.iter().any(|w| w == "in" || w == "out") {
                let head = rest.first().map(|w| w.to_ascii_lowercase());
                let on = rest.get(1).map(|w| w.to_ascii_lowercase());
                if !matches!(head.as_deref(), Some("in" | "out")) || on.as_deref() != Some("on") {
                    return Err(ParseError::InterfaceClause);
                }
            }
        }
        let mut i = 0;
        let mut dir = Direction::In;
        let mut iface = None;
        let mut dir_given = false;
        if let Some(w) = args.first() {
            match w.to_ascii_lowercase().as_str() {
                "in" => {
                    dir_given = true;
                    i = 1;
                }
                "out" => {
                    dir = Direction::Out;
                    dir_given = true;
                    i = 1;
                }
                _ => {}
            }
        }
        // ufw strips a leading direction that is not followed by `on`, so
        // `allow out in on eth0 ...` is `allow out on eth0 ...`: the first
        // direction wins, the clause's word only introduces the interface.
        if dir_given
            && !forward
            && matches!(
                args.get(i).map(|w| w.to_ascii_lowercase()).as_deref(),
                Some("in" | "out")
            )
            && args.get(i + 1).map(String::as_str) == Some("on")
        {
            i += 1;
        }
        if args.get(i).map(String::as_str) == Some("on") {
            if !dir_given {
                return Err(ParseError::WrongNumberOfArguments);
            }
            let name = args
                .get(i + 1)
                .ok_or_else(|| ParseError::MissingValue("on".into()))?;
            iface = Some(check_iface(name)?);
            i += 2;
        }
        // `log`/`log-all` only right after the action, direction or
        // interface.
        let mut log = LogType::None;
        match args.get(i).map(|w| w.to_ascii_lowercase()).as_deref() {
            Some("log") if args.len() > i + 1 => {
                log = LogType::Log;
                i += 1;
            }
            Some("log-all") if args.len() > i + 1 => {
                log = LogType::LogAll;
                i += 1;
            }
            _ => {}
        }
        let mut rest: Vec<String> = args[i..].to_vec();
        if let Some(w) = rest
            .iter()
            .find(|w| matches!(w.as_str(), "log" | "log-all"))
        {
            return Err(ParseError::OptionNotAllowed(w.clone()));
        }
        // `comment TEXT` anywhere.
        let mut comment = None;
        if let Some(k) = rest.iter().position(|w| w == "comment") {
            let text = rest.get(k + 1).ok_or(ParseError::CommentMissingArgument)?;
            if text.contains('\'') {
                return Err(ParseError::CommentQuote);
            }
            if let Some(c) = text.chars().find(|c| c.is_control()) {
                return Err(ParseError::CommentControl(crate::output::escape(
                    &c.to_string(),
                )));
            }
            comment = Some(text.clone()).filter(|t| !t.is_empty());
            rest.drain(k..k + 2);
        }
        let mut opts = RuleOpts {
            log,
            comment,
            forward,
            ..RuleOpts::default()
        };
        if forward {
            // A route rule's interfaces: `iface` is the `in on` one.
            match (dir, second) {
                (Direction::Out, Some((_, in_if))) => {
                    opts.iface_out = iface.take();
                    iface = Some(in_if);
                }
                (Direction::Out, None) => opts.iface_out = iface.take(),
                (Direction::In | Direction::Fwd, Some((_, out_if))) => {
                    opts.iface_out = Some(out_if);
                }
                (Direction::In | Direction::Fwd, None) => {}
            }
        }
        let has_iface = iface.is_some() || opts.iface_out.is_some();
        let base = Rule {
            action,
            dir,
            iface,
            proto: Proto::Any,
            src: None,
            sport: None,
            dst: None,
            dport: None,
            family: Family::V4,
            opts,
        };
        if rest.len() == 1 && !KEYWORDS.contains(&rest[0].as_str()) {
            if has_iface {
                return Err(ParseError::WrongNumberOfArguments);
            }
            return self.simple(base, &rest[0]);
        }
        if rest.is_empty() && !has_iface {
            return Err(ParseError::InvalidSyntax);
        }
        if rest.len() >= 2 && !KEYWORDS.contains(&rest[0].as_str()) {
            // Simple form followed by more words.
            return Err(ParseError::NeedToOrFrom);
        }
        // ufw's rule (parser.py, after it took the leading direction out):
        // the long form needs `to`, `from` or an interface clause; `allow
        // [in] proto tcp` would otherwise read as "any TCP", widening the
        // policy.
        if !has_iface
            && !rest
                .iter()
                .any(|w| matches!(w.as_str(), "to" | "from" | "in" | "out"))
        {
            return Err(ParseError::NeedToOrFrom);
        }
        self.extended(base, &rest)
    }

    /// `PORT[/PROTO]`, `SERVICE[/PROTO]`, `LIST/PROTO`, `A:B/PROTO`.
    fn simple(&mut self, mut rule: Rule, word: &str) -> Result<Parsed, ParseError> {
        let (ports, proto) = match word.split_once('/') {
            Some((p, proto)) => (p, Some(proto)),
            None => (word, None),
        };
        let proto = match proto {
            None => None,
            Some(p) => match p {
                "tcp" => Some(Proto::TCP),
                "udp" => Some(Proto::UDP),
                _ => return Err(ParseError::BadPort(word.into())),
            },
        };
        let numeric = ports
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == ':');
        if !numeric && !ports.contains([',', ':']) {
            // A service name, else an application profile.
            let Some((port, tcp, udp)) = self.services.lookup(ports) else {
                if proto.is_some() {
                    return Err(ParseError::BadPort(word.into()));
                }
                let app = self
                    .apps
                    .app(word)
                    .ok_or_else(|| ParseError::UnknownWord(word.into()))?;
                rule.opts.dapp = Some(app);
                return self.finish(rule, None);
            };
            rule.dport = Some(PortSet(vec![PortRange { lo: port, hi: port }]));
            rule.proto = match proto {
                Some(p) => p,
                None if tcp && udp => Proto::Any,
                None if tcp => Proto::TCP,
                None => Proto::UDP,
            };
            return self.finish(rule, None);
        }
        if !numeric {
            return Err(ParseError::NonNumericRange);
        }
        let set = parse_ports(ports).map_err(|()| ParseError::BadPort(word.into()))?;
        rule.proto = proto.unwrap_or(Proto::Any);
        rule.dport = Some(set);
        self.finish(rule, None)
    }

    fn extended(&mut self, mut rule: Rule, words: &[String]) -> Result<Parsed, ParseError> {
        let mut i = 0;
        let mut last: Option<Side> = None;
        let mut saw_to = false;
        let mut from_port: Option<String> = None;
        let mut to_port: Option<String> = None;
        let mut proto: Option<String> = None;
        let (mut src, mut dst): (Option<String>, Option<String>) = (None, None);
        let (mut sapp, mut dapp): (Option<String>, Option<String>) = (None, None);
        if words.iter().any(|w| w == "app") && words.iter().any(|w| w == "proto") {
            return Err(ParseError::ImproperSyntax);
        }
        while i < words.len() {
            let key = words[i].as_str();
            let value = |i: usize| -> Result<&String, ParseError> {
                words
                    .get(i + 1)
                    .ok_or_else(|| ParseError::MissingValue(key.into()))
            };
            match key {
                "proto" => {
                    if proto.is_some() {
                        return Err(ParseError::Unexpected(key.into()));
                    }
                    proto = Some(value(i)?.clone());
                }
                "from" => {
                    if src.is_some() {
                        return Err(ParseError::Unexpected(key.into()));
                    }
                    src = Some(value(i)?.clone());
                    last = Some(Side::From);
                }
                "to" => {
                    if dst.is_some() {
                        return Err(ParseError::Unexpected(key.into()));
                    }
                    dst = Some(value(i)?.clone());
                    saw_to = true;
                    last = Some(Side::To);
                }
                "port" => {
                    let v = value(i)?.clone();
                    match last {
                        None => return Err(ParseError::NeedToOrFrom),
                        Some(Side::From) if from_port.is_none() => from_port = Some(v),
                        Some(Side::To) if to_port.is_none() => to_port = Some(v),
                        Some(_) => return Err(ParseError::Unexpected(key.into())),
                    }
                }
                "app" => {
                    let v = value(i)?.clone();
                    match last {
                        None => return Err(ParseError::NeedToOrFrom),
                        Some(Side::From) if sapp.is_none() => sapp = Some(v),
                        Some(Side::To) if dapp.is_none() => dapp = Some(v),
                        Some(_) => return Err(ParseError::ImproperSyntax),
                    }
                }
                "on" | "in" | "out" => return Err(ParseError::WrongNumberOfArguments),
                _ => {
                    if i + 1 == words.len() && i > 0 {
                        return Err(ParseError::WrongNumberOfArguments);
                    }
                    return Err(ParseError::Unexpected(key.into()));
                }
            }
            i += 2;
        }

        // Addresses and family.
        let mut family = None;
        if let Some(s) = &src {
            rule.src =
                parse_addr(s, &mut self.notes).map_err(|()| ParseError::BadSource(s.clone()))?;
        }
        if let Some(d) = &dst {
            rule.dst = parse_addr(d, &mut self.notes)
                .map_err(|()| ParseError::BadDestination(d.clone()))?;
        }
        for net in [rule.src, rule.dst].into_iter().flatten() {
            let f = if net.addr().is_ipv4() {
                Family::V4
            } else {
                Family::V6
            };
            if family.is_some_and(|g| g != f) {
                return Err(ParseError::MixedVersions);
            }
            family = Some(f);
        }

        // Application profiles, one side each, never with a port there.
        if (sapp.is_some() && from_port.is_some()) || (dapp.is_some() && to_port.is_some()) {
            return Err(ParseError::NoAppRules);
        }
        for (name, slot) in [(&sapp, &mut rule.opts.sapp), (&dapp, &mut rule.opts.dapp)] {
            if let Some(n) = name {
                *slot = Some(
                    self.apps
                        .app(n)
                        .ok_or_else(|| ParseError::UnknownWord(n.clone()))?,
                );
            }
        }

        // The deliberate difference: `from X port P` without `to` = dport P.
        if !saw_to
            && sapp.is_none()
            && to_port.is_none()
            && let Some(p) = from_port.take()
        {
            self.notes.push(format!(
                "fw-ctl: read as 'from {} to any port {p}' (destination port {p}); \
                 write 'from {} port {p} to any' for a source port",
                src.as_deref().unwrap_or("any"),
                src.as_deref().unwrap_or("any"),
            ));
            to_port = Some(p);
        }

        let proto = match &proto {
            None => None,
            Some(p) => Some(parse_proto(p)?),
        };
        rule.proto = proto.unwrap_or(Proto::Any);
        let mut svc_proto: Option<Proto> = None;
        for (text, slot) in [(&from_port, &mut rule.sport), (&to_port, &mut rule.dport)] {
            let Some(text) = text else { continue };
            let (set, sp) = self.ports_value(text)?;
            if let Some(sp) = sp {
                svc_proto = Some(sp);
            }
            *slot = Some(set);
        }
        if let Some(sp) = svc_proto {
            match proto {
                None => rule.proto = sp,
                Some(p) if sp == Proto::Any || sp == p => {}
                Some(p) => return Err(ParseError::ProtocolMismatch(proto_name(p))),
            }
        }
        self.finish(rule, family)
    }

    /// A `port` value: numbers, ranges, lists, or one service name (whose
    /// protocol is returned).
    fn ports_value(&self, text: &str) -> Result<(PortSet, Option<Proto>), ParseError> {
        if text
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == ':')
        {
            let set = parse_ports(text).map_err(|()| ParseError::BadPort(text.into()))?;
            return Ok((set, None));
        }
        if text.contains([',', ':']) {
            return Err(ParseError::NonNumericRange);
        }
        let (port, tcp, udp) = self
            .services
            .lookup(text)
            .ok_or_else(|| ParseError::BadPort(text.into()))?;
        let p = match (tcp, udp) {
            (true, true) => Proto::Any,
            (true, false) => Proto::TCP,
            _ => Proto::UDP,
        };
        Ok((PortSet(vec![PortRange { lo: port, hi: port }]), Some(p)))
    }

    /// Checks that ports and protocol fit and fixes the family.
    fn finish(&mut self, rule: Rule, mut family: Option<Family>) -> Result<Parsed, ParseError> {
        if rule.has_ports() {
            match rule.proto {
                Proto::Any => {
                    let multi = [&rule.sport, &rule.dport]
                        .into_iter()
                        .flatten()
                        .any(|s| !s.is_single());
                    if multi {
                        return Err(ParseError::MultiplePortsNeedProto);
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
        })
    }
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

/// Parses `any`, an address, or a prefix (`/len`, or `/dotted.mask` for
/// IPv4). IPv4 host bits are cleared with ufw's warning.
///
/// # Errors
/// `Err(())` when the text is no address (the caller names the token).
#[expect(
    clippy::result_unit_err,
    reason = "the caller names the bad token in its own error"
)]
pub fn parse_addr(text: &str, notes: &mut Vec<String>) -> Result<Option<IpNet>, ()> {
    if text == "any" {
        return Ok(None);
    }
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| ())?;
    let net = match ip {
        IpAddr::V4(a) => {
            let len = match len {
                None => 32,
                Some(l) if l.contains('.') => {
                    let m: Ipv4Addr = l.parse().map_err(|_| ())?;
                    let m = u32::from(m);
                    let ones = m.leading_ones();
                    if m.checked_shl(ones).unwrap_or(0) != 0 {
                        return Err(());
                    }
                    ones as u8
                }
                Some(l) => parse_len(l, 32)?,
            };
            let net = Ipv4Net::new(a, len).map_err(|_| ())?;
            if net.trunc() != net {
                notes.push("WARN: Rule changed after normalization".into());
            }
            IpNet::V4(net.trunc())
        }
        IpAddr::V6(a) => {
            let len = match len {
                None => 128,
                Some(l) => parse_len(l, 128)?,
            };
            IpNet::V6(Ipv6Net::new(a, len).map_err(|_| ())?)
        }
    };
    Ok(Some(net))
}

fn parse_len(l: &str, max: u8) -> Result<u8, ()> {
    if l.is_empty() || l.len() > 3 || !l.chars().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    let n: u8 = l.parse().map_err(|_| ())?;
    if n > max {
        return Err(());
    }
    Ok(n)
}

/// Checks an interface name (as ufw: at most 15 characters, no aliases, no
/// reserved characters; a trailing `+` is a prefix wildcard).
///
/// # Errors
/// [`ParseError::BadInterface`].
pub fn check_iface(name: &str) -> Result<String, ParseError> {
    // ufw 0.36.2's checks and words (`UFWRule.set_interface`), in its order.
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
    // fw's own check: a word of the grammar is no interface name (ufw
    // refuses most of them with another message, and stores `in on out`
    // or `in on on` as a garbled rule; a listed difference).
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
    if name.is_empty() {
        return bad(": interface name is empty");
    }
    if name.len() > 15 {
        return bad(": interface name too long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.+,=%@".contains(c))
    {
        return bad("");
    }
    // fw's wildcard is a trailing `+` (as iptables').
    if name[..name.len() - 1].contains('+') {
        return bad(": '+' only as the last character");
    }
    Ok(name.into())
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
        for w in ["out", "on", "from", "comment", "log-all", "port"] {
            let line = format!("in on {w} to any port 80");
            assert!(
                matches!(p(&line), Err(ParseError::BadInterface(..))),
                "{line}"
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
            let addr4 = (any::<[u8; 4]>(), 0u8..=32).prop_map(|(a, l)| {
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

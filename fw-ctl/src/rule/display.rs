//! Rules as text: the canonical fw-ctl form (what the state file stores and
//! what parses back to the same rule) and ufw's `status` columns.

use std::fmt::{self, Write as _};

use ipnet::IpNet;

use super::{Action, Direction, Family, LogType, PortSet, Proto, Rule, parse::proto_name};

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            if r.lo == r.hi {
                write!(f, "{}", r.lo)?;
            } else {
                write!(f, "{}:{}", r.lo, r.hi)?;
            }
        }
        Ok(())
    }
}

/// The action's word (`allow`, `deny`, `reject`, `limit`).
#[must_use]
pub fn action_word(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Deny => "deny",
        Action::Reject => "reject",
        Action::Limit => "limit",
    }
}

/// An address as ufw prints it: a host without `/32` or `/128`.
#[must_use]
pub fn addr_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// A profile name as ufw writes it in a command: quoted when it has a space.
fn app_word(name: &str) -> String {
    if name.contains(' ') {
        format!("'{name}'")
    } else {
        name.to_owned()
    }
}

/// The rule's (`in on`, `out on`) interfaces in ufw's terms.
fn interfaces(r: &Rule) -> (Option<&String>, Option<&String>) {
    if r.opts.forward {
        (r.iface.as_ref(), r.opts.iface_out.as_ref())
    } else {
        match r.dir {
            Direction::In | Direction::Fwd => (r.iface.as_ref(), None),
            Direction::Out => (None, r.iface.as_ref()),
        }
    }
}

/// The canonical fw-ctl text of a rule: every part spelled out so that it
/// parses back to the same rule (the family comes from the addresses or is
/// stored beside the text, and an application rule's port specs are stored
/// beside it too). Route rules start with `route`.
#[must_use]
pub fn canonical(r: &Rule) -> String {
    let mut s = String::new();
    if r.opts.forward {
        s.push_str("route ");
    }
    s.push_str(action_word(r.action));
    let (i_in, i_out) = interfaces(r);
    let clause_in = i_in.map(|i| format!(" in on {i}"));
    let clause_out = i_out.map(|i| format!(" out on {i}"));
    match r.dir {
        Direction::In | Direction::Fwd => {
            s.push_str(clause_in.as_deref().unwrap_or(""));
            s.push_str(clause_out.as_deref().unwrap_or(""));
        }
        Direction::Out => {
            s.push_str(clause_out.as_deref().unwrap_or(""));
            s.push_str(clause_in.as_deref().unwrap_or(""));
        }
    }
    if !r.opts.forward && r.iface.is_none() {
        s.push_str(match r.dir {
            Direction::In | Direction::Fwd => " in",
            Direction::Out => " out",
        });
    }
    if r.opts.log != LogType::None {
        let _ = write!(s, " {}", r.opts.log.word());
    }
    if r.proto != Proto::Any {
        let _ = write!(s, " proto {}", proto_name(r.proto));
    }
    let addr = |a: &Option<IpNet>| a.as_ref().map_or_else(|| "any".to_owned(), addr_text);
    for (word, a, port, app) in [
        ("from", &r.src, &r.sport, &r.opts.sapp),
        ("to", &r.dst, &r.dport, &r.opts.dapp),
    ] {
        let _ = write!(s, " {word} {}", addr(a));
        if let Some(p) = port {
            let _ = write!(s, " port {p}");
        }
        if let Some(a) = app {
            let _ = write!(s, " app '{}'", a.name);
        }
    }
    if let Some(c) = &r.opts.comment {
        let _ = write!(s, " comment '{c}'");
    }
    s
}

/// The rule as the command that adds it, in ufw's `show added` form (ufw
/// 0.36.2 `UFWCommandRule.get_command`): the short form when only ports
/// (and a protocol) or a profile are named, else the extended form. Route
/// rules start with `route`.
#[must_use]
pub fn command_text(r: &Rule) -> String {
    let any = |a: &Option<IpNet>| a.is_none_or(|n| n.prefix_len() == 0);
    let mut s = String::new();
    if r.opts.forward {
        s.push_str("route ");
    }
    s.push_str(action_word(r.action));
    let proto = (r.proto != Proto::Any).then(|| proto_name(r.proto));
    let (i_in, i_out) = interfaces(r);
    let log = r.opts.log.word();
    let comment = r
        .opts
        .comment
        .as_ref()
        .map(|c| format!(" comment '{c}'"))
        .unwrap_or_default();
    if any(&r.src)
        && any(&r.dst)
        && r.sport.is_none()
        && r.opts.sapp.is_none()
        && i_in.is_none()
        && i_out.is_none()
        && (r.dport.is_some() || r.opts.dapp.is_some())
    {
        if r.dir == Direction::Out {
            s.push_str(" out");
        }
        if !log.is_empty() {
            let _ = write!(s, " {log}");
        }
        if let Some(a) = &r.opts.dapp {
            let _ = write!(s, " {}", app_word(&a.name));
        } else if let Some(d) = &r.dport {
            let _ = write!(s, " {d}");
            if let Some(p) = &proto {
                let _ = write!(s, "/{p}");
            }
        }
        s.push_str(&comment);
        return s;
    }
    if let Some(i) = i_in {
        let _ = write!(s, " in on {i}");
    }
    if let Some(i) = i_out {
        let _ = write!(s, " out on {i}");
    } else if r.dir == Direction::Out {
        s.push_str(" out");
    }
    if !log.is_empty() {
        let _ = write!(s, " {log}");
    }
    let mut named = false;
    for (word, addr, port, app) in [
        ("from", &r.src, &r.sport, &r.opts.sapp),
        ("to", &r.dst, &r.dport, &r.opts.dapp),
    ] {
        // fw reads `from A port P` without a `to` clause as a destination
        // port (its one grammar difference), so a source port is always
        // followed by a `to` clause: `from A port P to any`.
        let sport_needs_to = word == "to" && r.sport.is_some();
        if !any(addr) || port.is_some() || app.is_some() || sport_needs_to {
            let loc = addr
                .as_ref()
                .filter(|n| n.prefix_len() > 0)
                .map_or_else(|| "any".to_owned(), addr_text);
            let _ = write!(s, " {word} {loc}");
            if let Some(a) = app {
                let _ = write!(s, " app {}", app_word(&a.name));
            } else if let Some(p) = port {
                let _ = write!(s, " port {p}");
            }
            named = true;
        }
    }
    if !named && i_in.is_none() && i_out.is_none() {
        s.push_str(" to any");
    }
    if let Some(p) = proto
        && r.opts.dapp.is_none()
        && r.opts.sapp.is_none()
    {
        let _ = write!(s, " proto {p}");
    }
    s.push_str(&comment);
    s
}

/// `To` and `From` columns of ufw's status table (ufw 0.36.2,
/// `backend_iptables.get_status`). `verbose` shows an application rule's
/// ports with the profile in parentheses (call it per leg, see
/// [`Rule::legs`]); otherwise the profile's name stands for the ports.
#[must_use]
pub fn status_columns(r: &Rule, verbose: bool) -> (String, String) {
    let v6 = r.family == Family::V6;
    let has_app = r.opts.dapp.is_some() || r.opts.sapp.is_some();
    let show_proto = verbose || !has_app;
    let proto = (r.proto != Proto::Any && show_proto).then(|| proto_name(r.proto));
    let both_any_addr = r.src.is_none() && r.dst.is_none();
    let same_ports = r.sport == r.dport;
    let (i_in, i_out) = interfaces(r);
    let mut cols = [String::new(), String::new()];
    for (k, (addr, port, app)) in [
        (&r.dst, &r.dport, &r.opts.dapp),
        (&r.src, &r.sport, &r.opts.sapp),
    ]
    .into_iter()
    .enumerate()
    {
        let loc = &mut cols[k];
        let port: Option<String> = match app {
            Some(a) if !verbose => {
                let mut n = a.name.clone();
                if v6 && addr.is_none() {
                    n.push_str(" (v6)");
                }
                Some(n)
            }
            _ => port.as_ref().map(ToString::to_string),
        };
        if let Some(a) = addr {
            *loc = addr_text(a);
        }
        match port {
            Some(p) => {
                if loc.is_empty() {
                    *loc = p;
                } else {
                    let _ = write!(loc, " {p}");
                }
                if let Some(pr) = &proto {
                    let _ = write!(loc, "/{pr}");
                }
                if verbose && let Some(a) = app {
                    let _ = write!(loc, " ({}", a.name);
                    if v6 && addr.is_none() {
                        loc.push_str(" (v6)");
                    }
                    loc.push(')');
                }
                if v6 && both_any_addr && !loc.contains(" (v6)") {
                    loc.push_str(" (v6)");
                }
            }
            None => {
                if addr.is_none() {
                    *loc = "Anywhere".into();
                    if let Some(pr) = &proto
                        && both_any_addr
                        && same_ports
                    {
                        let _ = write!(loc, "/{pr}");
                    }
                    if v6 {
                        loc.push_str(" (v6)");
                    }
                } else if let Some(pr) = &proto
                    && same_ports
                {
                    let _ = write!(loc, "/{pr}");
                }
            }
        }
        // Route rules: `in on` under From, `out on` under To; other
        // rules: the host's side (To for in, From for out).
        let shown = match (r.opts.forward, k) {
            (true, 0) | (false, 1) => i_out,
            _ => i_in,
        };
        if let Some(i) = shown {
            let _ = write!(loc, " on {i}");
        }
    }
    let [to, from] = cols;
    (to, from)
}

/// One row of ufw's status table. `numbered` adds the `[ N]` prefix and the
/// `out` attribute; `verbose` shows `IN` for incoming rules.
#[must_use]
pub fn status_row(r: &Rule, number: Option<usize>, verbose: bool) -> String {
    let (to, from) = status_columns(r, verbose);
    let mut dir = match r.dir {
        Direction::In | Direction::Fwd => "IN",
        Direction::Out => "OUT",
    };
    if r.opts.forward {
        dir = "FWD";
    } else if r.dir == Direction::In && !verbose && number.is_none() {
        dir = "";
    }
    let action = format!("{} {dir}", action_word(r.action).to_ascii_uppercase());
    let mut attrs: Vec<&str> = Vec::new();
    if r.opts.log != LogType::None {
        attrs.push(r.opts.log.word());
    }
    if number.is_some() && r.dir == Direction::Out {
        attrs.push("out");
    }
    let attrs = if attrs.is_empty() {
        String::new()
    } else {
        format!(" ({})", attrs.join(", "))
    };
    let comment = r
        .opts
        .comment
        .as_ref()
        .map(|c| format!(" # {c}"))
        .unwrap_or_default();
    let mut s = String::new();
    if let Some(n) = number {
        let _ = write!(s, "[{n:2}] ");
    }
    let _ = write!(s, "{to:<26} {action:<12}{from:<26}{attrs}{comment}");
    s
}

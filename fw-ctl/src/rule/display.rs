//! Rules as text: the canonical fw-ctl form (what the state file stores and
//! what parses back to the same rule) and ufw's `status` columns.

use std::fmt::{self, Write as _};

use ipnet::IpNet;

use super::{Action, Direction, Family, PortSet, Proto, Rule, parse::proto_name};

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

/// The canonical fw-ctl text of a rule: every part spelled out so that it
/// parses back to the same rule (the family comes from the addresses or is
/// stored beside the text).
#[must_use]
pub fn canonical(r: &Rule) -> String {
    let mut s = String::from(action_word(r.action));
    s.push_str(match r.dir {
        Direction::In => " in",
        Direction::Out => " out",
    });
    if let Some(i) = &r.iface {
        let _ = write!(s, " on {i}");
    }
    if r.proto != Proto::Any {
        let _ = write!(s, " proto {}", proto_name(r.proto));
    }
    let addr = |a: &Option<IpNet>| a.as_ref().map_or_else(|| "any".to_owned(), addr_text);
    let _ = write!(s, " from {}", addr(&r.src));
    if let Some(p) = &r.sport {
        let _ = write!(s, " port {p}");
    }
    let _ = write!(s, " to {}", addr(&r.dst));
    if let Some(p) = &r.dport {
        let _ = write!(s, " port {p}");
    }
    s
}

/// The rule as the command that adds it, in ufw's `show added` form (ufw
/// 0.36.2 `UFWCommandRule.get_command`): the short form when only ports
/// (and a protocol) are named, else the extended form.
#[must_use]
pub fn command_text(r: &Rule) -> String {
    let any = |a: &Option<IpNet>| a.is_none_or(|n| n.prefix_len() == 0);
    let mut s = String::from(action_word(r.action));
    let proto = (r.proto != Proto::Any).then(|| proto_name(r.proto));
    if any(&r.src)
        && any(&r.dst)
        && r.sport.is_none()
        && r.iface.is_none()
        && let Some(d) = &r.dport
    {
        if r.dir == Direction::Out {
            s.push_str(" out");
        }
        let _ = write!(s, " {d}");
        if let Some(p) = &proto {
            let _ = write!(s, "/{p}");
        }
        return s;
    }
    match (&r.iface, r.dir) {
        (Some(i), Direction::In) => {
            let _ = write!(s, " in on {i}");
        }
        (Some(i), Direction::Out) => {
            let _ = write!(s, " out on {i}");
        }
        (None, Direction::Out) => s.push_str(" out"),
        (None, Direction::In) => {}
    }
    let mut named = false;
    for (word, addr, port) in [("from", &r.src, &r.sport), ("to", &r.dst, &r.dport)] {
        // fw reads `from A port P` without a `to` clause as a destination
        // port (its one grammar difference), so a source port is always
        // followed by a `to` clause: `from A port P to any`.
        let sport_needs_to = word == "to" && r.sport.is_some();
        if !any(addr) || port.is_some() || sport_needs_to {
            let loc = addr
                .as_ref()
                .filter(|n| n.prefix_len() > 0)
                .map_or_else(|| "any".to_owned(), addr_text);
            let _ = write!(s, " {word} {loc}");
            if let Some(p) = port {
                let _ = write!(s, " port {p}");
            }
            named = true;
        }
    }
    if !named && r.iface.is_none() {
        s.push_str(" to any");
    }
    if let Some(p) = proto {
        let _ = write!(s, " proto {p}");
    }
    s
}

/// `To` and `From` columns of ufw's status table (ufw 0.36.2,
/// `backend_iptables.get_status`).
#[must_use]
pub fn status_columns(r: &Rule) -> (String, String) {
    let v6 = r.family == Family::V6;
    let proto = if r.proto == Proto::Any {
        None
    } else {
        Some(proto_name(r.proto))
    };
    let both_any_addr = r.src.is_none() && r.dst.is_none();
    let same_ports = r.sport == r.dport;
    let mut cols = [String::new(), String::new()];
    for (k, (addr, port)) in [(&r.dst, &r.dport), (&r.src, &r.sport)]
        .into_iter()
        .enumerate()
    {
        let loc = &mut cols[k];
        if let Some(a) = addr {
            *loc = addr_text(a);
        }
        match port {
            Some(p) => {
                if loc.is_empty() {
                    *loc = p.to_string();
                } else {
                    let _ = write!(loc, " {p}");
                }
                if let Some(pr) = &proto {
                    let _ = write!(loc, "/{pr}");
                }
                if v6 && both_any_addr {
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
        if let Some(i) = &r.iface {
            let local = match r.dir {
                Direction::In => 0,
                Direction::Out => 1,
            };
            if k == local {
                let _ = write!(loc, " on {i}");
            }
        }
    }
    let [to, from] = cols;
    (to, from)
}

/// One row of ufw's status table. `numbered` adds the `[ N]` prefix and the
/// `(out)` attribute; `verbose` shows `IN` for incoming rules.
#[must_use]
pub fn status_row(r: &Rule, number: Option<usize>, verbose: bool) -> String {
    let (to, from) = status_columns(r);
    let mut dir = match r.dir {
        Direction::In => "IN",
        Direction::Out => "OUT",
    };
    if r.dir == Direction::In && !verbose && number.is_none() {
        dir = "";
    }
    let action = format!("{} {dir}", action_word(r.action).to_ascii_uppercase());
    let attrs = if number.is_some() && r.dir == Direction::Out {
        " (out)"
    } else {
        ""
    };
    let mut s = String::new();
    if let Some(n) = number {
        let _ = write!(s, "[{n:2}] ");
    }
    let _ = write!(s, "{to:<26} {action:<12}{from:<26}{attrs}");
    s
}

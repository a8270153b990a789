//! Ports this network namespace publishes through DNAT (a container
//! engine's `-p 8080:80`, any nat-table DNAT or REDIRECT rule), read from
//! `iptables-save -t nat` and `ip6tables-save -t nat` (Debian's nf_tables
//! backend, which Docker uses) and their `-legacy` variants.
//!
//! ufw never filters such packets (its INPUT chain never sees them: after
//! the NAT they are forwarded); fw sees them before the NAT, addressed to
//! the host, so its incoming rules decide them. The target's answers come
//! back as forwarded packets: in stateful mode they pass with the
//! forwarded flow the data plane opened when the first packet left for the
//! target (fw-ebpf's `conntrack::forwarded_out`); in stateless mode the
//! route rules decide them. [`unallowed`] names every published port that
//! fw's rules would stop, with the commands that allow it.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::{
    rule::{Action, Direction, Family, Proto, Rule},
    state::State,
};

/// One DNAT (or REDIRECT) rule for TCP or UDP ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// IPv4 (`iptables`) or IPv6 (`ip6tables`).
    pub family: Family,
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// The published ports (inclusive).
    pub ports: (u16, u16),
    /// `-i IF`: only packets coming in on it.
    pub iface: Option<String>,
    /// `-d NET`: only packets to it (as published, before the NAT).
    pub dst: Option<IpNet>,
    /// Where it leads: the target address (`None` for REDIRECT, the host).
    pub to_addr: Option<IpAddr>,
    /// The target ports, when the rule names them.
    pub to_ports: Option<(u16, u16)>,
    /// The rule as `iptables-save` prints it.
    pub text: String,
}

fn range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s
        .split_once(':')
        .or_else(|| s.split_once('-'))
        .unwrap_or((s, s));
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some((a, b))
}

/// `ADDR[:PORT[-PORT]]`, IPv6 as `[ADDR]:PORT`.
fn target(s: &str) -> (Option<IpAddr>, Option<(u16, u16)>) {
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once(']').unwrap_or((rest, ""));
        return (a.parse().ok(), p.strip_prefix(':').and_then(range));
    }
    match s.parse::<IpAddr>() {
        Ok(a) => (Some(a), None),
        Err(_) => match s.rsplit_once(':') {
            Some((a, p)) => (a.parse().ok(), range(p)),
            None => (None, None),
        },
    }
}

/// The DNAT and REDIRECT rules of `iptables-save -t nat` output, but those
/// of the OUTPUT chain (the host's own connections).
#[must_use]
pub fn parse_save(text: &str, family: Family) -> Vec<Published> {
    let mut out = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.first() != Some(&"-A") || w.get(1) == Some(&"OUTPUT") {
            continue;
        }
        let after = |k: &str| {
            w.iter()
                .position(|x| *x == k)
                .filter(|&i| i == 0 || w[i - 1] != "!")
                .and_then(|i| w.get(i + 1).copied())
        };
        let Some(jump) = after("-j") else { continue };
        if jump != "DNAT" && jump != "REDIRECT" {
            continue;
        }
        let proto = match after("-p") {
            Some("tcp") => "tcp",
            Some("udp") => "udp",
            _ => continue,
        };
        let ports: Vec<(u16, u16)> = match (after("--dport"), after("--dports")) {
            (Some(p), _) => range(p).into_iter().collect(),
            (None, Some(list)) => list.split(',').filter_map(range).collect(),
            (None, None) => continue,
        };
        let (to_addr, to_ports) = if jump == "DNAT" {
            after("--to-destination").map_or((None, None), target)
        } else {
            (None, after("--to-ports").and_then(range))
        };
        if jump == "DNAT" && to_addr.is_none() {
            continue;
        }
        let dst: Option<IpNet> = after("-d").and_then(|d| {
            d.parse()
                .ok()
                .or_else(|| d.parse::<IpAddr>().ok().map(IpNet::from))
        });
        // Published on loopback only (`-p 127.0.0.1:8080:80`): fw never
        // filters loopback.
        if dst.is_some_and(|d| d.addr().is_loopback()) {
            continue;
        }
        for p in ports {
            out.push(Published {
                family,
                proto,
                ports: p,
                iface: after("-i").map(str::to_owned),
                dst,
                to_addr,
                to_ports,
                text: line.trim().to_owned(),
            });
        }
    }
    out
}

/// True when the legacy (x_tables) `nat` table listed in `names` (the
/// namespace's `/proc/net/ip_tables_names` or `ip6_tables_names`) exists.
fn legacy_nat(names: &str) -> bool {
    std::fs::read_to_string(names).is_ok_and(|t| t.lines().any(|l| l.trim() == "nat"))
}

/// True when `tool` (an `*tables-save`) lists nf_tables (`-V` says
/// `(nf_tables)`); a legacy one (`(legacy)`, or too old to say) lists the
/// kernel's x_tables.
fn lists_nf_tables(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("-V")
        .stderr(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("(nf_tables)"))
}

/// Every published port of this network namespace (the tools that are
/// not installed, or tables that are not there, add nothing). A legacy
/// tool (`*-legacy-save`, or `iptables-save` itself where the system's
/// alternative is legacy) runs only where its `nat` table exists: listing
/// it creates it, and with it NAT and connection tracking hooks the
/// kernel then runs for every packet of the namespace.
#[must_use]
pub fn published() -> Vec<Published> {
    let mut out: Vec<Published> = Vec::new();
    for (tool, family, names) in [
        ("iptables-save", Family::V4, "/proc/net/ip_tables_names"),
        ("ip6tables-save", Family::V6, "/proc/net/ip6_tables_names"),
        (
            "iptables-legacy-save",
            Family::V4,
            "/proc/net/ip_tables_names",
        ),
        (
            "ip6tables-legacy-save",
            Family::V6,
            "/proc/net/ip6_tables_names",
        ),
    ] {
        if !lists_nf_tables(tool) && !legacy_nat(names) {
            continue;
        }
        let Ok(o) = std::process::Command::new(tool)
            .args(["-t", "nat"])
            .stderr(std::process::Stdio::null())
            .output()
        else {
            continue;
        };
        for p in parse_save(&String::from_utf8_lossy(&o.stdout), family) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

impl Published {
    /// `8080/tcp`, `5000:5010/udp`.
    #[must_use]
    pub fn port_text(&self) -> String {
        let (a, b) = self.ports;
        if a == b {
            format!("{a}/{}", self.proto)
        } else {
            format!("{a}:{b}/{}", self.proto)
        }
    }

    fn proto_num(&self) -> u8 {
        if self.proto == "tcp" { 6 } else { 17 }
    }

    /// True when `r` (one leg) lets packets of protocol `proto` with every
    /// port of `sport` and `dport` through (a port set on the rule that
    /// the packet does not give fails).
    fn lets(r: &Rule, proto: u8, sport: Option<(u16, u16)>, dport: Option<(u16, u16)>) -> bool {
        let covers =
            |set: &Option<crate::rule::PortSet>, want: Option<(u16, u16)>| match (set, want) {
                (None, _) => true,
                (Some(s), Some((a, b))) => s.0.iter().any(|x| x.lo <= a && b <= x.hi),
                (Some(_), None) => false,
            };
        matches!(r.action, Action::Allow | Action::Limit)
            && (r.proto == Proto::Any || r.proto == Proto::Num(proto))
            && covers(&r.sport, sport)
            && covers(&r.dport, dport)
    }

    /// True when a rule (or the incoming policy) lets the published port's
    /// packets in.
    #[must_use]
    pub fn allowed_in(&self, st: &State) -> bool {
        st.defaults.incoming == Action::Allow
            || st.rules.iter().flat_map(|r| r.rule.legs()).any(|l| {
                !l.opts.forward
                    && l.dir == Direction::In
                    && l.family == self.family
                    && (l.iface.is_none() || l.iface == self.iface)
                    && l.dst
                        .is_none_or(|n| self.dst.is_some_and(|d| n.contains(&d)))
                    && Self::lets(&l, self.proto_num(), None, Some(self.ports))
            })
    }

    /// True when the target's answers pass: as packets of the forwarded
    /// flow the data plane opened when the first packet left for the
    /// target (stateful mode), by the routed policy or a route rule
    /// (stateless mode), or need not (REDIRECT, a target on the host, or
    /// behind an interface fw does not filter: `unfiltered`).
    #[must_use]
    pub fn answers_pass(&self, st: &State, local: &[IpAddr], unfiltered: bool) -> bool {
        let Some(to) = self.to_addr else {
            return true;
        };
        unfiltered
            || st.tracking.enabled
            || local.contains(&to)
            || st.defaults.routed == Action::Allow
            || st.rules.iter().flat_map(|r| r.rule.legs()).any(|l| {
                l.opts.forward
                    && l.family == self.family
                    && l.src.is_none_or(|n| n.contains(&to))
                    && Self::lets(
                        &l,
                        self.proto_num(),
                        self.to_ports.or(Some(self.ports)),
                        None,
                    )
            })
    }

    /// The commands that allow the published port under fw.
    #[must_use]
    pub fn commands(&self, st: &State, local: &[IpAddr], unfiltered: bool) -> Vec<String> {
        let mut out = Vec::new();
        if !self.allowed_in(st) {
            let on = self
                .iface
                .as_ref()
                .map_or(String::new(), |i| format!("in on {i} "));
            // Its own family only (`to any` would mean both).
            let to = match self.dst {
                Some(d) if d.prefix_len() == d.max_prefix_len() => d.addr().to_string(),
                Some(d) => d.to_string(),
                None if self.family == Family::V4 => "0.0.0.0/0".to_owned(),
                None => "::/0".to_owned(),
            };
            let (a, b) = self.ports;
            let port = if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            };
            out.push(format!(
                "fw-ctl allow {on}proto {} to {to} port {port}",
                self.proto
            ));
        }
        if !self.answers_pass(st, local, unfiltered)
            && let Some(to) = self.to_addr
        {
            let port = match self.to_ports {
                Some((a, b)) if a == b => format!(" port {a}"),
                Some((a, b)) => format!(" port {a}:{b}"),
                None => match self.ports {
                    (a, b) if a == b => format!(" port {a}"),
                    (a, b) => format!(" port {a}:{b}"),
                },
            };
            out.push(format!(
                "fw-ctl route allow proto {} from {to}{port} to any",
                self.proto
            ));
        }
        out
    }
}

/// The interface the kernel routes `to` out of (`ip route get`).
fn route_dev(to: IpAddr) -> Option<String> {
    let o = std::process::Command::new("ip")
        .args(["-o", "route", "get", &to.to_string()])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    let w: Vec<&str> = text.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "dev")?;
    w.get(i + 1).map(|d| (*d).to_owned())
}

/// The published ports fw's rules stop, each with the commands that allow
/// it: one line each, for `enable`, `status verbose` and `show listening`.
#[must_use]
pub fn unallowed(st: &State) -> Vec<String> {
    let local: Vec<IpAddr> = crate::netns::interface_addrs()
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    let mut out = Vec::new();
    for p in published() {
        // The target's interface (the kernel's route to it): with
        // INTERFACES set, one outside the list is not filtered.
        let unfiltered = !st.interfaces.is_empty()
            && p.to_addr
                .and_then(route_dev)
                .is_some_and(|d| !st.interfaces.contains(&d));
        let cmds = p.commands(st, &local, unfiltered);
        if cmds.is_empty() {
            continue;
        }
        let to = match (p.to_addr, p.to_ports) {
            (Some(IpAddr::V6(a)), Some((x, y))) if x == y => format!("[{a}]:{x}"),
            (Some(a), Some((x, y))) if x == y => format!("{a}:{x}"),
            (Some(a), Some((x, y))) => format!("{a}:{x}-{y}"),
            (Some(a), None) => a.to_string(),
            (None, _) => "the host".to_owned(),
        };
        let line = format!(
            "{}{} published by DNAT to {to}: {}",
            p.port_text(),
            if p.family == Family::V6 { " (v6)" } else { "" },
            cmds.join(" && ")
        );
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{
        StoredRule,
        parse::{NoApps, NoServices, parse_rule_with},
    };

    const SAVE: &str = "\
*nat
:PREROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.3:80
-A DOCKER -d 192.0.2.5/32 ! -i docker0 -p tcp -m tcp --dport 8082 -j DNAT --to-destination 172.17.0.4:80
-A PREROUTING -i eth1 -p udp -m udp --dport 5000:5010 -j DNAT --to-destination 203.0.113.2
-A PREROUTING -p tcp -m multiport --dports 80,443 -j REDIRECT --to-ports 8443
-A OUTPUT -p tcp --dport 9999 -j DNAT --to-destination 203.0.113.9:1
COMMIT
";

    #[test]
    fn dnat_rules_of_iptables_save_are_read() {
        let p = parse_save(SAVE, Family::V4);
        assert_eq!(p.len(), 5, "loopback-only 8081 left out: {p:?}");
        assert_eq!(
            (
                p[0].port_text(),
                p[0].iface.clone(),
                p[0].to_ports,
                p[0].dst
            ),
            ("8080/tcp".to_owned(), None, Some((80, 80)), None)
        );
        assert_eq!(p[0].to_addr, Some("172.17.0.2".parse().unwrap()));
        assert_eq!(p[1].dst, Some("192.0.2.5/32".parse().unwrap()));
        assert_eq!(
            (p[2].port_text(), p[2].iface.as_deref()),
            ("5000:5010/udp".to_owned(), Some("eth1"))
        );
        assert_eq!(
            (p[3].port_text(), p[4].port_text()),
            ("80/tcp".into(), "443/tcp".into())
        );
        assert_eq!(p[3].to_addr, None);
        let v6 = parse_save(
            "-A PREROUTING -p tcp --dport 8443 -j DNAT --to-destination [2001:db8::2]:443\n",
            Family::V6,
        );
        assert_eq!(v6[0].to_addr, Some("2001:db8::2".parse().unwrap()));
        assert_eq!(v6[0].to_ports, Some((443, 443)));
    }

    /// Adds the rule of a printed command to `st`.
    fn run(st: &mut State, cmd: &str) {
        let w: Vec<String> = cmd
            .strip_prefix("fw-ctl ")
            .expect(cmd)
            .split(' ')
            .map(str::to_owned)
            .collect();
        let (route, w) = if w[0] == "route" {
            (true, &w[1..])
        } else {
            (false, &w[..])
        };
        assert_eq!(w[0], "allow", "{cmd}");
        let parsed =
            parse_rule_with(Action::Allow, &w[1..], &NoServices, &NoApps, route).expect(cmd);
        for rule in parsed.spec.expand() {
            assert_eq!(rule.family, Family::V4, "{cmd}: its own family only");
            st.rules.push(StoredRule {
                id: st.rules.len() as u32,
                rule,
            });
        }
    }

    #[test]
    fn the_commands_are_what_the_rules_lack_and_satisfy_the_check() {
        let p = parse_save(SAVE, Family::V4);
        let local: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        let mut st = State::default();
        // Stateful (the default): the answers pass with the NAT's flow.
        assert_eq!(
            p[0].commands(&st, &local, false),
            ["fw-ctl allow proto tcp to 0.0.0.0/0 port 8080"]
        );
        assert_eq!(
            p[1].commands(&st, &local, false),
            ["fw-ctl allow proto tcp to 192.0.2.5 port 8082"]
        );
        assert_eq!(
            p[2].commands(&st, &local, false),
            ["fw-ctl allow in on eth1 proto udp to 0.0.0.0/0 port 5000:5010"]
        );
        assert_eq!(
            p[3].commands(&st, &local, false),
            ["fw-ctl allow proto tcp to 0.0.0.0/0 port 80"]
        );
        // Stateless: the route rules decide the target's answers (the
        // published ports when the DNAT names none).
        st.tracking.enabled = false;
        assert_eq!(
            p[0].commands(&st, &local, false)[1],
            "fw-ctl route allow proto tcp from 172.17.0.2 port 80 to any"
        );
        assert_eq!(
            p[2].commands(&st, &local, false)[1],
            "fw-ctl route allow proto udp from 203.0.113.2 port 5000:5010 to any"
        );
        assert_eq!(
            p[0].commands(&st, &local, true).len(),
            1,
            "target unfiltered"
        );
        // Run as printed, the commands leave nothing to print.
        for x in &p {
            for cmd in x.commands(&st, &local, false) {
                run(&mut st, &cmd);
            }
            assert!(x.commands(&st, &local, false).is_empty(), "{x:?}");
        }
    }
}

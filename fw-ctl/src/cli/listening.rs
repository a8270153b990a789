//! `show listening`: the host's listening TCP sockets and bound UDP
//! sockets, each with the incoming rules that may apply to it, as ufw
//! 0.36.2's report (`frontend.get_show_listening`, `util.get_netstat_output`,
//! `UFWRule.fuzzy_dst_match`) prints them, from the same tables:
//! `/proc/net/{tcp,tcp6,udp,udp6}`, the owners' `/proc/PID/fd` and the
//! interfaces' addresses.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use ipnet::IpNet;

use crate::rule::{Direction, Family, Proto, Rule, display::command_text};

/// One socket of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Socket {
    addr: IpAddr,
    inode: u64,
}

/// `/proc/net/PROTO`: listening TCP sockets, every UDP socket, by port in
/// the kernel's order.
fn read_proto(proto: &str) -> Vec<(String, Socket)> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/net/{proto}")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || (proto.starts_with("tcp") && f[3] != "0A") {
            continue;
        }
        let Some((a, p)) = f[1].split_once(':') else {
            continue;
        };
        let (Some(addr), Ok(port), Ok(inode)) =
            (proc_addr(a), u16::from_str_radix(p, 16), f[9].parse())
        else {
            continue;
        };
        out.push((port.to_string(), Socket { addr, inode }));
    }
    out
}

/// An address as `/proc/net` writes it: 32-bit words in host order.
fn proc_addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| {
        u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16)
            .ok()
            .map(u32::from_be)
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?.to_be_bytes()))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?.to_be_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// Socket inode -> the basename of its owner's executable (`-` when no
/// process of ours can be read).
fn owners() -> HashMap<u64, String> {
    use std::os::unix::fs::MetadataExt as _;
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    let mut pids: Vec<u64> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_or_else(
            |_| "-".to_owned(),
            |p| {
                p.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            },
        );
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(m) = std::fs::metadata(fd.path()) {
                out.insert(m.ino(), exe.clone());
            }
        }
    }
    out
}

/// The interfaces' addresses, as ufw finds them: an interface's IPv4
/// address (`SIOCGIFADDR`: its first) and its IPv6 addresses with their
/// prefix lengths (`/proc/net/if_inet6`), in the kernel's order.
#[derive(Debug, Default)]
struct Addrs {
    v4: Vec<(String, Ipv4Addr)>,
    v6: Vec<(String, Ipv6Addr, u8)>,
}

impl Addrs {
    fn read() -> Self {
        let mut a = Self::default();
        for i in crate::netns::interface_addrs() {
            if let IpAddr::V4(v4) = i.1
                && !a.v4.iter().any(|(n, _)| *n == i.0)
            {
                a.v4.push((i.0, v4));
            }
        }
        if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
            for l in text.lines() {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() < 6 {
                    continue;
                }
                let (Ok(bits), Ok(plen)) =
                    (u128::from_str_radix(f[0], 16), u8::from_str_radix(f[2], 16))
                else {
                    continue;
                };
                a.v6.push((f[5].to_owned(), Ipv6Addr::from(bits), plen));
            }
        }
        a
    }

    /// `util.get_if_from_ip`: the interface an address is on.
    fn iface_of(&self, addr: IpAddr) -> Option<&str> {
        match addr {
            IpAddr::V4(a) => self
                .v4
                .iter()
                .find(|(_, x)| *x == a)
                .map(|(n, _)| n.as_str()),
            IpAddr::V6(a) => self
                .v6
                .iter()
                .find(|(_, x, plen)| {
                    *plen != 128
                        && IpNet::new(IpAddr::V6(*x), *plen)
                            .is_ok_and(|n| n.contains(&IpAddr::V6(a)))
                })
                .map(|(n, _, _)| n.as_str()),
        }
    }

    /// `util.get_ip_from_if`: an interface's address (IPv6: its last,
    /// with its prefix length unless /128).
    fn addr_of(&self, iface: &str, v6: bool) -> Option<(IpAddr, u8)> {
        if v6 {
            self.v6
                .iter()
                .rev()
                .find(|(n, _, _)| n == iface)
                .map(|(_, a, p)| (IpAddr::V6(*a), *p))
        } else {
            self.v4
                .iter()
                .find(|(n, _)| n == iface)
                .map(|(_, a)| (IpAddr::V4(*a), 32))
        }
    }
}

/// The listener as ufw's report builds it: an incoming rule for its
/// protocol, port and address (on its address's interface).
struct Probe<'a> {
    proto: Proto,
    port: u16,
    /// `None`: a wildcard address.
    dst: Option<IpAddr>,
    iface: Option<&'a str>,
    family: Family,
}

/// ufw's `fuzzy_dst_match(listener, rule) < 1`.
fn applies(x: &Probe<'_>, y: &Rule, addrs: &Addrs) -> bool {
    if y.dir != Direction::In || y.opts.forward || y.family != x.family {
        return false;
    }
    // Protocol and port: the rule's own, or one of its profile's legs.
    let legs: Vec<(Proto, Option<&crate::rule::PortSet>)> = match &y.opts.dapp {
        Some(app) => app
            .legs
            .iter()
            .map(|(p, ports)| (*p, Some(ports)))
            .collect(),
        None => vec![(y.proto, y.dport.as_ref())],
    };
    let port_ok = legs.iter().any(|(p, ports)| {
        (*p == Proto::Any || *p == x.proto) && ports.is_none_or(|s| s.contains(x.port))
    });
    if !port_ok {
        return false;
    }
    // ufw stores a host address without its mask: such a rule's address
    // must be the very one; a network must hold it.
    let host = |n: &IpNet| n.prefix_len() == n.max_prefix_len();
    match &y.iface {
        None => match (x.dst, &y.dst) {
            // A wildcard listener (on no interface): any address.
            (None, _) | (_, None) => true,
            (Some(a), Some(n)) => {
                if host(n) {
                    n.addr() == a
                } else {
                    n.contains(&a)
                }
            }
        },
        Some(yi) => {
            if x.iface.is_some_and(|xi| xi != yi) {
                return false;
            }
            let Some((ip, plen)) = addrs.addr_of(yi, x.family == Family::V6) else {
                return false;
            };
            match &y.dst {
                None => true,
                Some(n) if host(n) => plen == n.max_prefix_len() && n.addr() == ip,
                Some(n) => n.contains(&ip),
            }
        }
    }
}

/// The report for `rules` (in `status numbered` order).
#[must_use]
pub(super) fn report(rules: &[Rule]) -> String {
    let addrs = Addrs::read();
    let owners = owners();
    let mut out = String::new();
    for proto in ["tcp", "tcp6", "udp", "udp6"] {
        let socks = read_proto(proto);
        if socks.is_empty() {
            continue;
        }
        out.push_str(proto);
        out.push_str(":\n");
        // ufw sorts the ports as text.
        let mut by_port: BTreeMap<String, Vec<Socket>> = BTreeMap::new();
        for (port, s) in socks {
            by_port.entry(port).or_default().push(s);
        }
        for (port, socks) in &by_port {
            for s in socks {
                let loopback = match s.addr {
                    IpAddr::V4(a) => a.is_loopback(),
                    IpAddr::V6(a) => a.to_string().starts_with("::1"),
                };
                if loopback {
                    continue;
                }
                let wildcard = s.addr.is_unspecified();
                let iface = if wildcard {
                    None
                } else {
                    addrs.iface_of(s.addr)
                };
                out.push_str(&format!("  {port} "));
                if wildcard {
                    out.push_str("* ");
                } else {
                    out.push_str(&format!("{} ", s.addr));
                }
                let exe = owners.get(&s.inode).map_or("-", String::as_str);
                out.push_str(&format!("({exe})"));
                let probe = Probe {
                    proto: if proto.starts_with("tcp") {
                        Proto::TCP
                    } else {
                        Proto::UDP
                    },
                    port: port.parse().unwrap_or(0),
                    dst: (!wildcard).then_some(s.addr),
                    iface,
                    family: if proto.ends_with('6') {
                        Family::V6
                    } else {
                        Family::V4
                    },
                };
                let hits: Vec<usize> = rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| applies(&probe, r, &addrs))
                    .map(|(i, _)| i + 1)
                    .collect();
                if !hits.is_empty() {
                    out.push('\n');
                    for i in hits {
                        out.push_str(&format!("   [{i:2}] {}\n", command_text(&rules[i - 1])));
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}

//! Where this instance lives: the network namespace, its name, its default
//! state and pin directories, and its interfaces.
//!
//! fw keeps one instance per network namespace. In the initial namespace the
//! defaults are `/etc/fw` and `/sys/fs/bpf/fw/root`; in a namespace named by
//! `ip netns` (`/run/netns/NAME`) they are `/etc/fw/netns/NAME` and
//! `/sys/fs/bpf/fw/NAME`. Both can be overridden (`--state-dir`,
//! `--pin-dir`, `FW_STATE_DIR`, `FW_PIN_DIR`).

use std::{
    ffi::CStr,
    fs, io,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
    path::PathBuf,
};

/// Errors finding out about the namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// `/proc/self/ns/net` could not be read.
    #[error("cannot identify the network namespace ({path})")]
    Identify {
        /// The path.
        path: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The interface list could not be read.
    #[error("cannot list network interfaces")]
    Interfaces(#[source] io::Error),
}

/// The current network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netns {
    /// Inode of `/proc/self/ns/net`.
    pub inode: u64,
    /// True for the initial namespace (that of PID 1).
    pub initial: bool,
    /// Its `ip netns` name, if it has one.
    pub name: Option<String>,
}

impl Netns {
    /// Identifies the namespace this process runs in.
    ///
    /// # Errors
    /// When `/proc/self/ns/net` cannot be read.
    pub fn current() -> Result<Self, NetnsError> {
        let inode = fs::metadata("/proc/self/ns/net")
            .map_err(|source| NetnsError::Identify {
                path: "/proc/self/ns/net",
                source,
            })?
            .ino();
        let initial = fs::metadata("/proc/1/ns/net").is_ok_and(|m| m.ino() == inode);
        let name = fs::read_dir("/run/netns").ok().and_then(|dir| {
            dir.flatten().find_map(|e| {
                let m = fs::metadata(e.path()).ok()?;
                (m.ino() == inode).then(|| e.file_name().to_string_lossy().into_owned())
            })
        });
        Ok(Self {
            inode,
            initial,
            name,
        })
    }

    /// A short name for directories: `root`, the `ip netns` name, or `ns-INODE`.
    #[must_use]
    pub fn key(&self) -> String {
        if self.initial {
            "root".into()
        } else if let Some(n) = &self.name {
            n.clone()
        } else {
            format!("ns-{}", self.inode)
        }
    }

    /// The default state directory of this namespace's instance.
    #[must_use]
    pub fn default_state_dir(&self) -> PathBuf {
        if self.initial {
            PathBuf::from("/etc/fw")
        } else {
            PathBuf::from("/etc/fw/netns").join(self.key())
        }
    }

    /// The default pin directory of this namespace's instance.
    #[must_use]
    pub fn default_pin_dir(&self) -> PathBuf {
        PathBuf::from("/sys/fs/bpf/fw").join(self.key())
    }
}

/// The kernel's unique, never reused cookie of the current network namespace.
#[must_use]
pub fn cookie() -> u64 {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let Ok(sock) =
        std::net::UdpSocket::bind("127.0.0.1:0").or_else(|_| std::net::UdpSocket::bind("[::1]:0"))
    else {
        return 0;
    };
    let mut v: u64 = 0;
    let mut len = size_of::<u64>() as libc::socklen_t;
    // SAFETY: v and len are valid for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&raw mut v).cast(),
            &raw mut len,
        )
    };
    if rc == 0 { v } else { 0 }
}

/// One network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Index.
    pub index: u32,
    /// Name.
    pub name: String,
}

/// The interfaces of the current network namespace (through the kernel, not
/// `/sys`, which may show another namespace).
///
/// # Errors
/// When the kernel cannot list them.
pub fn interfaces() -> Result<Vec<Iface>, NetnsError> {
    // SAFETY: if_nameindex returns a heap array terminated by a zero entry,
    // freed below with if_freenameindex.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return Err(NetnsError::Interfaces(io::Error::last_os_error()));
        }
        let mut v = Vec::new();
        let mut p = list;
        while (*p).if_index != 0 {
            let name = CStr::from_ptr((*p).if_name).to_string_lossy().into_owned();
            v.push(Iface {
                index: (*p).if_index,
                name,
            });
            p = p.add(1);
        }
        libc::if_freenameindex(list);
        v.sort_by_key(|i| i.index);
        Ok(v)
    }
}

/// True for the loopback interface (never filtered).
#[must_use]
pub fn is_loopback(name: &str) -> bool {
    name == "lo"
}

/// Resolves an interface name, with ufw's trailing `+` wildcard, against a
/// list of interfaces.
#[must_use]
pub fn resolve(name: &str, ifaces: &[Iface]) -> Vec<u32> {
    match name.strip_suffix('+') {
        Some(prefix) => ifaces
            .iter()
            .filter(|i| i.name.starts_with(prefix))
            .map(|i| i.index)
            .collect(),
        None => ifaces
            .iter()
            .filter(|i| i.name == name)
            .map(|i| i.index)
            .collect(),
    }
}

/// Every interface address of this namespace (`getifaddrs`), IPv4 and
/// IPv6, in the kernel's order: (interface name, address). Empty when the
/// kernel cannot be asked.
#[must_use]
pub fn interface_addrs() -> Vec<(String, std::net::IpAddr)> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below.
    if unsafe { libc::getifaddrs(&raw mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a NUL-terminated name of the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr points to a sockaddr of the family it names.
        let addr = unsafe {
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*ifa.ifa_addr.cast::<libc::sockaddr_in6>();
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            }
        };
        out.push((name, addr));
    }
    // SAFETY: the list getifaddrs returned, freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// The interfaces that are ports of another (a bridge's or a bond's, by
/// rtnetlink's `IFLA_MASTER`), by index. fw filters the master, where the
/// host's own traffic through a bridge is received, not its ports (whose
/// bridged traffic is not the host's, as with ufw); the kernel refuses an
/// XDP program on a port whose master has one anyway.
///
/// # Errors
/// When the kernel cannot be asked.
pub fn ports() -> Result<std::collections::HashSet<u32>, NetnsError> {
    const IFLA_MASTER: u16 = 10;
    let mut out = std::collections::HashSet::new();
    dump_links(|index, attrs| {
        for (kind, value) in attrs_of(attrs) {
            if kind == IFLA_MASTER && value.len() >= 4 && u32_of(value) != 0 {
                out.insert(index);
            }
        }
    })?;
    Ok(out)
}

/// An XDP program the kernel has on an interface (rtnetlink's
/// `IFLA_XDP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpProgram {
    /// The program's id.
    pub id: u32,
    /// How it is attached: `driver`, `generic`, `offload` or `multi`.
    pub mode: &'static str,
}

/// The XDP program on interface `index`, if any.
///
/// # Errors
/// When the kernel cannot be asked.
pub fn xdp_program(index: u32) -> Result<Option<XdpProgram>, NetnsError> {
    const IFLA_XDP: u16 = 43;
    const IFLA_XDP_ATTACHED: u16 = 2;
    const IFLA_XDP_PROG_ID: u16 = 4;
    let mut found = None;
    dump_links(|i, attrs| {
        if i != index {
            return;
        }
        for (kind, value) in attrs_of(attrs) {
            if kind != IFLA_XDP {
                continue;
            }
            let (mut mode, mut id) = (0u8, 0u32);
            for (k, v) in attrs_of(value) {
                match k {
                    IFLA_XDP_ATTACHED if !v.is_empty() => mode = v[0],
                    IFLA_XDP_PROG_ID if v.len() >= 4 => id = u32_of(v),
                    _ => {}
                }
            }
            // XDP_ATTACHED_DRV 1, SKB 2, HW 3, MULTI 4.
            let mode = match mode {
                0 => continue,
                1 => "driver",
                2 => "generic",
                3 => "offload",
                _ => "multi",
            };
            found = Some(XdpProgram { id, mode });
        }
    })?;
    Ok(found)
}

fn u32_of(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// The netlink attributes (type without its flag bits, value) in `b`.
fn attrs_of(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off + 4 > b.len() {
            return None;
        }
        let len = u16::from_ne_bytes([b[off], b[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([b[off + 2], b[off + 3]]) & 0x3fff;
        if len < 4 || off + len > b.len() {
            return None;
        }
        let value = &b[off + 4..off + len];
        off += (len + 3) & !3;
        Some((kind, value))
    })
}

/// Dumps every link of this namespace (`RTM_GETLINK`): `each(index,
/// attributes)` per link.
fn dump_links(mut each: impl FnMut(u32, &[u8])) -> Result<(), NetnsError> {
    const RTM_GETLINK: u16 = 18;
    const RTM_NEWLINK: u16 = 16;
    const NLMSG_DONE: u16 = 3;
    const NLMSG_ERROR: u16 = 2;
    let err = |_: ()| NetnsError::Interfaces(io::Error::last_os_error());
    let fd = rtnetlink_socket().map_err(NetnsError::Interfaces)?;
    // nlmsghdr (16 bytes) + ifinfomsg (16 bytes): a dump of every link.
    let mut req = [0u8; 32];
    req[0..4].copy_from_slice(&32u32.to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[16] = libc::AF_UNSPEC as u8;
    // SAFETY: send our buffer.
    if unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) } < 0 {
        return Err(err(()));
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: recv into our buffer.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(err(()));
        }
        let data = &buf[..n as usize];
        let mut off = 0;
        while off + 16 <= data.len() {
            let len = u32_of(&data[off..]) as usize;
            let kind = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
            if len < 16 || off + len > data.len() {
                break;
            }
            match kind {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    return Err(NetnsError::Interfaces(io::Error::other("rtnetlink error")));
                }
                RTM_NEWLINK if len >= 32 => {
                    each(u32_of(&data[off + 20..]), &data[off + 32..off + len]);
                }
                _ => {}
            }
            off += (len + 3) & !3;
        }
    }
}

/// A new rtnetlink socket (`NETLINK_ROUTE`) of this network namespace.
///
/// # Errors
/// When the kernel refuses one.
pub fn rtnetlink_socket() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd as _;
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd of ours.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

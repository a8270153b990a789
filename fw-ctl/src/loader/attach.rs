//! Attaching the pinned programs to interfaces, with pinned links.
//!
//! XDP goes on in native (driver) mode where the driver supports it (veth
//! does), else in generic mode with a warning. TC egress and TC ingress
//! go on through tcx links. Every link is pinned, so the filter stays attached after
//! fw-ctl exits; removing a link's pin (with no other holder) detaches it.

use std::{fs, path::PathBuf};

use aya::programs::{
    CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, LinkOrder, SchedClassifier, TcAttachType,
    Xdp, XdpMode,
    links::{FdLink, PinnedLink},
    tc::TcAttachOptions,
};
use aya_obj::programs::XdpAttachType;
use fw_common::maps::{PROG_CGROUP_EGRESS, PROG_TC_EGRESS, PROG_TC_INGRESS, PROG_XDP};

use super::{LoaderError, Pins, prog_err};

/// How XDP ended up attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpModeUsed {
    /// Native, in the driver.
    Driver,
    /// Generic, after skb allocation (slower; a warning is printed).
    Generic,
}

fn pin_link(link: FdLink, path: PathBuf) -> Result<(), LoaderError> {
    link.pin(&path).map(|_| ()).map_err(|e| LoaderError::Pin {
        path,
        source: Box::new(e),
    })
}

/// True when fw's XDP link for `ifname` is pinned.
#[must_use]
pub fn is_attached(pins: &Pins, ifname: &str) -> bool {
    pins.link("xdp", ifname).exists()
}

/// Attaches the XDP program to `ifname` and pins the link.
///
/// # Errors
/// When neither native nor generic attach works (for example another XDP
/// program owns the interface).
pub fn attach_xdp(pins: &Pins, ifname: &str) -> Result<XdpModeUsed, LoaderError> {
    let mut p =
        Xdp::from_pin(pins.prog(PROG_XDP), XdpAttachType::Interface).map_err(prog_err(PROG_XDP))?;
    let (id, mode) = match p.attach(ifname, XdpMode::Driver) {
        Ok(id) => (id, XdpModeUsed::Driver),
        Err(native) => match p.attach(ifname, XdpMode::Skb) {
            Ok(id) => (id, XdpModeUsed::Generic),
            Err(_) => {
                return Err(match foreign_xdp(ifname) {
                    Some(found) => LoaderError::XdpBusy {
                        iface: ifname.to_owned(),
                        found,
                        source: Box::new(native),
                    },
                    None => prog_err(PROG_XDP)(native),
                });
            }
        },
    };
    let link = p.take_link(id).map_err(prog_err(PROG_XDP))?;
    let fd: FdLink = link.try_into().map_err(|e| LoaderError::Pin {
        path: pins.link("xdp", ifname),
        source: Box::new(e),
    })?;
    pin_link(fd, pins.link("xdp", ifname))?;
    Ok(mode)
}

/// The XDP program another tool has on `ifname`, described for an error
/// (`id 42, name xdp_dispatcher, driver mode`); fw's own are pinned and
/// never attached twice.
fn foreign_xdp(ifname: &str) -> Option<String> {
    let c = std::ffi::CString::new(ifname).ok()?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    let prog = crate::netns::xdp_program(index).ok()??;
    let name = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == prog.id)
        .and_then(|p| p.name_as_str().map(str::to_owned))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unnamed".into());
    Some(format!("id {}, name {name}, {} mode", prog.id, prog.mode))
}

/// The link kinds of a protected interface, in the order they are
/// attached: TC ingress (which answers the rejects XDP marks) before XDP,
/// so that no marked packet ever finds it missing; TC egress last.
pub const LINK_KINDS: [&str; 3] = [TC_INGRESS, "xdp", TC_EGRESS];

/// The link kind of the TC egress program.
pub const TC_EGRESS: &str = "tcx";
/// The link kind of the TC ingress program.
pub const TC_INGRESS: &str = "tci";

/// Attaches a TC program to `ifname` (tcx; `kind` is [`TC_EGRESS`] or
/// [`TC_INGRESS`]) and pins the link.
///
/// # Errors
/// When the tcx attach fails.
pub fn attach_tc(pins: &Pins, ifname: &str, kind: &str) -> Result<(), LoaderError> {
    let (name, at) = if kind == TC_INGRESS {
        (PROG_TC_INGRESS, TcAttachType::Ingress)
    } else {
        (PROG_TC_EGRESS, TcAttachType::Egress)
    };
    let mut p = SchedClassifier::from_pin(pins.prog(name)).map_err(prog_err(name))?;
    let id = p
        .attach_with_options(ifname, at, TcAttachOptions::TcxOrder(LinkOrder::default()))
        .map_err(prog_err(name))?;
    let link = p.take_link(id).map_err(prog_err(name))?;
    let fd: FdLink = link.try_into().map_err(|e| LoaderError::Pin {
        path: pins.link(kind, ifname),
        source: Box::new(e),
    })?;
    pin_link(fd, pins.link(kind, ifname))
}

/// The link pin of the cgroup egress program (one per instance).
pub const CGROUP: &str = "cgroup";

/// The cgroup the cgroup egress program goes on: `FW_CGROUP`, else the
/// root of the cgroup2 hierarchy (every process of the host), found in
/// the mount table; under `ip netns exec` (a fresh `/sys`) the host's,
/// through an ancestor process (`super::pins::through_ancestors`).
#[must_use]
pub fn cgroup_root() -> Option<PathBuf> {
    let wanted = std::env::var_os("FW_CGROUP").map(PathBuf::from);
    super::pins::through_ancestors(|root, pid| {
        let path = match &wanted {
            Some(p) => p.clone(),
            None => cgroup2_mount(pid)?,
        };
        let at = root.join(path.strip_prefix("/").unwrap_or(&path));
        at.is_dir().then_some(at)
    })
}

/// Where process `pid` (`self` or a number) sees cgroup2 mounted.
fn cgroup2_mount(pid: &str) -> Option<PathBuf> {
    let info = fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    info.lines().find_map(|l| {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE SOURCE SUPER
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// True when the cgroup egress program's link is pinned.
#[must_use]
pub fn cgroup_attached(pins: &Pins) -> bool {
    pins.links_dir().join(CGROUP).exists()
}

/// Attaches the cgroup egress program to `cgroup` and pins the link.
///
/// # Errors
/// When the cgroup cannot be opened or the attach fails.
pub fn attach_cgroup(pins: &Pins, cgroup: &std::path::Path) -> Result<(), LoaderError> {
    let name = PROG_CGROUP_EGRESS;
    let mut p = CgroupSkb::from_pin(pins.prog(name), CgroupSkbAttachType::Egress)
        .map_err(prog_err(name))?;
    let dir = fs::File::open(cgroup).map_err(|source| LoaderError::Cgroup {
        path: cgroup.to_path_buf(),
        source,
    })?;
    let id = p
        .attach(&dir, CgroupSkbAttachType::Egress, CgroupAttachMode::Single)
        .map_err(prog_err(name))?;
    let link = p.take_link(id).map_err(prog_err(name))?;
    let path = pins.links_dir().join(CGROUP);
    let fd: FdLink = link.try_into().map_err(|e| LoaderError::Pin {
        path: path.clone(),
        source: Box::new(e),
    })?;
    pin_link(fd, path)
}

/// The interfaces with a pinned XDP link.
#[must_use]
pub fn attached(pins: &Pins) -> Vec<String> {
    let Ok(dir) = fs::read_dir(pins.links_dir()) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("xdp-")
                .map(str::to_owned)
        })
        .collect();
    v.sort();
    v
}

/// Detaches one interface (every hook; XDP first, see [`LINK_KINDS`]).
///
/// # Errors
/// When a pin cannot be removed.
pub fn detach(pins: &Pins, ifname: &str) -> Result<(), LoaderError> {
    for kind in ["xdp", TC_EGRESS, TC_INGRESS] {
        let path = pins.link(kind, ifname);
        if !path.exists() {
            continue;
        }
        match PinnedLink::from_pin(&path) {
            Ok(l) => {
                let fd = l.unpin().map_err(|source| LoaderError::Remove {
                    path: path.clone(),
                    source,
                })?;
                drop(fd);
            }
            Err(_) => {
                fs::remove_file(&path).map_err(|source| LoaderError::Remove {
                    path: path.clone(),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

/// Detaches every interface of the instance.
///
/// # Errors
/// When a pin cannot be removed.
pub fn detach_all(pins: &Pins) -> Result<(), LoaderError> {
    let Ok(dir) = fs::read_dir(pins.links_dir()) else {
        return Ok(());
    };
    for e in dir.flatten() {
        let path = e.path();
        match PinnedLink::from_pin(&path) {
            Ok(l) => drop(l.unpin().map_err(|source| LoaderError::Remove {
                path: path.clone(),
                source,
            })?),
            Err(_) => fs::remove_file(&path).map_err(|source| LoaderError::Remove {
                path: path.clone(),
                source,
            })?,
        }
    }
    Ok(())
}

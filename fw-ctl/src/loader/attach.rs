//! Attaching the pinned programs to interfaces, with pinned links.
//!
//! XDP goes on in native (driver) mode where the driver supports it (veth
//! does), else in generic mode with a warning. TC egress goes on through a
//! tcx link. Both links are pinned, so the filter stays attached after
//! fw-ctl exits; removing a link's pin (with no other holder) detaches it.

use std::{fs, path::PathBuf};

use aya::programs::{
    LinkOrder, SchedClassifier, TcAttachType, Xdp, XdpMode,
    links::{FdLink, PinnedLink},
    tc::TcAttachOptions,
};
use aya_obj::programs::XdpAttachType;
use fw_common::maps::{PROG_TC_EGRESS, PROG_XDP};

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
            Err(_) => return Err(prog_err(PROG_XDP)(native)),
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

/// Attaches the TC egress program to `ifname` (tcx) and pins the link.
///
/// # Errors
/// When the tcx attach fails.
pub fn attach_tc(pins: &Pins, ifname: &str) -> Result<(), LoaderError> {
    let mut p =
        SchedClassifier::from_pin(pins.prog(PROG_TC_EGRESS)).map_err(prog_err(PROG_TC_EGRESS))?;
    let id = p
        .attach_with_options(
            ifname,
            TcAttachType::Egress,
            TcAttachOptions::TcxOrder(LinkOrder::default()),
        )
        .map_err(prog_err(PROG_TC_EGRESS))?;
    let link = p.take_link(id).map_err(prog_err(PROG_TC_EGRESS))?;
    let fd: FdLink = link.try_into().map_err(|e| LoaderError::Pin {
        path: pins.link("tcx", ifname),
        source: Box::new(e),
    })?;
    pin_link(fd, pins.link("tcx", ifname))
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

/// Detaches one interface (both hooks).
///
/// # Errors
/// When a pin cannot be removed.
pub fn detach(pins: &Pins, ifname: &str) -> Result<(), LoaderError> {
    for kind in ["xdp", "tcx"] {
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

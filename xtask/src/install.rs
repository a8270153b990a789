//! `cargo xtask install [--root DIR]`: the release `fw-ctl` to
//! `DIR/usr/local/sbin/fw-ctl`, the boot unit to
//! `DIR/etc/systemd/system/fw.service` and the daemon's unit to
//! `DIR/etc/systemd/system/fw-daemon.service`; with no `--root` (the live
//! system) both units are enabled: the firewall saved in /etc/fw is
//! restored at every boot before the network comes up, and the daemon
//! attaches it to interfaces that appear later (tunnels, VLANs, container
//! bridges) within milliseconds.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, run as sh};

/// The unit file shipped in the repository.
const UNIT: &str = include_str!("../../fw-ctl/systemd/fw.service");

/// The daemon's unit file.
const DAEMON_UNIT: &str = include_str!("../../fw-ctl/systemd/fw-daemon.service");

pub(crate) fn run(args: &[String]) -> Result<()> {
    let root = match args {
        [] => PathBuf::from("/"),
        [flag, dir] if flag == "--root" => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask install [--root DIR]"),
    };
    sh(cargo().args(["build", "--release", "-p", "fw-ctl", "--bin", "fw-ctl"]))?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let bin = Path::new(&target).join("release/fw-ctl");
    let sbin = root.join("usr/local/sbin");
    let units = root.join("etc/systemd/system");
    for d in [&sbin, &units, &root.join("etc/fw")] {
        std::fs::create_dir_all(d).with_context(|| format!("mkdir {}", d.display()))?;
    }
    // Copy to a temporary name and rename, so a running fw-ctl is never
    // overwritten in place.
    let tmp = sbin.join(".fw-ctl.new");
    std::fs::copy(&bin, &tmp).with_context(|| format!("copy {}", bin.display()))?;
    std::fs::rename(&tmp, sbin.join("fw-ctl"))?;
    std::fs::write(units.join("fw.service"), UNIT)?;
    std::fs::write(units.join("fw-daemon.service"), DAEMON_UNIT)?;
    println!(
        "installed {}, {} and {}",
        sbin.join("fw-ctl").display(),
        units.join("fw.service").display(),
        units.join("fw-daemon.service").display()
    );
    if root == Path::new("/") {
        let systemd = Path::new("/run/systemd/system").exists();
        if systemd {
            sh(std::process::Command::new("systemctl").arg("daemon-reload"))?;
            sh(std::process::Command::new("systemctl").args([
                "enable",
                "fw.service",
                "fw-daemon.service",
            ]))?;
            println!(
                "fw.service and fw-daemon.service enabled: the saved firewall is restored at \
                 boot, and interfaces that appear later are filtered by the daemon"
            );
        } else {
            println!(
                "systemd is not running here: enable the units with \
                 `systemctl enable fw.service fw-daemon.service`"
            );
        }
    }
    Ok(())
}

//! Real ufw 0.36.2 in a network namespace of its own, for the parity
//! tests: `ip netns exec NS` bind-mounts `/etc/netns/NS/ufw` over
//! `/etc/ufw` and `/etc/netns/NS/default` over `/etc/default` (ufw writes
//! its default policies to `/etc/default/ufw`), so this ufw has private
//! state and its iptables rules live in the namespace; the host's firewall,
//! `/etc/ufw` and `/etc/default` are never touched.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use crate::netns::{Netns, sh};

/// A ufw instance in a namespace; its private state is removed on drop
/// (the namespace belongs to the caller).
pub struct Ufw {
    ns: String,
    etc: PathBuf,
}

impl Ufw {
    /// A fresh instance in `ns`: a private copy of the packaged `/etc/ufw`
    /// with `ENABLED=no`.
    ///
    /// # Panics
    /// When ufw is not installed (`cargo xtask setup` installs it) or a
    /// command fails.
    #[must_use]
    pub fn new(ns: &Netns) -> Self {
        assert!(
            std::path::Path::new("/usr/sbin/ufw").exists(),
            "ufw is not installed: run `cargo xtask setup`"
        );
        let etc = PathBuf::from(format!("/etc/netns/{}", ns.name));
        std::fs::create_dir_all(&etc).expect("mkdir /etc/netns/NS");
        sh(&["cp", "-a", "/etc/ufw", &format!("{}/ufw", etc.display())]);
        sh(&[
            "cp",
            "-a",
            "/etc/default",
            &format!("{}/default", etc.display()),
        ]);
        let conf = etc.join("ufw/ufw.conf");
        let text = std::fs::read_to_string(&conf).expect("ufw.conf");
        std::fs::write(&conf, text.replace("ENABLED=yes", "ENABLED=no")).expect("write ufw.conf");
        Self {
            ns: ns.name.clone(),
            etc,
        }
    }

    /// This ufw's private `/etc` copy: `ufw/` (ufw.conf, user.rules, ...)
    /// and `default/ufw`.
    #[must_use]
    pub fn etc(&self) -> &std::path::Path {
        &self.etc
    }

    /// Adds an application profile file to this ufw's private
    /// `applications.d`.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn add_profile(&self, file: &str, text: &str) {
        std::fs::write(self.etc.join("ufw/applications.d").join(file), text)
            .expect("write profile");
    }

    /// Runs `ufw ARGS` in the namespace, whatever its exit status.
    ///
    /// # Panics
    /// When ufw cannot be started.
    #[must_use]
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("ufw {args:?}: {e}"))
    }

    /// The command that runs `ufw ARGS` in the namespace.
    #[must_use]
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, "ufw"])
            .args(args)
            .env("LANG", "C.UTF-8");
        c
    }
}

impl Drop for Ufw {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

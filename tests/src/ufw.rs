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

/// fw's one deliberate difference in messages (design decision 7): where
/// ufw's error does not say which word is bad, fw adds it, quoted:
/// `ERROR: Bad port` becomes `ERROR: Bad port '70000'`, `ERROR: Bad
/// interface name: ...` becomes `ERROR: Bad interface name 'ab!c': ...`,
/// `ERROR: Invalid syntax` becomes `ERROR: Invalid syntax near 'drop'`.
/// True when `fw`'s error line is `ufw`'s with ` 'WORD'` (or ` near
/// 'WORD'` at the end) added, WORD being a word of the command.
#[must_use]
pub fn names_token(ufw: &[u8], fw: &[u8], words: &[String]) -> bool {
    let (u, f) = (String::from_utf8_lossy(ufw), String::from_utf8_lossy(fw));
    let (Some(ul), Some(fl)) = (u.lines().next(), f.lines().next()) else {
        return false;
    };
    ul.starts_with("ERROR: ")
        && u.lines().count() == 1
        && f.lines().count() == 1
        && words.iter().any(|w| {
            fl == format!("{ul} near '{w}'")
                || (fl.contains(&format!(" '{w}'")) && fl.replacen(&format!(" '{w}'"), "", 1) == ul)
        })
}

/// Application profiles both sides get (ufw's package ships profiles like
/// `WWW Full`; OpenSSH, Apache and Nginx come with their servers'
/// packages, so the lab installs them, as a host with those servers would
/// have; fw's built-in copies of these are tested in its unit tests and
/// end-to-end tests).
pub const PROFILES: &[(&str, &str)] = &[
    (
        "openssh-server",
        "[OpenSSH]\ntitle=Secure shell server, an rshd replacement\n\
         description=OpenSSH is a free implementation of the Secure Shell protocol.\n\
         ports=22/tcp\n",
    ),
    (
        "apache2-utils.ufw.profile",
        "[Apache]\ntitle=Web Server\ndescription=Apache v2 is the next generation of the \
         omnipresent Apache web server.\nports=80/tcp\n\n\
         [Apache Secure]\ntitle=Web Server (HTTPS)\ndescription=Apache v2 is the next \
         generation of the omnipresent Apache web server.\nports=443/tcp\n\n\
         [Apache Full]\ntitle=Web Server (HTTP,HTTPS)\ndescription=Apache v2 is the next \
         generation of the omnipresent Apache web server.\nports=80,443/tcp\n",
    ),
    (
        "nginx",
        "[Nginx HTTP]\ntitle=Web Server (Nginx, HTTP)\ndescription=Small, but very powerful \
         and efficient web server\nports=80/tcp\n\n\
         [Nginx HTTPS]\ntitle=Web Server (Nginx, HTTPS)\ndescription=Small, but very powerful \
         and efficient web server\nports=443/tcp\n\n\
         [Nginx Full]\ntitle=Web Server (Nginx, HTTP + HTTPS)\ndescription=Small, but very \
         powerful and efficient web server\nports=80,443/tcp\n",
    ),
    (
        "myapp",
        "[MyApp]\ntitle=My test app\ndescription=Test profile with a range, a list and udp\n\
         ports=9000:9001/tcp|80,443/tcp|5000/udp\n",
    ),
];

//! Application profiles: ufw's `applications.d` INI files (`[Name]` with
//! `title=`, `description=`, `ports=80,443/tcp|53`), fw's own profile dir,
//! and built-in profiles for the services vendor documents name
//! (OpenSSH, Apache, Nginx) when no file provides them.
//!
//! Sources are read in order, a later definition of a name replacing an
//! earlier one (ufw: "Duplicate profile, using last found"): built-ins, then
//! `/etc/ufw/applications.d`, then `STATE_DIR/applications.d`. Bad profiles
//! are skipped with ufw's warnings.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

mod configparser;

use crate::rule::{
    App, PortSet, Proto,
    parse::{AppLookup, Services, parse_ports},
};

/// Where ufw keeps its profiles.
pub const UFW_PROFILE_DIR: &str = "/etc/ufw/applications.d";

/// Built-in profiles: (name, title, description, ports).
const BUILTIN: &[(&str, &str, &str, &str)] = &[
    (
        "OpenSSH",
        "Secure shell server, an rshd replacement",
        "OpenSSH is a free implementation of the Secure Shell protocol.",
        "22/tcp",
    ),
    (
        "Apache",
        "Web Server",
        "Apache v2 is the next generation of the omnipresent Apache web server.",
        "80/tcp",
    ),
    (
        "Apache Secure",
        "Web Server (HTTPS)",
        "Apache v2 is the next generation of the omnipresent Apache web server.",
        "443/tcp",
    ),
    (
        "Apache Full",
        "Web Server (HTTP,HTTPS)",
        "Apache v2 is the next generation of the omnipresent Apache web server.",
        "80,443/tcp",
    ),
    (
        "Nginx HTTP",
        "Web Server (Nginx, HTTP)",
        "Small, but very powerful and efficient web server",
        "80/tcp",
    ),
    (
        "Nginx HTTPS",
        "Web Server (Nginx, HTTPS)",
        "Small, but very powerful and efficient web server",
        "443/tcp",
    ),
    (
        "Nginx Full",
        "Web Server (Nginx, HTTP + HTTPS)",
        "Small, but very powerful and efficient web server",
        "80,443/tcp",
    ),
];

/// Where a profile was defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Compiled into fw-ctl.
    Builtin,
    /// A file.
    File(PathBuf),
}

/// One profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Its name (the INI section).
    pub name: String,
    /// `title=`.
    pub title: String,
    /// `description=`.
    pub description: String,
    /// `ports=` as written, split at `|`.
    pub ports: Vec<String>,
    /// The ports, typed.
    pub legs: Vec<(Proto, PortSet)>,
    /// Where it came from.
    pub source: Source,
}

/// The known profiles, by name.
#[derive(Clone, Debug, Default)]
pub struct Profiles {
    by_name: BTreeMap<String, Profile>,
    /// ufw-style warnings about skipped profiles and files.
    pub warnings: Vec<String>,
}

/// ufw's rule for a profile name: not `all`, not a number, first character
/// alphanumeric, then letters, digits, space, `_`, `-`, `.`, `+`.
#[must_use]
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name != "all"
        && name.parse::<i64>().is_err()
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || " _-.+".contains(c))
}

/// Parses a `ports=` value: `SPEC|SPEC...`, each `PORTS[/tcp|/udp]`; a
/// spec without protocol is one port for tcp and udp.
///
/// # Errors
/// `()` when any spec is not valid.
#[allow(clippy::result_unit_err, reason = "the caller words the error")]
pub fn parse_spec(spec: &str) -> Result<Vec<(Proto, PortSet)>, ()> {
    spec.split('|')
        .map(|one| {
            let (ports, proto) = match one.trim().split_once('/') {
                Some((p, "tcp")) => (p, Proto::TCP),
                Some((p, "udp")) => (p, Proto::UDP),
                Some(_) => return Err(()),
                None => (one.trim(), Proto::Any),
            };
            let set = parse_ports(ports)?;
            if proto == Proto::Any && !set.is_single() {
                return Err(());
            }
            Ok((proto, set))
        })
        .collect()
}

impl Profile {
    /// A profile whose `ports=` value is valid, else None.
    fn new(
        name: &str,
        title: &str,
        description: &str,
        ports: &str,
        source: Source,
    ) -> Option<Self> {
        let legs = parse_spec(ports).ok()?;
        Some(Self {
            name: name.to_owned(),
            title: title.to_owned(),
            description: description.to_owned(),
            ports: ports.split('|').map(|s| s.trim().to_owned()).collect(),
            legs,
            source,
        })
    }
}

impl Profiles {
    /// Built-ins, then every directory in `dirs` that exists, in order.
    #[must_use]
    pub fn load(dirs: &[PathBuf], services: &dyn Services) -> Self {
        let mut p = Self::default();
        for (name, title, description, ports) in BUILTIN {
            // A name in /etc/services is a port to ufw, not a profile.
            if services.lookup(name).is_none()
                && let Some(b) = Profile::new(name, title, description, ports, Source::Builtin)
            {
                p.by_name.insert((*name).to_owned(), b);
            }
        }
        for d in dirs {
            p.read_dir(d, services);
        }
        p
    }

    /// The default directories: ufw's, then `STATE_DIR/applications.d`.
    #[must_use]
    pub fn dirs(state_dir: &Path) -> Vec<PathBuf> {
        vec![
            PathBuf::from(UFW_PROFILE_DIR),
            state_dir.join("applications.d"),
        ]
    }

    fn read_dir(&mut self, dir: &Path, services: &dyn Services) {
        /// ufw's cap on one file and on all files read (10 MiB).
        const MAX_SIZE: u64 = 10 * 1024 * 1024;
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut total = 0;
        for f in files {
            let Some(fname) = f.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if fname.starts_with('.')
                || [
                    ".dpkg-new",
                    ".dpkg-old",
                    ".dpkg-dist",
                    ".rpmnew",
                    ".rpmsave",
                    "~",
                ]
                .iter()
                .any(|s| fname.ends_with(s))
            {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&f) else {
                self.warnings
                    .push(format!("WARN: Skipping '{fname}': couldn't stat"));
                continue;
            };
            if meta.len() > MAX_SIZE {
                self.warnings
                    .push(format!("WARN: Skipping '{fname}': too big"));
                continue;
            }
            if total + meta.len() > MAX_SIZE {
                self.warnings.push(format!(
                    "WARN: Skipping '{fname}': too many files read already"
                ));
                continue;
            }
            total += meta.len();
            // configparser's read() passes over a file it cannot open.
            let Ok(bytes) = std::fs::read(&f) else {
                continue;
            };
            let sections = match String::from_utf8(bytes)
                .ok()
                .map(|text| configparser::parse(&text))
            {
                Some(Ok(s)) => s,
                Some(Err(_)) | None => {
                    self.warnings
                        .push(format!("WARN: Skipping '{fname}': couldn't process"));
                    continue;
                }
            };
            for (name, items) in sections {
                self.insert_file(&name, &items, &f, services);
            }
        }
    }

    /// One section of a file, checked in ufw's order (`get_profiles`,
    /// then `verify_profile`).
    fn insert_file(
        &mut self,
        name: &str,
        items: &[(String, String)],
        file: &Path,
        services: &dyn Services,
    ) {
        if name.chars().count() > 64 {
            self.warnings
                .push(format!("WARN: Skipping '{name}': name too long"));
            return;
        }
        if !valid_name(name) {
            self.warnings
                .push(format!("WARN: Skipping '{name}': invalid name"));
            return;
        }
        if services.lookup(name).is_some() {
            self.warnings
                .push(format!("WARN: Skipping '{name}': also in /etc/services"));
            return;
        }
        for (key, value) in items {
            if key.chars().count() > 64 {
                self.warnings
                    .push(format!("WARN: Skipping '{name}': field too long"));
                return;
            }
            if value.chars().count() > 1024 {
                self.warnings.push(format!(
                    "WARN: Skipping '{name}': value too long for '{key}'"
                ));
                return;
            }
        }
        if self
            .by_name
            .get(name)
            .is_some_and(|p| matches!(p.source, Source::File(_)))
        {
            self.warnings.push(format!(
                "WARN: Duplicate profile '{name}', using last found"
            ));
        }
        let get = |k: &str| items.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let mut fields = [""; 3];
        for (slot, field) in fields.iter_mut().zip(["title", "description", "ports"]) {
            match get(field) {
                None => {
                    self.warnings.push(verify_warning(&format!(
                        "Profile '{name}' missing required field '{field}'"
                    )));
                    return;
                }
                Some(v) if v.is_empty() => {
                    self.warnings.push(verify_warning(&format!(
                        "Profile '{name}' has empty required field '{field}'"
                    )));
                    return;
                }
                Some(v) => *slot = v,
            }
        }
        let [title, description, ports] = fields;
        if let Some(p) = Profile::new(name, title, description, ports, Source::File(file.into())) {
            self.by_name.insert(name.to_owned(), p);
        } else {
            self.warnings.push(verify_warning(&format!(
                "Invalid ports in profile '{name}'"
            )));
        }
    }

    /// The profile called `name`: exact, else case-insensitive (as ufw:
    /// `openssh` finds `OpenSSH`).
    #[must_use]
    pub fn find(&self, name: &str) -> Option<&Profile> {
        self.by_name.get(name).or_else(|| {
            self.by_name
                .values()
                .find(|p| p.name.eq_ignore_ascii_case(name))
        })
    }

    /// Every profile, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.by_name.values()
    }
}

impl AppLookup for Profiles {
    fn app(&self, name: &str) -> Option<App> {
        self.find(name).map(|p| App {
            name: p.name.clone(),
            legs: p.legs.clone(),
        })
    }
}

/// A warning of ufw's `verify_profile`, as ufw prints it: `warn(e)` of a
/// `UFWError`, whose `str()` is Python's `repr()` of the message, so
/// `WARN: "Invalid ports in profile 'X'"`.
fn verify_warning(msg: &str) -> String {
    format!("WARN: {}", py_repr(msg))
}

/// Python's `repr()` of a `str`: single quotes, or double quotes when
/// the text has a single quote and no double quote; backslashes, the
/// quote in use and control characters escaped.
fn py_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{PortRange, parse::ServicesDb};

    #[test]
    fn reads_ufw_ini_files_and_overrides_builtins() {
        let dir = std::env::temp_dir().join(format!("fw-apps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("mine"),
            "[MyApp]\ntitle=My test app\ndescription=Test\nports=9000:9001/tcp|80,443/tcp|5000\n\n\
             [OpenSSH]\ntitle=ssh\ndescription=ssh on 2222\nports=2222/tcp\n\n\
             [Broken]\ntitle=x\ndescription=y\n\n[ssh]\ntitle=a\ndescription=b\nports=22/tcp\n",
        )
        .unwrap();
        let services = ServicesDb::parse("ssh 22/tcp\n");
        let p = Profiles::load(std::slice::from_ref(&dir), &services);
        std::fs::remove_dir_all(&dir).unwrap();
        let my = p.find("myapp").expect("case-insensitive lookup");
        assert_eq!(my.name, "MyApp");
        assert_eq!(
            my.legs,
            vec![
                (Proto::TCP, PortSet(vec![PortRange { lo: 9000, hi: 9001 }])),
                (
                    Proto::TCP,
                    PortSet(vec![
                        PortRange { lo: 80, hi: 80 },
                        PortRange { lo: 443, hi: 443 }
                    ])
                ),
                (Proto::Any, PortSet(vec![PortRange { lo: 5000, hi: 5000 }])),
            ]
        );
        assert_eq!(p.find("OpenSSH").unwrap().ports, ["2222/tcp"]);
        assert!(p.find("Apache Full").is_some(), "built-in kept");
        assert!(p.find("Broken").is_none() && p.find("ssh").is_none());
        assert_eq!(
            p.warnings,
            [
                "WARN: \"Profile 'Broken' missing required field 'ports'\"",
                "WARN: Skipping 'ssh': also in /etc/services"
            ]
        );
    }

    #[test]
    fn warnings_quoted_as_python_repr() {
        assert_eq!(py_repr("a 'b'"), "\"a 'b'\"");
        assert_eq!(py_repr("plain"), "'plain'");
        assert_eq!(py_repr("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(py_repr("t\tn\n\\"), "'t\\tn\\n\\\\'");
    }

    #[test]
    fn specs_and_names() {
        assert!(parse_spec("80,443").is_err(), "a list needs a protocol");
        assert!(parse_spec("22/icmp").is_err());
        assert_eq!(parse_spec("53").unwrap().len(), 1);
        assert!(valid_name("WWW Full") && !valid_name("all") && !valid_name("22"));
        assert!(!valid_name("-x") && !valid_name("a'b"));
    }
}

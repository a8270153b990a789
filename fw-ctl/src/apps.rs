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

impl Profiles {
    /// Built-ins, then every directory in `dirs` that exists, in order.
    #[must_use]
    pub fn load(dirs: &[PathBuf], services: &dyn Services) -> Self {
        let mut p = Self::default();
        for (name, title, description, ports) in BUILTIN {
            p.insert(
                name,
                title,
                description,
                ports,
                Source::Builtin,
                services,
                false,
            );
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
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
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
            let Ok(ini) = ini::Ini::load_from_file_noescape(&f) else {
                self.warnings
                    .push(format!("WARN: Skipping '{fname}': couldn't process"));
                continue;
            };
            for (section, props) in &ini {
                let Some(name) = section else { continue };
                let get = |k: &str| {
                    props
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v.trim().to_owned())
                };
                let fields = [get("title"), get("description"), get("ports")];
                if let Some(i) = fields.iter().position(Option::is_none) {
                    let field = ["title", "description", "ports"][i];
                    self.warnings.push(format!(
                        "WARN: Profile '{name}' missing required field '{field}'"
                    ));
                    continue;
                }
                let [Some(t), Some(d), Some(ports)] = fields else {
                    continue;
                };
                self.insert(
                    name,
                    &t,
                    &d,
                    &ports,
                    Source::File(f.clone()),
                    services,
                    true,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one profile's fields")]
    fn insert(
        &mut self,
        name: &str,
        title: &str,
        description: &str,
        ports: &str,
        source: Source,
        services: &dyn Services,
        warn: bool,
    ) {
        let mut skip = |w: String| {
            if warn {
                self.warnings.push(w);
            }
        };
        if name.len() > 64 {
            skip(format!("WARN: Skipping '{name}': name too long"));
            return;
        }
        if !valid_name(name) {
            skip(format!("WARN: Skipping '{name}': invalid name"));
            return;
        }
        if services.lookup(name).is_some() {
            skip(format!("WARN: Skipping '{name}': also in /etc/services"));
            return;
        }
        for (field, v) in [
            ("title", title),
            ("description", description),
            ("ports", ports),
        ] {
            if v.is_empty() {
                skip(format!(
                    "WARN: Profile '{name}' has empty required field '{field}'"
                ));
                return;
            }
        }
        let Ok(legs) = parse_spec(ports) else {
            skip(format!("WARN: Invalid ports in profile '{name}'"));
            return;
        };
        self.by_name.insert(
            name.to_owned(),
            Profile {
                name: name.to_owned(),
                title: title.to_owned(),
                description: description.to_owned(),
                ports: ports.split('|').map(|s| s.trim().to_owned()).collect(),
                legs,
                source,
            },
        );
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
                "WARN: Profile 'Broken' missing required field 'ports'",
                "WARN: Skipping 'ssh': also in /etc/services"
            ]
        );
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

//! The state directory: what the operator configured, on disk.
//!
//! ```text
//! STATE_DIR/fw.conf   ENABLED=yes|no, LOGLEVEL=off|low|medium|high|full,
//!                     DEFAULT_INPUT_POLICY=, DEFAULT_OUTPUT_POLICY=,
//!                     INTERFACES=a,b (empty: every non-loopback interface)
//! STATE_DIR/rules     one rule per line, in `status numbered` order:
//!                     ID FAMILY RULE   (FAMILY v4|v6, RULE in fw-ctl's grammar)
//! STATE_DIR/.lock     flock(2) held by every fw-ctl for its whole run
//! ```
//! Files are written atomically (temporary file, fsync, rename, fsync of the
//! directory). A hand-broken file is reported with its name and line number
//! and nothing is loaded from it.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write as _},
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
};

use fw_common::rules::MAX_RULES;

use crate::rule::{
    Action, Family, StoredRule,
    compile::Defaults,
    display::{action_word, canonical},
    parse::{NoServices, parse_rule},
};

/// Errors reading or writing the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An I/O error on a file.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A line that does not parse.
    #[error("{path} line {line}: {msg}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// No free rule id.
    #[error("too many rules (at most {MAX_RULES})")]
    Full,
}

/// The configuration of one instance.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct State {
    /// Enabled (and to be enabled at boot).
    pub enabled: bool,
    /// The logging level (stored and shown; drop logs come with the daemon).
    pub logging: LogLevel,
    /// Default policies.
    pub defaults: Defaults,
    /// Protected interfaces; empty means every non-loopback interface.
    pub interfaces: Vec<String>,
    /// The numbered rule list: IPv4 rules first, then IPv6 rules.
    pub rules: Vec<StoredRule>,
}

/// ufw's logging levels (`ufw.conf` `LOGLEVEL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// No logging.
    Off,
    /// ufw's default.
    #[default]
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Full.
    Full,
}

impl LogLevel {
    /// Every level, with its word.
    pub const ALL: [(Self, &'static str); 5] = [
        (Self::Off, "off"),
        (Self::Low, "low"),
        (Self::Medium, "medium"),
        (Self::High, "high"),
        (Self::Full, "full"),
    ];

    /// The level's word (`off`, `low`, ...).
    #[must_use]
    pub fn word(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(l, _)| *l == self)
            .map_or("low", |(_, w)| w)
    }

    /// The level named `w`.
    #[must_use]
    pub fn from_word(w: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == w).map(|(l, _)| *l)
    }
}

impl State {
    /// The lowest id not used by any rule.
    ///
    /// # Errors
    /// [`StateError::Full`].
    pub fn free_id(&self) -> Result<u32, StateError> {
        let mut used: Vec<u32> = self.rules.iter().map(|r| r.id).collect();
        used.sort_unstable();
        let mut id = 0;
        for u in used {
            if u == id {
                id += 1;
            } else if u > id {
                break;
            }
        }
        if id >= MAX_RULES {
            Err(StateError::Full)
        } else {
            Ok(id)
        }
    }

    /// Number of IPv4 rules (they come first in the list).
    #[must_use]
    pub fn v4_count(&self) -> usize {
        self.rules
            .iter()
            .filter(|r| r.rule.family == Family::V4)
            .count()
    }
}

/// An open, locked state directory.
pub struct StateDir {
    path: PathBuf,
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StateDir {
    /// Creates the directory if needed and takes its lock (waiting for other
    /// fw-ctl processes to finish).
    ///
    /// # Errors
    /// When the directory or lock file cannot be created.
    pub fn open_locked(path: &Path) -> Result<Self, StateError> {
        fs::create_dir_all(path).map_err(io_err(path))?;
        let lock_path = path.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io_err(&lock_path)(io::Error::last_os_error()));
        }
        Ok(Self {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state (defaults for missing files).
    ///
    /// # Errors
    /// Unreadable or malformed files, naming file and line.
    pub fn load(&self) -> Result<State, StateError> {
        let mut st = State::default();
        let conf = self.path.join("fw.conf");
        match fs::read_to_string(&conf) {
            Ok(text) => parse_conf(&text, &conf, &mut st)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&conf)(e)),
        }
        let rules = self.path.join("rules");
        match fs::read_to_string(&rules) {
            Ok(text) => st.rules = parse_rules(&text, &rules)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&rules)(e)),
        }
        Ok(st)
    }

    /// Writes the state atomically.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn save(&self, st: &State) -> Result<(), StateError> {
        write_atomic(&self.path.join("fw.conf"), &render_conf(st))?;
        write_atomic(&self.path.join("rules"), &render_rules(&st.rules))?;
        Ok(())
    }
}

fn render_conf(st: &State) -> String {
    format!(
        "# fw settings, written by fw-ctl.\n\
         ENABLED={}\n\
         LOGLEVEL={}\n\
         DEFAULT_INPUT_POLICY={}\n\
         DEFAULT_OUTPUT_POLICY={}\n\
         INTERFACES={}\n",
        if st.enabled { "yes" } else { "no" },
        st.logging.word(),
        action_word(st.defaults.incoming),
        action_word(st.defaults.outgoing),
        st.interfaces.join(","),
    )
}

/// The text of the rules file.
#[must_use]
pub fn render_rules(rules: &[StoredRule]) -> String {
    let mut s = String::from(
        "# fw rules, written by fw-ctl, in evaluation order (as `fw-ctl status numbered`).\n\
         # ID FAMILY RULE: ID is the rule's stable counter id, FAMILY v4 or v6,\n\
         # RULE is in fw-ctl's own grammar.\n",
    );
    for r in rules {
        let fam = if r.rule.family == Family::V4 {
            "v4"
        } else {
            "v6"
        };
        s.push_str(&format!("{} {fam} {}\n", r.id, canonical(&r.rule)));
    }
    s
}

fn parse_policy(v: &str) -> Option<Action> {
    match v {
        "allow" => Some(Action::Allow),
        "deny" => Some(Action::Deny),
        "reject" => Some(Action::Reject),
        _ => None,
    }
}

fn parse_conf(text: &str, path: &Path, st: &mut State) -> Result<(), StateError> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let syntax = |msg: String| StateError::Syntax {
            path: path.to_path_buf(),
            line: n + 1,
            msg,
        };
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| syntax(format!("expected KEY=VALUE, found '{line}'")))?;
        match k.trim() {
            "ENABLED" => {
                st.enabled = match v.trim() {
                    "yes" => true,
                    "no" => false,
                    other => {
                        return Err(syntax(format!("ENABLED must be yes or no, not '{other}'")));
                    }
                }
            }
            "LOGLEVEL" => {
                st.logging = LogLevel::from_word(v.trim()).ok_or_else(|| {
                    syntax(format!(
                        "LOGLEVEL must be off, low, medium, high or full, not '{}'",
                        v.trim()
                    ))
                })?;
            }
            "DEFAULT_INPUT_POLICY" => {
                st.defaults.incoming = parse_policy(v.trim())
                    .ok_or_else(|| syntax(format!("bad policy '{}'", v.trim())))?;
            }
            "DEFAULT_OUTPUT_POLICY" => {
                st.defaults.outgoing = parse_policy(v.trim())
                    .ok_or_else(|| syntax(format!("bad policy '{}'", v.trim())))?;
            }
            "INTERFACES" => {
                st.interfaces = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            other => return Err(syntax(format!("unknown setting '{other}'"))),
        }
    }
    Ok(())
}

/// Parses the rules file.
///
/// # Errors
/// [`StateError::Syntax`] naming the line.
pub fn parse_rules(text: &str, path: &Path) -> Result<Vec<StoredRule>, StateError> {
    let mut out: Vec<StoredRule> = Vec::new();
    let mut seen_v6 = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let syntax = |msg: String| StateError::Syntax {
            path: path.to_path_buf(),
            line: n + 1,
            msg,
        };
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        if words.len() < 3 {
            return Err(syntax("expected: ID FAMILY RULE".into()));
        }
        let id: u32 = words[0]
            .parse()
            .map_err(|_| syntax(format!("bad rule id '{}'", words[0])))?;
        if id >= MAX_RULES || out.iter().any(|r| r.id == id) {
            return Err(syntax(format!("rule id '{id}' out of range or used twice")));
        }
        let family = match words[1].as_str() {
            "v4" => Family::V4,
            "v6" => Family::V6,
            other => return Err(syntax(format!("bad family '{other}' (v4 or v6)"))),
        };
        if family == Family::V6 {
            seen_v6 = true;
        } else if seen_v6 {
            return Err(syntax("an IPv4 rule after IPv6 rules".into()));
        }
        let action = match words[2].as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            "reject" => Action::Reject,
            "limit" => Action::Limit,
            other => return Err(syntax(format!("bad action '{other}'"))),
        };
        let parsed =
            parse_rule(action, &words[3..], &NoServices).map_err(|e| syntax(e.to_string()))?;
        if parsed.spec.family.is_some_and(|f| f != family) {
            return Err(syntax(format!(
                "addresses do not fit family '{}'",
                words[1]
            )));
        }
        let mut rule = parsed.spec.rule;
        rule.family = family;
        out.push(StoredRule { id, rule });
    }
    Ok(out)
}

/// Writes `path` atomically: temporary file, fsync, rename, fsync directory.
///
/// # Errors
/// Any I/O error (the old file is then untouched).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(path)(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_with_every_log_level() {
        for (level, _) in LogLevel::ALL {
            let st = State {
                enabled: true,
                logging: level,
                interfaces: vec!["eth0".into(), "eth1".into()],
                ..State::default()
            };
            let mut back = State::default();
            parse_conf(&render_conf(&st), Path::new("fw.conf"), &mut back).unwrap();
            assert_eq!(back, st);
        }
        // ufw's default level when the setting is absent.
        assert_eq!(State::default().logging, LogLevel::Low);
    }

    #[test]
    fn a_bad_setting_names_file_line_and_value() {
        let mut st = State::default();
        let e = parse_conf(
            "ENABLED=yes\nLOGLEVEL=loud\n",
            Path::new("/x/fw.conf"),
            &mut st,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/x/fw.conf") && e.contains('2') && e.contains("loud"),
            "{e}"
        );
    }
}

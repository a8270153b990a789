//! The state directory: what the operator configured, on disk.
//!
//! ```text
//! STATE_DIR/fw.conf   ENABLED=yes|no, LOGLEVEL=off|low|medium|high|full,
//!                     DEFAULT_INPUT_POLICY=, DEFAULT_OUTPUT_POLICY=,
//!                     DEFAULT_FORWARD_POLICY= (allow|deny|reject),
//!                     DEFAULT_APPLICATION_POLICY=allow|deny|reject|skip,
//!                     CONNTRACK=yes|no (stateful mode: flows and ufw's
//!                     built-in rules), CONNTRACK_MAX=flows (1024..=16777216,
//!                     applied when the filter is loaded),
//!                     CONNTRACK_TIMEOUT_<STATE>=seconds (1..=2592000) for
//!                     TCP_SYN_SENT, TCP_ESTABLISHED, TCP_CLOSING,
//!                     TCP_CLOSED, UDP, UDP_REPLIED, ICMP, CUT,
//!                     LIMIT_HITS=1..8 (ufw: 6), LIMIT_WINDOW=seconds (ufw: 30),
//!                     BUILTIN_PING=, BUILTIN_PING6=, BUILTIN_DHCP=,
//!                     BUILTIN_DHCP6= allow|deny|off (switchable built-in
//!                     rules, `fw_common::builtins::Switch`; default allow)
//!                     INTERFACES=a,b (empty: every non-loopback interface)
//! STATE_DIR/rules     one rule per line, in `status numbered` order:
//!                     ID FAMILY [dapp=SPEC] [sapp=SPEC] RULE
//!                     (FAMILY v4|v6; RULE in fw-ctl's grammar, `route ...`
//!                     for route rules, 'quoted' words for comments and
//!                     profile names; SPEC the ports an application rule
//!                     had when added, in profile syntax: 80,443/tcp|53);
//!                     first line `# fw rules, written by fw-ctl ...`, last
//!                     line `# end of rules: N`, so a cut file is an error
//! STATE_DIR/applications.d  fw's own application profiles (ufw's INI format)
//! STATE_DIR/last-apply  DURATION_SECONDS=, AT= (Unix time) of the last apply
//!                     to the kernel (written by fw-ctl, read by the daemon)
//! STATE_DIR/.lock     flock(2) held by every fw-ctl for its whole run
//! ```
//! Files are written atomically (temporary file, fsync, rename, fsync of the
//! directory). A hand-broken file is reported with its name and line number
//! and nothing is loaded from it; so is a missing or cut-short `rules` or
//! `fw.conf` while the other is there (only a state dir with neither is
//! read as the installed defaults).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write as _},
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use fw_common::{
    builtins::{Setting, Switch},
    conntrack::{CT_DEFAULT_ENTRIES, CT_STATES, DEFAULT_TIMEOUTS},
    limit::{DEFAULT_HITS, DEFAULT_WINDOW_S, LIMIT_SLOTS},
    rules::MAX_RULES,
};

use crate::rule::{
    Action, Family, StoredRule,
    compile::Defaults,
    display::{action_word, canonical},
    parse::{AppLookup, NoServices, parse_rule_with},
};
use crate::{
    apps::parse_spec,
    rule::{App, PortSet, Proto},
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
    /// A state file that is missing or cut short while its partner is
    /// there: never read as "no rules" or "defaults".
    #[error("{path}: {msg}; restore it, or 'fw-ctl disable' (which always works) and start again")]
    Broken {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// No free rule id.
    #[error("too many rules (at most {MAX_RULES})")]
    Full,
}

/// What identifies the state files' contents: the directory, then device,
/// inode, size and modification time of `fw.conf` and `rules`.
type Stamp = (PathBuf, [(u64, u64, u64, i64, i64); 2]);

/// A state kept by [`StateDir::load_cached`].
#[derive(Debug, Default)]
pub struct Cached(Option<(Stamp, Arc<State>)>);

impl Cached {
    /// Nothing kept yet.
    #[must_use]
    pub const fn new() -> Self {
        Self(None)
    }
}

/// The configuration of one instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Enabled (and to be enabled at boot).
    pub enabled: bool,
    /// The logging level (what the data plane logs, see `fw_common::log`).
    pub logging: LogLevel,
    /// Default policies.
    pub defaults: Defaults,
    /// Policy for new application profiles (`app default`); `None` = skip.
    pub app_policy: Option<Action>,
    /// Connection tracking settings.
    pub tracking: Tracking,
    /// The switchable built-in rules, indexed by
    /// `fw_common::builtins::Switch`.
    pub builtins: [Setting; 4],
    /// Protected interfaces; empty means every non-loopback interface.
    pub interfaces: Vec<String>,
    /// The numbered rule list: IPv4 rules first, then IPv6 rules.
    pub rules: Vec<StoredRule>,
}

/// Connection tracking settings (`fw.conf`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracking {
    /// Stateful mode (flows and ufw's built-in rules).
    pub enabled: bool,
    /// Capacity of the flow table.
    pub max: u32,
    /// Idle timeouts in seconds per `fw_common::conntrack::CtState`.
    pub timeouts: [u32; CT_STATES],
    /// `limit`: refused at this many new connections per source ...
    pub limit_hits: u32,
    /// ... within this many seconds.
    pub limit_window: u32,
}

impl Default for Tracking {
    fn default() -> Self {
        Self {
            enabled: true,
            max: CT_DEFAULT_ENTRIES,
            timeouts: DEFAULT_TIMEOUTS,
            limit_hits: DEFAULT_HITS,
            limit_window: DEFAULT_WINDOW_S,
        }
    }
}

/// The `fw.conf` names of the timeouts, in `CtState` order.
pub const TIMEOUT_KEYS: [&str; CT_STATES] = [
    "TCP_SYN_SENT",
    "TCP_ESTABLISHED",
    "TCP_CLOSING",
    "TCP_CLOSED",
    "UDP",
    "UDP_REPLIED",
    "ICMP",
    "CUT",
];

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
    /// The data plane's number for the level (`fw_common::log::LOG_*`).
    #[must_use]
    pub fn kernel(self) -> u32 {
        use fw_common::log::{LOG_FULL, LOG_HIGH, LOG_LOW, LOG_MEDIUM, LOG_OFF};
        match self {
            Self::Off => LOG_OFF,
            Self::Low => LOG_LOW,
            Self::Medium => LOG_MEDIUM,
            Self::High => LOG_HIGH,
            Self::Full => LOG_FULL,
        }
    }

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

    /// The setting of built-in rule switch `s`.
    #[must_use]
    pub fn builtin(&self, s: Switch) -> Setting {
        self.builtins[s as usize]
    }

    /// The switch settings as the kernel's word (`Config::builtins`).
    #[must_use]
    pub fn builtins_word(&self) -> u32 {
        Switch::ALL
            .into_iter()
            .fold(0, |w, s| s.set(w, self.builtin(s)))
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

/// File of the last apply's duration (see [`StateDir::record_apply`]).
const LAST_APPLY: &str = "last-apply";

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
        let rules = self.path.join("rules");
        let read = |p: &Path| match fs::read_to_string(p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(p)(e)),
        };
        let broken = |path: &Path, msg: &str| StateError::Broken {
            path: path.to_path_buf(),
            msg: msg.to_owned(),
        };
        match (read(&conf)?, read(&rules)?) {
            // A state dir never written: the installed defaults.
            (None, None) => {}
            (None, Some(_)) => return Err(broken(&conf, "missing (the rules file is there)")),
            (Some(_), None) => return Err(broken(&rules, "missing (fw.conf is there)")),
            (Some(c), Some(r)) => {
                if !c.lines().any(|l| l.trim_start().starts_with("ENABLED=")) {
                    return Err(broken(&conf, "empty or cut short (no ENABLED= line)"));
                }
                parse_conf(&c, &conf, &mut st)?;
                st.rules = parse_rules(&r, &rules)?;
            }
        }
        Ok(st)
    }

    /// True when neither `fw.conf` nor `rules` exists (a state dir never
    /// written, or one deleted under a live filter).
    #[must_use]
    pub fn is_fresh(&self) -> bool {
        !self.path.join("fw.conf").exists() && !self.path.join("rules").exists()
    }

    /// Writes `ENABLED=no` into `fw.conf` without reading it as settings
    /// (`disable` with broken state files): the line is replaced, or
    /// added; every other line stays as it is.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn force_disabled(&self) -> Result<(), StateError> {
        let conf = self.path.join("fw.conf");
        let text = fs::read_to_string(&conf).unwrap_or_default();
        let mut out: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("ENABLED="))
            .map(|l| format!("{l}\n"))
            .collect();
        out.insert_str(0, "ENABLED=no\n");
        write_atomic(&conf, &out)
    }

    /// Reads the state, or returns the copy in `cache` while the files are
    /// the ones it was read from (same inode, size and modification time:
    /// fw-ctl replaces them by rename on every write). For a reader that
    /// comes back often, as the daemon on every scrape.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_cached(&self, cache: &mut Cached) -> Result<Arc<State>, StateError> {
        let stamp = self.stamp();
        if let Some((s, st)) = &cache.0
            && *s == stamp
        {
            return Ok(Arc::clone(st));
        }
        let st = Arc::new(self.load()?);
        cache.0 = Some((stamp, Arc::clone(&st)));
        Ok(st)
    }

    fn stamp(&self) -> Stamp {
        use std::os::unix::fs::MetadataExt as _;
        let of = |name: &str| {
            fs::metadata(self.path.join(name)).map_or((0, 0, 0, 0, 0), |m| {
                (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec())
            })
        };
        (self.path.clone(), [of("fw.conf"), of("rules")])
    }

    /// Records the last apply to the kernel (`last-apply`: its duration
    /// and when it happened), for the metrics.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn record_apply(&self, took: std::time::Duration) -> Result<(), StateError> {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        write_atomic(
            &self.path.join(LAST_APPLY),
            &format!(
                "DURATION_SECONDS={:.6}\nAT={:.3}\n",
                took.as_secs_f64(),
                at.as_secs_f64()
            ),
        )
    }

    /// The last apply's duration and Unix time, if one was recorded.
    #[must_use]
    pub fn last_apply(&self) -> Option<(f64, f64)> {
        let text = std::fs::read_to_string(self.path.join(LAST_APPLY)).ok()?;
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        Some((field("DURATION_SECONDS")?, field("AT")?))
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
         DEFAULT_FORWARD_POLICY={}\n\
         DEFAULT_APPLICATION_POLICY={}\n\
         INTERFACES={}\n\
         CONNTRACK={}\n\
         CONNTRACK_MAX={}\n{}\
         LIMIT_HITS={}\n\
         LIMIT_WINDOW={}\n{}",
        if st.enabled { "yes" } else { "no" },
        st.logging.word(),
        action_word(st.defaults.incoming),
        action_word(st.defaults.outgoing),
        action_word(st.defaults.routed),
        st.app_policy.map_or("skip", action_word),
        st.interfaces.join(","),
        if st.tracking.enabled { "yes" } else { "no" },
        st.tracking.max,
        TIMEOUT_KEYS
            .iter()
            .zip(st.tracking.timeouts)
            .map(|(k, v)| format!("CONNTRACK_TIMEOUT_{k}={v}\n"))
            .collect::<String>(),
        st.tracking.limit_hits,
        st.tracking.limit_window,
        Switch::ALL
            .into_iter()
            .map(|s| format!(
                "BUILTIN_{}={}\n",
                s.name().to_ascii_uppercase(),
                st.builtin(s).word()
            ))
            .collect::<String>(),
    )
}

/// The text of the rules file.
#[must_use]
pub fn render_rules(rules: &[StoredRule]) -> String {
    let mut s = String::from(
        "# fw rules, written by fw-ctl, in evaluation order (as `fw-ctl status numbered`).\n\
         # ID FAMILY [dapp=SPEC] [sapp=SPEC] RULE: ID is the rule's stable counter\n\
         # id, FAMILY v4 or v6, SPEC an application rule's ports, RULE is in\n\
         # fw-ctl's own grammar.\n",
    );
    for r in rules {
        let fam = if r.rule.family == Family::V4 {
            "v4"
        } else {
            "v6"
        };
        s.push_str(&format!("{} {fam} ", r.id));
        for (key, app) in [("dapp", &r.rule.opts.dapp), ("sapp", &r.rule.opts.sapp)] {
            if let Some(a) = app {
                s.push_str(&format!("{key}={} ", a.spec()));
            }
        }
        s.push_str(&canonical(&r.rule));
        s.push('\n');
    }
    s.push_str(&format!("{RULES_END}{}\n", rules.len()));
    s
}

/// The rules file's first line.
const RULES_HEAD: &str = "# fw rules, written by fw-ctl";
/// The rules file's last line, followed by the number of rules: a file
/// cut anywhere is detected.
const RULES_END: &str = "# end of rules: ";

fn parse_policy(v: &str) -> Option<Action> {
    match v {
        "allow" => Some(Action::Allow),
        "deny" => Some(Action::Deny),
        "reject" => Some(Action::Reject),
        _ => None,
    }
}

/// The number `v` of setting `k`, from `lo` to `hi`.
fn number(k: &str, v: &str, lo: u32, hi: u32) -> Result<u32, String> {
    v.trim()
        .parse()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("{k} must be a number from {lo} to {hi}, not '{}'", v.trim()))
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
            "DEFAULT_FORWARD_POLICY" => {
                st.defaults.routed = parse_policy(v.trim())
                    .ok_or_else(|| syntax(format!("bad policy '{}'", v.trim())))?;
            }
            "DEFAULT_APPLICATION_POLICY" => {
                st.app_policy = match v.trim() {
                    "skip" => None,
                    w => Some(parse_policy(w).ok_or_else(|| syntax(format!("bad policy '{w}'")))?),
                };
            }
            "INTERFACES" => {
                st.interfaces = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "CONNTRACK" => {
                st.tracking.enabled = match v.trim() {
                    "yes" => true,
                    "no" => false,
                    other => {
                        return Err(syntax(format!(
                            "CONNTRACK must be yes or no, not '{other}'"
                        )));
                    }
                }
            }
            "CONNTRACK_MAX" => st.tracking.max = number(k, v, 1024, 16_777_216).map_err(syntax)?,
            k if k.starts_with("CONNTRACK_TIMEOUT_")
                && TIMEOUT_KEYS.contains(&&k["CONNTRACK_TIMEOUT_".len()..]) =>
            {
                let i = TIMEOUT_KEYS
                    .iter()
                    .position(|t| *t == &k["CONNTRACK_TIMEOUT_".len()..])
                    .unwrap_or(0);
                st.tracking.timeouts[i] = number(k, v, 1, 2_592_000).map_err(syntax)?;
            }
            "LIMIT_HITS" => {
                st.tracking.limit_hits = number(k, v, 1, LIMIT_SLOTS as u32).map_err(syntax)?;
            }
            "LIMIT_WINDOW" => st.tracking.limit_window = number(k, v, 1, 86_400).map_err(syntax)?,
            k if k.strip_prefix("BUILTIN_").is_some_and(|n| {
                Switch::from_name(&n.to_ascii_lowercase()).is_some()
                    && n.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }) =>
            {
                let s = Switch::from_name(&k["BUILTIN_".len()..].to_ascii_lowercase())
                    .unwrap_or(Switch::Ping);
                st.builtins[s as usize] = Setting::from_word(v.trim()).ok_or_else(|| {
                    syntax(format!(
                        "{k} must be allow, deny or off, not '{}'",
                        v.trim()
                    ))
                })?;
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
    let broken = |msg: &str| StateError::Broken {
        path: path.to_path_buf(),
        msg: msg.to_owned(),
    };
    if !text.starts_with(RULES_HEAD) {
        return Err(broken(
            "not a rules file written by fw-ctl (no header line)",
        ));
    }
    let Some(count) = text
        .trim_end()
        .lines()
        .last()
        .and_then(|l| l.strip_prefix(RULES_END))
        .and_then(|n| n.trim().parse::<usize>().ok())
    else {
        return Err(broken("cut short (no end line)"));
    };
    let rules = parse_rule_lines(text, path)?;
    if rules.len() != count {
        return Err(broken(&format!(
            "holds {} rules, its end line says {count}",
            rules.len()
        )));
    }
    Ok(rules)
}

/// The rule lines of a rules file (header and end line checked by
/// [`parse_rules`]).
fn parse_rule_lines(text: &str, path: &Path) -> Result<Vec<StoredRule>, StateError> {
    let mut out: Vec<StoredRule> = Vec::new();
    let mut ids = std::collections::HashSet::new();
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
        let mut words = split_words(line).map_err(syntax)?;
        // Application ports stored beside the rule.
        let mut specs: [Option<Vec<(Proto, PortSet)>>; 2] = [None, None];
        while words.len() > 2 {
            let k = match &words[2] {
                w if w.starts_with("dapp=") => 0,
                w if w.starts_with("sapp=") => 1,
                _ => break,
            };
            let w = words.remove(2);
            specs[k] = Some(
                parse_spec(&w[5..]).map_err(|()| syntax(format!("bad application ports '{w}'")))?,
            );
        }
        let forward = words.get(2).map(String::as_str) == Some("route");
        if forward {
            words.remove(2);
        }
        if words.len() < 3 {
            return Err(syntax("expected: ID FAMILY RULE".into()));
        }
        let id: u32 = words[0]
            .parse()
            .map_err(|_| syntax(format!("bad rule id '{}'", words[0])))?;
        if id >= MAX_RULES || !ids.insert(id) {
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
        let parsed = parse_rule_with(action, &words[3..], &NoServices, &AnyApp, forward)
            .map_err(|e| syntax(e.to_string()))?;
        if parsed.spec.family.is_some_and(|f| f != family) {
            return Err(syntax(format!(
                "addresses do not fit family '{}'",
                words[1]
            )));
        }
        let mut rule = parsed.spec.rule;
        rule.family = family;
        for (k, app) in [&mut rule.opts.dapp, &mut rule.opts.sapp]
            .into_iter()
            .enumerate()
        {
            match (app, specs[k].take()) {
                (Some(a), Some(legs)) => a.legs = legs,
                (None, None) => {}
                _ => return Err(syntax("application name and ports do not pair up".into())),
            }
        }
        out.push(StoredRule { id, rule });
    }
    Ok(out)
}

/// Any profile name: the state file carries the ports beside the rule.
struct AnyApp;

impl AppLookup for AnyApp {
    fn app(&self, name: &str) -> Option<App> {
        Some(App {
            name: name.to_owned(),
            legs: Vec::new(),
        })
    }
}

/// Splits a line into words at whitespace; `'...'` is one word (no
/// escapes: ufw comments and profile names cannot contain `'`).
///
/// # Errors
/// An unterminated quote.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let mut w = cur.take().unwrap_or_default();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => w.push(ch),
                        None => return Err("unterminated quote".into()),
                    }
                }
                cur = Some(w);
            }
            c if c.is_whitespace() => out.extend(cur.take()),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
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
    fn tracking_settings_round_trip_and_bad_values_name_their_line() {
        let mut st = State::default();
        st.tracking.enabled = false;
        st.tracking.max = 4096;
        st.tracking.timeouts[1] = 14_400;
        st.defaults.routed = Action::Allow;
        st.app_policy = Some(Action::Deny);
        st.builtins[Switch::Ping as usize] = Setting::Deny;
        st.builtins[Switch::Dhcp6 as usize] = Setting::Off;
        let text = render_conf(&st);
        assert!(
            text.contains("CONNTRACK_TIMEOUT_TCP_ESTABLISHED=14400\n")
                && text.contains("BUILTIN_PING=deny\nBUILTIN_PING6=allow\n")
                && text.contains("BUILTIN_DHCP6=off\n"),
            "{text}"
        );
        assert_eq!(st.builtins_word(), 2 | (1 << 6));
        let mut back = State::default();
        parse_conf(&text, Path::new("fw.conf"), &mut back).unwrap();
        assert_eq!(back, st);
        for (bad, token) in [
            ("CONNTRACK=maybe", "maybe"),
            ("CONNTRACK_MAX=12", "12"),
            ("CONNTRACK_TIMEOUT_UDP=0", "0"),
            ("CONNTRACK_TIMEOUT_SCTP=5", "CONNTRACK_TIMEOUT_SCTP"),
            ("BUILTIN_PING=drop", "drop"),
            ("BUILTIN_SSH=off", "BUILTIN_SSH"),
            ("BUILTIN_ping=off", "BUILTIN_ping"),
        ] {
            let e = parse_conf(
                &format!("ENABLED=no\n{bad}\n"),
                Path::new("/x/fw.conf"),
                &mut back,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("line 2") && e.contains(token), "{bad}: {e}");
        }
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

//! The command line: clap for the command words, the rule grammar for the
//! rest. Every mutating command is one transaction ([`crate::apply`]: lock
//! the state dir, load, change in memory, compile (all validation happens
//! here), build the new rule set in the inactive slot, save the state
//! atomically, switch). Any error before the switch leaves files and maps
//! exactly as they were; `status` checks the kernel against the files.

use std::{
    io::{self, BufRead as _, Write as _},
    path::PathBuf,
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use fw_common::{Direction, Family, Reason, Verdict};

use crate::{
    apps::Profiles,
    loader::{self, Dataplane, Pins},
    netns::{self, Netns},
    rule::{
        Action, Rule, StoredRule,
        compile::compile,
        display::{action_word, canonical, command_text, status_row},
        edit,
        parse::{AppLookup, Edit, ParseError, ServicesDb, parse_command_rule},
    },
    state::{LogLevel, State, StateDir, render_rules},
};

mod app;
mod builtin;
mod explain;
mod import;
mod listening;
mod report;
mod top;
pub mod usage;
pub mod words;

/// A user error: printed as `ERROR: ...`, exit status 1, nothing changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Words that do not form a command: ufw's `ERROR: Invalid syntax` (with
/// the word fw could not place, when there is one) and the usage text on
/// stdout; exit status 1, nothing changed.
#[derive(Debug, thiserror::Error)]
pub struct SyntaxError(pub Option<String>);

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(w) => write!(f, "Invalid syntax near '{w}'"),
            None => f.write_str("Invalid syntax"),
        }
    }
}

/// A grammar error as the error the user sees.
fn parse_error(e: ParseError) -> anyhow::Error {
    match e {
        ParseError::InvalidSyntax | ParseError::CommentQuote => SyntaxError(None).into(),
        ParseError::Unexpected(w) | ParseError::MissingValue(w) => SyntaxError(Some(w)).into(),
        e => UserError(e.to_string()).into(),
    }
}

/// `Err(SyntaxError)` naming `word`.
fn syntax<T>(word: Option<&str>) -> Result<T> {
    Err(SyntaxError(word.map(str::to_owned)).into())
}

/// fw-ctl: a host firewall with ufw's commands and an XDP/TC data plane.
#[derive(Parser, Debug)]
#[command(name = "fw-ctl", version, about, long_about = None, disable_help_subcommand = true)]
pub struct Cli {
    /// State directory (rules and settings). Default: /etc/fw, or
    /// /etc/fw/netns/NAME inside a named network namespace.
    #[arg(long, global = true, env = "FW_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// bpffs directory for pins. Default: /sys/fs/bpf/fw/root, or
    /// /sys/fs/bpf/fw/NAME inside a named network namespace.
    #[arg(long, global = true, env = "FW_PIN_DIR")]
    pub pin_dir: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long, global = true)]
    pub force: bool,
    /// Print what would change (the would-be rules file) and change
    /// nothing: not the state files, not the kernel.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// The command.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Load the filter and attach it (XDP ingress, TC egress and ingress,
    /// cgroup egress for the host's own sends); names the ports published
    /// by DNAT that the rules stop.
    Enable {
        /// Protect only these interfaces (repeatable). Default: every
        /// non-loopback interface of the network namespace, also those that
        /// appear later (bridge and bond ports are covered by their master).
        #[arg(long = "interface", short = 'i')]
        interfaces: Vec<String>,
    },
    /// Detach and unload the filter.
    Disable,
    /// Apply the saved state to the kernel again (when enabled).
    Reload,
    /// Disable the firewall, back up the rules file with a timestamp and
    /// start with no rules (default policies and logging level stay).
    Reset,
    /// Set a default policy: `default allow|deny|reject [incoming|outgoing|routed]`.
    Default {
        /// allow, deny or reject.
        policy: Option<String>,
        /// incoming (default), outgoing or routed.
        direction: Option<String>,
    },
    /// Add an allow rule (ufw grammar).
    Allow {
        /// The rule.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Add a deny rule (ufw grammar).
    Deny {
        /// The rule.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Add a reject rule (ufw grammar): matching packets are dropped and
    /// answered (TCP RST, ICMP/ICMPv6 port unreachable).
    Reject {
        /// The rule.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Add a limit rule (ufw grammar): a source's 6th new connection
    /// within 30 seconds (fw.conf LIMIT_HITS, LIMIT_WINDOW) is dropped and
    /// answered as reject.
    Limit {
        /// The rule.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Insert a rule at a position: `insert N ACTION RULE`.
    Insert {
        /// Position (1-based, as in `status numbered`) followed by the rule.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Insert a rule first in its family's part of the list (`prepend deny from ADDR`).
    Prepend {
        /// The action followed by the rule.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Delete a rule by number (`delete N`) or by its text (`delete allow 22/tcp`).
    Delete {
        /// Number, or action and rule.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Set the logging level: `logging on|off|low|medium|high|full` (what
    /// the data plane logs; the daemon writes the lines).
    Logging {
        /// on, off, low, medium, high or full.
        level: Option<String>,
    },
    /// Switch a built-in rule: `builtin ping|ping6|dhcp|dhcp6
    /// allow|deny|off` (ufw users' before.rules edits: deny drops the
    /// host's echo requests or DHCP answers before the rules, off leaves
    /// them to the rules and the default policy); without arguments, the
    /// settings.
    Builtin {
        /// The built-in rule and its setting.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// A rule for forwarded traffic: `route [delete] [insert N|prepend]
    /// ACTION [in on IF] [out on IF] ...` (forwarded packets, decided by
    /// route rules, then `default ... routed`).
    Route {
        /// The rule.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Application profiles: `app list`, `app info NAME|all`,
    /// `app update [--add-new] NAME|all`, `app default allow|deny|reject|skip`.
    App {
        /// The subcommand and its argument.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Carry a ufw configuration over: `import-ufw [DIR]` reads
    /// DIR/user.rules, DIR/user6.rules, DIR/ufw.conf (DIR default /etc/ufw)
    /// and /etc/default/ufw (`--defaults FILE`), and the edits of
    /// DIR/before.rules and before6.rules fw has a switch for; it names
    /// what it cannot carry over.
    ImportUfw {
        /// ufw's configuration directory.
        dir: Option<PathBuf>,
        /// ufw's defaults file.
        #[arg(long, default_value = "/etc/default/ufw")]
        defaults: PathBuf,
    },
    /// ufw's optional leading word: `rule [delete] [insert N|prepend] ACTION ...`.
    Rule {
        /// The rule command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// The version.
    Version,
    /// ufw's usage text.
    Help,
    /// Show the rules: `status`, `status verbose`, `status numbered`.
    Status {
        /// verbose or numbered.
        what: Option<String>,
        /// Add packet and byte counters per rule (extra right-hand columns).
        #[arg(long, short = 'c')]
        counters: bool,
    },
    /// Reports: `show added` (the rules as the commands that add them),
    /// `show raw` (the compiled kernel tables with counters), `show
    /// builtins`, `show listening` (listening sockets and their rules, and
    /// ports published by DNAT that the rules stop); ufw's `before-rules`,
    /// `user-rules`, `after-rules` and `logging-rules` answer with fw's
    /// equivalents.
    Show {
        /// added, raw, builtins, listening, before-rules, user-rules,
        /// after-rules or logging-rules.
        report: Option<String>,
    },
    /// Counters: per reason, direction and verdict, and per rule.
    Stats {
        /// Sort the rules by packets or bytes (busiest first) instead of
        /// by number.
        #[arg(long, value_parser = ["number", "packets", "bytes"], default_value = "number")]
        sort: String,
        /// Counts as K/M/G (powers of 1000) and bytes as KiB/MiB/GiB.
        #[arg(long)]
        human: bool,
        /// Everything as one JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The long-running daemon: a Prometheus endpoint at /metrics (the
    /// filter never depends on it). Stops on SIGTERM or SIGINT.
    Daemon {
        /// Where /metrics listens (loopback by default).
        #[arg(long, default_value = crate::daemon::DEFAULT_METRICS_ADDRESS)]
        metrics_address: std::net::SocketAddr,
        /// Sum rule counters per action, direction and family instead of
        /// one series per rule.
        #[arg(long)]
        aggregate_rules: bool,
        /// Above this many rules, rule counters are summed as with
        /// --aggregate-rules (bounds the scrape's size).
        #[arg(long, default_value_t = crate::daemon::metrics::DEFAULT_MAX_RULE_SERIES)]
        max_rule_series: usize,
        /// Keep the kernel's BPF run-time statistics on while the daemon
        /// runs (per-program run count and time; costs a little per packet).
        #[arg(long)]
        bpf_stats: bool,
        /// Where drop-log lines go: syslog (kern.warning via /dev/log),
        /// syslog:SOCKET (another syslog socket), stdout, file:PATH or none.
        #[arg(long, default_value = "syslog")]
        log: crate::log::Sink,
        /// The word of the lines' prefix, `[WORD BLOCK]` (ufw's: UFW).
        #[arg(long, default_value = crate::log::DEFAULT_PREFIX)]
        log_prefix: String,
    },
    /// Which rule decides a packet and why: `explain PROTO SRC[:PORT]
    /// DST[:PORT] [in|out] [on IFACE]` (the reference classifier,
    /// cross-checked with a private copy of the data plane).
    Explain {
        /// The packet.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// A live view of the busiest rules and reasons with rates; q or
    /// Ctrl-C quits.
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes (0: until q).
        #[arg(long, default_value_t = 0)]
        iterations: u64,
        /// Rows per table.
        #[arg(long, default_value_t = 10)]
        rows: usize,
    },
    /// Drop logs: `log --follow` prints ufw's lines as the data plane
    /// writes them, until Ctrl-C. It reads the same ring buffer as a
    /// running daemon: each event goes to one of them (with a daemon, read
    /// its destination instead).
    Log {
        /// Keep printing (the only mode).
        #[arg(long, short = 'f', required = true)]
        follow: bool,
        /// The word of the lines' prefix.
        #[arg(long, default_value = crate::log::DEFAULT_PREFIX)]
        log_prefix: String,
    },
}

/// The instance this invocation works on.
struct Ctx {
    state_dir: PathBuf,
    pin_dir: PathBuf,
    force: bool,
    dry_run: bool,
    /// The application profiles, read once.
    profiles: std::cell::OnceCell<Profiles>,
    /// Whether their warnings were printed.
    warned: std::cell::Cell<bool>,
}

impl Ctx {
    /// The application profiles (ufw's dir, then the state dir's), with
    /// ufw's warnings about bad profiles printed.
    fn profiles(&self) -> &Profiles {
        self.warn_profiles();
        self.profiles_quiet()
    }

    /// The application profiles, their warnings not (yet) printed.
    fn profiles_quiet(&self) -> &Profiles {
        self.profiles
            .get_or_init(|| Profiles::load(&Profiles::dirs(&self.state_dir), &ServicesDb::system()))
    }

    /// ufw's warnings about bad profiles, once: ufw reads the profiles
    /// when it sets up its frontend, after parsing the command line, so
    /// every command that parsed (all but `help` and `version`) prints
    /// them before anything else.
    fn warn_profiles(&self) {
        if !self.warned.replace(true) {
            for w in &self.profiles_quiet().warnings {
                eprintln!("{w}");
            }
        }
    }
}

/// Runs a parsed command line; returns the exit status.
///
/// # Errors
/// User errors ([`UserError`]) and system errors.
pub fn run(cli: Cli) -> Result<u8> {
    let ns = Netns::current()?;
    let ctx = Ctx {
        state_dir: cli.state_dir.unwrap_or_else(|| ns.default_state_dir()),
        pin_dir: cli.pin_dir.unwrap_or_else(|| ns.default_pin_dir()),
        force: cli.force,
        dry_run: cli.dry_run,
        profiles: std::cell::OnceCell::new(),
        warned: std::cell::Cell::new(false),
    };
    match cli.cmd {
        Cmd::Enable { interfaces } => enable(&ctx, &interfaces),
        Cmd::Disable => disable(&ctx),
        Cmd::Reload => reload(&ctx),
        Cmd::Reset => reset(&ctx),
        Cmd::Default { policy, direction } => {
            default(&ctx, policy.as_deref(), direction.as_deref())
        }
        Cmd::Allow { args } => add(&ctx, Action::Allow, &args, None, false),
        Cmd::Deny { args } => add(&ctx, Action::Deny, &args, None, false),
        Cmd::Reject { args } => add(&ctx, Action::Reject, &args, None, false),
        Cmd::Limit { args } => add(&ctx, Action::Limit, &args, None, false),
        Cmd::Insert { args } => insert(&ctx, &args, false),
        Cmd::Prepend { args } => prepend(&ctx, &args, false),
        Cmd::Delete { args } => delete(&ctx, &args, false),
        Cmd::Route { args } => route(&ctx, &args),
        Cmd::Rule { args } => match args.first().map(String::as_str) {
            Some("delete") => delete(&ctx, &args[1..], false),
            Some("insert") => insert(&ctx, &args[1..], false),
            Some("prepend") => prepend(&ctx, &args[1..], false),
            Some(a) => add(&ctx, parse_action(a)?, &args[1..], None, false),
            None => syntax(None),
        },
        Cmd::Logging { level } => logging(&ctx, level.as_deref()),
        Cmd::Builtin { args } => builtin::run(&ctx, &args),
        Cmd::Status { what, counters } => status(&ctx, what.as_deref(), counters),
        Cmd::Show { report } => report::show(&ctx, report.as_deref()),
        Cmd::App { args } => app::run(&ctx, &args),
        Cmd::ImportUfw { dir, defaults } => import::run(&ctx, dir.as_deref(), &defaults),
        Cmd::Version => {
            outln!("fw-ctl {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Cmd::Help => {
            out!("{}", usage::USAGE);
            Ok(0)
        }
        Cmd::Stats { sort, human, json } => stats(&ctx, &sort, human, json),
        Cmd::Explain { args } => explain::run(&ctx, &args),
        Cmd::Top {
            interval,
            iterations,
            rows,
        } => top::run(&ctx, interval, iterations, rows),
        Cmd::Log {
            follow: _,
            log_prefix,
        } => crate::daemon::follow(crate::daemon::Options {
            state_dir: ctx.state_dir.clone(),
            pin_dir: ctx.pin_dir.clone(),
            metrics_address: crate::daemon::DEFAULT_METRICS_ADDRESS
                .parse()
                .expect("a valid address"),
            rules: crate::daemon::metrics::RuleSeries::Aggregated,
            bpf_stats: false,
            log: crate::log::Sink::Stdout,
            log_prefix,
        }),
        Cmd::Daemon {
            metrics_address,
            aggregate_rules,
            max_rule_series,
            bpf_stats,
            log,
            log_prefix,
        } => crate::daemon::run(crate::daemon::Options {
            state_dir: ctx.state_dir.clone(),
            pin_dir: ctx.pin_dir.clone(),
            metrics_address,
            rules: if aggregate_rules {
                crate::daemon::metrics::RuleSeries::Aggregated
            } else {
                crate::daemon::metrics::RuleSeries::PerRule(max_rule_series)
            },
            bpf_stats,
            log,
            log_prefix,
        }),
    }
}

/// `route ...`: `route delete NUM` is refused as ufw does.
fn route(ctx: &Ctx, args: &[String]) -> Result<u8> {
    // ufw first finds the command (its word in any case), then looks for
    // `delete NUM` anywhere in a route command.
    const COMMANDS: &[&str] = &[
        "allow", "limit", "deny", "reject", "insert", "delete", "prepend",
    ];
    match args.first() {
        Some(w) if COMMANDS.contains(&w.to_lowercase().as_str()) => {}
        w => return syntax(w.map(String::as_str)),
    }
    if let Some(k) = args.iter().position(|w| w == "delete")
        && args.get(k + 1).is_some_and(|w| w.parse::<i64>().is_ok())
    {
        bail!(UserError(
            "'route delete NUM' unsupported. Use 'delete NUM' instead.".into()
        ));
    }
    crate::rule::parse::check_route_clause(args).map_err(parse_error)?;
    match args.first().map(String::as_str) {
        Some("delete") => delete(ctx, &args[1..], true),
        Some("insert") => insert(ctx, &args[1..], true),
        Some("prepend") => prepend(ctx, &args[1..], true),
        Some(a) => add(ctx, parse_action(a)?, &args[1..], None, true),
        None => syntax(None),
    }
}

fn pins(ctx: &Ctx) -> Result<Pins> {
    Ok(Pins::new(&loader::pins::resolve_root(&ctx.pin_dir)?))
}

fn resolver(ifaces: &[netns::Iface]) -> impl Fn(&str) -> Vec<u32> + '_ {
    move |name| netns::resolve(name, ifaces)
}

/// The interfaces to protect: those named (checked), else all but loopback.
fn wanted_interfaces(names: &[String], all: &[netns::Iface]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(all
            .iter()
            .filter(|i| !netns::is_loopback(&i.name))
            .map(|i| i.name.clone())
            .collect());
    }
    for n in names {
        if netns::is_loopback(n) {
            bail!(UserError(format!(
                "Bad interface '{n}': loopback is never filtered"
            )));
        }
        if !all.iter().any(|i| &i.name == n) {
            bail!(UserError(format!("Bad interface '{n}': no such interface")));
        }
    }
    Ok(names.to_vec())
}

/// Compiles `st` and installs it when enabled (the transaction of
/// [`crate::apply`]); with `--dry-run` prints the would-be rules file.
/// `old` is the state before the change.
fn install(ctx: &Ctx, dir: &StateDir, old: &State, st: &State) -> Result<()> {
    if ctx.dry_run {
        let ifaces = netns::interfaces()?;
        compile(&st.rules, st.defaults, &resolver(&ifaces))
            .map_err(|e| UserError(e.to_string()))?;
        // As ufw's --dry-run: the would-be rules file, nothing written.
        out!("{}", render_rules(&st.rules));
        return Ok(());
    }
    let mut live = open_live(ctx, st)?;
    match crate::apply::install(dir, live.as_mut(), old, st) {
        Err(crate::apply::ApplyError::Compile(e)) => return Err(UserError(e.to_string()).into()),
        r => r?,
    }
    if let Some(dp) = live.as_mut() {
        // Settings a change may carry (import-ufw: the logging level and
        // the built-in rule switches).
        dp.set_logging(st.logging.kernel())?;
        dp.set_builtins(st.builtins_word())?;
        // Attach-on-next-command: interfaces that appeared since.
        for name in crate::apply::sync(dir, dp, st)? {
            eprintln!("NOTE: {name}: now protected (it appeared after the filter was loaded)");
        }
    }
    Ok(())
}

/// True when `st` is enabled and its filter is loaded in this namespace
/// (ufw's wording of a change depends on it).
fn enforcing(ctx: &Ctx, st: &State) -> bool {
    !ctx.dry_run
        && st.enabled
        && pins(ctx).is_ok_and(|p| {
            Dataplane::exists(&p)
                && Dataplane::open(&p)
                    .and_then(|d| d.config())
                    .is_ok_and(|c| c.netns_cookie == netns::cookie())
        })
}

/// Reads the state; a state dir without files while this namespace's
/// filter is loaded is an error (never read as "defaults, disabled").
fn load_state(ctx: &Ctx, dir: &StateDir) -> Result<State> {
    let st = dir.load()?;
    if dir.is_fresh()
        && let Ok(p) = pins(ctx)
        && Dataplane::exists(&p)
        && Dataplane::open(&p)
            .and_then(|d| d.config())
            .is_ok_and(|c| c.netns_cookie == netns::cookie())
    {
        bail!(crate::state::StateError::Broken {
            path: dir.path().join("fw.conf"),
            msg: format!(
                "missing (the state dir has no files) while the filter at {} is loaded",
                p.root().display()
            ),
        });
    }
    Ok(st)
}

/// True when an ancestor of this process is an SSH server process (ufw's
/// `under_ssh`: the command may cut the operator's own connection). Newer
/// OpenSSH names its per-connection process `sshd-session`.
fn under_ssh() -> bool {
    let mut pid = std::process::id();
    for _ in 0..64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split at ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let Some(ppid) = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            return false;
        };
        if ppid <= 1 {
            return false;
        }
        let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap_or_default();
        if matches!(comm.trim(), "sshd" | "sshd-session") {
            return true;
        }
        pid = ppid;
    }
    false
}

fn enable(ctx: &Ctx, names: &[String]) -> Result<u8> {
    ctx.warn_profiles();
    // As ufw: over SSH, ask first (unless --force).
    if !ctx.force && under_ssh() && !confirm("Command may disrupt existing ssh connections. ")? {
        return Ok(0);
    }
    if ctx.dry_run {
        outln!("> would load the filter and attach it");
    } else {
        bring_up(ctx, names)?;
    }
    outln!("Firewall is active and enabled on system startup");
    if !ctx.dry_run {
        dnat_notes(ctx);
    }
    Ok(0)
}

/// Names on stderr the ports published by DNAT that the rules stop (ufw
/// never filtered them; `crate::nat`).
fn dnat_notes(ctx: &Ctx) {
    let Ok(st) = StateDir::open_locked(&ctx.state_dir).and_then(|d| d.load()) else {
        return;
    };
    for line in crate::nat::unallowed(&st) {
        eprintln!("NOTE: {line} (fw filters ports published by DNAT, ufw does not)");
    }
}

/// `reload`: applies the state to the kernel again (rules, defaults,
/// interfaces), as at boot; nothing when the firewall is not enabled.
fn reload(ctx: &Ctx) -> Result<u8> {
    ctx.warn_profiles();
    let enabled = StateDir::open_locked(&ctx.state_dir)?.load()?.enabled;
    if enabled {
        if ctx.dry_run {
            outln!("> would apply the saved state to the kernel");
        } else {
            bring_up(ctx, &[])?;
        }
        outln!("Firewall reloaded");
    } else {
        outln!("Firewall not enabled (skipping reload)");
    }
    Ok(0)
}

/// Loads (or finds) the data plane, installs the state's rule set and
/// attaches it to the wanted interfaces; marks the state enabled.
fn bring_up(ctx: &Ctx, names: &[String]) -> Result<()> {
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let old = load_state(ctx, &dir)?;
    let all = netns::interfaces()?;
    // Named interfaces must exist (checked before anything changes).
    wanted_interfaces(names, &all)?;
    let pins = pins(ctx)?;
    sweep(ctx);
    let cookie = netns::cookie();
    let mut created = false;
    let mut dp = if Dataplane::exists(&pins) {
        let dp = Dataplane::open(&pins)?;
        if dp.config()?.netns_cookie == cookie {
            dp
        } else {
            stale_pins(&pins)?;
            created = true;
            Dataplane::create(&pins, cookie, old.tracking.max)?
        }
    } else {
        for other in pins.other_versions() {
            eprintln!(
                "WARN: pins of another fw version at {} (left alone)",
                other.display()
            );
        }
        created = true;
        Dataplane::create(&pins, cookie, old.tracking.max)?
    };
    let result = (|| -> Result<()> {
        dp.set_tracking(old.tracking.enabled, old.tracking.timeouts)?;
        dp.set_limit(old.tracking.limit_hits, old.tracking.limit_window)?;
        dp.set_logging(old.logging.kernel())?;
        dp.set_builtins(old.builtins_word())?;
        let (_, cap) = dp.flows()?;
        if cap != old.tracking.max {
            eprintln!(
                "WARN: CONNTRACK_MAX={} takes effect after 'fw-ctl disable' and 'fw-ctl enable' \
                 (the loaded flow table holds {cap})",
                old.tracking.max
            );
        }
        let mut st = old.clone();
        st.enabled = true;
        if !names.is_empty() {
            st.interfaces = names.to_vec();
        }
        crate::apply::install(&dir, Some(&mut dp), &old, &st).map_err(|e| match e {
            crate::apply::ApplyError::Compile(e) => UserError(e.to_string()).into(),
            e => anyhow::Error::from(e),
        })?;
        crate::apply::sync(&dir, &mut dp, &st)?;
        Ok(())
    })();
    if let Err(e) = result {
        if created {
            let _ = Dataplane::destroy(&pins);
        }
        // As ufw, whose failed start writes `ENABLED=no` back: the saved
        // state is what it was.
        let _ = dir.save(&old);
        return Err(e);
    }
    Ok(())
}

/// Removes pins left at our pin dir by a network namespace that is gone
/// (a namespace deleted without `disable`, then created again with the
/// same name); refuses pins of a namespace that still exists.
fn stale_pins(pins: &Pins) -> Result<()> {
    let root = pins.root().to_path_buf();
    let parent = root.parent().map(std::path::Path::to_path_buf);
    let removed = parent
        .as_deref()
        .and_then(std::path::Path::parent)
        .map(crate::apply::sweep_orphans)
        .unwrap_or_default();
    if removed.contains(&root) || !Dataplane::exists(pins) {
        eprintln!(
            "NOTE: removed pins left at {} by a deleted network namespace",
            root.display()
        );
        return Ok(());
    }
    bail!(UserError(format!(
        "the pins at {} belong to another network namespace that still exists \
         (give this one its own --pin-dir)",
        root.display()
    )))
}

/// Removes orphaned instances below the default pin base
/// (`/sys/fs/bpf/fw`): their network namespaces are gone.
fn sweep(_ctx: &Ctx) {
    if let Ok(base) = loader::pins::resolve_root(std::path::Path::new("/sys/fs/bpf/fw")) {
        for r in crate::apply::sweep_orphans(&base) {
            eprintln!(
                "NOTE: removed pins left at {} by a deleted network namespace",
                r.display()
            );
        }
    }
}

/// `disable` always works, even when the state files are broken: the
/// filter is removed, then `ENABLED=no` is written (into the broken
/// fw.conf's text when it cannot be read as settings).
fn disable(ctx: &Ctx) -> Result<u8> {
    ctx.warn_profiles();
    if ctx.dry_run {
        outln!("> would detach and unload the filter");
        outln!("Firewall stopped and disabled on system startup");
        return Ok(0);
    }
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let loaded = dir.load();
    let pins = pins(ctx)?;
    Dataplane::destroy(&pins)?;
    match loaded {
        Ok(mut st) => {
            st.enabled = false;
            dir.save(&st)?;
        }
        Err(e) => {
            eprintln!("WARN: {e:#}");
            dir.force_disabled()?;
        }
    }
    outln!("Firewall stopped and disabled on system startup");
    Ok(0)
}

/// ufw's `word_wrap(text, 75)`: words joined by a space, or by a newline
/// when the line would reach the width.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            let line_len = out.len() - out.rfind('\n').map_or(0, |k| k + 1);
            let first = word.split('\n').next().unwrap_or("");
            out.push(if line_len + first.len() >= 75 {
                '\n'
            } else {
                ' '
            });
        }
        out.push_str(word);
    }
    out
}

/// ufw's question: prints `{lead}Proceed with operation (y|n)? `, reads an
/// answer from stdin; anything but `y`/`yes` (or no input) prints
/// `Aborted` and gives false.
fn confirm(lead: &str) -> Result<bool> {
    ask(&format!("{lead}Proceed with operation (y|n)? "))
}

/// Prints `prompt` as it is, then as [`confirm`].
fn ask(prompt: &str) -> Result<bool> {
    out!("{prompt}");
    io::stdout().flush()?;
    let mut answer = String::new();
    let _ = io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "yes") {
        Ok(true)
    } else {
        outln!("Aborted");
        Ok(false)
    }
}

/// `reset`, as ufw: asks unless `--force`, then keeps the rules file as
/// `rules.YYYYMMDD_HHMMSS` (local time; refused if that exists), disables
/// and starts with no rules; default policies and the logging level stay.
fn reset(ctx: &Ctx) -> Result<u8> {
    ctx.warn_profiles();
    let lead = if under_ssh() {
        "Resetting all rules to installed defaults. This may disrupt existing ssh connections. "
    } else {
        "Resetting all rules to installed defaults. "
    };
    // ufw wraps this prompt at 75 columns.
    if !ctx.force && !ask(&wrap(&format!("{lead}Proceed with operation (y|n)? ")))? {
        return Ok(0);
    }
    if ctx.dry_run {
        outln!("> would back up 'rules', disable the firewall and remove every rule");
        return Ok(0);
    }
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    // A broken state dir is no obstacle to starting over: the broken rules
    // file is kept as the backup, settings that cannot be read are the
    // installed defaults (said on stderr).
    let old = match load_state(ctx, &dir) {
        Ok(st) => st,
        Err(e) => {
            eprintln!("WARN: {e:#}; starting over with the installed default settings");
            State::default()
        }
    };
    let rules_file = dir.path().join("rules");
    let backup = dir.path().join(format!("rules.{}", local_timestamp()));
    if backup.exists() {
        bail!(UserError(format!(
            "'{}' already exists. Aborting",
            backup.display()
        )));
    }
    // The backup is a hard link, made first: the old rules file stays in
    // place until the new state replaces it atomically, so a failure at any
    // step leaves the rules (and at worst a spare backup) as they were.
    let backed_up = rules_file.exists();
    if backed_up {
        std::fs::hard_link(&rules_file, &backup)
            .with_context(|| format!("cannot back up {}", rules_file.display()))?;
    }
    if let Err(e) = Dataplane::destroy(&pins(ctx)?) {
        if backed_up {
            let _ = std::fs::remove_file(&backup);
        }
        return Err(e.into());
    }
    // As ufw's reset, which puts its packaged before.rules back: the
    // built-in rules are ufw's again.
    let st = State {
        enabled: false,
        rules: Vec::new(),
        builtins: Default::default(),
        ..old
    };
    dir.save(&st)?;
    if backed_up {
        outln!("Backing up 'rules' to '{}'", backup.display());
    }
    outln!();
    Ok(0)
}

/// Local time as `YYYYMMDD_HHMMSS` (ufw's backup suffix).
fn local_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t = now as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a time_t and a tm.
    unsafe { libc::localtime_r(&raw const t, &raw mut tm) };
    format!(
        "{:04}{:02}{:02}_{:02}{:02}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

fn default(ctx: &Ctx, policy: Option<&str>, direction: Option<&str>) -> Result<u8> {
    let action = match policy {
        Some("allow") => Action::Allow,
        Some("deny") => Action::Deny,
        Some("reject") => Action::Reject,
        other => return syntax(other),
    };
    // ufw's words (parser.py `UFWCommandDefault`); `in`, `out` are not.
    let word = match direction.unwrap_or("incoming") {
        "incoming" | "input" => "incoming",
        "outgoing" | "output" => "outgoing",
        "routed" | "forward" => "routed",
        other => return syntax(Some(other)),
    };
    ctx.warn_profiles();
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let old = load_state(ctx, &dir)?;
    let mut st = old.clone();
    match word {
        "incoming" => st.defaults.incoming = action,
        "outgoing" => st.defaults.outgoing = action,
        _ => st.defaults.routed = action,
    }
    install(ctx, &dir, &old, &st)?;
    outln!("Default {word} policy changed to '{}'", action_word(action));
    outln!("(be sure to update your rules accordingly)");
    Ok(0)
}

fn v6_suffix(r: &StoredRule) -> &'static str {
    if r.rule.family == Family::V6 {
        " (v6)"
    } else {
        ""
    }
}

fn parse_words(
    ctx: &Ctx,
    action: Action,
    args: &[String],
    forward: bool,
    edit: Edit<'_>,
) -> Result<(Vec<crate::rule::Rule>, Vec<String>, Option<ParseError>)> {
    let services = ServicesDb::system();
    let profiles = ctx.profiles_quiet();
    // A delete naming no known profile deletes nothing (ufw: "Could not
    // delete non-existent rule"), it is no error.
    let lookup: &dyn AppLookup = if edit == Edit::Delete {
        &AnyName(profiles)
    } else {
        profiles
    };
    let parsed = parse_command_rule(action, args, &services, lookup, forward, edit);
    // ufw's parser refuses before its frontend reads the profiles; a
    // profile that is not there is the frontend's finding.
    if parsed
        .as_ref()
        .map_or_else(ParseError::after_parse, |_| true)
    {
        ctx.warn_profiles();
    }
    let parsed = parsed.map_err(parse_error)?;
    Ok((parsed.spec.expand(), parsed.notes, parsed.late))
}

/// Profiles, and for any other name a profile without ports (which no
/// stored rule has).
struct AnyName<'a>(&'a Profiles);

impl AppLookup for AnyName<'_> {
    fn app(&self, name: &str) -> Option<crate::rule::App> {
        self.0.app(name).or_else(|| {
            Some(crate::rule::App {
                name: name.to_owned(),
                legs: Vec::new(),
            })
        })
    }
}

/// `allow|deny|... RULE`, or with `position` an insert.
fn add(
    ctx: &Ctx,
    action: Action,
    args: &[String],
    position: Option<usize>,
    forward: bool,
) -> Result<u8> {
    let typed = position.filter(|p| *p != PREPEND).map(|p| p.to_string());
    let (rules, notes, late) = parse_words(
        ctx,
        action,
        args,
        forward,
        typed.as_deref().map_or(Edit::Add, Edit::Insert),
    )?;
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let old = load_state(ctx, &dir)?;
    let position = match position {
        None => edit::Position::Append,
        Some(PREPEND) => edit::Position::Prepend,
        Some(p) => edit::Position::At(p),
    };
    let mut st = old.clone();
    let edited = edit_rules(ctx, &old, &rules, edit::Op::Add(position))?;
    st.rules = edited.rules;
    let messages = edited.messages;
    if let Some(e) = edited.error {
        // ufw keeps the IPv4 half it already wrote; a refused command
        // here changes nothing (README, differences).
        bail!(UserError(e.to_string()));
    }
    if let Some(e) = late {
        return Err(parse_error(e));
    }
    if edited.changed {
        install(ctx, &dir, &old, &st)?;
    }
    print_notes(notes);
    for m in messages {
        outln!("{m}");
    }
    Ok(0)
}

/// The parser's notes, before the result: ufw writes its warnings
/// ("WARN: Rule changed after normalization") to stderr, fw's notes go
/// with the result to stdout.
fn print_notes(notes: Vec<String>) {
    for n in notes {
        if n.starts_with("WARN:") {
            eprintln!("{n}");
        } else {
            outln!("{n}");
        }
    }
}

fn insert(ctx: &Ctx, args: &[String], forward: bool) -> Result<u8> {
    // ufw: `insert N ACTION WORD...`, else Invalid syntax; 0 and -1 are
    // refused by name; other positions are checked with the rule's words
    // (`Insert position 'x' is not a valid position`).
    if args.len() < 3 {
        return syntax(args.first().map(String::as_str));
    }
    let pos = &args[0];
    if pos == "0" || pos == "-1" {
        bail!(UserError(format!("Cannot insert rule at position '{pos}'")));
    }
    let action = parse_action(&args[1])?;
    let rest = &args[2..];
    let digits = !pos.is_empty() && pos.chars().all(|c| c.is_ascii_digit());
    if !digits {
        // The parser gives ufw's error for this position.
        parse_words(ctx, action, rest, forward, Edit::Insert(pos))?;
        return syntax(Some(pos));
    }
    let p: usize = pos
        .parse()
        .map_err(|_| UserError(format!("Invalid position '{pos}'")))?;
    add(ctx, action, rest, Some(p), forward)
}

/// `prepend ACTION RULE`: an insert at 1, which puts an IPv6 rule first
/// among the IPv6 rules (positions are clamped to the rule's family).
fn prepend(ctx: &Ctx, args: &[String], forward: bool) -> Result<u8> {
    let Some((act, rest)) = args.split_first() else {
        return syntax(None);
    };
    add(ctx, parse_action(act)?, rest, Some(PREPEND), forward)
}

/// The position `prepend` passes to [`add`]: first of the rule's family.
const PREPEND: usize = usize::MAX;

fn parse_action(w: &str) -> Result<Action> {
    Ok(match w {
        "allow" => Action::Allow,
        "deny" => Action::Deny,
        "reject" => Action::Reject,
        "limit" => Action::Limit,
        other => return syntax(Some(other)),
    })
}

fn delete(ctx: &Ctx, args: &[String], forward: bool) -> Result<u8> {
    // ufw: `delete N ...` deletes rule N (words after N are not read).
    if !forward
        && args
            .first()
            .is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()))
    {
        let n: usize = args[0].parse().unwrap_or(0);
        ctx.warn_profiles();
        let dir = StateDir::open_locked(&ctx.state_dir)?;
        let old = load_state(ctx, &dir)?;
        if n == 0 || n > old.rules.len() {
            bail!(UserError(format!("Could not find rule '{}'", args[0])));
        }
        let victim = old.rules[n - 1].clone();
        if !ctx.force {
            outln!("Deleting:");
            outln!(" {}", command_text(&victim.rule));
            if !confirm("")? {
                return Ok(0);
            }
        }
        let mut st = old.clone();
        st.rules.remove(n - 1);
        install(ctx, &dir, &old, &st)?;
        outln!("{}{}", deleted_word(ctx, &old), v6_suffix(&victim));
        return Ok(0);
    }
    let Some((act, rest)) = args.split_first() else {
        return syntax(None);
    };
    let action = parse_action(act)?;
    if rest.is_empty() {
        return syntax(None);
    }
    let (rules, mut notes, late) = parse_words(ctx, action, rest, forward, Edit::Delete)?;
    // ufw deletes an application rule through the stored rules that match
    // it, which were normalised when added: no warning then.
    if rules
        .iter()
        .any(|r| r.opts.sapp.is_some() || r.opts.dapp.is_some())
    {
        notes.retain(|n| !n.starts_with("WARN: Rule changed after normalization"));
    }
    if let Some(e) = late {
        return Err(parse_error(e));
    }
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let old = load_state(ctx, &dir)?;
    let mut st = old.clone();
    let edited = edit_rules(ctx, &old, &rules, edit::Op::Delete)?;
    st.rules = edited.rules;
    let messages = edited.messages;
    if edited.changed {
        install(ctx, &dir, &old, &st)?;
    }
    print_notes(notes);
    for m in messages {
        outln!("{m}");
    }
    Ok(0)
}

/// `op` with the rules of one command on `old`'s list, as ufw decides it
/// (`crate::rule::edit`); new rules get free ids.
fn edit_rules(ctx: &Ctx, old: &State, rules: &[Rule], op: edit::Op) -> Result<edit::Edited> {
    let mode = edit::Mode {
        live: enforcing(ctx, old),
        dry_run: ctx.dry_run,
    };
    if matches!(op, edit::Op::Add(_)) {
        // Fails when the list is full.
        old.free_id()?;
    }
    let mut used: std::collections::HashSet<u32> = old.rules.iter().map(|r| r.id).collect();
    // The lowest free ids, as `State::free_id`.
    let mut next_id = || {
        let id = (0..fw_common::rules::MAX_RULES).find(|i| !used.contains(i))?;
        used.insert(id);
        Some(id)
    };
    edit::apply(&old.rules, rules, op, mode, &mut next_id)
        .map_err(|e| UserError(e.to_string()).into())
}

/// ufw's word for a deletion: "Rule deleted", or while inactive "Rules
/// updated".
fn deleted_word(ctx: &Ctx, st: &State) -> &'static str {
    if enforcing(ctx, st) {
        "Rule deleted"
    } else {
        "Rules updated"
    }
}

/// The live instance of this namespace when `st` is enabled. Pins left by
/// a deleted namespace of the same name are removed (nothing is loaded
/// here, then); a saved `enabled` with nothing loaded is said on stderr.
fn open_live(ctx: &Ctx, st: &State) -> Result<Option<Dataplane>> {
    sweep(ctx);
    if !st.enabled {
        return Ok(None);
    }
    let pins = pins(ctx)?;
    if Dataplane::exists(&pins) {
        let dp = Dataplane::open(&pins)?;
        if dp.config()?.netns_cookie == netns::cookie() {
            return Ok(Some(dp));
        }
        drop(dp);
        stale_pins(&pins)?;
    }
    eprintln!(
        "WARN: the saved state says enabled, but no filter is loaded in this network \
         namespace (after a reboot, or a namespace created anew): run 'fw-ctl reload'"
    );
    Ok(None)
}

fn logging(ctx: &Ctx, word: Option<&str>) -> Result<u8> {
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let mut st = load_state(ctx, &dir)?;
    st.logging = match word {
        // As ufw: `on` keeps a level that is on, and means low when off.
        Some("on") if st.logging == LogLevel::Off => LogLevel::Low,
        Some("on") => st.logging,
        Some(w) => match LogLevel::from_word(w) {
            Some(l) => l,
            None => return syntax(Some(w)),
        },
        None => return syntax(None),
    };
    ctx.warn_profiles();
    if !ctx.dry_run {
        dir.save(&st)?;
        // Live at once when the filter is enabled.
        if let Some(mut dp) = open_live(ctx, &st)? {
            dp.set_logging(st.logging.kernel())?;
        }
    }
    outln!(
        "{}",
        if st.logging == LogLevel::Off {
            "Logging disabled"
        } else {
            "Logging enabled"
        }
    );
    Ok(0)
}

/// True when this network namespace forwards IPv4 or IPv6 (ufw shows the
/// routed policy only then, else `disabled`).
fn forwarding() -> bool {
    [
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/ipv6/conf/default/forwarding",
        "/proc/sys/net/ipv6/conf/all/forwarding",
    ]
    .iter()
    .any(|f| std::fs::read_to_string(f).is_ok_and(|v| v.contains('1')))
}

fn status(ctx: &Ctx, what: Option<&str>, counters: bool) -> Result<u8> {
    let (verbose, numbered) = match what {
        None => (false, false),
        Some("verbose") => (true, false),
        Some("numbered") => (false, true),
        Some(other) => return syntax(Some(other)),
    };
    ctx.warn_profiles();
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let st = load_state(ctx, &dir)?;
    let Some(dp) = open_live(ctx, &st)? else {
        outln!("Status: inactive");
        return Ok(0);
    };
    // `active` only once the kernel is checked against the saved state.
    let truth = crate::apply::check(&dp, &st, &netns::interfaces()?)?;
    let mut out = String::from(if truth.ok() {
        "Status: active\n"
    } else {
        "Status: degraded (the kernel does not enforce the saved state; see the warnings)\n"
    });
    for p in &truth.problems {
        eprintln!("WARN: {p}");
    }
    for name in &truth.unprotected {
        eprintln!(
            "WARN: interface {name} is NOT protected (no live filter on it); run 'fw-ctl reload'"
        );
    }
    if verbose {
        out.push_str(&format!(
            "Logging: {}\nDefault: {} (incoming), {} (outgoing), {} (routed)\nNew profiles: {}\n",
            match st.logging {
                LogLevel::Off => "off".to_owned(),
                l => format!("on ({})", l.word()),
            },
            action_word(st.defaults.incoming),
            action_word(st.defaults.outgoing),
            if forwarding() {
                action_word(st.defaults.routed)
            } else {
                "disabled"
            },
            st.app_policy.map_or("skip", action_word),
        ));
        // fw's line (not ufw's): where the filter runs.
        out.push_str(&format!(
            "Protected: {}\n",
            if truth.protected.is_empty() {
                "none".to_owned()
            } else {
                truth.protected.join(", ")
            }
        ));
        if !truth.unprotected.is_empty() {
            out.push_str(&format!(
                "NOT protected: {}\n",
                truth.unprotected.join(", ")
            ));
        }
        if !truth.left_out.is_empty() {
            out.push_str(&format!(
                "Not filtered (not in INTERFACES): {}\n",
                truth.left_out.join(", ")
            ));
        }
        // fw's lines: ports published by DNAT that the rules stop.
        for line in crate::nat::unallowed(&st) {
            out.push_str(&format!("Published, not allowed: {line}\n"));
        }
        // fw's line: built-in rules that are not ufw's.
        let switched: Vec<String> = fw_common::builtins::Switch::ALL
            .into_iter()
            .filter(|s| st.builtin(*s) != fw_common::builtins::Setting::Allow)
            .map(|s| format!("{} {}", s.name(), st.builtin(s).word()))
            .collect();
        if !st.tracking.enabled {
            out.push_str("Built-in rules: none (stateless mode, CONNTRACK=no)\n");
        } else if !switched.is_empty() {
            out.push_str(&format!(
                "Built-in rules: ufw's, but {} (fw-ctl show builtins)\n",
                switched.join(", ")
            ));
        }
    }
    let count = |r: &StoredRule| -> Result<String> {
        if !counters {
            return Ok(String::new());
        }
        let c = dp.rule_counter(r.id)?;
        Ok(format!(" {:>12} {:>14}", c.packets, c.bytes))
    };
    // ufw groups incoming, outgoing and route rules (numbered: list order).
    let (mut rows_in, mut rows_out, mut rows_fwd) = (String::new(), String::new(), String::new());
    for (i, r) in st.rules.iter().enumerate() {
        // `status verbose` shows an application rule per port spec.
        let legs = if verbose {
            r.rule.legs()
        } else {
            vec![r.rule.clone()]
        };
        for (k, leg) in legs.iter().enumerate() {
            let row = status_row(leg, numbered.then_some(i + 1), verbose);
            let c = if k == 0 { count(r)? } else { String::new() };
            let line = format!("{row}{c}\n");
            if numbered || (!r.rule.opts.forward && r.rule.dir == Direction::In) {
                rows_in.push_str(&line);
            } else if r.rule.opts.forward {
                rows_fwd.push_str(&line);
            } else {
                rows_out.push_str(&line);
            }
        }
    }
    if !st.rules.is_empty() {
        let indent = if numbered { "     " } else { "" };
        let extra = if counters {
            format!(" {:>12} {:>14}", "Packets", "Bytes")
        } else {
            String::new()
        };
        let extra_rule = if counters {
            format!(" {:>12} {:>14}", "-------", "-----")
        } else {
            String::new()
        };
        out.push('\n');
        out.push_str(&format!(
            "{indent}{:<26} {:<12}{}{extra}\n",
            "To",
            "Action",
            if counters {
                format!("{:<26}", "From")
            } else {
                "From".into()
            }
        ));
        out.push_str(&format!(
            "{indent}{:<26} {:<12}{}{extra_rule}\n",
            "--",
            "------",
            if counters {
                format!("{:<26}", "----")
            } else {
                "----".into()
            }
        ));
        out.push_str(&rows_in);
        if !rows_in.is_empty() && !rows_out.is_empty() {
            out.push('\n');
        }
        out.push_str(&rows_out);
        if !rows_in.is_empty() && !rows_fwd.is_empty() {
            out.push('\n');
        }
        out.push_str(&rows_fwd);
    }
    // ufw ends a table with a blank line; without rules there is no table.
    if st.rules.is_empty() {
        out!("{out}");
    } else {
        outln!("{out}");
    }
    Ok(if truth.ok() { 0 } else { 1 })
}

fn stats(ctx: &Ctx, sort: &str, human: bool, json: bool) -> Result<u8> {
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let st = load_state(ctx, &dir)?;
    let Some(dp) = open_live(ctx, &st)? else {
        if json {
            outln!("{}", serde_json::json!({ "active": false }));
        } else {
            outln!("Status: inactive");
        }
        return Ok(0);
    };
    let generation = dp.config()?.generation;
    let (n, cap) = dp.flows()?;
    if json {
        out!("{}", stats_json(&dp, &st, generation, (n, cap))?);
        return Ok(0);
    }
    outln!("Generation: {generation}");
    outln!(
        "Flows: {n} tracked of {cap} ({:.1}%){}",
        n as f64 * 100.0 / f64::from(cap.max(1)),
        if st.tracking.enabled {
            ""
        } else {
            ", stateful mode off"
        }
    );
    outln!();
    out!("{}", counter_tables(&dp, &st, sort, human)?);
    Ok(0)
}

/// `stats --json`: the same counters as one object.
fn stats_json(dp: &Dataplane, st: &State, generation: u64, flows: (usize, u32)) -> Result<String> {
    use serde_json::{Value, json};
    let reasons: Vec<Value> = moved_reasons(dp)?
        .into_iter()
        .map(|(r, d, v, c)| {
            json!({
                "reason": r.as_str(),
                "direction": d.as_str(),
                "verdict": v.as_str(),
                "packets": c.packets,
                "bytes": c.bytes,
            })
        })
        .collect();
    let mut rules = Vec::new();
    let ids: Vec<u32> = st.rules.iter().map(|r| r.id).collect();
    for (i, (r, c)) in st.rules.iter().zip(dp.rule_counters(&ids)?).enumerate() {
        let mut bare = r.rule.clone();
        bare.opts.comment = None;
        rules.push(json!({
            "number": i + 1,
            "id": r.id,
            "rule": canonical(&bare),
            "family": if r.rule.family == Family::V6 { "ipv6" } else { "ipv4" },
            "action": crate::rule::display::action_word(r.rule.action),
            "direction": if r.rule.opts.forward { "fwd" } else { r.rule.dir.as_str() },
            "comment": r.rule.opts.comment.clone().map_or(Value::Null, Value::String),
            "packets": c.packets,
            "bytes": c.bytes,
        }));
    }
    let v = json!({
        "active": true,
        "generation": generation,
        "flows": { "tracked": flows.0, "capacity": flows.1 },
        "reasons": reasons,
        "rules": rules,
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&v)?))
}

/// The reason counters that moved, in reason, direction, verdict order.
fn moved_reasons(
    dp: &Dataplane,
) -> Result<Vec<(Reason, Direction, Verdict, fw_common::stats::Counter)>> {
    let mut v = Vec::new();
    for r in Reason::ALL {
        for d in Direction::ALL {
            for verdict in [Verdict::Pass, Verdict::Drop] {
                let c = dp.reason_counter(r, d, verdict)?;
                if c.packets != 0 {
                    v.push((r, d, verdict, c));
                }
            }
        }
    }
    Ok(v)
}

/// A count for people: 1234567 -> 1.2M (powers of 1000).
fn human_count(n: u64) -> String {
    human_unit(n, 1000.0, &["", "K", "M", "G", "T", "P"])
}

/// Bytes for people: 1536 -> 1.5KiB (powers of 1024).
fn human_bytes(n: u64) -> String {
    human_unit(n, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"])
}

fn human_unit(n: u64, base: f64, units: &[&str]) -> String {
    let mut v = n as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    if i == 0 {
        format!("{n}{}", units[0])
    } else {
        format!("{v:.1}{}", units[i])
    }
}

/// The counters as tables: per reason, direction and verdict (those that
/// moved), then per rule in list order.
fn counter_tables(dp: &Dataplane, st: &State, sort: &str, human: bool) -> Result<String> {
    use std::fmt::Write as _;
    let count = |n: u64| if human { human_count(n) } else { n.to_string() };
    let bytes = |n: u64| if human { human_bytes(n) } else { n.to_string() };
    let mut o = String::new();
    writeln!(
        o,
        "{:<20} {:<4} {:<7} {:>12} {:>14}",
        "Reason", "Dir", "Verdict", "Packets", "Bytes"
    )?;
    for (r, d, v, c) in moved_reasons(dp)? {
        writeln!(
            o,
            "{:<20} {:<4} {:<7} {:>12} {:>14}",
            r.as_str(),
            d.as_str(),
            v.as_str(),
            count(c.packets),
            bytes(c.bytes)
        )?;
    }
    writeln!(o)?;
    writeln!(
        o,
        "{:<6} {:<6} {:>12} {:>14}  Rule",
        "Num", "Id", "Packets", "Bytes"
    )?;
    let ids: Vec<u32> = st.rules.iter().map(|r| r.id).collect();
    let mut rows = Vec::with_capacity(st.rules.len());
    for (i, (r, c)) in st.rules.iter().zip(dp.rule_counters(&ids)?).enumerate() {
        rows.push((i + 1, r, c));
    }
    // Busiest first; ties keep the list order.
    match sort {
        "packets" => rows.sort_by_key(|r| std::cmp::Reverse(r.2.packets)),
        "bytes" => rows.sort_by_key(|r| std::cmp::Reverse(r.2.bytes)),
        _ => {}
    }
    for (num, r, c) in rows {
        let fam = if r.rule.family == Family::V6 {
            " (v6)"
        } else {
            ""
        };
        writeln!(
            o,
            "{:<6} {:<6} {:>12} {:>14}  {}{fam}",
            num,
            r.id,
            count(c.packets),
            bytes(c.bytes),
            canonical(&r.rule)
        )?;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::{human_bytes, human_count};

    #[test]
    fn counts_and_bytes_for_people() {
        assert_eq!(human_count(999), "999");
        assert_eq!(human_count(1_000), "1.0K");
        assert_eq!(human_count(1_234_567), "1.2M");
        assert_eq!(human_count(3_000_000_000), "3.0G");
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1_536), "1.5KiB");
        assert_eq!(human_bytes(5 << 30), "5.0GiB");
    }
}

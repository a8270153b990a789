//! `import-ufw [DIR]`: carries a ufw configuration over. The rules come
//! from the `### tuple ###` lines of DIR/user.rules and DIR/user6.rules
//! (ufw's own record of each rule, one line per iptables rule; the
//! consecutive lines of one application rule become one fw rule with those
//! ports), the logging level from DIR/ufw.conf, the default policies from
//! /etc/default/ufw, and the edits of before.rules/before6.rules fw has a
//! switch for (`before_rules`). Each tuple is turned back into ufw's words and parsed
//! by the same grammar as a typed command, so an import means what typing
//! the rules would. What cannot be carried over is reported.

use std::path::Path;

mod before_rules;

use anyhow::{Context as _, Result, bail};

use super::{Ctx, UserError, install};
use crate::{
    apps::parse_spec,
    rule::{
        Action, App, Family, StoredRule,
        parse::{AppLookup, ServicesDb, parse_rule_with},
    },
    state::{LogLevel, StateDir},
};

/// One tuple line, split.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tuple {
    action: String,
    proto: String,
    dport: String,
    dst: String,
    sport: String,
    src: String,
    dapp: Option<String>,
    sapp: Option<String>,
    ifaces: String,
    comment: Option<String>,
}

impl Tuple {
    /// The key under which ufw groups an application rule's lines: the
    /// tuple without protocol and ports.
    fn app_key(&self) -> Option<AppKey> {
        (self.dapp.is_some() || self.sapp.is_some()).then(|| {
            (
                self.action.clone(),
                self.dapp.clone(),
                self.sapp.clone(),
                self.dst.clone(),
                self.src.clone(),
                self.ifaces.clone(),
            )
        })
    }
}

fn hex_decode(h: &str) -> Option<String> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// action, dapp, sapp, dst, src, interfaces.
type AppKey = (
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
);

/// Parses the tuple lines of a `user.rules` text. Errors name the line.
fn tuples(text: &str, path: &Path) -> Result<Vec<Tuple>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("### tuple ###") else {
            continue;
        };
        let bad = |why: &str| {
            UserError(format!(
                "{} line {}: {why}: '{}'",
                path.display(),
                n + 1,
                line.trim()
            ))
        };
        let (rest, comment) = match rest.split_once(" comment=") {
            Some((r, hex)) => (
                r,
                Some(hex_decode(hex.trim()).ok_or_else(|| bad("bad comment"))?),
            ),
            None => (rest, None),
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (apps, ifaces) = match f.len() {
            7 => (None, f[6]),
            9 => (Some((f[6], f[7])), f[8]),
            6 => (None, "in"),
            8 => (Some((f[6], f[7])), "in"),
            _ => bail!(bad("malformed tuple")),
        };
        let app = |a: &str| (a != "-").then(|| a.replace("%20", " "));
        out.push(Tuple {
            action: f[0].to_owned(),
            proto: f[1].to_owned(),
            dport: f[2].to_owned(),
            dst: f[3].to_owned(),
            sport: f[4].to_owned(),
            src: f[5].to_owned(),
            dapp: apps.and_then(|(d, _)| app(d)),
            sapp: apps.and_then(|(_, s)| app(s)),
            ifaces: ifaces.to_owned(),
            comment: comment.filter(|c| !c.is_empty()),
        });
    }
    Ok(out)
}

/// Profiles named by imported rules: any name, ports filled in afterwards
/// from the tuples.
struct Named;

impl AppLookup for Named {
    fn app(&self, name: &str) -> Option<App> {
        Some(App {
            name: name.to_owned(),
            legs: Vec::new(),
        })
    }
}

/// ufw's words for a tuple (the form `show added` would print), plus
/// whether it is a route rule and the action.
fn words(t: &Tuple) -> Result<(Action, bool, Vec<String>)> {
    let (forward, act) = match t.action.split_once(':') {
        Some(("route", a)) => (true, a),
        _ => (false, t.action.as_str()),
    };
    let (act, log) = match act.split_once('_') {
        Some((a, l)) => (a, Some(l)),
        None => (act, None),
    };
    let action = match act {
        "allow" => Action::Allow,
        "deny" => Action::Deny,
        "reject" => Action::Reject,
        "limit" => Action::Limit,
        other => bail!(UserError(format!(
            "unknown action '{other}' in a ufw tuple"
        ))),
    };
    let mut w: Vec<String> = Vec::new();
    let mut push = |s: &str| w.push(s.to_owned());
    // Interfaces: `in_eth0`, `out_eth1`, `in_eth0!out_eth1`, or the bare
    // direction.
    for part in t.ifaces.split('!') {
        match part.split_once('_') {
            Some((d @ ("in" | "out"), name)) => {
                push(d);
                push("on");
                push(name);
            }
            _ => {
                if part == "out" && !forward {
                    push("out");
                }
            }
        }
    }
    if let Some(l) = log {
        push(l);
    }
    let has_app = t.dapp.is_some() || t.sapp.is_some();
    if t.proto != "any" && !has_app {
        push("proto");
        push(&t.proto);
    }
    let loc = |a: &str| {
        if a == "0.0.0.0/0" || a == "::/0" {
            "any".to_owned()
        } else {
            a.to_owned()
        }
    };
    push("from");
    push(&loc(&t.src));
    match &t.sapp {
        Some(a) => {
            push("app");
            push(a);
        }
        None if t.sport != "any" => {
            push("port");
            push(&t.sport);
        }
        None => {}
    }
    push("to");
    push(&loc(&t.dst));
    match &t.dapp {
        Some(a) => {
            push("app");
            push(a);
        }
        None if t.dport != "any" => {
            push("port");
            push(&t.dport);
        }
        None => {}
    }
    if let Some(c) = &t.comment {
        push("comment");
        push(c);
    }
    Ok((action, forward, w))
}

/// The ports of one application-rule line, in profile syntax.
fn leg_spec(proto: &str, ports: &str) -> String {
    if proto == "any" {
        ports.to_owned()
    } else {
        format!("{ports}/{proto}")
    }
}

fn policy(v: &str) -> Option<Action> {
    match v.trim().trim_matches('"') {
        "ACCEPT" => Some(Action::Allow),
        "DROP" => Some(Action::Deny),
        "REJECT" => Some(Action::Reject),
        _ => None,
    }
}

/// `import-ufw [DIR]`.
pub(super) fn run(ctx: &Ctx, dir: Option<&Path>, defaults_file: &Path) -> Result<u8> {
    let ufw_dir = dir.unwrap_or(Path::new("/etc/ufw"));
    let read = |name: &str| -> Result<Option<String>> {
        let p = ufw_dir.join(name);
        match std::fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    };
    let (Some(v4), v6) = (read("user.rules")?, read("user6.rules")?) else {
        bail!(UserError(format!(
            "Could not find '{}'",
            ufw_dir.join("user.rules").display()
        )));
    };
    let services = ServicesDb::system();
    let sd = StateDir::open_locked(&ctx.state_dir)?;
    let old = sd.load()?;
    let mut st = old.clone();
    st.rules.clear();
    let mut notes: Vec<String> = Vec::new();
    for (fam, text, file) in [
        (Family::V4, Some(v4), "user.rules"),
        (Family::V6, v6, "user6.rules"),
    ] {
        let Some(text) = text else { continue };
        let path = ufw_dir.join(file);
        let ts = tuples(&text, &path)?;
        let mut i = 0;
        while i < ts.len() {
            // An application rule: this line and the next ones of the same
            // rule.
            let mut j = i + 1;
            if let Some(k) = ts[i].app_key() {
                while j < ts.len() && ts[j].app_key().as_ref() == Some(&k) {
                    j += 1;
                }
            }
            let t = &ts[i];
            let (action, forward, w) = words(t)?;
            let parsed = parse_rule_with(action, &w, &services, &Named, forward).map_err(|e| {
                UserError(format!("{}: rule '{}': {e}", path.display(), w.join(" ")))
            })?;
            let mut rule = parsed.spec.rule;
            rule.family = fam;
            for (k, app) in [&mut rule.opts.dapp, &mut rule.opts.sapp]
                .into_iter()
                .enumerate()
            {
                if let Some(a) = app {
                    let specs: Vec<String> = ts[i..j]
                        .iter()
                        .map(|x| leg_spec(&x.proto, if k == 0 { &x.dport } else { &x.sport }))
                        .collect();
                    a.legs = parse_spec(&specs.join("|")).map_err(|()| {
                        UserError(format!(
                            "{}: bad ports '{}' for profile '{}'",
                            path.display(),
                            specs.join("|"),
                            a.name
                        ))
                    })?;
                }
            }
            let id = st.free_id()?;
            st.rules.push(StoredRule { id, rule });
            i = j;
        }
    }
    if let Some(conf) = read("ufw.conf")? {
        for line in conf.lines() {
            if let Some(v) = line.trim().strip_prefix("LOGLEVEL=") {
                st.logging = LogLevel::from_word(v.trim()).unwrap_or(st.logging);
            }
            if line.trim() == "ENABLED=yes" && !old.enabled {
                notes.push(
                    "ufw was enabled: run 'fw-ctl enable' (and disable ufw) to enforce".into(),
                );
            }
        }
    }
    match std::fs::read_to_string(defaults_file) {
        Ok(d) => {
            for line in d.lines() {
                let Some((k, v)) = line.trim().split_once('=') else {
                    continue;
                };
                match k {
                    "DEFAULT_INPUT_POLICY" => st.defaults.incoming = policy(v).unwrap_or(st.defaults.incoming),
                    "DEFAULT_OUTPUT_POLICY" => st.defaults.outgoing = policy(v).unwrap_or(st.defaults.outgoing),
                    "DEFAULT_FORWARD_POLICY" => st.defaults.routed = policy(v).unwrap_or(st.defaults.routed),
                    "DEFAULT_APPLICATION_POLICY" => st.app_policy = policy(v),
                    "IPV6" if v.trim_matches('"') == "no" => notes.push(
                        "ufw had IPV6=no; fw filters IPv6 too (ufw's IPv6 rules were imported as they are)".into(),
                    ),
                    _ => {}
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            notes.push(format!(
                "{} not found: default policies kept",
                defaults_file.display()
            ));
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", defaults_file.display()));
        }
    }
    // The hand edits of before.rules and the rest ufw reads at start.
    let edits = before_rules::read(ufw_dir)
        .with_context(|| format!("cannot read the rules files in {}", ufw_dir.display()))?;
    for (switch, setting) in &edits.settings {
        st.builtins[*switch as usize] = *setting;
    }
    notes.extend(edits.notes);
    install(ctx, &sd, &old, &st)?;
    let n6 = st
        .rules
        .iter()
        .filter(|r| r.rule.family == Family::V6)
        .count();
    let word = |a: Action| crate::rule::display::action_word(a);
    outln!(
        "Imported {} rules ({} IPv4, {} IPv6) from {}",
        st.rules.len(),
        st.rules.len() - n6,
        n6,
        ufw_dir.display()
    );
    outln!(
        "Default: {} (incoming), {} (outgoing), {} (routed); logging {}",
        word(st.defaults.incoming),
        word(st.defaults.outgoing),
        word(st.defaults.routed),
        st.logging.word()
    );
    let switched: Vec<String> = fw_common::builtins::Switch::ALL
        .into_iter()
        .filter(|s| st.builtin(*s) != fw_common::builtins::Setting::Allow)
        .map(|s| format!("{} {}", s.name(), st.builtin(s).word()))
        .collect();
    if !switched.is_empty() {
        outln!("Built-in rules: ufw's, but {}", switched.join(", "));
    }
    for n in notes {
        outln!("Not carried over: {n}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_become_ufw_words() {
        let text = "### tuple ### allow any 22 0.0.0.0/0 any 0.0.0.0/0 in\n\
                    ### tuple ### route:deny_log tcp 80 203.0.113.2 any 0.0.0.0/0 in_vlab0!out_vlab1 comment=6e6f206261636b\n\
                    ### tuple ### allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 WWW%20Full - in\n\
                    ### tuple ### deny udp 53 0.0.0.0/0 any 10.0.0.0/8 out\n";
        let ts = tuples(text, Path::new("user.rules")).unwrap();
        assert_eq!(ts.len(), 4);
        let w = |i: usize| words(&ts[i]).unwrap().2.join(" ");
        assert_eq!(w(0), "from any to any port 22");
        assert_eq!(
            w(1),
            "in on vlab0 out on vlab1 log proto tcp from any to 203.0.113.2 port 80 comment no back"
        );
        assert!(words(&ts[1]).unwrap().1, "route rule");
        assert_eq!(w(2), "from any to any app WWW Full");
        assert_eq!(w(3), "out proto udp from 10.0.0.0/8 to any port 53");
        assert!(tuples("### tuple ### allow any\n", Path::new("x")).is_err());
    }
}

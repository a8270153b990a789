//! `show REPORT`: `added` (the rules as the commands that add them, ufw's
//! form), `raw` (for fw: the live kernel tables, entry by entry, with
//! every rule's and reason's counters; ufw dumps its iptables chains here),
//! `builtins` and `listening` (`super::listening`); ufw's reports of its
//! chains, `before-rules`, `user-rules`, `after-rules` and
//! `logging-rules`, answer with fw's equivalents.

use std::{
    fmt::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
};

use anyhow::Result;
use fw_common::{
    Action, Direction, Family,
    rules::{
        MAX_SHAPES, RuleEntry, SHAPE_DPORT, SHAPE_IFACE, SHAPE_OIFACE, SHAPE_PROTO, SHAPE_SPORT,
        list_index,
    },
};

use super::{Ctx, counter_tables, open_live, syntax};
use crate::{
    rule::display::{action_word, command_text},
    state::StateDir,
};

/// `show REPORT`.
pub(super) fn show(ctx: &Ctx, report: Option<&str>) -> Result<u8> {
    if matches!(
        report,
        Some(
            "added"
                | "raw"
                | "builtins"
                | "listening"
                | "before-rules"
                | "user-rules"
                | "after-rules"
                | "logging-rules"
        )
    ) {
        ctx.warn_profiles();
    }
    match report {
        Some("added") => added(ctx),
        Some("raw") => raw(ctx),
        Some("builtins") => builtins(ctx),
        Some("listening") => {
            let st = StateDir::open_locked(&ctx.state_dir)?.load()?;
            let rules: Vec<_> = st.rules.iter().map(|r| r.rule.clone()).collect();
            let mut text = super::listening::report(&rules);
            // fw's part: ports published by DNAT that the rules stop.
            let dnat = crate::nat::unallowed(&st);
            if !dnat.is_empty() {
                text.push_str(
                    "\nPublished by DNAT and not allowed (fw filters them, ufw does not):\n",
                );
                for line in dnat {
                    text.push_str(&format!("  {line}\n"));
                }
            }
            // ufw prints a report that is not empty, with a newline.
            if !text.is_empty() {
                outln!("{text}");
            }
            Ok(0)
        }
        Some("before-rules") => {
            outln!(
                "fw's equivalent of ufw's before.rules and before6.rules is its built-in \
                 rules ('fw-ctl show builtins'; switches: 'fw-ctl builtin'):\n"
            );
            builtins(ctx)
        }
        Some("user-rules") => {
            outln!(
                "fw's equivalent of ufw's user chains is its compiled rule tables \
                 ('fw-ctl show raw'):\n"
            );
            raw(ctx)
        }
        Some("after-rules") => {
            outln!("{AFTER_RULES}");
            Ok(0)
        }
        Some("logging-rules") => logging_rules(ctx),
        other => syntax(other),
    }
}

/// `show builtins`: ufw's built-in rules as fw applies them (before the
/// user's rules, in stateful mode) with the switches' settings, then their
/// counters.
fn builtins(ctx: &Ctx) -> Result<u8> {
    use fw_common::{
        Reason, Verdict,
        builtins::{BUILTINS, Setting, Switch},
    };
    let st = StateDir::open_locked(&ctx.state_dir)?.load()?;
    let mut o = String::from(
        "Built-in rules (after tracked flows and invalid packets, before the user's rules):\n",
    );
    for fam in [Family::V4, Family::V6] {
        for dir in Direction::ALL {
            let rows: Vec<_> = BUILTINS
                .iter()
                .filter(|b| b.family == fam && b.dir == dir)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "\n{} {}:",
                if fam == Family::V4 { "IPv4" } else { "IPv6" },
                dir.as_str()
            );
            for b in rows {
                let (text, note) = match Switch::of(b).map(|s| (s, st.builtin(s))) {
                    Some((s, Setting::Deny)) => (
                        b.text.replace("-j ACCEPT", "-j DROP"),
                        format!(" (builtin {} deny)", s.name()),
                    ),
                    Some((s, Setting::Off)) => (
                        format!("# {}", b.text),
                        format!(" (builtin {} off)", s.name()),
                    ),
                    _ => (b.text.to_owned(), String::new()),
                };
                let _ = writeln!(o, "  {text:<76} {}{note}", b.reason.as_str());
            }
        }
    }
    let _ = writeln!(o, "\nSwitches ('fw-ctl builtin NAME allow|deny|off'):");
    for s in Switch::ALL {
        let _ = writeln!(
            o,
            "  {:<6} {:<5} {}",
            s.name(),
            st.builtin(s).word(),
            s.what()
        );
    }
    if let Some(dp) = open_live(ctx, &st)? {
        let _ = writeln!(
            o,
            "\n{:<20} {:<4} {:>12} {:>14} {:>12} {:>14}",
            "Reason", "Dir", "Packets", "Bytes", "Dropped", "Bytes"
        );
        for r in [
            Reason::BuiltinIcmp,
            Reason::BuiltinDhcp,
            Reason::BuiltinMulticast,
            Reason::BuiltinNdp,
            Reason::BuiltinMld,
        ] {
            for d in Direction::ALL {
                let c = dp.reason_counter(r, d, Verdict::Pass)?;
                let x = dp.reason_counter(r, d, Verdict::Drop)?;
                let _ = writeln!(
                    o,
                    "{:<20} {:<4} {:>12} {:>14} {:>12} {:>14}",
                    r.as_str(),
                    d.as_str(),
                    c.packets,
                    c.bytes,
                    x.packets,
                    x.bytes
                );
            }
        }
    }
    out!("{o}");
    Ok(0)
}

/// `show after-rules`: fw's equivalent of ufw's after.rules/after6.rules
/// (fw-ebpf's `log::after_rules`).
const AFTER_RULES: &str = "\
fw's equivalent of ufw's after.rules and after6.rules: incoming packets that
the default policy decides get no log line when they are

  IPv4  udp dport 137, 138, 67, 68; tcp dport 139, 445; dst 255.255.255.255
  IPv6  udp dport 137, 138, 546, 547; tcp dport 139, 445

('-j ufw-skip-to-policy-input'). ufw also skips every broadcast address of
the host's subnets (addrtype BROADCAST); fw logs a subnet broadcast to
another port.";

/// `show logging-rules`: what each logging level logs, the live one marked
/// (fw's equivalent of ufw's logging chains; `fw_common::log`).
fn logging_rules(ctx: &Ctx) -> Result<u8> {
    use crate::state::LogLevel;
    let st = StateDir::open_locked(&ctx.state_dir)?.load()?;
    let rows = [
        (LogLevel::Off, "nothing, not even 'log' rules"),
        (
            LogLevel::Low,
            "[UFW BLOCK] packets a deny/reject policy drops (3/min, burst 10); \
             'log' rules ([UFW ALLOW] / [UFW BLOCK]); [UFW LIMIT BLOCK]",
        ),
        (
            LogLevel::Medium,
            "low, and [UFW ALLOW] packets an allow policy passes, [UFW AUDIT INVALID] \
             invalid packets, [UFW AUDIT] new packets (rate-limited)",
        ),
        (
            LogLevel::High,
            "medium, policy and invalid lines without rate limit, [UFW AUDIT] every \
             packet (rate-limited)",
        ),
        (LogLevel::Full, "everything, without rate limit"),
    ];
    let mut o = String::from(
        "fw's equivalent of ufw's logging chains: what each level logs \
         ('fw-ctl logging LEVEL'; '*' the saved level):\n\n",
    );
    for (l, what) in rows {
        let mark = if l == st.logging { '*' } else { ' ' };
        let _ = writeln!(o, "{mark} {:<7} {what}", l.word());
    }
    out!("{o}");
    Ok(0)
}

/// `show added`: every rule as the command that adds it, in ufw's form and
/// order (IPv4 and two-family rules first, a two-family rule once).
fn added(ctx: &Ctx) -> Result<u8> {
    let st = StateDir::open_locked(&ctx.state_dir)?.load()?;
    let mut out = String::from("Added user rules (see 'fw-ctl status' for running firewall):");
    if st.rules.is_empty() {
        out.push_str("\n(None)");
    }
    let mut seen: Vec<String> = Vec::new();
    for r in &st.rules {
        let c = command_text(&r.rule);
        if !seen.contains(&c) {
            let _ = write!(out, "\nfw-ctl {c}");
            seen.push(c);
        }
    }
    outln!("{out}");
    Ok(0)
}

fn mask_len(words: &[u32]) -> u32 {
    words.iter().map(|w| u32::from_be(*w).count_ones()).sum()
}

fn entry_text(e: &RuleEntry) -> String {
    let log = match e.action >> fw_common::log::RULE_LOG_SHIFT {
        1 => " log",
        2 => " log-all",
        _ => "",
    };
    format!(
        "prio {:<6} rule {:<6} {}{log}",
        e.prio,
        e.rule_id,
        action_word(Action::from_u8(e.action & 0xf))
    )
}

/// `show raw`: the live slot of the kernel tables.
fn raw(ctx: &Ctx) -> Result<u8> {
    let st = StateDir::open_locked(&ctx.state_dir)?.load()?;
    let Some(dp) = open_live(ctx, &st)? else {
        outln!("Status: inactive");
        return Ok(0);
    };
    let cfg = dp.config()?;
    let h = dp.live_header()?;
    let (v4, v6) = dp.live_entries()?;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Generation {} (slot {}), {} IPv4 and {} IPv6 entries",
        cfg.generation,
        cfg.active_slot & 1,
        v4.len(),
        v6.len()
    );
    let _ = writeln!(
        o,
        "Default policy: {} (incoming), {} (outgoing), {} (routed)",
        action_word(Action::from_u8(h.default_policy[Direction::In as usize])),
        action_word(Action::from_u8(h.default_policy[Direction::Out as usize])),
        action_word(Action::from_u8(h.default_policy[Direction::Fwd as usize]))
    );
    for dir in Direction::ALL {
        for fam in [Family::V4, Family::V6] {
            let l = list_index(dir, fam);
            let list = &h.lists[l];
            let _ = writeln!(
                o,
                "\nShapes {} {} ({}):",
                dir.as_str(),
                if fam == Family::V4 { "v4" } else { "v6" },
                list.count
            );
            for (i, d) in list.shapes[..list.count as usize].iter().enumerate() {
                let names: Vec<&str> = [
                    (SHAPE_PROTO, "proto"),
                    (SHAPE_SPORT, "sport"),
                    (SHAPE_DPORT, "dport"),
                    (SHAPE_IFACE, "iface"),
                    (SHAPE_OIFACE, "oiface"),
                ]
                .iter()
                .filter(|(f, _)| d.flags & f != 0)
                .map(|(_, n)| *n)
                .collect();
                let _ = writeln!(
                    o,
                    "  shape {:<3} src /{:<3} dst /{:<3} {:<24} min prio {:<6} filter {} words at {}",
                    l * MAX_SHAPES + i,
                    mask_len(&d.src_mask),
                    mask_len(&d.dst_mask),
                    names.join(","),
                    d.min_prio,
                    d.filter_words,
                    d.filter_off
                );
            }
        }
    }
    let mut v4 = v4;
    v4.sort_by_key(|(k, e)| (k.shape, e.prio));
    let _ = writeln!(o, "\nEntries v4:");
    for (k, e) in &v4 {
        let _ = writeln!(
            o,
            "  shape {:<3} proto {:<3} sport class {:<4} dport class {:<4} ifindex {:<3} oifindex {:<3} src {:<15} dst {:<15} -> {}",
            k.shape,
            k.proto,
            k.sport_class,
            k.dport_class,
            k.ifindex,
            k.oifindex,
            Ipv4Addr::from(u32::from_be(k.src)),
            Ipv4Addr::from(u32::from_be(k.dst)),
            entry_text(e)
        );
    }
    let mut v6 = v6;
    v6.sort_by_key(|(k, e)| (k.shape, e.entry.prio));
    let _ = writeln!(o, "\nEntries v6:");
    let addr6 = |w: &[u32; 4]| {
        let mut b = [0u8; 16];
        for (i, x) in w.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&x.to_ne_bytes());
        }
        Ipv6Addr::from(b)
    };
    for (k, e) in &v6 {
        let _ = writeln!(
            o,
            "  shape {:<3} proto {:<3} sport class {:<4} dport class {:<4} ifindex {:<3} oifindex {:<3} src {} dst {} -> {}",
            k.shape,
            k.proto,
            k.sport_class,
            k.dport_class,
            k.ifindex,
            k.oifindex,
            addr6(&e.src),
            addr6(&e.dst),
            entry_text(&e.entry)
        );
    }
    let _ = writeln!(o, "\nPort classes (first port of each class):");
    for (name, table) in [("sport", &h.sport_class), ("dport", &h.dport_class)] {
        let mut starts = Vec::new();
        let mut last = u16::MAX;
        for (p, c) in table.iter().enumerate() {
            if *c != last {
                starts.push(format!("{p}->{c}"));
                last = *c;
            }
        }
        let _ = writeln!(o, "  {name}: {}", starts.join(" "));
    }
    let _ = writeln!(o);
    o.push_str(&counter_tables(&dp, &st, "number", false)?);
    out!("{o}");
    Ok(0)
}

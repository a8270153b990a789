//! Editing the rule list as ufw 0.36.2 does: add, insert, prepend and
//! delete by rule, with ufw's decisions and messages.
//!
//! A port of `UFWBackendIptables.set_rule` (per family: where a rule goes,
//! whether it is an exact duplicate, updates an existing rule or is
//! skipped) and of the position handling of `UFWFrontend.set_rule` (how a
//! rule for both families is placed in each family's list). ufw keeps one
//! list per family, IPv4 first in `status numbered`; so does
//! `crate::state::State::rules`. Nothing here touches the state or the
//! kernel: callers install the result.

use super::{Rule, StoredRule};
use fw_common::Family;

/// Where an added rule goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// At the end of its family's list (`allow ...`).
    Append,
    /// At the top (`prepend ...`).
    Prepend,
    /// `insert N`: N in the whole numbered list (1-based).
    At(usize),
}

/// What happens to the list: an add or a delete by rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Add (or insert, prepend) the rule.
    Add(Position),
    /// `delete RULE`.
    Delete,
}

/// How the firewall is running, which decides ufw's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Enabled and not a dry run: "Rule added" rather than "Rules updated".
    pub live: bool,
    /// `--dry-run`: deleting an absent rule is not refused.
    pub dry_run: bool,
}

/// A refused edit: ufw's message (it exits 1). ufw keeps what it did to
/// an earlier family (it writes each family's file on its own); callers
/// here drop the whole edit.
#[derive(Debug, thiserror::Error)]
#[error("Invalid position '{0}'")]
pub struct InvalidPosition(pub usize);

/// The result of an edit: the new list and ufw's lines.
#[derive(Debug)]
pub struct Edited {
    /// The whole list, IPv4 rules first.
    pub rules: Vec<StoredRule>,
    /// One line per family the rule is for.
    pub messages: Vec<String>,
    /// ufw would write its rules files (the list may be the same: a
    /// `--dry-run` delete of an absent rule).
    pub changed: bool,
    /// An invalid position met after an earlier family was edited (ufw
    /// keeps that family's edit; fw's callers refuse the whole command).
    pub error: Option<InvalidPosition>,
}

/// ufw's `UFWRule.match`: 0 the same rule, -2 the same but for the
/// comment, -1 the same match with another action or logging (the comment
/// may differ too), 1 another rule.
#[must_use]
pub fn match_code(x: &Rule, y: &Rule) -> i8 {
    if !x.same_match(y) {
        return 1;
    }
    match (
        x.action == y.action && x.opts.log == y.opts.log,
        x.opts.comment == y.opts.comment,
    ) {
        (true, true) => 0,
        (true, false) => -2,
        (false, _) => -1,
    }
}

/// One family's part of ufw's `set_rule`: the new list (None: unchanged)
/// and the message. `position` is 1-based in this family's list, 0 to
/// append.
fn set_family(
    list: &[StoredRule],
    rule: &Rule,
    position: usize,
    remove: bool,
    mode: Mode,
    next_id: &mut dyn FnMut() -> Option<u32>,
) -> Result<(Option<Vec<StoredRule>>, String), InvalidPosition> {
    let v6 = if rule.family == Family::V6 {
        " (v6)"
    } else {
        ""
    };
    if position > list.len() {
        return Err(InvalidPosition(position));
    }
    let mut out = Vec::with_capacity(list.len() + 1);
    let (mut found, mut modified, mut inserted, mut matches) = (false, false, false, 0);
    let mut fresh = |out: &mut Vec<StoredRule>, id: Option<u32>| {
        if let Some(id) = id.or_else(&mut *next_id) {
            out.push(StoredRule {
                id,
                rule: rule.clone(),
            });
        }
    };
    for (i, r) in list.iter().enumerate() {
        if i + 1 == position {
            inserted = true;
            fresh(&mut out, None);
        }
        let ret = match_code(&r.rule, rule);
        if ret < 1 {
            matches += 1;
        }
        if ret == 0 && !found && !inserted {
            found = true;
            if !remove {
                out.push(r.clone());
            }
        } else if ret == -2 && remove && rule.opts.comment.is_none() {
            // Deleting without a comment deletes the rule with one.
            found = true;
        } else if ret < 0 && !remove && !inserted {
            // The same match with another action, logging or comment:
            // replaced, under its id (its counters stay with it).
            found = true;
            modified = true;
            fresh(&mut out, Some(r.id));
        } else {
            out.push(r.clone());
        }
    }
    if inserted {
        if matches > 0 {
            return Ok((None, format!("Skipping inserting existing rule{v6}")));
        }
    } else {
        if !found && !remove {
            fresh(&mut out, None);
        }
        if !found && remove && !mode.dry_run {
            return Ok((None, format!("Could not delete non-existent rule{v6}")));
        }
        if found && !remove && !modified {
            return Ok((None, format!("Skipping adding existing rule{v6}")));
        }
    }
    let msg = if !mode.live {
        "Rules updated"
    } else if modified || inserted {
        if inserted {
            "Rule inserted"
        } else {
            "Rule updated"
        }
    } else if found && remove {
        "Rule deleted"
    } else {
        "Rule added"
    };
    Ok((Some(out), format!("{msg}{v6}")))
}

/// The 1-based position in `to` of the rule exactly matching rule
/// `position` (1-based) of `from`, with the other family; 0 when none
/// (ufw's `find_other_position`).
fn other_position(from: &[StoredRule], to: &[StoredRule], position: usize) -> usize {
    let Some(r) = position.checked_sub(1).and_then(|i| from.get(i)) else {
        return 0;
    };
    let family = to.first().map_or(r.rule.family, |t| t.rule.family);
    let twin = Rule {
        family,
        ..r.rule.clone()
    };
    to.iter()
        .position(|t| match_code(&t.rule, &twin) == 0)
        .map_or(0, |i| i + 1)
}

/// Applies `op` with `rules` (the IPv4 and/or IPv6 rule of one command,
/// IPv4 first) to `list` (IPv4 rules first), as ufw's frontend and backend
/// do. `next_id` hands out ids for new rules (None: the list is full, the
/// rule is not added).
///
/// # Errors
/// An invalid position before anything changed.
pub fn apply(
    list: &[StoredRule],
    rules: &[Rule],
    op: Op,
    mode: Mode,
    next_id: &mut dyn FnMut() -> Option<u32>,
) -> Result<Edited, InvalidPosition> {
    let split = list
        .iter()
        .position(|r| r.rule.family == Family::V6)
        .unwrap_or(list.len());
    let mut v4: Vec<StoredRule> = list[..split].to_vec();
    let mut v6: Vec<StoredRule> = list[split..].to_vec();
    let (num_v4, num_v6) = (v4.len(), v6.len());
    let remove = op == Op::Delete;
    let user = match op {
        Op::Add(Position::At(p)) => Some(p),
        _ => None,
    };
    if let Some(p) = user
        && p > num_v4 + num_v6
    {
        return Err(InvalidPosition(p));
    }
    let prepend = op == Op::Add(Position::Prepend);
    let has = |f: Family| rules.iter().find(|r| r.family == f);
    let (r4, r6) = (has(Family::V4), has(Family::V6));
    // Single-family positions are checked before anything changes.
    match (r4, r6, user) {
        (Some(_), None, Some(p)) if p > num_v4 => return Err(InvalidPosition(p)),
        (None, Some(_), Some(p)) if p != 0 && p <= num_v4 => return Err(InvalidPosition(p)),
        _ => {}
    }
    let mut messages = Vec::new();
    let mut changed = false;
    let mut error = None;
    let user_pos = user.unwrap_or(0);
    // The position the IPv6 half is numbered against (ufw's r.position).
    let mut pos = user_pos;
    if let Some(r) = r4 {
        let p4 = if prepend {
            usize::from(num_v4 != 0)
        } else if r6.is_some() && !remove && user_pos > num_v4 {
            // Numbered in the IPv6 part: before the IPv4 twin of that rule.
            other_position(&v6, &v4, user_pos - num_v4)
        } else {
            user_pos
        };
        let (new, msg) = set_family(&v4, r, p4, remove, mode, next_id)?;
        if let Some(new) = new {
            v4 = new;
            changed = true;
        }
        messages.push(msg);
        if !remove && user_pos > 0 {
            pos = user_pos + 1;
        }
    }
    if let Some(r) = r6 {
        let num_v4 = v4.len();
        let mut p6 = if prepend {
            usize::from(num_v6 != 0)
        } else if r4.is_some() && !remove && pos > 0 && pos <= num_v4 {
            // Numbered in the IPv4 part: before the IPv6 twin of that rule.
            other_position(&v4, &v6, pos)
        } else {
            pos
        };
        if !remove && !prepend && p6 > num_v4 {
            p6 -= num_v4;
        }
        match set_family(&v6, r, p6, remove, mode, next_id) {
            Ok((new, msg)) => {
                if let Some(new) = new {
                    v6 = new;
                    changed = true;
                }
                messages.push(msg);
            }
            Err(e) if r4.is_some() => error = Some(e),
            Err(e) => return Err(e),
        }
    }
    v4.extend(v6);
    Ok(Edited {
        rules: v4,
        messages,
        changed,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{
        Action,
        parse::{NoApps, NoServices, parse_rule_with},
    };

    /// The rules of one command line (`ACTION WORDS...`).
    fn cmd(line: &str) -> Vec<Rule> {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let action = match words[0].as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            "reject" => Action::Reject,
            _ => Action::Limit,
        };
        parse_rule_with(action, &words[1..], &NoServices, &NoApps, false)
            .expect(line)
            .spec
            .expand()
    }

    const LIVE: Mode = Mode {
        live: true,
        dry_run: false,
    };

    /// Runs the commands in order from an empty list; the messages of the
    /// last one and the list (as `action:family` words with ids).
    fn run(script: &[(&str, Op)]) -> (Vec<String>, Vec<StoredRule>) {
        let mut list: Vec<StoredRule> = Vec::new();
        let mut msgs = Vec::new();
        let mut next = 100;
        for (line, op) in script {
            let mut ids = || {
                next += 1;
                Some(next)
            };
            let e = apply(&list, &cmd(line), *op, LIVE, &mut ids).expect(line);
            assert!(e.error.is_none(), "{line}");
            list = e.rules;
            msgs = e.messages;
        }
        (msgs, list)
    }

    const ADD: Op = Op::Add(Position::Append);

    #[test]
    fn the_same_rule_twice_is_skipped() {
        let (m, l) = run(&[("allow 80", ADD), ("allow 80", ADD)]);
        assert_eq!(
            m,
            [
                "Skipping adding existing rule",
                "Skipping adding existing rule (v6)"
            ]
        );
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn another_action_updates_in_place_under_the_same_id() {
        let (m, l) = run(&[("allow 80", ADD), ("allow 81", ADD), ("deny 80", ADD)]);
        assert_eq!(m, ["Rule updated", "Rule updated (v6)"]);
        assert_eq!(l[0].rule.action, Action::Deny);
        assert_eq!(l[0].id, 101, "the id stays");
        assert_eq!(l[1].rule.action, Action::Allow);
    }

    #[test]
    fn insert_or_prepend_of_an_existing_tuple_changes_nothing() {
        for op in [Op::Add(Position::At(1)), Op::Add(Position::Prepend)] {
            let (m, l) = run(&[("allow from 10.0.0.1", ADD), ("deny from 10.0.0.1", op)]);
            assert_eq!(m, ["Skipping inserting existing rule"], "{op:?}");
            assert_eq!(l[0].rule.action, Action::Allow);
            assert_eq!(l.len(), 1);
        }
        // Prepending to an empty list is an add.
        let (m, _) = run(&[("deny from 10.0.0.1", Op::Add(Position::Prepend))]);
        assert_eq!(m, ["Rule added"]);
        let (m, l) = run(&[
            ("allow 22", ADD),
            ("deny from 10.0.0.1", Op::Add(Position::Prepend)),
        ]);
        assert_eq!(m, ["Rule inserted"]);
        assert_eq!(l[0].rule.action, Action::Deny);
    }

    #[test]
    fn delete_matches_comment_only_when_it_names_none() {
        let web = ("allow 80 comment web", ADD);
        let (m, l) = run(&[web, ("allow 80 comment other", Op::Delete)]);
        assert_eq!(
            m,
            [
                "Could not delete non-existent rule",
                "Could not delete non-existent rule (v6)"
            ]
        );
        assert_eq!(l.len(), 2);
        let (m, l) = run(&[web, ("allow 80", Op::Delete)]);
        assert_eq!(m, ["Rule deleted", "Rule deleted (v6)"]);
        assert!(l.is_empty());
        // Another action or logging is another rule.
        let (m, _) = run(&[web, ("deny 80", Op::Delete)]);
        assert_eq!(m[0], "Could not delete non-existent rule");
        let (m, _) = run(&[web, ("allow log 80", Op::Delete)]);
        assert_eq!(m[0], "Could not delete non-existent rule");
    }

    #[test]
    fn inactive_edits_say_rules_updated_and_dry_runs_delete_anything() {
        let quiet = Mode {
            live: false,
            dry_run: false,
        };
        let mut id = || Some(7);
        let e = apply(&[], &cmd("allow 80"), ADD, quiet, &mut id).unwrap();
        assert_eq!(e.messages, ["Rules updated", "Rules updated (v6)"]);
        let dry = Mode {
            live: false,
            dry_run: true,
        };
        let e = apply(&[], &cmd("allow 80"), Op::Delete, dry, &mut id).unwrap();
        assert_eq!(e.messages, ["Rules updated", "Rules updated (v6)"]);
        assert!(e.changed && e.rules.is_empty());
    }

    #[test]
    fn positions_are_checked_against_the_families() {
        let (_, l) = run(&[("allow 80", ADD), ("allow from 10.0.0.1", ADD)]);
        // 3 rules: v4 80, v4 10.0.0.1, v6 80.
        let mut id = || Some(9);
        let v4_in_v6 = apply(
            &l,
            &cmd("deny from 10.0.0.2"),
            Op::Add(Position::At(3)),
            LIVE,
            &mut id,
        );
        assert_eq!(v4_in_v6.unwrap_err().0, 3);
        let v6_in_v4 = apply(
            &l,
            &cmd("deny from 2001:db8::2"),
            Op::Add(Position::At(2)),
            LIVE,
            &mut id,
        );
        assert_eq!(v6_in_v4.unwrap_err().0, 2);
        let past = apply(&l, &cmd("deny 9"), Op::Add(Position::At(4)), LIVE, &mut id);
        assert_eq!(past.unwrap_err().0, 4);
        // Both families at 1: the IPv6 half goes before the IPv6 twin of
        // the rule numbered 1.
        let e = apply(&l, &cmd("deny 9"), Op::Add(Position::At(1)), LIVE, &mut id).unwrap();
        assert_eq!(e.messages, ["Rule inserted", "Rule inserted (v6)"]);
        let words: Vec<String> = e
            .rules
            .iter()
            .map(|r| format!("{:?}{:?}", r.rule.family, r.rule.dport.is_some()))
            .collect();
        assert_eq!(words, ["V4true", "V4true", "V4false", "V6true", "V6true"]);
        assert_eq!(e.rules[3].rule.action, Action::Deny);
    }
}

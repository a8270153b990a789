//! The hand edits of ufw's before.rules, before6.rules, after.rules and
//! after6.rules. import-ufw compares each file's rules with ufw 0.36.2's
//! (`ufw-*.rules` beside this module, the packaged files without their
//! comments), carries over the edits fw has a switch for
//! (`fw_common::builtins::Switch`: an echo-request ACCEPT of the host's
//! input turned into DROP, or removed; the DHCP client line removed or
//! turned into DROP) and names every other difference: fw has no
//! hand-written rules, so those are not carried over.

use std::{collections::HashSet, io, path::Path};

use fw_common::builtins::{Setting, Switch};

/// One of ufw's hand-editable files.
struct File {
    name: &'static str,
    /// Its rules as ufw 0.36.2 ships them.
    default: &'static str,
    /// The lines fw has a switch for, up to the target (`-j `).
    switches: &'static [(Switch, &'static str)],
}

const FILES: [File; 4] = [
    File {
        name: "before.rules",
        default: include_str!("ufw-before.rules"),
        switches: &[
            (
                Switch::Ping,
                "-A ufw-before-input -p icmp --icmp-type echo-request -j ",
            ),
            (
                Switch::Dhcp,
                "-A ufw-before-input -p udp --sport 67 --dport 68 -j ",
            ),
        ],
    },
    File {
        name: "before6.rules",
        default: include_str!("ufw-before6.rules"),
        switches: &[
            (
                Switch::Ping6,
                "-A ufw6-before-input -p icmpv6 --icmpv6-type echo-request -j ",
            ),
            (
                Switch::Dhcp6,
                "-A ufw6-before-input -p udp -s fe80::/10 --sport 547 -d fe80::/10 --dport 546 -j ",
            ),
        ],
    },
    File {
        name: "after.rules",
        default: include_str!("ufw-after.rules"),
        switches: &[],
    },
    File {
        name: "after6.rules",
        default: include_str!("ufw-after6.rules"),
        switches: &[],
    },
];

/// What import-ufw makes of the files.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Edits {
    /// The switches the files set (every switch of a file that is there).
    pub(super) settings: Vec<(Switch, Setting)>,
    /// What is not carried over, one sentence each.
    pub(super) notes: Vec<String>,
}

/// The rules of an iptables-restore file: (line number, the line with its
/// blanks squeezed), comments and blank lines left out.
fn rules(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>().join(" ")))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Compares the file `name` (its text) with ufw's.
fn compare(f: &File, text: &str, out: &mut Edits) {
    let got = rules(text);
    let want: HashSet<String> = rules(f.default).into_iter().map(|(_, l)| l).collect();
    let mut handled: HashSet<usize> = HashSet::new();
    for (switch, prefix) in f.switches {
        let hits: Vec<&(usize, String)> =
            got.iter().filter(|(_, l)| l.starts_with(prefix)).collect();
        // The first line with a terminal target decides (a LOG line before
        // it goes on to the next); lines before it with other targets, and
        // every line after it, are named below or here.
        let mut setting = None;
        for (n, l) in hits {
            let s = match &l[prefix.len()..] {
                "ACCEPT" => Setting::Allow,
                "DROP" => Setting::Deny,
                "REJECT" => {
                    out.notes.push(format!(
                        "{} line {n}: '{l}': its answer ('fw-ctl builtin {} deny' drops \
                         without one)",
                        f.name,
                        switch.name()
                    ));
                    Setting::Deny
                }
                _ => continue,
            };
            handled.insert(*n);
            if setting.is_some() {
                out.notes.push(format!(
                    "{} line {n}: '{l}' (after the {} line that decides) is not carried over",
                    f.name,
                    switch.name()
                ));
            } else {
                setting = Some(s);
            }
        }
        // No line decides: the packets go on to the rules (`off`; the
        // import's summary line says so).
        let setting = setting.unwrap_or(Setting::Off);
        out.settings.push((*switch, setting));
    }
    let present: HashSet<&str> = got.iter().map(|(_, l)| l.as_str()).collect();
    for (n, l) in &got {
        if !handled.contains(n) && !want.contains(l) {
            out.notes.push(format!(
                "{} line {n}: '{l}' is not carried over (fw has no hand-written rules)",
                f.name
            ));
        }
    }
    for (_, l) in rules(f.default) {
        let switched = f.switches.iter().any(|(_, p)| l.starts_with(p));
        if !switched && !present.contains(l.as_str()) {
            out.notes.push(format!(
                "{}: ufw's '{l}' was removed; fw keeps its built-in equivalent",
                f.name
            ));
        }
    }
}

/// Reads the files in ufw's directory `dir` (a missing file is skipped).
///
/// # Errors
/// When a file is there but cannot be read.
pub(super) fn read(dir: &Path) -> io::Result<Edits> {
    let mut out = Edits::default();
    for f in &FILES {
        match std::fs::read_to_string(dir.join(f.name)) {
            Ok(text) => compare(f, &text, &mut out),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(name: &str, text: &str) -> Edits {
        let mut out = Edits::default();
        compare(
            FILES.iter().find(|f| f.name == name).unwrap(),
            text,
            &mut out,
        );
        out
    }

    #[test]
    fn ufws_own_files_change_nothing() {
        for f in &FILES {
            let e = edits(f.name, f.default);
            assert!(e.notes.is_empty(), "{}: {:?}", f.name, e.notes);
            assert!(e.settings.iter().all(|(_, s)| *s == Setting::Allow));
        }
    }

    #[test]
    fn the_two_common_edits_are_carried_over_and_the_rest_named() {
        let before = include_str!("ufw-before.rules")
            .replace(
                "-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT",
                "-A  ufw-before-input -p icmp --icmp-type echo-request -j DROP",
            )
            .replace("-A ufw-before-input -p udp --sport 67 --dport 68 -j ACCEPT\n", "")
            .replace(
                "-A ufw-before-input -j ufw-not-local\n",
                "-A ufw-before-input -j ufw-not-local\n-A ufw-before-input -s 198.51.100.9 -j DROP\n",
            )
            .replace("-A ufw-before-input -p udp -d 239.255.255.250 --dport 1900 -j ACCEPT\n", "");
        let e = edits("before.rules", &before);
        assert_eq!(
            e.settings,
            vec![(Switch::Ping, Setting::Deny), (Switch::Dhcp, Setting::Off)]
        );
        assert_eq!(e.notes.len(), 2, "{:?}", e.notes);
        assert!(e.notes[0].contains("'-A ufw-before-input -s 198.51.100.9 -j DROP'"));
        assert!(e.notes[0].starts_with("before.rules line "));
        assert!(e.notes[1].contains("--dport 1900") && e.notes[1].contains("removed"));
        let before6 = include_str!("ufw-before6.rules").replace(
            "--icmpv6-type echo-request -j ACCEPT\n-A ufw6-before-input -p icmpv6 --icmpv6-type router-solicitation",
            "--icmpv6-type echo-request -j REJECT\n-A ufw6-before-input -p icmpv6 --icmpv6-type router-solicitation",
        );
        // A LOG line before the DROP: the DROP decides, the LOG is named.
        let logged = include_str!("ufw-before.rules").replace(
            "-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT",
            "-A ufw-before-input -p icmp --icmp-type echo-request -j LOG\n\
             -A ufw-before-input -p icmp --icmp-type echo-request -j DROP\n\
             -A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT",
        );
        let e = edits("before.rules", &logged);
        assert_eq!(e.settings[0], (Switch::Ping, Setting::Deny));
        assert_eq!(e.notes.len(), 2, "{:?}", e.notes);
        assert!(e.notes.iter().any(|n| n.contains("-j LOG'")));
        assert!(
            e.notes
                .iter()
                .any(|n| n.contains("-j ACCEPT' (after the ping line"))
        );
        let e = edits("before6.rules", &before6);
        assert_eq!(e.settings[0], (Switch::Ping6, Setting::Deny));
        assert_eq!(e.settings[1], (Switch::Dhcp6, Setting::Allow));
        assert!(
            e.notes.len() == 1 && e.notes[0].contains("REJECT"),
            "{:?}",
            e.notes
        );
    }
}

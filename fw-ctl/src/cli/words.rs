//! ufw's case rules for command words, applied before clap sees them.
//!
//! ufw (frontend `parse_command`, parser `UFWParser.parse_command` and the
//! per-type parsers) finds a command by its lower-cased word and then lets
//! each parser decide: `ENABLE`, `Status VERBOSE`, `logging ON`, `default
//! DENY Incoming`, `app LIST`, `DELETE allow 22` and `INSERT 1 allow 22`
//! work; an action word (`ALLOW 22`, `delete ALLOW 22`) and rule keys must
//! be lower case. fw lower-cases exactly the words ufw does.

/// Commands whose own word ufw matches in any case.
const ANY_CASE: &[&str] = &[
    "enable", "disable", "reload", "reset", "version", "help", "status", "show", "logging",
    "default", "app", "rule", "insert", "delete", "prepend",
];

/// `args` (without the program name) with ufw's case-insensitive words
/// lower-cased: the leading `--dry-run`/`--force` (and ufw's `-f`), the
/// command word, and the words each command compares without case.
#[must_use]
pub fn ufw_case(mut args: Vec<String>) -> Vec<String> {
    let mut i = 0;
    while let Some(w) = args.get(i) {
        match w.to_lowercase().as_str() {
            "--dry-run" | "--force" => args[i] = w.to_lowercase(),
            "-f" => args[i] = "--force".into(),
            "--state-dir" | "--pin-dir" => i += 1,
            _ if w.starts_with("--state-dir=") || w.starts_with("--pin-dir=") => {}
            _ => break,
        }
        i += 1;
    }
    let Some(cmd) = args.get(i).map(|w| w.to_lowercase()) else {
        return args;
    };
    if !ANY_CASE.contains(&cmd.as_str()) {
        return args;
    }
    args[i] = cmd.clone();
    // The words after the command that ufw lower-cases too.
    let following = match cmd.as_str() {
        "status" | "show" | "logging" => 1,
        "default" => 2,
        "app"
            if args
                .get(i + 1)
                .is_some_and(|w| w.eq_ignore_ascii_case("default")) =>
        {
            2
        }
        "app" => 1,
        // `rule delete|insert|prepend ...`: the second word.
        "rule"
            if args.get(i + 1).is_some_and(|w| {
                matches!(w.to_lowercase().as_str(), "delete" | "insert" | "prepend")
            }) =>
        {
            1
        }
        _ => 0,
    };
    for k in i + 1..=i + following {
        if let Some(w) = args.get_mut(k) {
            *w = w.to_lowercase();
        }
    }
    // ufw reads only the words it needs of these and ignores the rest
    // (`logging on extra` is `logging on`); fw's own flags stay.
    let keep = match cmd.as_str() {
        "status" | "show" | "logging" => 2,
        "default" => 3,
        _ => usize::MAX,
    };
    if keep != usize::MAX {
        let mut k = 0;
        args = args
            .into_iter()
            .enumerate()
            .filter(|(j, w)| {
                if *j <= i || w.starts_with('-') {
                    return true;
                }
                k += 1;
                k < keep
            })
            .map(|(_, w)| w)
            .collect();
    }
    args
}

#[cfg(test)]
mod tests {
    use super::ufw_case;

    fn c(s: &str) -> String {
        ufw_case(s.split(' ').map(str::to_owned).collect()).join(" ")
    }

    #[test]
    fn lower_cases_what_ufw_does_and_nothing_else() {
        assert_eq!(c("ENABLE"), "enable");
        assert_eq!(c("--DRY-RUN Status VERBOSE"), "--dry-run status verbose");
        assert_eq!(c("-f reset"), "--force reset");
        assert_eq!(c("logging ON"), "logging on");
        assert_eq!(c("logging on extra words"), "logging on");
        assert_eq!(c("status numbered x -c"), "status numbered -c");
        assert_eq!(c("default deny incoming x"), "default deny incoming");
        assert_eq!(c("DEFAULT DENY Incoming"), "default deny incoming");
        assert_eq!(c("app default ALLOW"), "app default allow");
        assert_eq!(c("app INFO OpenSSH"), "app info OpenSSH");
        assert_eq!(c("DELETE allow 22"), "delete allow 22");
        assert_eq!(c("Rule INSERT 1 allow 22"), "rule insert 1 allow 22");
        assert_eq!(
            c("ALLOW 22"),
            "ALLOW 22",
            "ufw refuses an upper-case action"
        );
        assert_eq!(
            c("allow from ANY"),
            "allow from ANY",
            "the rule parser decides"
        );
        assert_eq!(
            c("--state-dir /X enable"),
            "--state-dir /X enable",
            "flag values are kept"
        );
    }
}

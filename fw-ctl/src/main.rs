//! fw-ctl: parse the command line, run it, print errors as `ERROR: ...`.
//!
//! Exit status: 0 success, 1 bad input (nothing changed), 2 system error.
//! Messages never carry raw control bytes: a bad token's newline or ESC
//! is shown escaped (`\\n`, `\\x1b`).

use std::process::ExitCode;

use clap::{Parser as _, error::ErrorKind};
use fw_ctl::{
    cli::{Cli, SyntaxError, UserError, run, usage::USAGE, words::ufw_case},
    output::escape,
};

/// ufw's answer to words that form no command: the error on stderr, a
/// blank line and the usage text on stdout, exit status 1.
fn invalid_syntax(e: &SyntaxError) -> ExitCode {
    eprintln!("ERROR: {}", escape(&e.to_string()));
    fw_ctl::out!("{USAGE}");
    ExitCode::from(1)
}

/// The word clap could not place, if it says.
fn clap_token(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    [
        ContextKind::InvalidSubcommand,
        ContextKind::InvalidArg,
        ContextKind::InvalidValue,
    ]
    .into_iter()
    .find_map(|k| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    })
}

fn main() -> ExitCode {
    // ufw's case rules first (`ENABLE`, `logging ON`); arguments that are
    // not UTF-8 go to clap as they are, which names them.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args: Vec<std::ffi::OsString> = match raw
        .get(1..)
        .unwrap_or_default()
        .iter()
        .map(|a| a.to_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
    {
        Some(words) => raw
            .first()
            .cloned()
            .into_iter()
            .chain(ufw_case(words).into_iter().map(Into::into))
            .collect(),
        None => raw,
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            return invalid_syntax(&SyntaxError(None));
        }
        Err(e) => return invalid_syntax(&SyntaxError(clap_token(&e))),
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            if let Some(s) = e.downcast_ref::<SyntaxError>() {
                return invalid_syntax(s);
            }
            if let Some(u) = e.downcast_ref::<UserError>() {
                eprintln!("ERROR: {}", escape(&u.to_string()));
                ExitCode::from(1)
            } else {
                eprintln!("ERROR: {}", escape(&format!("{e:#}")));
                ExitCode::from(2)
            }
        }
    }
}

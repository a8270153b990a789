//! fw-ctl: parse the command line, run it, print errors as `ERROR: ...`.
//!
//! Exit status: 0 success, 1 bad input (nothing changed), 2 system error.

use std::process::ExitCode;

use clap::Parser as _;
use fw_ctl::cli::{Cli, UserError, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            if let Some(u) = e.downcast_ref::<UserError>() {
                eprintln!("ERROR: {u}");
                ExitCode::from(1)
            } else {
                eprintln!("ERROR: {e:#}");
                ExitCode::from(2)
            }
        }
    }
}

//! Writing to stdout: every report goes through [`out!`] and [`outln!`],
//! which treat a closed pipe as the end of the reader's interest, as
//! ripgrep does: `fw-ctl status | head -1` exits 0 quietly instead of
//! panicking (Rust's `println!` panics on `EPIPE`).

use std::io::{self, Write as _};

/// Writes `args` to stdout. On a closed pipe (`EPIPE`) the process exits
/// with status 0 at once; other write errors are reported on stderr.
/// Called only after the command's changes are done (reports come last),
/// so exiting here never leaves a transaction half-way.
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(io::stderr(), "fw-ctl: cannot write to stdout: {e}");
    }
}

/// `print!` that survives a closed pipe (see [`write`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write(format_args!($($arg)*)) };
}

/// `println!` that survives a closed pipe (see [`write`]).
#[macro_export]
macro_rules! outln {
    () => { $crate::output::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Makes `text` safe to show on a terminal: control characters (newline,
/// ESC, DEL, C1) are written as `\n`, `\t`, `\x1b`, ...; everything else
/// is left as it is. Bad tokens in error messages go through this.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if c.is_control() => s.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_bytes_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("a\nb"), "a\\nb");
        assert_eq!(escape("\u{1b}[31mred"), "\\x1b[31mred");
        assert_eq!(escape("caf\u{e9} \u{7f}"), "caf\u{e9} \\x7f");
        assert_eq!(escape("plain 'x'"), "plain 'x'");
    }
}

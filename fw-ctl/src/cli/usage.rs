//! ufw's usage text, with fw-ctl's name, and the commands fw-ctl adds
//! (printed after ufw's `ERROR: Invalid syntax`, and by `fw-ctl help`).

/// The usage text: ufw 0.36.2's, then fw-ctl's own commands.
pub const USAGE: &str = include_str!("usage.txt");

/// Where fw-ctl's own section starts (ufw's text ends before it).
pub const FW_SECTION: &str = "fw-ctl commands:\n";

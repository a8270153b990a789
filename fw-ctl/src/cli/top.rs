//! `fw-ctl top`: a live view of the busiest rules and drop reasons, with
//! rates (packets/s, bits/s), for the operator watching an attack. Plain
//! ANSI output (works over ssh in any terminal); `q` or Ctrl-C quits (the
//! terminal is put in non-canonical mode without echo or signals while it
//! runs, and restored on the way out).

use std::{collections::HashMap, fmt::Write as _, io::Write as _, time::Duration};

use anyhow::Result;
use fw_common::{Direction, Reason, Verdict, stats::Counter};

use super::{Ctx, human_count, open_live};
use crate::{rule::display::canonical, state::StateDir};

/// The terminal in non-canonical mode, restored on drop.
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn enter() -> Self {
        // SAFETY: isatty and tcgetattr/tcsetattr on fd 0 with a valid termios.
        unsafe {
            if libc::isatty(0) != 1 {
                return Self(None);
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Self(None);
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Self(Some(saved))
        }
    }

    /// Waits up to `d` for a key; true when it asks to quit (q, Q, Ctrl-C).
    fn quit_within(&self, d: Duration) -> bool {
        if self.0.is_none() {
            std::thread::sleep(d);
            return false;
        }
        let mut fds = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut fds, 1, ms) } <= 0 {
            return false;
        }
        let mut buf = [0u8; 16];
        // SAFETY: reading into a buffer of its length.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        n > 0
            && buf[..n as usize]
                .iter()
                .any(|b| matches!(b, b'q' | b'Q' | 3))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restoring the saved attributes of fd 0.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}

fn bits(bytes_per_s: f64) -> String {
    let mut v = bytes_per_s * 8.0;
    for unit in ["b/s", "Kb/s", "Mb/s", "Gb/s"] {
        if v < 1000.0 || unit == "Gb/s" {
            return format!("{v:.1}{unit}");
        }
        v /= 1000.0;
    }
    unreachable!("the last unit returns")
}

fn rate(now: Counter, before: Option<Counter>, secs: f64) -> (f64, f64) {
    let b = before.unwrap_or(now);
    (
        now.packets.saturating_sub(b.packets) as f64 / secs,
        now.bytes.saturating_sub(b.bytes) as f64 / secs,
    )
}

/// `top [--interval S] [--iterations N] [--rows N]`.
pub(super) fn run(ctx: &Ctx, interval: f64, iterations: u64, rows: usize) -> Result<u8> {
    let term = RawTerminal::enter();
    let period = Duration::from_secs_f64(interval.max(0.1));
    let mut last_reasons: HashMap<(Reason, Direction, Verdict), Counter> = HashMap::new();
    let mut last_rules: HashMap<u32, Counter> = HashMap::new();
    let mut tick = 0u64;
    loop {
        let mut o = String::from("\x1b[H\x1b[2J");
        let _ = writeln!(
            o,
            "fw-ctl top: busiest rules and reasons every {interval}s (q or Ctrl-C to quit)\r"
        );
        let st = StateDir::open_locked(&ctx.state_dir)?.load()?;
        match open_live(ctx, &st)? {
            None => {
                let _ = writeln!(o, "Status: inactive\r");
            }
            Some(dp) => {
                let (n, cap) = dp.flows()?;
                let _ = writeln!(o, "Flows: {n} tracked of {cap}\r\n\r");
                let secs = period.as_secs_f64();
                let mut reasons = Vec::new();
                for r in Reason::ALL {
                    for d in Direction::ALL {
                        for v in [Verdict::Pass, Verdict::Drop] {
                            let c = dp.reason_counter(r, d, v)?;
                            if c.packets == 0 {
                                continue;
                            }
                            let (p, b) = rate(c, last_reasons.insert((r, d, v), c), secs);
                            reasons.push((p, b, r, d, v, c));
                        }
                    }
                }
                reasons.sort_by(|a, b| b.0.total_cmp(&a.0));
                let _ = writeln!(
                    o,
                    "{:<20} {:<4} {:<7} {:>10} {:>12} {:>12}\r",
                    "Reason", "Dir", "Verdict", "Pkts/s", "Bits/s", "Packets"
                );
                for (p, b, r, d, v, c) in reasons.iter().take(rows) {
                    let _ = writeln!(
                        o,
                        "{:<20} {:<4} {:<7} {:>10.1} {:>12} {:>12}\r",
                        r.as_str(),
                        d.as_str(),
                        v.as_str(),
                        p,
                        bits(*b),
                        human_count(c.packets)
                    );
                }
                let mut busiest = Vec::new();
                let ids: Vec<u32> = st.rules.iter().map(|r| r.id).collect();
                let counters = dp.rule_counters(&ids)?;
                for (i, (r, c)) in st.rules.iter().zip(counters).enumerate() {
                    let (p, b) = rate(c, last_rules.insert(r.id, c), secs);
                    busiest.push((p, b, i + 1, r, c));
                }
                busiest.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
                let _ = writeln!(
                    o,
                    "\r\n{:<5} {:>10} {:>12} {:>12}  Rule\r",
                    "Num", "Pkts/s", "Bits/s", "Packets"
                );
                for (p, b, num, r, c) in busiest.iter().take(rows) {
                    let _ = writeln!(
                        o,
                        "{:<5} {:>10.1} {:>12} {:>12}  {}\r",
                        num,
                        p,
                        bits(*b),
                        human_count(c.packets),
                        canonical(&r.rule)
                    );
                }
            }
        }
        let mut out = std::io::stdout();
        let _ = out.write_all(o.as_bytes());
        let _ = out.flush();
        tick += 1;
        if iterations != 0 && tick >= iterations {
            return Ok(0);
        }
        if term.quit_within(period) {
            let _ = out.write_all(b"\r\n");
            return Ok(0);
        }
    }
}

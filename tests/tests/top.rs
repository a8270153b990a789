//! `fw-ctl top` in a real terminal: tmux runs it (in the fw host's
//! namespace), traffic flows, the captured screen shows the busiest rule
//! and the drop reason with their rates, and `q` ends it cleanly.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use fw_tests::{
    fwctl::{FwCtl, Launch, binary, udp_exchange, udp_sockets},
    netns::Pair,
};

/// A private tmux server, killed on drop.
struct Tmux(String);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .output()
            .expect("tmux (cargo xtask setup installs it)")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn top_shows_rates_and_quits_on_q() {
    let pair = Pair::new("top");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["allow", "514/udp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    let tmux = Tmux(format!("fwtest-{}", std::process::id()));
    let done = fw.state.join("top.exit");
    // The exit code goes to a side file renamed into place: the shell's
    // `>` creates the file before it writes it, and the wait below must
    // never read it half-written.
    let script = format!(
        "nsenter --net={} env FW_STATE_DIR={} FW_PIN_DIR={} {} top --interval 1; \
         echo $? > {done}.tmp && mv {done}.tmp {done}",
        pair.host.path(),
        fw.state.display(),
        fw.pin_dir().display(),
        binary().display(),
        done = done.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "50",
        &script,
    ]);
    assert!(out.status.success(), "{out:?}");
    // Traffic while it watches: datagrams to the allowed port (new flows,
    // so the rule decides each) and to a denied one.
    let rx = udp_sockets(&pair.host, &[514]).remove(0);
    let start = Instant::now();
    let mut screen = String::new();
    while start.elapsed() < Duration::from_secs(20) {
        for _ in 0..5 {
            // Answered flows: the rule decides the first datagram, the
            // one after the host's answer is established.
            let _ = udp_exchange(&pair.client, "192.0.2.1:514".parse().unwrap(), &rx);
        }
        screen = String::from_utf8_lossy(&tmux.cmd(&["capture-pane", "-p", "-t", "top"]).stdout)
            .into_owned();
        let busy = screen.lines().any(|l| {
            l.contains("allow in proto udp from any to any port 514")
                && l.split_whitespace().nth(1).is_some_and(|r| r != "0.0")
        });
        if busy {
            break;
        }
    }
    assert!(screen.contains("fw-ctl top: busiest rules"), "{screen}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("port 514")
                && l.split_whitespace().nth(1).is_some_and(|r| r != "0.0")),
        "a rate for the busy rule:\n{screen}"
    );
    assert!(screen.contains("established"), "{screen}");
    tmux.cmd(&["send-keys", "-t", "top", "q"]);
    let start = Instant::now();
    while !done.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "top did not quit on q"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "0");
}

//! fail2ban bans through fw: a real fail2ban server (Debian's package),
//! started by the test inside the fw host's namespace with a private
//! configuration, watches a log file; repeated failures from the client's
//! address get it banned with fw's shipped action
//! (fw-ctl/fail2ban/action.d/fw-ctl.conf: a deny at the top of the rules),
//! its packets are dropped in XDP, and after the ban time the rule is
//! deleted again and the client gets through.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use fw_tests::{
    ChildGuard,
    fwctl::{Connect, FwCtl, Launch, binary, tcp_connect, tcp_listeners},
    netns::Pair,
};

const CLIENT: &str = "192.0.2.2";

/// Retries `f` every 250 ms for at most `limit`.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

#[test]
fn fail2ban_bans_and_unbans_through_fw() {
    let pair = Pair::new("f2b");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    let _service = tcp_listeners(&pair.host, &[2222]);
    fw.ok(&["allow", "2222/tcp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    let to = "192.0.2.1:2222".parse().unwrap();
    assert_eq!(tcp_connect(&pair.client, to), Connect::Connected);

    // fail2ban's private configuration: our action file as shipped, a
    // filter for the watched log's lines, one jail.
    let dir = fw.state.join("fail2ban");
    for sub in ["action.d", "filter.d"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("action.d/fw-ctl.conf"),
        include_str!("../../fw-ctl/fail2ban/action.d/fw-ctl.conf"),
    )
    .unwrap();
    std::fs::write(
        dir.join("filter.d/fwtest.conf"),
        "[Definition]\ndatepattern = ^{EPOCH}\nfailregex = Failed login for \\S+ from <HOST>$\n",
    )
    .unwrap();
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        dir.join("fail2ban.conf"),
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {}\nsocket = {}\npidfile = {}\n\
             dbfile = :memory:\n",
            dir.join("fail2ban.log").display(),
            dir.join("fail2ban.sock").display(),
            dir.join("fail2ban.pid").display(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("jail.conf"),
        format!(
            "[DEFAULT]\nbackend = polling\n\n[fwtest]\nenabled = true\nfilter = fwtest\n\
             logpath = {}\nmaxretry = 3\nfindtime = 60\nbantime = 6\n\
             action = fw-ctl[fwctl={}]\n",
            log.display(),
            binary().display()
        ),
    )
    .unwrap();
    let _server = ChildGuard(
        Command::new("nsenter")
            .arg(format!("--net={}", pair.host.path()))
            .args(["fail2ban-server", "-f", "-x", "-c"])
            .arg(&dir)
            .arg("-s")
            .arg(dir.join("fail2ban.sock"))
            .arg("-p")
            .arg(dir.join("fail2ban.pid"))
            // fw-ctl, as the action runs it, finds this instance.
            .env("FW_STATE_DIR", &fw.state)
            .env("FW_PIN_DIR", fw.pin_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fail2ban-server (Debian package fail2ban; cargo xtask setup installs it)"),
    );
    // Let the server start watching, then three failures.
    std::thread::sleep(Duration::from_secs(2));
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        for user in ["root", "admin", "oracle"] {
            writeln!(f, "{now} Failed login for {user} from {CLIENT}").unwrap();
        }
    }
    let rule = format!("deny in from {CLIENT}");
    // At the top of the list, as fail2ban's ufw action puts it.
    let banned = within(Duration::from_secs(30), || {
        fw.ok(&["status", "numbered"])
            .lines()
            .any(|l| l.starts_with("[ 1] Anywhere") && l.contains("DENY IN") && l.contains(CLIENT))
    });
    let f2b_log = || std::fs::read_to_string(dir.join("fail2ban.log")).unwrap_or_default();
    assert!(
        banned,
        "no ban in fw's rules: {}\n{}",
        fw.ok(&["status", "numbered"]),
        f2b_log()
    );
    assert!(
        fw.ok(&["show", "added"])
            .contains("comment 'by Fail2Ban after 3 attempts against fwtest'"),
        "{}",
        fw.ok(&["show", "added"])
    );
    // Dropped in XDP: the connection meets silence, counted on the rule.
    assert_eq!(tcp_connect(&pair.client, to), Connect::Silence, "banned");
    let counted = fw.rule_packets();
    assert!(
        counted.iter().any(|(r, n)| r.starts_with(&rule) && *n >= 1),
        "{counted:?}"
    );
    // After the ban time fail2ban deletes the rule: the client is back.
    let unbanned = within(Duration::from_secs(30), || {
        !fw.ok(&["status"]).contains(CLIENT)
    });
    assert!(
        unbanned,
        "still banned: {}\n{}",
        fw.ok(&["status"]),
        f2b_log()
    );
    assert_eq!(
        tcp_connect(&pair.client, to),
        Connect::Connected,
        "unbanned"
    );
}

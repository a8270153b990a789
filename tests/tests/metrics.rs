//! The Prometheus endpoint with Prometheus's own tools: `fw-ctl daemon`
//! runs in the fw host's namespace (as the shipped unit starts it), real traffic moves the counters,
//! `promtool check metrics` accepts the exposition, and a real Prometheus
//! server (Debian's), started on loopback in the same namespace, scrapes
//! the daemon and answers a query for the rule counter with the number of
//! flows the rule decided. The daemon survives the filter being disabled
//! and enabled under it, and stops cleanly on SIGTERM.

use std::{
    io::Write as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use fw_tests::{
    ChildGuard,
    fwctl::{FwCtl, Launch, http_get, udp_exchange, udp_sockets},
    netns::Pair,
};

/// fw-ctl's default metrics address (the shipped unit starts the daemon
/// with it; each test namespace has its own loopback).
const METRICS: &str = "127.0.0.1:9848";
const PROMETHEUS: &str = "127.0.0.1:19090";

/// Retries `f` every 200 ms for at most `limit`.
fn within<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of the sample whose line starts with `series` (name and
/// labels as the exposition prints them).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn prometheus_scrapes_the_rule_counters() {
    let pair = Pair::new("met");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["allow", "514/udp", "comment", "syslog"]);
    fw.ok(&["enable", "-i", "fw0"]);
    // As the shipped unit starts it.
    let unit = include_str!("../../fw-ctl/systemd/fw-daemon.service");
    let exec: Vec<&str> = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/local/sbin/fw-ctl "))
        .expect("ExecStart=/usr/local/sbin/fw-ctl ...")
        .split_whitespace()
        .collect();
    assert_eq!(
        exec,
        ["daemon"],
        "the unit runs the daemon with its defaults"
    );
    assert_eq!(fw_ctl::daemon::DEFAULT_METRICS_ADDRESS, METRICS);
    let daemon = ChildGuard(
        fw.command(&exec)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon"),
    );
    let scrape = || {
        within(Duration::from_secs(10), || {
            http_get(&pair.host, METRICS, "/metrics".into()).filter(|(s, _)| s.contains(" 200 "))
        })
        .expect("the daemon answers /metrics")
        .1
    };

    // Three flows (three sockets) to the allowed port, each answered by
    // the host: the rule decides each flow's first datagram; the one after
    // the answer passes as established.
    let rx = udp_sockets(&pair.host, &[514]).remove(0);
    for _ in 0..3 {
        assert!(udp_exchange(
            &pair.client,
            "192.0.2.1:514".parse().unwrap(),
            &rx
        ));
    }
    let rule = "fw_rule_packets_total{action=\"allow\",comment=\"syslog\",direction=\"in\",\
                family=\"ipv4\",id=\"0\",number=\"1\",\
                rule=\"allow in proto udp from any to any port 514\"}";
    let body = scrape();
    assert_eq!(sample(&body, rule), Some(3.0), "{body}");
    assert!(
        sample(
            &body,
            "fw_packets_total{direction=\"in\",reason=\"established\",verdict=\"pass\"}"
        )
        .is_some_and(|n| n >= 3.0)
    );
    assert_eq!(sample(&body, "fw_enabled"), Some(1.0));
    assert!(sample(&body, "fw_conntrack_entries").is_some_and(|n| n >= 3.0));

    // The same counters for scripts (`stats --json`) and sorted by load.
    let stats: serde_json::Value =
        serde_json::from_str(&fw.ok(&["stats", "--json"])).expect("stats --json is JSON");
    let first = &stats["rules"][0];
    assert_eq!(
        (
            first["number"].as_u64(),
            first["packets"].as_u64(),
            first["comment"].as_str()
        ),
        (Some(1), Some(3), Some("syslog")),
        "{stats}"
    );
    assert_eq!(first["rule"], "allow in proto udp from any to any port 514");
    assert!(stats["flows"]["tracked"].as_u64().is_some_and(|n| n >= 3));
    fw.ok(&["allow", "9/udp"]);
    let sorted = fw.ok(&["stats", "--sort", "packets", "--human"]);
    let rules: Vec<&str> = sorted
        .lines()
        .skip_while(|l| !l.starts_with("Num "))
        .skip(1)
        .collect();
    assert!(rules[0].contains("port 514"), "busiest first:\n{sorted}");
    assert!(
        rules[0]
            .split_whitespace()
            .nth(3)
            .is_some_and(|b| b.ends_with('B')),
        "{sorted}"
    );

    // promtool accepts the exposition as it is.
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; cargo xtask setup installs it)");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus server scrapes the daemon every second.
    let dir = fw.state.join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fw\n    \
             static_configs:\n      - targets: ['{METRICS}']\n"
        ),
    )
    .unwrap();
    let _prometheus = ChildGuard(
        Command::new("nsenter")
            .arg(format!("--net={}", pair.host.path()))
            .arg("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={PROMETHEUS}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    // fw_rule_packets_total{id="0"}, URL-encoded.
    let query = "/api/v1/query?query=fw_rule_packets_total%7Bid%3D%220%22%7D".to_owned();
    let answer = within(Duration::from_secs(45), || {
        let (_, body) = http_get(&pair.host, PROMETHEUS, query.clone())?;
        body.contains("\"value\":[").then_some(body)
    })
    .expect("Prometheus scraped the daemon and answers the query");
    assert!(answer.contains("\"job\":\"fw\""), "{answer}");
    assert!(
        answer.contains("\"value\":[") && answer.contains(",\"3\"]"),
        "{answer}"
    );

    // The daemon survives the filter going away and coming back.
    fw.ok(&["disable"]);
    assert_eq!(sample(&scrape(), "fw_enabled"), Some(0.0));
    fw.ok(&["enable", "-i", "fw0"]);
    let body = scrape();
    assert_eq!(sample(&body, "fw_enabled"), Some(1.0));
    assert!(body.contains("fw_rule_packets_total{"), "{body}");

    // SIGTERM: a clean exit.
    let mut daemon = daemon;
    // SAFETY: a plain kill(2) on our own child.
    unsafe { libc::kill(daemon.0.id() as i32, libc::SIGTERM) };
    let status = within(Duration::from_secs(10), || {
        daemon.0.try_wait().ok().flatten()
    })
    .expect("the daemon stops on SIGTERM");
    assert!(status.success(), "{status:?}");
}

/// Cardinality: `--aggregate-rules` sums the rule counters per action,
/// direction and family, whatever the number of rules.
#[test]
fn aggregated_rule_series_stay_few() {
    let pair = Pair::new("agg");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    for port in 2000..2040 {
        fw.ok(&["deny", &format!("{port}/tcp")]);
    }
    fw.ok(&["enable", "-i", "fw0"]);
    let _daemon = ChildGuard(
        fw.command(&[
            "daemon",
            "--metrics-address",
            METRICS,
            "--max-rule-series",
            "10",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon"),
    );
    let (_, body) = within(Duration::from_secs(10), || {
        http_get(&pair.host, METRICS, "/metrics".into())
    })
    .expect("the daemon answers");
    assert_eq!(sample(&body, "fw_rules"), Some(80.0));
    assert_eq!(sample(&body, "fw_rule_series_aggregated"), Some(1.0));
    let series = body
        .lines()
        .filter(|l| l.starts_with("fw_rule_packets_total{"))
        .count();
    assert_eq!(series, 2, "deny in, IPv4 and IPv6:\n{body}");
    assert!(
        body.contains("fw_rule_packets_total{action=\"deny\",direction=\"in\",family=\"ipv6\"} 0"),
        "{body}"
    );
}

//! The flow table is not an attack surface: a spoofed flood of new flows,
//! never answered, evicts no established connection, and a flood the
//! rules deny leaves no trace in the flow tables at all.
//!
//! Real connections and a real flood: 1,000 connections a client opens to
//! the host and 1,000 the host opens to the client, under `default deny`
//! both ways (so each direction's packets pass only as part of its tracked
//! flow), then 2,000,000 UDP frames from random spoofed sources
//! (198.18.0.0/16) and ports, generated as live XDP frames
//! (`fw_tests::flood`) into the client's end of the veth, to a UDP port the
//! rules allow; then every connection carries data both ways. The flow
//! table has its default capacity (262,144): a table that took a flow per
//! spoofed frame would have evicted every connection long before the end.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    time::Duration,
};

use aya::maps::{Array, MapData};
use fw_common::conntrack::CtPending;
use fw_tests::{
    flood::{Generator, Kind, Template, Vary, ethtool_stats, mac, pin_to_cpu},
    fwctl::{FwCtl, Launch},
    netns::Pair,
};

const CONNS: usize = 1000;
const FLOOD: u32 = 2_000_000;
/// Frames per generator run.
const CHUNK: u32 = 100_000;

/// Raises the open-file limit for 4,000 sockets.
fn more_files() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut r);
        r.rlim_cur = r.rlim_max.min(65_536);
        libc::setrlimit(libc::RLIMIT_NOFILE, &raw const r);
    }
}

/// Accepts `n` connections on `l` (bounded in time).
fn accept_all(l: &TcpListener, n: usize) -> Vec<TcpStream> {
    l.set_nonblocking(true).expect("nonblocking");
    let t0 = std::time::Instant::now();
    let mut v = Vec::new();
    while v.len() < n && t0.elapsed() < Duration::from_secs(20) {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                v.push(s);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    v
}

/// `n` connections from the namespace `ns` to `to`.
fn connect_all(ns: &fw_tests::netns::Netns, to: SocketAddr, n: usize) -> Vec<TcpStream> {
    ns.run(move || {
        (0..n)
            .map(|i| {
                TcpStream::connect_timeout(&to, Duration::from_secs(2))
                    .unwrap_or_else(|e| panic!("connection {i} to {to}: {e}"))
            })
            .collect()
    })
}

/// Sends one byte each way over every (a, b) pair; returns how many pairs
/// carried both.
fn both_ways(pairs: &mut [(TcpStream, TcpStream)]) -> usize {
    let mut ok = 0;
    for (i, (a, b)) in pairs.iter_mut().enumerate() {
        let byte = [(i % 251) as u8];
        let mut got = [0u8; 1];
        for s in [&*a, &*b] {
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
        }
        let there = a.write_all(&byte).is_ok() && b.read_exact(&mut got).is_ok() && got == byte;
        let back = b.write_all(&byte).is_ok() && a.read_exact(&mut got).is_ok() && got == byte;
        if there && back {
            ok += 1;
        }
    }
    ok
}

/// The pinned map file `name` below `dir`.
fn find_pin(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
        if p.is_dir()
            && let Some(f) = find_pin(&p, name)
        {
            return Some(f);
        }
    }
    None
}

/// The half-open records in use (a walk of the whole array).
fn half_open(fw: &FwCtl) -> usize {
    let path = find_pin(&fw.pin_dir(), "CT_PENDING").expect("CT_PENDING pinned");
    let a: Array<MapData, CtPending> = Array::try_from(aya::maps::Map::Array(
        MapData::from_pin(path).expect("open pin"),
    ))
    .expect("array");
    a.iter()
        .filter_map(Result::ok)
        .filter(|p| p.fp != 0)
        .count()
}

/// Tracked flows (`stats --json`).
fn tracked(fw: &FwCtl) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&fw.ok(&["stats", "--json"])).expect("json");
    v["flows"]["tracked"].as_u64().expect("tracked")
}

/// Floods the host's `port` with spoofed UDP frames from the client's end
/// of the veth until the host's veth has run XDP on `FLOOD` of them;
/// returns how many it ran XDP on.
fn flood(pair: &Pair, port: u16) -> u64 {
    let t = Template::new(
        (mac(&pair.client, "cl0"), mac(&pair.host, "fw0")),
        ([198, 18, 0, 0], 40000),
        ([192, 0, 2, 1], port),
        Kind::Udp,
        Vary::Spoofed,
    );
    let seen = |before: u64| ethtool_stats(&pair.host, "fw0")["rx_queue_0_xdp_packets"] - before;
    let before = ethtool_stats(&pair.host, "fw0")["rx_queue_0_xdp_packets"];
    let generator = pair.client.run(move || {
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(c"cl0".as_ptr()) };
        Generator::load(&t, ifindex).expect("generator")
    });
    let generator = std::sync::Arc::new(generator);
    // In chunks until the host has taken in FLOOD frames (a frame its veth
    // could not queue is not counted), within a bound of frames and time.
    let t0 = std::time::Instant::now();
    let mut offered = 0u64;
    while seen(before) < u64::from(FLOOD)
        && offered < 4 * u64::from(FLOOD)
        && t0.elapsed() < Duration::from_secs(60)
    {
        let g = std::sync::Arc::clone(&generator);
        pair.client.run(move || {
            // On one CPU, the host's veth takes the frames in that CPU's
            // softirq between the generator's batches.
            pin_to_cpu(1);
            g.offer(CHUNK).expect("offer");
        });
        offered += u64::from(CHUNK);
    }
    std::thread::sleep(Duration::from_millis(100));
    seen(before)
}

#[test]
fn a_spoofed_flood_evicts_no_established_connection() {
    more_files();
    let pair = Pair::new("exhaust");
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["default", "deny", "incoming"]);
    fw.ok(&["default", "deny", "outgoing"]);
    fw.ok(&["allow", "8000/tcp"]);
    fw.ok(&["allow", "9/udp"]);
    fw.ok(&[
        "allow",
        "out",
        "to",
        "192.0.2.2",
        "port",
        "9000",
        "proto",
        "tcp",
    ]);
    fw.ok(&["enable", "-i", "fw0"]);
    // A client's connections in, the host's out.
    let l_host = pair
        .host
        .run(|| TcpListener::bind("192.0.2.1:8000").expect("bind 8000"));
    let l_client = pair
        .client
        .run(|| TcpListener::bind("192.0.2.2:9000").expect("bind 9000"));
    // SAFETY: listen() on listening sockets we own: deeper backlogs.
    unsafe {
        use std::os::fd::AsRawFd as _;
        libc::listen(l_host.as_raw_fd(), 4096);
        libc::listen(l_client.as_raw_fd(), 4096);
    }
    let inbound = connect_all(&pair.client, "192.0.2.1:8000".parse().unwrap(), CONNS);
    let inbound_srv = accept_all(&l_host, CONNS);
    let outbound = connect_all(&pair.host, "192.0.2.2:9000".parse().unwrap(), CONNS);
    let outbound_srv = accept_all(&l_client, CONNS);
    assert_eq!(inbound_srv.len(), CONNS, "accepted in");
    assert_eq!(outbound_srv.len(), CONNS, "accepted out");
    let mut pairs: Vec<(TcpStream, TcpStream)> = inbound
        .into_iter()
        .zip(inbound_srv)
        .chain(outbound.into_iter().zip(outbound_srv))
        .collect();
    assert_eq!(both_ways(&mut pairs), 2 * CONNS, "before the flood");
    let flows = tracked(&fw);
    assert!(flows >= 2 * CONNS as u64, "{flows} flows tracked");

    // A flood the rules deny leaves no flow and no half-open record.
    let half = half_open(&fw);
    let seen = flood(&pair, 7);
    assert!(seen >= u64::from(FLOOD), "the host saw {seen} frames");
    assert_eq!(tracked(&fw), flows, "denied flood: flows");
    assert_eq!(half_open(&fw), half, "denied flood: half-open records");

    // A flood to the allowed port: half-open records churn, the flow
    // table does not.
    let seen = flood(&pair, 9);
    assert!(seen >= u64::from(FLOOD), "the host saw {seen} frames");
    let after = tracked(&fw);
    assert!(
        after <= flows + 16,
        "allowed flood: {after} flows tracked, {flows} before"
    );
    assert!(half_open(&fw) > 1000, "the flood's half-open records");
    assert_eq!(both_ways(&mut pairs), 2 * CONNS, "after the flood");
    // And the flood was what the rules say: counted, allowed, no more.
    let allowed = fw.reason_packets("rule", "in", "pass");
    assert!(
        allowed >= u64::from(FLOOD),
        "{allowed} packets passed by a rule"
    );
}

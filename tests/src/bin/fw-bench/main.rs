//! `cargo xtask bench`: the filter's cost per packet with BPF_PROG_TEST_RUN
//! at 10 .. 100,000 rules (the realistic mix of `fw_tests::workload`), IPv4
//! and IPv6, first match early, late and none, against an empty XDP program
//! timed in the same run; then rule-set apply times; then the stateful
//! paths (established flow, new flow) at 10,000 rules.
//!
//! Every timing is the kernel's own average over `REPEAT` runs of one
//! BPF_PROG_TEST_RUN call (median and minimum of `ROUNDS` calls); each probe's
//! verdict is checked against the reference classifier first.

mod flood;

use std::time::{Duration, Instant};

use fw_common::{Direction, Family};
use fw_ctl::{
    reference::classify,
    rule::{
        Action, StoredRule,
        compile::{Defaults, compile},
    },
};
use fw_tests::{
    empty::EmptyXdp,
    rig::{Rig, rules, test_ifaces},
    workload::{self, PROBES, Position},
};

const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];
const REPEAT: u32 = 1_000_000;
const ROUNDS: usize = 9;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Cell {
    rules: usize,
    family: Family,
    pos: Position,
    /// Medians.
    fw: f64,
    empty: f64,
    /// Minima (the least disturbed runs).
    fw_min: f64,
    empty_min: f64,
}

fn main() {
    let defaults = Defaults {
        incoming: Action::Deny,
        outgoing: Action::Allow,
        routed: Action::Deny,
    };
    let empty = EmptyXdp::load().expect("load the empty XDP program");
    if std::env::var_os("FW_BENCH_BANS_ONLY").is_some() {
        bans();
        return;
    }
    if std::env::var_os("FW_BENCH_TRACKING_ONLY").is_some() {
        stateful(&empty);
        routing();
        return;
    }
    if std::env::var_os("FW_BENCH_STATEFUL_ONLY").is_some() {
        stateful(&empty);
        routing();
        flood::run();
        bans();
        return;
    }
    if std::env::var_os("FW_BENCH_FLOOD_ONLY").is_some() {
        flood::run();
        return;
    }
    let mut rig = Rig::new();
    let mut cells = Vec::new();
    let mut loads = Vec::new();
    let sizes: Vec<usize> = std::env::var("FW_BENCH_SIZES").map_or_else(
        |_| SIZES.to_vec(),
        |v| {
            v.split(',')
                .map(|n| n.trim().parse().expect("FW_BENCH_SIZES"))
                .collect()
        },
    );
    for (name, (insns, jited, verified)) in
        [("fw_xdp", rig.xdp_size()), ("fw_tc_egress", rig.tc_size())]
    {
        println!(
            "{name}: {insns} instructions, {jited} bytes JITed; the verifier processed \
             {verified} instructions (limit 1,000,000)"
        );
    }
    println!();
    for &n in &sizes {
        let rules = workload::rules(n, 1);
        let t = Instant::now();
        let compiled = compile(&rules, defaults, &test_ifaces).expect("compile");
        let compile_time = t.elapsed();
        let ids: Vec<u32> = rules.iter().map(|r| r.id).collect();
        let report = rig.dp.apply(&compiled, &ids).expect("apply");
        loads.push((n, compile_time, report, compiled.shape_counts()));
        for family in [Family::V4, Family::V6] {
            for pos in Position::ALL {
                let mut frames = Vec::new();
                for k in 0..PROBES {
                    let pkt = workload::probe(family, pos, k);
                    let want = classify(&rules, defaults, &pkt.meta(Direction::In), &test_ifaces);
                    let expect_rule = match (pos, family) {
                        (Position::None, _) => None,
                        (Position::Early, Family::V4) => Some(0),
                        (Position::Early, Family::V6) => Some(n.div_ceil(2)),
                        (Position::Late, Family::V4) => Some(n.div_ceil(2) - 1),
                        (Position::Late, Family::V6) => Some(n - 1),
                    };
                    assert_eq!(want.position, expect_rule, "{n} {family:?} {pos:?} {k}");
                    let frame = pkt.bytes();
                    assert_eq!(
                        rig.verdict(Direction::In, &frame),
                        want.action.verdict(),
                        "{n} {family:?} {pos:?} {k}: verdict"
                    );
                    frames.push(frame);
                }
                // Each round: every probe for REPEAT / PROBES runs; the mean.
                let per = REPEAT / u32::from(PROBES);
                let mut fw = Vec::new();
                let mut base = Vec::new();
                for _ in 0..ROUNDS {
                    let (mut a, mut b) = (0.0, 0.0);
                    for frame in &frames {
                        a += rig.xdp_ns(frame, per);
                        b += f64::from(empty.test_run(frame, per).expect("empty").0);
                    }
                    fw.push(a / f64::from(PROBES));
                    base.push(b / f64::from(PROBES));
                }
                let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
                cells.push(Cell {
                    rules: n,
                    family,
                    pos,
                    fw_min: min(&fw),
                    empty_min: min(&base),
                    fw: median(fw),
                    empty: median(base),
                });
            }
        }
    }

    println!(
        "## Per-packet cost (BPF_PROG_TEST_RUN, XDP, ns/packet: mean over {PROBES} probe packets of {REPEAT}/{PROBES} runs each; median and minimum of {ROUNDS} such rounds)\n"
    );
    println!(
        "| rules | family | first match | fw | empty | fw - empty | min fw | min empty | min fw - min empty |"
    );
    println!(
        "|------:|--------|-------------|---:|------:|-----------:|-------:|----------:|-------------------:|"
    );
    let fam = |f: Family| if f == Family::V4 { "IPv4" } else { "IPv6" };
    for c in &cells {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            c.rules,
            fam(c.family),
            c.pos.name(),
            c.fw,
            c.empty,
            c.fw - c.empty,
            c.fw_min,
            c.empty_min,
            c.fw_min - c.empty_min
        );
    }
    let (lo, hi) = (sizes[0], sizes[sizes.len() - 1]);
    println!("\n## Scaling: cost at {hi} rules / cost at {lo} rules (medians; minima)\n");
    println!(
        "| family | first match | ratio of medians | ratio of minima | max median over empty | max min over min empty |"
    );
    println!(
        "|--------|-------------|-----------------:|----------------:|----------------------:|-----------------------:|"
    );
    for family in [Family::V4, Family::V6] {
        for pos in Position::ALL {
            let of = |n: usize| {
                cells
                    .iter()
                    .find(|c| c.rules == n && c.family == family && c.pos == pos)
                    .expect("cell")
            };
            let mine = || cells.iter().filter(|c| c.family == family && c.pos == pos);
            let over = mine().map(|c| c.fw - c.empty).fold(f64::MIN, f64::max);
            let over_min = mine()
                .map(|c| c.fw_min - c.empty_min)
                .fold(f64::MIN, f64::max);
            println!(
                "| {} | {} | {:.2} | {:.2} | {:.0} | {:.0} |",
                fam(family),
                pos.name(),
                of(hi).fw / of(lo).fw,
                of(hi).fw_min / of(lo).fw_min,
                over,
                over_min
            );
        }
    }

    println!("\n## Loading a rule set into an empty filter\n");
    println!("| rules | shapes in v4/v6 | entries v4/v6 | compile ms | build ms | switch ms |");
    println!("|------:|-----------------|---------------|-----------:|---------:|----------:|");
    for (n, c, r, s) in &loads {
        println!(
            "| {n} | {}/{} | {}/{} | {:.1} | {:.1} | {:.1} |",
            s[0],
            s[1],
            r.entries_v4,
            r.entries_v6,
            ms(*c),
            ms(r.build),
            ms(r.switch)
        );
    }

    // Applying one more rule (inserted first) to a 10,000-rule set, as
    // `fw-ctl insert 1 ...` does: compile everything, build the idle slot,
    // switch.
    let base_rules = workload::rules(10_000, 2);
    let ids: Vec<u32> = base_rules.iter().map(|r| r.id).collect();
    let c = compile(&base_rules, defaults, &test_ifaces).expect("compile");
    rig.dp.apply(&c, &ids).expect("apply 10k");
    let mut times = Vec::new();
    for round in 0..ROUNDS {
        let mut list = vec![StoredRule {
            id: 20_000 + round as u32,
            rule: rules(&[&format!("deny from 10.255.255.{round}")])[0]
                .rule
                .clone(),
        }];
        list.extend(base_rules.iter().cloned());
        let t = Instant::now();
        let c = compile(&list, defaults, &test_ifaces).expect("compile");
        let tc = t.elapsed();
        let r = rig.dp.apply(&c, &[list[0].id]).expect("apply");
        times.push((t.elapsed(), tc, r.build, r.switch));
        rig.dp
            .apply(
                &compile(&base_rules, defaults, &test_ifaces).expect("compile"),
                &[],
            )
            .expect("restore");
    }
    times.sort_by_key(|t| t.0);
    let (total, tc, build, switch) = times[times.len() / 2];
    println!("\n## Applying 1 rule to a 10,000-rule set (median of {ROUNDS})\n");
    println!(
        "total {:.1} ms = compile {:.1} ms + build {:.1} ms + switch {:.1} ms",
        ms(total),
        ms(tc),
        ms(build),
        ms(switch)
    );
    stateful(&empty);
    routing();
    flood::run();
    bans();
}

/// Bans at each size of the bans table.
const BAN_SIZES: [usize; 4] = [1_000, 5_000, 10_000, 30_000];

/// New TCP connections per second from the client to the host's port 22
/// (a listener accepting in the host namespace), for one second at most
/// and 50,000 connections at most; each is closed with a reset (linger 0)
/// so no TIME_WAIT piles up. Every SYN is a new connection: it meets the
/// rules (ufw's bans are linear iptables rules; established packets pass
/// before them).
fn connect_rate(pair: &fw_tests::netns::Pair) -> f64 {
    use std::{net::TcpStream, os::fd::AsRawFd};
    pair.client.run(|| {
        let t0 = Instant::now();
        let mut n = 0u32;
        while n < 50_000 && t0.elapsed() < Duration::from_secs(1) {
            let c = match TcpStream::connect_timeout(
                &"192.0.2.1:22".parse().unwrap(),
                Duration::from_millis(500),
            ) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("connect {n}: {e}");
                    break;
                }
            };
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: setsockopt on a socket we own, with a valid struct.
            unsafe {
                libc::setsockopt(
                    c.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&raw const linger).cast(),
                    size_of::<libc::linger>() as u32,
                );
            }
            n += 1;
        }
        f64::from(n) / t0.elapsed().as_secs_f64()
    })
}

/// An accepting listener on the host's port 22 (connections accepted and
/// dropped, so the backlog never fills); ends with the namespace.
fn accept_22(pair: &fw_tests::netns::Pair) {
    use std::os::fd::AsRawFd;
    let l = fw_tests::fwctl::tcp_listeners(&pair.host, &[22]).remove(0);
    // A queue deeper than std's 128, so a descheduled acceptor does not
    // drop SYNs (a second listen() resizes it).
    // SAFETY: listen on a listening socket we own.
    unsafe { libc::listen(l.as_raw_fd(), 4096) };
    std::thread::spawn(move || {
        for c in l.incoming() {
            drop(c);
        }
    });
}

/// `n` ban addresses (10.x.y.z), the client's (192.0.2.2) last.
fn ban_addrs(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n - 1)
        .map(|i| format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255))
        .collect();
    v.push("192.0.2.2".into());
    v
}

/// fail2ban's work at thousands of bans, fw against real ufw (the shipped
/// action's commands and ufw's, each in its own namespace with a live
/// filter): with N bans in place (written to the saved state as fail2ban
/// would have left them, then a reload: the boot path), the time of one
/// more ban (`prepend deny from IP to any comment ...`) and of an unban
/// (`delete deny from IP to any`), median of 5 each; and the host's rate
/// of new TCP connections from an unbanned client (the client's own ban
/// lifted first). Also checks that the banned client's SYN is dropped and
/// the unbanned one connects.
fn bans() {
    use fw_ctl::state::StateDir;
    use fw_tests::{
        fwctl::{Connect, FwCtl, Launch, tcp_connect},
        netns::Pair,
        ufw::Ufw,
    };
    println!(
        "\n## Bans at scale: fw-ctl against ufw 0.36.2 (the fail2ban actions' commands; ms, median of 5; new TCP connections/s)\n"
    );
    println!(
        "| bans | fw reload | fw ban | fw unban | fw conn/s | ufw reload | ufw ban | ufw unban | ufw conn/s |"
    );
    println!(
        "|-----:|---------:|-------:|---------:|----------:|-----------:|--------:|----------:|-----------:|"
    );
    let pair = Pair::new("bans");
    accept_22(&pair);
    let fw = FwCtl::new(&pair.host, Launch::Nsenter);
    fw.ok(&["allow", "22/tcp"]);
    fw.ok(&["enable", "-i", "fw0"]);
    let upair = Pair::new("bansufw");
    accept_22(&upair);
    let ufw = Ufw::new(&upair.host);
    let ufw_ok = |args: &[&str]| {
        let out = ufw.output(args);
        assert!(out.status.success(), "ufw {args:?}: {out:?}");
    };
    ufw_ok(&["allow", "22/tcp"]);
    ufw_ok(&["--force", "enable"]);
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        ms(t.elapsed())
    };
    // One more ban and its unban, 5 times: medians.
    let ban_unban = |ban: &dyn Fn(&str), unban: &dyn Fn(&str)| {
        let (mut b, mut u) = (Vec::new(), Vec::new());
        for k in 0..5 {
            let ip = format!("203.0.113.{}", 10 + k);
            b.push(time(&|| ban(&ip)));
            u.push(time(&|| unban(&ip)));
        }
        (median(b), median(u))
    };
    let comment = "by Fail2Ban after 3 attempts";
    for n in BAN_SIZES {
        let addrs = ban_addrs(n);
        // fw: the rules file, then reload.
        {
            let dir = StateDir::open_locked(&fw.state).expect("state dir");
            let mut st = dir.load().expect("state");
            let mut words: Vec<String> = addrs.iter().map(|a| format!("deny from {a}")).collect();
            words.push("allow 22/tcp".into());
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            st.rules = rules(&refs);
            dir.save(&st).expect("save");
        }
        let fw_reload = time(&|| {
            fw.ok(&["reload"]);
        });
        let (fw_ban, fw_unban) = ban_unban(
            &|ip| {
                fw.ok(&[
                    "prepend", "deny", "from", ip, "to", "any", "comment", comment,
                ]);
            },
            &|ip| {
                fw.ok(&["delete", "deny", "from", ip, "to", "any"]);
            },
        );
        assert_eq!(
            tcp_connect(&pair.client, "192.0.2.1:22".parse().unwrap()),
            Connect::Silence,
            "fw: the banned client"
        );
        fw.ok(&["delete", "deny", "from", "192.0.2.2"]);
        let fw_rate = connect_rate(&pair);
        // ufw: user.rules as ufw writes a ban, then reload.
        let user_rules = ufw.etc().join("ufw/user.rules");
        let text = std::fs::read_to_string(&user_rules).expect("user.rules");
        let begin = text.find("### RULES ###\n").expect("RULES") + "### RULES ###\n".len();
        let end = text
            .find("### tuple ### allow tcp 22 ")
            .expect("the allow rule");
        let mut bans = String::new();
        for a in &addrs {
            bans.push_str(&format!(
                "\n### tuple ### deny any any 0.0.0.0/0 any {a} in\n-A ufw-user-input -s {a} -j DROP\n"
            ));
        }
        bans.push('\n');
        std::fs::write(
            &user_rules,
            format!("{}{bans}{}", &text[..begin], &text[end..]),
        )
        .expect("write user.rules");
        let ufw_reload = time(&|| ufw_ok(&["reload"]));
        let (ufw_ban, ufw_unban) = ban_unban(
            &|ip| {
                ufw_ok(&[
                    "prepend", "deny", "from", ip, "to", "any", "comment", comment,
                ])
            },
            &|ip| ufw_ok(&["delete", "deny", "from", ip, "to", "any"]),
        );
        assert_eq!(
            tcp_connect(&upair.client, "192.0.2.1:22".parse().unwrap()),
            Connect::Silence,
            "ufw: the banned client"
        );
        ufw_ok(&["delete", "deny", "from", "192.0.2.2"]);
        let ufw_rate = connect_rate(&upair);
        println!(
            "| {n} | {fw_reload:.0} | {fw_ban:.0} | {fw_unban:.0} | {fw_rate:.0} | {ufw_reload:.0} | {ufw_ban:.0} | {ufw_unban:.0} | {ufw_rate:.0} |"
        );
    }
}

/// The cost of connection tracking at 10,000 rules (IPv4 and IPv6), for
/// each kind of traffic of the flood bench: a reply of a flow the host
/// opened (the established fast path), a new SYN and a new datagram the
/// rules deny (with tracking off beside them), and new allowed SYNs and
/// datagrams (4,096 distinct flows run once each, so the kernel's per-call
/// overhead is included; the datagrams also with tracking off).
fn stateful(empty: &EmptyXdp) {
    use fw_tests::packet::{L4, Pkt};
    let defaults = Defaults {
        incoming: Action::Deny,
        outgoing: Action::Allow,
        routed: Action::Deny,
    };
    let mut list = workload::rules(10_000, 3);
    let next = list.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    for (i, r) in rules(&["allow 7000/tcp", "allow 7002/udp"])
        .into_iter()
        .enumerate()
    {
        list.push(StoredRule {
            id: next + i as u32,
            rule: r.rule,
        });
    }
    list.sort_by_key(|r| r.rule.family == Family::V6);
    let mut rig = Rig::stateful();
    let ids: Vec<u32> = list.iter().map(|r| r.id).collect();
    rig.dp
        .apply(
            &compile(&list, defaults, &test_ifaces).expect("compile"),
            &ids,
        )
        .expect("apply");
    let time = |rig: &Rig, frame: &[u8]| {
        let mut fw = Vec::new();
        let mut base = Vec::new();
        for _ in 0..ROUNDS {
            fw.push(rig.xdp_ns(frame, REPEAT / 16));
            base.push(f64::from(
                empty.test_run(frame, REPEAT / 16).expect("empty").0,
            ));
        }
        let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
        (
            median(fw.clone()) - median(base.clone()),
            min(&fw) - min(&base),
        )
    };
    println!(
        "\n## Connection tracking at 10,000 rules (ns/packet over the empty program: median; minimum)\n"
    );
    println!(
        "| family | established reply | SYN, denied | same, logging off | same, tracking off | SYN, allowed (one run each) | UDP, denied | same, tracking off | UDP, allowed (one run each) | same, tracking off |"
    );
    println!(
        "|--------|------------------:|------------:|------------------:|-------------------:|----------------------------:|------------:|-------------------:|----------------------------:|-------------------:|"
    );
    for (host, peer) in [
        ("192.0.2.1", "203.0.113.77"),
        ("2001:db8:1::1", "2001:db8:99::77"),
    ] {
        let syn = Pkt::new(host, peer, L4::Tcp(41000, 443));
        assert_eq!(
            rig.verdict(Direction::Out, &syn.bytes()),
            fw_common::Verdict::Pass
        );
        let reply = syn.reply(0x12).bytes();
        assert_eq!(rig.verdict(Direction::In, &reply), fw_common::Verdict::Pass);
        let est = time(&rig, &reply);
        let denied = Pkt::new(peer, host, L4::Tcp(41001, 7001)).bytes();
        assert_eq!(
            rig.verdict(Direction::In, &denied),
            fw_common::Verdict::Drop
        );
        let new_denied = time(&rig, &denied);
        // The same with logging off: what judging the log (ufw's `low`
        // logs policy drops; past the burst each one is suppressed in the
        // kernel) costs a dropped packet.
        rig.dp
            .set_logging(fw_common::log::LOG_OFF)
            .expect("logging off");
        let quiet = time(&rig, &denied);
        rig.dp
            .set_logging(fw_common::log::LOG_LOW)
            .expect("logging low");
        let udp_denied = Pkt::new(peer, host, L4::Udp(41001, 7001)).bytes();
        assert_eq!(
            rig.verdict(Direction::In, &udp_denied),
            fw_common::Verdict::Drop
        );
        let udp_new_denied = time(&rig, &udp_denied);
        rig.dp.set_conntrack(false).expect("off");
        let off = time(&rig, &denied);
        let udp_off = time(&rig, &udp_denied);
        rig.dp.set_conntrack(true).expect("on");
        // New allowed flows, each once (distinct source ports, as a
        // spoofed flood's): TCP SYNs, UDP datagrams, and the datagrams
        // again with tracking off (other ports: nothing left of the first).
        let once = |rig: &Rig, l4: &dyn Fn(u16) -> L4| {
            let n = 4096u16;
            let mut total = 0.0;
            for k in 0..n {
                total += rig.xdp_ns(&Pkt::new(peer, host, l4(k)).bytes(), 1);
            }
            total / f64::from(n)
        };
        let syn_once = once(&rig, &|k| L4::Tcp(20000 + k, 7000));
        let udp_once = once(&rig, &|k| L4::Udp(20000 + k, 7002));
        rig.dp.set_conntrack(false).expect("off");
        let udp_once_off = once(&rig, &|k| L4::Udp(30000 + k, 7002));
        rig.dp.set_conntrack(true).expect("on");
        println!(
            "| {} | {:.0}; {:.0} | {:.0}; {:.0} | {:.0}; {:.0} | {:.0}; {:.0} | {:.0} (raw, per call) | {:.0}; {:.0} | {:.0}; {:.0} | {:.0} (raw) | {:.0} (raw) |",
            if host.contains(':') { "IPv6" } else { "IPv4" },
            est.0,
            est.1,
            new_denied.0,
            new_denied.1,
            quiet.0,
            quiet.1,
            off.0,
            off.1,
            syn_once,
            udp_new_denied.0,
            udp_new_denied.1,
            udp_off.0,
            udp_off.1,
            udp_once,
            udp_once_off
        );
    }
}

/// What the route lookup costs: XDP on a router rig's `fwin0` (ctx
/// ingress_ifindex) with the same 10,000 rules, for a packet to the host
/// with forwarding off (the FIB answers FWD_DISABLED at once) and on (a
/// full lookup that finds a local route), and for an established
/// forwarded flow; beside the same local packet through the loopback
/// device, where the program skips the lookup.
fn routing() {
    use fw_tests::packet::{L4, Pkt};
    let defaults = Defaults {
        incoming: Action::Allow,
        outgoing: Action::Allow,
        routed: Action::Allow,
    };
    let list = workload::rules(10_000, 3);
    let mut rig = Rig::stateful().with_router();
    let ids: Vec<u32> = list.iter().map(|r| r.id).collect();
    let compiled = rig.compile(&list, defaults);
    rig.dp.apply(&compiled, &ids).expect("apply");
    let router = rig.router.as_ref().expect("router");
    let ifin = router.ifin;
    let forwarding = |on: bool| {
        let v = if on { "1" } else { "0" };
        router.ns.sysctl(&[
            &format!("net.ipv4.ip_forward={v}"),
            &format!("net.ipv6.conf.all.forwarding={v}"),
        ]);
        // The data plane keeps the FIB's "forwarding disabled" for a tick.
        std::thread::sleep(std::time::Duration::from_millis(30));
    };
    let timed = |rig: &Rig, ifindex: u32, frame: &[u8]| {
        let v: Vec<f64> = (0..ROUNDS)
            .map(|_| rig.xdp_on_timed(ifindex, frame, REPEAT / 16).1)
            .collect();
        median(v)
    };
    println!("\n## Route lookup at 10,000 rules (ns/packet, median of {ROUNDS} runs)\n");
    println!(
        "| family | to the host via lo (no lookup) | to the host, forwarding off | to the host, forwarding on | forwarded, established |"
    );
    println!("|--------|-----:|-----:|-----:|-----:|");
    for (peer, host, beyond) in [
        ("192.0.2.7", "192.0.2.1", "203.0.113.7"),
        ("2001:db8:1::7", "2001:db8:1::1", "2001:db8:3::7"),
    ] {
        // An established flow to the host, and one through it.
        let local = Pkt::new(host, peer, L4::Tcp(443, 41000)).flags(0x02);
        let through = Pkt::new(peer, beyond, L4::Tcp(41000, 443)).flags(0x02);
        let local_reply = local.reply(0x12).bytes();
        forwarding(true);
        assert_eq!(
            rig.verdict(Direction::Out, &local.bytes()),
            fw_common::Verdict::Pass
        );
        assert_eq!(rig.xdp_on(ifin, &through.bytes()), fw_tests::rig::XDP_PASS);
        let through_ack = through.clone().flags(0x10).bytes();
        let lo = {
            let v: Vec<f64> = (0..ROUNDS)
                .map(|_| rig.xdp_ns(&local_reply, REPEAT / 16))
                .collect();
            median(v)
        };
        let on = timed(&rig, ifin, &local_reply);
        let fwd = timed(&rig, ifin, &through_ack);
        forwarding(false);
        let off = timed(&rig, ifin, &local_reply);
        forwarding(true);
        println!(
            "| {} | {lo:.0} | {off:.0} | {on:.0} | {fwd:.0} |",
            if host.contains(':') { "IPv6" } else { "IPv4" }
        );
    }
}

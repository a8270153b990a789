//! The flood bench: live frames (`fw_tests::flood`) into a veth whose
//! peer a receiver protects, one CPU doing all the work, every frame
//! accounted for by the receiver's own counters. Receivers, all in one
//! run: bare XDP_DROP (the floor), no filter, xdp-filter, nft's netdev
//! ingress hook, real ufw, fw at 10 .. 100,000 rules with tracking on and
//! off. Traffic: spoofed UDP to a denied and to an allowed port, spoofed
//! SYNs to a denied and to an allowed (listening) port, and 1,000
//! established TCP flows (real handshakes first).
//!
//! Beside the rates, one more run per cell with the kernel's BPF run
//! statistics on (`BPF_ENABLE_STATS`, held only for that run: the clock
//! reads it adds would slow the timed runs) gives the receiver's XDP
//! program time per frame, the part of a frame's cost its filter owns.
//!
//! Environment: `FW_FLOOD_FRAMES` (frames per run, default 2,000,000),
//! `FW_FLOOD_RUNS` (default 3), `FW_FLOOD_RECEIVERS` and `FW_FLOOD_KINDS`
//! (comma-separated names, to run a subset), `FW_FLOOD_JSON` (where the
//! results go; default `target/bench/flood.json`).

use std::{
    collections::BTreeMap,
    net::{TcpListener, TcpStream},
    os::fd::{AsRawFd as _, OwnedFd},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use fw_ctl::{rule::StoredRule, state::StateDir};
use fw_tests::{
    empty::EmptyXdp,
    flood::{Generator, Kind, Template, Vary, ethtool_stats, mac, pin_to_cpu, snmp, tcp_seqs},
    fwctl::{FwCtl, Launch},
    netns::{Netns, Pair, sh},
    rig::rules,
    ufw::Ufw,
};

/// The host's address (the receiver), the generator's.
const HOST: [u8; 4] = [192, 0, 2, 1];
const GEN: [u8; 4] = [192, 0, 2, 2];
/// Ports: UDP denied / allowed, TCP denied / allowed (a listener), the
/// established flows' server port.
const UDP_DENIED: u16 = 7;
const UDP_ALLOWED: u16 = 9;
const TCP_DENIED: u16 = 23;
const TCP_ALLOWED: u16 = 22;
const FLOWS_PORT: u16 = 8000;
const FLOWS: u16 = 1000;
const FLOWS_FIRST_PORT: u16 = 20000;
/// The CPU the generator (and so the receiver's softirq) runs on.
const CPU: usize = 1;

/// A kind of traffic.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Traffic {
    UdpDenied,
    UdpAllowed,
    SynDenied,
    SynAllowed,
    Established,
}

impl Traffic {
    const ALL: [Self; 5] = [
        Self::UdpDenied,
        Self::UdpAllowed,
        Self::SynDenied,
        Self::SynAllowed,
        Self::Established,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::UdpDenied => "udp-denied",
            Self::UdpAllowed => "udp-allowed",
            Self::SynDenied => "syn-denied",
            Self::SynAllowed => "syn-allowed",
            Self::Established => "established",
        }
    }

    fn title(self) -> String {
        match self {
            Self::UdpDenied => format!("spoofed UDP to a denied port ({UDP_DENIED}/udp)"),
            Self::UdpAllowed => {
                format!("spoofed UDP to an allowed port ({UDP_ALLOWED}/udp, no socket)")
            }
            Self::SynDenied => format!("spoofed SYNs to a denied port ({TCP_DENIED}/tcp)"),
            Self::SynAllowed => {
                format!("spoofed SYNs to an allowed port ({TCP_ALLOWED}/tcp, a listener)")
            }
            Self::Established => format!(
                "ACKs of {FLOWS} established TCP flows (to {FLOWS_PORT}/tcp, after real handshakes)"
            ),
        }
    }
}

/// A receiver configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Receiver {
    Floor,
    NoFilter,
    XdpFilter,
    Nft,
    Ufw(usize),
    Fw { rules: usize, tracking: bool },
}

impl Receiver {
    fn all() -> Vec<Self> {
        let mut v = vec![Self::Floor, Self::NoFilter, Self::XdpFilter, Self::Nft];
        for rules in [10, 10_000, 100_000] {
            for tracking in [true, false] {
                v.push(Self::Fw { rules, tracking });
            }
        }
        // Last: netfilter's conntrack, once loaded in the namespace, stays.
        v.extend([Self::Ufw(3), Self::Ufw(1_000)]);
        v
    }

    fn name(self) -> String {
        match self {
            Self::Floor => "floor".into(),
            Self::NoFilter => "nofilter".into(),
            Self::XdpFilter => "xdp-filter".into(),
            Self::Nft => "nft".into(),
            Self::Ufw(n) => format!("ufw-{n}"),
            Self::Fw { rules, tracking } => {
                format!("fw-{rules}{}", if tracking { "" } else { "-notrack" })
            }
        }
    }

    fn title(self) -> String {
        match self {
            Self::Floor => "bare native XDP_DROP (the floor)".into(),
            Self::NoFilter => "no filter (XDP_PASS, the kernel stack)".into(),
            Self::XdpFilter => "xdp-filter 1.3 (native; denied ports)".into(),
            Self::Nft => "nft netdev ingress (drop denied ports)".into(),
            Self::Ufw(n) => format!("ufw 0.36.2, {n} rules"),
            Self::Fw { rules, tracking } => format!(
                "fw, {rules} rules, {}",
                if tracking {
                    "stateful (as shipped)"
                } else {
                    "CONNTRACK=no"
                }
            ),
        }
    }
}

/// The lab: the receiver's namespace (`host`, `fw0`) and the
/// generator's (`client`, `cl0`), one veth pair between them.
struct Lab {
    pair: Pair,
    host_mac: [u8; 6],
    gen_mac: [u8; 6],
    gen_ifindex: u32,
}

impl Lab {
    fn new() -> Self {
        let pair = Pair::new("flood");
        // Replies to the spoofed sources go back out of fw0.
        pair.host
            .ip(&["route", "add", "default", "via", "192.0.2.2"]);
        let host_mac = mac(&pair.host, "fw0");
        let gen_mac = mac(&pair.client, "cl0");
        let gen_ifindex = pair.client.run(|| {
            // SAFETY: a NUL-terminated name.
            unsafe { libc::if_nametoindex(c"cl0".as_ptr()) }
        });
        Self {
            pair,
            host_mac,
            gen_mac,
            gen_ifindex,
        }
    }

    fn template(&self, t: Traffic) -> Template {
        let macs = (self.gen_mac, self.host_mac);
        let spoofed = [198, 18, 0, 0];
        let syn = Kind::Tcp {
            flags: 0x02,
            seq: 0x1234_5678,
            ack: 0,
        };
        match t {
            Traffic::UdpDenied => Template::new(
                macs,
                (spoofed, 40000),
                (HOST, UDP_DENIED),
                Kind::Udp,
                Vary::Spoofed,
            ),
            Traffic::UdpAllowed => Template::new(
                macs,
                (spoofed, 40000),
                (HOST, UDP_ALLOWED),
                Kind::Udp,
                Vary::Spoofed,
            ),
            Traffic::SynDenied => Template::new(
                macs,
                (spoofed, 40000),
                (HOST, TCP_DENIED),
                syn,
                Vary::Spoofed,
            ),
            Traffic::SynAllowed => Template::new(
                macs,
                (spoofed, 40000),
                (HOST, TCP_ALLOWED),
                syn,
                Vary::Spoofed,
            ),
            Traffic::Established => Template::new(
                macs,
                (GEN, FLOWS_FIRST_PORT),
                (HOST, FLOWS_PORT),
                Kind::Tcp {
                    flags: 0x10,
                    seq: 0,
                    ack: 0,
                },
                Vary::Flows {
                    first: FLOWS_FIRST_PORT,
                    count: FLOWS,
                },
            ),
        }
    }
}

/// What a receiver leaves in place while it runs; dropped in order.
struct Installed {
    xdp: Option<(EmptyXdp, OwnedFd)>,
    fw: Option<FwCtl>,
    ufw: Option<Ufw>,
    cleanup: Vec<Vec<String>>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        for c in &self.cleanup {
            let _ = std::process::Command::new(&c[0]).args(&c[1..]).output();
        }
    }
}

/// The rules every filtering receiver has: `bans` deny-from /32 rules
/// (10.x.y.z), then the allows.
fn fw_rule_words(bans: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..bans)
        .map(|i| {
            format!(
                "deny from 10.{}.{}.{}",
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            )
        })
        .collect();
    v.push(format!("allow {UDP_ALLOWED}/udp"));
    v.push(format!("allow {TCP_ALLOWED}/tcp"));
    v.push(format!("allow {FLOWS_PORT}/tcp"));
    v
}

fn nsenter(ns: &Netns, args: &[&str]) -> Vec<String> {
    let mut v = vec!["nsenter".to_string(), format!("--net={}", ns.path())];
    v.extend(args.iter().map(|s| (*s).to_string()));
    v
}

fn run_strings(v: &[String]) {
    let refs: Vec<&str> = v.iter().map(String::as_str).collect();
    sh(&refs);
}

fn install(lab: &Lab, r: Receiver) -> Installed {
    let host = &lab.pair.host;
    let mut inst = Installed {
        xdp: None,
        fw: None,
        ufw: None,
        cleanup: Vec::new(),
    };
    let pass = || Some(EmptyXdp::pass_on(host, c"fw0"));
    match r {
        Receiver::Floor => {
            inst.xdp = Some(host.run(|| {
                let p = EmptyXdp::returning(1).expect("XDP_DROP");
                // SAFETY: a NUL-terminated name.
                let i = unsafe { libc::if_nametoindex(c"fw0".as_ptr()) };
                let l = p.attach(i).expect("attach XDP_DROP");
                (p, l)
            }));
        }
        Receiver::NoFilter => inst.xdp = pass(),
        Receiver::XdpFilter => {
            let libxdp_dir = std::path::Path::new("/sys/fs/bpf/xdp").exists();
            run_strings(&nsenter(
                host,
                &["xdp-filter", "load", "-m", "native", "fw0"],
            ));
            inst.cleanup
                .push(nsenter(host, &["xdp-filter", "unload", "fw0"]));
            // libxdp's pin dir, if xdp-filter made it (rmdir leaves it
            // when anything else still uses it).
            if !libxdp_dir {
                inst.cleanup
                    .push(["rmdir", "/sys/fs/bpf/xdp"].map(String::from).to_vec());
            }
            for (port, proto) in [(UDP_DENIED, "udp"), (TCP_DENIED, "tcp")] {
                run_strings(&nsenter(
                    host,
                    &["xdp-filter", "port", "-p", proto, &port.to_string()],
                ));
            }
        }
        Receiver::Nft => {
            inst.xdp = pass();
            let ruleset = format!(
                "table netdev fwbench {{\n chain in {{\n  type filter hook ingress device fw0 priority 0; policy accept;\n  udp dport {UDP_DENIED} counter drop\n  tcp dport {TCP_DENIED} counter drop\n }}\n}}\n"
            );
            let file = std::env::temp_dir().join(format!("fw-bench-nft-{}", std::process::id()));
            std::fs::write(&file, ruleset).expect("nft file");
            run_strings(&nsenter(host, &["nft", "-f", &file.display().to_string()]));
            let _ = std::fs::remove_file(file);
            inst.cleanup.push(nsenter(
                host,
                &["nft", "delete", "table", "netdev", "fwbench"],
            ));
        }
        Receiver::Ufw(n) => {
            inst.xdp = pass();
            let ufw = Ufw::new(host);
            let ok = |args: &[&str]| {
                let out = ufw.output(args);
                assert!(out.status.success(), "ufw {args:?}: {out:?}");
            };
            for p in [
                format!("{UDP_ALLOWED}/udp"),
                format!("{TCP_ALLOWED}/tcp"),
                format!("{FLOWS_PORT}/tcp"),
            ] {
                ok(&["allow", &p]);
            }
            ok(&["--force", "enable"]);
            inst.cleanup.push(
                [
                    "ip", "netns", "exec", &host.name, "ufw", "--force", "disable",
                ]
                .map(String::from)
                .to_vec(),
            );
            if n > 3 {
                // Bans ahead of the allows, as fail2ban prepends them.
                let path = ufw.etc().join("ufw/user.rules");
                let text = std::fs::read_to_string(&path).expect("user.rules");
                let at = text.find("### RULES ###\n").expect("RULES") + "### RULES ###\n".len();
                let mut bans = String::new();
                for i in 0..n - 3 {
                    let a = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
                    bans.push_str(&format!(
                        "\n### tuple ### deny any any 0.0.0.0/0 any {a} in\n-A ufw-user-input -s {a} -j DROP\n"
                    ));
                }
                std::fs::write(&path, format!("{}{bans}{}", &text[..at], &text[at..]))
                    .expect("user.rules");
                ok(&["reload"]);
            }
            inst.ufw = Some(ufw);
        }
        Receiver::Fw { rules: n, tracking } => {
            let fw = FwCtl::new(host, Launch::Nsenter);
            fw.ok(&["default", "deny", "incoming"]);
            {
                let dir = StateDir::open_locked(&fw.state).expect("state dir");
                let mut st = dir.load().expect("state");
                let words = fw_rule_words(n - 3);
                let refs: Vec<&str> = words.iter().map(String::as_str).collect();
                let list: Vec<StoredRule> = rules(&refs);
                st.rules = list;
                dir.save(&st).expect("save");
            }
            if !tracking {
                let conf = fw.state.join("fw.conf");
                let text = std::fs::read_to_string(&conf).expect("fw.conf");
                std::fs::write(&conf, text.replace("CONNTRACK=yes", "CONNTRACK=no"))
                    .expect("fw.conf");
            }
            fw.ok(&["enable", "-i", "fw0"]);
            inst.fw = Some(fw);
        }
    }
    inst
}

/// The receiver's counters that account for frames.
#[derive(Default, Clone, Copy)]
struct Counts {
    /// Frames its XDP program ran on, and dropped (the veth's own).
    xdp_packets: u64,
    xdp_drops: u64,
    /// Frames the veth dropped before any program (ring full), and the
    /// generator's side could not hand over.
    rx_drops: u64,
    xmit_errors: u64,
    /// Packets that reached IPv4 (`Ip.InReceives`).
    ip_in: u64,
    /// nft's drop counters.
    nft_drops: u64,
    /// fw's own counters: packets in, and flows tracked.
    fw_in: u64,
    fw_flows: u64,
}

fn nft_drops(host: &Netns) -> u64 {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", host.path()))
        .args(["nft", "list", "table", "netdev", "fwbench"])
        .output();
    let Ok(out) = out else { return 0 };
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "packets")
        .filter_map(|w| w[1].parse::<u64>().ok())
        .sum()
}

/// fw's own count of packets in (all reasons) and its tracked flows.
fn fw_counts(fw: &FwCtl) -> (u64, u64) {
    let v: serde_json::Value =
        serde_json::from_str(&fw.ok(&["stats", "--json"])).expect("stats --json");
    let fin = v["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["direction"] == "in")
                .filter_map(|r| r["packets"].as_u64())
                .sum()
        })
        .unwrap_or(0);
    (fin, v["flows"]["tracked"].as_u64().unwrap_or(0))
}

fn counts(lab: &Lab, inst: &Installed) -> Counts {
    let rx = ethtool_stats(&lab.pair.host, "fw0");
    let tx = ethtool_stats(&lab.pair.client, "cl0");
    let g = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let (fw_in, fw_flows) = inst.fw.as_ref().map_or((0, 0), fw_counts);
    Counts {
        xdp_packets: g(&rx, "rx_queue_0_xdp_packets"),
        xdp_drops: g(&rx, "rx_queue_0_xdp_drops"),
        rx_drops: g(&rx, "rx_queue_0_drops"),
        xmit_errors: g(&tx, "tx_queue_0_xdp_xmit_errors"),
        ip_in: g(&snmp(&lab.pair.host), "Ip.InReceives"),
        nft_drops: nft_drops(&lab.pair.host),
        fw_in,
        fw_flows,
    }
}

/// A receiver's runs, per kind of traffic, with its XDP program's ns per
/// frame (BPF run statistics), if measured.
type Row = (Receiver, Vec<(Traffic, Vec<Run>, Option<f64>)>);

/// Run time (ns) and runs of every XDP program on the machine but the
/// generator's: the receiver's (a dispatcher counts its extensions).
fn xdp_run_stats() -> (u64, u64) {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| {
            p.program_type() == aya_obj::generated::bpf_prog_type::BPF_PROG_TYPE_XDP
                && p.name_as_str() != Some("fw_floodg")
        })
        .fold((0, 0), |(t, n), p| {
            (t + p.run_time().as_nanos() as u64, n + p.run_count())
        })
}

/// The receiver's XDP program time per frame over one run of `frames`,
/// with the kernel's run statistics on for that run only.
fn prog_ns(
    lab: &Lab,
    inst: &Installed,
    generator: &Arc<Mutex<Generator>>,
    frames: u32,
) -> Option<f64> {
    let _on = aya::sys::enable_stats(aya::sys::Stats::RunTime).ok()?;
    let (t0, n0) = xdp_run_stats();
    let _ = one_run(lab, inst, generator, frames);
    let (t1, n1) = xdp_run_stats();
    (n1 > n0).then(|| (t1 - t0) as f64 / (n1 - n0) as f64)
}

/// One run's result.
#[derive(Clone)]
struct Run {
    mpps: f64,
    valid: bool,
    why: String,
    flows_after: u64,
}

/// Offers `frames` frames of `gen` and checks that the receiver accounts
/// for every one.
fn one_run(lab: &Lab, inst: &Installed, generator: &Arc<Mutex<Generator>>, frames: u32) -> Run {
    let before = counts(lab, inst);
    let g = Arc::clone(generator);
    let took = lab.pair.client.run(move || {
        pin_to_cpu(CPU);
        g.lock().expect("generator").offer(frames).expect("offer")
    });
    // The last batch's softirq has run by the time the call returns; a
    // moment more for anything a ksoftirqd took over.
    std::thread::sleep(Duration::from_millis(50));
    let after = counts(lab, inst);
    let d = |f: fn(&Counts) -> u64| f(&after).wrapping_sub(f(&before));
    let offered = u64::from(frames);
    let xdp = d(|c| c.xdp_packets);
    let taken = d(|c| c.xdp_drops) + d(|c| c.ip_in) + d(|c| c.nft_drops);
    let mut why = Vec::new();
    // (A frame or two of the hosts' own, ARP say, may join in.)
    if xdp < offered || xdp > offered + offered / 1000 {
        why.push(format!("the veth ran XDP on {xdp} of {offered} frames"));
    }
    if d(|c| c.rx_drops) + d(|c| c.xmit_errors) != 0 {
        why.push(format!(
            "{} frames lost in the veth",
            d(|c| c.rx_drops) + d(|c| c.xmit_errors)
        ));
    }
    // Every frame was dropped by XDP or nft, or reached IPv4 (the
    // stack's answers are the host's own, not counted here).
    if taken < offered || taken > offered + offered / 100 {
        why.push(format!(
            "XDP drops + nft drops + IPv4 in = {taken} of {offered}"
        ));
    }
    if inst.fw.is_some() && (d(|c| c.fw_in) < offered || d(|c| c.fw_in) > offered + offered / 1000)
    {
        why.push(format!("fw counted {} of {offered} in", d(|c| c.fw_in)));
    }
    Run {
        mpps: offered as f64 / took.as_secs_f64() / 1e6,
        valid: why.is_empty(),
        why: why.join("; "),
        flows_after: after.fw_flows,
    }
}

/// Established flows: `FLOWS` connections from the generator's namespace
/// to the host's `FLOWS_PORT`, each from its own port, with their
/// sequence numbers loaded into the generator. Returns what must stay
/// open (the server's ends).
fn establish(lab: &Lab, generator: &Generator) -> Vec<TcpStream> {
    let listener: TcpListener = lab.pair.host.run(|| {
        let l = TcpListener::bind(("192.0.2.1", FLOWS_PORT)).expect("bind flows port");
        // SAFETY: listen on a listening socket we own.
        unsafe { libc::listen(l.as_raw_fd(), 4096) };
        l
    });
    let seqs: Vec<(u32, u32)> = lab.pair.client.run(|| {
        let mut v = Vec::new();
        for i in 0..FLOWS {
            let s = connect_from(FLOWS_FIRST_PORT + i);
            let (snd, rcv) = tcp_seqs(s.as_raw_fd()).expect("TCP_REPAIR");
            v.push((snd, rcv));
            // In repair mode: it closes without a word.
            drop(s);
        }
        v
    });
    let mut servers = Vec::new();
    listener.set_nonblocking(true).expect("nonblocking");
    while let Ok((s, _)) = listener.accept() {
        servers.push(s);
    }
    assert_eq!(servers.len(), usize::from(FLOWS), "accepted flows");
    for (i, (snd, rcv)) in seqs.into_iter().enumerate() {
        generator.set_flow(i as u32, snd, rcv).expect("set flow");
    }
    servers
}

/// A TCP connection from the generator's address and `port` to the
/// host's flows port.
fn connect_from(port: u16) -> TcpStream {
    // SAFETY: plain socket calls on a socket we own; sockaddr_in is
    // initialised field by field.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let one = 1i32;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&raw const one).cast(),
            4,
        );
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as u16;
        a.sin_port = port.to_be();
        a.sin_addr.s_addr = u32::from_ne_bytes(GEN);
        let rc = libc::bind(
            fd,
            (&raw const a).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(rc, 0, "bind {port}: {}", std::io::Error::last_os_error());
        let s = <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd);
        let mut b: libc::sockaddr_in = std::mem::zeroed();
        b.sin_family = libc::AF_INET as u16;
        b.sin_port = FLOWS_PORT.to_be();
        b.sin_addr.s_addr = u32::from_ne_bytes(HOST);
        let rc = libc::connect(
            fd,
            (&raw const b).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(
            rc,
            0,
            "connect from {port}: {}",
            std::io::Error::last_os_error()
        );
        s
    }
}

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
}

/// Runs the flood bench and prints its tables.
pub(crate) fn run() {
    let frames: u32 = std::env::var("FW_FLOOD_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let runs: usize = std::env::var("FW_FLOOD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let want_r = env_list("FW_FLOOD_RECEIVERS");
    let want_t = env_list("FW_FLOOD_KINDS");
    let receivers: Vec<Receiver> = Receiver::all()
        .into_iter()
        .filter(|r| want_r.as_ref().is_none_or(|w| w.contains(&r.name())))
        .collect();
    let kinds: Vec<Traffic> = Traffic::ALL
        .into_iter()
        .filter(|t| {
            want_t
                .as_ref()
                .is_none_or(|w| w.iter().any(|n| n == t.name()))
        })
        .collect();
    let lab = Lab::new();
    // The allowed SYN port listens (accepting and dropping, so the
    // backlog never fills with real connections; the flood's half-open
    // ones go to SYN cookies).
    let l22 = fw_tests::fwctl::tcp_listeners(&lab.pair.host, &[TCP_ALLOWED]).remove(0);
    std::thread::spawn(move || {
        for c in l22.incoming() {
            drop(c);
        }
    });
    let gens: Vec<(Traffic, Arc<Mutex<Generator>>)> = kinds
        .iter()
        .map(|&t| {
            let tpl = lab.template(t);
            let ifindex = lab.gen_ifindex;
            let g = lab
                .pair
                .client
                .run(move || Generator::load(&tpl, ifindex).expect("load the generator"));
            (t, Arc::new(Mutex::new(g)))
        })
        .collect();
    // results[receiver][kind] = runs
    let mut results: Vec<Row> = Vec::new();
    for &r in &receivers {
        eprintln!("flood: {}", r.title());
        let inst = install(&lab, r);
        let mut row = Vec::new();
        for (t, generator) in &gens {
            // The floor drops everything, the handshakes too.
            let _servers = (*t == Traffic::Established && r != Receiver::Floor)
                .then(|| establish(&lab, &generator.lock().expect("generator")));
            // Warm up: caches, tables, SYN cookies.
            let _ = one_run(&lab, &inst, generator, frames / 10);
            let v: Vec<Run> = (0..runs)
                .map(|_| one_run(&lab, &inst, generator, frames))
                .collect();
            let ns = prog_ns(&lab, &inst, generator, frames / 4);
            row.push((*t, v, ns));
        }
        drop(inst);
        results.push((r, row));
    }
    report(&results, frames, runs);
}

fn stats(v: &[Run]) -> Option<(f64, f64, f64)> {
    let mut m: Vec<f64> = v.iter().filter(|r| r.valid).map(|r| r.mpps).collect();
    if m.len() != v.len() || m.is_empty() {
        return None;
    }
    m.sort_by(f64::total_cmp);
    Some((m[0], m[m.len() / 2], m[m.len() - 1]))
}

fn report(results: &[Row], frames: u32, runs: usize) {
    use serde_json::json;
    println!(
        "\n## Floods: live XDP frames into a veth, one CPU (Mpps: min / median / max of {runs} runs of {frames} frames; every frame accounted for by the receiver's counters)\n"
    );
    let floor = |t: Traffic| {
        results
            .iter()
            .find(|(r, _)| *r == Receiver::Floor)
            .and_then(|(_, row)| row.iter().find(|(k, _, _)| *k == t))
            .and_then(|(_, v, _)| stats(v))
            .map(|s| s.1)
    };
    let mut json_rows = Vec::new();
    let kinds: Vec<Traffic> = results
        .first()
        .map(|(_, row)| row.iter().map(|(t, _, _)| *t).collect())
        .unwrap_or_default();
    for t in kinds {
        println!("### {}\n", t.title());
        println!(
            "| receiver | Mpps (min / median / max) | x floor | ns/frame over the floor | XDP program ns/frame | fw flows after |"
        );
        println!(
            "|----------|--------------------------:|--------:|------------------------:|---------------------:|---------------:|"
        );
        for (r, row) in results {
            let Some((_, v, ns)) = row.iter().find(|(k, _, _)| *k == t) else {
                continue;
            };
            let flows = v.last().map_or(0, |x| x.flows_after);
            let flows = if matches!(r, Receiver::Fw { .. }) {
                flows.to_string()
            } else {
                "-".into()
            };
            let prog = ns.map_or_else(|| "-".into(), |x| format!("{x:.0}"));
            match stats(v) {
                Some((lo, med, hi)) => {
                    let (ratio, over) = floor(t).map_or(("-".into(), "-".into()), |f| {
                        (
                            format!("{:.2}", med / f),
                            format!("{:+.0}", 1e3 / med - 1e3 / f),
                        )
                    });
                    println!(
                        "| {} | {lo:.2} / {med:.2} / {hi:.2} | {ratio} | {over} | {prog} | {flows} |",
                        r.title()
                    );
                }
                None => {
                    let why: Vec<&str> = v
                        .iter()
                        .filter(|x| !x.valid)
                        .map(|x| x.why.as_str())
                        .collect();
                    println!(
                        "| {} | invalid: {} | - | - | {prog} | {flows} |",
                        r.title(),
                        why.first().copied().unwrap_or("")
                    );
                }
            }
            json_rows.push(json!({
                "traffic": t.name(),
                "receiver": r.name(),
                "xdp_program_ns_per_frame": ns,
                "runs": v.iter().map(|x| json!({
                    "mpps": x.mpps, "valid": x.valid, "why": x.why, "fw_flows_after": x.flows_after,
                })).collect::<Vec<_>>(),
            }));
        }
        println!();
    }
    let path = std::env::var_os("FW_FLOOD_JSON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench/flood.json"),
        PathBuf::from,
    );
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let doc = json!({ "frames_per_run": frames, "runs": runs, "results": json_rows });
    match std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    ) {
        Ok(()) => println!("(saved to {})", path.display()),
        Err(e) => eprintln!("flood: cannot save {}: {e}", path.display()),
    }
}

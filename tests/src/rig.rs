//! A loaded data plane under unique pins, driven by BPF_PROG_TEST_RUN.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use crate::netns::Netns;
use aya::programs::{SchedClassifier, TestRun, TestRunOptions, TestRunResult, Xdp};
use aya_obj::programs::XdpAttachType;
use fw_common::{
    Direction, Reason, Verdict,
    maps::{PROG_TC_EGRESS, PROG_XDP},
    stats::Counter,
};
use fw_ctl::{
    loader::{ApplyReport, Dataplane, Pins, pins::resolve_root},
    rule::{
        Action, Family, StoredRule,
        compile::{Compiled, Defaults, compile},
        parse::{NoApps, NoServices, parse_rule_with},
    },
};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// What a program did with one packet ([`Rig::outcome`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Pass,
    /// Dropped without an answer.
    Drop,
    /// Dropped and answered (TCP reset or ICMP/ICMPv6 port-unreachable).
    Answer,
}

/// XDP_DROP.
pub const XDP_DROP: u32 = 1;
/// XDP_PASS.
pub const XDP_PASS: u32 = 2;
/// Not a kernel action: XDP_PASS with fw's reject mark in front of the
/// frame (`fw_common::answer`), for TC ingress to answer. What the rig's
/// XDP runs return for a rejected packet.
pub const XDP_REJECT: u32 = 0x100;

/// The rig's XDP result of a test run that returned `ret` and left `out`
/// of a frame of `len` bytes: [`XDP_REJECT`] for a marked pass.
#[must_use]
pub fn xdp_result(ret: u32, out: &[u8], len: usize) -> u32 {
    let marked = out.len() == len + 4
        && fw_common::answer::mark_answer(u32::from_ne_bytes([out[0], out[1], out[2], out[3]]))
            .is_some();
    if ret == XDP_PASS && marked {
        XDP_REJECT
    } else {
        ret
    }
}
/// TC "no opinion" (TCX_NEXT), fw's pass on egress.
pub const TC_PASS: i32 = -1;
/// TC_ACT_SHOT.
pub const TC_DROP: i32 = 2;
/// TC_ACT_REDIRECT (`reject out`: the answer goes to the host's receive
/// path).
pub const TC_REDIRECT: i32 = 7;

/// The interface index BPF_PROG_TEST_RUN reports (the loopback device).
pub const TEST_IFINDEX: u32 = 1;

/// Interface resolver for tests: `eth9` is the test-run device, every other
/// name does not exist.
#[must_use]
pub fn test_ifaces(name: &str) -> Vec<u32> {
    if name == "eth9" || name == "eth+" {
        vec![TEST_IFINDEX]
    } else {
        Vec::new()
    }
}

/// A namespace that forwards, where the rig decides forwarded packets:
/// two veth interfaces (their peers stay in the namespace), `fwin0` (192.0.2.1/24, 2001:db8:1::1/64) and
/// `fwout0` (198.51.100.1/24, 2001:db8:2::1/64), forwarding on and the
/// default routes out of `fwout0`. A packet "received" on `fwin0` for any
/// address but the router's own is forwarded out of `fwout0`; one for
/// 192.0.2.1 is for the router itself.
pub struct Router {
    /// The namespace.
    pub ns: Netns,
    /// `fwin0`'s index.
    pub ifin: u32,
    /// `fwout0`'s index.
    pub ifout: u32,
}

impl Router {
    /// Creates the namespace.
    ///
    /// # Panics
    /// When a command fails.
    #[must_use]
    pub fn new() -> Self {
        let ns = Netns::new("router");
        for (name, v4, v6) in [
            ("fwin0", "192.0.2.1/24", "2001:db8:1::1/64"),
            ("fwout0", "198.51.100.1/24", "2001:db8:2::1/64"),
        ] {
            let peer = format!("{name}p");
            ns.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]);
            ns.ip(&["link", "set", &peer, "up"]);
            ns.addrs_up(name, &[v4, v6]);
        }
        ns.sysctl(&["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
        ns.ip(&["route", "add", "default", "dev", "fwout0"]);
        ns.ip(&["-6", "route", "add", "default", "dev", "fwout0"]);
        let index = |name: &str| -> u32 {
            let out = ns.ip(&["-o", "link", "show", name]);
            let text = String::from_utf8_lossy(&out.stdout);
            text.split(':')
                .next()
                .unwrap()
                .trim()
                .parse()
                .expect("ifindex")
        };
        let (ifin, ifout) = (index("fwin0"), index("fwout0"));
        Self { ns, ifin, ifout }
    }

    /// Interface resolver: `fwin0`, `fwout0`, `fw+` (both), else
    /// [`test_ifaces`].
    #[must_use]
    pub fn ifaces(&self, name: &str) -> Vec<u32> {
        match name {
            "fwin0" => vec![self.ifin],
            "fwout0" => vec![self.ifout],
            "fw+" => vec![self.ifin, self.ifout],
            _ => test_ifaces(name),
        }
    }
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

/// A data plane loaded from the embedded object under its own pin dir.
pub struct Rig {
    /// The maps.
    pub dp: Dataplane,
    pins: Pins,
    root: PathBuf,
    xdp: Xdp,
    tc: SchedClassifier,
    /// Where `Direction::Fwd` packets are run, if set up.
    pub router: Option<Router>,
}

impl Rig {
    /// Loads a fresh instance with flow tracking off: every packet is
    /// decided by the rules, as the verdict tables and the differential
    /// test of single packets expect.
    ///
    /// # Panics
    /// When loading fails (the test fails).
    #[must_use]
    pub fn new() -> Self {
        let mut r = Self::stateful();
        r.dp.set_conntrack(false).expect("conntrack off");
        r
    }

    /// Loads a fresh instance as fw-ctl does, flow tracking on.
    ///
    /// # Panics
    /// When loading fails (the test fails).
    #[must_use]
    pub fn stateful() -> Self {
        Self::stateful_with(fw_common::conntrack::CT_DEFAULT_ENTRIES)
    }

    /// As [`Rig::stateful`] with a flow table of `flows` entries.
    ///
    /// # Panics
    /// When loading fails (the test fails).
    #[must_use]
    pub fn stateful_with(flows: u32) -> Self {
        crate::netns::sweep_stale();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let requested = PathBuf::from(format!("/sys/fs/bpf/fw-test-{}-{n}", std::process::id()));
        let root = resolve_root(&requested).expect("bpffs for test pins");
        let pins = Pins::new(&root);
        let dp = Dataplane::create(&pins, 0, flows).expect("load the eBPF object");
        let xdp = Xdp::from_pin(pins.prog(PROG_XDP), XdpAttachType::Interface).expect("xdp pin");
        let tc = SchedClassifier::from_pin(pins.prog(PROG_TC_EGRESS)).expect("tc pin");
        Self {
            dp,
            pins,
            root,
            xdp,
            tc,
            router: None,
        }
    }

    /// The same rig with a [`Router`]: `verdict(Direction::Fwd, ..)` runs
    /// the XDP program as if the frame came in on the router's `fwin0`,
    /// and rules may name its interfaces.
    #[must_use]
    pub fn with_router(mut self) -> Self {
        self.router = Some(Router::new());
        self
    }

    /// Compiles and installs `rules` (all counters fresh).
    ///
    /// # Panics
    /// When compile or apply fails.
    pub fn load(&mut self, rules: &[StoredRule], defaults: Defaults) -> ApplyReport {
        let c = self.compile(rules, defaults);
        let ids: Vec<u32> = rules.iter().map(|r| r.id).collect();
        self.dp.apply(&c, &ids).expect("apply")
    }

    /// Compiles with the test interface resolver.
    ///
    /// # Panics
    /// When compile fails.
    #[must_use]
    pub fn compile(&self, rules: &[StoredRule], defaults: Defaults) -> Compiled {
        match &self.router {
            Some(r) => compile(rules, defaults, &|n| r.ifaces(n)).expect("compile"),
            None => compile(rules, defaults, &test_ifaces).expect("compile"),
        }
    }

    /// Runs the XDP program once on `frame` as received on interface
    /// `ifindex` of the router's namespace (see [`Router`]).
    ///
    /// # Panics
    /// Without a router, or when the test run fails.
    #[must_use]
    pub fn xdp_on(&self, ifindex: u32, frame: &[u8]) -> u32 {
        self.xdp_on_timed(ifindex, frame, 1).0
    }

    /// As [`Self::xdp_on`], `repeat` times: the return value and the mean
    /// ns per run.
    ///
    /// # Panics
    /// Without a router, or when the test run fails.
    #[must_use]
    pub fn xdp_on_timed(&self, ifindex: u32, frame: &[u8], repeat: u32) -> (u32, f64) {
        let router = self.router.as_ref().expect("a rig with_router");
        let pin = self.pins.prog(PROG_XDP);
        let frame = frame.to_vec();
        router.ns.run(move || {
            let xdp = Xdp::from_pin(pin, XdpAttachType::Interface).expect("xdp pin");
            // struct xdp_md: data, data_end, data_meta, ingress_ifindex,
            // rx_queue_index, egress_ifindex (data_end must be the length).
            let md: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
            let ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
            let mut out = vec![0u8; frame.len() + 256];
            let opts = TestRunOptions {
                data_in: Some(&frame),
                data_out: Some(&mut out),
                ctx_in: Some(&ctx),
                repeat,
                ..TestRunOptions::new()
            };
            let r = xdp.test_run(opts).expect("xdp test run");
            out.truncate(r.data_size_out as usize);
            (
                xdp_result(r.return_value, &out, frame.len()),
                r.duration.as_nanos() as f64,
            )
        })
    }

    /// Runs the XDP program once on `frame`.
    ///
    /// # Panics
    /// When the test run fails.
    #[must_use]
    pub fn xdp(&self, frame: &[u8]) -> u32 {
        self.xdp_out(frame).0
    }

    /// Runs the XDP program once on `frame`; its return value and the frame
    /// as the program left it.
    ///
    /// # Panics
    /// When the test run fails.
    #[must_use]
    pub fn xdp_out(&self, frame: &[u8]) -> (u32, Vec<u8>) {
        let (r, out) = run_out(&self.xdp, frame);
        (xdp_result(r, &out, frame.len()), out)
    }

    /// Runs the TC egress program once on `frame`.
    ///
    /// # Panics
    /// When the test run fails.
    #[must_use]
    pub fn tc(&self, frame: &[u8]) -> i32 {
        let opts = TestRunOptions {
            data_in: Some(frame),
            ..TestRunOptions::new()
        };
        self.tc.test_run(opts).expect("tc test run").return_value as i32
    }

    /// Runs the TC egress program once on `frame`; its return value and the
    /// frame as the program left it.
    ///
    /// # Panics
    /// When the test run fails.
    #[must_use]
    pub fn tc_out(&self, frame: &[u8]) -> (i32, Vec<u8>) {
        let (r, out) = run_out(&self.tc, frame);
        (r as i32, out)
    }

    /// Runs the TC egress program once on `frame` as if the host forwarded
    /// it, received on interface `ingress_ifindex`.
    ///
    /// # Panics
    /// When the test run fails.
    #[must_use]
    pub fn tc_forwarded(&self, frame: &[u8], ingress_ifindex: u32) -> i32 {
        // struct __sk_buff up to `ifindex`: ingress_ifindex is at byte 36.
        let mut ctx = [0u8; 44];
        ctx[36..40].copy_from_slice(&ingress_ifindex.to_ne_bytes());
        let opts = TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(&ctx),
            ..TestRunOptions::new()
        };
        self.tc.test_run(opts).expect("tc test run").return_value as i32
    }

    /// Runs the program of `dir` and returns what it did: passed, dropped,
    /// or dropped with an answer (a reject: XDP's mark for TC ingress, or
    /// TC's redirect of the answer it built to the host's receive path).
    ///
    /// # Panics
    /// On a return value the programs never give.
    #[must_use]
    pub fn outcome(&self, dir: Direction, frame: &[u8]) -> Outcome {
        let xdp = |r: u32| match r {
            XDP_PASS => Outcome::Pass,
            XDP_DROP => Outcome::Drop,
            XDP_REJECT => Outcome::Answer,
            other => panic!("unexpected XDP return {other}"),
        };
        match dir {
            Direction::In => xdp(self.xdp(frame)),
            Direction::Out => match self.tc(frame) {
                TC_PASS => Outcome::Pass,
                TC_DROP => Outcome::Drop,
                TC_REDIRECT => Outcome::Answer,
                other => panic!("unexpected TC return {other}"),
            },
            Direction::Fwd => {
                let ifin = self.router.as_ref().expect("a rig with_router").ifin;
                xdp(self.xdp_on(ifin, frame))
            }
        }
    }

    /// Runs the program of `dir` and returns the verdict.
    #[must_use]
    pub fn verdict(&self, dir: Direction, frame: &[u8]) -> Verdict {
        match dir {
            Direction::In => match self.xdp(frame) {
                XDP_PASS => Verdict::Pass,
                // A `reject` answered on the wire: the packet itself is dropped.
                XDP_DROP | XDP_REJECT => Verdict::Drop,
                other => panic!("unexpected XDP return {other}"),
            },
            Direction::Out => match self.tc(frame) {
                TC_PASS => Verdict::Pass,
                // A `reject out` answered to the local sender.
                TC_DROP | TC_REDIRECT => Verdict::Drop,
                other => panic!("unexpected TC return {other}"),
            },
            Direction::Fwd => {
                let ifin = self.router.as_ref().expect("a rig with_router").ifin;
                match self.xdp_on(ifin, frame) {
                    XDP_PASS => Verdict::Pass,
                    XDP_DROP | XDP_REJECT => Verdict::Drop,
                    other => panic!("unexpected XDP return {other}"),
                }
            }
        }
    }

    /// Times `repeat` runs of the XDP program on `frame`; ns per run.
    ///
    /// # Panics
    /// When the test run fails.
    #[must_use]
    pub fn xdp_ns(&self, frame: &[u8], repeat: u32) -> f64 {
        let opts = TestRunOptions {
            data_in: Some(frame),
            repeat,
            ..TestRunOptions::new()
        };
        let r = self.xdp.test_run(opts).expect("xdp test run");
        r.duration.as_nanos() as f64
    }

    /// The XDP program's size: (instructions after verification, bytes of
    /// JITed code, instructions the verifier processed).
    ///
    /// # Panics
    /// When the program's info cannot be read.
    #[must_use]
    pub fn xdp_size(&self) -> (u32, u32, u32) {
        let info = self.xdp.info().expect("prog info");
        (
            info.size_translated().unwrap_or(0) / 8,
            info.size_jitted(),
            info.verified_instruction_count().unwrap_or(0),
        )
    }

    /// The TC program's size, as [`Self::xdp_size`].
    ///
    /// # Panics
    /// When the program's info cannot be read.
    #[must_use]
    pub fn tc_size(&self) -> (u32, u32, u32) {
        let info = self.tc.info().expect("prog info");
        (
            info.size_translated().unwrap_or(0) / 8,
            info.size_jitted(),
            info.verified_instruction_count().unwrap_or(0),
        )
    }

    /// A reason counter.
    #[must_use]
    pub fn reason(&self, r: Reason, d: Direction, v: Verdict) -> Counter {
        self.dp.reason_counter(r, d, v).expect("reason counter")
    }

    /// Every drop-log event waiting in the ring buffer, taken out.
    ///
    /// # Panics
    /// When the ring buffer cannot be opened.
    #[must_use]
    pub fn log_events(&self) -> Vec<fw_common::log::LogEvent> {
        let (mut ring, _) = fw_ctl::loader::open_logs(&self.pins).expect("the LOGS ring buffer");
        let mut v = Vec::new();
        while let Some(item) = ring.next() {
            assert!(item.len() >= std::mem::size_of::<fw_common::log::LogEvent>());
            // SAFETY: a LogEvent record (plain integers), read unaligned.
            v.push(unsafe {
                std::ptr::read_unaligned(item.as_ptr().cast::<fw_common::log::LogEvent>())
            });
        }
        v
    }

    /// A rule counter.
    #[must_use]
    pub fn rule(&self, id: u32) -> Counter {
        self.dp.rule_counter(id).expect("rule counter")
    }
}

/// Runs `prog` once on `frame`: its return value and the frame as it left
/// it (room for 256 bytes of growth).
fn run_out<P>(prog: &P, frame: &[u8]) -> (u32, Vec<u8>)
where
    P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = TestRunResult>,
{
    let mut out = vec![0u8; frame.len() + 256];
    let r = {
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..TestRunOptions::new()
        };
        prog.test_run(opts).expect("test run")
    };
    out.truncate(r.data_size_out as usize);
    (r.return_value, out)
}

impl Default for Rig {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = Dataplane::destroy(&self.pins);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Builds a rule list from command lines (`"allow 22/tcp"`,
/// `"deny in from 10.0.0.0/8"`): each expands like ufw (v4 and v6 copies),
/// IPv4 rules first, ids 0, 1, 2, ... in list order.
///
/// # Panics
/// When a line does not parse.
#[must_use]
pub fn rules(lines: &[&str]) -> Vec<StoredRule> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for line in lines {
        let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let forward = words[0] == "route";
        if forward {
            words.remove(0);
        }
        let action = match words[0].as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            "reject" => Action::Reject,
            "limit" => Action::Limit,
            other => panic!("bad action {other}"),
        };
        let p = parse_rule_with(action, &words[1..], &NoServices, &NoApps, forward)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        for r in p.spec.expand() {
            if r.family == Family::V4 {
                v4.push(r)
            } else {
                v6.push(r)
            }
        }
    }
    v4.into_iter()
        .chain(v6)
        .enumerate()
        .map(|(i, rule)| StoredRule { id: i as u32, rule })
        .collect()
}

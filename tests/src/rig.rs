//! A loaded data plane under unique pins, driven by BPF_PROG_TEST_RUN.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use aya::programs::{SchedClassifier, TestRun as _, TestRunOptions, Xdp};
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
        parse::{NoServices, parse_rule},
    },
};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// XDP_DROP.
pub const XDP_DROP: u32 = 1;
/// XDP_PASS.
pub const XDP_PASS: u32 = 2;
/// XDP_TX (sent back out of the interface it came in on).
pub const XDP_TX: u32 = 3;
/// TC "no opinion" (TCX_NEXT), fw's pass on egress.
pub const TC_PASS: i32 = -1;
/// TC_ACT_SHOT.
pub const TC_DROP: i32 = 2;

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

/// A data plane loaded from the embedded object under its own pin dir.
pub struct Rig {
    /// The maps.
    pub dp: Dataplane,
    pins: Pins,
    root: PathBuf,
    xdp: Xdp,
    tc: SchedClassifier,
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
        }
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
        compile(rules, defaults, &test_ifaces).expect("compile")
    }

    /// Runs the XDP program once on `frame`.
    ///
    /// # Panics
    /// When the test run fails.
    #[must_use]
    pub fn xdp(&self, frame: &[u8]) -> u32 {
        let opts = TestRunOptions {
            data_in: Some(frame),
            ..TestRunOptions::new()
        };
        self.xdp.test_run(opts).expect("xdp test run").return_value
    }

    /// Runs the XDP program once on `frame`; its return value and the frame
    /// as the program left it.
    ///
    /// # Panics
    /// When the test run fails.
    #[must_use]
    pub fn xdp_out(&self, frame: &[u8]) -> (u32, Vec<u8>) {
        let mut out = vec![0u8; frame.len() + 256];
        let r = {
            let opts = TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ..TestRunOptions::new()
            };
            self.xdp.test_run(opts).expect("xdp test run")
        };
        out.truncate(r.data_size_out as usize);
        (r.return_value, out)
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

    /// Runs the program of `dir` and returns the verdict.
    #[must_use]
    pub fn verdict(&self, dir: Direction, frame: &[u8]) -> Verdict {
        match dir {
            Direction::In => match self.xdp(frame) {
                XDP_PASS => Verdict::Pass,
                // A `reject` answered on the wire: the packet itself is dropped.
                XDP_DROP | XDP_TX => Verdict::Drop,
                other => panic!("unexpected XDP return {other}"),
            },
            Direction::Out => match self.tc(frame) {
                TC_PASS => Verdict::Pass,
                TC_DROP => Verdict::Drop,
                other => panic!("unexpected TC return {other}"),
            },
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

    /// A rule counter.
    #[must_use]
    pub fn rule(&self, id: u32) -> Counter {
        self.dp.rule_counter(id).expect("rule counter")
    }
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
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let action = match words[0].as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            "reject" => Action::Reject,
            "limit" => Action::Limit,
            other => panic!("bad action {other}"),
        };
        let p =
            parse_rule(action, &words[1..], &NoServices).unwrap_or_else(|e| panic!("{line}: {e}"));
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

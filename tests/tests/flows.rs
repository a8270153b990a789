//! Differential test over flows: random sequences of packets in both
//! directions (TCP handshakes, data, FIN, RST, invalid flags; UDP
//! exchanges; ICMP/ICMPv6 echo, with ufw's built-in rules for it) between
//! the host and a few peers, with rule-set changes (allow, deny, reject,
//! limit) in between, through the real XDP and TC programs in stateful mode, against
//! a reference model: the reference classifier plus the flow state machine
//! of fw_common::conntrack (a passed SYN, datagram or echo request opens a
//! half-open flow; its answer passes, and a UDP reply, the SYN-ACK of the
//! host's SYN or the last ACK of a handshake the host answered puts it in
//! the flow table, whose packets then pass; packets of the opening
//! direction before that meet the rules; a rule change rechecks a flow's
//! opening packet and cuts it, in both directions, when denied). Every
//! packet's verdict must agree.
//!
//! `FW_FLOW_CASES` sets the number of sequences (default 300).

use fw_common::conntrack::{
    TCP_ACK as ACK, TCP_FIN as FIN, TCP_PSH as PSH, TCP_RST as RST, TCP_SYN as SYN,
};
use std::{collections::HashMap, net::IpAddr};

use fw_common::{Direction, Family, Verdict};
use fw_ctl::{
    reference::classify,
    rule::{
        Action, PacketMeta, PortRange, PortSet, Proto, Rule, RuleOpts, StoredRule,
        compile::Defaults,
    },
};
use fw_tests::{
    packet::{L4, Pkt},
    rig::{Rig, test_ifaces},
};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};

const HOSTS: [&str; 2] = ["192.0.2.1", "2001:db8:1::1"];
const PEERS: [[&str; 2]; 2] = [
    ["198.51.100.7", "198.51.100.8"],
    ["2001:db8:2::7", "2001:db8:2::8"],
];
const HOST_PORTS: [u16; 2] = [22, 80];
const PEER_PORTS: [u16; 2] = [40000, 40001];
/// `limit`'s hit count for this test (ufw's 6 is rarely reached by short
/// random sequences; 2 exercises the refusal often).
const LIMIT_HITS: u32 = 2;

/// One packet of a flow, or a new rule set.
#[derive(Clone, Debug)]
enum Event {
    Packet {
        family: usize,
        tcp: bool,
        peer: usize,
        host_port: usize,
        peer_port: usize,
        dir: Direction,
        flags: u8,
    },
    /// An ICMP / ICMPv6 echo request or reply with identifier `id`.
    Echo {
        family: usize,
        peer: usize,
        id: usize,
        dir: Direction,
        request: bool,
    },
    Rules(Vec<Rule>, Defaults),
}

fn tcp_flags() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => Just(SYN),
        3 => Just(SYN | ACK),
        6 => Just(ACK),
        3 => Just(ACK | PSH),
        2 => Just(FIN | ACK),
        1 => Just(RST),
        1 => Just(RST | ACK),
        1 => Just(SYN | FIN),
        1 => Just(0),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::In), Just(Direction::Out)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Allow),
        Just(Action::Deny),
        Just(Action::Reject)
    ]
}

fn rule_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::Allow),
        3 => Just(Action::Deny),
        1 => Just(Action::Reject),
        2 => Just(Action::Limit),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        rule_action(),
        direction(),
        0usize..2,
        prop_oneof![Just(Proto::Any), Just(Proto::TCP), Just(Proto::UDP)],
        prop::option::of(0usize..2),
        prop::option::of(0usize..2),
    )
        .prop_map(|(action, dir, family, proto, peer, port)| {
            let peer_net = peer.map(|p| {
                let a: IpAddr = PEERS[family][p].parse().unwrap();
                ipnet::IpNet::from(a)
            });
            let (src, dst) = match dir {
                Direction::In | Direction::Fwd => (peer_net, None),
                Direction::Out => (None, peer_net),
            };
            let ports = port.map(|p| {
                PortSet(vec![PortRange {
                    lo: HOST_PORTS[p],
                    hi: HOST_PORTS[p],
                }])
            });
            // The host's port is the destination in, the source out.
            let (sport, dport) = match dir {
                Direction::In | Direction::Fwd => (None, ports),
                Direction::Out => (ports, None),
            };
            Rule {
                action,
                dir,
                iface: None,
                proto,
                src,
                sport,
                dst,
                dport,
                family: if family == 0 { Family::V4 } else { Family::V6 },
                opts: RuleOpts::default(),
            }
        })
}

fn rules() -> impl Strategy<Value = Event> {
    (prop::collection::vec(rule(), 0..6), action(), action()).prop_map(|(mut r, i, o)| {
        r.sort_by_key(|x| x.family == Family::V6);
        Event::Rules(
            r,
            Defaults {
                incoming: i,
                outgoing: o,
                routed: Action::Deny,
            },
        )
    })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        1 => rules(),
        3 => (0usize..2, 0usize..2, 0usize..2, direction(), any::<bool>()).prop_map(
            |(family, peer, id, dir, request)| Event::Echo {
                family,
                peer,
                id,
                dir,
                request,
            }
        ),
        12 => (0usize..2, any::<bool>(), 0usize..2, 0usize..2, 0usize..2, direction(), tcp_flags())
            .prop_map(|(family, tcp, peer, host_port, peer_port, dir, flags)| Event::Packet {
                family,
                tcp,
                peer,
                host_port,
                peer_port,
                dir,
                flags,
            }),
    ]
}

/// A flow entry of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    SynSent,
    Established,
    Closing,
    Closed,
    Unreplied,
    Replied,
    Echo,
    Cut,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    state: State,
    origin: Direction,
    generation: u64,
    /// Opened by a built-in rule (never rechecked).
    builtin: bool,
}

/// What a packet is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp(u8),
    Udp,
    /// Echo request (`true`) or reply.
    Echo(bool),
}

/// (family, protocol, peer, host port or echo id, peer port or 0): the
/// flow key.
type Key = (usize, u8, usize, usize, usize);

/// A half-open flow of the model.
#[derive(Clone, Copy, Debug)]
struct HalfOpen {
    origin: Direction,
    generation: u64,
    builtin: bool,
    /// TCP: the SYN was answered.
    answered: bool,
}

/// What a packet does to a half-open flow (fw-ebpf's `Step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Answered,
    Promote,
    Done,
}

struct Model {
    rules: Vec<StoredRule>,
    defaults: Defaults,
    generation: u64,
    flows: HashMap<Key, Entry>,
    half_open: HashMap<Key, HalfOpen>,
    /// `limit`: new connections per (family, peer).
    limits: HashMap<(usize, usize), u32>,
}

fn valid(flags: u8) -> bool {
    fw_common::conntrack::tcp_flags_valid(flags)
}

impl Model {
    /// The rules' action for the packet of flow `k` seen in `dir`.
    fn decide(&self, k: Key, dir: Direction) -> Action {
        let (family, proto, peer, a, b) = k;
        let host: IpAddr = HOSTS[family].parse().unwrap();
        let peer: IpAddr = PEERS[family][peer].parse().unwrap();
        let (src, dst) = match dir {
            Direction::In | Direction::Fwd => (peer, host),
            Direction::Out => (host, peer),
        };
        let ports = (proto == 6 || proto == 17).then(|| match dir {
            Direction::In | Direction::Fwd => (PEER_PORTS[b], HOST_PORTS[a]),
            Direction::Out => (HOST_PORTS[a], PEER_PORTS[b]),
        });
        let meta = PacketMeta {
            dir,
            ifindex: fw_tests::rig::TEST_IFINDEX,
            oifindex: 0,
            proto,
            src,
            dst,
            ports,
        };
        classify(&self.rules, self.defaults, &meta, &test_ifaces).action
    }

    /// ufw's built-in rules for echo (fw_common::builtins).
    fn builtin(k: Key, dir: Direction, kind: Kind) -> bool {
        match kind {
            Kind::Echo(request) => {
                if k.0 == 1 {
                    true
                } else {
                    dir == Direction::In && request
                }
            }
            _ => false,
        }
    }

    fn step(&mut self, k: Key, dir: Direction, kind: Kind) -> Verdict {
        let flags = match kind {
            Kind::Tcp(f) => f,
            _ => 0,
        };
        let tcp = matches!(kind, Kind::Tcp(_));
        if tcp && !valid(flags) {
            return Verdict::Drop;
        }
        if let Some(e) = self.flows.get(&k).copied() {
            let restart = tcp
                && flags & (SYN | ACK) == SYN
                && matches!(e.state, State::Closing | State::Closed | State::Cut);
            if restart {
                self.flows.remove(&k);
            } else {
                if e.builtin {
                    self.flows.get_mut(&k).unwrap().generation = self.generation;
                }
                let e = self.flows[&k];
                if e.generation == self.generation {
                    if e.state == State::Cut {
                        return Verdict::Drop;
                    }
                    self.advance(k, dir, kind);
                    return Verdict::Pass;
                }
                let v = self.decide(k, e.origin).verdict();
                let entry = self.flows.get_mut(&k).unwrap();
                entry.generation = self.generation;
                if v == Verdict::Pass {
                    if entry.state == State::Cut {
                        entry.state = match kind {
                            Kind::Tcp(_) => State::Established,
                            Kind::Udp => State::Replied,
                            Kind::Echo(_) => State::Echo,
                        };
                    } else {
                        self.advance(k, dir, kind);
                    }
                } else {
                    entry.state = State::Cut;
                }
                return v;
            }
        }
        if let Some(h) = self.half_open.get(&k).copied()
            && let Some(st) = Self::half_step(&h, dir, kind)
        {
            if h.generation != self.generation && !h.builtin {
                // Rechecked: the opening packet's verdict now.
                let v = self.decide(k, h.origin).verdict();
                if v == Verdict::Pass {
                    self.apply(k, h, st, kind);
                } else {
                    self.half_open.remove(&k);
                }
                return v;
            }
            self.apply(k, h, st, kind);
            return Verdict::Pass;
        }
        let opens = match kind {
            Kind::Tcp(f) => f & (SYN | ACK | RST | FIN) == SYN,
            Kind::Udp => true,
            Kind::Echo(request) => request,
        };
        let (v, builtin) = if Self::builtin(k, dir, kind) {
            (Verdict::Pass, true)
        } else {
            let action = self.decide(k, dir);
            let mut v = action.verdict();
            if action == Action::Limit && opens {
                let n = self.limits.entry((k.0, k.2)).or_insert(0);
                *n += 1;
                if *n >= LIMIT_HITS {
                    v = Verdict::Drop;
                }
            }
            (v, false)
        };
        if v == Verdict::Pass && opens {
            self.half_open.insert(
                k,
                HalfOpen {
                    origin: dir,
                    generation: self.generation,
                    builtin,
                    answered: false,
                },
            );
        }
        v
    }

    /// What a packet seen in `dir` does to the half-open flow `h` (every
    /// test segment has sequence number 1 and, with ACK, acknowledges 2:
    /// the other side's SYN).
    fn half_step(h: &HalfOpen, dir: Direction, kind: Kind) -> Option<Step> {
        let reply = dir != h.origin;
        match kind {
            Kind::Tcp(f) => {
                if f & ACK == 0 {
                    return None;
                }
                let fl = f & (SYN | ACK | RST);
                if reply && !h.answered && fl == SYN | ACK {
                    return Some(if h.origin == Direction::In {
                        Step::Answered
                    } else {
                        Step::Promote
                    });
                }
                if reply && !h.answered && f & RST != 0 {
                    return Some(Step::Done);
                }
                (!reply && h.answered && fl == ACK).then_some(Step::Promote)
            }
            Kind::Udp => reply.then_some(Step::Promote),
            Kind::Echo(request) => (reply && !request).then_some(Step::Done),
        }
    }

    fn apply(&mut self, k: Key, h: HalfOpen, st: Step, kind: Kind) {
        match st {
            Step::Answered => {
                self.half_open.insert(
                    k,
                    HalfOpen {
                        answered: true,
                        generation: self.generation,
                        ..h
                    },
                );
            }
            Step::Done => {
                self.half_open.remove(&k);
            }
            Step::Promote => {
                self.half_open.remove(&k);
                self.flows.insert(
                    k,
                    Entry {
                        state: if matches!(kind, Kind::Tcp(_)) {
                            State::Established
                        } else {
                            State::Replied
                        },
                        origin: h.origin,
                        generation: self.generation,
                        builtin: h.builtin,
                    },
                );
            }
        }
    }

    fn advance(&mut self, k: Key, dir: Direction, kind: Kind) {
        let e = self.flows.get_mut(&k).unwrap();
        let reply = dir != e.origin;
        if let Kind::Tcp(flags) = kind {
            if flags & RST != 0 {
                e.state = State::Closed;
            } else if flags & FIN != 0 {
                if e.state != State::Closed {
                    e.state = State::Closing;
                }
            } else if e.state == State::SynSent && reply && flags & ACK != 0 {
                e.state = State::Established;
            }
        } else if reply && e.state == State::Unreplied && kind == Kind::Udp {
            e.state = State::Replied;
        }
    }
}

fn run(rig: &mut Rig, events: &[Event]) -> Result<(), TestCaseError> {
    rig.dp.clear_flows().expect("clear flows");
    let mut m = Model {
        rules: Vec::new(),
        defaults: Defaults {
            incoming: Action::Deny,
            outgoing: Action::Allow,
            routed: Action::Deny,
        },
        generation: 0,
        flows: HashMap::new(),
        half_open: HashMap::new(),
        limits: HashMap::new(),
    };
    let load = |rig: &mut Rig, m: &mut Model| {
        let r = rig.load(&m.rules, m.defaults);
        m.generation = r.generation;
    };
    load(rig, &mut m);
    for (i, ev) in events.iter().enumerate() {
        match ev {
            Event::Rules(r, d) => {
                m.rules = r
                    .iter()
                    .enumerate()
                    .map(|(id, rule)| StoredRule {
                        id: id as u32,
                        rule: rule.clone(),
                    })
                    .collect();
                m.defaults = *d;
                load(rig, &mut m);
            }
            Event::Packet {
                family,
                tcp,
                peer,
                host_port,
                peer_port,
                dir,
                flags,
            } => {
                let host = HOSTS[*family];
                let peer_addr = PEERS[*family][*peer];
                let (hp, pp) = (HOST_PORTS[*host_port], PEER_PORTS[*peer_port]);
                let l4 = |s, d| if *tcp { L4::Tcp(s, d) } else { L4::Udp(s, d) };
                let pkt = match dir {
                    Direction::In | Direction::Fwd => Pkt::new(peer_addr, host, l4(pp, hp)),
                    Direction::Out => Pkt::new(host, peer_addr, l4(hp, pp)),
                }
                .flags(*flags);
                let kind = if *tcp { Kind::Tcp(*flags) } else { Kind::Udp };
                let proto = if *tcp { 6 } else { 17 };
                let want = m.step((*family, proto, *peer, *host_port, *peer_port), *dir, kind);
                let got = rig.verdict(*dir, &pkt.bytes());
                prop_assert_eq!(got, want, "event {}: {:?}", i, ev);
            }
            Event::Echo {
                family,
                peer,
                id,
                dir,
                request,
            } => {
                let host = HOSTS[*family];
                let peer_addr = PEERS[*family][*peer];
                let ty = match (*family, *request) {
                    (0, true) => L4::Icmp(8),
                    (0, false) => L4::Icmp(0),
                    (_, true) => L4::Icmpv6(128),
                    (_, false) => L4::Icmpv6(129),
                };
                let mut pkt = match dir {
                    Direction::In | Direction::Fwd => Pkt::new(peer_addr, host, ty),
                    Direction::Out => Pkt::new(host, peer_addr, ty),
                };
                pkt.echo_id = 100 + *id as u16;
                let proto = if *family == 0 { 1 } else { 58 };
                let want = m.step((*family, proto, *peer, *id, 0), *dir, Kind::Echo(*request));
                let got = rig.verdict(*dir, &pkt.bytes());
                prop_assert_eq!(got, want, "event {}: {:?}", i, ev);
            }
        }
    }
    Ok(())
}

#[test]
fn flows_agree_with_the_reference_state_machine() {
    let cases = u32::try_from(fw_tests::cases_from_env("FW_FLOW_CASES", 300)).unwrap_or(u32::MAX);
    let mut r = Rig::stateful();
    r.dp.set_limit(LIMIT_HITS, 30).expect("limit rate");
    let rig = std::cell::RefCell::new(r);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let packets = std::cell::Cell::new(0usize);
    runner
        .run(&prop::collection::vec(event(), 1..80), |events| {
            packets.set(
                packets.get()
                    + events
                        .iter()
                        .filter(|e| matches!(e, Event::Packet { .. }))
                        .count(),
            );
            run(&mut rig.borrow_mut(), &events)
        })
        .unwrap();
    eprintln!(
        "flows: {cases} sequences, {} packets (with shrinking runs)",
        packets.get()
    );
}

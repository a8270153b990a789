//! `fw-ctl explain PROTO SRC[:PORT] DST[:PORT] [in|out] [on IFACE]`: which
//! rule (or default policy) decides such a packet and why, by the
//! reference classifier over the saved rules, cross-checked with
//! BPF_PROG_TEST_RUN of the data plane: a private copy of the eBPF object
//! (its own pins, tracking off, removed afterwards) gets the same compiled
//! rules and runs a frame built for the packet. The live filter is not
//! touched: its counters and flow table stay as they are.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Result, bail};
use aya::programs::{SchedClassifier, TestRun as _, TestRunOptions, Xdp};
use aya_obj::programs::XdpAttachType;
use fw_common::{
    Direction, Reason, Verdict,
    maps::{PROG_TC_EGRESS, PROG_XDP},
};

use super::{Ctx, UserError, resolver};
use crate::{
    loader::{Dataplane, Pins, pins::resolve_root},
    netns,
    reference::classify,
    rule::{PacketMeta, compile::compile, display::canonical},
    state::StateDir,
};

/// `ADDR`, `ADDR:PORT`, `[V6]:PORT` or a bare IPv6 address.
fn endpoint(word: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(a) = word.parse::<IpAddr>() {
        return Some((a, None));
    }
    word.parse::<SocketAddr>()
        .ok()
        .map(|s| (s.ip(), Some(s.port())))
}

/// The frame of the packet (Ethernet, IP, transport), built with etherparse.
fn frame(proto: u8, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Result<Vec<u8>> {
    use etherparse::PacketBuilder;
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
    let ip = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
        _ => bail!(UserError(
            "Bad packet: source and destination of different families".into()
        )),
    };
    let payload = [0u8; 8];
    let mut out = Vec::new();
    match proto {
        6 => ip
            .tcp(sport, dport, 1, 64240)
            .syn()
            .write(&mut out, &payload)?,
        17 => ip.udp(sport, dport).write(&mut out, &payload)?,
        1 => ip.icmpv4_echo_request(1, 1).write(&mut out, &payload)?,
        58 => ip.icmpv6_echo_request(1, 1).write(&mut out, &payload)?,
        n => ip.write(&mut out, etherparse::IpNumber(n), &payload)?,
    }
    Ok(out)
}

pub(super) fn run(ctx: &Ctx, args: &[String]) -> Result<u8> {
    let usage = "usage: fw-ctl explain PROTO SRC[:PORT] DST[:PORT] [in|out] [on IFACE]";
    let [proto_w, src_w, dst_w, rest @ ..] = args else {
        bail!(UserError(usage.into()));
    };
    let (src, sport) = endpoint(src_w).ok_or_else(|| UserError(format!("Bad source '{src_w}'")))?;
    let (dst, dport) =
        endpoint(dst_w).ok_or_else(|| UserError(format!("Bad destination '{dst_w}'")))?;
    let proto: u8 = match (proto_w.as_str(), src.is_ipv6()) {
        ("tcp", _) => 6,
        ("udp", _) => 17,
        ("icmp", false) => 1,
        ("icmp" | "ipv6-icmp" | "icmpv6", true) => 58,
        (w, _) => w
            .parse()
            .map_err(|_| UserError(format!("Bad protocol '{w}'")))?,
    };
    let mut dir = Direction::In;
    let mut iface = None;
    let mut words = rest.iter();
    while let Some(w) = words.next() {
        match w.as_str() {
            "in" => dir = Direction::In,
            "out" => dir = Direction::Out,
            "on" => {
                let name = words
                    .next()
                    .ok_or_else(|| UserError("Missing interface after 'on'".into()))?;
                iface = Some(name.clone());
            }
            other => bail!(UserError(format!("Bad word '{other}'; {usage}"))),
        }
    }
    let has_ports = matches!(proto, 6 | 17);
    if !has_ports && (sport.is_some() || dport.is_some()) {
        bail!(UserError(format!("Bad port: '{proto_w}' has no ports")));
    }
    let (sport, dport) = (sport.unwrap_or(40000), dport.unwrap_or(0));
    let st = StateDir::open_locked(&ctx.state_dir)?.load()?;
    let ifaces = netns::interfaces()?;
    let ifindex = match &iface {
        None => 0,
        Some(name) => *netns::resolve(name, &ifaces)
            .first()
            .ok_or_else(|| UserError(format!("Bad interface '{name}': not in this namespace")))?,
    };
    let meta = PacketMeta {
        dir,
        ifindex,
        oifindex: 0,
        proto,
        src,
        dst,
        ports: has_ports.then_some((sport, dport)),
    };
    let resolve = resolver(&ifaces);
    let want = classify(&st.rules, st.defaults, &meta, &resolve);
    outln!(
        "Packet: {proto_w} {src_w} -> {dst_w} {}{}",
        dir.as_str(),
        iface
            .as_deref()
            .map(|i| format!(" on {i}"))
            .unwrap_or_default()
    );
    let text = match (want.position, want.rule_id) {
        (Some(i), Some(id)) => {
            let r = &st.rules[i];
            format!("rule {} (id {id}): {}", i + 1, canonical(&r.rule))
        }
        _ => format!(
            "no rule matches: the default {} policy ({})",
            match dir {
                Direction::In => "incoming",
                Direction::Out => "outgoing",
                Direction::Fwd => "routed",
            },
            crate::rule::display::action_word(want.action)
        ),
    };
    outln!(
        "Reference: {} -> {text}",
        crate::rule::display::action_word(want.action)
    );

    // The data plane's answer, from a private copy.
    let compiled =
        compile(&st.rules, st.defaults, &resolve).map_err(|e| UserError(e.to_string()))?;
    let root = resolve_root(&std::path::PathBuf::from(format!(
        "/sys/fs/bpf/fw-explain-{}",
        std::process::id()
    )))?;
    let pins = Pins::new(&root);
    let result = (|| -> Result<(Verdict, Reason, Option<u32>)> {
        let mut dp = Dataplane::create(&pins, 0, 1024)?;
        dp.set_conntrack(false)?;
        let ids: Vec<u32> = st.rules.iter().map(|r| r.id).collect();
        dp.apply(&compiled, &ids)?;
        let bytes = frame(proto, src, dst, sport, dport)?;
        let ret = match dir {
            Direction::Out => {
                let tc = SchedClassifier::from_pin(pins.prog(PROG_TC_EGRESS))?;
                let mut skb = [0u8; 44];
                skb[40..44].copy_from_slice(&ifindex.to_ne_bytes());
                let opts = TestRunOptions {
                    data_in: Some(&bytes),
                    ctx_in: (ifindex > 1).then_some(&skb[..]),
                    ..TestRunOptions::new()
                };
                let r = tc.test_run(opts)?.return_value as i32;
                if r == -1 {
                    Verdict::Pass
                } else {
                    Verdict::Drop
                }
            }
            _ => {
                let xdp = Xdp::from_pin(pins.prog(PROG_XDP), XdpAttachType::Interface)?;
                let md: [u32; 6] = [0, bytes.len() as u32, 0, ifindex, 0, 0];
                let md: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
                let mut out = vec![0u8; bytes.len() + 64];
                let opts = TestRunOptions {
                    data_in: Some(&bytes),
                    data_out: Some(&mut out),
                    ctx_in: (ifindex > 1).then_some(&md[..]),
                    ..TestRunOptions::new()
                };
                let r = xdp.test_run(opts)?;
                // A reject passes with fw's mark in front of the frame, for
                // TC ingress to answer (fw_common::answer).
                let marked = r.data_size_out as usize == bytes.len() + 4
                    && fw_common::answer::mark_answer(u32::from_ne_bytes([
                        out[0], out[1], out[2], out[3],
                    ]))
                    .is_some();
                if r.return_value == 2 && !marked {
                    Verdict::Pass
                } else {
                    Verdict::Drop
                }
            }
        };
        let rule = st
            .rules
            .iter()
            .map(|r| r.id)
            .find(|id| dp.rule_counter(*id).is_ok_and(|c| c.packets > 0));
        let reason = Reason::ALL
            .into_iter()
            .find(|r| {
                Direction::ALL
                    .iter()
                    .any(|d| dp.reason_counter(*r, *d, ret).is_ok_and(|c| c.packets > 0))
            })
            .unwrap_or(Reason::NoRuleset);
        Ok((ret, reason, rule))
    })();
    let _ = Dataplane::destroy(&pins);
    let _ = std::fs::remove_dir_all(&root);
    let (verdict, reason, rule) = result?;
    outln!(
        "Data plane: {} (reason {}{}) [BPF_PROG_TEST_RUN of a private copy, tracking off]",
        verdict.as_str(),
        reason.as_str(),
        rule.map(|id| format!(", rule id {id}")).unwrap_or_default()
    );
    let agree = verdict == want.action.verdict() && rule == want.rule_id;
    outln!("Agree: {}", if agree { "yes" } else { "NO" });
    outln!(
        "Note: with tracking on, replies of tracked flows and ufw's built-in rules (fw-ctl show \
         builtins) pass before the rules; this is the rules' answer for a new connection."
    );
    // The answer is the saved rules': say so when the live filter is not
    // running them (an interrupted apply, an unprotected interface).
    let live = if st.enabled {
        let pins = super::pins(ctx)?;
        Dataplane::exists(&pins)
            .then(|| Dataplane::open(&pins))
            .transpose()?
            .map(|dp| crate::apply::check(&dp, &st, &ifaces))
            .transpose()?
    } else {
        None
    };
    if let Some(t) = live.filter(|t| !t.ok()) {
        for p in &t.problems {
            eprintln!("WARN: {p}");
        }
        for name in &t.unprotected {
            eprintln!("WARN: interface {name} is NOT protected; run 'fw-ctl reload'");
        }
        outln!("Live: NOT as saved (the live filter may decide otherwise; see the warnings)");
        return Ok(1);
    }
    Ok(if agree { 0 } else { 1 })
}

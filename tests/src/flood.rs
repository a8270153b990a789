//! A flood generator that measures the receiver, not the sender: the
//! xdp-trafficgen technique. A small XDP program, run by
//! `BPF_PROG_TEST_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`, rewrites each
//! frame of a template (a random source address in 198.18.0.0/16, the
//! benchmarking range of RFC 2544, and a random source port; or one of N
//! fixed flows) and redirects it into a veth of the generator's namespace;
//! the peer veth, in the receiver's namespace, is what the receiver
//! protects. The kernel builds every frame in a page pool, so one thread
//! offers millions of frames a second, and the receiver's XDP program and
//! stack run in the softirq the generator's batch flush raises, on the
//! generator's CPU: the wall time of the call is the whole cost.
//!
//! The program is assembled here (about 40 instructions), so the bench
//! needs no second eBPF object.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::{Duration, Instant},
};

use crate::{
    empty::{BPF_PROG_LOAD, BPF_PROG_TEST_RUN, BPF_PROG_TYPE_XDP, ProgLoadAttr, TestRunAttr, bpf},
    netns::Netns,
};

const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
/// Frames per batch (the kernel's maximum is 256; veth's ring holds 256).
const BATCH: u32 = 64;

/// What varies from frame to frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vary {
    /// Source address (the low 16 bits, in 198.18.0.0/16) and source
    /// port (32768..65535), both random: a spoofed flood.
    Spoofed,
    /// The source port, one of `count` ports from `first`, and with it
    /// the flow's TCP sequence and acknowledgement numbers (from the
    /// generator's map, see [`Generator::set_flow`]): established flows
    /// from one source.
    Flows {
        /// The first source port.
        first: u16,
        /// How many.
        count: u16,
    },
}

/// The layer 4 of the template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A UDP datagram with 18 bytes of payload (a 64-byte frame with FCS).
    Udp,
    /// A TCP segment without payload, with these flags, sequence and
    /// acknowledgement numbers.
    Tcp {
        /// TCP flags.
        flags: u8,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
    },
}

/// A flood's frames: Ethernet + IPv4 + UDP or TCP.
#[derive(Clone, Debug)]
pub struct Template {
    /// The frame.
    pub frame: Vec<u8>,
    kind: Kind,
    vary: Vary,
}

/// The one's-complement sum of `b` as little-endian 16-bit words (the
/// Internet checksum is byte-order independent: computed and stored in the
/// same order, it is right).
fn sum_le(b: &[u8]) -> u32 {
    let mut s = 0u32;
    for c in b.chunks(2) {
        let w = u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        s += u32::from(w);
    }
    s
}

fn fold(mut s: u32) -> u32 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

impl Template {
    /// A frame from `src` (its last two bytes vary when spoofed) port
    /// `sport` to `dst`:`dport`, from MAC `smac` to `dmac`.
    #[must_use]
    pub fn new(
        (smac, dmac): ([u8; 6], [u8; 6]),
        (src, sport): ([u8; 4], u16),
        (dst, dport): ([u8; 4], u16),
        kind: Kind,
        vary: Vary,
    ) -> Self {
        let mut f = Vec::with_capacity(60);
        f.extend_from_slice(&dmac);
        f.extend_from_slice(&smac);
        f.extend_from_slice(&[0x08, 0x00]);
        let (proto, l4len) = match kind {
            Kind::Udp => (17u8, 8 + 18),
            Kind::Tcp { .. } => (6u8, 20),
        };
        let total = 20 + l4len;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            proto,
        ]);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        match kind {
            Kind::Udp => {
                f.extend_from_slice(&(l4len as u16).to_be_bytes());
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(&[0x5a; 18]);
            }
            Kind::Tcp { flags, seq, ack } => {
                f.extend_from_slice(&seq.to_be_bytes());
                f.extend_from_slice(&ack.to_be_bytes());
                f.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
            }
        }
        let mut t = Self {
            frame: f,
            kind,
            vary,
        };
        // Checksums of the template as it is (the program recomputes them
        // from the sums without the varying words).
        let ip = !fold(sum_le(&t.frame[14..34])) as u16;
        t.frame[24..26].copy_from_slice(&ip.to_le_bytes());
        if let Kind::Tcp { .. } = kind {
            let l4 = !fold(Self::pseudo_sum(&t.frame) + sum_le(&t.frame[34..54])) as u16;
            t.frame[50..52].copy_from_slice(&l4.to_le_bytes());
        }
        t
    }

    /// The TCP pseudo-header's sum (addresses, protocol, length) of
    /// frame `f`.
    fn pseudo_sum(f: &[u8]) -> u32 {
        let len = (f.len() - 34) as u16;
        sum_le(&f[26..34]) + sum_le(&[0, 6]) + sum_le(&len.to_be_bytes())
    }

    /// The IPv4 header's sum with the checksum and the varying address
    /// word zeroed, and the same for the TCP checksum (0 for UDP, which
    /// goes without one).
    fn base_sums(&self) -> (u32, u32) {
        let mut f = self.frame.clone();
        f[24..26].fill(0);
        if self.vary == Vary::Spoofed {
            f[28..30].fill(0);
        } else if f.len() >= 54 {
            f[38..46].fill(0);
        }
        let ip = fold(sum_le(&f[14..34]));
        let l4 = if let Kind::Tcp { .. } = self.kind {
            f[34..36].fill(0);
            f[50..52].fill(0);
            fold(Self::pseudo_sum(&f) + sum_le(&f[34..54]))
        } else {
            0
        };
        (ip, l4)
    }
}

/// One eBPF instruction.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let [o0, o1] = off.to_le_bytes();
    let [i0, i1, i2, i3] = imm.to_le_bytes();
    u64::from_le_bytes([code, (src << 4) | dst, o0, o1, i0, i1, i2, i3])
}

const LDXW: u8 = 0x61;
const STXW: u8 = 0x63;
const LD_IMM64: u8 = 0x18;
const PSEUDO_MAP_FD: u8 = 1;
const JEQ_K: u8 = 0x15;
const MAP_LOOKUP_ELEM: i32 = 1;
const STXH: u8 = 0x6b;
const MOV_X: u8 = 0xbf;
const MOV_K: u8 = 0xb7;
const ADD_K: u8 = 0x07;
const ADD_X: u8 = 0x0f;
const AND_K: u8 = 0x57;
const OR_K: u8 = 0x47;
const RSH_K: u8 = 0x77;
const XOR_K: u8 = 0xa7;
const MOD_K: u8 = 0x97;
const JGT_X: u8 = 0x2d;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
/// BPF_ALU | BPF_END | BPF_TO_BE.
const TO_BE: u8 = 0xdc;
const GET_PRANDOM_U32: i32 = 7;
const REDIRECT: i32 = 23;

/// The generator's instructions for `t`, redirecting into `ifindex`;
/// `map_fd` is the flows' map (fixed flows only).
fn program(t: &Template, ifindex: u32, map_fd: i32) -> Vec<u64> {
    let mut lookup = None;
    let (ip_sum, l4_sum) = t.base_sums();
    let tcp = matches!(t.kind, Kind::Tcp { .. });
    let need = if tcp { 54 } else { 42 };
    let fold = |p: &mut Vec<u64>| {
        for _ in 0..2 {
            p.push(insn(MOV_X, 5, 4, 0, 0));
            p.push(insn(RSH_K, 5, 0, 0, 16));
            p.push(insn(AND_K, 4, 0, 0, 0xffff));
            p.push(insn(ADD_X, 4, 5, 0, 0));
        }
        p.push(insn(XOR_K, 4, 0, 0, 0xffff));
    };
    let mut p = vec![
        insn(MOV_X, 6, 1, 0, 0),
        insn(LDXW, 7, 6, 0, 0),
        insn(LDXW, 8, 6, 4, 0),
        insn(MOV_X, 2, 7, 0, 0),
        insn(ADD_K, 2, 0, 0, need),
    ];
    let check = p.len();
    p.push(0); // if r2 > r8 goto drop (patched)
    p.push(insn(CALL, 0, 0, 0, GET_PRANDOM_U32));
    p.push(insn(MOV_X, 9, 0, 0, 0));
    // r2: the varying address word; r3: the source port, as stored.
    match t.vary {
        Vary::Spoofed => {
            p.push(insn(MOV_X, 2, 9, 0, 0));
            p.push(insn(AND_K, 2, 0, 0, 0xffff));
            p.push(insn(STXH, 7, 2, 28, 0));
            p.push(insn(MOV_X, 3, 9, 0, 0));
            p.push(insn(RSH_K, 3, 0, 0, 16));
            p.push(insn(OR_K, 3, 0, 0, 0x80));
        }
        Vary::Flows { first, count } => {
            // r9: the flow's index; its (seq, ack) from the map.
            p.push(insn(RSH_K, 9, 0, 0, 8));
            p.push(insn(MOD_K, 9, 0, 0, i32::from(count.max(1))));
            p.push(insn(STXW, 10, 9, -4, 0));
            p.push(insn(LD_IMM64, 1, PSEUDO_MAP_FD, 0, map_fd));
            p.push(0);
            p.push(insn(MOV_X, 2, 10, 0, 0));
            p.push(insn(ADD_K, 2, 0, 0, -4));
            p.push(insn(CALL, 0, 0, 0, MAP_LOOKUP_ELEM));
            lookup = Some(p.len());
            p.push(0); // if r0 == 0 goto drop (patched)
            p.push(insn(MOV_X, 3, 9, 0, 0));
            p.push(insn(ADD_K, 3, 0, 0, i32::from(first)));
            p.push(insn(TO_BE, 3, 0, 0, 16));
            p.push(insn(MOV_K, 2, 0, 0, 0));
        }
    }
    p.push(insn(STXH, 7, 3, 34, 0));
    if t.vary == Vary::Spoofed {
        p.push(insn(MOV_K, 4, 0, 0, ip_sum as i32));
        p.push(insn(ADD_X, 4, 2, 0, 0));
        fold(&mut p);
        p.push(insn(STXH, 7, 4, 24, 0));
    }
    if tcp {
        p.push(insn(MOV_K, 4, 0, 0, l4_sum as i32));
        p.push(insn(ADD_X, 4, 2, 0, 0));
        p.push(insn(ADD_X, 4, 3, 0, 0));
        if lookup.is_some() {
            // seq and ack: stored as the map holds them (network order),
            // and both halves of each added to the sum.
            for (at, off) in [(0i16, 38i16), (4, 42)] {
                p.push(insn(LDXW, 1, 0, at, 0));
                p.push(insn(STXW, 7, 1, off, 0));
                p.push(insn(MOV_X, 2, 1, 0, 0));
                p.push(insn(AND_K, 2, 0, 0, 0xffff));
                p.push(insn(ADD_X, 4, 2, 0, 0));
                p.push(insn(RSH_K, 1, 0, 0, 16));
                p.push(insn(ADD_X, 4, 1, 0, 0));
            }
        }
        fold(&mut p);
        p.push(insn(STXH, 7, 4, 50, 0));
    }
    p.push(insn(MOV_K, 1, 0, 0, ifindex as i32));
    p.push(insn(MOV_K, 2, 0, 0, 0));
    p.push(insn(CALL, 0, 0, 0, REDIRECT));
    p.push(insn(EXIT, 0, 0, 0, 0));
    let drop = p.len();
    p.push(insn(MOV_K, 0, 0, 0, 1));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p[check] = insn(JGT_X, 2, 8, (drop - check - 1) as i16, 0);
    if let Some(at) = lookup {
        p[at] = insn(JEQ_K, 0, 0, (drop - at - 1) as i16, 0);
    }
    p
}

/// A loaded generator for one template and one output interface.
pub struct Generator {
    fd: OwnedFd,
    frame: Vec<u8>,
    /// Fixed flows: their (seq, ack), network order, by index.
    flows: Option<OwnedFd>,
}

/// `union bpf_attr` for BPF_MAP_CREATE, up to `max_entries`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
}

/// `union bpf_attr` for BPF_MAP_UPDATE_ELEM.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_TYPE_ARRAY: u32 = 2;

impl Generator {
    /// Assembles and loads the generator of `t` into interface `ifindex`
    /// (of the namespace the generator will run in).
    ///
    /// # Errors
    /// When the kernel refuses the program (the verifier's log is in the
    /// error).
    pub fn load(t: &Template, ifindex: u32) -> io::Result<Self> {
        let flows = match t.vary {
            Vary::Flows { count, .. } => {
                let mut attr = MapCreateAttr {
                    map_type: BPF_MAP_TYPE_ARRAY,
                    key_size: 4,
                    value_size: 8,
                    max_entries: u32::from(count.max(1)),
                };
                let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
                // SAFETY: a new file descriptor the kernel just returned.
                Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
            }
            Vary::Spoofed => None,
        };
        let insns = program(t, ifindex, flows.as_ref().map_or(0, |f| f.as_raw_fd()));
        let license = c"GPL";
        let mut log = vec![0u8; 64 * 1024];
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            ..ProgLoadAttr::default()
        };
        attr.prog_name[..9].copy_from_slice(b"fw_floodg");
        let fd = bpf(BPF_PROG_LOAD, &mut attr).map_err(|e| {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            io::Error::new(
                e.kind(),
                format!("{e}: {}", String::from_utf8_lossy(&log[..end])),
            )
        })?;
        // SAFETY: a new file descriptor the kernel just returned to us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Self {
            fd,
            frame: t.frame.clone(),
            flows,
        })
    }

    /// Sets the sequence and acknowledgement numbers of fixed flow `i`
    /// (its source port is the template's first plus `i`).
    ///
    /// # Errors
    /// When there are no fixed flows or `i` is out of range.
    pub fn set_flow(&self, i: u32, seq: u32, ack: u32) -> io::Result<()> {
        let Some(map) = &self.flows else {
            return Err(io::Error::other("not a generator of fixed flows"));
        };
        let mut value = [0u8; 8];
        value[..4].copy_from_slice(&seq.to_be_bytes());
        value[4..].copy_from_slice(&ack.to_be_bytes());
        let mut attr = MapElemAttr {
            map_fd: map.as_raw_fd() as u32,
            key: (&raw const i) as u64,
            value: value.as_ptr() as u64,
            ..MapElemAttr::default()
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
    }

    /// Offers `frames` frames; returns the wall time of the call. Must run
    /// on a thread inside the generator's namespace.
    ///
    /// # Errors
    /// When the test run fails.
    pub fn offer(&self, frames: u32) -> io::Result<Duration> {
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: self.frame.len() as u32,
            data_in: self.frame.as_ptr() as u64,
            repeat: frames,
            flags: BPF_F_TEST_XDP_LIVE_FRAMES,
            batch_size: BATCH,
            ..TestRunAttr::default()
        };
        let t = Instant::now();
        bpf(BPF_PROG_TEST_RUN, &mut attr)?;
        Ok(t.elapsed())
    }
}

/// Pins the calling thread to `cpu`.
///
/// # Panics
/// When the kernel refuses.
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set);
        assert_eq!(rc, 0, "sched_setaffinity {cpu}");
    }
}

/// The counters `ethtool -S` shows for `dev` in `ns` (a veth: per-queue
/// XDP and drop counters).
///
/// # Panics
/// When ethtool fails.
#[must_use]
pub fn ethtool_stats(ns: &Netns, dev: &str) -> std::collections::BTreeMap<String, u64> {
    let out = crate::netns::sh(&["ip", "netns", "exec", &ns.name, "ethtool", "-S", dev]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The counters of `/proc/net/snmp` (`Ip.InReceives`, `Udp.NoPorts`, ...)
/// as the namespace `ns` sees them.
///
/// # Panics
/// When the file cannot be read.
#[must_use]
pub fn snmp(ns: &Netns) -> std::collections::BTreeMap<String, u64> {
    let text = ns.run(|| std::fs::read_to_string("/proc/thread-self/net/snmp").expect("snmp"));
    let lines: Vec<&str> = text.lines().collect();
    let mut m = std::collections::BTreeMap::new();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((p, names)), Some((_, values))) = (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = v.parse() {
                m.insert(format!("{p}.{n}"), v);
            }
        }
    }
    m
}

/// The MAC address of `dev` in `ns`.
///
/// # Panics
/// When `ip` fails or shows no address.
#[must_use]
pub fn mac(ns: &Netns, dev: &str) -> [u8; 6] {
    let out = ns.ip(&["-br", "link", "show", "dev", dev]);
    let text = String::from_utf8_lossy(&out.stdout);
    let word = text
        .split_whitespace()
        .find(|w| w.len() == 17 && w.matches(':').count() == 5)
        .unwrap_or_else(|| panic!("no MAC for {dev}: {text}"));
    let mut m = [0u8; 6];
    for (i, b) in word.split(':').enumerate() {
        m[i] = u8::from_str_radix(b, 16).expect("hex");
    }
    m
}

/// The next sequence number to send and to receive of the connected TCP
/// socket `fd`, read in repair mode (`TCP_REPAIR`, as CRIU does); the
/// socket stays in repair mode, so it never answers and closes without a
/// FIN or reset.
///
/// # Errors
/// When the kernel refuses (repair mode needs CAP_NET_ADMIN).
pub fn tcp_seqs(fd: std::os::fd::RawFd) -> io::Result<(u32, u32)> {
    const TCP_REPAIR: i32 = 19;
    const TCP_REPAIR_QUEUE: i32 = 20;
    const TCP_QUEUE_SEQ: i32 = 21;
    const TCP_RECV_QUEUE: i32 = 1;
    const TCP_SEND_QUEUE: i32 = 2;
    let set = |opt: i32, v: i32| {
        // SAFETY: setsockopt with a valid int.
        let rc = unsafe { libc::setsockopt(fd, libc::IPPROTO_TCP, opt, (&raw const v).cast(), 4) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let get = || {
        let mut v = 0u32;
        let mut len = 4u32;
        // SAFETY: getsockopt into a valid u32 with its length.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                TCP_QUEUE_SEQ,
                (&raw mut v).cast(),
                &raw mut len,
            )
        };
        if rc == 0 {
            Ok(v)
        } else {
            Err(io::Error::last_os_error())
        }
    };
    set(TCP_REPAIR, 1)?;
    set(TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)?;
    let snd = get()?;
    set(TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)?;
    let rcv = get()?;
    Ok((snd, rcv))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksums the program computes equal the real ones, for any
    /// value of the varying words.
    #[test]
    fn incremental_checksums() {
        for kind in [
            Kind::Udp,
            Kind::Tcp {
                flags: 0x02,
                seq: 12345,
                ack: 0,
            },
        ] {
            let t = Template::new(
                ([2; 6], [4; 6]),
                ([198, 18, 0, 0], 40000),
                ([192, 0, 2, 1], 9),
                kind,
                Vary::Spoofed,
            );
            let (ip, l4) = t.base_sums();
            for r in [0u32, 0xffff_ffff, 0x1234_5678, 0x8000_0001] {
                let mut f = t.frame.clone();
                let w = (r & 0xffff) as u16;
                let port = ((r >> 16) | 0x80) as u16;
                f[28..30].copy_from_slice(&w.to_le_bytes());
                f[34..36].copy_from_slice(&port.to_le_bytes());
                let c = !fold(ip + u32::from(w)) as u16;
                f[24..26].copy_from_slice(&c.to_le_bytes());
                assert_eq!(fold(sum_le(&f[14..34])), 0xffff, "ip {r:#x}");
                if let Kind::Tcp { .. } = kind {
                    let c = !fold(l4 + u32::from(w) + u32::from(port)) as u16;
                    f[50..52].copy_from_slice(&c.to_le_bytes());
                    assert_eq!(
                        fold(Template::pseudo_sum(&f) + sum_le(&f[34..54])),
                        0xffff,
                        "tcp {r:#x}"
                    );
                }
            }
        }
    }
}

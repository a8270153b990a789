//! Drop logs, userspace side: the data plane's [`LogEvent`]s (see
//! `fw_common::log`) as ufw's lines, and where they go.
//!
//! The line is the kernel LOG target's, as ufw's logging produces it, so
//! the parsers operators already run (fail2ban filters, logwatch, grep)
//! match it:
//!
//! ```text
//! [UFW BLOCK] IN=eth0 OUT= MAC=dst:src:type SRC=198.51.100.2 DST=198.51.100.1 LEN=60
//!   TOS=0x00 PREC=0x00 TTL=64 ID=2980 DF PROTO=TCP SPT=58166 DPT=9999 WINDOW=64240
//!   RES=0x00 SYN URGP=0
//! ```
//! (one line; IPv6: `LEN= TC= HOPLIMIT= FLOWLBL=` and fully expanded
//! addresses; UDP: `LEN=`; ICMP: `TYPE= CODE=` and for echo `ID= SEQ=`;
//! packets the host sends have no `MAC=`.)

use std::{fmt::Write as _, io::Write as _, net::Ipv4Addr, path::PathBuf};

use fw_common::log::{LogEvent, LogKind};

/// The prefix word ufw uses: lines start with `[UFW BLOCK]`.
pub const DEFAULT_PREFIX: &str = "UFW";

/// An interface's name by index (empty when unknown).
#[must_use]
pub fn ifname(index: u32) -> String {
    if index == 0 {
        return String::new();
    }
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The event as ufw's line, `prefix` being the word in `[PREFIX KIND]`;
/// `names` turns an interface index into its name. None for an event
/// that holds no IP packet.
#[must_use]
pub fn format(ev: &LogEvent, prefix: &str, names: &dyn Fn(u32) -> String) -> Option<String> {
    let kind = LogKind::from_u8(ev.kind)?;
    let data = &ev.data[..(ev.caplen as usize).min(ev.data.len())];
    let mut o = String::new();
    let _ = write!(
        o,
        "[{prefix} {}] IN={} OUT={} ",
        kind.word(),
        names(ev.ifindex),
        names(ev.oifindex)
    );
    // Ethernet, with up to two VLAN tags skipped.
    let mut l3 = 14;
    let mut ethertype = be16(data, 12)?;
    while matches!(ethertype, 0x8100 | 0x88a8) && l3 < 22 {
        ethertype = be16(data, l3 + 2)?;
        l3 += 4;
    }
    if ev.ifindex != 0 {
        let mac: Vec<String> = data[..14].iter().map(|b| format!("{b:02x}")).collect();
        let _ = write!(o, "MAC={} ", mac.join(":"));
    }
    let ip = data.get(l3..)?;
    let (proto, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(*ip.first()? & 0x0f) * 4;
            let tos = *ip.get(1)?;
            let flags = be16(ip, 6)?;
            let src = Ipv4Addr::new(*ip.get(12)?, ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(*ip.get(16)?, ip[17], ip[18], ip[19]);
            let _ = write!(
                o,
                "SRC={src} DST={dst} LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ",
                be16(ip, 2)?,
                tos & 0x1e,
                tos & 0xe0,
                ip.get(8)?,
                be16(ip, 4)?
            );
            if tos & 3 == 3 {
                o.push_str("CE ");
            }
            if flags & 0x4000 != 0 {
                o.push_str("DF ");
            }
            if flags & 0x2000 != 0 {
                o.push_str("MF ");
            }
            let frag = flags & 0x1fff;
            if frag != 0 {
                let _ = write!(o, "FRAG:{frag} ");
                let _ = write!(o, "PROTO={} ", proto_name(ip[9], false));
                return Some(o.trim_end().to_owned());
            }
            (ip[9], ip.get(ihl..)?)
        }
        0x86dd => {
            let word = u32::from_be_bytes([*ip.first()?, *ip.get(1)?, *ip.get(2)?, *ip.get(3)?]);
            let addr = |at: usize| -> Option<String> {
                let b = ip.get(at..at + 16)?;
                Some(
                    (0..8)
                        .map(|i| format!("{:04x}", u16::from_be_bytes([b[2 * i], b[2 * i + 1]])))
                        .collect::<Vec<_>>()
                        .join(":"),
                )
            };
            let _ = write!(
                o,
                "SRC={} DST={} LEN={} TC={} HOPLIMIT={} FLOWLBL={} ",
                addr(8)?,
                addr(24)?,
                u32::from(be16(ip, 4)?) + 40,
                (word >> 20) & 0xff,
                ip.get(7)?,
                word & 0xf_ffff
            );
            // Past extension headers, as the kernel's LOG does.
            let (mut next, mut at) = (*ip.get(6)?, 40usize);
            for _ in 0..8 {
                match next {
                    0 | 43 | 60 => {
                        next = *ip.get(at)?;
                        at += (usize::from(*ip.get(at + 1)?) + 1) * 8;
                    }
                    51 => {
                        next = *ip.get(at)?;
                        at += (usize::from(*ip.get(at + 1)?) + 2) * 4;
                    }
                    44 => {
                        next = *ip.get(at)?;
                        at += 8;
                    }
                    _ => break,
                }
            }
            (next, ip.get(at..)?)
        }
        _ => return None,
    };
    let v6 = ethertype == 0x86dd;
    let _ = write!(o, "PROTO={} ", proto_name(proto, v6));
    match proto {
        6 => {
            let flags = *l4.get(13)?;
            let _ = write!(
                o,
                "SPT={} DPT={} WINDOW={} RES=0x{:02x} ",
                be16(l4, 0)?,
                be16(l4, 2)?,
                be16(l4, 14)?,
                // The kernel's `(flag word & TCP_RESERVED_BITS) >> 22`.
                (l4.get(12)? & 0x0f) << 2
            );
            for (bit, name) in [
                (0x80, "CWR"),
                (0x40, "ECE"),
                (0x20, "URG"),
                (0x10, "ACK"),
                (0x08, "PSH"),
                (0x04, "RST"),
                (0x02, "SYN"),
                (0x01, "FIN"),
            ] {
                if flags & bit != 0 {
                    let _ = write!(o, "{name} ");
                }
            }
            let _ = write!(o, "URGP={} ", be16(l4, 18)?);
        }
        17 => {
            let _ = write!(
                o,
                "SPT={} DPT={} LEN={} ",
                be16(l4, 0)?,
                be16(l4, 2)?,
                be16(l4, 4)?
            );
        }
        1 | 58 => {
            let (t, c) = (*l4.first()?, *l4.get(1)?);
            let _ = write!(o, "TYPE={t} CODE={c} ");
            let echo = if proto == 1 {
                t == 8 || t == 0
            } else {
                t == 128 || t == 129
            };
            if echo {
                let _ = write!(o, "ID={} SEQ={} ", be16(l4, 4)?, be16(l4, 6)?);
            }
        }
        _ => {}
    }
    Some(o.trim_end().to_owned())
}

fn proto_name(p: u8, v6: bool) -> String {
    match p {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 if v6 => "ICMPv6".into(),
        n => n.to_string(),
    }
}

/// The system's syslog socket.
pub const DEV_LOG: &str = "/dev/log";

/// Where the lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// syslog through a local socket (`/dev/log`, or another for a syslog
    /// daemon listening elsewhere): facility kern, severity warning, as
    /// the kernel's LOG lines (rsyslog and journald pick them up).
    Syslog(PathBuf),
    /// Standard output, one line each.
    Stdout,
    /// Appended to a file, with a syslog-style timestamp and host.
    File(PathBuf),
    /// Nowhere (counters only).
    None,
}

impl std::str::FromStr for Sink {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "syslog" => Ok(Self::Syslog(DEV_LOG.into())),
            "stdout" => Ok(Self::Stdout),
            "none" => Ok(Self::None),
            _ => match (s.strip_prefix("file:"), s.strip_prefix("syslog:")) {
                (Some(p), _) if !p.is_empty() => Ok(Self::File(p.into())),
                (_, Some(p)) if !p.is_empty() => Ok(Self::Syslog(p.into())),
                _ => Err(format!(
                    "bad log destination '{s}': syslog, syslog:SOCKET, stdout, file:PATH or none"
                )),
            },
        }
    }
}

/// A syslog-style timestamp (`Nov 22 08:13:18`, local time).
fn timestamp() -> String {
    let now = libc::time_t::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(0);
    // SAFETY: a zeroed tm is a valid out-parameter for localtime_r.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::localtime_r(&now, &mut tm) };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {:2} {:02}:{:02}:{:02}",
        MONTHS[(tm.tm_mon as usize).min(11)],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Writes lines to a [`Sink`].
pub struct Writer {
    sink: Sink,
    host: String,
    syslog: Option<std::os::unix::net::UnixDatagram>,
}

impl Writer {
    /// A writer for `sink`.
    #[must_use]
    pub fn new(sink: Sink) -> Self {
        Self {
            sink,
            host: hostname(),
            syslog: None,
        }
    }

    /// Writes one line (errors are reported on stderr, never fatal: a log
    /// destination that fails must not stop the daemon).
    pub fn line(&mut self, line: &str) {
        let result = match &self.sink {
            Sink::None => Ok(()),
            Sink::Stdout => writeln!(std::io::stdout(), "{line}"),
            Sink::File(p) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .and_then(|mut f| writeln!(f, "{} {} fw: {line}", timestamp(), self.host)),
            Sink::Syslog(path) => {
                if self.syslog.is_none() {
                    self.syslog = std::os::unix::net::UnixDatagram::unbound()
                        .and_then(|s| s.connect(path).map(|()| s))
                        .ok();
                }
                // <4>: facility kern (0), severity warning (4).
                let msg = format!("<4>{} fw: {line}", timestamp());
                match &self.syslog {
                    Some(s) => s.send(msg.as_bytes()).map(|_| ()),
                    None => Err(std::io::Error::other(format!(
                        "cannot reach {}",
                        path.display()
                    ))),
                }
            }
        };
        if let Err(e) = result {
            eprintln!("fw-ctl: log: {e}");
            self.syslog = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use fw_common::log::LOG_CAPTURE;

    use super::*;

    fn event(kind: LogKind, ifindex: u32, oifindex: u32, frame: &[u8]) -> LogEvent {
        let mut data = [0u8; LOG_CAPTURE];
        let n = frame.len().min(LOG_CAPTURE);
        data[..n].copy_from_slice(&frame[..n]);
        LogEvent {
            kind: kind as u8,
            dir: 0,
            _pad: [0; 2],
            ifindex,
            oifindex,
            len: frame.len() as u32,
            caplen: n as u32,
            data,
        }
    }

    fn names(i: u32) -> String {
        match i {
            3 => "vlab0".into(),
            _ => String::new(),
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// ufw's own line from the reference lab, rebuilt from the frame.
    #[test]
    fn a_tcp_syn_reads_as_ufws_line() {
        let frame = hex(concat!(
            "d62bb0dd2ac8aee057f41e560800",             // Ethernet
            "4500003c0ba4400040060000c6336402c6336401", // IPv4: ID 2980, DF, TTL 64
            "e33627 0f00000000000000 00a002faf0 00000000"
        )
        .replace(' ', "")
        .as_str());
        let line = format(&event(LogKind::Block, 3, 0, &frame), "UFW", &names).unwrap();
        assert_eq!(
            line,
            "[UFW BLOCK] IN=vlab0 OUT= MAC=d6:2b:b0:dd:2a:c8:ae:e0:57:f4:1e:56:08:00 \
             SRC=198.51.100.2 DST=198.51.100.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=2980 DF \
             PROTO=TCP SPT=58166 DPT=9999 WINDOW=64240 RES=0x00 SYN URGP=0"
        );
    }

    /// ufw's `[UFW AUDIT]` line at medium for a connection the host opens.
    #[test]
    fn an_outgoing_audit_line_reads_as_ufws() {
        let frame = hex(concat!(
            "aee057f41e56d62bb0dd2ac80800",
            "4500003c2db8400040060000c6336401c6336402", // ID 11704, DF
            "dd8200500000000000000000a002faf000000000"
        ));
        let line = format(&event(LogKind::Audit, 0, 3, &frame), "UFW", &names).unwrap();
        assert_eq!(
            line,
            "[UFW AUDIT] IN= OUT=vlab0 SRC=198.51.100.1 DST=198.51.100.2 LEN=60 TOS=0x00 \
             PREC=0x00 TTL=64 ID=11704 DF PROTO=TCP SPT=56706 DPT=80 WINDOW=64240 RES=0x00 \
             SYN URGP=0"
        );
    }

    #[test]
    fn udp_and_icmp_and_ipv6() {
        let udp = hex(concat!(
            "d62bb0dd2ac8aee057f41e560800",
            "4500002000000000401100 00c6336402c6336401",
            "abf11388000c0000"
        )
        .replace(' ', "")
        .as_str());
        let line = format(&event(LogKind::Block, 3, 0, &udp), "UFW", &names).unwrap();
        assert!(
            line.ends_with("TTL=64 ID=0 PROTO=UDP SPT=44017 DPT=5000 LEN=12"),
            "{line}"
        );
        // An echo request the host sends: no MAC, OUT= its interface.
        let ping = hex(concat!(
            "aee057f41e56d62bb0dd2ac80800",
            "450000540001000040010000c6336401c6336402",
            "0800000004d20007"
        )
        .replace(' ', "")
        .as_str());
        let line = format(&event(LogKind::Allow, 0, 3, &ping), "UFW", &names).unwrap();
        assert_eq!(
            line,
            "[UFW ALLOW] IN= OUT=vlab0 SRC=198.51.100.1 DST=198.51.100.2 LEN=84 TOS=0x00 \
             PREC=0x00 TTL=64 ID=1 PROTO=ICMP TYPE=8 CODE=0 ID=1234 SEQ=7"
        );
        let v6 = hex(concat!(
            "d62bb0dd2ac8aee057f41e5686dd",
            "6008c5c5001406 40",
            "20010db8000100000000000000000066",
            "20010db8000100000000000000000001",
            "a2fa270f0000000000000000 5002faf0 00000000"
        )
        .replace(' ', "")
        .as_str());
        let line = format(&event(LogKind::LimitBlock, 3, 0, &v6), "UFW", &names).unwrap();
        assert!(
            line.starts_with(
                "[UFW LIMIT BLOCK] IN=vlab0 OUT= MAC=d6:2b:b0:dd:2a:c8:ae:e0:57:f4:1e:56:86:dd \
                 SRC=2001:0db8:0001:0000:0000:0000:0000:0066 \
                 DST=2001:0db8:0001:0000:0000:0000:0000:0001 LEN=60 TC=0 HOPLIMIT=64 \
                 FLOWLBL=574917 PROTO=TCP SPT=41722 DPT=9999"
            ),
            "{line}"
        );
    }

    #[test]
    fn destinations_parse() {
        assert_eq!("syslog".parse(), Ok(Sink::Syslog("/dev/log".into())));
        assert_eq!(
            "syslog:/run/other/log".parse(),
            Ok(Sink::Syslog("/run/other/log".into()))
        );
        assert!("syslog:".parse::<Sink>().unwrap_err().contains("'syslog:'"));
        assert_eq!(
            "file:/var/log/fw.log".parse(),
            Ok(Sink::File("/var/log/fw.log".into()))
        );
        assert!("file:".parse::<Sink>().unwrap_err().contains("'file:'"));
        assert!("journal".parse::<Sink>().unwrap_err().contains("'journal'"));
    }
}

//! `cargo xtask demo`: fw protecting a log collector, in network namespaces.
//!
//! ```text
//!  client ns (cli0)                         collector ns (coll0, fw enabled)
//!  192.0.2.10    admin       ---- veth ---- 192.0.2.1
//!  198.51.100.20 agent net                  198.51.100.1
//!  203.0.113.66  outsider                   203.0.113.1
//!  2001:db8:1::10                           2001:db8:1::1
//! ```
//! The client reaches each collector address from the matching source
//! address (one subnet per role), so one client plays all three roles.
//! Nothing touches the host's own interfaces; the namespaces, pins and
//! state are removed at the end, also on failure.

use std::{
    fs::File,
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::AsRawFd as _,
    path::PathBuf,
    process::Command,
    thread,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

struct Lab {
    collector: String,
    client: String,
    state: PathBuf,
    pins: PathBuf,
    fw: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.fw_quiet(&["disable"]);
        for ns in [&self.collector, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().context("ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Lab {
    fn fw_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.collector))
            .arg(&self.fw)
            .args(args)
            .env("FW_STATE_DIR", &self.state)
            .env("FW_PIN_DIR", &self.pins);
        c
    }

    fn fw_quiet(&self, args: &[&str]) -> Result<()> {
        self.fw_cmd(args).output()?;
        Ok(())
    }

    fn fw(&self, args: &[&str]) -> Result<()> {
        println!("collector# fw-ctl {}", args.join(" "));
        let out = self.fw_cmd(args).output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            bail!("fw-ctl {} failed", args.join(" "));
        }
        println!();
        Ok(())
    }

    fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let path = format!("/run/netns/{ns}");
        thread::spawn(move || {
            let file = File::open(&path).expect("netns");
            // SAFETY: setns on this thread only.
            assert_eq!(
                unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
                0,
                "setns"
            );
            f()
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))
    }
}

fn setup_lab() -> Result<Lab> {
    let pid = std::process::id();
    let fw = std::env::current_dir()?.join("target/debug/fw-ctl");
    let lab = Lab {
        collector: format!("fwdemo-coll-{pid}"),
        client: format!("fwdemo-cli-{pid}"),
        state: std::env::temp_dir().join(format!("fwdemo-state-{pid}")),
        pins: PathBuf::from(format!("/sys/fs/bpf/fwdemo-{pid}")),
        fw,
    };
    ip(&["netns", "add", &lab.collector])?;
    ip(&["netns", "add", &lab.client])?;
    ip(&[
        "-n",
        &lab.collector,
        "link",
        "add",
        "coll0",
        "type",
        "veth",
        "peer",
        "name",
        "cli0",
        "netns",
        &lab.client,
    ])?;
    for (ns, dev, addrs) in [
        (
            &lab.collector,
            "coll0",
            [
                "192.0.2.1/24",
                "198.51.100.1/24",
                "203.0.113.1/24",
                "2001:db8:1::1/64",
            ],
        ),
        (
            &lab.client,
            "cli0",
            [
                "192.0.2.10/24",
                "198.51.100.20/24",
                "203.0.113.66/24",
                "2001:db8:1::10/64",
            ],
        ),
    ] {
        for a in addrs {
            let mut args = vec!["-n", ns.as_str(), "addr", "add", a, "dev", dev];
            if a.contains(':') {
                args.push("nodad");
            }
            ip(&args)?;
        }
        ip(&["-n", ns, "link", "set", dev, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    Ok(lab)
}

fn tcp_try(lab: &Lab, to: &str) -> Result<bool> {
    let addr: SocketAddr = to.parse()?;
    Lab::in_ns(&lab.client, move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    })
}

fn udp_send(lab: &Lab, to: &str, msg: &'static str) -> Result<()> {
    let addr: SocketAddr = to.parse()?;
    Lab::in_ns(&lab.client, move || {
        let bind = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let s = UdpSocket::bind(bind).expect("udp");
        s.send_to(msg.as_bytes(), addr).expect("send");
    })
}

/// Runs the demonstration.
pub(crate) fn run() -> Result<()> {
    let lab = setup_lab()?;
    println!(
        "== fw demo: a syslog/agent collector protected by fw (namespaces {} and {})\n",
        lab.collector, lab.client
    );
    // The collector's services: ssh (22/tcp), syslog (514/udp), agent (9000/tcp).
    let (l22, l9000, syslog) = Lab::in_ns(&lab.collector, || {
        (
            TcpListener::bind("[::]:22").expect("bind 22"),
            TcpListener::bind("[::]:9000").expect("bind 9000"),
            UdpSocket::bind("[::]:514").expect("bind 514"),
        )
    })?;
    syslog.set_read_timeout(Some(Duration::from_millis(300)))?;

    lab.fw(&["default", "deny", "incoming"])?;
    lab.fw(&[
        "allow",
        "from",
        "192.0.2.10",
        "to",
        "any",
        "port",
        "22",
        "proto",
        "tcp",
    ])?;
    lab.fw(&[
        "allow",
        "from",
        "198.51.100.0/24",
        "to",
        "any",
        "port",
        "514",
        "proto",
        "udp",
    ])?;
    lab.fw(&["allow", "from", "198.51.100.0/24", "port", "9000"])?;
    lab.fw(&["deny", "from", "203.0.113.66"])?;
    lab.fw(&["enable"])?;
    lab.fw(&["status", "numbered"])?;

    println!("== traffic from the client (each TCP attempt waits at most 1 s)\n");
    let mut wrong = 0;
    let mut show = |what: &str, ok: bool, expect: bool| {
        let verdict = if ok { "delivered" } else { "dropped" };
        let mark = if ok == expect {
            "as intended"
        } else {
            "UNEXPECTED"
        };
        if ok != expect {
            wrong += 1;
        }
        println!("  {what:<58} {verdict:<10} ({mark})");
    };
    show(
        "ssh    admin 192.0.2.10      -> 192.0.2.1:22/tcp",
        tcp_try(&lab, "192.0.2.1:22")?,
        true,
    );
    show(
        "ssh    agent 198.51.100.20   -> 198.51.100.1:22/tcp",
        tcp_try(&lab, "198.51.100.1:22")?,
        false,
    );
    show(
        "ssh    admin 2001:db8:1::10  -> [2001:db8:1::1]:22/tcp",
        tcp_try(&lab, "[2001:db8:1::1]:22")?,
        false,
    );
    show(
        "agent  agent 198.51.100.20   -> 198.51.100.1:9000/tcp",
        tcp_try(&lab, "198.51.100.1:9000")?,
        true,
    );
    show(
        "agent  outsider 203.0.113.66 -> 203.0.113.1:9000/tcp",
        tcp_try(&lab, "203.0.113.1:9000")?,
        false,
    );
    for (to, msg) in [
        ("198.51.100.1:514", "agent"),
        ("203.0.113.1:514", "outsider"),
        ("192.0.2.1:514", "admin"),
    ] {
        udp_send(&lab, to, msg)?;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok((n, from)) = syslog.recv_from(&mut buf) {
        got.push((String::from_utf8_lossy(&buf[..n]).into_owned(), from));
    }
    let seen = |m: &str| got.iter().any(|(g, _)| g == m);
    show(
        "syslog agent 198.51.100.20   -> 198.51.100.1:514/udp",
        seen("agent"),
        true,
    );
    show(
        "syslog outsider 203.0.113.66 -> 203.0.113.1:514/udp",
        seen("outsider"),
        false,
    );
    show(
        "syslog admin 192.0.2.10      -> 192.0.2.1:514/udp",
        seen("admin"),
        false,
    );
    drop((l22, l9000));
    println!();

    lab.fw(&["status", "numbered", "--counters"])?;
    lab.fw(&["stats"])?;
    if wrong > 0 {
        bail!("{wrong} flows did not get the intended verdict");
    }
    println!("== done: every flow got the verdict the rules give it; cleaning up");
    Ok(())
}

//! `fw-ctl daemon`: the long-running process for what needs one: every
//! interface filtered from the moment it appears (rtnetlink link events,
//! [`crate::apply::sync_instance`]), pins of deleted namespaces swept, the
//! Prometheus endpoint and the drop logs (the data plane's ring buffer
//! written as ufw's lines, see `crate::log`). The filter never depends on it: the programs and
//! maps are pinned and enforce with or without it, and stopping it changes
//! no verdict.
//!
//! It holds nothing of the data plane between requests: every scrape opens
//! the pinned maps afresh (`metrics::gather`), so the daemon survives the
//! filter being disabled, enabled again or reloaded under it, and reports
//! `fw_enabled 0` meanwhile. SIGTERM and SIGINT stop it cleanly: the
//! listener closes, requests in flight finish, exit status 0.

pub mod metrics;

use std::{convert::Infallible, net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, header, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpListener,
    signal::unix::{SignalKind, signal},
};

/// The default address of the metrics endpoint: loopback only. Port 9848:
/// in the exporters' range (9100-9999) of Prometheus's default port
/// allocations, clear of node_exporter's 9100 and of the ports that list
/// records as taken (see the README).
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9848";

/// What the daemon serves and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// The state directory of the instance.
    pub state_dir: PathBuf,
    /// The pin directory of the instance.
    pub pin_dir: PathBuf,
    /// Where `/metrics` listens.
    pub metrics_address: SocketAddr,
    /// How per-rule series are exported.
    pub rules: metrics::RuleSeries,
    /// Keep the kernel's BPF run-time statistics on while running.
    pub bpf_stats: bool,
    /// Where drop-log lines go.
    pub log: crate::log::Sink,
    /// The word in the lines' `[WORD KIND]` prefix (ufw's: `UFW`).
    pub log_prefix: String,
}

/// Runs the daemon until SIGTERM or SIGINT; returns the exit status.
///
/// # Errors
/// When the listener cannot be bound or the runtime cannot start.
pub fn run(opts: Options) -> Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(Arc::new(opts)))
}

/// `fw-ctl log --follow`: the drop logs on standard output until SIGINT or
/// SIGTERM.
///
/// # Errors
/// When the runtime cannot start.
pub fn follow(opts: Options) -> Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        tokio::select! {
            () = follow_logs(Arc::new(opts)) => {}
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(0)
    })
}

async fn serve(opts: Arc<Options>) -> Result<u8> {
    // BPF run-time statistics cost the data plane a little per packet:
    // on only when asked, and only while the daemon runs.
    let _stats = if opts.bpf_stats {
        Some(
            aya::sys::enable_stats(aya::sys::Stats::RunTime)
                .context("enabling the kernel's BPF statistics")?,
        )
    } else {
        None
    };
    let listener = TcpListener::bind(opts.metrics_address)
        .await
        .with_context(|| format!("listening on {}", opts.metrics_address))?;
    eprintln!(
        "fw-ctl daemon: metrics on http://{}/metrics",
        listener.local_addr()?
    );
    let logs = tokio::spawn(follow_logs(Arc::clone(&opts)));
    watch_interfaces(&opts);
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let opts = Arc::clone(&opts);
                conns.spawn(async move {
                    let svc = service_fn(move |req| respond(req, Arc::clone(&opts)));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    drop(listener);
    logs.abort();
    // Requests in flight finish (bounded: a scrape reads maps, no more).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    eprintln!("fw-ctl daemon: stopped");
    Ok(0)
}

/// Every interface, always: a thread that waits for rtnetlink's link
/// notifications and attaches the filter to interfaces that appear (a
/// VLAN, a tunnel, a container's bridge), within milliseconds of the
/// kernel's message; it also looks every 5 s (and sweeps pins of deleted
/// namespaces), so a missed notification costs at most that long.
fn watch_interfaces(opts: &Options) {
    let (state_dir, pin_dir) = (opts.state_dir.clone(), opts.pin_dir.clone());
    let events = match crate::apply::LinkEvents::open(std::time::Duration::from_secs(5)) {
        Ok(e) => Some(e),
        Err(e) => {
            eprintln!("fw-ctl daemon: no link notifications ({e}); looking every 5 s");
            None
        }
    };
    // The compiler works on ~1 MiB tables: a main thread's stack size.
    let spawned = std::thread::Builder::new()
        .name("interfaces".into())
        .stack_size(64 << 20)
        .spawn(move || {
            loop {
                match crate::apply::sync_instance(&state_dir, &pin_dir) {
                    Ok(added) => {
                        for name in added {
                            eprintln!("fw-ctl daemon: {name}: now protected");
                        }
                    }
                    Err(e) => eprintln!("fw-ctl daemon: interfaces: {e:#}"),
                }
                if let Ok(base) =
                    crate::loader::pins::resolve_root(std::path::Path::new("/sys/fs/bpf/fw"))
                {
                    for r in crate::apply::sweep_orphans(&base) {
                        eprintln!(
                            "fw-ctl daemon: removed pins left at {} by a deleted network namespace",
                            r.display()
                        );
                    }
                }
                match &events {
                    Some(ev) => {
                        let _ = ev.wait();
                    }
                    None => std::thread::sleep(std::time::Duration::from_secs(5)),
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("fw-ctl daemon: cannot watch interfaces: {e}");
    }
}

/// Writes the data plane's log events as lines, for as long as it runs:
/// waits for the filter to be loaded, reads the ring buffer when it has
/// events, and starts over with the new ring buffer when the filter is
/// loaded anew (disable + enable).
pub async fn follow_logs(opts: Arc<Options>) {
    let mut writer = crate::log::Writer::new(opts.log.clone());
    let pins = match crate::loader::pins::resolve_root(&opts.pin_dir) {
        Ok(root) => crate::loader::Pins::new(&root),
        Err(e) => {
            eprintln!("fw-ctl: log: {e}");
            return;
        }
    };
    let second = std::time::Duration::from_secs(1);
    loop {
        let Ok((ring, id)) = crate::loader::open_logs(&pins) else {
            tokio::time::sleep(second).await;
            continue;
        };
        // SAFETY: the ring buffer owns its map's file descriptor, which
        // stays open and the same for as long as the AsyncFd holds it.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE)
        };
        let Ok(mut fd) = registered else {
            tokio::time::sleep(second).await;
            continue;
        };
        loop {
            match tokio::time::timeout(second, fd.readable_mut()).await {
                Ok(Ok(mut guard)) => {
                    let ring = guard.get_inner_mut();
                    while let Some(item) = ring.next() {
                        if let Some(line) = event_line(&item, &opts.log_prefix) {
                            writer.line(&line);
                        }
                    }
                    guard.clear_ready();
                }
                Ok(Err(_)) => break,
                // Quiet for a second: still the same filter?
                Err(_) => {
                    if crate::loader::logs_id(&pins) != Some(id) {
                        break;
                    }
                }
            }
        }
    }
}

/// One ring-buffer record as ufw's line.
fn event_line(bytes: &[u8], prefix: &str) -> Option<String> {
    if bytes.len() < std::mem::size_of::<fw_common::log::LogEvent>() {
        return None;
    }
    // SAFETY: the record holds a LogEvent (plain integers and arrays, any
    // bit pattern valid); read unaligned.
    let ev = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<fw_common::log::LogEvent>()) };
    crate::log::format(&ev, prefix, &crate::log::ifname)
}

async fn respond(
    req: Request<Incoming>,
    opts: Arc<Options>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status, kind: &'static str, body: Vec<u8>| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
        r
    };
    match req.uri().path() {
        "/metrics" => {
            let gathered = tokio::task::spawn_blocking(move || metrics::render(&opts)).await;
            Ok(match gathered {
                Ok(Ok(text)) => reply(StatusCode::OK, metrics::CONTENT_TYPE, text),
                Ok(Err(e)) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("fw-ctl daemon: {e:#}\n").into_bytes(),
                ),
                Err(e) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("fw-ctl daemon: {e}\n").into_bytes(),
                ),
            })
        }
        "/" => Ok(reply(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            b"fw-ctl daemon: metrics at /metrics\n".to_vec(),
        )),
        _ => Ok(reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"not found\n".to_vec(),
        )),
    }
}

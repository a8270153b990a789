//! The apply transaction, and the check that `status` tells the truth.
//!
//! Every change to the kernel goes through [`install`] (rule and policy
//! changes) or [`sync`] (interfaces, and converging after a crash). The
//! order of one apply, with the test-only crash points named:
//!
//! ```text
//!   lock state dir            (StateDir::open_locked; held to the end)
//!   read state, change it     (caller)
//!   compile                   (all validation: nothing written yet)
//!   prepare idle slot         "prepared": invisible to packets; the slot's
//!                             header carries the new state's digest
//!   save state files          "saved": rules then fw.conf, each by rename
//!   commit (flip the slot)    "committed": one CONFIG write
//!   record last-apply         metrics only
//! ```
//!
//! Guarantees, for a crash (kill -9, power loss) at any instant:
//! - before "saved": files old, kernel old (the idle slot is never read);
//! - between "saved" and "committed": files new, kernel old. The live
//!   slot's digest then differs from the files' digest, every command sees
//!   it ([`check`]), `status` says so plainly, and the next change or
//!   `reload` converges;
//! - after "committed": both new.
//!
//! The kernel never runs a rule set that the files do not hold or did not
//! hold just before: the files are written before the flip.
//!
//! [`check`] is what `status` and every command trust: the instance's pins
//! belong to this network namespace (its cookie), the live slot's digest is
//! the saved state's, the logging, tracking, limit and built-in rule settings are fw.conf's, and every interface the state asks for has a live
//! link to the right interface index (a link whose interface vanished is
//! defunct, and an interface re-created under the same name is a new one).
//!
//! Pins whose network namespace is gone are removed by [`sweep_orphans`]
//! (every fw-ctl run that touches the kernel, and the daemon).

use std::{
    collections::HashSet,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    path::{Path, PathBuf},
};

use crate::{
    loader::{Dataplane, LoaderError, Pins, attach},
    netns::{self, Iface},
    rule::compile::{CompileError, compile},
    state::{State, StateDir, StateError, render_rules},
};

/// Errors of an apply.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The rules do not compile (a user error: nothing was changed).
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The state files could not be written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The kernel side failed.
    #[error(transparent)]
    Loader(#[from] LoaderError),
    /// The interface list could not be read.
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
}

/// The test-only fault injection: when `FW_TEST_CRASH_AT` names `step`,
/// the process kills itself with SIGKILL there, as a crash would. Used by
/// the crash-consistency tests to stop an apply at each step boundary.
pub fn crash_point(step: &str) {
    if std::env::var_os("FW_TEST_CRASH_AT").is_some_and(|v| v == step) {
        // SAFETY: kill(2) on our own pid.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// FNV-1a, 64 bits: a stable hash (the digest must not change between
/// fw-ctl builds that read the same files).
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

/// The digest of what the kernel should enforce for `st`: the rules file's
/// text, the default policies and the interface indices that the rules'
/// interface names resolve to now (a rule naming a new interface changes
/// it). Stored in the slot header ([`fw_common::rules::RulesetHeader`]).
#[must_use]
pub fn digest(st: &State, ifaces: &[Iface]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    fnv(&mut h, render_rules(&st.rules).as_bytes());
    let d = st.defaults;
    fnv(
        &mut h,
        format!("{:?} {:?} {:?}", d.incoming, d.outgoing, d.routed).as_bytes(),
    );
    let mut names: Vec<&str> = st
        .rules
        .iter()
        .flat_map(|r| [r.rule.iface.as_deref(), r.rule.opts.iface_out.as_deref()])
        .flatten()
        .collect();
    names.sort_unstable();
    names.dedup();
    for n in names {
        fnv(
            &mut h,
            format!("{n}={:?};", netns::resolve(n, ifaces)).as_bytes(),
        );
    }
    // Never 0: a zero digest is a header written before digests existed.
    ((h >> 32) as u32 ^ h as u32).max(1)
}

/// Compiles `st`, builds it in the idle slot, saves the state files and
/// flips the slot (see the module's steps). With `dp` `None` (not enabled)
/// only the files are written.
///
/// # Errors
/// A compile error (nothing changed) or a kernel/file error.
pub fn install(
    dir: &StateDir,
    dp: Option<&mut Dataplane>,
    old: &State,
    st: &State,
) -> Result<(), ApplyError> {
    let started = std::time::Instant::now();
    let ifaces = netns::interfaces()?;
    let resolver = |name: &str| netns::resolve(name, &ifaces);
    let mut compiled = compile(&st.rules, st.defaults, &resolver)?;
    let Some(dp) = dp else {
        dir.save(st)?;
        crash_point("saved");
        return Ok(());
    };
    compiled.header.digest = digest(st, &ifaces);
    let known: HashSet<u32> = old.rules.iter().map(|r| r.id).collect();
    let fresh: Vec<u32> = st
        .rules
        .iter()
        .map(|r| r.id)
        .filter(|id| !known.contains(id))
        .collect();
    let prepared = dp.prepare(&compiled, &fresh)?;
    crash_point("prepared");
    dir.save(st)?;
    crash_point("saved");
    dp.commit(prepared)?;
    crash_point("committed");
    dir.record_apply(started.elapsed())?;
    Ok(())
}

/// The interfaces `st` asks to protect, among `all`: those named in
/// `INTERFACES`, else every non-loopback one that is not a bridge's or a
/// bond's port (see [`netns::ports`]).
#[must_use]
pub fn wanted(st: &State, all: &[Iface]) -> Vec<String> {
    if st.interfaces.is_empty() {
        // Bridge and bond ports are covered by their master.
        let ports = netns::ports().unwrap_or_default();
        all.iter()
            .filter(|i| !netns::is_loopback(&i.name) && !ports.contains(&i.index))
            .map(|i| i.name.clone())
            .collect()
    } else {
        st.interfaces.clone()
    }
}

/// What the kernel enforces, compared with what the state says.
#[derive(Debug, Default)]
pub struct Truth {
    /// Interfaces with live links of both programs.
    pub protected: Vec<String>,
    /// Interfaces the state asks for that are not filtered (no link, a
    /// defunct link, or a link to an older interface of that name), and
    /// named interfaces that do not exist.
    pub unprotected: Vec<String>,
    /// Everything else that is not as saved, in plain words.
    pub problems: Vec<String>,
    /// Interfaces left out on purpose (`INTERFACES` names others): not a
    /// problem, but never silent.
    pub left_out: Vec<String>,
}

impl Truth {
    /// True when the kernel enforces exactly the saved state everywhere.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.unprotected.is_empty() && self.problems.is_empty()
    }
}

/// The interface index a pinned link is attached to: `Some(0)` when the
/// link is defunct (its interface was removed), `None` when there is no
/// such pin or it is not a link.
#[must_use]
pub fn link_ifindex(path: &Path) -> Option<u32> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // union bpf_attr for BPF_OBJ_GET: pathname, bpf_fd, file_flags, path_fd.
    let mut get = [0u64; 3];
    get[0] = c.as_ptr() as u64;
    // SAFETY: BPF_OBJ_GET (7) reads a path and returns a new fd.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            7,
            get.as_mut_ptr(),
            std::mem::size_of_val(&get),
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: the fd was just returned to us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // struct bpf_link_info: type, id, prog_id, pad, then the union (8-byte
    // aligned, offset 16) whose xdp and tcx members start with ifindex.
    let mut info = [0u8; 256];
    // union bpf_attr for BPF_OBJ_GET_INFO_BY_FD: bpf_fd, info_len, info.
    let mut attr = [0u32; 4];
    attr[0] = fd.as_raw_fd() as u32;
    attr[1] = info.len() as u32;
    let ptr = info.as_mut_ptr() as u64;
    attr[2] = ptr as u32;
    attr[3] = (ptr >> 32) as u32;
    // SAFETY: BPF_OBJ_GET_INFO_BY_FD (15) writes at most info_len bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            15,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if r < 0 {
        return None;
    }
    Some(u32::from_ne_bytes([info[16], info[17], info[18], info[19]]))
}

/// True when all of fw's links for `iface` are live on that interface
/// (its current index).
#[must_use]
pub fn is_protected(pins: &Pins, iface: &Iface) -> bool {
    attach::LINK_KINDS
        .iter()
        .all(|k| link_ifindex(&pins.link(k, &iface.name)) == Some(iface.index))
}

/// Compares the live instance with `st` (see the module's doc).
///
/// # Errors
/// When a map cannot be read.
pub fn check(dp: &Dataplane, st: &State, all: &[Iface]) -> Result<Truth, LoaderError> {
    let mut t = Truth::default();
    let cfg = dp.config()?;
    if cfg.netns_cookie != netns::cookie() {
        t.problems.push(format!(
            "the pins at {} belong to another network namespace",
            dp.pins().root().display()
        ));
        return Ok(t);
    }
    let live = dp.live_header()?;
    if live.digest != digest(st, all) {
        t.problems.push(format!(
            "the kernel enforces rule-set generation {} which is not the saved rule set \
             (an apply was interrupted, or an interface a rule names changed); \
             run 'fw-ctl reload'",
            cfg.generation
        ));
    }
    if cfg.log_level != st.logging.kernel() {
        t.problems
            .push("the kernel's logging level is not the saved one; run 'fw-ctl reload'".into());
    }
    let tracking = cfg.flags & fw_common::config::CONFIG_CONNTRACK != 0;
    if tracking != st.tracking.enabled
        || cfg.ct_timeout_s != st.tracking.timeouts
        || cfg.limit_hits != st.tracking.limit_hits
        || cfg.limit_window_s != st.tracking.limit_window
    {
        t.problems.push(
            "the kernel's connection tracking or limit settings are not fw.conf's; \
             run 'fw-ctl reload'"
                .into(),
        );
    }
    if cfg.builtins != st.builtins_word() {
        t.problems.push(
            "the kernel's built-in rule settings are not fw.conf's; run 'fw-ctl reload'".into(),
        );
    }
    let want = wanted(st, all);
    for name in &want {
        match all.iter().find(|i| &i.name == name) {
            Some(i) if is_protected(dp.pins(), i) => t.protected.push(name.clone()),
            _ => t.unprotected.push(name.clone()),
        }
    }
    if !st.interfaces.is_empty() {
        t.left_out = all
            .iter()
            .filter(|i| !netns::is_loopback(&i.name) && !want.contains(&i.name))
            .map(|i| i.name.clone())
            .collect();
    }
    Ok(t)
}

/// Attaches the filter to every wanted interface that lacks a live link
/// (replacing defunct links), removes links of interfaces that are gone
/// or no longer wanted, and re-applies the rule set when its digest is not
/// the saved state's (a rule naming an interface that appeared, or an
/// interrupted apply). Returns the interfaces newly attached.
///
/// # Errors
/// Attach or apply failures.
pub fn sync(dir: &StateDir, dp: &mut Dataplane, st: &State) -> Result<Vec<String>, ApplyError> {
    let all = netns::interfaces()?;
    let pins = dp.pins().clone();
    let want = wanted(st, &all);
    for name in attach::attached(&pins) {
        let live = all.iter().find(|i| i.name == name);
        if !want.contains(&name) || live.is_none_or(|i| !is_protected(&pins, i)) {
            attach::detach(&pins, &name)?;
        }
    }
    let mut added = Vec::new();
    for name in &want {
        let Some(iface) = all.iter().find(|i| &i.name == name) else {
            continue;
        };
        if is_protected(&pins, iface) {
            continue;
        }
        attach::detach(&pins, name)?;
        // In the order of `attach::LINK_KINDS`.
        attach::attach_tc(&pins, name, attach::TC_INGRESS)?;
        if attach::attach_xdp(&pins, name)? == attach::XdpModeUsed::Generic {
            eprintln!(
                "WARN: {name}: native XDP not supported by the driver; using generic mode (slower)"
            );
        }
        attach::attach_tc(&pins, name, attach::TC_EGRESS)?;
        added.push(name.clone());
    }
    // The host's denied sends fail with EPERM where every interface is
    // protected (`fw_common::config::CONFIG_LOCAL_EPERM`).
    dp.set_local_eperm(st.interfaces.is_empty())?;
    if !attach::cgroup_attached(&pins) {
        // Not a filter of its own (TC egress drops those sends anyway):
        // without it a denied send is dropped without an error.
        let r = attach::cgroup_root()
            .ok_or_else(|| "no cgroup2 hierarchy is mounted".to_owned())
            .and_then(|cg| {
                attach::attach_cgroup(&pins, &cg)
                    .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
            });
        if let Err(e) = r {
            eprintln!("WARN: denied sends fail silently, not with EPERM: {e}");
        }
    }
    if dp.live_header()?.digest != digest(st, &all) {
        install(dir, Some(dp), st, st)?;
    }
    Ok(added)
}

/// The cookies of every network namespace this host can still reach (by
/// `ip netns` name or through a process living in it).
#[must_use]
pub fn live_netns_cookies() -> HashSet<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let mut seen = HashSet::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut add = |p: PathBuf| {
        if let Ok(m) = std::fs::metadata(&p)
            && seen.insert((m.dev(), m.ino()))
        {
            paths.push(p);
        }
    };
    add(PathBuf::from("/proc/self/ns/net"));
    if let Ok(d) = std::fs::read_dir("/run/netns") {
        for e in d.flatten() {
            add(e.path());
        }
    }
    if let Ok(d) = std::fs::read_dir("/proc") {
        for e in d.flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                add(e.path().join("ns/net"));
            }
        }
    }
    paths
        .into_iter()
        .filter_map(|p| {
            // setns(2) changes only the calling thread's namespace.
            std::thread::spawn(move || {
                let f = std::fs::File::open(&p).ok()?;
                // SAFETY: setns on an fd we own, in this thread only.
                (unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } == 0)
                    .then(netns::cookie)
                    .filter(|c| *c != 0)
            })
            .join()
            .ok()
            .flatten()
        })
        .collect()
}

/// True when the instance at `pins` filters nothing and its network
/// namespace is gone: its cookie is not among `live` and none of its links
/// is attached to an interface.
fn orphaned(pins: &Pins, live: &HashSet<u64>) -> bool {
    let Ok(dp) = Dataplane::open(pins) else {
        return false;
    };
    let Ok(cfg) = dp.config() else {
        return false;
    };
    if live.contains(&cfg.netns_cookie) {
        return false;
    }
    let Ok(links) = std::fs::read_dir(pins.links_dir()) else {
        return true;
    };
    // Interface links only (the cgroup link names no interface).
    links
        .flatten()
        .filter(|e| e.file_name() != attach::CGROUP)
        .all(|e| link_ifindex(&e.path()).is_none_or(|i| i == 0))
}

/// Removes the pins of every instance below `base` (`/sys/fs/bpf/fw`)
/// whose network namespace no longer exists (see [`orphaned`]); returns
/// the removed instance roots.
#[must_use]
pub fn sweep_orphans(base: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let candidates: Vec<Pins> = dir
        .flatten()
        .map(|e| Pins::new(&e.path()))
        .filter(Dataplane::exists)
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let live = live_netns_cookies();
    let mut removed = Vec::new();
    for pins in candidates {
        if orphaned(&pins, &live) && Dataplane::destroy(&pins).is_ok() {
            removed.push(pins.root().to_path_buf());
        }
    }
    removed
}

/// One pass of [`sync`] for the instance at `state_dir`/`pin_dir` when it
/// is enabled and loaded here (the daemon's job on every link event):
/// takes the state dir's lock like every command. Returns the interfaces
/// newly attached.
///
/// # Errors
/// Broken state files, or attach/apply failures.
pub fn sync_instance(state_dir: &Path, pin_dir: &Path) -> Result<Vec<String>, ApplyError> {
    let dir = StateDir::open_locked(state_dir)?;
    let st = dir.load()?;
    if !st.enabled {
        return Ok(Vec::new());
    }
    let pins = Pins::new(&crate::loader::pins::resolve_root(pin_dir).map_err(LoaderError::from)?);
    if !Dataplane::exists(&pins) {
        return Ok(Vec::new());
    }
    let mut dp = Dataplane::open(&pins)?;
    if dp.config()?.netns_cookie != netns::cookie() {
        return Ok(Vec::new());
    }
    sync(&dir, &mut dp, &st)
}

/// Blocks until the kernel reports a change of network interfaces in this
/// namespace (rtnetlink's link group) or `timeout` passes; true on a
/// change. The socket is made by [`LinkEvents::open`].
pub struct LinkEvents(OwnedFd);

impl LinkEvents {
    /// Subscribes to rtnetlink's link notifications (RTMGRP_LINK).
    ///
    /// # Errors
    /// When the netlink socket cannot be made.
    pub fn open(timeout: std::time::Duration) -> std::io::Result<Self> {
        let fd = netns::rtnetlink_socket()?;
        // SAFETY: zeroed sockaddr_nl is valid; fields set below.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = libc::RTMGRP_LINK as u32;
        // SAFETY: bind with a valid sockaddr_nl.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const sa).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
        };
        // SAFETY: SO_RCVTIMEO with a valid timeval.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                size_of::<libc::timeval>() as u32,
            );
        }
        Ok(Self(fd))
    }

    /// Waits for the next notification (true) or the timeout (false); the
    /// messages themselves are not needed: any change means "look again".
    #[must_use]
    pub fn wait(&self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        // SAFETY: recv into our buffer.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return false;
        }
        // Drain what else is queued: one look serves them all.
        loop {
            // SAFETY: as above, without blocking.
            let n = unsafe {
                libc::recv(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                return true;
            }
        }
    }
}

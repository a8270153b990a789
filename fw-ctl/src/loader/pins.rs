//! The pin directory: where programs, links and maps live on bpffs.
//!
//! ```text
//! PIN_DIR/v{ABI_VERSION}/maps/{CONFIG,RULESET,RULES_V4,RULES_V6,STATS,RULE_STATS}
//! PIN_DIR/v{ABI_VERSION}/progs/{fw_xdp,fw_tc_egress,fw_tc_ingress}
//! PIN_DIR/v{ABI_VERSION}/links/{tci,xdp,tcx}-IFNAME (TC ingress, XDP, TC egress)
//! ```
//! `ip netns exec` runs commands in a private mount namespace with a fresh
//! `/sys`, where bpffs is not mounted. The host's bpffs is then reached
//! through the nearest ancestor process that still sees it
//! (`/proc/PID/root/sys/fs/bpf`, normally the shell that ran `ip netns
//! exec`), so the pins survive the command and the next one finds them.

use std::{
    ffi::CString,
    fs, io,
    os::unix::ffi::OsStrExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use fw_common::abi::ABI_VERSION;

/// `statfs` magic of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
const SYS_BPF: &str = "/sys/fs/bpf";

/// Errors finding or preparing the pin directory.
#[derive(Debug, thiserror::Error)]
pub enum PinDirError {
    /// No bpffs where the pins must go.
    #[error("{path} is not on a bpf filesystem (mount one: mount -t bpf bpf {SYS_BPF})")]
    NotBpffs {
        /// The requested directory.
        path: PathBuf,
    },
    /// Mounting bpffs failed.
    #[error("cannot mount bpffs on {SYS_BPF}")]
    Mount(#[source] io::Error),
    /// Creating a directory failed.
    #[error("cannot create {path}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into st; c is a valid C string.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &raw mut st) == 0 && st.f_type == BPF_FS_MAGIC
    }
}

/// The nearest existing ancestor of `path` (or the path itself).
fn existing_ancestor(path: &Path) -> Option<&Path> {
    path.ancestors().find(|p| p.exists())
}

fn mnt_ns(pid: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt as _;
    fs::metadata(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|m| m.ino())
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...; comm may contain spaces: split after ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The host's `/sys/fs/bpf` as seen through the nearest ancestor process in
/// another mount namespace that has bpffs there (callers know this
/// process's own has none).
fn ancestor_bpffs() -> Option<PathBuf> {
    through_ancestors(|root, _| {
        let p = root.join(SYS_BPF.trim_start_matches('/'));
        is_bpffs(&p).then_some(p)
    })
}

/// `find` of this process's view, else of the nearest ancestor in another
/// mount namespace, seen through its `/proc/PID/root` (`ip netns exec`
/// gives its command a fresh `/sys`, without the host's cgroups or bpffs).
/// `find` gets the root to look under ("/" or `/proc/PID/root`) and the
/// process id (`self` or a number).
pub fn through_ancestors(find: impl Fn(&Path, &str) -> Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = find(Path::new("/"), "self") {
        return Some(p);
    }
    let own = mnt_ns("self");
    let mut pid = std::os::unix::process::parent_id();
    for _ in 0..64 {
        if pid <= 1 {
            break;
        }
        if mnt_ns(&pid.to_string()) != own {
            let root = PathBuf::from(format!("/proc/{pid}/root"));
            if let Some(p) = find(&root, &pid.to_string()) {
                return Some(p);
            }
        }
        pid = parent_of(pid)?;
    }
    None
}

/// True when this process shares its mount namespace with its parent (so a
/// mount made here outlives it).
fn shared_mount_ns() -> bool {
    let ppid = std::os::unix::process::parent_id().to_string();
    mnt_ns("self").is_some() && mnt_ns("self") == mnt_ns(&ppid)
}

/// Mounts bpffs on /sys/fs/bpf.
fn mount_bpffs() -> Result<(), PinDirError> {
    let st = Command::new("mount")
        .args(["-t", "bpf", "bpf", SYS_BPF])
        .status()
        .map_err(PinDirError::Mount)?;
    if st.success() {
        Ok(())
    } else {
        Err(PinDirError::Mount(io::Error::other(format!(
            "mount exited with {st}"
        ))))
    }
}

/// The bpffs path where `requested` really is. Under `ip netns exec` that is
/// the host's bpffs seen through an ancestor; if bpffs is not mounted on
/// `/sys/fs/bpf` at all, it is mounted (when the mount outlives us).
///
/// # Errors
/// When no bpffs can be found or mounted there.
pub fn resolve_root(requested: &Path) -> Result<PathBuf, PinDirError> {
    let here_ok = |p: &Path| existing_ancestor(p).is_some_and(is_bpffs);
    if here_ok(requested) {
        return Ok(requested.to_path_buf());
    }
    if let Ok(rel) = requested.strip_prefix(SYS_BPF) {
        if let Some(host) = ancestor_bpffs() {
            return Ok(host.join(rel));
        }
        if shared_mount_ns() && !is_bpffs(Path::new(SYS_BPF)) {
            mount_bpffs()?;
            if here_ok(requested) {
                return Ok(requested.to_path_buf());
            }
        }
    }
    Err(PinDirError::NotBpffs {
        path: requested.to_path_buf(),
    })
}

/// The versioned pin layout of one instance.
#[derive(Clone, Debug)]
pub struct Pins {
    root: PathBuf,
}

impl Pins {
    /// The layout below an already resolved bpffs directory.
    #[must_use]
    pub fn new(resolved: &Path) -> Self {
        Self {
            root: resolved.join(format!("v{ABI_VERSION}")),
        }
    }

    /// The versioned root (`.../vN`).
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A map's pin.
    #[must_use]
    pub fn map(&self, name: &str) -> PathBuf {
        self.root.join("maps").join(name)
    }

    /// A program's pin.
    #[must_use]
    pub fn prog(&self, name: &str) -> PathBuf {
        self.root.join("progs").join(name)
    }

    /// The directory of link pins.
    #[must_use]
    pub fn links_dir(&self) -> PathBuf {
        self.root.join("links")
    }

    /// A link's pin: `kind` is one of `attach::LINK_KINDS`.
    #[must_use]
    pub fn link(&self, kind: &str, ifname: &str) -> PathBuf {
        self.links_dir().join(format!("{kind}-{ifname}"))
    }

    /// Creates the directories.
    ///
    /// # Errors
    /// When a directory cannot be created.
    pub fn create_dirs(&self) -> Result<(), PinDirError> {
        for d in [
            self.root.join("maps"),
            self.root.join("progs"),
            self.links_dir(),
        ] {
            fs::create_dir_all(&d).map_err(|source| PinDirError::Create {
                path: d.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Other versions' directories next to ours (an older or newer fw).
    #[must_use]
    pub fn other_versions(&self) -> Vec<PathBuf> {
        let Some(parent) = self.root.parent() else {
            return Vec::new();
        };
        let Ok(dir) = fs::read_dir(parent) else {
            return Vec::new();
        };
        dir.flatten()
            .map(|e| e.path())
            .filter(|p| {
                p != &self.root
                    && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with('v') && n[1..].chars().all(|c| c.is_ascii_digit())
                    })
            })
            .collect()
    }
}

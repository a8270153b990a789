//! An XDP program that only returns XDP_PASS (two instructions), loaded
//! with a raw `bpf(BPF_PROG_LOAD)`: the baseline of the benchmark (timed
//! with `bpf(BPF_PROG_TEST_RUN)` exactly like the filter, so the difference
//! between the two is the filter's own cost), the flood bench's no-filter
//! receiver, and the XDP program of the one reject test with an XDP peer
//! (a veth with an XDP program delivers frames differently: with NAPI).

use std::{
    io,
    os::fd::{FromRawFd as _, OwnedFd},
};

pub(crate) const BPF_PROG_LOAD: libc::c_long = 5;
pub(crate) const BPF_PROG_TEST_RUN: libc::c_long = 10;
pub(crate) const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_XDP: u32 = 37;

/// `union bpf_attr` for BPF_LINK_CREATE, up to `flags`.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// `union bpf_attr` for BPF_PROG_LOAD, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgLoadAttr {
    pub(crate) prog_type: u32,
    pub(crate) insn_cnt: u32,
    pub(crate) insns: u64,
    pub(crate) license: u64,
    pub(crate) log_level: u32,
    pub(crate) log_size: u32,
    pub(crate) log_buf: u64,
    pub(crate) kern_version: u32,
    pub(crate) prog_flags: u32,
    pub(crate) prog_name: [u8; 16],
    pub(crate) prog_ifindex: u32,
    pub(crate) expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_TEST_RUN, up to `batch_size`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct TestRunAttr {
    pub(crate) prog_fd: u32,
    pub(crate) retval: u32,
    pub(crate) data_size_in: u32,
    pub(crate) data_size_out: u32,
    pub(crate) data_in: u64,
    pub(crate) data_out: u64,
    pub(crate) repeat: u32,
    pub(crate) duration: u32,
    pub(crate) ctx_size_in: u32,
    pub(crate) ctx_size_out: u32,
    pub(crate) ctx_in: u64,
    pub(crate) ctx_out: u64,
    pub(crate) flags: u32,
    pub(crate) cpu: u32,
    pub(crate) batch_size: u32,
    pub(crate) _pad: u32,
}

pub(crate) fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a properly laid out, zero-initialised bpf_attr
    // prefix of the size passed; the kernel reads and writes only that.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr),
            size_of::<T>() as u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The loaded empty program.
pub struct EmptyXdp {
    fd: OwnedFd,
}

impl EmptyXdp {
    /// Loads `r0 = XDP_PASS; exit`.
    ///
    /// # Errors
    /// When the kernel refuses the program.
    pub fn load() -> io::Result<Self> {
        Self::returning(2)
    }

    /// Loads `r0 = action; exit` (1: XDP_DROP, the floor of the flood
    /// bench).
    ///
    /// # Errors
    /// When the kernel refuses the program.
    pub fn returning(action: u8) -> io::Result<Self> {
        // BPF_ALU64 | BPF_MOV | BPF_K, dst r0, imm action; BPF_JMP | BPF_EXIT.
        let insns: [u64; 2] = [
            u64::from_le_bytes([0xb7, 0x00, 0, 0, action, 0, 0, 0]),
            u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
        ];
        let license = c"GPL";
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            ..ProgLoadAttr::default()
        };
        attr.prog_name[..9].copy_from_slice(b"fw_bench0");
        let fd = bpf(BPF_PROG_LOAD, &mut attr)?;
        // SAFETY: a new file descriptor the kernel just returned to us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Self { fd })
    }

    /// Attaches the program to interface `ifindex` of the calling thread's
    /// network namespace (native XDP) until the returned link is dropped.
    ///
    /// # Errors
    /// When the kernel refuses the link.
    pub fn attach(&self, ifindex: u32) -> io::Result<OwnedFd> {
        use std::os::fd::AsRawFd as _;
        let mut attr = LinkCreateAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: 0,
        };
        let fd = bpf(BPF_LINK_CREATE, &mut attr)?;
        // SAFETY: a new file descriptor the kernel just returned to us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// Loads the program and attaches it to interface `ifname` of `ns`;
    /// both stay until the returned pair is dropped.
    ///
    /// # Panics
    /// When loading or attaching fails.
    #[must_use]
    pub fn pass_on(ns: &crate::netns::Netns, ifname: &'static std::ffi::CStr) -> (Self, OwnedFd) {
        ns.run(move || {
            let prog = Self::load().expect("load XDP_PASS");
            // SAFETY: a NUL-terminated name.
            let ifindex = unsafe { libc::if_nametoindex(ifname.as_ptr()) };
            assert!(ifindex != 0, "no interface {ifname:?}");
            let link = prog.attach(ifindex).expect("attach XDP_PASS");
            (prog, link)
        })
    }

    /// Runs the program `repeat` times on `frame`; returns the kernel's
    /// average ns per run and the program's return value.
    ///
    /// # Errors
    /// When the test run fails.
    pub fn test_run(&self, frame: &[u8], repeat: u32) -> io::Result<(u32, u32)> {
        use std::os::fd::AsRawFd as _;
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: frame.len() as u32,
            data_in: frame.as_ptr() as u64,
            repeat,
            ..TestRunAttr::default()
        };
        bpf(BPF_PROG_TEST_RUN, &mut attr)?;
        Ok((attr.duration, attr.retval))
    }
}

//! Local delivery or forwarding: which of ufw's chains a received packet
//! belongs to. ufw's input rules never see forwarded packets and its route
//! rules see only those; XDP runs before the kernel routes, so the data
//! plane asks the kernel's FIB the same question the stack will
//! (`bpf_fib_lookup` with the packet's addresses, protocol, ports and
//! incoming interface).
//!
//! A packet is forwarded when the lookup succeeds (a unicast route out of
//! the host, forwarding enabled on the incoming interface); local
//! addresses, broadcast and multicast, unreachable routes and interfaces
//! without forwarding (the kernel's `FWD_DISABLED` answer comes before any
//! table is searched, so a host that does not forward pays little) are not.
//! Addresses are the ones on the wire: a port published through DNAT is
//! still addressed to the host here, so input rules filter it.
//!
//! The `FWD_DISABLED` answer depends on the incoming interface's (IPv6 on
//! older kernels: the namespace's) forwarding setting alone, not on the
//! packet, so each CPU keeps the
//! last one (`ScratchSlot::fwd_off_ifindex`) for the rest of the kernel's
//! tick (`bpf_jiffies64`, 1-4 ms): a host that does not forward asks the
//! FIB once a tick instead of once a packet (the helper and its setup
//! were ~5% of a spoofed flood's samples). Enabling forwarding takes effect for the data
//! plane within that tick.

use aya_ebpf::{
    bindings::{
        BPF_FIB_LKUP_RET_FWD_DISABLED, BPF_FIB_LKUP_RET_SUCCESS, BPF_FIB_LOOKUP_SKIP_NEIGH,
        bpf_fib_lookup,
    },
    helpers::{bpf_fib_lookup as fib_lookup, bpf_jiffies64},
};
use fw_common::Family;

use crate::maps::SCRATCH;

/// The loopback device's index in every namespace: never forwarded (and
/// what BPF_PROG_TEST_RUN reports by default, so verdict tests do not
/// depend on the test machine's routes).
const LOOPBACK: u32 = 1;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// The interface the packet in the scratch slot, received on `ifindex`,
/// would be forwarded out of, or 0 when it is for the host. `ctx` is the
/// hook's context pointer. It reads the slot, not a copy the caller keeps
/// using: what its branches teach the verifier stays here. A subprogram
/// of its own: its early answer and the lookup's return to the caller in
/// one state (an inlined early return doubled the verifier's walk of
/// everything after it).
#[inline(never)]
pub fn out_ifindex(ctx: *mut core::ffi::c_void, ifindex: u32) -> u32 {
    if ifindex == LOOPBACK {
        return 0;
    }
    let Some(slot) = SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: a helper without arguments.
    let tick = unsafe { bpf_jiffies64() };
    // SAFETY: this CPU's scratch slot (see `scratch`).
    let fam = usize::from(unsafe { (*slot).pkt.family } == Family::V6 as u8);
    // SAFETY: as above; `fam` is 0 or 1.
    unsafe {
        if (*slot).fwd_off_ifindex[fam] == ifindex && (*slot).fwd_off_tick[fam] == tick {
            return 0;
        }
    }
    // SAFETY: this CPU's scratch slot (see `scratch`); its `fib` area has
    // the size and alignment of a bpf_fib_lookup.
    let (pkt, p) = unsafe {
        // Zeroed in eight word stores: `mem::zeroed` of the struct becomes
        // a call to a byte-wise memset loop (~15 ns a packet, measured).
        let w = (*slot).fib.as_mut_ptr().cast::<u64>();
        let mut i = 0;
        while i < core::mem::size_of::<bpf_fib_lookup>() / 8 {
            core::ptr::write_volatile(w.add(i), 0);
            i += 1;
        }
        (
            &(*slot).pkt,
            &mut *(*slot).fib.as_mut_ptr().cast::<bpf_fib_lookup>(),
        )
    };
    p.l4_protocol = pkt.proto;
    if pkt.has_ports != 0 {
        p.sport = pkt.sport.to_be();
        p.dport = pkt.dport.to_be();
    }
    p.ifindex = ifindex;
    if pkt.family == Family::V6 as u8 {
        p.family = AF_INET6;
        p.__bindgen_anon_3.ipv6_src = pkt.src;
        p.__bindgen_anon_4.ipv6_dst = pkt.dst;
    } else {
        p.family = AF_INET;
        p.__bindgen_anon_3.ipv4_src = pkt.src[0];
        p.__bindgen_anon_4.ipv4_dst = pkt.dst[0];
    }
    // SAFETY: `p` is a bpf_fib_lookup in a map value, its size passed along.
    let rc = unsafe {
        fib_lookup(
            ctx,
            p,
            core::mem::size_of::<bpf_fib_lookup>() as i32,
            BPF_FIB_LOOKUP_SKIP_NEIGH,
        )
    };
    if rc == i64::from(BPF_FIB_LKUP_RET_SUCCESS) {
        return p.ifindex;
    }
    if rc == i64::from(BPF_FIB_LKUP_RET_FWD_DISABLED) {
        // SAFETY: this CPU's scratch slot, as above.
        unsafe {
            (*slot).fwd_off_ifindex[fam] = ifindex;
            (*slot).fwd_off_tick[fam] = tick;
        }
    }
    0
}

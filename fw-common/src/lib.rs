//! The kernel/user contract of fw.
//!
//! This crate is the single source of truth for every map shared by the eBPF
//! programs (`fw-ebpf`) and the controller (`fw-ctl`): its name, its size and
//! the exact byte layout of its keys and values. Every type is `#[repr(C)]`
//! with explicit padding fields and a size assertion beside it, so that the
//! two compilers that build the two sides (Debian's rustc for BPF, rustup's
//! for userspace) can never disagree silently.
//!
//! With the `user` feature every key and value implements `aya::Pod`.
#![no_std]
#![deny(missing_docs)]

pub mod abi;
pub mod action;
pub mod answer;
pub mod builtins;
pub mod config;
pub mod conntrack;
pub mod ipproto;
pub mod limit;
pub mod log;
pub mod maps;
pub mod reason;
pub mod rules;
pub mod scratch;
pub mod stats;

pub use action::{Action, Direction, Family, Verdict};
pub use reason::Reason;

/// Implements `aya::Pod` for ABI types when built for userspace.
macro_rules! pod {
    ($($t:ty),+ $(,)?) => {
        $(
            #[cfg(feature = "user")]
            // SAFETY: the type is `#[repr(C)]`, `Copy`, built only of integers
            // and integer arrays, and has no implicit padding (asserted by
            // `assert_size!` beside its definition).
            unsafe impl aya::Pod for $t {}
        )+
    };
}
pub(crate) use pod;

/// Asserts at compile time that a type has exactly the given size.
macro_rules! assert_size {
    ($t:ty, $n:expr) => {
        const _: () = assert!(core::mem::size_of::<$t>() == $n);
    };
}
pub(crate) use assert_size;

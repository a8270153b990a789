//! Helpers for fw's integration tests (they need root and a BPF kernel):
//! packet building, a rig that loads the real eBPF object under unique pins
//! and runs it with BPF_PROG_TEST_RUN, and network-namespace guards for the
//! end-to-end tests. Every resource is released by `Drop`, also when a test
//! fails.

pub mod empty;
pub mod fwctl;
pub mod netns;
pub mod packet;
pub mod rig;
pub mod ufw;
pub mod workload;

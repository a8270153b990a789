//! The eBPF object, built from `fw-ebpf` by `build.rs` and embedded here
//! (the only place that does so).

/// The ELF object with `fw_xdp`, `fw_tc_egress` and their maps.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fw.o"));

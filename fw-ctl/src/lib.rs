//! fw-ctl as a library: the rule model and grammar, the compiler to the
//! kernel's tuple-space layout, the reference classifier, the state dir,
//! the loader that pins and updates the data plane, and the daemon (the
//! Prometheus endpoint). The `fw-ctl` binary and
//! the integration tests are thin users of this crate.

#[macro_use]
pub mod output;
pub mod apply;
pub mod apps;
pub mod cli;
pub mod daemon;
pub mod loader;
pub mod log;
pub mod nat;
pub mod netns;
pub mod reference;
pub mod rule;
pub mod state;

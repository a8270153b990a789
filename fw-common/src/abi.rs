//! Versioning of the pinned state.
//!
//! The `CONFIG` map starts with [`MAGIC`] and [`ABI_VERSION`]. A controller
//! that finds pinned maps with another magic or version refuses to touch them
//! and tells the operator how to recover (`fw-ctl disable` then `enable`).
//! Pins live below `PIN_ROOT/v{ABI_VERSION}/`, so an incompatible layout never
//! meets the old one in the same directory.

/// Marks a `CONFIG` value written by fw ("fw" in ASCII, then 0x01).
pub const MAGIC: u32 = 0x6677_0001;

/// Version of the map layout defined by this crate. Bump it on any change to
/// a map's name, size, key or value layout, or to the meaning of a field.
pub const ABI_VERSION: u32 = 11;

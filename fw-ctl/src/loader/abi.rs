//! Checks that pinned maps are the ones `fw_common` describes.

use aya::maps::MapData;
use fw_common::maps::ALL;

/// A map or program that does not match the ABI of this fw-ctl.
#[derive(Debug, thiserror::Error)]
pub enum AbiError {
    /// A map is not in the object.
    #[error("the eBPF object has no map {0}")]
    MissingMap(&'static str),
    /// A program is not in the object.
    #[error("the eBPF object has no program {0}")]
    MissingProgram(&'static str),
    /// Sizes differ.
    #[error(
        "map {name} has key/value/entries {found:?}, fw-common expects {expected:?}; \
         it was pinned by another version of fw: run `fw-ctl disable` then `fw-ctl enable`"
    )]
    Layout {
        /// The map.
        name: &'static str,
        /// (key, value, max entries) found.
        found: (u32, u32, u32),
        /// (key, value, max entries) expected.
        expected: (u32, u32, u32),
    },
    /// CONFIG says another version.
    #[error(
        "the pinned filter has magic {found_magic:#x} and ABI version {found}, this fw-ctl \
         speaks ABI {}; run `fw-ctl disable` then `fw-ctl enable` to replace it",
        fw_common::abi::ABI_VERSION
    )]
    Version {
        /// Magic found.
        found_magic: u32,
        /// Version found.
        found: u32,
    },
    /// The kernel would not describe the map.
    #[error("cannot read the description of map {0}")]
    Info(&'static str),
}

/// Checks one opened map against its spec.
///
/// # Errors
/// [`AbiError::Layout`] when the sizes differ.
pub fn check_map(name: &'static str, data: &MapData) -> Result<(), AbiError> {
    let spec = ALL
        .iter()
        .find(|s| s.name == name)
        .ok_or(AbiError::MissingMap(name))?;
    let info = data.info().map_err(|_| AbiError::Info(name))?;
    let found = (info.key_size(), info.value_size(), info.max_entries());
    // The flow table's size is chosen at load time (`CONNTRACK_MAX`).
    let max = if name == fw_common::maps::CONNTRACK {
        found.2
    } else {
        spec.max_entries
    };
    let expected = (spec.key_size, spec.value_size, max);
    if found != expected {
        return Err(AbiError::Layout {
            name,
            found,
            expected,
        });
    }
    Ok(())
}

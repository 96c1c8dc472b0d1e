//! Integration tests of the sonde-probe binary and library.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is a failed test"
)]

mod alerts;
mod cli;
mod flows;
mod live;
mod read;

use std::path::PathBuf;

/// The shared third-party test data (`../shared/testdata` beside the checkout),
/// or `$SONDE_TESTDATA` when set.
pub(crate) fn testdata(rel: &str) -> PathBuf {
    let root = std::env::var_os("SONDE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    let path = root.join(rel);
    assert!(
        path.exists(),
        "test data missing: {} (set SONDE_TESTDATA)",
        path.display()
    );
    path
}

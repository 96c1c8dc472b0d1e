//! Unit tests of the host checks with synthetic flow records.

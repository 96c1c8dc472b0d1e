//! Integration tests of the sonde-collector binary and library.

mod certs;
mod cli;

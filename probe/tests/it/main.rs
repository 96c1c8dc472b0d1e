//! Integration tests of the sonde-probe binary and library.

mod cli;

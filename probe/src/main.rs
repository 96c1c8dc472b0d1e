//! `sonde-probe` command line: parse arguments and hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// sonde network probe: capture, flows, DPI and alerts, streamed to a sonde
/// collector over mutual TLS.
#[derive(Debug, Parser)]
#[command(version, about, arg_required_else_help = true)]
struct Cli {
    /// Check a configuration file (syntax, values, certificates) and exit:
    /// 0 when valid, 2 with every problem listed.
    #[arg(long, value_name = "FILE")]
    check_config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(sonde_probe::check_config(&cli.check_config))
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}

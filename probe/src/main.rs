//! `sonde-probe` command line: parse arguments and hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sonde_common::community_id::{CommunityId, Encoding};
use sonde_probe::flow::FlowSettings;
use sonde_probe::read::{self, Emit, ReadOptions};

/// sonde network probe: capture, flows, DPI and alerts, streamed to a sonde
/// collector over mutual TLS.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    arg_required_else_help = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Check a configuration file (syntax, values, certificates) and exit:
    /// 0 when valid, 2 with every problem listed.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the probe's pipeline on a pcap or pcapng file: one JSON document per
    /// flow on stdout, a summary on stderr.
    Read(ReadArgs),
}

#[derive(Debug, Args)]
struct ReadArgs {
    /// The capture file (pcap or pcapng).
    file: PathBuf,
    /// What to write per flow.
    #[arg(long, value_enum, default_value_t = Emit::Ecs)]
    emit: Emit,
    /// observer.name of the documents (a collector uses the probe's certificate name).
    #[arg(long, default_value = "sonde-probe")]
    observer: String,
    /// Interface name on the records (default: the file name).
    #[arg(long)]
    interface: Option<String>,
    /// Community ID seed (must match Suricata's to correlate).
    #[arg(long, default_value_t = 0)]
    community_id_seed: u16,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match (cli.check_config, cli.command) {
        (Some(path), _) => sonde_probe::check_config(&path),
        (None, Some(Command::Read(args))) => read_file(args),
        (None, None) => {
            eprintln!("nothing to do: see sonde-probe --help");
            2
        }
    };
    ExitCode::from(code)
}

fn read_file(args: ReadArgs) -> u8 {
    let options = ReadOptions {
        emit: args.emit,
        observer: args.observer,
        interface: args.interface,
        settings: FlowSettings {
            community_id: CommunityId::new(args.community_id_seed, Encoding::Base64),
            ..FlowSettings::default()
        },
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match read::read(&args.file, &options, &mut out) {
        Ok(summary) => {
            eprintln!("{}", summary.render(&args.file));
            0
        }
        Err(e) => {
            eprintln!("sonde-probe read: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}

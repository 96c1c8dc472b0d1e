//! `sonde-collector` command line: parse arguments and hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// mimalloc instead of glibc's malloc: documents are trees of many small
/// allocations freed on other threads, where glibc spent a fifth of the
/// collector's CPU consolidating (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use sonde_collector::certs::{self, InitRequest};

/// sonde collector: receives flows and alerts from sonde probes over mutual
/// TLS and indexes them as ECS documents for Security Onion.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    arg_required_else_help = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Check a configuration file (syntax, values, certificates, secrets) and
    /// exit: 0 when valid, 2 with every problem listed.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Certificates for mutual TLS between probes and the collector.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Check the real path step by step: configuration, certificates, listen
    /// address, output. Exits 1 at the first failure.
    Check {
        /// The collector's configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Inspect, re-send or delete the documents the output refused for good
    /// (kept in the spool's dead-letter store). Stop the collector first.
    #[command(name = "dead-letters")]
    DeadLetters {
        /// The collector's configuration file (for the spool directory).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[command(subcommand)]
        action: DeadLetterCommand,
    },
    /// Run the collector: accept probes and write their records to the output.
    Run {
        /// The collector's configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLetterCommand {
    /// One line per dead letter: key, time, kind, id, reason.
    List,
    /// The documents with their reasons, as JSON lines.
    Show {
        /// Keys from `list` (all when none).
        keys: Vec<u64>,
    },
    /// Move them back into the spool: the collector delivers them at its next
    /// start (fix the cause first, e.g. the index template).
    Resend {
        /// Keys from `list` (all when none).
        keys: Vec<u64>,
    },
    /// Delete them.
    Purge {
        /// Keys from `list` (all when none).
        keys: Vec<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Create a CA, a collector server certificate and one client certificate
    /// per probe (a quick start; any PKI that issues the same works too).
    Init(InitArgs),
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Directory to write the PEM files to (created if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// DNS name probes use to reach the collector (its certificate's name).
    #[arg(long, value_name = "NAME")]
    collector_name: String,
    /// Another DNS name or IP address of the collector (repeatable).
    #[arg(long = "collector-alt-name", value_name = "NAME|IP")]
    collector_alt_names: Vec<String>,
    /// A probe's name, which becomes its identity (repeatable).
    #[arg(long = "probe", value_name = "NAME", required = true)]
    probes: Vec<String>,
    /// Validity of the collector and probe certificates, in days (the CA gets 10 years).
    #[arg(long, default_value_t = 825, value_name = "DAYS")]
    days: u32,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match (cli.check_config, cli.command) {
        (Some(path), _) => sonde_collector::check_config(&path),
        (None, Some(Command::Certs(CertsCommand::Init(args)))) => certs_init(args),
        (None, Some(Command::Run { config })) => run(&config),
        (None, Some(Command::DeadLetters { config, action })) => dead_letters(&config, action),
        (None, Some(Command::Check { config })) => {
            let ok = sonde_collector::check::run(&config, &mut |ok, line| {
                println!("{} {line}", if ok { "ok    " } else { "FAILED" });
            });
            u8::from(!ok)
        }
        (None, None) => {
            eprintln!("nothing to do: see sonde-collector --help");
            2
        }
    };
    ExitCode::from(code)
}

fn dead_letters(path: &std::path::Path, action: DeadLetterCommand) -> u8 {
    use sonde_collector::dead_letters::{self, Action};
    let config: sonde_collector::config::CollectorConfig =
        match sonde_common::config::check(path, sonde_collector::config::check_io) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        };
    let action = match action {
        DeadLetterCommand::List => Action::List,
        DeadLetterCommand::Show { keys } => Action::Show(keys),
        DeadLetterCommand::Resend { keys } => Action::Resend(keys),
        DeadLetterCommand::Purge { keys } => Action::Purge(keys),
    };
    let spool = &config.spool;
    match dead_letters::run(
        &spool.dir,
        spool.max_size.bytes(),
        &action,
        &mut std::io::stdout().lock(),
    ) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sonde-collector dead-letters: {e}");
            1
        }
    }
}

fn run(path: &std::path::Path) -> u8 {
    let outcome = sonde_common::config::check(path, sonde_collector::config::check_io);
    let config: sonde_collector::config::CollectorConfig = match outcome {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    sonde_common::telemetry::init_logging(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sonde-collector run: starting the runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = async {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        let listening = |addr| eprintln!("sonde-collector: listening on {addr}");
        match sonde_collector::run::run(&config, listening, shutdown).await {
            Ok(stats) => {
                use std::sync::atomic::Ordering::Relaxed;
                eprintln!(
                    "sonde-collector: {} streams, {} batches, {} records, {} replayed, {} shed by probes, {} rejected",
                    stats.streams.load(Relaxed),
                    stats.batches.load(Relaxed),
                    stats.records.load(Relaxed),
                    stats.replayed_records.load(Relaxed),
                    stats.shed_records.load(Relaxed),
                    stats.rejected_records.load(Relaxed)
                );
                0
            }
            Err(e) => {
                eprintln!("sonde-collector run: {e}");
                1
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

fn certs_init(args: InitArgs) -> u8 {
    let request = InitRequest {
        dir: args.dir,
        collector_name: args.collector_name,
        collector_alt_names: args.collector_alt_names,
        probes: args.probes,
        days: args.days,
        force: args.force,
    };
    match certs::init(&request) {
        Ok(report) => {
            print!("{report}");
            0
        }
        Err(e) => {
            eprintln!("sonde-collector certs init: {e}");
            e.exit_code()
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

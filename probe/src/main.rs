//! `sonde-probe` command line: parse arguments and hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sonde_common::community_id::{CommunityId, Encoding};
use sonde_probe::alert::AlertSettings;
use sonde_probe::flow::FlowSettings;
use sonde_probe::read::{self, Emit, ReadOptions};

/// mimalloc instead of glibc's malloc: DPI allocates and frees small
/// buffers per flow (findings, reassembly, metadata strings), where glibc's
/// allocator cost about 12% of the time on a web mix (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Capture live on one or more interfaces (needs CAP_NET_RAW): one JSON
    /// document per flow on stdout until interrupted, a summary on stderr.
    Capture(CaptureArgs),
    /// Run the probe: capture the config's interfaces and export flows to the
    /// collector over mutual TLS until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Check the real path step by step: configuration, capture permission on
    /// each interface, and a Hello round trip to the collector with this
    /// probe's certificate. Exits 1 at the first failure.
    Check {
        /// The probe's configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The probe's configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Replay this capture file (at full speed) instead of capturing live,
    /// then flush, wait for the acknowledgements and exit.
    #[arg(long, value_name = "PCAP")]
    replay: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CaptureArgs {
    /// Take interfaces, flow settings and metrics from this probe.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Interface to capture on (repeatable); replaces the config's [[capture]].
    #[arg(short, long = "interface", value_name = "NAME")]
    interfaces: Vec<String>,
    /// BPF filter (tcpdump syntax) for the --interface captures.
    #[arg(long, value_name = "EXPR", default_value = "")]
    bpf: String,
    /// Do not put the --interface captures in promiscuous mode.
    #[arg(long)]
    no_promiscuous: bool,
    /// Stop after this long (e.g. "30s"); default: until SIGINT or SIGTERM.
    #[arg(long, value_name = "DURATION")]
    duration: Option<sonde_common::config::Duration>,
    /// What to write per flow.
    #[arg(long, value_enum, default_value_t = Emit::Ecs)]
    emit: Emit,
    /// observer.name of the documents.
    #[arg(long, default_value = "sonde-probe")]
    observer: String,
    /// Serve Prometheus metrics on this address (overrides the config's [metrics]).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
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
    /// Turn deep packet inspection off (flows keep only what the IP protocol
    /// tells: ICMP, TCP scans...).
    #[arg(long)]
    no_dpi: bool,
    /// Applications file extending the built-in list (as `[dpi] applications`).
    #[arg(long, value_name = "FILE")]
    applications: Option<PathBuf>,
    /// Suricata's eve.json for the same traffic: its alerts are correlated
    /// with the flows and consolidated.
    #[arg(long, value_name = "EVE")]
    suricata_eve: Option<PathBuf>,
    /// A TOML file with the probe config's [alert], [suricata] and [routing]
    /// tables (thresholds, lists, export policy).
    #[arg(long, value_name = "FILE")]
    alert_config: Option<PathBuf>,
    /// Raise no alerts and write every flow.
    #[arg(long, conflicts_with_all = ["suricata_eve", "alert_config"])]
    no_alerts: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match (cli.check_config, cli.command) {
        (Some(path), _) => sonde_probe::check_config(&path),
        (None, Some(Command::Read(args))) => read_file(args),
        (None, Some(Command::Capture(args))) => capture(args),
        (None, Some(Command::Run(args))) => run(args),
        (None, Some(Command::Check { config })) => {
            let ok = sonde_probe::check::run(&config, &mut |ok, line| {
                println!("{} {line}", if ok { "ok    " } else { "FAILED" });
            });
            u8::from(!ok)
        }
        (None, None) => {
            eprintln!("nothing to do: see sonde-probe --help");
            2
        }
    };
    ExitCode::from(code)
}

fn read_file(args: ReadArgs) -> u8 {
    let mut settings = FlowSettings {
        community_id: CommunityId::new(args.community_id_seed, Encoding::Base64),
        ..FlowSettings::default()
    };
    settings.dpi.enabled = !args.no_dpi;
    if let Some(path) = &args.applications {
        match sonde_probe::classify::apps::Applications::with_file(path) {
            Ok(apps) => settings.dpi.apps = std::sync::Arc::new(apps),
            Err(e) => {
                eprintln!("sonde-probe read: {e}");
                return 2;
            }
        }
    }
    let alerts = if args.no_alerts {
        None
    } else {
        match &args.alert_config {
            Some(path) => match sonde_common::config::load::<AlertSettings>(path) {
                Ok(settings) => Some(AlertSettings {
                    community_id: CommunityId::new(args.community_id_seed, Encoding::Base64),
                    ..settings
                }),
                Err(e) => {
                    eprintln!("{e}");
                    return 2;
                }
            },
            None => Some(AlertSettings {
                community_id: CommunityId::new(args.community_id_seed, Encoding::Base64),
                ..AlertSettings::default()
            }),
        }
    };
    let options = ReadOptions {
        emit: args.emit,
        observer: args.observer,
        interface: args.interface,
        settings,
        alerts,
        suricata_eve: args.suricata_eve,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match read::read(&args.file, &options, &mut out) {
        Ok(summary) => {
            eprintln!("{}", summary.render(&args.file));
            u8::from(summary.read_error.is_some())
        }
        Err(e) => {
            eprintln!("sonde-probe read: {e}");
            1
        }
    }
}

fn run(args: RunArgs) -> u8 {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let config: sonde_probe::config::ProbeConfig = match sonde_common::config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    sonde_common::telemetry::init_logging(&config.log);
    let connected = Arc::new(AtomicBool::new(false));
    let ready = {
        let connected = Arc::clone(&connected);
        Arc::new(move || {
            if connected.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(())
            } else {
                Err("no open stream to the collector".to_owned())
            }
        })
    };
    if let Some(addr) = config.metrics.listen
        && let Err(e) = sonde_common::telemetry::serve_metrics(addr, ready)
    {
        eprintln!("sonde-probe run: {e}");
        return 1;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("sonde-probe run: cannot handle signal {signal}: {e}");
            return 1;
        }
    }
    match sonde_probe::run::run(&config, args.replay.as_deref(), &stop, connected) {
        Ok(s) => {
            eprintln!(
                "sonde-probe: {} records, acknowledged through {}, {} unacknowledged, {} rejected, {} flows and {} alerts shed, {} connections",
                s.records,
                s.acknowledged_through,
                s.unacknowledged,
                s.rejected,
                s.shed.flows,
                s.shed.alerts,
                s.connections
            );
            u8::from(s.unacknowledged > 0)
        }
        Err(e) => {
            eprintln!("sonde-probe run: {e}");
            1
        }
    }
}

fn capture(args: CaptureArgs) -> u8 {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use sonde_probe::config::{CaptureConfig, ProbeConfig};
    use sonde_probe::live::{self, LiveOptions};

    let config: Option<ProbeConfig> = match &args.config {
        Some(path) => match sonde_common::config::load(path) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        },
        None => None,
    };
    let captures: Vec<CaptureConfig> = if args.interfaces.is_empty() {
        config
            .as_ref()
            .map(|c| c.capture.clone())
            .unwrap_or_default()
    } else {
        args.interfaces
            .iter()
            .map(|i| CaptureConfig {
                interface: i.clone(),
                bpf_filter: args.bpf.clone(),
                promiscuous: !args.no_promiscuous,
                ..CaptureConfig::default()
            })
            .collect()
    };
    if captures.is_empty() {
        eprintln!(
            "sonde-probe capture: no interface: give --interface NAME or a --config with [[capture]]"
        );
        return 2;
    }
    let metrics = args
        .metrics_listen
        .or(config.as_ref().and_then(|c| c.metrics.listen));
    if let Some(addr) = metrics
        && let Err(e) = sonde_common::telemetry::serve_metrics(addr, std::sync::Arc::new(|| Ok(())))
    {
        eprintln!("sonde-probe capture: {e}");
        return 1;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("sonde-probe capture: cannot handle signal {signal}: {e}");
            return 1;
        }
    }
    if let Some(d) = args.duration {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(d.get());
            stop.store(true, Ordering::Relaxed);
        });
    }
    let settings = match config.as_ref().map(ProbeConfig::flow_settings).transpose() {
        Ok(settings) => settings.unwrap_or_default(),
        Err(e) => {
            eprintln!("sonde-probe capture: dpi.applications: {e}");
            return 2;
        }
    };
    let options = LiveOptions { captures, settings };
    let observer = sonde_common::ecs::Observer {
        name: args.observer,
        hostname: None,
    };
    let alert_settings = config
        .as_ref()
        .map(ProbeConfig::alert_settings)
        .unwrap_or_default();
    let alerts = sonde_probe::alert::AlertEngine::new(&alert_settings);
    let stdout = std::io::stdout();
    let print = Print {
        emit: args.emit,
        observer,
        out: stdout.lock(),
    };
    let mut pipeline = sonde_probe::pipeline::Pipeline::new(Some(alerts), print);
    let eve_stop = Arc::new(AtomicBool::new(false));
    let mut eve_thread = None;
    if let Some((handle, rx)) =
        sonde_probe::suricata::spawn_follower(&alert_settings.suricata, &eve_stop)
    {
        pipeline = pipeline.with_eve(rx);
        eve_thread = Some(handle);
    }
    let ready = |names: &[String]| eprintln!("sonde-probe: capturing on {}", names.join(", "));
    let captured = live::capture(&options, &stop, ready, &mut pipeline)
        .and_then(|summaries| pipeline.finish().map(|()| summaries));
    eve_stop.store(true, Ordering::Relaxed);
    drop(pipeline);
    if let Some(handle) = eve_thread {
        let _ = handle.join();
    }
    match captured {
        Ok(summaries) => {
            for s in summaries {
                let c = s.counters;
                eprintln!(
                    "{}: {} packets, {} flows, {} undecoded, {} received by libpcap, {} dropped by the kernel, {} by the interface",
                    s.interface,
                    c.packets,
                    s.flows,
                    c.skipped_total(),
                    s.capture.received,
                    s.capture.dropped_kernel,
                    s.capture.dropped_interface
                );
            }
            0
        }
        Err(e) => {
            eprintln!("sonde-probe capture: {e}");
            1
        }
    }
}

/// `capture`'s output: JSON lines on stdout, flushed per record.
struct Print<'a> {
    emit: Emit,
    observer: sonde_common::ecs::Observer,
    out: std::io::StdoutLock<'a>,
}

impl sonde_probe::pipeline::Output for Print<'_> {
    type Error = sonde_probe::live::LiveError;

    fn flow(&mut self, flow: sonde_proto::v1::Flow) -> Result<(), Self::Error> {
        let written = read::write_record(&flow, self.emit, &self.observer, &mut self.out);
        self.flush(written)
    }

    fn alert(&mut self, alert: sonde_proto::v1::Alert) -> Result<(), Self::Error> {
        let written = read::write_alert(&alert, self.emit, &self.observer, &mut self.out);
        self.flush(written)
    }
}

impl Print<'_> {
    fn flush(
        &mut self,
        written: Result<(), read::ReadError>,
    ) -> Result<(), sonde_probe::live::LiveError> {
        written
            .and_then(|()| std::io::Write::flush(&mut self.out).map_err(Into::into))
            .map_err(|e| sonde_probe::live::LiveError::Output(std::io::Error::other(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}

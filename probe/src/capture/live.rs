//! Live capture on an interface with libpcap.

use super::{CaptureError, CaptureStats, Next, PacketSource};
use crate::config::CaptureConfig;
use crate::decode::LinkType;

/// How long a read waits before reporting [`Next::Idle`], so flows still
/// expire on a quiet interface and a stop request is seen. libpcap's own read
/// timeout does not fire on Linux while no packet arrives (TPACKET_V3), so
/// the capture is non-blocking and waits in poll(2) instead.
const READ_TIMEOUT_MS: i32 = 500;
const POLL_TIMEOUT: rustix::event::Timespec = rustix::event::Timespec {
    tv_sec: 0,
    tv_nsec: 250_000_000,
};

pub struct LiveSource {
    capture: pcap::Capture<pcap::Active>,
    link: LinkType,
    name: String,
    /// The last read found the buffer empty: wait before reading again.
    drained: bool,
}

impl LiveSource {
    /// Opens the interface with the configured options and BPF filter.
    /// Needs CAP_NET_RAW (promiscuous mode too: PACKET_ADD_MEMBERSHIP needs no
    /// CAP_NET_ADMIN).
    pub fn open(config: &CaptureConfig) -> Result<Self, CaptureError> {
        let interface = config.interface.clone();
        let open_err = |source| CaptureError::OpenLive {
            interface: interface.clone(),
            source,
        };
        let buffer = i32::try_from(config.buffer_size.bytes()).unwrap_or(i32::MAX);
        let snaplen = i32::try_from(config.snaplen).unwrap_or(65_535);
        let mut capture = pcap::Capture::from_device(config.interface.as_str())
            .map_err(open_err)?
            .promisc(config.promiscuous)
            .snaplen(snaplen)
            .buffer_size(buffer)
            .immediate_mode(config.immediate_mode)
            .timeout(READ_TIMEOUT_MS)
            .open()
            .and_then(pcap::Capture::setnonblock)
            .map_err(open_err)?;
        if !config.bpf_filter.trim().is_empty() {
            capture
                .filter(&config.bpf_filter, true)
                .map_err(|source| CaptureError::Filter {
                    interface: interface.clone(),
                    filter: config.bpf_filter.clone(),
                    source,
                })?;
        }
        let dlt = capture.get_datalink().0;
        let link = LinkType::from_dlt(dlt);
        if !link.is_supported() {
            return Err(CaptureError::LinkType(dlt));
        }
        Ok(Self {
            capture,
            link,
            name: interface,
            drained: false,
        })
    }
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("name", &self.name)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl PacketSource for LiveSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn link_type(&self) -> LinkType {
        self.link
    }

    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        if self.drained {
            // Wait for the descriptor to become readable; a signal or the
            // timeout just means "no packet yet".
            let mut fds = [rustix::event::PollFd::new(
                &self.capture,
                rustix::event::PollFlags::IN,
            )];
            let _ = rustix::event::poll(&mut fds, Some(&POLL_TIMEOUT));
        }
        match self.capture.next_packet() {
            Ok(p) => {
                self.drained = false;
                Ok(Next::Packet(super::packet(&p)))
            }
            // Non-blocking read of an empty buffer: the next call waits first.
            Err(pcap::Error::TimeoutExpired) => {
                self.drained = true;
                Ok(Next::Idle)
            }
            Err(error) => Err(CaptureError::Read {
                source_name: self.name.clone(),
                error,
            }),
        }
    }

    fn stats(&mut self) -> Option<CaptureStats> {
        self.capture.stats().ok().map(|s| CaptureStats {
            received: u64::from(s.received),
            dropped_kernel: u64::from(s.dropped),
            dropped_interface: u64::from(s.if_dropped),
        })
    }
}

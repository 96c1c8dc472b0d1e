//! Capture files: pcap and pcapng, read by libpcap.

use std::path::Path;

use super::{CaptureError, CaptureStats, Next, PacketSource};
use crate::decode::LinkType;

pub struct FileSource {
    capture: pcap::Capture<pcap::Offline>,
    link: LinkType,
    name: String,
}

impl FileSource {
    /// Opens a capture file; `name` goes on every record as the interface.
    pub fn open(path: &Path, name: &str) -> Result<Self, CaptureError> {
        let capture = pcap::Capture::from_file(path).map_err(|source| CaptureError::OpenFile {
            path: path.display().to_string(),
            source,
        })?;
        let dlt = capture.get_datalink().0;
        let link = LinkType::from_dlt(dlt);
        if !link.is_supported() {
            return Err(CaptureError::LinkType(dlt));
        }
        Ok(Self {
            capture,
            link,
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("name", &self.name)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl PacketSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn link_type(&self) -> LinkType {
        self.link
    }

    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        match self.capture.next_packet() {
            Ok(p) => Ok(Next::Packet(super::packet(&p))),
            Err(pcap::Error::NoMorePackets) => Ok(Next::End),
            // A file cut short mid-record: what came before is kept.
            Err(error) => Err(CaptureError::Read {
                source_name: self.name.clone(),
                error,
            }),
        }
    }

    fn stats(&mut self) -> Option<CaptureStats> {
        None
    }
}

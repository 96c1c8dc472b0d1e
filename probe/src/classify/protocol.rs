//! The protocols the classifiers recognise, in nDPI's names, with the facts
//! nDPI keeps about each: default category, whether it is encrypted, whether
//! it is unsafe (clear-text logins, obsolete), and its standard ports (a
//! protocol found elsewhere raises "Known Proto on Non Std Port").

/// How a protocol is carried, for its standard ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Udp,
    /// ICMP, ICMPv6, SCTP and other IP protocols: no DPI on ports.
    Other,
}

impl Transport {
    /// The transport of an IP protocol number.
    pub(crate) fn of_ip_protocol(ip_protocol: u8) -> Transport {
        match ip_protocol {
            6 => Transport::Tcp,
            17 => Transport::Udp,
            _ => Transport::Other,
        }
    }
}

macro_rules! protocols {
    ($($variant:ident = $name:literal, $category:literal, $flags:expr, tcp [$($tcp:literal),*], udp [$($udp:literal),*];)*) => {
        /// A master protocol (nDPI's "master" in `MASTER.APP`).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub(crate) enum Protocol {
            #[default]
            Unknown,
            $($variant,)*
        }

        impl Protocol {
            /// Every protocol but `Unknown`.
            #[allow(dead_code, reason = "used by tests and the agreement report")]
            pub(crate) const ALL: &'static [Protocol] = &[$(Protocol::$variant,)*];

            /// nDPI's name (`TLS`, `FTP_CONTROL`, `NetBIOS`).
            pub(crate) fn name(self) -> &'static str {
                match self {
                    Protocol::Unknown => "Unknown",
                    $(Protocol::$variant => $name,)*
                }
            }

            /// The protocol of an nDPI name (as in the applications file).
            pub(crate) fn by_name(name: &str) -> Option<Protocol> {
                match name {
                    $($name => Some(Protocol::$variant),)*
                    _ => None,
                }
            }

            /// nDPI's default category for the protocol (`Web`, `Network`).
            pub(crate) fn category(self) -> &'static str {
                match self {
                    Protocol::Unknown => "",
                    $(Protocol::$variant => $category,)*
                }
            }

            fn flags(self) -> u8 {
                match self {
                    Protocol::Unknown => 0,
                    $(Protocol::$variant => $flags,)*
                }
            }

            /// The protocol's standard ports on `transport`; empty when it
            /// has none (peer-to-peer, dynamic ports).
            pub(crate) fn ports(self, transport: Transport) -> &'static [u16] {
                match (self, transport) {
                    $((Protocol::$variant, Transport::Tcp) => &[$($tcp),*],
                      (Protocol::$variant, Transport::Udp) => &[$($udp),*],)*
                    _ => &[],
                }
            }
        }
    };
}

const ENCRYPTED: u8 = 1;
const UNSAFE: u8 = 2;
const NONE: u8 = 0;

protocols! {
    Dns = "DNS", "Network", NONE, tcp [53], udp [53];
    Mdns = "MDNS", "Network", NONE, tcp [], udp [5353];
    Llmnr = "LLMNR", "Network", NONE, tcp [5355], udp [5355];
    Http = "HTTP", "Web", NONE, tcp [80], udp [];
    Tls = "TLS", "Web", ENCRYPTED, tcp [443, 8443], udp [];
    Quic = "QUIC", "Web", ENCRYPTED, tcp [], udp [443];
    // DTLS and STUN run on whatever ports WebRTC negotiates: no port is wrong.
    Dtls = "DTLS", "Network", ENCRYPTED, tcp [], udp [];
    Ssh = "SSH", "RemoteAccess", ENCRYPTED, tcp [22], udp [];
    Telnet = "Telnet", "RemoteAccess", UNSAFE, tcp [23], udp [];
    Ftp = "FTP_CONTROL", "Download", UNSAFE, tcp [21], udp [];
    Smtp = "SMTP", "Email", NONE, tcp [25, 587], udp [];
    Smtps = "SMTPS", "Email", ENCRYPTED, tcp [465, 587], udp [];
    Pop3 = "POP3", "Email", UNSAFE, tcp [110], udp [];
    Pops = "POPS", "Email", ENCRYPTED, tcp [995], udp [];
    Imap = "IMAP", "Email", UNSAFE, tcp [143], udp [];
    Imaps = "IMAPS", "Email", ENCRYPTED, tcp [993], udp [];
    Irc = "IRC", "Chat", UNSAFE, tcp [194, 6667, 6697], udp [194];
    Dhcp = "DHCP", "Network", NONE, tcp [], udp [67, 68];
    Dhcpv6 = "DHCPV6", "Network", NONE, tcp [], udp [546, 547];
    Ntp = "NTP", "System", NONE, tcp [], udp [123];
    Snmp = "SNMP", "Network", NONE, tcp [161, 162], udp [161, 162];
    Ssdp = "SSDP", "System", NONE, tcp [], udp [1900];
    Syslog = "Syslog", "System", NONE, tcp [514, 601, 6514], udp [514];
    NetBios = "NetBIOS", "System", NONE, tcp [139], udp [137, 138];
    SmbV1 = "SMBv1", "System", UNSAFE, tcp [445, 139], udp [];
    SmbV23 = "SMBv23", "System", NONE, tcp [445, 139], udp [];
    Rdp = "RDP", "RemoteAccess", NONE, tcp [3389], udp [3389];
    Vnc = "VNC", "RemoteAccess", NONE, tcp [5900, 5901, 5800], udp [];
    Sip = "SIP", "VoIP", NONE, tcp [5060, 5061], udp [5060, 5061];
    Rtp = "RTP", "Media", NONE, tcp [], udp [];
    Rtcp = "RTCP", "VoIP", NONE, tcp [], udp [];
    Rtsp = "RTSP", "Media", NONE, tcp [554], udp [554];
    Stun = "STUN", "Network", NONE, tcp [], udp [];
    BitTorrent = "BitTorrent", "Download", NONE, tcp [6881, 6882, 6883, 6884, 6885, 6886, 6887, 6888, 6889], udp [6771];
    Mqtt = "MQTT", "RPC", NONE, tcp [1883, 8883], udp [];
    Modbus = "Modbus", "IoT-Scada", NONE, tcp [502], udp [];
    Kerberos = "Kerberos", "Network", NONE, tcp [88], udp [88];
    Ldap = "LDAP", "System", NONE, tcp [389], udp [389];
    WireGuard = "WireGuard", "VPN", ENCRYPTED, tcp [], udp [51820];
    OpenVpn = "OpenVPN", "VPN", ENCRYPTED, tcp [1194], udp [1194];
    Iscsi = "iSCSI", "", NONE, tcp [3260], udp [];
    WhatsApp = "WhatsApp", "Chat", ENCRYPTED, tcp [], udp [];
    Zoom = "Zoom", "Video", ENCRYPTED, tcp [], udp [8801, 8802, 8803, 8804, 8805, 8806, 8807, 8808, 8809, 8810];
    Dropbox = "Dropbox", "Cloud", NONE, tcp [], udp [17500];
    Spotify = "Spotify", "Music", NONE, tcp [], udp [57621];
    Icmp = "ICMP", "Network", NONE, tcp [], udp [];
    Icmpv6 = "ICMPV6", "Network", NONE, tcp [], udp [];
    Igmp = "IGMP", "Network", NONE, tcp [], udp [];
    Gre = "GRE", "Network", NONE, tcp [], udp [];
    IpSec = "IPSec", "VPN", ENCRYPTED, tcp [], udp [500, 4500];
    Ospf = "OSPF", "Network", NONE, tcp [], udp [];
    Vrrp = "VRRP", "Network", NONE, tcp [], udp [];
    Sctp = "SCTP", "Network", NONE, tcp [], udp [];
}

impl Protocol {
    /// The payload is encrypted (`[Encrypted]` in ndpiReader's output).
    #[cfg(test)]
    pub(crate) fn encrypted(self) -> bool {
        self.flags() & ENCRYPTED != 0
    }

    /// nDPI's "Unsafe Protocol" risk: clear-text logins or obsolete designs.
    pub(crate) fn is_unsafe(self) -> bool {
        self.flags() & UNSAFE != 0
    }

    /// The protocol an IP protocol number alone identifies (no payload needed).
    pub(crate) fn of_ip_protocol(ip_protocol: u8) -> Option<Protocol> {
        Some(match ip_protocol {
            1 => Protocol::Icmp,
            2 => Protocol::Igmp,
            47 => Protocol::Gre,
            50 | 51 => Protocol::IpSec,
            58 => Protocol::Icmpv6,
            89 => Protocol::Ospf,
            112 => Protocol::Vrrp,
            132 => Protocol::Sctp,
            _ => return None,
        })
    }

    /// Whether a flow to `server_port` uses one of the protocol's standard
    /// ports; true for protocols without standard ports.
    pub(crate) fn standard_port(self, transport: Transport, server_port: u16) -> bool {
        let ports = self.ports(transport);
        ports.is_empty() || ports.contains(&server_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Protocol::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn tls_is_standard_on_443_only_over_tcp() {
        assert!(Protocol::Tls.standard_port(Transport::Tcp, 443));
        assert!(!Protocol::Tls.standard_port(Transport::Tcp, 3001));
        assert!(Protocol::Rtp.standard_port(Transport::Udp, 30_000));
        assert!(Protocol::Tls.encrypted() && !Protocol::Http.encrypted());
        assert!(Protocol::Telnet.is_unsafe());
    }
}

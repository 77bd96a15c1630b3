//! Numbers and names fixed by the protocol (spec/mps.md §1.2–1.4).

/// Longest string (channel type, address, request, service, user name, method, password) a
/// decoder accepts; the reference MPS treats anything longer as a protocol error.
pub const MAX_STRING_LEN: usize = 2048;
/// Largest CHANNEL_DATA payload a decoder accepts (1 MiB), as in the reference MPS.
pub const MAX_CHANNEL_DATA_LEN: usize = 1024 * 1024;

/// The service AMT asks for before USERAUTH.
pub const SERVICE_AUTH: &str = "auth@amt.intel.com";
/// The port-forwarding service AMT asks for after USERAUTH (also the USERAUTH service name).
pub const SERVICE_PFWD: &str = "pfwd@amt.intel.com";
/// The only USERAUTH method MPS implements.
pub const METHOD_PASSWORD: &str = "password";
/// The SSH "none" method (no method-specific fields).
pub const METHOD_NONE: &str = "none";

/// GLOBAL_REQUEST names AMT sends.
pub const REQUEST_TCPIP_FORWARD: &str = "tcpip-forward";
pub const REQUEST_CANCEL_TCPIP_FORWARD: &str = "cancel-tcpip-forward";
pub const REQUEST_UDP_SEND_TO: &str = "udp-send-to@amt.intel.com";

/// Channel types of CHANNEL_OPEN.
pub const CHANNEL_FORWARDED_TCPIP: &str = "forwarded-tcpip";
pub const CHANNEL_DIRECT_TCPIP: &str = "direct-tcpip";

/// The reserved u32 the reference MPS writes into its CHANNEL_OPEN.
pub const CHANNEL_OPEN_RESERVED: u32 = 0xFFFF_FFFF;

/// AMT ports. Real AMT registers tcpip-forward for them in [`AMT_FORWARDED_PORTS`] order.
pub const PORT_WSMAN: u16 = 16992;
pub const PORT_WSMAN_TLS: u16 = 16993;
pub const PORT_REDIRECTION: u16 = 16994;
pub const PORT_REDIRECTION_TLS: u16 = 16995;
pub const PORT_RCFG: u16 = 664;
pub const PORT_ASF_RMCP: u16 = 623;
pub const PORT_VNC: u16 = 5900;

/// The order in which AMT sends tcpip-forward requests (comment in both the reference MPS and
/// MeshCentral's mpsserver.js); the MPS sends KEEPALIVE_OPTIONS_REQUEST after the last one.
pub const AMT_FORWARDED_PORTS: [u16; 7] = [16993, 16992, 664, 623, 16995, 16994, 5900];

//! The RPS activation WebSocket, fed what a hostile agent could send: a text frame goes through
//! `ClientMessage::parse`, the protocol version check and, as the first message of a job,
//! `parse_request` (command line + base64 JSON payload via `parse_payload`), in the order
//! `activation::session` applies them.
//!
//! Input is either a raw frame or its parts (command word and arguments, version, tenant, and the
//! payload as raw bytes or as device facts with arbitrary JSON values), which this target wraps into a
//! frame itself so the fuzzer reaches the payload and command-line parsers without having to discover
//! base64 inside JSON and the payload's field names.
//!
//! Checks beyond "no panic": every refusal renders as a JSON `error` message carrying its text; an
//! accepted request names the command of its command line, has a canonical device GUID, agrees with
//! `parse_payload` on the device facts and keeps the tenant; a frame whose payload `parse_payload`
//! refuses is never accepted.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rps::activation::envelope::{self, ClientMessage, MAX_MESSAGE_BYTES};
use rps::activation::request::{Command, CommandLine, Task, parse_payload, parse_request};
use schemas::Guid;
use serde_json::{Value, json};

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// A text frame as it comes off the socket.
    Frame(&'a str),
    /// A first message built from parts, reaching the command line and payload parsers directly.
    Parts {
        command: CommandWord<'a>,
        /// The rest of the command line (flags, values).
        arguments: &'a str,
        protocol_version: Option<&'a str>,
        tenant_id: Option<&'a str>,
        payload: Payload<'a>,
    },
}

#[derive(Arbitrary, Debug)]
enum CommandWord<'a> {
    Activate,
    Deactivate,
    Maintenance,
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Payload<'a> {
    /// Any bytes, base64-encoded as the agent would.
    Raw(&'a [u8]),
    /// The JSON device facts rpc-go sends, each field any JSON value.
    Device(Box<Device<'a>>),
}

/// A JSON value of the kinds a payload field may hold.
#[derive(Arbitrary, Debug)]
enum Json<'a> {
    Text(&'a str),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Null,
    Texts(Vec<&'a str>),
    Numbers(Vec<u64>),
    Object(Vec<(&'a str, &'a str)>),
}

impl Json<'_> {
    fn value(&self) -> Value {
        match self {
            Json::Text(s) => json!(s),
            Json::Integer(n) => json!(n),
            // NaN and infinities become null, as in any JSON the agent could send.
            Json::Float(f) => json!(f),
            Json::Bool(b) => json!(b),
            Json::Null => Value::Null,
            Json::Texts(items) => json!(items),
            Json::Numbers(items) => json!(items),
            Json::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), json!(v)))
                    .collect(),
            ),
        }
    }
}

/// The device identity: a GUID (in either case), any text, or the old byte-array form.
#[derive(Arbitrary, Debug)]
enum DeviceUuid<'a> {
    Guid { bytes: [u8; 16], upper_case: bool },
    Other(Json<'a>),
}

#[derive(Arbitrary, Debug)]
struct IpConfiguration<'a> {
    dhcp: Json<'a>,
    ipsync: Json<'a>,
    ip_address: Json<'a>,
    netmask: Json<'a>,
    gateway: Json<'a>,
    primary_dns: Json<'a>,
    secondary_dns: Json<'a>,
}

#[derive(Arbitrary, Debug)]
struct Device<'a> {
    client: Json<'a>,
    ver: Json<'a>,
    build: Json<'a>,
    uuid: DeviceUuid<'a>,
    sku: Json<'a>,
    features: Json<'a>,
    username: Json<'a>,
    password: Json<'a>,
    current_mode: Json<'a>,
    hostname: Json<'a>,
    fqdn: Json<'a>,
    cert_hashes: Json<'a>,
    ip_configuration: Option<IpConfiguration<'a>>,
    hostname_info: Option<(Json<'a>, Json<'a>)>,
    friendly_name: Json<'a>,
    tls_enforced: Json<'a>,
    tls_tunnel: Json<'a>,
}

impl Device<'_> {
    fn value(&self) -> Value {
        let uuid = match &self.uuid {
            DeviceUuid::Guid { bytes, upper_case } => {
                let guid = Guid::from_uuid(uuid::Uuid::from_bytes(*bytes)).to_string();
                json!(if *upper_case {
                    guid.to_ascii_uppercase()
                } else {
                    guid
                })
            }
            DeviceUuid::Other(other) => other.value(),
        };
        let mut device = json!({
            "client": self.client.value(),
            "ver": self.ver.value(),
            "build": self.build.value(),
            "uuid": uuid,
            "sku": self.sku.value(),
            "features": self.features.value(),
            "username": self.username.value(),
            "password": self.password.value(),
            "currentMode": self.current_mode.value(),
            "hostname": self.hostname.value(),
            "fqdn": self.fqdn.value(),
            "certHashes": self.cert_hashes.value(),
            "friendlyName": self.friendly_name.value(),
            "tlsEnforced": self.tls_enforced.value(),
            "tlsTunnel": self.tls_tunnel.value(),
        });
        if let Some(ip) = &self.ip_configuration {
            device["ipConfiguration"] = json!({
                "dhcp": ip.dhcp.value(),
                "ipsync": ip.ipsync.value(),
                "ipAddress": ip.ip_address.value(),
                "netmask": ip.netmask.value(),
                "gateway": ip.gateway.value(),
                "primaryDns": ip.primary_dns.value(),
                "secondaryDns": ip.secondary_dns.value(),
            });
        }
        if let Some((suffix, hostname)) = &self.hostname_info {
            device["hostnameInfo"] =
                json!({"dnsSuffixOS": suffix.value(), "hostname": hostname.value()});
        }
        device
    }
}

fuzz_target!(|input: Input<'_>| {
    let frame = match input {
        Input::Frame(text) => text.to_owned(),
        Input::Parts {
            command,
            arguments,
            protocol_version,
            tenant_id,
            payload,
        } => {
            let command = match command {
                CommandWord::Activate => "activate",
                CommandWord::Deactivate => "deactivate",
                CommandWord::Maintenance => "maintenance",
                CommandWord::Other(word) => word,
            };
            let payload = match payload {
                Payload::Raw(bytes) => STANDARD.encode(bytes),
                Payload::Device(device) => STANDARD.encode(device.value().to_string()),
            };
            json!({
                "method": format!("{command} {arguments}"),
                "protocolVersion": protocol_version,
                "tenantId": tenant_id,
                "payload": payload,
            })
            .to_string()
        }
    };
    first_message(&frame);
});

/// The agent's answer to a refusal must be a well-formed `error` message carrying the text.
fn assert_error_renders(text: &str) {
    let rendered: Value =
        serde_json::from_str(&envelope::error(text)).expect("an error message is JSON");
    assert_eq!(rendered["method"], "error");
    assert_eq!(rendered["message"], text);
}

fn first_message(frame: &str) {
    // The session closes the socket on bigger frames before parsing anything.
    if frame.len() > MAX_MESSAGE_BYTES {
        return;
    }
    let message = match ClientMessage::parse(frame) {
        Ok(message) => message,
        Err(error) => {
            assert!(error.starts_with("SyntaxError: "), "{error}");
            assert_error_renders(&error);
            return;
        }
    };
    if let Some(version) = message
        .protocol_version
        .as_deref()
        .filter(|v| !v.is_empty())
        && let Err(error) = envelope::check_protocol_version(version)
    {
        assert_error_renders(&error);
    }
    // `response` frames carry a WS-Man answer (the wsman_parse target reads those bytes).
    let _ = message.payload_bytes();

    let direct = message.payload_text().map(parse_payload);
    match parse_request(&message, "client-1") {
        Err(rejected) => {
            assert!(!rejected.message.is_empty());
            assert_error_renders(&rejected.message);
        }
        Ok(request) => {
            let line = CommandLine::parse(&message.method);
            let expected = match line.command.as_deref() {
                Some("activate") => Command::Activate,
                Some("deactivate") => Command::Deactivate,
                Some("maintenance") => Command::Maintenance,
                other => panic!("accepted command {other:?}"),
            };
            assert_eq!(request.command, expected);
            // The GUID is canonical: it parses, and renders as itself.
            let guid: Guid = request.payload.uuid.parse().expect("accepted uuid parses");
            assert_eq!(guid.to_string(), request.payload.uuid);
            assert_eq!(
                request.tenant_id,
                message.tenant_id.clone().unwrap_or_default()
            );
            assert!(request.task.is_none() || request.command == Command::Maintenance);
            assert!(request.task_arg.is_none() || request.task == Some(Task::ChangePassword));

            let payload = match direct {
                Some(Ok(payload)) => payload,
                other => panic!("request accepted but its payload alone gives {other:?}"),
            };
            assert_eq!(payload.client, request.payload.client);
            assert_eq!(payload.ver, request.payload.ver);
            assert_eq!(payload.build, request.payload.build);
            assert_eq!(payload.current_mode, request.payload.current_mode);
            assert_eq!(payload.cert_hashes, request.payload.cert_hashes);
            assert_eq!(payload.fqdn, request.payload.fqdn);
            assert_eq!(payload.ip_configuration, request.payload.ip_configuration);
            assert_eq!(payload.hostname_info, request.payload.hostname_info);
        }
    }
}

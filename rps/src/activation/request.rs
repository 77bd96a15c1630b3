//! The first message of a job: the command line in `method` (parsed like a CLI, as the reference's minimist
//! does) and the device facts in the base64 JSON `payload` (rps.md §3.3).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use schemas::Guid;
use serde_json::Value;

use super::envelope::ClientMessage;

/// What the agent asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Activate,
    Deactivate,
    Maintenance,
}

/// A maintenance task (`maintenance --<task>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Task {
    SyncTime,
    SyncIp,
    ChangePassword,
    SyncHostName,
    SyncDeviceInfo,
}

impl Task {
    /// The reference's task name, used in the status text (`<task> completed succesfully`).
    pub fn name(&self) -> &'static str {
        match self {
            Task::SyncTime => "synctime",
            Task::SyncIp => "syncip",
            Task::ChangePassword => "changepassword",
            Task::SyncHostName => "synchostname",
            Task::SyncDeviceInfo => "syncdeviceinfo",
        }
    }
}

/// `ipConfiguration` of the payload (syncip, MPS device info).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpConfiguration {
    pub dhcp: bool,
    pub ip_sync: bool,
    pub ip_address: String,
    pub netmask: String,
    pub gateway: String,
    pub primary_dns: String,
    pub secondary_dns: String,
}

/// `hostnameInfo` of the payload (synchostname).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostnameInfo {
    pub dns_suffix_os: String,
    pub hostname: String,
}

/// The device facts rpc-go reads from the ME and the OS.
#[derive(Clone, Default)]
pub struct DevicePayload {
    pub ver: String,
    pub build: String,
    pub sku: String,
    pub features: String,
    /// The identity as sent (36 characters).
    pub uuid: String,
    pub username: String,
    pub password: String,
    /// 0 pre-provisioning, 1 CCM, 2 ACM; `None` when absent.
    pub current_mode: Option<i64>,
    pub hostname: String,
    /// The DNS suffix (ACM domain match).
    pub fqdn: String,
    pub client: String,
    pub cert_hashes: Vec<String>,
    pub ip_configuration: Option<IpConfiguration>,
    pub hostname_info: Option<HostnameInfo>,
    pub friendly_name: Option<String>,
    pub tls_enforced: bool,
    pub tls_tunnel: bool,
}

impl fmt::Debug for DevicePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevicePayload")
            .field("ver", &self.ver)
            .field("build", &self.build)
            .field("uuid", &self.uuid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("current_mode", &self.current_mode)
            .field("hostname", &self.hostname)
            .field("fqdn", &self.fqdn)
            .field("cert_hashes", &self.cert_hashes.len())
            .finish_non_exhaustive()
    }
}

/// A parsed first message.
#[derive(Clone)]
pub struct Request {
    pub command: Command,
    pub payload: DevicePayload,
    pub tenant_id: String,
    /// `--profile`.
    pub profile: Option<String>,
    /// `-f`: skip the password check.
    pub force: bool,
    pub task: Option<Task>,
    /// The argument after the task flag (a static password for changepassword).
    pub task_arg: Option<String>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("payload", &self.payload)
            .field("tenant_id", &self.tenant_id)
            .field("profile", &self.profile)
            .field("force", &self.force)
            .field("task", &self.task)
            .field("task_arg", &self.task_arg.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Text of a JSON scalar the way JavaScript would print it (rpc-go sends strings; numbers are tolerated).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// JavaScript truthiness of a payload field.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// A 16-byte UUID array (old rpc) in the reference's byte order: first three fields little-endian.
fn uuid_from_bytes(items: &[Value]) -> Option<String> {
    let bytes: Vec<u8> = items
        .iter()
        .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect::<Option<_>>()?;
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    Some(uuid::Uuid::from_bytes_le(bytes).hyphenated().to_string())
}

fn ip_configuration(v: &Value) -> Option<IpConfiguration> {
    let o = v.as_object()?;
    let s = |k: &str| o.get(k).map(text).unwrap_or_default();
    let b = |k: &str| o.get(k).is_some_and(truthy);
    Some(IpConfiguration {
        dhcp: b("dhcp"),
        ip_sync: b("ipsync"),
        ip_address: s("ipAddress"),
        netmask: s("netmask"),
        gateway: s("gateway"),
        primary_dns: s("primaryDns"),
        secondary_dns: s("secondaryDns"),
    })
}

fn hostname_info(v: &Value) -> Option<HostnameInfo> {
    let o = v.as_object()?;
    let s = |k: &str| o.get(k).map(text).unwrap_or_default();
    Some(HostnameInfo {
        dns_suffix_os: s("dnsSuffixOS"),
        hostname: s("hostname"),
    })
}

/// Decodes and checks the payload: base64 JSON with `client`, `ver`, `build` and `uuid`.
pub fn parse_payload(encoded: &str) -> Result<DevicePayload, String> {
    let bytes = STANDARD
        .decode(encoded.trim().as_bytes())
        .map_err(|e| format!("Failed to parse client message payload. {e}"))?;
    let json: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("Failed to parse client message payload. {e}"))?;
    let field = |k: &str| json.get(k).unwrap_or(&Value::Null);
    let required = ["client", "ver", "build", "uuid"];
    if !json.is_object() || required.iter().any(|k| !truthy(field(k))) {
        return Err("Invalid payload from client".into());
    }
    let uuid = match field("uuid") {
        Value::Array(items) => uuid_from_bytes(items).unwrap_or_default(),
        other => text(other),
    };
    Ok(DevicePayload {
        ver: text(field("ver")),
        build: text(field("build")),
        sku: text(field("sku")),
        features: text(field("features")),
        uuid,
        username: text(field("username")),
        password: text(field("password")),
        current_mode: match field("currentMode") {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        },
        hostname: text(field("hostname")),
        fqdn: text(field("fqdn")),
        client: text(field("client")),
        cert_hashes: field("certHashes")
            .as_array()
            .map(|a| a.iter().map(text).filter(|h| !h.is_empty()).collect())
            .unwrap_or_default(),
        ip_configuration: ip_configuration(field("ipConfiguration")),
        hostname_info: hostname_info(field("hostnameInfo")),
        friendly_name: field("friendlyName").as_str().map(str::to_owned),
        tls_enforced: field("tlsEnforced") == &Value::Bool(true),
        tls_tunnel: field("tlsTunnel") == &Value::Bool(true),
    })
}

/// The parsed command line: the command word, flags and positional arguments (minimist's rules, with the
/// boolean flags the reference declares).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommandLine {
    pub command: Option<String>,
    pub flags: Vec<(String, Option<String>)>,
    pub positional: Vec<String>,
}

const BOOLEAN_FLAGS: &[&str] = &[
    "force",
    "synctime",
    "syncip",
    "changepassword",
    "synchostname",
    "f",
];

fn alias(name: &str) -> &str {
    match name {
        "p" => "password",
        "f" => "force",
        "t" => "text",
        "e" => "encrypted",
        other => other,
    }
}

impl CommandLine {
    pub fn parse(line: &str) -> CommandLine {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let mut out = CommandLine::default();
        let mut i = 0;
        if let Some(first) = tokens.first()
            && !first.starts_with('-')
        {
            out.command = Some((*first).to_owned());
            i = 1;
        }
        while i < tokens.len() {
            let token = tokens[i];
            let next_value = tokens
                .get(i + 1)
                .filter(|n| !n.starts_with('-'))
                .map(|n| (*n).to_owned());
            if token == "--" {
                out.positional
                    .extend(tokens[i + 1..].iter().map(|t| (*t).to_owned()));
                break;
            }
            let name = if let Some(long) = token.strip_prefix("--") {
                long
            } else if let Some(short) = token.strip_prefix('-') {
                // rpc-go v2 writes `-password`: a word that names a long flag is that flag.
                short
            } else {
                out.positional.push(token.to_owned());
                i += 1;
                continue;
            };
            if let Some((k, v)) = name.split_once('=') {
                out.flags.push((alias(k).to_owned(), Some(v.to_owned())));
                i += 1;
                continue;
            }
            let key = alias(name);
            let is_short_cluster = !token.starts_with("--")
                && name.len() > 1
                && key == name
                && !matches!(name, "password" | "profile" | "force");
            if is_short_cluster {
                // `-abc`: single letters; the last may take a value.
                let letters: Vec<char> = name.chars().collect();
                for c in &letters[..letters.len() - 1] {
                    out.flags.push((alias(&c.to_string()).to_owned(), None));
                }
                let last = letters[letters.len() - 1].to_string();
                let last = alias(&last).to_owned();
                if !BOOLEAN_FLAGS.contains(&last.as_str()) && next_value.is_some() {
                    out.flags.push((last, next_value));
                    i += 2;
                } else {
                    out.flags.push((last, None));
                    i += 1;
                }
                continue;
            }
            if !BOOLEAN_FLAGS.contains(&key) && next_value.is_some() {
                out.flags.push((key.to_owned(), next_value));
                i += 2;
            } else {
                out.flags.push((key.to_owned(), None));
                i += 1;
            }
        }
        out
    }

    /// The value of `--name value` (last one wins, as with minimist).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(k, _)| k == name)
    }
}

/// A parse failure, with the text the agent receives and the device GUID when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub message: String,
    pub guid: Option<Guid>,
}

impl Rejected {
    fn new(message: impl Into<String>, guid: Option<Guid>) -> Rejected {
        Rejected {
            message: message.into(),
            guid,
        }
    }
}

/// Turns the first message into a request (payload decoded, command line applied). `client_id` names the
/// connection in the reference's messages about a missing or malformed uuid.
pub fn parse_request(message: &ClientMessage, client_id: &str) -> Result<Request, Rejected> {
    let encoded = message.payload_text().unwrap_or_default();
    if encoded.is_empty() {
        return Err(Rejected::new("Invalid payload from client", None));
    }
    let mut payload = parse_payload(encoded).map_err(|m| Rejected::new(m, None))?;
    let line = CommandLine::parse(&message.method);
    let method = line.command.clone().unwrap_or_default();
    let guid = payload.uuid.parse::<Guid>().ok();

    if let Some(password) = line.value("password").filter(|p| !p.is_empty()) {
        payload.password = password.to_owned();
    }
    let command = match method.as_str() {
        "activate" => Command::Activate,
        "deactivate" => Command::Deactivate,
        "maintenance" => Command::Maintenance,
        _ => {
            return Err(Rejected::new(
                format!(
                    "Device {} Not a supported method received from AMT device",
                    payload.uuid
                ),
                guid,
            ));
        }
    };
    if payload.uuid.is_empty() {
        return Err(Rejected::new(
            format!("{client_id} - Missing uuid from payload"),
            None,
        ));
    }
    if payload.uuid.chars().count() != 36 {
        return Err(Rejected::new(
            format!("{client_id} - uuid not valid length"),
            None,
        ));
    }
    let Some(guid) = guid else {
        return Err(Rejected::new(
            format!("{client_id} - uuid is not a valid GUID"),
            None,
        ));
    };
    payload.uuid = guid.to_string();
    let task = if command == Command::Maintenance {
        if line.has("synctime") {
            Some(Task::SyncTime)
        } else if line.has("syncip") {
            Some(Task::SyncIp)
        } else if line.has("changepassword") {
            Some(Task::ChangePassword)
        } else if line.has("synchostname") {
            Some(Task::SyncHostName)
        } else if line.has("syncdeviceinfo") {
            Some(Task::SyncDeviceInfo)
        } else {
            None
        }
    } else {
        None
    };
    let task_arg = if task == Some(Task::ChangePassword) {
        line.positional.first().cloned()
    } else {
        None
    };
    Ok(Request {
        command,
        payload,
        tenant_id: message.tenant_id.clone().unwrap_or_default(),
        profile: line.value("profile").map(str::to_owned),
        force: line.has("force"),
        task,
        task_arg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(method: &str, payload: &Value) -> ClientMessage {
        ClientMessage::parse(
            &json!({"method": method, "apiKey":"key", "appVersion":"2.48.0", "protocolVersion":"4.0.0",
                "status":"ok", "message":"ok", "fqdn":"", "payload": STANDARD.encode(payload.to_string()),
                "tenantId": "t1"})
            .to_string(),
        )
        .unwrap()
    }

    fn device() -> Value {
        json!({"ver":"16.1.25","build":"2049","sku":"16392","features":"AMT Pro Corprate",
            "uuid":"4c4c4544-004b-4210-8033-b6c04f504633","username":"$$OsAdmin","password":"lsa",
            "currentMode":0,"hostname":"h1","fqdn":"vprodemo.com","client":"RPC",
            "certHashes":["ab","cd"],"ipConfiguration":{"dhcp":true,"ipAddress":"10.0.0.2"},
            "hostnameInfo":{"dnsSuffixOS":"corp.com","hostname":"h1"}})
    }

    #[test]
    fn rpc_go_command_lines() {
        let r = parse_request(&message("activate --profile ccm", &device()), "c").unwrap();
        assert_eq!(r.command, Command::Activate);
        assert_eq!(r.profile.as_deref(), Some("ccm"));
        assert_eq!(r.tenant_id, "t1");
        assert_eq!(r.payload.password, "lsa");
        assert_eq!(r.payload.current_mode, Some(0));
        assert_eq!(r.payload.cert_hashes, vec!["ab", "cd"]);
        assert_eq!(r.payload.ip_configuration.unwrap().ip_address, "10.0.0.2");

        let r = parse_request(
            &message("deactivate --password S3cret!x -f", &device()),
            "c",
        )
        .unwrap();
        assert_eq!(r.command, Command::Deactivate);
        assert_eq!(r.payload.password, "S3cret!x");
        assert!(r.force);

        let r = parse_request(
            &message("maintenance -password Pw!1 --synctime", &device()),
            "c",
        )
        .unwrap();
        assert_eq!(r.task, Some(Task::SyncTime));
        assert_eq!(r.payload.password, "Pw!1");

        let r = parse_request(
            &message(
                "maintenance --password Pw!1 --changepassword N3w!pass",
                &device(),
            ),
            "c",
        )
        .unwrap();
        assert_eq!(r.task, Some(Task::ChangePassword));
        assert_eq!(r.task_arg.as_deref(), Some("N3w!pass"));

        let r = parse_request(
            &message("maintenance --password Pw!1 --syncdeviceinfo", &device()),
            "c",
        )
        .unwrap();
        assert_eq!(r.task, Some(Task::SyncDeviceInfo));
        let r = parse_request(&message("maintenance --password Pw!1", &device()), "c").unwrap();
        assert_eq!(r.task, None);
    }

    #[test]
    fn the_reference_messages_for_bad_first_messages() {
        let err = |method: &str, payload: &Value| {
            parse_request(&message(method, payload), "cid").unwrap_err()
        };
        assert_eq!(
            err("dance --profile x", &device()).message,
            "Device 4c4c4544-004b-4210-8033-b6c04f504633 Not a supported method received from AMT device"
        );
        let mut no_build = device();
        no_build["build"] = json!("");
        assert_eq!(
            err("activate", &no_build).message,
            "Invalid payload from client"
        );
        let mut short = device();
        short["uuid"] = json!("1234");
        assert_eq!(
            err("activate", &short).message,
            "cid - uuid not valid length"
        );
        let mut garbage = device();
        garbage["uuid"] = json!("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz");
        assert_eq!(
            err("activate", &garbage).message,
            "cid - uuid is not a valid GUID"
        );

        let mut m = message("activate", &device());
        m.payload = Some(json!("!!not base64!!"));
        assert!(
            parse_request(&m, "c")
                .unwrap_err()
                .message
                .starts_with("Failed to parse client message payload. ")
        );
        m.payload = Some(json!(STANDARD.encode("[1,2")));
        assert!(
            parse_request(&m, "c")
                .unwrap_err()
                .message
                .starts_with("Failed to parse client message payload. ")
        );
        m.payload = None;
        assert_eq!(
            parse_request(&m, "c").unwrap_err().message,
            "Invalid payload from client"
        );
    }

    #[test]
    fn a_uuid_byte_array_reads_in_smbios_order() {
        let mut d = device();
        d["uuid"] = json!([
            0x44, 0x45, 0x4C, 0x4C, 0x4B, 0x00, 0x10, 0x42, 0x80, 0x33, 0xB6, 0xC0, 0x4F, 0x50,
            0x46, 0x33
        ]);
        let r = parse_request(&message("activate --profile p", &d), "c").unwrap();
        assert_eq!(r.payload.uuid, "4c4c4544-004b-4210-8033-b6c04f504633");
    }

    #[test]
    fn debug_output_hides_passwords() {
        let r = parse_request(&message("deactivate --password S3cret!x", &device()), "c").unwrap();
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("S3cret") && !shown.contains("\"lsa\""),
            "{shown}"
        );
    }
}

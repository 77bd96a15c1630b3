//! The JSON envelope of every WebSocket message in both directions (rps.md §3.2), and the protocol version
//! check.
//!
//! RPS → agent: `{"method","apiKey":"xxxxx","appVersion","protocolVersion","status","message","payload","tenantId":""}`
//! in exactly that order. `payload` is base64 for `wsman`, `null` on `success` / `error`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{PROTOCOL_VERSION, SERVICE_VERSION};

/// Largest text frame accepted; anything bigger (or any binary frame) closes the socket.
pub const MAX_MESSAGE_BYTES: usize = 100 * 1024;

/// A message from the agent, before its payload is interpreted.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientMessage {
    #[serde(default)]
    pub method: String,
    #[serde(default, rename = "protocolVersion")]
    pub protocol_version: Option<String>,
    #[serde(default, rename = "appVersion")]
    pub app_version: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Base64 (or absent); its meaning depends on `method`.
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default, rename = "tenantId")]
    pub tenant_id: Option<String>,
}

impl ClientMessage {
    /// Parses one text frame. Errors read like the reference's (a JavaScript `SyntaxError`).
    pub fn parse(text: &str) -> Result<ClientMessage, String> {
        serde_json::from_str(text).map_err(|e| format!("SyntaxError: {e}"))
    }

    /// The payload as a string, if it is one.
    pub fn payload_text(&self) -> Option<&str> {
        self.payload.as_ref().and_then(Value::as_str)
    }

    /// The base64 payload decoded to bytes (`response` carries raw HTTP).
    pub fn payload_bytes(&self) -> Option<Vec<u8>> {
        let text = self.payload_text()?;
        STANDARD.decode(text.trim().as_bytes()).ok()
    }
}

/// `method` of an RPS → agent message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Wsman,
    Success,
    Error,
    HeartbeatRequest,
    Progress,
}

/// `status` of an RPS → agent message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Success,
    Failed,
    Heartbeat,
}

#[derive(Serialize)]
struct ServerMessage<'a> {
    method: Method,
    #[serde(rename = "apiKey")]
    api_key: &'static str,
    #[serde(rename = "appVersion")]
    app_version: &'static str,
    #[serde(rename = "protocolVersion")]
    protocol_version: &'static str,
    status: Status,
    message: &'a str,
    payload: Option<&'a str>,
    #[serde(rename = "tenantId")]
    tenant_id: &'static str,
}

fn render(method: Method, status: Status, message: &str, payload: Option<&str>) -> String {
    let msg = ServerMessage {
        method,
        api_key: "xxxxx",
        app_version: SERVICE_VERSION,
        protocol_version: PROTOCOL_VERSION,
        status,
        message,
        payload,
        tenant_id: "",
    };
    // Serializing plain strings and enums cannot fail.
    serde_json::to_string(&msg).unwrap_or_default()
}

/// A `wsman` message carrying one complete HTTP request.
pub fn wsman(http_request: &[u8]) -> String {
    render(
        Method::Wsman,
        Status::Ok,
        "",
        Some(&STANDARD.encode(http_request)),
    )
}

/// The terminal `success` message; `message` is the status JSON as text.
pub fn success(message: &str) -> String {
    render(Method::Success, Status::Success, message, None)
}

/// The terminal `error` message (plain text before the state machine ran, status JSON after).
pub fn error(message: &str) -> String {
    render(Method::Error, Status::Failed, message, None)
}

/// A version `major.minor.revision` (missing parts are 0, as the reference's parser leaves them).
fn parse_version(text: &str) -> Result<(i64, i64, i64), String> {
    if text.is_empty() {
        return Err("version must be defined".into());
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 3 {
        return Err("invalid version string length".into());
    }
    // parseInt semantics: leading digits count, anything else fails.
    let int = |s: &str, what: &str| -> Result<i64, String> {
        let s = s.trim_start();
        let sign = usize::from(s.starts_with(['-', '+']));
        let digits = s[sign..].chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("failed to parse {what}"));
        }
        s[..sign + digits]
            .parse()
            .map_err(|_| format!("failed to parse {what}"))
    };
    let major = int(parts[0], "major")?;
    let minor = match parts.get(1) {
        Some(p) => int(p, "minor")?,
        None => 0,
    };
    let revision = match parts.get(2) {
        Some(p) => int(p, "revision")?,
        None => 0,
    };
    Ok((major, minor, revision))
}

/// The reference's compatibility rule: same major; same minor and our revision ≥ theirs, or our minor ≥ theirs.
/// Errors are the texts the agent receives.
pub fn check_protocol_version(client: &str) -> Result<(), String> {
    let ours = parse_version(PROTOCOL_VERSION)?;
    let theirs = parse_version(client)?;
    let compatible =
        ours.0 == theirs.0 && ((ours.1 == theirs.1 && ours.2 >= theirs.2) || ours.1 > theirs.1);
    if compatible {
        Ok(())
    } else {
        Err(format!("protocol version NOT supported: {client}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_have_the_reference_fields_in_order() {
        assert_eq!(
            error("Device x activation failed. Missing password."),
            r#"{"method":"error","apiKey":"xxxxx","appVersion":"2.40.0","protocolVersion":"4.0.0","status":"failed","message":"Device x activation failed. Missing password.","payload":null,"tenantId":""}"#
        );
        assert_eq!(
            success(r#"{"Status":"Client control mode."}"#),
            r#"{"method":"success","apiKey":"xxxxx","appVersion":"2.40.0","protocolVersion":"4.0.0","status":"success","message":"{\"Status\":\"Client control mode.\"}","payload":null,"tenantId":""}"#
        );
        let w: Value = serde_json::from_str(&wsman(b"POST /wsman HTTP/1.1\r\n")).unwrap();
        assert_eq!(w["method"], "wsman");
        assert_eq!(w["status"], "ok");
        assert_eq!(w["message"], "");
        assert_eq!(w["payload"], STANDARD.encode(b"POST /wsman HTTP/1.1\r\n"));
    }

    #[test]
    fn protocol_versions_follow_the_reference_rule() {
        assert!(check_protocol_version("4.0.0").is_ok());
        assert!(check_protocol_version("4").is_ok());
        assert_eq!(
            check_protocol_version("4.0.1"),
            Err("protocol version NOT supported: 4.0.1".into())
        );
        assert!(check_protocol_version("3.0.0").is_err());
        assert!(check_protocol_version("5.0.0").is_err());
        assert_eq!(
            check_protocol_version("x.0.0"),
            Err("failed to parse major".into())
        );
        assert_eq!(
            check_protocol_version("1.2.3.4"),
            Err("invalid version string length".into())
        );
    }

    #[test]
    fn client_messages_parse_leniently_and_report_json_errors() {
        let m = ClientMessage::parse(r#"{"method":"response","payload":"SFRUUA==","extra":1}"#)
            .unwrap();
        assert_eq!(m.method, "response");
        assert_eq!(m.payload_bytes().unwrap(), b"HTTP");
        assert!(
            ClientMessage::parse("{nope")
                .unwrap_err()
                .starts_with("SyntaxError: ")
        );
        let m = ClientMessage::parse(r#"{"method":"x","payload":null}"#).unwrap();
        assert_eq!(m.payload_bytes(), None);
    }
}

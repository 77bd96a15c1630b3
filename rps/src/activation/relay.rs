//! WS-Man through the device agent (rps.md §3.5): each request is a complete HTTP/1.1 message (chunked,
//! `Connection: close`) sent base64 in a `wsman` message; the agent writes it to LMS and sends back the raw
//! answer in a `response` message.
//!
//! Digest authentication: the first request goes without credentials; a 401 installs the challenge and the
//! request is sent again. Three 401s in a row fail with the reference's `Unable to authenticate with AMT`.
//! Every exchange has a timeout; a timeout or an unparsable answer is retried (`wsman_max_attempts` in all),
//! anything else is returned to the caller.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use wsman::digest::{Challenge, DigestClient};
use wsman::http::{Limits, RequestFraming, ResponseReader, encode_request};
use wsman::{Call, Fault, ParseOptions, ResponseError};

use super::envelope;
use super::settings::Timings;

/// Why a WS-Man call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WsmanError {
    #[error("no answer from the device within {0:?}")]
    Timeout(Duration),
    #[error("the device's answer could not be parsed: {0}")]
    Parse(String),
    #[error("Unable to authenticate with AMT")]
    Unauthorized,
    #[error("AMT answered HTTP {status} {reason}")]
    Http {
        status: u16,
        reason: String,
        fault: Option<Fault>,
    },
    #[error("AMT answered with a fault: {0}")]
    Fault(Fault),
    #[error("the device agent closed the connection")]
    Closed,
}

impl WsmanError {
    /// Worth sending the same request again (the reference's retryable errors).
    fn retryable(&self) -> bool {
        matches!(self, WsmanError::Timeout(_) | WsmanError::Parse(_))
    }

    /// What the reference's error machine tells the agent about this failure.
    pub fn reference_text(&self) -> String {
        match self {
            WsmanError::Unauthorized => "Unable to authenticate with AMT".into(),
            WsmanError::Http {
                status: 400,
                reason,
                ..
            } => reason.clone(),
            _ => "Unknown error has occured".into(),
        }
    }

    /// The fault AMT sent, if any (e.g. `AlreadyExists`).
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            WsmanError::Http { fault, .. } => fault.as_ref(),
            WsmanError::Fault(f) => Some(f),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            WsmanError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How one call is made.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallOptions {
    /// Sent exactly once, never repeated (AdminSetup, UpgradeClientToAdmin: AMT drops the session on success).
    pub one_shot: bool,
    /// A timeout other than the configured per-call one.
    pub timeout: Option<Duration>,
}

impl CallOptions {
    pub const ONE_SHOT: CallOptions = CallOptions {
        one_shot: true,
        timeout: None,
    };

    pub fn with_timeout(timeout: Duration) -> CallOptions {
        CallOptions {
            one_shot: false,
            timeout: Some(timeout),
        }
    }
}

/// The two directions of a job's WebSocket: text frames out, raw HTTP answers in.
pub struct AgentLink {
    pub out: mpsc::Sender<String>,
    pub answers: mpsc::Receiver<Vec<u8>>,
}

/// The WS-Man client of one job.
pub struct Relay {
    link: AgentLink,
    host: String,
    digest: DigestClient,
    next_id: u64,
    unauthorized: u32,
    timings: Timings,
    exchanges: u32,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("digest", &self.digest)
            .field("exchanges", &self.exchanges)
            .finish_non_exhaustive()
    }
}

/// A successful answer: the parsed SOAP envelope (xml2js conventions, attributes kept).
#[derive(Clone, Debug)]
pub struct Answer(pub wsman::Response);

impl Answer {
    /// `Envelope.Body`.
    pub fn body(&self) -> &Value {
        self.0.body()
    }

    /// `Envelope.Body.<name>.ReturnValue` as a number (`None` when absent).
    pub fn return_value(&self, output: &str) -> Option<i64> {
        number(&self.body()[output]["ReturnValue"])
    }
}

/// A JSON scalar as an integer (xml2js turned most numbers into numbers already).
pub fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(o) => o.get("_").and_then(number),
        _ => None,
    }
}

/// Text of a JSON scalar, or of an element with attributes (`{"_": text}`).
pub fn text(v: &Value) -> Option<String> {
    wsman::parse::value_text(v)
}

/// `value` as a list: xml2js leaves a single child unwrapped and an absent one missing.
pub fn items(value: &Value) -> Vec<Value> {
    match value {
        Value::Null => Vec::new(),
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

impl Relay {
    /// A client for device `guid` on the non-TLS port, authenticating as `username` / `password` (the local
    /// system account before activation, `admin` after).
    pub fn new(
        link: AgentLink,
        guid: &str,
        username: &str,
        password: &str,
        timings: Timings,
    ) -> Relay {
        Relay {
            link,
            host: wsman::http::host(guid, 16992),
            digest: DigestClient::new(username, password),
            next_id: 0,
            unauthorized: 0,
            timings,
            exchanges: 0,
        }
    }

    /// Switches the digest credentials, keeping the current challenge (after activation or a password change).
    pub fn set_credentials(&mut self, username: &str, password: &str) {
        let challenge = self.digest.challenge().cloned();
        self.digest = DigestClient::new(username, password);
        if let Some(c) = challenge {
            self.digest.set_challenge(c);
        }
    }

    /// WS-Man exchanges completed so far.
    pub fn exchanges(&self) -> u32 {
        self.exchanges
    }

    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// Sends a text frame to the agent (terminal messages). Errors only when the socket is gone.
    pub async fn send_text(&self, text: String) -> Result<(), WsmanError> {
        self.link
            .out
            .send(text)
            .await
            .map_err(|_| WsmanError::Closed)
    }

    pub async fn call(&mut self, call: &Call) -> Result<Answer, WsmanError> {
        self.call_with(call, CallOptions::default()).await
    }

    pub async fn call_with(
        &mut self,
        call: &Call,
        options: CallOptions,
    ) -> Result<Answer, WsmanError> {
        self.call_xml(&|id| call.to_xml(id), options).await
    }

    /// A call whose envelope the caller renders (for the few requests the reference edits by hand).
    pub async fn call_xml(
        &mut self,
        render: &(dyn Fn(u64) -> String + Sync),
        options: CallOptions,
    ) -> Result<Answer, WsmanError> {
        let attempts = if options.one_shot {
            1
        } else {
            self.timings.max_attempts
        };
        let timeout = options.timeout.unwrap_or(self.timings.wsman_timeout);
        let mut attempt = 1;
        loop {
            match self.exchange(render, timeout).await {
                Err(error) if error.retryable() && attempt < attempts => {
                    tracing::debug!(%error, attempt, "WS-Man call failed; sending it again");
                    if matches!(error, WsmanError::Timeout(_))
                        && !self.timings.retry_delay.is_zero()
                    {
                        tokio::time::sleep(self.timings.retry_delay).await;
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One request, re-sent with credentials after each 401.
    async fn exchange(
        &mut self,
        render: &(dyn Fn(u64) -> String + Sync),
        timeout: Duration,
    ) -> Result<Answer, WsmanError> {
        loop {
            let id = self.next_id;
            self.next_id += 1;
            let xml = render(id);
            let authorization = self.digest.authorization("POST", "/wsman");
            let request = encode_request(
                RequestFraming::ChunkedClose,
                &self.host,
                authorization.as_deref(),
                xml.as_bytes(),
            );
            // An answer that arrived after its call timed out belongs to nobody.
            while self.link.answers.try_recv().is_ok() {}
            self.link
                .out
                .send(envelope::wsman(&request))
                .await
                .map_err(|_| WsmanError::Closed)?;
            let deadline = Instant::now() + timeout;
            let (response, result) = loop {
                let raw = match tokio::time::timeout_at(deadline, self.link.answers.recv()).await {
                    Err(_) => return Err(WsmanError::Timeout(timeout)),
                    Ok(None) => return Err(WsmanError::Closed),
                    Ok(Some(raw)) => raw,
                };
                match read_http(&raw) {
                    Ok(Some(r)) if r.status == 200 => match parse_soap(&r) {
                        // A late answer to an earlier request: keep waiting for ours.
                        Ok(answer)
                            if answer
                                .0
                                .relates_to()
                                .is_some_and(|rel| rel != id.to_string()) =>
                        {
                            tracing::debug!(expected = id, got = ?answer.0.relates_to(), "stale WS-Man answer dropped");
                            continue;
                        }
                        other => break (Some(r), other),
                    },
                    Ok(Some(r)) => {
                        let error = http_error(&r);
                        break (Some(r), Err(error));
                    }
                    Ok(None) => break (None, Err(WsmanError::Parse("empty answer".into()))),
                    Err(e) => break (None, Err(e)),
                }
            };
            self.exchanges += 1;
            if let Some(r) = response.as_ref().filter(|r| r.status == 401) {
                if let Some(challenge) = challenge_of(r) {
                    self.digest.set_challenge(challenge);
                }
                self.unauthorized += 1;
                if self.unauthorized >= 3 {
                    self.unauthorized = 0;
                    return Err(WsmanError::Unauthorized);
                }
                continue;
            }
            self.unauthorized = 0;
            return result;
        }
    }
}

/// Reads one HTTP response from the relayed bytes, installing nothing: the caller decides.
fn read_http(raw: &[u8]) -> Result<Option<wsman::http::Response>, WsmanError> {
    let mut reader = ResponseReader::new(Limits::default());
    reader.push(raw);
    match reader.next_response() {
        Ok(Some(r)) => Ok(Some(r)),
        Ok(None) => reader
            .finish()
            .map_err(|e| WsmanError::Parse(e.to_string())),
        Err(e) => Err(WsmanError::Parse(e.to_string())),
    }
}

fn parse_soap(response: &wsman::http::Response) -> Result<Answer, WsmanError> {
    let text = std::str::from_utf8(&response.body)
        .map_err(|_| WsmanError::Parse("body is not UTF-8".into()))?;
    match wsman::parse_response(text, ParseOptions::RPS) {
        Ok(r) => Ok(Answer(r)),
        Err(ResponseError::Fault { fault, .. }) => Err(WsmanError::Fault(fault)),
        Err(e) => Err(WsmanError::Parse(e.to_string())),
    }
}

fn http_error(response: &wsman::http::Response) -> WsmanError {
    let fault = std::str::from_utf8(&response.body)
        .ok()
        .and_then(|t| match wsman::parse_response(t, ParseOptions::RPS) {
            Err(ResponseError::Fault { fault, .. }) => Some(fault),
            _ => None,
        });
    WsmanError::Http {
        status: response.status,
        reason: response.reason.clone(),
        fault,
    }
}

/// Reads the challenge of a 401 (kept out of `exchange` so the borrow of `self` stays short).
fn challenge_of(response: &wsman::http::Response) -> Option<Challenge> {
    response
        .www_authenticate()
        .and_then(|h| Challenge::parse(h).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn reference_texts_of_failures() {
        assert_eq!(
            WsmanError::Unauthorized.reference_text(),
            "Unable to authenticate with AMT"
        );
        assert_eq!(
            WsmanError::Http {
                status: 400,
                reason: "Bad Request".into(),
                fault: None
            }
            .reference_text(),
            "Bad Request"
        );
        assert_eq!(
            WsmanError::Parse("x".into()).reference_text(),
            "Unknown error has occured"
        );
    }

    #[test]
    fn lists_of_one_none_or_many() {
        assert_eq!(items(&Value::Null), Vec::<Value>::new());
        assert_eq!(items(&Value::String(String::new())), Vec::<Value>::new());
        assert_eq!(items(&serde_json::json!({"a":1})).len(), 1);
        assert_eq!(items(&serde_json::json!([1, 2])).len(), 2);
        assert_eq!(number(&serde_json::json!({"_":"7","$":{}})), Some(7));
    }

    /// A fake agent for the relay: answers each `wsman` message with the next canned HTTP answer.
    fn agent(answers: Vec<Vec<u8>>) -> (AgentLink, tokio::task::JoinHandle<Vec<String>>) {
        let (out_tx, mut out_rx) = mpsc::channel::<String>(8);
        let (ans_tx, ans_rx) = mpsc::channel::<Vec<u8>>(8);
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut answers = answers.into_iter();
            while let Some(frame) = out_rx.recv().await {
                let v: Value = serde_json::from_str(&frame).unwrap();
                let http = STANDARD.decode(v["payload"].as_str().unwrap()).unwrap();
                seen.push(String::from_utf8(http).unwrap());
                match answers.next() {
                    Some(a) => {
                        let _ = ans_tx.send(a).await;
                    }
                    None => break,
                }
            }
            seen
        });
        (
            AgentLink {
                out: out_tx,
                answers: ans_rx,
            },
            task,
        )
    }

    fn soap_answer(relates_to: u64) -> Vec<u8> {
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"><a:Header><b:RelatesTo>{relates_to}</b:RelatesTo></a:Header><a:Body><g:AMT_GeneralSettings><g:DigestRealm>Digest:A3829B3827DE4D33D4449B366831FD01</g:DigestRealm></g:AMT_GeneralSettings></a:Body></a:Envelope>"#
        );
        wsman::http::encode_chunked_response(200, "OK", &[], xml.as_bytes())
    }

    fn unauthorized() -> Vec<u8> {
        wsman::http::encode_response(
            401,
            "Unauthorized",
            &[(
                "WWW-Authenticate",
                r#"Digest realm="Digest:A3829B3827DE4D33D4449B366831FD01", nonce="n1", stale="false", qop="auth""#,
            )],
            b"<html></html>",
        )
    }

    fn timings() -> Timings {
        Timings {
            wsman_timeout: Duration::from_millis(300),
            ..Timings::no_waits()
        }
    }

    #[tokio::test]
    async fn a_401_installs_the_challenge_and_the_request_goes_again_with_digest() {
        let (link, agent) = agent(vec![unauthorized(), soap_answer(1)]);
        let mut relay = Relay::new(
            link,
            "4c4c4544-004b-4210-8033-b6c04f504633",
            "$$OsAdmin",
            "pw",
            timings(),
        );
        let answer = relay.call(&Call::get("AMT_GeneralSettings")).await.unwrap();
        assert_eq!(
            answer.body()["AMT_GeneralSettings"]["DigestRealm"],
            "Digest:A3829B3827DE4D33D4449B366831FD01"
        );
        drop(relay);
        let seen = agent.await.unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[0].starts_with("POST /wsman HTTP/1.1\r\nHost: 4c4c4544-004b-4210-8033-b6c04f504633:16992\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
        assert!(seen[1].starts_with(
            "POST /wsman HTTP/1.1\r\nAuthorization: Digest username=\"$$OsAdmin\",realm=\"Digest:A3829B3827DE4D33D4449B366831FD01\",nonce=\"n1\",uri=\"/wsman\",qop=\"auth\",response=\""
        ));
        assert!(seen[1].contains(",nc=\"00000001\",cnonce=\""));
        assert!(seen[1].ends_with("</Envelope>\r\n0\r\n\r\n"));
    }

    #[tokio::test]
    async fn three_401s_in_a_row_fail_authentication() {
        let (link, _agent) = agent(vec![unauthorized(), unauthorized(), unauthorized()]);
        let mut relay = Relay::new(
            link,
            "4c4c4544-004b-4210-8033-b6c04f504633",
            "admin",
            "bad",
            timings(),
        );
        assert_eq!(
            relay
                .call(&Call::get("AMT_GeneralSettings"))
                .await
                .unwrap_err(),
            WsmanError::Unauthorized
        );
    }

    #[tokio::test]
    async fn garbage_is_retried_then_reported_and_silence_times_out() {
        let (link, agent) = agent(vec![
            b"garbage".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n<a>".to_vec(),
            b"\x00\x01".to_vec(),
        ]);
        let mut relay = Relay::new(
            link,
            "4c4c4544-004b-4210-8033-b6c04f504633",
            "admin",
            "pw",
            timings(),
        );
        let err = relay
            .call(&Call::get("AMT_GeneralSettings"))
            .await
            .unwrap_err();
        assert!(matches!(err, WsmanError::Parse(_)), "{err:?}");
        assert_eq!(err.reference_text(), "Unknown error has occured");
        // The agent has no more answers: the next call times out (three attempts).
        let err = relay
            .call(&Call::get("AMT_GeneralSettings"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, WsmanError::Timeout(_) | WsmanError::Closed),
            "{err:?}"
        );
        drop(relay);
        assert_eq!(agent.await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn a_stale_answer_is_skipped() {
        // The first answer relates to another request id; the second is ours.
        let (out_tx, mut out_rx) = mpsc::channel::<String>(8);
        let (ans_tx, ans_rx) = mpsc::channel::<Vec<u8>>(8);
        tokio::spawn(async move {
            let _ = out_rx.recv().await;
            ans_tx.send(soap_answer(41)).await.unwrap();
            ans_tx.send(soap_answer(0)).await.unwrap();
            let _ = out_rx.recv().await;
        });
        let mut relay = Relay::new(
            AgentLink {
                out: out_tx,
                answers: ans_rx,
            },
            "4c4c4544-004b-4210-8033-b6c04f504633",
            "admin",
            "pw",
            timings(),
        );
        let answer = relay.call(&Call::get("AMT_GeneralSettings")).await.unwrap();
        assert_eq!(answer.0.relates_to().as_deref(), Some("0"));
    }

    #[test]
    fn challenge_of_reads_the_header() {
        let r = read_http(&unauthorized()).unwrap().unwrap();
        assert_eq!(challenge_of(&r).unwrap().nonce, "n1");
    }
}

//! The redirection relay (spec §7): the WebSocket at `/relay/webrelay.ashx` that carries a
//! browser's KVM, SOL or IDER session to the device over an APF channel of its CIRA tunnel.
//!
//! The upgrade is refused with HTTP 401 unless the `Sec-WebSocket-Protocol` header carries a
//! redirection token (HS256 with the MPS jwt secret, not expired, `deviceId` = `host`), the device
//! is connected to this instance, and no session of the same mode is open for it. The token is
//! echoed as the selected subprotocol, as browsers require.

mod interceptor;
mod session;

pub use interceptor::{AMT_USER, InterceptError, Interceptor};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::cira::DeviceConnection;
use crate::events::ReferenceEvents;
use crate::service::Mps;

/// The reference's path, exactly.
pub const PATH: &str = "/relay/webrelay.ashx";
/// Largest WebSocket message accepted from a browser (KVM input and IDER sectors are far smaller).
const MAX_MESSAGE: usize = 1 << 20;

#[derive(Clone)]
struct RelayState {
    mps: Mps,
    reference: ReferenceEvents,
}

pub fn router(mps: Mps, reference: ReferenceEvents) -> Router {
    Router::new()
        .route(PATH, get(upgrade))
        .with_state(RelayState { mps, reference })
}

/// Which of the device's three redirection sessions a relay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Kvm,
    Sol,
    Ider,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        match s {
            "kvm" => Some(Mode::Kvm),
            "sol" => Some(Mode::Sol),
            "ider" => Some(Mode::Ider),
            _ => None,
        }
    }

    fn flag(self, conn: &DeviceConnection) -> &AtomicBool {
        match self {
            Mode::Kvm => &conn.redirection.kvm,
            Mode::Sol => &conn.redirection.sol,
            Mode::Ider => &conn.redirection.ider,
        }
    }
}

/// Holds the device's flag for this mode while the session is open (what
/// `GET /devices/redirectstatus` reports) and clears it however the session ends.
pub struct ModeGuard {
    conn: Arc<DeviceConnection>,
    mode: Option<Mode>,
}

impl ModeGuard {
    /// Claims `mode` on the device, or `None` when a session of that mode is open. Without a
    /// mode (older clients) nothing is claimed, but a running KVM session still excludes it.
    pub fn claim(conn: Arc<DeviceConnection>, mode: Option<Mode>) -> Option<ModeGuard> {
        match mode {
            Some(m) => m
                .flag(&conn)
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .ok()
                .map(|_| ModeGuard {
                    conn: conn.clone(),
                    mode,
                }),
            None if conn.redirection.kvm.load(Ordering::Acquire) => None,
            None => Some(ModeGuard { conn, mode: None }),
        }
    }

    pub fn mode(&self) -> Option<Mode> {
        self.mode
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        if let Some(m) = self.mode {
            m.flag(&self.conn).store(false, Ordering::Release);
        }
    }
}

/// The query of a relay URL (`host`, `port`, `p`, `tls`, `mode`), read as the reference does:
/// numbers through `Number()`, so a missing `tls` or `p` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayParams {
    pub host: String,
    pub port: u16,
    /// 2 = redirection: the digest interceptor runs.
    pub p: u32,
    pub mode: Option<Mode>,
}

impl RelayParams {
    pub fn parse(query: &[(String, String)]) -> Result<RelayParams, &'static str> {
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim());
        let number = |k: &str| -> Option<u64> {
            match get(k) {
                None | Some("") => Some(0),
                Some(v) => v.parse().ok(),
            }
        };
        let host = get("host").unwrap_or_default();
        if host.is_empty() {
            return Err("no host");
        }
        let port = match number("port") {
            Some(p) if (1..=u64::from(u16::MAX)).contains(&p) => p as u16,
            _ => return Err("bad port"),
        };
        if number("tls") != Some(0) {
            // The reference never opens a channel for TLS redirection over CIRA.
            return Err("only tls=0 is supported");
        }
        let p = number("p")
            .and_then(|p| u32::try_from(p).ok())
            .ok_or("bad p")?;
        Ok(RelayParams {
            host: host.to_ascii_lowercase(),
            port,
            p,
            mode: get("mode").and_then(Mode::parse),
        })
    }
}

/// The offered subprotocol that is a valid redirection token for `host`.
fn token_for(mps: &Mps, headers: &HeaderMap, host: &str) -> Option<String> {
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    for t in offered {
        if crate::rest::verify_redirection_token(mps.config(), t, host).is_some() {
            return Some(t.to_owned());
        }
    }
    None
}

fn unauthorized() -> Response {
    StatusCode::UNAUTHORIZED.into_response()
}

async fn upgrade(
    State(state): State<RelayState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return crate::rest::errors::express_not_found("GET", PATH);
    };
    let params = match RelayParams::parse(&query) {
        Ok(p) => p,
        Err(why) => {
            tracing::info!(why, "relay refused: bad parameters");
            return unauthorized();
        }
    };
    let guid = params.host.clone();
    // Never logged: the token is a credential.
    let Some(token) = token_for(&state.mps, &headers, &guid) else {
        tracing::info!(guid, "relay refused: missing or invalid redirection token");
        return unauthorized();
    };
    let Some(conn) = state.mps.connections().get(&guid) else {
        tracing::info!(guid, "relay refused: device not connected to this instance");
        return unauthorized();
    };
    let Some(guard) = ModeGuard::claim(conn.clone(), params.mode) else {
        tracing::info!(guid, mode = ?params.mode, "relay refused: a session of this mode is already open");
        return unauthorized();
    };
    tracing::info!(guid, port = params.port, mode = ?params.mode, "relay session starting");
    let mps = state.mps.clone();
    let reference = state.reference.clone();
    ws.protocols([token])
        .max_message_size(MAX_MESSAGE)
        .on_failed_upgrade(|error| tracing::info!(%error, "relay WebSocket upgrade failed"))
        .on_upgrade(move |socket| session::run(socket, mps, conn, params, guard, reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_session_per_mode_and_none_without_a_mode_while_kvm_runs() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let conn = Arc::new(DeviceConnection::new(
            "4c4c4544-004b-4210-8033-b6c04f504633".into(),
            String::new(),
            1,
            tx,
            tokio_util::sync::CancellationToken::new(),
            None,
            3,
        ));
        let sol = ModeGuard::claim(conn.clone(), Some(Mode::Sol)).expect("SOL is free");
        assert!(ModeGuard::claim(conn.clone(), Some(Mode::Sol)).is_none());
        assert_eq!(conn.redirection.snapshot(), (false, true, false));
        let ider = ModeGuard::claim(conn.clone(), Some(Mode::Ider)).expect("IDER is free");
        assert!(
            ModeGuard::claim(conn.clone(), None).is_some(),
            "no mode, no KVM: allowed"
        );
        let kvm = ModeGuard::claim(conn.clone(), Some(Mode::Kvm)).expect("KVM is free");
        assert!(
            ModeGuard::claim(conn.clone(), None).is_none(),
            "no mode while KVM runs"
        );
        assert_eq!(conn.redirection.snapshot(), (true, true, true));
        drop((kvm, ider, sol));
        assert_eq!(conn.redirection.snapshot(), (false, false, false));
        assert_eq!(
            Mode::parse("SOL"),
            None,
            "modes are lower-case, as the clients send them"
        );
    }

    fn q(s: &str) -> Vec<(String, String)> {
        s.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn relay_parameters_as_the_reference_reads_them() {
        let g = "4C4C4544-004B-4210-8033-B6C04F504633";
        let p = RelayParams::parse(&q(&format!(
            "tls=0&host={g}&port=16994&p=2&tls1only=0&mode=sol"
        )))
        .unwrap();
        assert_eq!(
            p,
            RelayParams {
                host: g.to_ascii_lowercase(),
                port: 16994,
                p: 2,
                mode: Some(Mode::Sol)
            }
        );
        // Older clients send no mode and no tls.
        let p = RelayParams::parse(&q(&format!("host={g}&port=16994&p=2"))).unwrap();
        assert_eq!(p.mode, None);
        for bad in [
            format!("host={g}&port=16994&tls=1"),
            format!("host={g}&port=0"),
            format!("host={g}&port=70000"),
            format!("host={g}&port=x"),
            format!("host={g}"),
            "port=16994".to_string(),
            format!("host={g}&port=16994&p=-1"),
        ] {
            assert!(RelayParams::parse(&q(&bad)).is_err(), "{bad}");
        }
    }
}

//! The device's WS-Man endpoint (AMT ports 16992/16993): an HTTP/1.1 server over any byte stream —
//! an APF channel opened by an MPS, or the in-memory pipe of the activation agent — with digest
//! authentication and SOAP answers shaped like real AMT ones.
//!
//! Behaviour per request: no or wrong credentials → `401` with
//! `WWW-Authenticate: Digest realm="Digest:<32 hex>", nonce="…", stale="false", qop="auth"` and an HTML
//! page ending in `</html>`; malformed HTTP or XML → `400`; a WS-Man fault → `400`/`500` with the SOAP
//! fault; otherwise `200` with a chunked SOAP body, written in one burst. `Connection: close` is honoured.

mod auth;
mod classes;
mod dispatch;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsman::http::{Limits, RequestReader, encode_chunked_response, encode_response};

use crate::device::Device;

pub use dispatch::{Answer, handle_soap};

/// Names of every WS-Man class the simulated device serves.
pub fn supported_classes() -> Vec<&'static str> {
    classes::class_names()
}

/// Serves WS-Man requests on `stream` until the peer closes it or asks for `Connection: close`.
pub async fn serve<S>(device: Device, mut stream: S) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut reader = RequestReader::new(Limits::default());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            if let Err(error) = reader.finish() {
                tracing::debug!(guid = %device.guid(), %error, "WS-Man peer closed in the middle of a request");
            }
            return Ok(());
        }
        reader.push(&buf[..n]);
        loop {
            let request = match reader.next_request() {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(guid = %device.guid(), %error, "malformed HTTP request");
                    let response =
                        encode_response(400, "Bad Request", &[("Connection", "close")], b"");
                    stream.write_all(&response).await?;
                    stream.flush().await?;
                    let _ = stream.shutdown().await;
                    return Ok(());
                }
            };
            let close = request.wants_close();
            let response = respond(&device, &request).await;
            stream.write_all(&response).await?;
            stream.flush().await?;
            if close {
                let _ = stream.shutdown().await;
                return Ok(());
            }
        }
    }
}

/// The `Server` header AMT sends.
fn server_header(device: &Device) -> String {
    let id = device.identity();
    format!(
        "Intel(R) Active Management Technology {}.{}",
        id.firmware_version, id.firmware_build
    )
}

/// One complete HTTP response for one request.
async fn respond(device: &Device, request: &wsman::http::Request) -> Vec<u8> {
    let server = server_header(device);
    let user = match auth::authenticate(device, request) {
        Ok(user) => user,
        Err(challenge) => {
            let page = auth::UNAUTHORIZED_PAGE.as_bytes();
            return encode_response(
                401,
                "Unauthorized",
                &[
                    ("WWW-Authenticate", &challenge),
                    ("Content-Type", "text/html"),
                    ("Server", &server),
                ],
                page,
            );
        }
    };
    if request.method != "POST" || request.path != "/wsman" {
        return encode_response(404, "Not Found", &[("Server", &server)], b"");
    }
    let Ok(xml) = std::str::from_utf8(&request.body) else {
        return encode_response(400, "Bad Request", &[("Server", &server)], b"");
    };
    match dispatch::handle_soap(device, &user, xml).await {
        Answer::Soap { status, body } => {
            let reason = match status {
                200 => "OK",
                400 => "Bad Request",
                _ => "Internal Server Error",
            };
            encode_chunked_response(
                status,
                reason,
                &[
                    ("Server", &server),
                    ("X-Frame-Options", "DENY"),
                    ("Content-Type", "application/soap+xml; charset=UTF-8"),
                ],
                body.as_bytes(),
            )
        }
        Answer::BadRequest => encode_response(400, "Bad Request", &[("Server", &server)], b""),
    }
}

//! `openamt health <url>`: one GET against a service's health route, for compose's health checks (the
//! reference ran `node …/Healthcheck.js` or `/app --health` inside each image).

use std::time::Duration;

use http_body_util::Empty;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0:?} is not an http://host:port/path URL")]
    BadUrl(String),
    #[error("{url}: {reason}")]
    Failed { url: String, reason: String },
    #[error("{url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
}

/// The status code `GET url` answers with (plain HTTP: health checks run next to the service).
pub async fn status(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    tokio::time::timeout(timeout, get(url))
        .await
        .map_err(|_| ProbeError::Timeout {
            url: url.to_owned(),
            timeout,
        })?
}

async fn get(url: &str) -> Result<u16, ProbeError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| ProbeError::BadUrl(url.to_owned()))?;
    let (Some("http"), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(ProbeError::BadUrl(url.to_owned()));
    };
    let port = uri.port_u16().unwrap_or(80);
    let failed = |reason: String| ProbeError::Failed {
        url: url.to_owned(),
        reason,
    };
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| failed(e.to_string()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(e.to_string()))?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let request = Request::get(path)
        .header(header::HOST, format!("{host}:{port}"))
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| failed(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_the_status_of_a_real_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let handler = |request: Request<hyper::body::Incoming>, _| async move {
            let status = if request.uri().path() == "/healthz" {
                200
            } else {
                503
            };
            hyper::Response::builder()
                .status(status)
                .body(crate::http::empty())
                .unwrap()
        };
        tokio::spawn(crate::listener::serve(
            listener,
            None,
            handler,
            stop.clone(),
        ));
        let second = Duration::from_secs(1);
        assert_eq!(
            status(&format!("http://{address}/healthz"), second)
                .await
                .unwrap(),
            200
        );
        assert_eq!(
            status(&format!("http://{address}/other"), second)
                .await
                .unwrap(),
            503
        );
        assert!(matches!(
            status("https://x/", second).await,
            Err(ProbeError::BadUrl(_))
        ));
        stop.cancel();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(status(&format!("http://{closed}/"), second).await.is_err());
    }
}

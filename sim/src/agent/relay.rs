//! Carries one WS-Man exchange from RPS to the device, as rpc-go does through LMS: a fresh connection
//! per message, the request bytes written verbatim, the raw response bytes read back.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsman::http::{Limits, ResponseReader};

use crate::device::Device;

/// rpc-go gives up on LMS after 4 s.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(4);

/// Errors of one exchange.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("device connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the device did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the device answered nothing")]
    NoAnswer,
}

/// Sends `request` (a complete HTTP request) to the device's WS-Man port; returns the raw answer.
/// Reading stops when the device closes the connection (RPS asks for `Connection: close`) or once a
/// complete HTTP response is in.
pub async fn exchange(device: &Device, request: &[u8]) -> Result<Vec<u8>, RelayError> {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let service = tokio::spawn(crate::wsman_server::serve(device.clone(), server));
    let result = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        client.write_all(request).await?;
        let mut raw = Vec::new();
        let mut reader = ResponseReader::new(Limits::default());
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = client.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            reader.push(&buf[..n]);
            // A malformed answer is still relayed as is: RPS decides what it means.
            if matches!(reader.next_response(), Ok(Some(_)) | Err(_)) {
                break;
            }
        }
        Ok::<_, std::io::Error>(raw)
    })
    .await;
    drop(client);
    // The service ends on its own once the pipe is closed.
    let _ = service.await;
    match result {
        Err(_) => Err(RelayError::Timeout(EXCHANGE_TIMEOUT)),
        Ok(Err(error)) => Err(RelayError::Io(error)),
        Ok(Ok(raw)) if raw.is_empty() => Err(RelayError::NoAnswer),
        Ok(Ok(raw)) => Ok(raw),
    }
}

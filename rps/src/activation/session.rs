//! One WebSocket of a device agent (rps.md §3.1): its first message starts one job; later `response` messages
//! feed the job's WS-Man calls. A binary frame or a text frame over 100 KiB closes the socket, as the
//! reference does; malformed JSON gets an `error` and the socket stays open.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use schemas::proto::ActivationPhase;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::envelope::{self, ClientMessage, MAX_MESSAGE_BYTES};
use super::events::ActivationFacts;
use super::job::{Context, Job};
use super::relay::{AgentLink, Relay};
use super::request::{Command, Request, parse_request};
use super::status::StatusReport;
use super::{activate, deactivate, maintenance, validate};

/// Serves one agent connection until it closes.
pub async fn handle(socket: WebSocket, ctx: Arc<Context>) {
    let client_id = uuid::Uuid::new_v4().to_string();
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<String>(16);
    let writer = tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });

    let mut answers: Option<mpsc::Sender<Vec<u8>>> = None;
    let mut job: Option<JoinHandle<()>> = None;
    let mut done = false;
    loop {
        let wait = if job.is_none() {
            ctx.timings.first_message_timeout
        } else if done {
            ctx.timings.linger_after_done
        } else {
            // A running job has its own timeouts on every call.
            Duration::from_secs(24 * 3600)
        };
        let frame = tokio::select! {
            frame = stream.next() => frame,
            finished = async {
                match job.as_mut() {
                    Some(handle) => handle.await,
                    None => std::future::pending().await,
                }
            }, if job.is_some() && !done => {
                if let Err(error) = finished {
                    tracing::error!(%error, client = %client_id, "job task ended abnormally");
                }
                done = true;
                continue;
            }
            _ = tokio::time::sleep(wait) => {
                tracing::debug!(client = %client_id, "agent connection idle; closing");
                break;
            }
        };
        let text = match frame {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                tracing::warn!(client = %client_id, "binary frame from the agent; closing");
                break;
            }
            Some(Ok(Message::Text(text))) => text,
        };
        if text.len() > MAX_MESSAGE_BYTES {
            tracing::warn!(client = %client_id, bytes = text.len(), "message over the size limit; closing");
            break;
        }
        let message = match ClientMessage::parse(text.as_str()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(client = %client_id, error = %e, "malformed message from the agent");
                let _ = out_tx.send(envelope::error(&e)).await;
                continue;
            }
        };
        if let Some(version) = message
            .protocol_version
            .as_deref()
            .filter(|v| !v.is_empty())
            && let Err(e) = envelope::check_protocol_version(version)
        {
            let _ = out_tx.send(envelope::error(&e)).await;
            continue;
        }
        match message.method.as_str() {
            "response" => {
                // An undecodable payload becomes an empty answer: the call reports a parse failure. Answers
                // nobody asked for beyond a few are dropped rather than stalling this loop.
                if let Some(tx) = &answers
                    && tx
                        .try_send(message.payload_bytes().unwrap_or_default())
                        .is_err()
                {
                    tracing::debug!(client = %client_id, "unrequested WS-Man answer dropped");
                }
            }
            // rpc-go echoes heartbeat requests; nothing to do.
            "heartbeat_response" => {}
            _ if job.is_none() => match parse_request(&message, &client_id) {
                Ok(request) => {
                    let (tx, rx) = mpsc::channel(4);
                    answers = Some(tx);
                    let link = AgentLink {
                        out: out_tx.clone(),
                        answers: rx,
                    };
                    job = Some(tokio::spawn(run_job(
                        Arc::clone(&ctx),
                        request,
                        client_id.clone(),
                        link,
                    )));
                }
                Err(rejected) => {
                    tracing::info!(client = %client_id, reason = %rejected.message, "first message refused");
                    let _ = out_tx.send(envelope::error(&rejected.message)).await;
                }
            },
            other => {
                // Only the command word: the rest of a command line may hold a password.
                let command = other.split_whitespace().next().unwrap_or_default();
                tracing::debug!(client = %client_id, command, "message ignored while a job runs")
            }
        }
    }
    // The agent is gone: a job still running sees its calls fail and ends with a failed event.
    drop(answers);
    if let Some(job) = job.filter(|_| !done) {
        let _ = job.await;
    }
    drop(out_tx);
    let _ = writer.await;
}

/// Validates and runs the job of one request.
async fn run_job(ctx: Arc<Context>, request: Request, client_id: String, link: AgentLink) {
    let Ok(guid) = request.payload.uuid.parse() else {
        return;
    };
    let (username, password) = match (&request.command, request.payload.current_mode) {
        (Command::Activate, Some(0)) => (
            request.payload.username.clone(),
            request.payload.password.clone(),
        ),
        _ => ("admin".to_owned(), request.payload.password.clone()),
    };
    let relay = Relay::new(
        link,
        &request.payload.uuid,
        &username,
        &password,
        ctx.timings.clone(),
    );
    let mut job = Job {
        ctx,
        relay,
        request,
        guid,
        client_id,
        status: StatusReport::default(),
    };
    tracing::info!(guid = %job.guid, command = validate::command_name(&job.request.command), tenant = %job.request.tenant_id, "job started");
    match job.request.command {
        Command::Activate => match validate::activation(&job.ctx, &job.request).await {
            Ok(plan) => {
                activate::run(&mut job, plan).await;
            }
            Err(refusal) => {
                tracing::info!(guid = %job.guid, reason = %refusal.0, "activation refused");
                job.send_plain_error(&refusal.0).await;
                let facts = ActivationFacts {
                    guid: Some(job.guid),
                    profile: job.request.profile.clone().unwrap_or_default(),
                    tenant_id: job.request.tenant_id.clone(),
                    hostname: job.request.payload.hostname.clone(),
                    dns_suffix: job.request.payload.fqdn.clone(),
                    ..Default::default()
                };
                job.ctx
                    .events
                    .activation(ActivationPhase::Failed, &facts, &refusal.0)
                    .await;
            }
        },
        Command::Deactivate => match validate::deactivation(&job.ctx, &job.request).await {
            Ok(()) => {
                deactivate::run(&mut job).await;
            }
            Err(refusal) => job.send_plain_error(&refusal.0).await,
        },
        Command::Maintenance => {
            match validate::maintenance(&job.ctx, &job.request, &job.client_id.clone()).await {
                Ok(task) => {
                    maintenance::run(&mut job, task).await;
                }
                Err(refusal) => job.send_plain_error(&refusal.0).await,
            }
        }
    }
}

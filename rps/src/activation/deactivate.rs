//! Deactivation (rps.md §3.9): Unprovision with the admin credentials, remove `devices/<guid>`, and tell MPS
//! through `DeviceDeactivated` (this replaces the reference's `DELETE /api/v1/devices/<guid>`).

use wsman::messages::amt;

use super::job::Job;

/// Runs a deactivation job to its terminal message. Returns whether it succeeded.
pub async fn run(job: &mut Job) -> bool {
    let password = job.request.payload.password.clone();
    job.relay.set_credentials("admin", &password);
    let result = job.relay.call(&amt::unprovision(1)).await;
    if let Err(error) = result {
        let reason = error.reference_text();
        tracing::warn!(guid = %job.guid, %error, "deactivation failed");
        send(job, false, &reason).await;
        return false;
    }
    if let Err(error) = job.ctx.store.delete_device_secrets(&job.uuid()).await {
        tracing::error!(guid = %job.guid, %error, "removing the device secret failed");
        send(job, false, "Failed to remove device from secret provider").await;
        return false;
    }
    job.ctx
        .events
        .deactivated(job.guid, &job.request.tenant_id)
        .await;
    send(job, true, "Deactivated").await;
    tracing::info!(guid = %job.guid, "device deactivated");
    true
}

/// The reference's deactivation status is `{"Status": …}` alone.
async fn send(job: &mut Job, success: bool, status: &str) {
    job.status.status = Some(status.to_owned());
    let text = job.status.to_json().to_string();
    let message = if success {
        super::envelope::success(&text)
    } else {
        super::envelope::error(&text)
    };
    if job.relay.send_text(message).await.is_err() {
        tracing::warn!(guid = %job.guid, "the agent left before the terminal message");
    }
}

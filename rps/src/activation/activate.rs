//! The activation state machine (rps.md §3.7): CCM (host-based Setup), ACM (AdminSetup with the provisioning
//! certificate), CCM → ACM upgrade, and the re-run on an activated device; then profile configuration.
//!
//! Each state is one step; [`Activation::step`] runs it and names the next. Failures before the device reached
//! a control mode end the job; failures of configuration phases are recorded and the job goes on, as in the
//! reference.

use schemas::proto::{self, ActivationPhase, ControlMode};
use secrets::DeviceSecrets;
use serde_json::Value;
use time::OffsetDateTime;
use wsman::Call;
use wsman::messages::{amt, ips};

use super::configure;
use super::events::ActivationFacts;
use super::job::Job;
use super::passwords;
use super::provisioning_cert::{ProvisioningCert, mc_nonce};
use super::relay::{self, CallOptions, WsmanError};
use super::status::{Component, Outcome, mode_of_status};
use super::validate::ActivationPlan;

const ANOTHER_TENANT: &str =
    "Device belongs to another tenant. Please unprovision and re-activate device.";

/// The one-shot calls whose answer may be lost when AMT drops the session: after a timeout, the control mode
/// AMT reports decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OneShot {
    Setup,
    AdminSetup,
    Upgrade,
}

#[derive(Debug)]
enum State {
    CheckTenant,
    ProvisioningCert,
    GeneralSettings,
    ProbeTls,
    HostBasedSetup,
    AddNextCert(usize),
    AdminSetup,
    UpgradeToAdmin,
    Setup,
    CheckActivationOnAmt(OneShot),
    ChangePassword,
    DelayedTransition,
    UpdateCredentials,
    SetMebxPassword,
    SaveSecrets,
    Configure,
    Provisioned,
    Failed(Failure),
}

impl State {
    /// The step, for failure reasons.
    fn label(&self) -> &'static str {
        match self {
            State::CheckTenant => "tenant check",
            State::ProvisioningCert => "provisioning certificate",
            State::GeneralSettings => "AMT_GeneralSettings Get",
            State::ProbeTls => "AMT_TLSSettingData probe",
            State::HostBasedSetup => "IPS_HostBasedSetupService Get",
            State::AddNextCert(_) => "AddNextCertInChain",
            State::AdminSetup => "AdminSetup",
            State::UpgradeToAdmin => "UpgradeClientToAdmin",
            State::Setup => "Setup",
            State::CheckActivationOnAmt(_) => "IPS_HostBasedSetupService Get after a lost answer",
            State::ChangePassword => "SetAdminAclEntryEx",
            State::DelayedTransition | State::UpdateCredentials => "credentials update",
            State::SetMebxPassword => "SetMEBxPassword",
            State::SaveSecrets => "secret store write",
            State::Configure => "configuration",
            State::Provisioned | State::Failed(_) => "end",
        }
    }
}

/// A failure: the reference's text for the agent, and what happened, for the event and the logs.
#[derive(Debug)]
struct Failure {
    message: String,
    detail: Option<String>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            detail: None,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        message.to_owned().into()
    }
}

/// What the machine learns on its way.
struct Activation {
    plan: ActivationPlan,
    amt_password: Option<String>,
    mebx_password: Option<String>,
    realm: String,
    general_settings: Value,
    fw_nonce: Vec<u8>,
    cert: Option<ProvisioningCert>,
    /// The device is in a control mode (it was, or this job put it there).
    activated: bool,
    control_mode: ControlMode,
    activated_at: Option<OffsetDateTime>,
    mps_username: String,
}

/// Runs an activation job to its terminal message. Returns whether it succeeded.
pub async fn run(job: &mut Job, plan: ActivationPlan) -> bool {
    let control_mode = match job.request.payload.current_mode {
        Some(1) => ControlMode::Ccm,
        Some(2) => ControlMode::Acm,
        _ => ControlMode::None,
    };
    job.status.status = plan.initial_status.clone();
    let mut machine = Activation {
        activated: plan.activated,
        control_mode,
        plan,
        amt_password: None,
        mebx_password: None,
        realm: String::new(),
        general_settings: Value::Null,
        fw_nonce: Vec::new(),
        cert: None,
        activated_at: None,
        mps_username: String::new(),
    };
    let facts = machine.facts(job);
    job.ctx
        .events
        .activation(ActivationPhase::Started, &facts, "")
        .await;

    let mut state = if machine.plan.activated {
        State::CheckTenant
    } else if machine.plan.acm {
        State::ProvisioningCert
    } else {
        State::GeneralSettings
    };
    loop {
        tracing::debug!(guid = %job.guid, ?state, "activation step");
        state = match state {
            State::Provisioned => {
                job.status.finalize(true, job.request.payload.current_mode);
                job.send_success().await;
                let facts = machine.facts(job);
                job.ctx
                    .events
                    .activation(ActivationPhase::Succeeded, &facts, "")
                    .await;
                tracing::info!(guid = %job.guid, exchanges = job.relay.exchanges(), "device provisioned");
                return true;
            }
            State::Failed(failure) => {
                // The agent gets the reference's text; the event says what happened where.
                let reason = match &failure.detail {
                    Some(detail) => format!("{} ({detail})", failure.message),
                    None => failure.message.clone(),
                };
                tracing::warn!(guid = %job.guid, %reason, "activation failed");
                job.send_failure(
                    &failure.message,
                    machine.activated,
                    job.request.payload.current_mode,
                )
                .await;
                job.ctx
                    .events
                    .reference("fail", &["Activator"], &failure.message, Some(&job.guid))
                    .await;
                let facts = machine.facts(job);
                job.ctx
                    .events
                    .activation(ActivationPhase::Failed, &facts, &reason)
                    .await;
                return false;
            }
            other => {
                let step = other.label();
                match machine.step(job, other).await {
                    State::Failed(Failure {
                        message,
                        detail: Some(detail),
                    }) => State::Failed(Failure {
                        message,
                        detail: Some(format!("{step}: {detail}")),
                    }),
                    next => next,
                }
            }
        };
    }
}

fn failed(error: &WsmanError) -> State {
    let message = error.reference_text();
    let detail = error.to_string();
    State::Failed(Failure {
        detail: (detail != message).then_some(detail),
        message,
    })
}

impl Activation {
    async fn step(&mut self, job: &mut Job, state: State) -> State {
        match state {
            State::CheckTenant => self.check_tenant(job),
            State::ProvisioningCert => self.provisioning_cert(job).await,
            State::GeneralSettings => self.general_settings(job).await,
            State::ProbeTls => self.check_tls_state(job).await,
            State::HostBasedSetup => self.host_based_setup(job).await,
            State::AddNextCert(index) => self.add_next_cert(job, index).await,
            State::AdminSetup => self.admin_setup(job).await,
            State::UpgradeToAdmin => self.upgrade(job).await,
            State::Setup => self.setup(job).await,
            State::CheckActivationOnAmt(call) => self.check_activation_on_amt(job, call).await,
            State::ChangePassword => self.change_password(job).await,
            State::DelayedTransition => {
                let wait = job.relay.timings().activation_sync;
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                State::UpdateCredentials
            }
            State::UpdateCredentials => {
                if let Some(password) = &self.amt_password {
                    job.relay.set_credentials("admin", password);
                }
                if self.plan.acm {
                    State::SetMebxPassword
                } else {
                    State::SaveSecrets
                }
            }
            State::SetMebxPassword => self.set_mebx_password(job).await,
            State::SaveSecrets => self.save_secrets(job).await,
            State::Configure => {
                let outcome = configure::run(job, &self.plan.profile, &self.general_settings).await;
                self.mps_username = outcome.mps_username;
                State::Provisioned
            }
            terminal @ (State::Provisioned | State::Failed(_)) => terminal,
        }
    }

    /// An activated device must belong to this tenant, as far as MPS's presence tells.
    fn check_tenant(&self, job: &Job) -> State {
        if let Some(known) = job.ctx.events.known_device(&job.guid)
            && known.tenant_id != job.request.tenant_id
        {
            return State::Failed(ANOTHER_TENANT.into());
        }
        if self.plan.upgrade {
            State::ProvisioningCert
        } else {
            State::GeneralSettings
        }
    }

    async fn provisioning_cert(&mut self, job: &Job) -> State {
        let payload = &job.request.payload;
        let store = &job.ctx.store;
        let not_found = || {
            State::Failed(format!(
                "Device {} activation failed. Specified AMT domain suffix: {} does not match list of available AMT domain suffixes",
                payload.uuid, payload.fqdn
            )
            .into())
        };
        let domain = match store
            .domain_for(&payload.fqdn, &job.request.tenant_id)
            .await
        {
            Ok(Some(d)) => d,
            Ok(None) => return not_found(),
            Err(error) => {
                tracing::error!(%error, "reading the domain failed");
                return State::Failed("Failed to get amt domain certificate from database".into());
            }
        };
        let pfx = match store.provisioning_certificate(&domain).await {
            Ok(Some(pfx)) => pfx,
            Ok(None) => return State::Failed("Failed to extract domain certificate".into()),
            Err(error) => {
                tracing::error!(%error, "reading the provisioning certificate failed");
                return State::Failed("Failed to get amt domain certificate from database".into());
            }
        };
        let cert = match ProvisioningCert::open(&pfx.pfx, &pfx.pfx_password) {
            Ok(cert) => cert,
            Err(error) => {
                tracing::warn!(guid = %job.guid, domain = %domain.name, %error, "provisioning certificate unusable");
                return State::Failed("Failed to extract domain certificate".into());
            }
        };
        if !cert.trusted_by(&payload.cert_hashes) {
            return State::Failed(
                "Invalid domain certificate, hash does not exists in list of trusted root certificates on AMT"
                    .into(),
            );
        }
        self.cert = Some(cert);
        State::GeneralSettings
    }

    async fn general_settings(&mut self, job: &mut Job) -> State {
        let answer = match job.relay.call(&Call::get("AMT_GeneralSettings")).await {
            Ok(a) => a,
            Err(e) => return failed(&e),
        };
        self.general_settings = answer.body()["AMT_GeneralSettings"].clone();
        self.realm = relay::text(&self.general_settings["DigestRealm"]).unwrap_or_default();
        if !valid_digest_realm(&self.realm) {
            return State::Failed("Not a valid digest realm.".into());
        }
        if self.plan.activated {
            State::ProbeTls
        } else if self.plan.acm {
            State::HostBasedSetup
        } else {
            State::Setup
        }
    }

    /// The TLS probe of an activated device (AMT_TLSSettingData): this RPS keeps the non-TLS path either way.
    async fn check_tls_state(&mut self, job: &mut Job) -> State {
        if let Ok(e) = job.relay.call(&Call::enumerate("AMT_TLSSettingData")).await
            && let Some(context) = relay::text(&e.body()["EnumerateResponse"]["EnumerationContext"])
            && let Ok(pull) = job
                .relay
                .call(&Call::pull("AMT_TLSSettingData", &context))
                .await
        {
            let enabled = relay::items(&pull.body()["PullResponse"]["Items"]["AMT_TLSSettingData"])
                .iter()
                .any(|s| s["Enabled"] == Value::Bool(true));
            tracing::debug!(guid = %job.guid, tls_enabled = enabled, "TLS state of the activated device");
        }
        if self.plan.upgrade {
            State::HostBasedSetup
        } else {
            State::ChangePassword
        }
    }

    async fn host_based_setup(&mut self, job: &mut Job) -> State {
        let answer = match job
            .relay
            .call(&Call::get("IPS_HostBasedSetupService"))
            .await
        {
            Ok(a) => a,
            Err(e) => return failed(&e),
        };
        let service = &answer.body()["IPS_HostBasedSetupService"];
        if relay::number(&service["CurrentControlMode"]) == Some(2) {
            // Already in ACM (a retry after AdminSetup worked): only the password is left.
            self.activated = true;
            self.control_mode = ControlMode::Acm;
            return State::ChangePassword;
        }
        let nonce = relay::text(&service["ConfigurationNonce"]).unwrap_or_default();
        use base64::Engine as _;
        self.fw_nonce = base64::engine::general_purpose::STANDARD
            .decode(nonce.trim())
            .unwrap_or_default();
        State::AddNextCert(0)
    }

    async fn add_next_cert(&mut self, job: &mut Job, index: usize) -> State {
        let Some(cert) = &self.cert else {
            return State::Failed("Failed to extract domain certificate".into());
        };
        let count = cert.chain.len();
        let Some(next) = cert.chain.get(index) else {
            return State::Failed("Failed to extract domain certificate".into());
        };
        let is_leaf = index == 0;
        let is_root = !is_leaf && index + 1 == count;
        let answer = match job
            .relay
            .call(&ips::add_next_cert_in_chain(next, is_leaf, is_root))
            .await
        {
            Ok(a) => a,
            Err(e) => return failed(&e),
        };
        if answer.return_value("AddNextCertInChain_OUTPUT") != Some(0) {
            return State::Failed(
                format!(
                    "Device {} activation failed. Error while adding the certificates to AMT.",
                    job.uuid()
                )
                .into(),
            );
        }
        if index + 1 < count {
            State::AddNextCert(index + 1)
        } else if self.plan.upgrade {
            State::UpgradeToAdmin
        } else {
            State::AdminSetup
        }
    }

    /// The profile's passwords for this device (random ones are drawn here, once).
    async fn passwords(&mut self, job: &Job) -> Result<(), State> {
        let store = &job.ctx.store;
        let profile = &self.plan.profile;
        if self.amt_password.is_none() {
            self.amt_password = Some(store.amt_password(profile).await.map_err(|error| {
                tracing::error!(%error, "reading the profile's AMT password failed");
                State::Failed("Failed to get amt profile from database".into())
            })?);
        }
        if self.mebx_password.is_none() {
            self.mebx_password = store.mebx_password(profile).await.map_err(|error| {
                tracing::error!(%error, "reading the profile's MEBx password failed");
                State::Failed("Failed to get amt profile from database".into())
            })?;
        }
        Ok(())
    }

    fn network_admin_password(&self) -> String {
        passwords::network_admin_password(
            &self.realm,
            self.amt_password.as_deref().unwrap_or_default(),
        )
    }

    async fn setup(&mut self, job: &mut Job) -> State {
        if let Err(state) = self.passwords(job).await {
            return state;
        }
        let call = ips::setup(2, &self.network_admin_password());
        match job.relay.call_with(&call, CallOptions::ONE_SHOT).await {
            Ok(answer) if answer.return_value("Setup_OUTPUT") == Some(0) => {
                self.activated_now(job, ControlMode::Ccm, "Client control mode.")
                    .await;
                State::DelayedTransition
            }
            Ok(_) => State::Failed("Failed to activate in client control mode.".into()),
            Err(WsmanError::Timeout(_)) => State::CheckActivationOnAmt(OneShot::Setup),
            Err(e) => failed(&e),
        }
    }

    async fn admin_setup(&mut self, job: &mut Job) -> State {
        if let Err(state) = self.passwords(job).await {
            return state;
        }
        let Some(cert) = &self.cert else {
            return State::Failed("Failed to extract domain certificate".into());
        };
        let nonce = mc_nonce();
        let signature = cert.sign_nonces(&self.fw_nonce, &nonce);
        use base64::Engine as _;
        let call = ips::admin_setup(
            2,
            &self.network_admin_password(),
            &base64::engine::general_purpose::STANDARD.encode(nonce),
            2,
            &signature,
        );
        match job.relay.call_with(&call, CallOptions::ONE_SHOT).await {
            Ok(answer) if answer.return_value("AdminSetup_OUTPUT") == Some(0) => {
                self.activated_now(job, ControlMode::Acm, "Activated to admin control mode.")
                    .await;
                State::DelayedTransition
            }
            Ok(_) => State::Failed("Failed to activate in admin control mode.".into()),
            Err(WsmanError::Timeout(_)) => State::CheckActivationOnAmt(OneShot::AdminSetup),
            Err(e) => failed(&e),
        }
    }

    async fn upgrade(&mut self, job: &mut Job) -> State {
        let Some(cert) = &self.cert else {
            return State::Failed("Failed to extract domain certificate".into());
        };
        let nonce = mc_nonce();
        let signature = cert.sign_nonces(&self.fw_nonce, &nonce);
        use base64::Engine as _;
        let call = ips::upgrade_client_to_admin(
            &base64::engine::general_purpose::STANDARD.encode(nonce),
            2,
            &signature,
        );
        match job.relay.call_with(&call, CallOptions::ONE_SHOT).await {
            Ok(answer) if answer.return_value("UpgradeClientToAdmin_OUTPUT") == Some(0) => {
                self.activated_now(job, ControlMode::Acm, "Upgraded to admin control mode.")
                    .await;
                State::ChangePassword
            }
            Ok(_) => State::Failed("Failed to upgrade to admin control mode.".into()),
            Err(WsmanError::Timeout(_)) => State::CheckActivationOnAmt(OneShot::Upgrade),
            Err(e) => failed(&e),
        }
    }

    async fn check_activation_on_amt(&mut self, job: &mut Job, call: OneShot) -> State {
        let answer = match job
            .relay
            .call(&Call::get("IPS_HostBasedSetupService"))
            .await
        {
            Ok(a) => a,
            Err(e) => return failed(&e),
        };
        let mode = relay::number(&answer.body()["IPS_HostBasedSetupService"]["CurrentControlMode"]);
        match (call, mode) {
            (OneShot::Setup, Some(1)) => {
                self.activated_now(job, ControlMode::Ccm, "Client control mode.")
                    .await;
                State::DelayedTransition
            }
            (OneShot::AdminSetup, Some(2)) => {
                self.activated_now(job, ControlMode::Acm, "Activated to admin control mode.")
                    .await;
                State::DelayedTransition
            }
            (OneShot::Upgrade, Some(2)) => {
                self.activated_now(job, ControlMode::Acm, "Upgraded to admin control mode.")
                    .await;
                State::ChangePassword
            }
            (OneShot::Setup, _) => {
                State::Failed("Failed to activate in client control mode.".into())
            }
            (OneShot::AdminSetup, _) => {
                State::Failed("Failed to activate in admin control mode.".into())
            }
            (OneShot::Upgrade, _) => {
                State::Failed("Failed to upgrade to admin control mode.".into())
            }
        }
    }

    /// SetAdminAclEntryEx with the profile's password: a re-run rotates a random password.
    async fn change_password(&mut self, job: &mut Job) -> State {
        if let Err(state) = self.passwords(job).await {
            return state;
        }
        let digest = passwords::digest_password(
            &self.realm,
            self.amt_password.as_deref().unwrap_or_default(),
        );
        match job
            .relay
            .call(&amt::set_admin_acl_entry_ex("admin", &digest))
            .await
        {
            Ok(answer)
                if answer
                    .return_value("SetAdminAclEntryEx_OUTPUT")
                    .unwrap_or(0)
                    == 0 =>
            {
                State::UpdateCredentials
            }
            Ok(answer) => {
                tracing::warn!(guid = %job.guid, value = ?answer.return_value("SetAdminAclEntryEx_OUTPUT"), "SetAdminAclEntryEx refused");
                State::Failed("Failed to change the AMT password.".into())
            }
            Err(e) => failed(&e),
        }
    }

    async fn set_mebx_password(&mut self, job: &mut Job) -> State {
        if let Err(state) = self.passwords(job).await {
            return state;
        }
        if let Some(mebx) = self.mebx_password.clone() {
            match job.relay.call(&amt::set_mebx_password(&mebx)).await {
                Ok(answer) => {
                    if answer.return_value("SetMEBxPassword_OUTPUT") != Some(0) {
                        tracing::warn!(guid = %job.guid, value = ?answer.return_value("SetMEBxPassword_OUTPUT"), "AMT refused the MEBx password");
                    }
                }
                Err(e) => return failed(&e),
            }
        }
        State::SaveSecrets
    }

    async fn save_secrets(&mut self, job: &mut Job) -> State {
        let secrets = DeviceSecrets {
            amt_password: self.amt_password.clone(),
            mps_password: None,
            mebx_password: if self.plan.acm {
                self.mebx_password.clone()
            } else {
                None
            },
        };
        if secrets.amt_password.is_none() {
            return State::Failed("Failed to save device information to Secret Provider".into());
        }
        match job
            .ctx
            .store
            .save_device_secrets(&job.uuid(), &secrets)
            .await
        {
            Ok(()) => State::Configure,
            Err(error) => {
                tracing::error!(guid = %job.guid, %error, "saving the device secret failed");
                State::Failed("Failed to save device information to Secret Provider".into())
            }
        }
    }

    /// The device reached a control mode in this job: record it and tell the reference subscribers.
    async fn activated_now(&mut self, job: &mut Job, mode: ControlMode, status: &str) {
        self.activated = true;
        self.control_mode = mode;
        self.activated_at
            .get_or_insert_with(OffsetDateTime::now_utc);
        job.status.status = Some(status.to_owned());
        job.status.record(
            Component::Activation,
            Outcome::Success,
            mode_of_status(status),
            Some(status),
        );
        tracing::info!(guid = %job.guid, status, "device activated");
        job.ctx
            .events
            .reference(
                "success",
                &["Activator", "execute"],
                &format!("Device activated in {status}"),
                Some(&job.guid),
            )
            .await;
    }

    /// What the activation events say about the device.
    fn facts(&self, job: &Job) -> ActivationFacts {
        let payload = &job.request.payload;
        let now = schemas::now();
        let current_mode = match self.control_mode {
            ControlMode::Ccm => "1",
            ControlMode::Acm => "2",
            _ => "0",
        };
        ActivationFacts {
            guid: Some(job.guid),
            profile: self.plan.profile.name.clone(),
            tenant_id: job.request.tenant_id.clone(),
            hostname: payload.hostname.clone(),
            dns_suffix: payload.fqdn.clone(),
            friendly_name: payload.friendly_name.clone().unwrap_or_default(),
            tags: self.plan.profile.tags.clone(),
            control_mode: Some(self.control_mode),
            mps_username: self.mps_username.clone(),
            device_info: Some(proto::DeviceInfo {
                fw_version: payload.ver.clone(),
                fw_build: payload.build.clone(),
                fw_sku: payload.sku.clone(),
                current_mode: current_mode.into(),
                features: payload.features.clone(),
                ip_address: payload
                    .ip_configuration
                    .as_ref()
                    .map(|c| c.ip_address.clone())
                    .unwrap_or_default(),
                status: job.status.applicable().into_iter().collect(),
                activated_at: self.activated_at.map(schemas::timestamp),
                last_provisioned_at: Some(now),
                last_updated: Some(now),
            }),
        }
    }
}

/// `Digest:` followed by 32 hexadecimal digits.
pub fn valid_digest_realm(realm: &str) -> bool {
    realm
        .strip_prefix("Digest:")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_realms() {
        assert!(valid_digest_realm(
            "Digest:A3829B3827DE4D33D4449B366831FD01"
        ));
        assert!(!valid_digest_realm(
            "Digest:A3829B3827DE4D33D4449B366831FD0"
        ));
        assert!(!valid_digest_realm("A3829B3827DE4D33D4449B366831FD01"));
        assert!(!valid_digest_realm(
            "Digest:Z3829B3827DE4D33D4449B366831FD01"
        ));
    }
}

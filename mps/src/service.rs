//! The MPS core every front door shares: REST handlers, the CIRA server and (later) the bus
//! consumers call these plain async functions, so a power action or a registration runs the same
//! code whichever way it arrives.

use std::sync::Arc;

use secrets::SecretStore;
use serde_json::{Map, Value};

use crate::cira::Connections;
use crate::config::MpsConfig;
use crate::registry::lastseen::LastSeen;
use crate::registry::{Device, Registry, RegistryError};
use crate::throttle::Throttle;
use crate::tls::MpsCerts;

/// Shared state of one MPS instance. Cheap to clone.
#[derive(Clone)]
pub struct Mps {
    inner: Arc<Inner>,
}

struct Inner {
    config: MpsConfig,
    instance: String,
    registry: Registry,
    secrets: Arc<dyn SecretStore>,
    connections: Arc<Connections>,
    certs: Option<MpsCerts>,
    last_seen: LastSeen,
    cira_throttle: Throttle,
    login_throttle: Throttle,
}

/// What POST /devices did.
pub enum Registered {
    Created(Device),
    Updated(Device),
}

impl Mps {
    pub(crate) fn new(
        config: MpsConfig,
        registry: Registry,
        secrets: Arc<dyn SecretStore>,
        connections: Arc<Connections>,
        certs: Option<MpsCerts>,
        last_seen: LastSeen,
    ) -> Self {
        let instance = config.effective_instance_name();
        let throttle = config.auth_throttle();
        Self {
            inner: Arc::new(Inner {
                cira_throttle: Throttle::new(throttle),
                login_throttle: Throttle::new(throttle),
                config,
                instance,
                registry,
                secrets,
                connections,
                certs,
                last_seen,
            }),
        }
    }

    pub fn config(&self) -> &MpsConfig {
        &self.inner.config
    }
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }
    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.inner.secrets
    }
    pub fn connections(&self) -> &Arc<Connections> {
        &self.inner.connections
    }
    pub fn certs(&self) -> Option<&MpsCerts> {
        self.inner.certs.as_ref()
    }
    pub(crate) fn last_seen(&self) -> &LastSeen {
        &self.inner.last_seen
    }
    /// Failed CIRA USERAUTH checks per device address.
    pub(crate) fn cira_throttle(&self) -> &Throttle {
        &self.inner.cira_throttle
    }
    /// Failed REST logins per client address.
    pub(crate) fn login_throttle(&self) -> &Throttle {
        &self.inner.login_throttle
    }

    /// Register or update a device (POST /devices, and RPS's "activation succeeded" on the bus).
    /// `body` must already be validated. Upsert like the reference: the row is looked up by guid and,
    /// when the body names a tenant, by that tenant too.
    pub async fn register_device(
        &self,
        body: &Map<String, Value>,
    ) -> Result<Registered, RegistryError> {
        let guid = body
            .get("guid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let tenant = body.get("tenantId").and_then(Value::as_str);
        let existing = self.inner.registry.get(&guid, tenant).await?;
        match existing {
            Some(row) => {
                let merged = row.merged_with(body).map_err(|e| RegistryError::BadRow {
                    guid: guid.clone(),
                    reason: e.to_string(),
                })?;
                let merged = Device {
                    tenant_id: row.tenant_id.clone(),
                    ..merged
                };
                let updated = self.inner.registry.update(&merged).await?;
                updated
                    .map(Registered::Updated)
                    .ok_or_else(|| RegistryError::BadRow {
                        guid,
                        reason: "row vanished during update".into(),
                    })
            }
            None => {
                let fresh = Device {
                    guid: guid.clone(),
                    tenant_id: String::new(),
                    connection_status: Some(false),
                    ..Default::default()
                };
                let mut new = fresh.merged_with(body).map_err(|e| RegistryError::BadRow {
                    guid: guid.clone(),
                    reason: e.to_string(),
                })?;
                new.guid = guid;
                Ok(Registered::Created(self.inner.registry.insert(&new).await?))
            }
        }
    }

    /// Remove a device (DELETE /devices/:guid, and RPS's "deactivated"). Returns false when no row
    /// matched. With `delete_secret` the device's secrets go too.
    pub async fn remove_device(
        &self,
        guid: &str,
        tenant: &str,
        delete_secret: bool,
    ) -> Result<bool, RemoveError> {
        let guid = guid.to_ascii_lowercase();
        if self
            .inner
            .registry
            .get(&guid, Some(tenant))
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let removed = self.inner.registry.delete(&guid, tenant).await?;
        if delete_secret {
            self.inner
                .secrets
                .delete(&format!("devices/{guid}"))
                .await?;
        }
        Ok(removed)
    }

    /// Re-reads the AMT password of a connected device (after RPS changed it).
    pub async fn refresh_device(&self, guid: &str) -> Result<bool, secrets::SecretError> {
        let Some(conn) = self.inner.connections.get(guid) else {
            return Ok(false);
        };
        let s = self.device_secrets(&conn.guid).await?;
        conn.set_amt_password(s.and_then(|s| s.amt_password));
        Ok(true)
    }

    /// Runs a power action on a device connected here (REST and bus commands share this path).
    /// Returns the reference's response body (`{"Header":…,"Body":{"ReturnValue":…,"ReturnValueStr":…}}`).
    pub async fn power_action(&self, guid: &str, action: i64) -> Result<Value, PowerError> {
        let conn = self
            .inner
            .connections
            .get(guid)
            .ok_or(PowerError::NotConnected)?;
        let timeout = std::time::Duration::from_secs(self.inner.config.wsman_timeout_secs.max(1));
        let amt = crate::amt::Amt {
            mps: self,
            conn: &conn,
            timeout,
        };
        crate::amt::power::power_action(&amt, action)
            .await
            .map_err(|f| match f {
                crate::amt::Failure::Wsman(crate::wsman_client::WsmanError::Timeout(d)) => {
                    PowerError::Timeout(d)
                }
                crate::amt::Failure::Wsman(crate::wsman_client::WsmanError::Channel(
                    crate::cira::ChannelError::TunnelClosed,
                )) => PowerError::NotConnected,
                f => PowerError::Failed(format!("{f:?}")),
            })
    }

    pub async fn device_secrets(
        &self,
        guid: &str,
    ) -> Result<Option<secrets::DeviceSecrets>, secrets::SecretError> {
        Ok(self
            .inner
            .secrets
            .get(&format!("devices/{guid}"))
            .await?
            .map(|m| secrets::DeviceSecrets::from_map(&m)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Secrets(#[from] secrets::SecretError),
}

#[derive(Debug, thiserror::Error)]
pub enum PowerError {
    #[error("device not connected to this MPS")]
    NotConnected,
    #[error("the device did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("power action failed: {0}")]
    Failed(String),
}

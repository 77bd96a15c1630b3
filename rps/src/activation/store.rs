//! What a job reads and writes outside the device: profiles, CIRA configs, domains, wireless and proxy configs
//! from the database (the REST API's tables), their secrets from the secret store at the reference's paths, and
//! `devices/<guid>`, the secret MPS reads.

use std::fmt;
use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use secrets::{DeviceSecrets, SecretError, SecretMap, SecretStore};
use serde_json::Value;

use crate::db::Db;
use crate::db::entities::{
    ciraconfigs, domains, profiles, profiles_proxyconfigs, profiles_wirelessconfigs, proxyconfigs,
    wirelessconfigs,
};

use super::passwords;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("secret store: {0}")]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Missing(String),
}

/// `activation` of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileMode {
    Ccm,
    Acm,
}

/// An AMT profile as activation needs it (passwords are fetched separately, when needed).
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub tenant_id: String,
    pub mode: ProfileMode,
    pub generate_random_password: bool,
    pub generate_random_mebx_password: bool,
    pub cira_config_name: Option<String>,
    pub tags: Vec<String>,
    pub dhcp_enabled: bool,
    pub ip_sync_enabled: Option<bool>,
    pub local_wifi_sync_enabled: Option<bool>,
    pub uefi_wifi_sync_enabled: Option<bool>,
    pub tls_mode: Option<i32>,
    pub tls_signing_authority: Option<String>,
    pub user_consent: Option<String>,
    pub ider_enabled: Option<bool>,
    pub kvm_enabled: Option<bool>,
    pub sol_enabled: Option<bool>,
    pub ieee8021x_profile_name: Option<String>,
    /// Wireless profile names with their priority, by priority.
    pub wifi: Vec<(String, i32)>,
    /// Proxy config names with their priority, by priority.
    pub proxies: Vec<(String, i32)>,
}

/// A CIRA config with the MPS password the device gets.
#[derive(Clone)]
pub struct CiraConfig {
    pub name: String,
    pub tenant_id: String,
    pub mps_server_address: String,
    pub mps_port: u16,
    pub username: String,
    /// `CIRAConfigs/<name>`.MPS_PASSWORD, or a fresh random password per device when none is stored.
    pub password: String,
    pub common_name: String,
    pub server_address_format: u32,
    pub auth_method: u32,
    /// Base64 DER (or a PEM body) of the MPS root certificate, as stored with the config.
    pub mps_root_certificate: String,
}

impl fmt::Debug for CiraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CiraConfig")
            .field("name", &self.name)
            .field("mps_server_address", &self.mps_server_address)
            .field("mps_port", &self.mps_port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// An ACM domain with its provisioning certificate.
#[derive(Clone)]
pub struct Domain {
    pub name: String,
    pub suffix: String,
    /// Base64 PKCS#12.
    pub pfx: String,
    pub pfx_password: String,
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Domain")
            .field("name", &self.name)
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

/// A wireless profile with its passphrase.
#[derive(Clone)]
pub struct Wireless {
    pub name: String,
    pub authentication_method: i32,
    pub encryption_method: i32,
    pub ssid: String,
    pub psk_passphrase: Option<String>,
    pub ieee8021x_profile_name: Option<String>,
}

impl fmt::Debug for Wireless {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wireless")
            .field("name", &self.name)
            .field("ssid", &self.ssid)
            .finish_non_exhaustive()
    }
}

/// A proxy config.
#[derive(Clone, Debug)]
pub struct Proxy {
    pub name: String,
    pub address: String,
    pub info_format: i32,
    pub port: i32,
    pub network_dns_suffix: String,
}

/// The database and the secret store, as jobs use them.
#[derive(Clone)]
pub struct Store {
    pub db: Db,
    pub secrets: Arc<dyn SecretStore>,
}

fn secret_text(map: &SecretMap, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Store {
    pub fn new(db: Db, secrets: Arc<dyn SecretStore>) -> Store {
        Store { db, secrets }
    }

    /// The profile `name` of `tenant` (names are case-insensitive).
    pub async fn profile(&self, name: &str, tenant: &str) -> Result<Option<Profile>, StoreError> {
        let conn = self.db.conn();
        let Some(row) = profiles::Entity::find()
            .filter(profiles::Column::ProfileName.eq(name))
            .filter(profiles::Column::TenantId.eq(tenant))
            .one(conn)
            .await?
        else {
            return Ok(None);
        };
        let wifi = profiles_wirelessconfigs::Entity::find()
            .filter(profiles_wirelessconfigs::Column::ProfileName.eq(row.profile_name.clone()))
            .filter(profiles_wirelessconfigs::Column::TenantId.eq(tenant))
            .order_by_asc(profiles_wirelessconfigs::Column::Priority)
            .all(conn)
            .await?
            .into_iter()
            .map(|l| (l.wireless_profile_name, l.priority))
            .collect();
        let proxies = profiles_proxyconfigs::Entity::find()
            .filter(profiles_proxyconfigs::Column::ProfileName.eq(row.profile_name.clone()))
            .filter(profiles_proxyconfigs::Column::TenantId.eq(tenant))
            .order_by_asc(profiles_proxyconfigs::Column::Priority)
            .all(conn)
            .await?
            .into_iter()
            .map(|l| (l.proxy_config_name, l.priority))
            .collect();
        Ok(Some(Profile {
            mode: if row.activation.eq_ignore_ascii_case("acmactivate") {
                ProfileMode::Acm
            } else {
                ProfileMode::Ccm
            },
            name: row.profile_name,
            tenant_id: row.tenant_id,
            generate_random_password: row.generate_random_password,
            generate_random_mebx_password: row.generate_random_mebx_password,
            cira_config_name: row.cira_config_name.filter(|n| !n.is_empty()),
            tags: row.tags.into_items().unwrap_or_default(),
            dhcp_enabled: row.dhcp_enabled.unwrap_or(true),
            ip_sync_enabled: row.ip_sync_enabled,
            local_wifi_sync_enabled: row.local_wifi_sync_enabled,
            uefi_wifi_sync_enabled: row.uefi_wifi_sync_enabled,
            tls_mode: row.tls_mode,
            tls_signing_authority: row.tls_signing_authority,
            user_consent: row.user_consent,
            ider_enabled: row.ider_enabled,
            kvm_enabled: row.kvm_enabled,
            sol_enabled: row.sol_enabled,
            ieee8021x_profile_name: row.ieee8021x_profile_name,
            wifi,
            proxies,
        }))
    }

    async fn profile_secret(
        &self,
        profile: &Profile,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let secret = self
            .secrets
            .get(&format!("profiles/{}", profile.name))
            .await?;
        Ok(secret
            .as_ref()
            .and_then(|m| secret_text(m, key))
            .filter(|p| !p.is_empty()))
    }

    /// The AMT admin password the device gets: a fresh random one, or the profile's stored one.
    pub async fn amt_password(&self, profile: &Profile) -> Result<String, StoreError> {
        if profile.generate_random_password {
            return Ok(passwords::random_password());
        }
        self.profile_secret(profile, "AMT_PASSWORD")
            .await?
            .ok_or_else(|| {
                StoreError::Missing(format!(
                    "AMT password of profile {} is not in the secret store",
                    profile.name
                ))
            })
    }

    /// The MEBx password (ACM only): a fresh random one, or the profile's stored one.
    pub async fn mebx_password(&self, profile: &Profile) -> Result<Option<String>, StoreError> {
        if profile.mode != ProfileMode::Acm {
            return Ok(None);
        }
        if profile.generate_random_mebx_password {
            return Ok(Some(passwords::random_password()));
        }
        self.profile_secret(profile, "MEBX_PASSWORD").await
    }

    /// The CIRA config `name` of `tenant`, with the MPS password the device will use.
    pub async fn cira_config(
        &self,
        name: &str,
        tenant: &str,
    ) -> Result<Option<CiraConfig>, StoreError> {
        let Some(row) = ciraconfigs::Entity::find()
            .filter(ciraconfigs::Column::CiraConfigName.eq(name))
            .filter(ciraconfigs::Column::TenantId.eq(tenant))
            .one(self.db.conn())
            .await?
        else {
            return Ok(None);
        };
        let stored = self
            .secrets
            .get(&format!("CIRAConfigs/{}", row.cira_config_name))
            .await?
            .and_then(|m| secret_text(&m, "MPS_PASSWORD"))
            .filter(|p| !p.is_empty());
        Ok(Some(CiraConfig {
            password: stored.unwrap_or_else(passwords::random_password),
            name: row.cira_config_name,
            tenant_id: row.tenant_id,
            mps_server_address: row.mps_server_address.unwrap_or_default(),
            mps_port: row
                .mps_port
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(4433),
            username: row.user_name.unwrap_or_default(),
            common_name: row.common_name.unwrap_or_default(),
            server_address_format: row
                .server_address_format
                .and_then(|f| u32::try_from(f).ok())
                .unwrap_or(201),
            auth_method: row
                .auth_method
                .and_then(|f| u32::try_from(f).ok())
                .unwrap_or(2),
            mps_root_certificate: row.mps_root_certificate.unwrap_or_default(),
        }))
    }

    /// The domain for a device DNS suffix: the suffix itself, then with leading labels stripped down to two
    /// labels (`a.b.corp.com` → `b.corp.com` → `corp.com`).
    pub async fn domain_for(
        &self,
        fqdn: &str,
        tenant: &str,
    ) -> Result<Option<domains::Model>, StoreError> {
        let labels: Vec<&str> = fqdn.split('.').collect();
        for start in 0..labels.len().saturating_sub(1) {
            let suffix = labels[start..].join(".");
            if let Some(row) = domains::Entity::find()
                .filter(domains::Column::DomainSuffix.eq(suffix))
                .filter(domains::Column::TenantId.eq(tenant))
                .one(self.db.conn())
                .await?
            {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }

    /// The provisioning certificate of a domain (`certs/<name>`).
    pub async fn provisioning_certificate(
        &self,
        domain: &domains::Model,
    ) -> Result<Option<Domain>, StoreError> {
        let Some(secret) = self.secrets.get(&format!("certs/{}", domain.name)).await? else {
            return Ok(None);
        };
        let (Some(pfx), Some(password)) = (
            secret_text(&secret, "CERT"),
            secret_text(&secret, "CERT_PASSWORD"),
        ) else {
            return Ok(None);
        };
        Ok(Some(Domain {
            name: domain.name.clone(),
            suffix: domain.domain_suffix.clone(),
            pfx,
            pfx_password: password,
        }))
    }

    pub async fn wireless(&self, name: &str, tenant: &str) -> Result<Option<Wireless>, StoreError> {
        let Some(row) = wirelessconfigs::Entity::find()
            .filter(wirelessconfigs::Column::WirelessProfileName.eq(name))
            .filter(wirelessconfigs::Column::TenantId.eq(tenant))
            .one(self.db.conn())
            .await?
        else {
            return Ok(None);
        };
        let psk = self
            .secrets
            .get(&format!("Wireless/{}", row.wireless_profile_name))
            .await?
            .and_then(|m| secret_text(&m, "PSK_PASSPHRASE"));
        Ok(Some(Wireless {
            name: row.wireless_profile_name,
            authentication_method: row.authentication_method.unwrap_or(6),
            encryption_method: row.encryption_method.unwrap_or(4),
            ssid: row.ssid.unwrap_or_default(),
            psk_passphrase: psk,
            ieee8021x_profile_name: row.ieee8021x_profile_name,
        }))
    }

    pub async fn proxy(&self, name: &str, tenant: &str) -> Result<Option<Proxy>, StoreError> {
        Ok(proxyconfigs::Entity::find()
            .filter(proxyconfigs::Column::ProxyConfigName.eq(name))
            .filter(proxyconfigs::Column::TenantId.eq(tenant))
            .one(self.db.conn())
            .await?
            .map(|row| Proxy {
                name: row.proxy_config_name,
                address: row.address,
                info_format: row.info_format,
                port: row.port,
                network_dns_suffix: row.network_dns_suffix.unwrap_or_default(),
            }))
    }

    /// `TLS/<profile>`: the self-signed root the profile's TLS certificates are issued from.
    pub async fn tls_material(&self, profile: &str) -> Result<Option<SecretMap>, StoreError> {
        Ok(self.secrets.get(&format!("TLS/{profile}")).await?)
    }

    /// The MPS's secret (`MPSCerts`): its root certificate is what devices must trust for CIRA.
    pub async fn mps_certs(&self) -> Result<Option<SecretMap>, StoreError> {
        Ok(self.secrets.get("MPSCerts").await?)
    }

    pub async fn device_secrets(&self, guid: &str) -> Result<Option<SecretMap>, StoreError> {
        Ok(self.secrets.get(&format!("devices/{guid}")).await?)
    }

    /// Writes `devices/<guid>`, keeping other keys already there (a stored TLS certificate).
    pub async fn save_device_secrets(
        &self,
        guid: &str,
        secrets: &DeviceSecrets,
    ) -> Result<(), StoreError> {
        let path = format!("devices/{guid}");
        let mut map = self.secrets.get(&path).await?.unwrap_or_default();
        secrets.apply_to(&mut map);
        self.secrets.put(&path, map).await?;
        Ok(())
    }

    pub async fn delete_device_secrets(&self, guid: &str) -> Result<(), StoreError> {
        Ok(self.secrets.delete(&format!("devices/{guid}")).await?)
    }
}

//! How command-line clients reach the broker: flags, or what `openamt up` left in the data directory.

use std::time::Duration;

use anyhow::Context;
use broker::{BrokerUrl, Bus, BusConfig, Credentials};

use super::DataDir;

#[derive(clap::Args, Clone, Debug)]
pub struct MqttArgs {
    /// Broker URL.
    #[arg(
        long = "mqtt-url",
        env = "OPENAMT_MQTT_URL",
        default_value = "mqtts://localhost:8883"
    )]
    pub url: BrokerUrl,
    /// CA certificate of the broker [default: <data-dir>/ca.pem].
    #[arg(long = "mqtt-ca", env = "OPENAMT_MQTT_CA")]
    pub ca: Option<std::path::PathBuf>,
    /// User name.
    #[arg(
        long = "mqtt-user",
        env = "OPENAMT_MQTT_USER",
        default_value = "dashboard"
    )]
    pub user: String,
    /// Password [default: the user's password in <data-dir>/mqtt-credentials.json].
    #[arg(
        long = "mqtt-password",
        env = "OPENAMT_MQTT_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    #[command(flatten)]
    pub data_dir: DataDir,
}

impl MqttArgs {
    /// A bus configuration for a short-lived client without a persistent session.
    pub fn config(&self, client_name: &str) -> anyhow::Result<BusConfig> {
        let password = match &self.password {
            Some(password) => password.clone(),
            None => {
                Credentials::load_password(&self.data_dir.path, &self.user).with_context(|| {
                    format!(
                        "no --mqtt-password given and none found for {:?} in the data directory",
                        self.user
                    )
                })?
            }
        };
        let client_id = format!(
            "{client_name}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut config = BusConfig::new(
            self.url.clone(),
            &self.user,
            &password,
            &client_id,
            &format!("/openamt/cli/{client_id}"),
        );
        config.session_expiry = Duration::ZERO;
        if self.url.tls {
            let ca = self
                .ca
                .clone()
                .unwrap_or_else(|| self.data_dir.path.join("ca.pem"));
            config.ca_pem = Some(std::fs::read(&ca).with_context(|| {
                format!("cannot read the broker's CA certificate {}", ca.display())
            })?);
        }
        Ok(config)
    }

    pub async fn connect(&self, client_name: &str) -> anyhow::Result<Bus> {
        let bus = Bus::connect(self.config(client_name)?).await?;
        bus.wait_connected(Duration::from_secs(10)).await?;
        Ok(bus)
    }
}

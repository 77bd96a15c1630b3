//! RPS on the bus: the client identity of an instance and its retained status (ONLINE while it runs, OFFLINE as
//! its last will), as every service keeps one on `openamt/v1/<service>/<instance>/status`.

use broker::{BrokerUrl, BusConfig, LastWill};
use schemas::proto::{ServiceState, ServiceStatus};
use schemas::{Service, Topic, TopicError, Topics};

/// The CloudEvents `source` of everything an instance publishes.
pub fn source(instance: &str) -> String {
    format!("/openamt/rps/{instance}")
}

/// The MQTT client id of an instance.
pub fn client_id(instance: &str) -> String {
    format!("rps-{instance}")
}

pub fn status_topic(topics: &Topics, instance: &str) -> Result<Topic, TopicError> {
    topics.status(Service::Rps, instance)
}

/// The status an instance publishes at start (ONLINE) and leaves as its last will (OFFLINE).
pub fn status(instance: &str, address: &str, state: ServiceState) -> ServiceStatus {
    ServiceStatus {
        service: Service::Rps.as_str().to_owned(),
        instance: instance.to_owned(),
        state: state as i32,
        address: address.to_owned(),
        version: crate::SERVICE_VERSION.to_owned(),
        started_at: Some(schemas::now()),
    }
}

/// The bus configuration of an RPS instance (user `rps` in the broker's ACL): client id, source and the
/// retained OFFLINE last will. The caller adds the CA, the outbox and the topic root, connects, and passes the
/// bus in [`crate::RpsDeps`].
pub fn bus_config(
    config: &crate::RpsConfig,
    url: BrokerUrl,
    username: &str,
    password: &str,
) -> Result<BusConfig, TopicError> {
    let instance = &config.instance_name;
    let mut bus = BusConfig::new(
        url,
        username,
        password,
        &client_id(instance),
        &source(instance),
    );
    let will = status(instance, "", ServiceState::Offline);
    bus.last_will = Some(LastWill::new(
        status_topic(&bus.topics, instance)?,
        &source(instance),
        &will,
    ));
    Ok(bus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_identity_and_last_will() {
        let config = crate::RpsConfig {
            instance_name: "rps-2".into(),
            ..Default::default()
        };
        let bus = bus_config(
            &config,
            "mqtts://localhost:8883".parse().unwrap(),
            "rps",
            "pw",
        )
        .unwrap();
        assert_eq!(bus.client_id, "rps-rps-2");
        assert_eq!(bus.source, "/openamt/rps/rps-2");
        let will = bus.last_will.as_ref().expect("last will");
        assert_eq!(
            bus.topics.render(&will.topic),
            "openamt/v1/rps/rps-2/status"
        );
        assert!(format!("{bus:?}").contains("<redacted>"));
    }
}

//! Typed builders for the class methods whose bodies are not plain property lists, plus short names
//! for the common ones. Each produces the same XML as the same call of
//! `@device-management-toolkit/wsman-messages` (checked by the tests under `wsman/tests/`).
//!
//! Everything else is a generic [`Call`]: `Call::get(class)`, `Call::enumerate(class)`,
//! `Call::pull(class, ctx)`, `Call::put(class, &json)`, `Call::delete(class, selectors)`,
//! `Call::invoke(class, method, &[&json])`.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::catalog::{AMT_SCHEMA, CIM_SCHEMA, IPS_SCHEMA, NS_CIM_COMMON, class};
use crate::envelope::{Call, Selector, write_properties};
use crate::xml::{escape_attr, escape_text};

/// The endpoint reference to `CIM_ComputerSystem` "ManagedSystem" that power methods take.
fn managed_system_reference() -> String {
    format!(
        r#"<Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">{CIM_SCHEMA}CIM_ComputerSystem</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="CreationClassName">CIM_ComputerSystem</Selector><Selector Name="Name">ManagedSystem</Selector></SelectorSet></ReferenceParameters>"#
    )
}

/// Intel AMT classes.
pub mod amt {
    use super::*;

    /// Parameters of `AMT_AlarmClockService.AddAlarm`.
    #[derive(Clone, Debug)]
    pub struct AlarmTemplate {
        pub instance_id: String,
        pub element_name: Option<String>,
        /// When the alarm fires (sent in UTC, whole seconds, `Z` suffix).
        pub start_time: time::OffsetDateTime,
        /// Repeat interval in minutes, sent as `P<d>DT<h>H<m>M`.
        pub interval_minutes: Option<u64>,
        pub delete_on_completion: bool,
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, what `Date.toISOString()` gives after the reference drops the milliseconds.
    pub fn alarm_time(t: time::OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    pub fn add_alarm(alarm: &AlarmTemplate) -> Call {
        let occurrence = format!("{IPS_SCHEMA}IPS_AlarmClockOccurrence");
        let mut body = format!(
            r#"<Body><p:AddAlarm_INPUT xmlns:p="{AMT_SCHEMA}AMT_AlarmClockService"><p:AlarmTemplate><s:InstanceID xmlns:s="{occurrence}">{}</s:InstanceID>"#,
            escape_text(&alarm.instance_id)
        );
        if let Some(name) = &alarm.element_name {
            let _ = write!(
                body,
                r#"<s:ElementName xmlns:s="{occurrence}">{}</s:ElementName>"#,
                escape_text(name)
            );
        }
        let _ = write!(
            body,
            r#"<s:StartTime xmlns:s="{occurrence}"><p:Datetime xmlns:p="{NS_CIM_COMMON}">{}</p:Datetime></s:StartTime>"#,
            alarm_time(alarm.start_time)
        );
        if let Some(interval) = alarm.interval_minutes {
            let (minutes, hours, days) = (interval % 60, (interval / 60) % 24, interval / 1440);
            let _ = write!(
                body,
                r#"<s:Interval xmlns:s="{occurrence}"><p:Interval xmlns:p="{NS_CIM_COMMON}">P{days}DT{hours}H{minutes}M</p:Interval></s:Interval>"#
            );
        }
        let _ = write!(
            body,
            r#"<s:DeleteOnCompletion xmlns:s="{occurrence}">{}</s:DeleteOnCompletion></p:AlarmTemplate></p:AddAlarm_INPUT></Body>"#,
            alarm.delete_on_completion
        );
        Call::custom(
            format!("{AMT_SCHEMA}AMT_AlarmClockService/AddAlarm"),
            class::AMT_ALARM_CLOCK_SERVICE,
            body,
        )
    }

    /// `AMT_AuditLog.ReadRecords(StartIndex)` (the reference defaults to 1).
    pub fn audit_log_read_records(start_index: u32) -> Call {
        Call::invoke(
            class::AMT_AUDIT_LOG,
            "ReadRecords",
            &[&json!({ "StartIndex": start_index })],
        )
    }

    /// `AMT_AuthorizationService.SetAdminAclEntryEx(Username, DigestPassword)`; the password is
    /// base64 of the raw 16-byte MD5 of `user:realm:password`.
    pub fn set_admin_acl_entry_ex(username: &str, digest_password: &str) -> Call {
        Call::invoke(
            class::AMT_AUTHORIZATION_SERVICE,
            "SetAdminAclEntryEx",
            &[&json!({ "Username": username, "DigestPassword": digest_password })],
        )
    }

    /// `AMT_EthernetPortSettings.SetLinkPreference` on the WiFi port (`… Settings 1` by default).
    pub fn set_link_preference(link_preference: u32, timeout: u32, instance_id: &str) -> Call {
        Call::invoke(
            class::AMT_ETHERNET_PORT_SETTINGS,
            "SetLinkPreference",
            &[
                &json!({ "LinkPreference": link_preference }),
                &json!({ "Timeout": timeout }),
            ],
        )
        .with_selector("InstanceID", instance_id)
    }

    /// `AMT_MessageLog.GetRecords(IterationIdentifier, MaxReadRecords=390)`.
    pub fn message_log_get_records(iteration_identifier: u32) -> Call {
        Call::invoke(
            class::AMT_MESSAGE_LOG,
            "GetRecords",
            &[&json!({ "IterationIdentifier": iteration_identifier, "MaxReadRecords": 390 })],
        )
    }

    /// `AMT_MessageLog.PositionToFirstRecord()` (self-closing input element, as the reference writes it).
    pub fn message_log_position_to_first_record() -> Call {
        let uri = format!("{AMT_SCHEMA}{}", class::AMT_MESSAGE_LOG);
        Call::custom(
            format!("{uri}/PositionToFirstRecord"),
            class::AMT_MESSAGE_LOG,
            format!(r#"<Body><h:PositionToFirstRecord_INPUT xmlns:h="{uri}" /></Body>"#),
        )
    }

    pub fn add_trusted_root_certificate(certificate_blob: &str) -> Call {
        Call::invoke(
            class::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE,
            "AddTrustedRootCertificate",
            &[&json!({ "CertificateBlob": certificate_blob })],
        )
    }

    pub fn add_certificate(certificate_blob: &str) -> Call {
        Call::invoke(
            class::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE,
            "AddCertificate",
            &[&json!({ "CertificateBlob": certificate_blob })],
        )
    }

    pub fn add_key(key_blob: &str) -> Call {
        Call::invoke(
            class::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE,
            "AddKey",
            &[&json!({ "KeyBlob": key_blob })],
        )
    }

    /// `GenerateKeyPair(KeyAlgorithm, KeyLength)`: RPS uses (0 = RSA, 2048).
    pub fn generate_key_pair(key_algorithm: u32, key_length: u32) -> Call {
        Call::invoke(
            class::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE,
            "GenerateKeyPair",
            &[&json!({ "KeyAlgorithm": key_algorithm, "KeyLength": key_length })],
        )
    }

    /// `GeneratePKCS10RequestEx(KeyPair, SigningAlgorithm, NullSignedCertificateRequest)`; `request` holds
    /// those properties in order (KeyPair is an endpoint-reference object).
    pub fn generate_pkcs10_request_ex(request: &Value) -> Call {
        Call::invoke(
            class::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE,
            "GeneratePKCS10RequestEx",
            &[request],
        )
    }

    /// Parameters of `AMT_RemoteAccessService.AddMpServer`.
    #[derive(Clone, PartialEq, Eq)]
    pub struct MpServer {
        pub access_info: String,
        /// 3 = IPv4, 4 = IPv6, 201 = FQDN.
        pub info_format: u32,
        pub port: u16,
        /// 2 = user name and password.
        pub auth_method: u32,
        pub username: String,
        pub password: String,
        pub common_name: String,
    }

    impl std::fmt::Debug for MpServer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("MpServer")
                .field("access_info", &self.access_info)
                .field("info_format", &self.info_format)
                .field("port", &self.port)
                .field("auth_method", &self.auth_method)
                .field("username", &self.username)
                .field("password", &"<redacted>")
                .field("common_name", &self.common_name)
                .finish()
        }
    }

    pub fn add_mp_server(server: &MpServer) -> Call {
        let uri = format!("{AMT_SCHEMA}AMT_RemoteAccessService");
        let body = format!(
            r#"<Body><h:AddMpServer_INPUT xmlns:h="{uri}"><h:AccessInfo>{}</h:AccessInfo><h:InfoFormat>{}</h:InfoFormat><h:Port>{}</h:Port><h:AuthMethod>{}</h:AuthMethod><h:Username>{}</h:Username><h:Password>{}</h:Password><h:CN>{}</h:CN></h:AddMpServer_INPUT></Body>"#,
            escape_text(&server.access_info),
            server.info_format,
            server.port,
            server.auth_method,
            escape_text(&server.username),
            escape_text(&server.password),
            escape_text(&server.common_name),
        );
        Call::custom(
            format!("{uri}/AddMpServer"),
            class::AMT_REMOTE_ACCESS_SERVICE,
            body,
        )
    }

    /// Parameters of `AddRemoteAccessPolicyRule`.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct RemoteAccessPolicyRule {
        /// 0 user-initiated, 1 alert, 2 periodic.
        pub trigger: u32,
        pub tunnel_life_time: u32,
        /// Base64; for periodic rules the interval (`AAAAAAAAABk=` = 25 s).
        pub extended_data: String,
    }

    /// Adds a policy rule bound to the AMT_ManagementPresenceRemoteSAP selected by `sap`
    /// (`Name` = the SAP name from the enumeration).
    pub fn add_remote_access_policy_rule(rule: &RemoteAccessPolicyRule, sap: &Selector) -> Call {
        let uri = format!("{AMT_SCHEMA}AMT_RemoteAccessService");
        let body = format!(
            r#"<Body><h:AddRemoteAccessPolicyRule_INPUT xmlns:h="{uri}"><h:Trigger>{}</h:Trigger><h:TunnelLifeTime>{}</h:TunnelLifeTime><h:ExtendedData>{}</h:ExtendedData><h:MpServer><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">{AMT_SCHEMA}AMT_ManagementPresenceRemoteSAP</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="{}">{}</Selector></SelectorSet></ReferenceParameters></h:MpServer></h:AddRemoteAccessPolicyRule_INPUT></Body>"#,
            rule.trigger,
            rule.tunnel_life_time,
            escape_text(&rule.extended_data),
            escape_attr(&sap.name),
            escape_text(sap.text().unwrap_or_default()),
        );
        Call::custom(
            format!("{uri}/AddRemoteAccessPolicyRule"),
            class::AMT_REMOTE_ACCESS_SERVICE,
            body,
        )
    }

    pub fn commit_changes() -> Call {
        Call::invoke(
            class::AMT_SETUP_AND_CONFIGURATION_SERVICE,
            "CommitChanges",
            &[&json!({})],
        )
    }

    pub fn get_uuid() -> Call {
        Call::invoke(class::AMT_SETUP_AND_CONFIGURATION_SERVICE, "GetUuid", &[])
    }

    pub fn set_mebx_password(password: &str) -> Call {
        let uri = format!("{AMT_SCHEMA}{}", class::AMT_SETUP_AND_CONFIGURATION_SERVICE);
        let body = format!(
            r#"<Body><h:SetMEBxPassword_INPUT xmlns:h="{uri}"><h:Password>{}</h:Password></h:SetMEBxPassword_INPUT></Body>"#,
            escape_text(password)
        );
        Call::custom(
            format!("{uri}/SetMEBxPassword"),
            class::AMT_SETUP_AND_CONFIGURATION_SERVICE,
            body,
        )
    }

    /// `Unprovision(ProvisioningMode)`: 1 = full unprovision (what MPS and RPS send).
    pub fn unprovision(provisioning_mode: u32) -> Call {
        let uri = format!("{AMT_SCHEMA}{}", class::AMT_SETUP_AND_CONFIGURATION_SERVICE);
        let body = format!(
            r#"<Body><h:Unprovision_INPUT xmlns:h="{uri}"><h:ProvisioningMode>{provisioning_mode}</h:ProvisioningMode></h:Unprovision_INPUT></Body>"#
        );
        Call::custom(
            format!("{uri}/Unprovision"),
            class::AMT_SETUP_AND_CONFIGURATION_SERVICE,
            body,
        )
    }

    pub fn get_low_accuracy_time_synch() -> Call {
        Call::invoke(
            class::AMT_TIME_SYNCHRONIZATION_SERVICE,
            "GetLowAccuracyTimeSynch",
            &[],
        )
    }

    pub fn set_high_accuracy_time_synch(ta0: u64, tm1: u64, tm2: u64) -> Call {
        Call::invoke(
            class::AMT_TIME_SYNCHRONIZATION_SERVICE,
            "SetHighAccuracyTimeSynch",
            &[&json!({ "Ta0": ta0, "Tm1": tm1, "Tm2": tm2 })],
        )
    }

    /// Creates the AMT_TLSCredentialContext binding certificate `certificate_handle` to the TLS endpoints.
    pub fn tls_credential_context_create(certificate_handle: &str) -> Call {
        let body = format!(
            r#"<Body><h:AMT_TLSCredentialContext xmlns:h="{AMT_SCHEMA}AMT_TLSCredentialContext"><h:ElementInContext><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT_SCHEMA}AMT_PublicKeyCertificate</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">{}</w:Selector></w:SelectorSet></a:ReferenceParameters></h:ElementInContext><h:ElementProvidingContext><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT_SCHEMA}AMT_TLSProtocolEndpointCollection</w:ResourceURI><w:SelectorSet><w:Selector Name="ElementName">TLSProtocolEndpointInstances Collection</w:Selector></w:SelectorSet></a:ReferenceParameters></h:ElementProvidingContext></h:AMT_TLSCredentialContext></Body>"#,
            escape_text(certificate_handle)
        );
        Call::custom(
            crate::catalog::action::CREATE,
            class::AMT_TLS_CREDENTIAL_CONTEXT,
            body,
        )
    }

    /// `AMT_WiFiPortConfigurationService.AddWiFiSettings`: adds `settings` (CIM_WiFiEndpointSettings
    /// properties in order) to the WiFi endpoint selected by `endpoint` (`InstanceID` = `WiFi Endpoint 0`),
    /// optionally with 802.1x settings and credential handles.
    pub fn add_wifi_settings(
        settings: Option<&Value>,
        endpoint: &Selector,
        ieee8021x: Option<&Value>,
        client_credential: Option<&str>,
        ca_credential: Option<&str>,
    ) -> Call {
        let uri = format!("{AMT_SCHEMA}{}", class::AMT_WIFI_PORT_CONFIGURATION_SERVICE);
        let mut body = format!(r#"<Body><h:AddWiFiSettings_INPUT xmlns:h="{uri}">"#);
        let selector = |s: &Selector| json!({ "Selector": [{ "_": s.text().unwrap_or_default(), "$": { "Name": s.name } }] });
        let mut endpoint_ref = serde_json::Map::new();
        endpoint_ref.insert(
            "WiFiEndpoint".into(),
            json!({ "Address": "/wsman", "ReferenceParameters": {
                "ResourceURI": format!("{CIM_SCHEMA}{}", class::CIM_WIFI_ENDPOINT),
                "SelectorSet": selector(endpoint) } }),
        );
        write_properties(&mut body, &endpoint_ref);
        if let Some(settings) = settings {
            write_namespaced(
                &mut body,
                "WiFiEndpointSettingsInput",
                &format!("{CIM_SCHEMA}{}", class::CIM_WIFI_ENDPOINT_SETTINGS),
                settings,
            );
        }
        if let Some(ieee) = ieee8021x {
            write_namespaced(
                &mut body,
                "IEEE8021xSettingsInput",
                &format!("{CIM_SCHEMA}{}", class::CIM_IEEE8021X_SETTINGS),
                ieee,
            );
        }
        for (name, handle) in [
            ("ClientCredential", client_credential),
            ("CACredential", ca_credential),
        ] {
            if let Some(handle) = handle {
                let mut credential = serde_json::Map::new();
                credential.insert(
                    name.into(),
                    json!({ "Address": "default", "ReferenceParameters": {
                        "ResourceURI": format!("{AMT_SCHEMA}{}", class::AMT_PUBLIC_KEY_CERTIFICATE),
                        "SelectorSet": selector(&Selector::new("InstanceID", handle)) } }),
                );
                write_properties(&mut body, &credential);
            }
        }
        body.push_str("</h:AddWiFiSettings_INPUT></Body>");
        Call::custom(
            format!("{uri}/AddWiFiSettings"),
            class::AMT_WIFI_PORT_CONFIGURATION_SERVICE,
            body,
        )
    }

    /// `<h:{name} xmlns:q="{namespace}">` with the properties of `value` under the `q:` prefix.
    fn write_namespaced(out: &mut String, name: &str, namespace: &str, value: &Value) {
        let _ = write!(out, r#"<h:{name} xmlns:q="{namespace}">"#);
        if let Value::Object(map) = value {
            for (key, item) in map {
                let prefix = match key.as_str() {
                    "Address" | "ReferenceParameters" => "a:",
                    "SelectorSet" | "Selector" | "ResourceURI" => "w:",
                    _ => "q:",
                };
                let items: Vec<&Value> = match item {
                    Value::Null => continue,
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for item in items {
                    let text = match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    // The reference library escapes the WiFi passphrase fully (quotes included).
                    let escaped = if key == "PSKPassPhrase" {
                        escape_attr(&text)
                    } else {
                        escape_text(&text)
                    };
                    let _ = write!(out, "<{prefix}{key}>{escaped}</{prefix}{key}>");
                }
            }
        }
        let _ = write!(out, "</h:{name}>");
    }
}

/// DMTF CIM classes.
pub mod cim {
    use super::*;

    /// `CIM_BootConfigSetting.ChangeBootOrder([Source])`; `None` clears the boot order.
    pub fn change_boot_order(source_instance_id: Option<&str>) -> Call {
        let source = source_instance_id
            .map(|id| {
                format!(
                    r#"<h:Source><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">{CIM_SCHEMA}CIM_BootSourceSetting</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="InstanceID">{}</Selector></SelectorSet></ReferenceParameters></h:Source>"#,
                    escape_text(id)
                )
            })
            .unwrap_or_default();
        let body = format!(
            r#"<Body><h:ChangeBootOrder_INPUT xmlns:h="{CIM_SCHEMA}CIM_BootConfigSetting">{source}</h:ChangeBootOrder_INPUT></Body>"#
        );
        Call::custom(
            format!("{CIM_SCHEMA}CIM_BootConfigSetting/ChangeBootOrder"),
            class::CIM_BOOT_CONFIG_SETTING,
            body,
        )
    }

    /// `CIM_BootService.SetBootConfigRole(BootConfigSetting, Role)`; MPS uses
    /// ("Intel(r) AMT: Boot Configuration 0", 1).
    pub fn set_boot_config_role(boot_config_instance_id: &str, role: u32) -> Call {
        let body = format!(
            r#"<Body><h:SetBootConfigRole_INPUT xmlns:h="{CIM_SCHEMA}CIM_BootService"><h:BootConfigSetting><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">{CIM_SCHEMA}CIM_BootConfigSetting</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="InstanceID">{}</Selector></SelectorSet></ReferenceParameters></h:BootConfigSetting><h:Role>{role}</h:Role></h:SetBootConfigRole_INPUT></Body>"#,
            escape_text(boot_config_instance_id)
        );
        Call::custom(
            format!("{CIM_SCHEMA}CIM_BootService/SetBootConfigRole"),
            class::CIM_BOOT_SERVICE,
            body,
        )
    }

    /// `CIM_PowerManagementService.RequestPowerStateChange(PowerState, ManagedElement)`.
    pub fn request_power_state_change(power_state: u32) -> Call {
        let body = format!(
            r#"<Body><h:RequestPowerStateChange_INPUT xmlns:h="{CIM_SCHEMA}CIM_PowerManagementService"><h:PowerState>{power_state}</h:PowerState><h:ManagedElement>{}</h:ManagedElement></h:RequestPowerStateChange_INPUT></Body>"#,
            managed_system_reference()
        );
        Call::custom(
            format!("{CIM_SCHEMA}CIM_PowerManagementService/RequestPowerStateChange"),
            class::CIM_POWER_MANAGEMENT_SERVICE,
            body,
        )
    }
}

/// Intel platform-services classes.
pub mod ips {
    use super::*;

    /// `IPS_HostBasedSetupService.Setup(NetAdminPassEncryptionType, NetworkAdminPassword)`; RPS sends
    /// type 2 and hex MD5("admin:" + realm + ":" + password).
    pub fn setup(net_admin_pass_encryption_type: u32, network_admin_password: &str) -> Call {
        Call::invoke(
            class::IPS_HOST_BASED_SETUP_SERVICE,
            "Setup",
            &[&json!({
                "NetAdminPassEncryptionType": net_admin_pass_encryption_type.to_string(),
                "NetworkAdminPassword": network_admin_password,
            })],
        )
    }

    pub fn admin_setup(
        net_admin_pass_encryption_type: u32,
        network_admin_password: &str,
        mc_nonce: &str,
        signing_algorithm: u32,
        digital_signature: &str,
    ) -> Call {
        Call::invoke(
            class::IPS_HOST_BASED_SETUP_SERVICE,
            "AdminSetup",
            &[&json!({
                "NetAdminPassEncryptionType": net_admin_pass_encryption_type,
                "NetworkAdminPassword": network_admin_password,
                "McNonce": mc_nonce,
                "SigningAlgorithm": signing_algorithm,
                "DigitalSignature": digital_signature,
            })],
        )
    }

    pub fn upgrade_client_to_admin(
        mc_nonce: &str,
        signing_algorithm: u32,
        digital_signature: &str,
    ) -> Call {
        Call::invoke(
            class::IPS_HOST_BASED_SETUP_SERVICE,
            "UpgradeClientToAdmin",
            &[&json!({
                "McNonce": mc_nonce,
                "SigningAlgorithm": signing_algorithm,
                "DigitalSignature": digital_signature,
            })],
        )
    }

    pub fn add_next_cert_in_chain(next_certificate: &str, is_leaf: bool, is_root: bool) -> Call {
        Call::invoke(
            class::IPS_HOST_BASED_SETUP_SERVICE,
            "AddNextCertInChain",
            &[&json!({
                "NextCertificate": next_certificate,
                "IsLeafCertificate": is_leaf,
                "IsRootCertificate": is_root,
            })],
        )
    }

    pub fn start_opt_in() -> Call {
        Call::invoke(class::IPS_OPT_IN_SERVICE, "StartOptIn", &[])
    }

    pub fn cancel_opt_in() -> Call {
        Call::invoke(class::IPS_OPT_IN_SERVICE, "CancelOptIn", &[])
    }

    pub fn send_opt_in_code(code: u32) -> Call {
        Call::invoke(
            class::IPS_OPT_IN_SERVICE,
            "SendOptInCode",
            &[&json!({ "OptInCode": code })],
        )
    }

    /// `IPS_PowerManagementService.RequestOSPowerSavingStateChange(OSPowerSavingState, ManagedElement)`.
    pub fn request_os_power_saving_state_change(os_power_saving_state: u32) -> Call {
        let body = format!(
            r#"<Body><h:RequestOSPowerSavingStateChange_INPUT xmlns:h="{IPS_SCHEMA}IPS_PowerManagementService"><h:OSPowerSavingState>{os_power_saving_state}</h:OSPowerSavingState><h:ManagedElement>{}</h:ManagedElement></h:RequestOSPowerSavingStateChange_INPUT></Body>"#,
            managed_system_reference()
        );
        Call::custom(
            format!("{IPS_SCHEMA}IPS_PowerManagementService/RequestOSPowerSavingStateChange"),
            class::IPS_POWER_MANAGEMENT_SERVICE,
            body,
        )
    }

    /// `IPS_HTTPProxyService.AddProxyAccessPoint(AccessInfo, InfoFormat, Port, NetworkDnsSuffix)`.
    pub fn add_proxy_access_point(
        access_info: &str,
        info_format: u32,
        port: u16,
        network_dns_suffix: &str,
    ) -> Call {
        Call::invoke(
            class::IPS_HTTP_PROXY_SERVICE,
            "AddProxyAccessPoint",
            &[
                &json!({ "AccessInfo": access_info }),
                &json!({ "InfoFormat": info_format }),
                &json!({ "Port": port }),
                &json!({ "NetworkDnsSuffix": network_dns_suffix }),
            ],
        )
    }

    pub fn http_proxy_access_point_update_priority(priority: u32) -> Call {
        Call::invoke(
            class::IPS_HTTP_PROXY_ACCESS_POINT,
            "UpdatePriority",
            &[&json!({ "Priority": priority })],
        )
    }

    /// `IPS_IEEE8021xSettings.SetCertificates(ServerCertificateIssuer, ClientCertificate)`; both values are
    /// endpoint-reference objects (`{"Address":…,"ReferenceParameters":{…}}`).
    pub fn ieee8021x_set_certificates(
        server_certificate_issuer: &Value,
        client_certificate: &Value,
    ) -> Call {
        Call::invoke(
            class::IPS_IEEE8021X_SETTINGS,
            "SetCertificates",
            &[&json!({
                "ServerCertificateIssuer": server_certificate_issuer,
                "ClientCertificate": client_certificate,
            })],
        )
    }
}

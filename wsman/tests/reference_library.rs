//! Our request builders produce the same bytes as the reference message library
//! (`@device-management-toolkit/wsman-messages`, run with Node from `tests/node`), call by call.
//!
//! Needs `node` on the PATH and the package installed: `npm ci --prefix tests/node` from the repo root.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use wsman::messages::{amt, cim, ips};
use wsman::{Call, EndpointReference, Selector};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the generator script with `params`; returns its steps.
fn reference_steps(params: &Value) -> Vec<Value> {
    let root = repo_root();
    let package = root.join("tests/node/node_modules/@device-management-toolkit/wsman-messages");
    assert!(
        package.is_dir(),
        "the reference WS-Man library is not installed: run `npm ci --prefix tests/node` in {}",
        root.display()
    );
    let output = Command::new("node")
        .arg(root.join("wsman/tests/node/reference_requests.js"))
        .arg(&root)
        .arg(params.to_string())
        .output()
        .expect("`node` must be installed to run the reference library");
    assert!(
        output.status.success(),
        "generator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("generator prints JSON")
}

fn params() -> Value {
    json!({
        "leafCert": "TEVBRg==", "rootCert": "Uk9PVA==", "preAdminHash": "0123456789abcdef0123456789abcdef",
        "mcNonce": "bWNub25jZQ==", "preSignature": "c2ln", "ccmAdminHash": "fedcba9876543210fedcba9876543210",
        "ccmSignature": "c2lnMg==", "userDigest": "dXNlcg==", "mainAdminDigest": "YWRtaW4=", "keyBlob": "S0VZ",
        "keyCert": "S0VZQ0VSVA==", "csr": "Q1NS", "now": 1_700_000_000u64
    })
}

fn message_id(xml: &str) -> String {
    let start = xml.find("<a:MessageID>").expect("MessageID") + "<a:MessageID>".len();
    let end = xml[start..].find('<').expect("end of MessageID");
    xml[start..start + end].to_string()
}

fn reference(class: &str, name: &str, value: &str) -> Value {
    json!({
        "Address": "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous",
        "ReferenceParameters": {
            "ResourceURI": wsman::catalog::resource_uri(class).expect("class"),
            "SelectorSet": { "Selector": [{ "_": value, "$": { "Name": name } }] }
        }
    })
}

const SAP0: &str = "Intel(r) AMT:Management Presence Server 0";

/// Our builder for a step of the generator (same parameters).
fn ours(name: &str, p: &Value) -> Option<Call> {
    let s = |k: &str| p[k].as_str().expect("string parameter").to_string();
    let (class, op) = name.split_once('.')?;
    let selector = |n: &str, v: &str| vec![Selector::new(n, v)];
    let get_selector: Option<(&str, &str)> = match class {
        "AMT_EthernetPortSettings" => Some(("InstanceID", "Intel(r) AMT Ethernet Port Settings 0")),
        "AMT_PublicKeyCertificate" => Some(("InstanceID", "Intel(r) AMT Certificate: Handle: 0")),
        "AMT_PublicPrivateKeyPair" => Some(("InstanceID", "Intel(r) AMT Key: Handle: 1")),
        "AMT_TLSSettingData" => Some(("InstanceID", "Intel(r) AMT 802.3 TLS Settings")),
        "AMT_ManagementPresenceRemoteSAP" => Some(("Name", SAP0)),
        "AMT_RemoteAccessPolicyRule" => Some(("PolicyRuleName", "Periodic")),
        "IPS_AlarmClockOccurrence" => Some(("InstanceID", "alarm1")),
        _ => None,
    };
    let tls = |enabled: bool| {
        json!({"AcceptNonSecureConnections": true, "ElementName": "Intel(r) AMT 802.3 TLS Settings", "Enabled": enabled,
            "InstanceID": "Intel(r) AMT 802.3 TLS Settings", "MutualAuthentication": false})
    };
    let binding = |rule: &str| {
        json!({"ManagedElement": reference("AMT_ManagementPresenceRemoteSAP", "Name", SAP0), "MpsType": 2, "OrderOfAccess": 0,
            "PolicySet": reference("AMT_RemoteAccessPolicyRule", "PolicyRuleName", rule)})
    };
    let binding_selector = |rule: &str| {
        let epr = |class: &str, n: &str, v: &str| EndpointReference {
            address: "/wsman".into(),
            resource_uri: wsman::catalog::resource_uri(class).expect("class"),
            selectors: vec![Selector::new(n, v)],
        };
        vec![
            Selector::reference(
                "ManagedElement",
                epr("AMT_ManagementPresenceRemoteSAP", "Name", SAP0),
            ),
            Selector::reference(
                "PolicySet",
                epr("AMT_RemoteAccessPolicyRule", "PolicyRuleName", rule),
            ),
        ]
    };
    let call = match (class, op) {
        (_, "Get") => match get_selector {
            Some((n, v)) => Call::get(class).with_selector(n, v),
            None => Call::get(class),
        },
        (_, "Enumerate") => Call::enumerate(class),
        (_, "Pull") => Call::pull(class, "__CONTEXT__"),
        ("IPS_HostBasedSetupService", "AddNextCertInChain.leaf" | "AddNextCertInChain.leaf2") => {
            ips::add_next_cert_in_chain(&s("leafCert"), true, false)
        }
        ("IPS_HostBasedSetupService", "AddNextCertInChain.root" | "AddNextCertInChain.root2") => {
            ips::add_next_cert_in_chain(&s("rootCert"), false, true)
        }
        ("IPS_HostBasedSetupService", "AdminSetup") => {
            ips::admin_setup(2, &s("preAdminHash"), &s("mcNonce"), 2, &s("preSignature"))
        }
        ("IPS_HostBasedSetupService", "Setup") => ips::setup(2, &s("ccmAdminHash")),
        ("IPS_HostBasedSetupService", "UpgradeClientToAdmin") => {
            ips::upgrade_client_to_admin(&s("mcNonce"), 2, &s("ccmSignature"))
        }
        ("AMT_AlarmClockService", "AddAlarm") => amt::add_alarm(&amt::AlarmTemplate {
            instance_id: "alarm1".into(),
            element_name: Some("alarm1".into()),
            start_time: time::macros::datetime!(2030-05-01 10:20:30.5 UTC),
            interval_minutes: Some(90),
            delete_on_completion: true,
        }),
        ("AMT_AlarmClockService", "Put") => Call::put(
            class,
            &json!({"ElementName": "Intel(r) AMT Alarm Clock Service"}),
        ),
        ("AMT_AuditLog", "ReadRecords") => amt::audit_log_read_records(1),
        ("AMT_AuthorizationService", "AddUserAclEntryEx") => Call::invoke(
            class,
            "AddUserAclEntryEx",
            &[
                &json!({"DigestUsername": "operator", "DigestPassword": s("userDigest"), "AccessPermission": 2, "Realms": [3, 4]}),
            ],
        ),
        ("AMT_AuthorizationService", "EnumerateUserAclEntries") => Call::invoke(
            class,
            "EnumerateUserAclEntries",
            &[&json!({"StartIndex": 1})],
        ),
        (
            "AMT_AuthorizationService",
            m @ ("GetAclEnabledState" | "GetUserAclEntryEx" | "RemoveUserAclEntry"),
        ) => Call::invoke(class, m, &[&json!({"Handle": 1})]),
        ("AMT_AuthorizationService", "UpdateUserAclEntryEx") => Call::invoke(
            class,
            "UpdateUserAclEntryEx",
            &[
                &json!({"Handle": 1, "DigestUsername": "operator", "DigestPassword": s("userDigest"), "AccessPermission": 2, "Realms": [5]}),
            ],
        ),
        ("AMT_AuthorizationService", "SetAclEnabledState") => Call::invoke(
            class,
            "SetAclEnabledState",
            &[&json!({"Handle": 1, "Enabled": true})],
        ),
        (
            "AMT_AuthorizationService",
            m @ ("GetAdminAclEntry" | "GetAdminAclEntryStatus" | "GetAdminNetAclEntryStatus"),
        ) => Call::invoke(class, m, &[&json!({})]),
        ("AMT_AuthorizationService", "SetAdminACLEntryEx") => {
            amt::set_admin_acl_entry_ex("admin", &s("mainAdminDigest"))
        }
        ("AMT_BootSettingData", "Put") => Call::put(
            class,
            &json!({"BIOSPause": false, "BIOSSetup": false, "BootMediaIndex": 0, "ConfigurationDataReset": false,
                "ElementName": "Intel(r) AMT Boot Configuration Settings", "EnforceSecureBoot": false, "FirmwareVerbosity": 0,
                "ForcedProgressEvents": false, "IDERBootDevice": 0, "InstanceID": "Intel(r) AMT:BootSettingData 0",
                "LockKeyboard": false, "LockPowerButton": false, "LockResetButton": false, "LockSleepButton": false,
                "ReflashBIOS": false, "UseIDER": false, "UseSOL": true, "UseSafeMode": false, "UserPasswordBypass": false,
                "SecureErase": false}),
        ),
        ("AMT_EnvironmentDetectionSettingData", "Put") => Call::put_selected(
            class,
            &json!({"DetectionAlgorithm": 0, "DetectionStrings": ["intranet.example.com", "corp.example.com"],
                "ElementName": "Intel(r) AMT Environment Detection Settings", "InstanceID": "Intel(r) AMT Environment Detection Settings"}),
            selector("InstanceID", "Intel(r) AMT Environment Detection Settings"),
        ),
        ("AMT_EthernetPortSettings", "Put") => Call::put_selected(
            class,
            &json!({"DHCPEnabled": true, "ElementName": "Intel(r) AMT Ethernet Port Settings",
                "InstanceID": "Intel(r) AMT Ethernet Port Settings 0", "IpSyncEnabled": true, "SharedStaticIp": false}),
            selector("InstanceID", "Intel(r) AMT Ethernet Port Settings 0"),
        ),
        ("AMT_EthernetPortSettings", "SetLinkPreference") => {
            amt::set_link_preference(1, 300, "Intel(r) AMT Ethernet Port Settings 1")
        }
        ("AMT_GeneralSettings", "Put") => Call::put(
            class,
            &json!({"AMTNetworkEnabled": 1, "DDNSPeriodicUpdateInterval": 1440, "DDNSTTL": 900,
                "DDNSUpdateByDHCPServerEnabled": true, "DDNSUpdateEnabled": false, "ElementName": "Intel(r) AMT: General Settings",
                "HostName": "renamed-by-library", "InstanceID": "Intel(r) AMT: General Settings", "PingResponseEnabled": true,
                "RmcpPingResponseEnabled": true, "SharedFQDN": true}),
        ),
        ("AMT_8021XProfile", "Put") => Call::put(
            class,
            &json!({"ActiveInS0": true, "ElementName": "Intel(r) AMT 802.1x Profile", "Enabled": false,
                "InstanceID": "Intel(r) AMT 802.1x Profile 0", "PxeTimeout": 0}),
        ),
        (
            "AMT_KerberosSettingData",
            m @ ("GetCredentialCacheState" | "SetCredentialCacheState"),
        ) => Call::invoke(class, m, &[]),
        ("AMT_MessageLog", "PositionToFirstRecord") => amt::message_log_position_to_first_record(),
        ("AMT_MessageLog", "GetRecords") => amt::message_log_get_records(1),
        ("AMT_PublicKeyManagementService", "AddTrustedRootCertificate") => {
            amt::add_trusted_root_certificate(&s("rootCert"))
        }
        ("AMT_PublicKeyManagementService", "AddKey") => amt::add_key(&s("keyBlob")),
        ("AMT_PublicKeyManagementService", "AddCertificate") => amt::add_certificate(&s("keyCert")),
        ("AMT_PublicKeyManagementService", "GenerateKeyPair") => amt::generate_key_pair(0, 2048),
        ("AMT_PublicKeyManagementService", "GeneratePKCS10RequestEx") => {
            amt::generate_pkcs10_request_ex(&json!({
            "KeyPair": reference("AMT_PublicPrivateKeyPair", "InstanceID", "Intel(r) AMT Key: Handle: 0"),
            "SigningAlgorithm": 1, "NullSignedCertificateRequest": s("csr")}))
        }
        ("AMT_PublicKeyCertificate", "Put") => Call::put(
            class,
            &json!({"ElementName": "Intel(r) AMT Certificate", "InstanceID": "Intel(r) AMT Certificate: Handle: 0",
                "TrustedRootCertficate": true}),
        ),
        ("AMT_TLSCredentialContext", "Create") => {
            amt::tls_credential_context_create("Intel(r) AMT Certificate: Handle: 1")
        }
        ("AMT_TLSSettingData", "Put.enable") => Call::put_selected(
            class,
            &tls(true),
            selector("InstanceID", "Intel(r) AMT 802.3 TLS Settings"),
        ),
        ("AMT_TLSSettingData", "Put.disable") => Call::put_selected(
            class,
            &tls(false),
            selector("InstanceID", "Intel(r) AMT 802.3 TLS Settings"),
        ),
        ("AMT_TLSCredentialContext", "Delete") => {
            Call::delete(class, selector("InstanceID", "unused"))
        }
        ("AMT_RemoteAccessService", "AddMPS") => amt::add_mp_server(&amt::MpServer {
            access_info: "mps.example.com".into(),
            info_format: 201,
            port: 4433,
            auth_method: 2,
            username: "ciraUser".into(),
            password: "Cira-P@ss1".into(),
            common_name: "mps.example.com".into(),
        }),
        ("AMT_RemoteAccessService", "AddRemoteAccessPolicyRule.2") => {
            amt::add_remote_access_policy_rule(
                &amt::RemoteAccessPolicyRule {
                    trigger: 2,
                    tunnel_life_time: 0,
                    extended_data: "AAAAAAAAABk=".into(),
                },
                &Selector::new("Name", SAP0),
            )
        }
        ("AMT_RemoteAccessService", "AddRemoteAccessPolicyRule.0") => {
            amt::add_remote_access_policy_rule(
                &amt::RemoteAccessPolicyRule {
                    trigger: 0,
                    tunnel_life_time: 300,
                    extended_data: String::new(),
                },
                &Selector::new("Name", SAP0),
            )
        }
        ("AMT_RemoteAccessPolicyRule", "Put") => Call::put(
            class,
            &json!({"CreationClassName": "AMT_RemoteAccessPolicyRule", "ElementName": "Intel(r) AMT:Remote Access Policy",
                "ExtendedData": "AAAAAAAAAB4=", "PolicyRuleName": "Periodic", "SystemCreationClassName": "CIM_ComputerSystem",
                "SystemName": "Intel(r) AMT", "Trigger": 2, "TunnelLifeTime": 0}),
        ),
        ("AMT_RemoteAccessPolicyAppliesToMPS", "Put") => Call::put(class, &binding("Periodic")),
        ("AMT_RemoteAccessPolicyAppliesToMPS", "Create") => {
            Call::create(class, &binding("User Initiated"))
        }
        ("AMT_RemoteAccessPolicyAppliesToMPS", "Delete") => {
            Call::delete(class, binding_selector("User Initiated"))
        }
        ("AMT_UserInitiatedConnectionService", "RequestStateChange") => {
            Call::request_state_change(class, 32771)
        }
        ("AMT_MPSUsernamePassword", "Put") => Call::put(
            class,
            &json!({"InstanceID": "Intel(r) AMT:MPS Username Password 0", "RemoteID": "ciraUser", "Secret": "Cira-P@ss1"}),
        ),
        ("AMT_RedirectionService", "RequestStateChange") => {
            Call::request_state_change(class, 32771)
        }
        ("AMT_RedirectionService", "Put") => Call::put(
            class,
            &json!({"CreationClassName": "AMT_RedirectionService", "ElementName": "Intel(r) AMT Redirection Service",
                "EnabledState": 32771, "ListenerEnabled": true, "Name": "Intel(r) AMT Redirection Service",
                "SystemCreationClassName": "CIM_ComputerSystem", "SystemName": "Intel(r) AMT"}),
        ),
        ("AMT_TimeSynchronizationService", "GetLowAccuracyTimeSynch") => {
            amt::get_low_accuracy_time_synch()
        }
        ("AMT_TimeSynchronizationService", "SetHighAccuracyTimeSynch") => {
            let now = p["now"].as_u64().expect("now");
            amt::set_high_accuracy_time_synch(now, now, now)
        }
        ("AMT_WiFiPortConfigurationService", "Put") => Call::put(
            class,
            &json!({"CreationClassName": "AMT_WiFiPortConfigurationService", "ElementName": "Intel(r) AMT WiFiPort Configuration Service",
                "EnabledState": 5, "Name": "Intel(r) AMT WiFi Port Configuration Service", "SystemCreationClassName": "CIM_ComputerSystem",
                "SystemName": "Intel(r) AMT", "localProfileSynchronizationEnabled": 1}),
        ),
        ("AMT_WiFiPortConfigurationService", "AddWiFiSettings") => amt::add_wifi_settings(
            Some(
                &json!({"ElementName": "home", "InstanceID": "Intel(r) AMT:WiFi Endpoint Settings home", "SSID": "home-net",
                "Priority": 1, "AuthenticationMethod": 6, "EncryptionMethod": 4, "PSKPassPhrase": "P&ss<word>\"1'"}),
            ),
            &Selector::new("InstanceID", "WiFi Endpoint 0"),
            None,
            None,
            None,
        ),
        ("CIM_BootConfigSetting", "ChangeBootOrder.pxe") => {
            cim::change_boot_order(Some("Intel(r) AMT: Force PXE Boot"))
        }
        ("CIM_BootConfigSetting", "ChangeBootOrder.clear") => cim::change_boot_order(None),
        ("CIM_BootService", "SetBootConfigRole") => {
            cim::set_boot_config_role("Intel(r) AMT: Boot Configuration 0", 1)
        }
        ("CIM_BootService", "RequestStateChange") => Call::request_state_change(class, 32769),
        ("CIM_KVMRedirectionSAP", "RequestStateChange") => Call::request_state_change(class, 2),
        ("CIM_PowerManagementService", "RequestPowerStateChange.off") => {
            cim::request_power_state_change(8)
        }
        ("CIM_PowerManagementService", "RequestPowerStateChange.on") => {
            cim::request_power_state_change(2)
        }
        ("CIM_WiFiPort", "RequestStateChange") => Call::request_state_change(class, 32769),
        ("CIM_WiFiEndpointSettings", "Delete") => Call::delete(
            class,
            selector("InstanceID", "Intel(r) AMT:WiFi Endpoint Settings home"),
        ),
        ("IPS_AlarmClockOccurrence", "Delete") => {
            Call::delete(class, selector("InstanceID", "alarm1"))
        }
        ("IPS_IEEE8021xSettings", "Put") => Call::put(
            class,
            &json!({"AvailableInS0": true, "ElementName": "Intel(r) AMT: 8021X Settings", "Enabled": 3,
                "InstanceID": "Intel(r) AMT: 8021X Settings", "PxeTimeout": 120}),
        ),
        ("IPS_IEEE8021xSettings", "SetCertificates") => ips::ieee8021x_set_certificates(
            &reference(
                "AMT_PublicKeyCertificate",
                "InstanceID",
                "Intel(r) AMT Certificate: Handle: 0",
            ),
            &reference(
                "AMT_PublicKeyCertificate",
                "InstanceID",
                "Intel(r) AMT Certificate: Handle: 1",
            ),
        ),
        ("IPS_OptInService", "StartOptIn" | "StartOptIn.again") => ips::start_opt_in(),
        ("IPS_OptInService", "CancelOptIn") => ips::cancel_opt_in(),
        ("IPS_OptInService", "SendOptInCode") => ips::send_opt_in_code(12),
        ("IPS_OptInService", "Put") => Call::put(
            class,
            &json!({"CanModifyOptInPolicy": 0, "CreationClassName": "IPS_OptInService", "ElementName": "Intel(r) AMT OptIn Service",
                "Name": "Intel(r) AMT OptIn Service", "OptInCodeTimeout": 120, "OptInDisplayTimeout": 300,
                "OptInRequired": 4_294_967_295u64, "SystemCreationClassName": "CIM_ComputerSystem", "SystemName": "Intel(r) AMT"}),
        ),
        ("IPS_PowerManagementService", "RequestOSPowerSavingStateChange") => {
            ips::request_os_power_saving_state_change(2)
        }
        ("IPS_HTTPProxyService", "AddProxyAccessPoint") => {
            ips::add_proxy_access_point("proxy.example.com", 201, 8080, "example.com")
        }
        ("IPS_HTTPProxyAccessPoint", "UpdatePriority") => {
            ips::http_proxy_access_point_update_priority(1)
        }
        ("IPS_HTTPProxyAccessPoint", "Delete") => Call::delete(
            class,
            selector("Name", "Intel(r) ME:HTTP Proxy Access Point 0"),
        ),
        ("IPS_KVMRedirectionSettingData", "Put") => Call::put(
            class,
            &json!({"BackToBackFbMode": false, "DefaultScreen": 1, "ElementName": "Intel(r) KVM Redirection Settings",
                "EnabledByMEBx": true, "InstanceID": "Intel(r) KVM Redirection Settings", "Is5900PortEnabled": false,
                "OptInPolicy": true, "OptInPolicyTimeout": 300, "SessionTimeout": 3}),
        ),
        ("AMT_RemoteAccessPolicyRule", "Delete") => {
            Call::delete(class, selector("PolicyRuleName", "User Initiated"))
        }
        ("AMT_RemoteAccessPolicyRule", "Delete.periodic") => {
            Call::delete(class, selector("PolicyRuleName", "Periodic"))
        }
        ("AMT_ManagementPresenceRemoteSAP", "Delete") => {
            Call::delete(class, selector("Name", SAP0))
        }
        ("AMT_PublicPrivateKeyPair", "Delete") => {
            Call::delete(class, selector("InstanceID", "Intel(r) AMT Key: Handle: 1"))
        }
        ("AMT_PublicKeyCertificate", "Delete") => Call::delete(
            class,
            selector("InstanceID", "Intel(r) AMT Certificate: Handle: 0"),
        ),
        ("AMT_SetupAndConfigurationService", "Put") => Call::put(
            class,
            &json!({"CreationClassName": "AMT_SetupAndConfigurationService", "ElementName": "Intel(r) AMT Setup and Configuration Service",
                "Name": "Intel(r) AMT Setup and Configuration Service", "SystemCreationClassName": "CIM_ComputerSystem",
                "SystemName": "Intel(r) AMT"}),
        ),
        ("AMT_SetupAndConfigurationService", "CommitChanges") => amt::commit_changes(),
        ("AMT_SetupAndConfigurationService", "GetUuid") => amt::get_uuid(),
        ("AMT_SetupAndConfigurationService", "SetMEBXPassword") => {
            amt::set_mebx_password("Mebx-P@ss1")
        }
        ("AMT_SetupAndConfigurationService", "Unprovision") => amt::unprovision(1),
        _ => return None,
    };
    Some(call)
}

#[test]
fn every_request_matches_the_reference_library_byte_for_byte() {
    let p = params();
    let steps = reference_steps(&p);
    assert!(
        steps.len() > 250,
        "generator produced {} steps",
        steps.len()
    );
    let mut missing = Vec::new();
    let mut different = Vec::new();
    for step in &steps {
        let name = step["name"].as_str().expect("name");
        let theirs = step["xml"].as_str().expect("xml");
        let Some(call) = ours(name, &p) else {
            missing.push(name.to_string());
            continue;
        };
        let mine = call.to_xml(message_id(theirs));
        if mine != theirs {
            different.push(format!("{name}\n  library: {theirs}\n  ours:    {mine}"));
        }
    }
    assert!(missing.is_empty(), "no builder mapped for: {missing:?}");
    assert!(
        different.is_empty(),
        "{} requests differ:\n{}",
        different.len(),
        different.join("\n")
    );
}

//! Names and URIs of WS-Man: schema bases, actions, and the classes MPS, RPS and the simulator use.

/// Resource URI base of Intel AMT classes (`AMT_*`).
pub const AMT_SCHEMA: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";
/// Resource URI base of DMTF CIM classes (`CIM_*`).
pub const CIM_SCHEMA: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
/// Resource URI base of Intel platform-services classes (`IPS_*`).
pub const IPS_SCHEMA: &str = "http://intel.com/wbem/wscim/1/ips-schema/1/";

/// SOAP 1.2 envelope namespace.
pub const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing (2004/08) namespace.
pub const NS_ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
/// DMTF WS-Management namespace.
pub const NS_WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
/// WS-Enumeration namespace.
pub const NS_ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
/// WS-Transfer namespace.
pub const NS_TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
/// CIM common types (`Datetime`, `Interval`).
pub const NS_CIM_COMMON: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";
/// The anonymous WS-Addressing reply address.
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// Action URIs of the generic verbs and their answers.
pub mod action {
    pub const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
    pub const PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
    pub const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
    pub const DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
    pub const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    pub const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    pub const RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
    pub const GET_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse";
    pub const PUT_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse";
    pub const CREATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse";
    pub const DELETE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse";
    pub const ENUMERATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse";
    pub const PULL_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse";
    pub const RELEASE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse";
    /// Action of WS-Addressing faults (DestinationUnreachable, ActionNotSupported, …).
    pub const ADDRESSING_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
    /// Action of WS-Management faults (InvalidSelectors, SchemaValidationError, …).
    pub const WSMAN_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
    /// Action of WS-Enumeration faults (InvalidEnumerationContext).
    pub const ENUMERATION_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";
}

/// The resource URI of a class, from its prefix (`AMT_`, `CIM_`, `IPS_`). A string that already is a
/// URI is returned unchanged; any other name is `None`.
pub fn resource_uri(class: &str) -> Option<String> {
    if class.starts_with("http://") || class.starts_with("https://") {
        return Some(class.to_string());
    }
    let base = if class.starts_with("AMT_") {
        AMT_SCHEMA
    } else if class.starts_with("CIM_") {
        CIM_SCHEMA
    } else if class.starts_with("IPS_") {
        IPS_SCHEMA
    } else {
        return None;
    };
    Some(format!("{base}{class}"))
}

/// The class name at the end of a resource URI (`…/AMT_GeneralSettings` → `AMT_GeneralSettings`).
pub fn class_name(resource_uri: &str) -> &str {
    resource_uri.rsplit('/').next().unwrap_or(resource_uri)
}

/// Whether a resource URI lies in one of the three schemas AMT serves.
pub fn is_known_schema(resource_uri: &str) -> bool {
    [AMT_SCHEMA, CIM_SCHEMA, IPS_SCHEMA].iter().any(|base| {
        resource_uri
            .strip_prefix(base)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
    })
}

/// Action URI of a class method: `<resource URI>/<Method>`.
pub fn method_action(class: &str, method: &str) -> Option<String> {
    resource_uri(class).map(|uri| format!("{uri}/{method}"))
}

/// The action URI AMT puts on the answer to `request_action`: `GetResponse`, `PullResponse`, …, and
/// `<method action>Response` for class methods.
pub fn response_action(request_action: &str) -> String {
    format!("{request_action}Response")
}

/// Class names used by MPS, RPS and the simulator.
pub mod class {
    // Intel AMT
    pub const AMT_ALARM_CLOCK_SERVICE: &str = "AMT_AlarmClockService";
    pub const AMT_AUDIT_LOG: &str = "AMT_AuditLog";
    pub const AMT_AUTHORIZATION_SERVICE: &str = "AMT_AuthorizationService";
    pub const AMT_BOOT_CAPABILITIES: &str = "AMT_BootCapabilities";
    pub const AMT_BOOT_SETTING_DATA: &str = "AMT_BootSettingData";
    pub const AMT_CRYPTOGRAPHIC_CAPABILITIES: &str = "AMT_CryptographicCapabilities";
    pub const AMT_ENVIRONMENT_DETECTION_SETTING_DATA: &str = "AMT_EnvironmentDetectionSettingData";
    pub const AMT_ETHERNET_PORT_SETTINGS: &str = "AMT_EthernetPortSettings";
    pub const AMT_GENERAL_SETTINGS: &str = "AMT_GeneralSettings";
    pub const AMT_IEEE8021X_CREDENTIAL_CONTEXT: &str = "AMT_8021xCredentialContext";
    pub const AMT_IEEE8021X_PROFILE: &str = "AMT_8021XProfile";
    pub const AMT_KERBEROS_SETTING_DATA: &str = "AMT_KerberosSettingData";
    pub const AMT_MANAGEMENT_PRESENCE_REMOTE_SAP: &str = "AMT_ManagementPresenceRemoteSAP";
    pub const AMT_MESSAGE_LOG: &str = "AMT_MessageLog";
    pub const AMT_MPS_USERNAME_PASSWORD: &str = "AMT_MPSUsernamePassword";
    pub const AMT_PUBLIC_KEY_CERTIFICATE: &str = "AMT_PublicKeyCertificate";
    pub const AMT_PUBLIC_KEY_MANAGEMENT_SERVICE: &str = "AMT_PublicKeyManagementService";
    pub const AMT_PUBLIC_PRIVATE_KEY_PAIR: &str = "AMT_PublicPrivateKeyPair";
    pub const AMT_REDIRECTION_SERVICE: &str = "AMT_RedirectionService";
    pub const AMT_REMOTE_ACCESS_CAPABILITIES: &str = "AMT_RemoteAccessCapabilities";
    pub const AMT_REMOTE_ACCESS_POLICY_APPLIES_TO_MPS: &str = "AMT_RemoteAccessPolicyAppliesToMPS";
    pub const AMT_REMOTE_ACCESS_POLICY_RULE: &str = "AMT_RemoteAccessPolicyRule";
    pub const AMT_REMOTE_ACCESS_SERVICE: &str = "AMT_RemoteAccessService";
    pub const AMT_SETUP_AND_CONFIGURATION_SERVICE: &str = "AMT_SetupAndConfigurationService";
    pub const AMT_TIME_SYNCHRONIZATION_SERVICE: &str = "AMT_TimeSynchronizationService";
    pub const AMT_TLS_CREDENTIAL_CONTEXT: &str = "AMT_TLSCredentialContext";
    pub const AMT_TLS_PROTOCOL_ENDPOINT_COLLECTION: &str = "AMT_TLSProtocolEndpointCollection";
    pub const AMT_TLS_SETTING_DATA: &str = "AMT_TLSSettingData";
    pub const AMT_USER_INITIATED_CONNECTION_SERVICE: &str = "AMT_UserInitiatedConnectionService";
    pub const AMT_WIFI_PORT_CONFIGURATION_SERVICE: &str = "AMT_WiFiPortConfigurationService";
    // DMTF CIM
    pub const CIM_ASSOCIATED_POWER_MANAGEMENT_SERVICE: &str =
        "CIM_AssociatedPowerManagementService";
    pub const CIM_BIOS_ELEMENT: &str = "CIM_BIOSElement";
    pub const CIM_BOOT_CONFIG_SETTING: &str = "CIM_BootConfigSetting";
    pub const CIM_BOOT_SERVICE: &str = "CIM_BootService";
    pub const CIM_BOOT_SOURCE_SETTING: &str = "CIM_BootSourceSetting";
    pub const CIM_CARD: &str = "CIM_Card";
    pub const CIM_CHASSIS: &str = "CIM_Chassis";
    pub const CIM_CHIP: &str = "CIM_Chip";
    pub const CIM_COMPUTER_SYSTEM: &str = "CIM_ComputerSystem";
    pub const CIM_COMPUTER_SYSTEM_PACKAGE: &str = "CIM_ComputerSystemPackage";
    pub const CIM_CONCRETE_DEPENDENCY: &str = "CIM_ConcreteDependency";
    pub const CIM_CREDENTIAL_CONTEXT: &str = "CIM_CredentialContext";
    pub const CIM_IEEE8021X_SETTINGS: &str = "CIM_IEEE8021xSettings";
    pub const CIM_KVM_REDIRECTION_SAP: &str = "CIM_KVMRedirectionSAP";
    pub const CIM_MEDIA_ACCESS_DEVICE: &str = "CIM_MediaAccessDevice";
    pub const CIM_PHYSICAL_MEMORY: &str = "CIM_PhysicalMemory";
    pub const CIM_PHYSICAL_PACKAGE: &str = "CIM_PhysicalPackage";
    pub const CIM_POWER_MANAGEMENT_SERVICE: &str = "CIM_PowerManagementService";
    pub const CIM_PROCESSOR: &str = "CIM_Processor";
    pub const CIM_SERVICE_AVAILABLE_TO_ELEMENT: &str = "CIM_ServiceAvailableToElement";
    pub const CIM_SOFTWARE_IDENTITY: &str = "CIM_SoftwareIdentity";
    pub const CIM_SYSTEM_PACKAGING: &str = "CIM_SystemPackaging";
    pub const CIM_WIFI_ENDPOINT: &str = "CIM_WiFiEndpoint";
    pub const CIM_WIFI_ENDPOINT_SETTINGS: &str = "CIM_WiFiEndpointSettings";
    pub const CIM_WIFI_PORT: &str = "CIM_WiFiPort";
    // Intel platform services
    pub const IPS_ALARM_CLOCK_OCCURRENCE: &str = "IPS_AlarmClockOccurrence";
    pub const IPS_HOST_BASED_SETUP_SERVICE: &str = "IPS_HostBasedSetupService";
    pub const IPS_HTTP_PROXY_ACCESS_POINT: &str = "IPS_HTTPProxyAccessPoint";
    pub const IPS_HTTP_PROXY_SERVICE: &str = "IPS_HTTPProxyService";
    pub const IPS_IEEE8021X_CREDENTIAL_CONTEXT: &str = "IPS_8021xCredentialContext";
    pub const IPS_IEEE8021X_SETTINGS: &str = "IPS_IEEE8021xSettings";
    pub const IPS_KVM_REDIRECTION_SETTING_DATA: &str = "IPS_KVMRedirectionSettingData";
    pub const IPS_OPT_IN_SERVICE: &str = "IPS_OptInService";
    pub const IPS_POWER_MANAGEMENT_SERVICE: &str = "IPS_PowerManagementService";
    pub const IPS_SCREEN_SETTING_DATA: &str = "IPS_ScreenSettingData";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_from_class_prefixes() {
        assert_eq!(
            resource_uri(class::AMT_GENERAL_SETTINGS).as_deref(),
            Some("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings")
        );
        assert_eq!(
            resource_uri("CIM_Chassis").as_deref(),
            Some("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Chassis")
        );
        assert_eq!(
            resource_uri("IPS_OptInService").as_deref(),
            Some("http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService")
        );
        assert_eq!(resource_uri("Win32_Service"), None);
        assert_eq!(
            class_name("http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"),
            "IPS_OptInService"
        );
        assert!(is_known_schema(
            "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"
        ));
        assert!(!is_known_schema("http://example.com/IPS_OptInService"));
        assert_eq!(
            method_action("IPS_HostBasedSetupService", "Setup").as_deref(),
            Some("http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService/Setup")
        );
        assert_eq!(response_action(action::GET), action::GET_RESPONSE);
    }
}

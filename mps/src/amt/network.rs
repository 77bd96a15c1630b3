//! Network settings (the spec's P2 routes): wired and wireless AMT_EthernetPortSettings, 802.1X,
//! WiFi radio state, profile sync and WiFi profiles, mapped to the reference's (and Console's)
//! JSON shapes. Profile passwords are written to AMT and never read back or logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use wsman::messages::amt::{add_wifi_settings, set_link_preference};
use wsman::{Call, Selector};

use super::tables::amt_status;
use super::{Amt, AmtRequest, Failure, as_list, num, pulled, truthy};
use crate::rest::errors::{BAD_REQUEST, NOT_IMPLEMENTED, api_error};
use crate::rest::validate::{as_bool, as_i64};

const WIRED_PORT: &str = "Intel(r) AMT Ethernet Port Settings 0";
const WIRELESS_PORT: &str = "Intel(r) AMT Ethernet Port Settings 1";
const USER_SETTINGS_PREFIX: &str = "Intel(r) AMT:WiFi Endpoint User Settings";
const PROFILE_PREFIX: &str = "Intel(r) AMT:WiFi Endpoint Settings ";

fn name_of(v: &Value, table: &[(i64, &str)]) -> Value {
    num(v)
        .and_then(|n| table.iter().find(|(k, _)| *k == n))
        .map_or(Value::String(String::new()), |(_, s)| (*s).into())
}

const LINK_POLICY: &[(i64, &str)] = &[(1, "S0 AC"), (14, "Sx AC"), (16, "S0 DC"), (224, "Sx DC")];
const LINK_OWNER: &[(i64, &str)] = &[(1, "Management Engine"), (2, "Host")];
const PROTECTION: &[(i64, &str)] = &[(0, "Override"), (1, "None"), (2, "Passive"), (3, "High")];
const CONNECTION_TYPE: &[(i64, &str)] = &[
    (0, "Integrated LAN NIC"),
    (1, "Discrete LAN NIC"),
    (2, "LAN via Thunderbolt Dock"),
    (3, "Wireless LAN"),
];
const NIC_MEDIUM: &[(i64, &str)] = &[(0, "SMBUS"), (1, "PCIe")];
const IEEE8021X_ENABLED: &[(i64, &str)] = &[
    (2, "EnabledWithCertificates"),
    (3, "Disabled"),
    (6, "EnabledWithoutCertificates"),
];
pub const AUTH_METHOD: &[(i64, &str)] = &[
    (1, "Other"),
    (2, "OpenSystem"),
    (3, "SharedKey"),
    (4, "WPAPSK"),
    (5, "WPAIEEE8021x"),
    (6, "WPA2PSK"),
    (7, "WPA2IEEE8021x"),
    (32768, "WPA3SAE"),
    (32769, "WPA3OWE"),
];
pub const ENCRYPTION: &[(i64, &str)] = &[
    (1, "Other"),
    (2, "WEP"),
    (3, "TKIP"),
    (4, "CCMP"),
    (5, "None"),
];
const BSS_TYPE: &[(i64, &str)] = &[(0, "Unknown"), (2, "Independent"), (3, "Infrastructure")];
const WIFI_STATE: &[(i64, &str)] = &[
    (3, "WifiDisabled"),
    (32768, "WifiEnabledS0"),
    (32769, "WifiEnabledS0SxAC"),
];

fn text(v: &Value) -> Value {
    Value::String(wsman::parse::value_text(v).unwrap_or_default())
}

/// The fields every interface shares (Console's convertToNetworkInfo).
fn network_info(p: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("elementName".into(), text(&p["ElementName"]));
    m.insert("instanceID".into(), text(&p["InstanceID"]));
    m.insert("vlanTag".into(), num(&p["VLANTag"]).unwrap_or(0).into());
    m.insert("sharedMAC".into(), truthy(&p["SharedMAC"]).into());
    m.insert("macAddress".into(), text(&p["MACAddress"]));
    m.insert("linkIsUp".into(), truthy(&p["LinkIsUp"]).into());
    let policy: Vec<Value> = as_list(&p["LinkPolicy"])
        .iter()
        .map(|v| match name_of(v, LINK_POLICY) {
            Value::String(s) if s.is_empty() => "Unknown".into(),
            other => other,
        })
        .collect();
    m.insert("linkPolicy".into(), Value::Array(policy));
    m.insert("sharedStaticIP".into(), truthy(&p["SharedStaticIp"]).into());
    m.insert(
        "sharedDynamicIP".into(),
        truthy(&p["SharedDynamicIP"]).into(),
    );
    m.insert("ipSyncEnabled".into(), truthy(&p["IpSyncEnabled"]).into());
    m.insert("dhcpEnabled".into(), truthy(&p["DHCPEnabled"]).into());
    for (k, f) in [
        ("ipAddress", "IPAddress"),
        ("subnetMask", "SubnetMask"),
        ("defaultGateway", "DefaultGateway"),
        ("primaryDNS", "PrimaryDNS"),
        ("secondaryDNS", "SecondaryDNS"),
    ] {
        m.insert(k.into(), text(&p[f]));
    }
    if let Some(n) = num(&p["ConsoleTcpMaxRetransmissions"]).filter(|n| *n != 0) {
        m.insert("consoleTCPMaxRetransmissions".into(), n.into());
    }
    m.insert(
        "physicalConnectionType".into(),
        name_of(&p["PhysicalConnectionType"], CONNECTION_TYPE),
    );
    m.insert(
        "physicalNICMedium".into(),
        name_of(&p["PhysicalNicMedium"], NIC_MEDIUM),
    );
    m
}

async fn ports(amt: &Amt<'_>) -> Result<(Option<Value>, Option<Value>), Failure> {
    let env = amt.enum_pull("AMT_EthernetPortSettings").await?;
    let items = pulled(&env, "AMT_EthernetPortSettings");
    let find = |id: &str| {
        items
            .iter()
            .find(|p| p["InstanceID"].as_str().is_some_and(|s| s.contains(id)))
            .cloned()
    };
    Ok((find(WIRED_PORT), find(WIRELESS_PORT)))
}

async fn wired_info(amt: &Amt<'_>, port: &Value) -> Value {
    let ieee = amt.get("IPS_IEEE8021xSettings").await.ok();
    let s = ieee
        .as_ref()
        .map_or(Value::Null, |e| e["Body"]["IPS_IEEE8021xSettings"].clone());
    let mut m = network_info(port);
    m.insert(
        "ieee8021x".into(),
        json!({
            "enabled": name_of(&s["Enabled"], IEEE8021X_ENABLED),
            "availableInS0": truthy(&s["AvailableInS0"]),
            "pxeTimeout": num(&s["PxeTimeout"]).unwrap_or(0),
        }),
    );
    Value::Object(m)
}

fn profiles(env: &Value) -> Vec<Value> {
    pulled(env, "CIM_WiFiEndpointSettings")
        .into_iter()
        .filter(|s| {
            s["InstanceID"]
                .as_str()
                .is_some_and(|id| !id.is_empty() && !id.starts_with(USER_SETTINGS_PREFIX))
        })
        .collect()
}

async fn wireless_info(amt: &Amt<'_>, port: &Value) -> Result<Value, Failure> {
    let settings = amt.enum_pull("CIM_WiFiEndpointSettings").await?;
    let ieee = amt.enum_pull("CIM_IEEE8021xSettings").await.ok();
    let service = amt.get("AMT_WiFiPortConfigurationService").await.ok();
    let networks: Vec<Value> = profiles(&settings)
        .iter()
        .map(|s| {
            json!({
                "elementName": text(&s["ElementName"]),
                "ssid": text(&s["SSID"]),
                "authenticationMethod": name_of(&s["AuthenticationMethod"], AUTH_METHOD),
                "encryptionMethod": name_of(&s["EncryptionMethod"], ENCRYPTION),
                "priority": num(&s["Priority"]).unwrap_or(0),
                "bsstype": name_of(&s["BSSType"], BSS_TYPE),
            })
        })
        .collect();
    // Credentials (password, PSK, PAC) are deliberately left out of this read.
    let ieee_list: Vec<Value> = ieee
        .as_ref()
        .map(|e| pulled(e, "CIM_IEEE8021xSettings"))
        .unwrap_or_default()
        .iter()
        .map(|s| {
            json!({
                "authenticationProtocol": num(&s["AuthenticationProtocol"]).unwrap_or(0),
                "roamingIdentity": text(&s["RoamingIdentity"]),
                "serverCertificateName": text(&s["ServerCertificateName"]),
                "serverCertificateNameComparison": num(&s["ServerCertificateNameComparison"]).unwrap_or(0),
                "username": text(&s["Username"]),
                "domain": text(&s["Domain"]),
            })
        })
        .collect();
    let svc = service.as_ref().map_or(Value::Null, |s| {
        s["Body"]["AMT_WiFiPortConfigurationService"].clone()
    });
    let mut m = network_info(port);
    m.insert(
        "linkPreference".into(),
        name_of(&port["LinkPreference"], LINK_OWNER),
    );
    m.insert(
        "linkControl".into(),
        name_of(&port["LinkControl"], LINK_OWNER),
    );
    m.insert(
        "wlanLinkProtectionLevel".into(),
        name_of(&port["WLANLinkProtectionLevel"], PROTECTION),
    );
    m.insert("wifiNetworks".into(), Value::Array(networks));
    m.insert("ieee8021xSettings".into(), Value::Array(ieee_list));
    m.insert(
        "wifiPortConfigService".into(),
        json!({
            "requestedState": num(&svc["RequestedState"]).unwrap_or(0),
            "enabledState": num(&svc["EnabledState"]).unwrap_or(0),
            "healthState": num(&svc["HealthState"]).unwrap_or(0),
            "elementName": text(&svc["ElementName"]),
            "systemCreationClassName": text(&svc["SystemCreationClassName"]),
            "systemName": text(&svc["SystemName"]),
            "creationClassName": text(&svc["CreationClassName"]),
            "name": text(&svc["Name"]),
            "localProfileSynchronizationEnabled": num(&svc["localProfileSynchronizationEnabled"]).unwrap_or(0),
            "lastConnectedSsidUnderMeControl": text(&svc["LastConnectedSsidUnderMeControl"]),
            "noHostCsmeSoftwarePolicy": num(&svc["NoHostCsmeSoftwarePolicy"]).unwrap_or(0),
            "uefiWiFiProfileShareEnabled": truthy(&svc["UEFIWiFiProfileShareEnabled"]),
        }),
    );
    Ok(Value::Object(m))
}

fn settings_not_found(guid: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "Network Settings not found",
        format!("guid : {guid}"),
    )
}

pub async fn get_all(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let (wired, wireless) = ports(amt).await?;
        if wired.is_none() && wireless.is_none() {
            return Ok(None);
        }
        let wired = match &wired {
            Some(p) => wired_info(amt, p).await,
            None => Value::Null,
        };
        let wireless = match &wireless {
            Some(p) => wireless_info(amt, p).await?,
            None => Value::Null,
        };
        Ok::<_, Failure>(Some(json!({ "wired": wired, "wireless": wireless })))
    };
    match run.await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => settings_not_found(guid),
        Err(f) => f.respond("Network Settings", guid),
    }
}

pub async fn get_wired(amt: &Amt<'_>, guid: &str) -> Response {
    match ports(amt).await {
        Ok((Some(p), _)) => Json(wired_info(amt, &p).await).into_response(),
        Ok((None, _)) => settings_not_found(guid),
        Err(f) => f.respond("Wired Network Settings", guid),
    }
}

/// The DHCP / static-IP combination rules (the reference's validateWiredNetworkConfig).
fn wired_rule_error(b: &Map<String, Value>) -> Option<String> {
    let dhcp = b.get("dhcpEnabled").is_some_and(|v| as_bool(Some(v)));
    let sync = b.get("ipSyncEnabled").is_some_and(|v| as_bool(Some(v)));
    let given = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let static_ip = [
        "ipAddress",
        "subnetMask",
        "defaultGateway",
        "primaryDNS",
        "secondaryDNS",
    ]
    .iter()
    .any(|k| given(k));
    if dhcp && static_ip {
        return Some("cannot specify static IP settings when DHCP is enabled".into());
    }
    if sync && static_ip {
        return Some("cannot specify static IP settings when IP sync is enabled".into());
    }
    if !dhcp && !sync && !static_ip {
        return Some("must enable DHCP, enable IP sync, or provide static IP settings".into());
    }
    if !dhcp && static_ip {
        for k in ["ipAddress", "subnetMask", "defaultGateway", "primaryDNS"] {
            if !given(k) {
                return Some(format!("{k} is required for static IP configuration"));
            }
        }
    }
    None
}

pub async fn patch_wired(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let b = &req.body;
    if b.get("ieee8021x").is_some_and(|v| !v.is_null()) {
        return api_error(
            StatusCode::NOT_IMPLEMENTED,
            NOT_IMPLEMENTED,
            "Wired 802.1X configuration is not yet supported",
        );
    }
    if let Some(msg) = wired_rule_error(b) {
        return api_error(StatusCode::BAD_REQUEST, BAD_REQUEST, msg);
    }
    let run = async {
        let (Some(current), _) = ports(amt).await? else {
            return Ok(false);
        };
        let keep = |k: &str| current[k].clone();
        let mut p = Map::new();
        for k in ["ElementName", "InstanceID", "SharedMAC"] {
            p.insert(k.into(), keep(k));
        }
        let dhcp = as_bool(b.get("dhcpEnabled"));
        let sync = if dhcp {
            true
        } else {
            b.get("ipSyncEnabled")
                .map_or(truthy(&current["IpSyncEnabled"]), |v| as_bool(Some(v)))
        };
        p.insert("SharedStaticIp".into(), (!dhcp && sync).into());
        p.insert("IpSyncEnabled".into(), sync.into());
        p.insert("DHCPEnabled".into(), dhcp.into());
        if !dhcp && !sync {
            // Static addresses only when AMT owns them; empty values are omitted, not sent empty.
            for (f, k) in [
                ("IPAddress", "ipAddress"),
                ("SubnetMask", "subnetMask"),
                ("DefaultGateway", "defaultGateway"),
                ("PrimaryDNS", "primaryDNS"),
                ("SecondaryDNS", "secondaryDNS"),
            ] {
                if let Some(v) = b.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                    p.insert(f.into(), v.into());
                }
            }
        }
        let id = wsman::parse::value_text(&current["InstanceID"]).unwrap_or_default();
        amt.call(&Call::put_selected(
            "AMT_EthernetPortSettings",
            &Value::Object(p),
            vec![Selector::new("InstanceID", id)],
        ))
        .await?;
        Ok::<_, Failure>(true)
    };
    match run.await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => settings_not_found(&req.guid),
        Err(f) => f.respond("Wired Network Settings", &req.guid),
    }
}

pub async fn link_preference(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let pref = as_i64(req.body.get("linkPreference")).unwrap_or(0) as u32;
    let timeout = as_i64(req.body.get("timeout")).unwrap_or(0).max(0) as u32;
    let run = async {
        let (_, wireless) = ports(amt).await?;
        let Some(port) = wireless else {
            return Ok(None);
        };
        let id = req
            .query
            .get("instanceID")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| wsman::parse::value_text(&port["InstanceID"]))
            .unwrap_or_else(|| WIRELESS_PORT.into());
        let env = amt.call(&set_link_preference(pref, timeout, &id)).await?;
        Ok::<_, Failure>(Some(
            num(&env["Body"]["SetLinkPreference_OUTPUT"]["ReturnValue"]).unwrap_or(-1),
        ))
    };
    match run.await {
        Ok(Some(0)) => {
            Json(json!({ "ReturnValue": 0, "ReturnValueStr": "SUCCESS" })).into_response()
        }
        Ok(Some(rv)) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "ReturnValue": rv, "ReturnValueStr": amt_status(rv) })),
        )
            .into_response(),
        Ok(None) => api_error(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("WiFi port not found for guid : {}", req.guid),
        ),
        Err(f) => f.respond("Link Preference", &req.guid),
    }
}

pub async fn get_wireless_state(amt: &Amt<'_>, guid: &str) -> Response {
    match amt.enum_pull("CIM_WiFiPort").await {
        Ok(env) => match pulled(&env, "CIM_WiFiPort").first() {
            Some(p) => {
                Json(json!({ "state": name_of(&p["EnabledState"], WIFI_STATE) })).into_response()
            }
            None => settings_not_found(guid),
        },
        Err(e) => Failure::from(e).respond("Wireless State", guid),
    }
}

pub async fn set_wireless_state(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let wanted = req
        .body
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some((code, _)) = WIFI_STATE.iter().find(|(_, s)| *s == wanted) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            BAD_REQUEST,
            "state must be one of WifiDisabled, WifiEnabledS0, WifiEnabledS0SxAC",
        );
    };
    let run = async {
        let env = amt
            .call(&Call::request_state_change("CIM_WiFiPort", *code as u32))
            .await?;
        Ok::<_, Failure>(
            num(&env["Body"]["RequestStateChange_OUTPUT"]["ReturnValue"]).unwrap_or(-1),
        )
    };
    match run.await {
        Ok(0) => Json(json!({ "state": wanted })).into_response(),
        Ok(rv) => api_error(
            StatusCode::BAD_REQUEST,
            BAD_REQUEST,
            format!("Wireless state change failed: {}", amt_status(rv)),
        ),
        Err(f) => f.respond("Wireless State", &req.guid),
    }
}

fn profile_sync_view(svc: &Value) -> Value {
    json!({
        "localProfileSync": num(&svc["localProfileSynchronizationEnabled"]).unwrap_or(0) != 0,
        "uefiProfileSync": truthy(&svc["UEFIWiFiProfileShareEnabled"]),
        "uefiProfileSyncSupported": !svc["UEFIWiFiProfileShareEnabled"].is_null(),
    })
}

pub async fn get_profile_sync(amt: &Amt<'_>, guid: &str) -> Response {
    match amt.get("AMT_WiFiPortConfigurationService").await {
        Ok(env) => Json(profile_sync_view(
            &env["Body"]["AMT_WiFiPortConfigurationService"],
        ))
        .into_response(),
        Err(e) => Failure::from(e).respond("Wireless Profile Sync", guid),
    }
}

pub async fn set_profile_sync(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let run = async {
        let env = amt.get("AMT_WiFiPortConfigurationService").await?;
        let Value::Object(mut svc) = env["Body"]["AMT_WiFiPortConfigurationService"].clone() else {
            return Err(Failure::NoData);
        };
        if let Some(Value::Bool(local)) = req.body.get("localProfileSync") {
            svc.insert(
                "localProfileSynchronizationEnabled".into(),
                i64::from(*local).into(),
            );
        }
        if let Some(Value::Bool(uefi)) = req.body.get("uefiProfileSync")
            && svc.contains_key("UEFIWiFiProfileShareEnabled")
        {
            svc.insert("UEFIWiFiProfileShareEnabled".into(), (*uefi).into());
        }
        let put = amt
            .call(&Call::put(
                "AMT_WiFiPortConfigurationService",
                &Value::Object(svc.clone()),
            ))
            .await?;
        let after = &put["Body"]["AMT_WiFiPortConfigurationService"];
        let sent = Value::Object(svc);
        Ok::<_, Failure>(profile_sync_view(if after.is_null() {
            &sent
        } else {
            after
        }))
    };
    let r = run.await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("Wireless Profile Sync", &req.guid),
    }
}

pub async fn get_profiles(amt: &Amt<'_>, guid: &str) -> Response {
    match amt.enum_pull("CIM_WiFiEndpointSettings").await {
        Ok(env) => {
            let list: Vec<Value> = profiles(&env)
                .iter()
                .map(|s| {
                    json!({
                        "profileName": text(&s["ElementName"]),
                        "ssid": text(&s["SSID"]),
                        "authenticationMethod": name_of(&s["AuthenticationMethod"], AUTH_METHOD),
                        "encryptionMethod": name_of(&s["EncryptionMethod"], ENCRYPTION),
                        "priority": num(&s["Priority"]).unwrap_or(0),
                    })
                })
                .collect();
            Json(list).into_response()
        }
        Err(e) => Failure::from(e).respond("Wireless Profiles", guid),
    }
}

/// CIM_WiFiEndpointSettings input of AddWiFiSettings / UpdateWiFiSettings for a profile body.
fn endpoint_settings(b: &Map<String, Value>) -> Result<Value, String> {
    let code = |k: &str, table: &[(i64, &str)]| {
        let s = b.get(k).and_then(Value::as_str).unwrap_or_default();
        table
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(c, _)| *c)
            .ok_or_else(|| format!("{k} {s:?} is not supported"))
    };
    let name = b
        .get("profileName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut m = Map::new();
    m.insert("ElementName".into(), name.into());
    m.insert(
        "InstanceID".into(),
        format!("{PROFILE_PREFIX}{name}").into(),
    );
    m.insert(
        "AuthenticationMethod".into(),
        code("authenticationMethod", AUTH_METHOD)?.into(),
    );
    m.insert(
        "EncryptionMethod".into(),
        code("encryptionMethod", ENCRYPTION)?.into(),
    );
    m.insert("SSID".into(), b.get("ssid").cloned().unwrap_or_default());
    m.insert(
        "Priority".into(),
        as_i64(b.get("priority")).unwrap_or(1).into(),
    );
    if let Some(p) = b
        .get("password")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        m.insert("PSKPassPhrase".into(), p.into());
    }
    Ok(Value::Object(m))
}

pub async fn add_or_update_profile(amt: &Amt<'_>, req: &AmtRequest, update: bool) -> Response {
    if req.body.get("ieee8021x").is_some_and(|v| !v.is_null()) {
        return api_error(
            StatusCode::NOT_IMPLEMENTED,
            NOT_IMPLEMENTED,
            "802.1X wireless profiles are not yet supported",
        );
    }
    let settings = match endpoint_settings(&req.body) {
        Ok(s) => s,
        Err(msg) => return api_error(StatusCode::BAD_REQUEST, BAD_REQUEST, msg),
    };
    let endpoint = Selector::new("InstanceID", "WiFi Endpoint 0");
    let mut call = add_wifi_settings(Some(&settings), &endpoint, None, None, None);
    let output = if update {
        call.action = call.action.replace("AddWiFiSettings", "UpdateWiFiSettings");
        call.body = call
            .body
            .replace("AddWiFiSettings_INPUT", "UpdateWiFiSettings_INPUT");
        "UpdateWiFiSettings_OUTPUT"
    } else {
        "AddWiFiSettings_OUTPUT"
    };
    match amt.call(&call).await {
        Ok(env) => {
            let rv = num(&env["Body"][output]["ReturnValue"]).unwrap_or(-1);
            let body = json!({ "ReturnValue": rv, "ReturnValueStr": amt_status(rv) });
            if rv == 0 {
                Json(body).into_response()
            } else {
                (StatusCode::BAD_REQUEST, Json(body)).into_response()
            }
        }
        Err(e) => Failure::from(e).respond("Wireless Profile", &req.guid),
    }
}

pub async fn delete_profile(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let name = req.profile.clone().unwrap_or_default();
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return api_error(
            StatusCode::BAD_REQUEST,
            BAD_REQUEST,
            "profileName must be alphanumeric",
        );
    }
    let call = Call::delete(
        "CIM_WiFiEndpointSettings",
        vec![Selector::new(
            "InstanceID",
            format!("{PROFILE_PREFIX}{name}"),
        )],
    );
    match amt.call(&call).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) if e.fault().is_some() => api_error(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("Wireless profile {name} not found for guid : {}", req.guid),
        ),
        Err(e) => Failure::from(e).respond("Wireless Profile", &req.guid),
    }
}

//! CIRA TLS for every AMT generation: OpenSSL's own `s_client` handshakes on the CIRA port with
//! TLS 1.0, 1.1, 1.2 static RSA, 1.2 DHE, 1.2 ECDHE and 1.3; a device on TLS 1.0 with a static-RSA
//! suite (as AMT 11 firmware) runs APF and its connect event names its protocol and suite; with
//! the minimum raised to TLS 1.2 the legacy handshakes are refused.

mod common;
mod simulated;

use std::pin::Pin;
use std::process::Command;

use common::device::{RawDevice, register};
use common::{Db, TestMps, http};
use mps::cira::ConnectionEvent;

const GUID: &str = "bc2ed7b0-1e4c-4a83-9a5f-6f2a3c1d0e11";

/// `openssl s_client` against `port` with `args`; the negotiated protocol and cipher, or the
/// output when the handshake failed.
fn s_client(port: u16, args: &[&str]) -> Result<(String, String), String> {
    let out = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // "New, TLSv1.2, Cipher is AES128-GCM-SHA256" once a handshake is done.
    let negotiated = text.lines().find_map(|l| {
        let rest = l.strip_prefix("New, ")?;
        let (protocol, cipher) = rest.split_once(", Cipher is ")?;
        Some((protocol.to_owned(), cipher.trim().to_owned()))
    });
    // That line names the suite's own version ("SSLv3" for AES128-SHA); the session block, printed
    // at once below TLS 1.3, names the protocol.
    let session_protocol = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Protocol  :")
            .map(|v| v.trim().to_owned())
    });
    match negotiated {
        Some((protocol, cipher)) if cipher != "(NONE)" => {
            Ok((session_protocol.unwrap_or(protocol), cipher))
        }
        _ => Err(text),
    }
}

/// [`s_client`] off the runtime's threads.
async fn s_client_async(
    port: u16,
    args: &'static [&'static str],
) -> Result<(String, String), String> {
    tokio::task::spawn_blocking(move || s_client(port, args))
        .await
        .expect("s_client task")
}

/// (s_client arguments, protocol, OpenSSL cipher name) of each generation's handshake.
const HANDSHAKES: [(&[&str], &str, &str); 6] = [
    (
        &["-tls1", "-cipher", "AES128-SHA@SECLEVEL=0"],
        "TLSv1",
        "AES128-SHA",
    ),
    (
        &["-tls1_1", "-cipher", "AES256-SHA@SECLEVEL=0"],
        "TLSv1.1",
        "AES256-SHA",
    ),
    (
        &["-tls1_2", "-cipher", "AES128-GCM-SHA256"],
        "TLSv1.2",
        "AES128-GCM-SHA256",
    ),
    (
        &["-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384"],
        "TLSv1.2",
        "DHE-RSA-AES256-GCM-SHA384",
    ),
    (
        &["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
        "TLSv1.2",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (&["-tls1_3"], "TLSv1.3", "TLS_AES_256_GCM_SHA384"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_generation_handshakes_on_the_cira_port() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    let port = mps.cira.port();
    for (args, protocol, cipher) in HANDSHAKES {
        let got = s_client_async(port, args).await;
        match got {
            Ok((p, c)) => {
                assert_eq!(p, protocol, "{args:?}");
                assert_eq!(c, cipher, "{args:?}");
            }
            Err(output) => panic!("{args:?} did not connect:\n{output}"),
        }
    }
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls12_as_the_minimum_legacy_handshakes_are_refused() {
    let mut mps =
        TestMps::start_with(Db::Sqlite, |c| c.cira_tls_min_version = "TLSv1.2".into()).await;
    let port = mps.cira.port();
    for (args, protocol, cipher) in HANDSHAKES {
        let got = s_client_async(port, args).await;
        // The reference's restricted set: ECDHE and DHE with AES-256-GCM on TLS 1.2, and TLS 1.3.
        let allowed = protocol == "TLSv1.3"
            || cipher.starts_with("ECDHE-")
            || cipher == "DHE-RSA-AES256-GCM-SHA384";
        assert_eq!(got.is_ok(), allowed, "{args:?}: {got:?}");
    }
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amt11_device_on_tls10_runs_apf_and_says_how_it_connected() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    register(&mps, GUID, "ciraUser", "ciraP@ss1", "amtP@ss1").await;
    let mut events = mps.mps.connections().subscribe();

    // What AMT 11 firmware offers: TLS 1.0, static RSA with AES-CBC.
    let mut connector =
        openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).unwrap();
    connector.set_security_level(0);
    connector
        .set_min_proto_version(Some(openssl::ssl::SslVersion::TLS1))
        .unwrap();
    connector
        .set_max_proto_version(Some(openssl::ssl::SslVersion::TLS1))
        .unwrap();
    connector
        .set_cipher_list("AES128-SHA:AES256-SHA@SECLEVEL=0")
        .unwrap();
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    connector
        .cert_store_mut()
        .add_cert(openssl::x509::X509::from_pem(root.as_bytes()).unwrap())
        .unwrap();
    let ssl = connector
        .build()
        .configure()
        .unwrap()
        .verify_hostname(false)
        .into_ssl("localhost")
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(mps.cira).await.unwrap();
    let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
    Pin::new(&mut tls)
        .connect()
        .await
        .expect("TLS 1.0 handshake");
    assert_eq!(tls.ssl().version_str(), "TLSv1");

    let mut dev = RawDevice::over(tls);
    dev.handshake(GUID, "ciraUser", "ciraP@ss1").await;
    let (_, d) = http("GET", &mps.url(&format!("/api/v1/devices/{GUID}")), None).await;
    assert_eq!(d["connectionStatus"], true, "{d}");

    let event = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let Ok(ConnectionEvent::Connected { tls, .. }) = events.recv().await {
                return tls;
            }
        }
    })
    .await
    .expect("a connect event");
    assert_eq!(event.protocol, "TLSv1");
    assert_eq!(event.cipher, "TLS_RSA_WITH_AES_128_CBC_SHA");

    // Keep-alive over the legacy stream.
    dev.send(&common::device::hex("d0000000ff")).await;
    assert_eq!(dev.recv_exact(5).await, common::device::hex("d1000000ff"));
    drop(dev);
    mps.stop().await;
}

/// The simulator's generations against our MPS: each connects with its own TLS (AMT 11/12 on
/// static RSA or DHE through OpenSSL, AMT 16 ECDHE on TLS 1.2, AMT 19 TLS 1.3), its connect event
/// says so, and WS-Man runs over the tunnel with the generation's firmware version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_simulated_generation_connects_with_its_own_tls() {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use sim::cira::Generation;

    let mut mps = TestMps::start(Db::Sqlite).await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let der = CertificateDer::from_pem_slice(root.as_bytes())
        .unwrap()
        .to_vec();
    let mut events = mps.mps.connections().subscribe();
    for (seed, generation, protocol) in [
        (11, Generation::Amt11, "TLSv1.2"),
        (12, Generation::Amt12, "TLSv1.2"),
        (16, Generation::Amt16, "TLSv1.2"),
        (19, Generation::Amt19, "TLSv1.3"),
    ] {
        let cira = sim::device::CiraSettings {
            server: "localhost".into(),
            port: mps.cira.port(),
            username: "ciraUser".into(),
            password: "ciraP@ss1".into(),
            root_cert_der: Some(der.clone()),
        };
        let config = sim::fleet::FleetConfig {
            generation,
            firmware_version: generation.firmware_version().into(),
            ..sim::fleet::FleetConfig::provisioned(seed, 1, cira, "amtP@ss1")
        };
        let devices = config.build_devices();
        let guid = devices[0].guid();
        register(&mps, &guid, "ciraUser", "ciraP@ss1", "amtP@ss1").await;
        let fleet = sim::fleet::Fleet::start_with(
            &config,
            devices,
            std::sync::Arc::new(simulated::DeviceServices),
        );
        assert!(
            fleet
                .wait_connected(1, std::time::Duration::from_secs(15))
                .await,
            "AMT {generation} did not connect"
        );
        let tls = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                if let Ok(ConnectionEvent::Connected { guid: g, tls, .. }) = events.recv().await
                    && g == guid
                {
                    return tls;
                }
            }
        })
        .await
        .expect("a connect event");
        assert_eq!(tls.protocol, protocol, "AMT {generation}");
        if generation.legacy_tls() {
            // No ECDHE on offer: a static-RSA or DHE suite, served by OpenSSL.
            assert!(
                tls.cipher.starts_with("TLS_RSA_") || tls.cipher.starts_with("TLS_DHE_RSA_"),
                "AMT {generation}: {}",
                tls.cipher
            );
        } else {
            let expected = if protocol == "TLSv1.3" {
                "TLS_AES_"
            } else {
                "TLS_ECDHE_RSA_"
            };
            assert!(
                tls.cipher.starts_with(expected),
                "AMT {generation}: {}",
                tls.cipher
            );
        }
        let (status, version) = http(
            "GET",
            &mps.url(&format!("/api/v1/amt/version/{guid}")),
            None,
        )
        .await;
        assert_eq!(status, 200, "AMT {generation}: {version}");
        let reported = version["CIM_SoftwareIdentity"]["responses"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["InstanceID"] == "AMT"))
            .map(|i| i["VersionString"].clone());
        assert_eq!(
            reported,
            Some(serde_json::Value::from(generation.firmware_version())),
            "AMT {generation}"
        );
        fleet.shutdown().await;
    }
    mps.stop().await;
}

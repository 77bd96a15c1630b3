//! The CA and leaves are made once and reused; a leaf is reissued when it no longer covers the hosts.

use certs::{CertStore, KeyKind, LeafSpec};

fn hosts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn creates_once_and_reuses_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let spec_hosts = hosts(&["localhost", "127.0.0.1"]);
    let spec = LeafSpec {
        name: "broker",
        common_name: "localhost",
        hosts: &spec_hosts,
        key: KeyKind::EcdsaP256,
    };
    let store = CertStore::open(dir.path()).unwrap();
    let first = store.leaf(&spec).unwrap();
    assert!(first.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let reopened = CertStore::open(dir.path()).unwrap();
    assert_eq!(reopened.ca_pem(), store.ca_pem());
    let second = reopened.leaf(&spec).unwrap();
    assert_eq!(second.cert_pem, first.cert_pem);
    assert_eq!(second.key_pem, first.key_pem);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first.key_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private key readable by others");
        let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "CA key readable by others");
    }
}

#[test]
fn reissues_when_hosts_or_key_kind_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = CertStore::open(dir.path()).unwrap();
    let one = hosts(&["localhost"]);
    let two = hosts(&["localhost", "mps.example.com"]);
    let spec = |h, key| LeafSpec {
        name: "mps",
        common_name: "localhost",
        hosts: h,
        key,
    };
    let first = store.leaf(&spec(&one, KeyKind::Rsa2048)).unwrap();
    let same = store.leaf(&spec(&one, KeyKind::Rsa2048)).unwrap();
    assert_eq!(first.cert_pem, same.cert_pem);
    let wider = store.leaf(&spec(&two, KeyKind::Rsa2048)).unwrap();
    assert_ne!(first.cert_pem, wider.cert_pem);
    let ecdsa = store.leaf(&spec(&two, KeyKind::EcdsaP256)).unwrap();
    assert_ne!(wider.cert_pem, ecdsa.cert_pem);
}

#[test]
fn a_client_trusting_the_ca_completes_a_handshake_with_the_leaf() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let store = CertStore::open(dir.path()).unwrap();
    let h = hosts(&["localhost", "127.0.0.1"]);
    for key in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        let issued = store
            .leaf(&LeafSpec {
                name: "web",
                common_name: "localhost",
                hosts: &h,
                key,
            })
            .unwrap();
        let server = std::sync::Arc::new(certs::server_config(&issued).unwrap());
        let client = std::sync::Arc::new(certs::client_config(store.ca_pem().as_bytes()).unwrap());
        for name in ["localhost", "127.0.0.1"] {
            let mut server_conn = rustls::ServerConnection::new(server.clone()).unwrap();
            let mut client_conn =
                rustls::ClientConnection::new(client.clone(), name.to_string().try_into().unwrap())
                    .unwrap();
            // Shuttle handshake records in memory until both sides are done.
            for _ in 0..10 {
                let mut buf = Vec::new();
                client_conn.write_tls(&mut buf).unwrap();
                server_conn.read_tls(&mut buf.as_slice()).unwrap();
                server_conn.process_new_packets().unwrap();
                let mut buf = Vec::new();
                server_conn.write_tls(&mut buf).unwrap();
                client_conn.read_tls(&mut buf.as_slice()).unwrap();
                client_conn.process_new_packets().unwrap();
            }
            assert!(
                !client_conn.is_handshaking() && !server_conn.is_handshaking(),
                "{key:?} {name}"
            );
        }
    }
}

#[test]
fn a_client_trusting_another_ca_refuses_the_leaf() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let h = hosts(&["localhost"]);
    let issued = CertStore::open(ours.path())
        .unwrap()
        .leaf(&LeafSpec {
            name: "web",
            common_name: "localhost",
            hosts: &h,
            key: KeyKind::EcdsaP256,
        })
        .unwrap();
    let other = CertStore::open(theirs.path()).unwrap();
    let server = std::sync::Arc::new(certs::server_config(&issued).unwrap());
    let client = std::sync::Arc::new(certs::client_config(other.ca_pem().as_bytes()).unwrap());
    let mut server_conn = rustls::ServerConnection::new(server).unwrap();
    let mut client_conn =
        rustls::ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
    let mut failed = false;
    for _ in 0..10 {
        let mut buf = Vec::new();
        client_conn.write_tls(&mut buf).unwrap();
        server_conn.read_tls(&mut buf.as_slice()).unwrap();
        let _ = server_conn.process_new_packets();
        let mut buf = Vec::new();
        server_conn.write_tls(&mut buf).unwrap();
        client_conn.read_tls(&mut buf.as_slice()).unwrap();
        if client_conn.process_new_packets().is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the handshake succeeded against an untrusted CA");
}

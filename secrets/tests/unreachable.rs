//! The Vault backend while its server is down (against the fake KV v2, stopped and started again on the
//! same port): every call fails promptly with `Unavailable`, and works again once the server is back,
//! without a new client.

use std::time::{Duration, Instant};

use secrets::test_server::TestVault;
use secrets::{DeviceSecrets, SecretError};

fn unavailable<T: std::fmt::Debug>(result: Result<T, SecretError>) -> String {
    match result {
        Err(SecretError::Unavailable { address, message }) => {
            assert!(!message.contains("Mps!pass1"), "{message}");
            address
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stopped_vault_is_a_prompt_clear_error_and_a_restarted_one_just_works() {
    let mut vault = TestVault::start("root-token").await.unwrap();
    let store = secrets::open(&vault.config()).unwrap();
    let device = "devices/8c5c4f3e-1d2b-4c3a-9e8f-0a1b2c3d4e5f";
    let stored = DeviceSecrets {
        mps_password: Some("Mps!pass1".into()),
        ..Default::default()
    };
    store.put(device, stored.to_map()).await.unwrap();

    vault.stop().await;
    let started = Instant::now();
    assert_eq!(unavailable(store.get(device).await), vault.address());
    unavailable(store.put(device, stored.to_map()).await);
    unavailable(store.health().await);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    vault.resume().await.unwrap();
    let back = store
        .get(device)
        .await
        .unwrap()
        .expect("kept across the stop");
    assert_eq!(DeviceSecrets::from_map(&back), stored);
    assert!(store.health().await.unwrap().ready);
}

/// A Vault that accepts connections and never answers: calls fail within the client's timeout instead of
/// hanging their callers (a REST request, a CIRA connect).
#[tokio::test]
async fn a_vault_that_never_answers_is_an_error_within_the_timeout() {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let store = secrets::open(&secrets::SecretStoreConfig::Vault {
        address: address.clone(),
        token: "root-token".into(),
        secrets_path: "secret/data/".into(),
    })
    .unwrap();
    let started = Instant::now();
    assert_eq!(unavailable(store.health().await), address);
    let health_took = started.elapsed();
    let started = Instant::now();
    assert_eq!(unavailable(store.get("devices/x").await), address);
    let get_took = started.elapsed();
    assert!(
        health_took < Duration::from_secs(8) && get_took < Duration::from_secs(15),
        "health {health_took:?}, get {get_took:?}"
    );
    silent.abort();
}

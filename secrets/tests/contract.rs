//! The SecretStore contract, run against each backend: the Vault backend against a fake KV v2 (and against a real
//! Vault when VAULT_ADDR/VAULT_TOKEN are set), and the local encrypted store.

use std::sync::Arc;

use secrets::test_server::TestVault;
use secrets::{DeviceSecrets, SecretError, SecretMap, SecretStore, SecretStoreConfig};
use serde_json::json;

fn map(value: serde_json::Value) -> SecretMap {
    value.as_object().cloned().expect("test values are objects")
}

/// What every backend must do; `tag` keeps paths of concurrent runs apart on a shared real Vault.
async fn contract(store: &dyn SecretStore, tag: &str) {
    let device = format!("devices/{tag}-8c5c4f3e-1d2b-4c3a-9e8f-0a1b2c3d4e5f");
    assert_eq!(
        store.get(&device).await.unwrap(),
        None,
        "a missing path reads as None"
    );

    let first = DeviceSecrets {
        amt_password: Some("Amt!pass1".into()),
        mps_password: Some("Mps!pass1".into()),
        mebx_password: None,
    };
    store.put(&device, first.to_map()).await.unwrap();
    let read = store
        .get(&device)
        .await
        .unwrap()
        .expect("written secret reads back");
    assert_eq!(read, first.to_map());
    assert_eq!(DeviceSecrets::from_map(&read), first);

    // A put replaces the whole object (KV v2 write semantics), it does not merge.
    store
        .put(&device, map(json!({"AMT_PASSWORD": "Second!1"})))
        .await
        .unwrap();
    assert_eq!(
        store.get(&device).await.unwrap(),
        Some(map(json!({"AMT_PASSWORD": "Second!1"})))
    );

    // A profile's name may hold what a URL treats specially.
    let odd = format!("profiles/{tag}-a?version=1#x%41 b");
    store
        .put(&odd, map(json!({"AMT_PASSWORD": "Odd!1"})))
        .await
        .unwrap();
    assert_eq!(
        store.get(&odd).await.unwrap(),
        Some(map(json!({"AMT_PASSWORD": "Odd!1"})))
    );
    assert_eq!(
        store.get(&format!("profiles/{tag}-a")).await.unwrap(),
        None,
        "the name is not cut at '?'"
    );
    store.delete(&odd).await.unwrap();
    assert_eq!(store.get(&odd).await.unwrap(), None);

    // Nested values and the reference's other paths.
    let tls = format!("TLS/{tag}-testTLS");
    let cert = json!({"ROOT_CERTIFICATE": {"certbin": "MIIB", "pem": "-----BEGIN"}, "ISSUED_CERTIFICATE": {"x": [1, 2]}});
    store.put(&tls, map(cert.clone())).await.unwrap();
    assert_eq!(store.get(&tls).await.unwrap(), Some(map(cert)));

    store.delete(&device).await.unwrap();
    assert_eq!(
        store.get(&device).await.unwrap(),
        None,
        "delete removes every version"
    );
    store.delete(&device).await.unwrap();
    store
        .delete(&format!("profiles/{tag}-never-written"))
        .await
        .expect("deleting a missing path is Ok");
    store.delete(&tls).await.unwrap();

    for bad in ["", "../etc/passwd", "devices/../MPSCerts", "/abs"] {
        assert!(
            matches!(store.get(bad).await, Err(SecretError::InvalidPath(_))),
            "{bad:?}"
        );
        assert!(
            matches!(
                store.put(bad, SecretMap::new()).await,
                Err(SecretError::InvalidPath(_))
            ),
            "{bad:?}"
        );
    }

    let health = store.health().await.unwrap();
    assert!(health.ready, "{health:?}");
    assert_eq!(health.status["initialized"], json!(true));
    assert_eq!(health.status["sealed"], json!(false));
}

#[tokio::test]
async fn vault_backend_against_a_fake_kv2_meets_the_contract() {
    let vault = TestVault::start("myroot").await.unwrap();
    let store = secrets::open(&vault.config()).unwrap();
    contract(store.as_ref(), "fake").await;
    assert_eq!(store.health().await.unwrap().name, "VAULT");
}

#[tokio::test]
async fn vault_backend_against_a_fake_kv2_writes_the_reference_paths() {
    let vault = TestVault::start("myroot").await.unwrap();
    let store = secrets::open(&vault.config()).unwrap();
    store
        .put("CIRAConfigs/cfg1", map(json!({"MPS_PASSWORD": "P@ssw0rd"})))
        .await
        .unwrap();
    assert_eq!(
        vault.stored("secret", "CIRAConfigs/cfg1"),
        Some(map(json!({"MPS_PASSWORD": "P@ssw0rd"})))
    );
    // Escaped in the URL, stored under the name itself (as Vault decodes the path).
    store
        .put("profiles/lab?#1", map(json!({"AMT_PASSWORD": "P@ssw0rd"})))
        .await
        .unwrap();
    assert_eq!(
        vault.stored("secret", "profiles/lab?#1"),
        Some(map(json!({"AMT_PASSWORD": "P@ssw0rd"}))),
        "{:?}",
        vault.paths("secret")
    );
    store.delete("profiles/lab?#1").await.unwrap();
    store.delete("CIRAConfigs/cfg1").await.unwrap();
    assert_eq!(
        vault.paths("secret"),
        Vec::<String>::new(),
        "metadata delete leaves nothing behind"
    );
}

#[tokio::test]
async fn vault_backend_against_a_fake_kv2_uses_mount_and_prefix_from_secrets_path() {
    let vault = TestVault::start_with_mounts("tok", &["kv"]).await.unwrap();
    let config = SecretStoreConfig::Vault {
        address: vault.address(),
        token: "tok".into(),
        secrets_path: "kv/data/openamt/".into(),
    };
    let store = secrets::open(&config).unwrap();
    store
        .put("MPSCerts", map(json!({"root_key": "k"})))
        .await
        .unwrap();
    assert_eq!(
        vault.stored("kv", "openamt/MPSCerts"),
        Some(map(json!({"root_key": "k"})))
    );
    assert_eq!(
        store.get("MPSCerts").await.unwrap(),
        Some(map(json!({"root_key": "k"})))
    );

    // The reference default mount does not exist on this server: an error, not a silent None.
    let wrong = secrets::open(&SecretStoreConfig::Vault {
        address: vault.address(),
        token: "tok".into(),
        secrets_path: "secret/data/".into(),
    })
    .unwrap();
    assert!(matches!(
        wrong.put("MPSCerts", SecretMap::new()).await,
        Err(SecretError::Vault { .. })
    ));
}

#[tokio::test]
async fn vault_backend_against_a_fake_kv2_reports_a_bad_token() {
    let vault = TestVault::start("right").await.unwrap();
    let store = secrets::open(&SecretStoreConfig::Vault {
        address: vault.address(),
        token: "wrong".into(),
        secrets_path: "secret/data/".into(),
    })
    .unwrap();
    let err = store.get("devices/x").await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    assert!(
        !err.to_string().contains("wrong"),
        "the token never shows in errors: {err}"
    );
}

#[tokio::test]
async fn vault_backend_against_a_fake_kv2_reports_sealed_and_unreachable() {
    let vault = TestVault::start("myroot").await.unwrap();
    let store = secrets::open(&vault.config()).unwrap();
    vault.set_sealed(true);
    let health = store.health().await.unwrap();
    assert!(!health.ready);
    assert_eq!(health.status["sealed"], json!(true));
    vault.set_sealed(false);
    assert!(store.health().await.unwrap().ready);

    let address = vault.address();
    drop(vault);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let gone = secrets::open(&SecretStoreConfig::Vault {
        address,
        token: "myroot".into(),
        secrets_path: "secret/data/".into(),
    })
    .unwrap();
    assert!(matches!(
        gone.health().await,
        Err(SecretError::Unavailable { .. })
    ));
    assert!(matches!(
        gone.get("devices/x").await,
        Err(SecretError::Unavailable { .. })
    ));
}

/// The same contract against a real Vault (or OpenBao) dev server, when one is configured.
#[tokio::test]
async fn vault_backend_against_a_real_vault_meets_the_contract() {
    let (Ok(address), Ok(token)) = (std::env::var("VAULT_ADDR"), std::env::var("VAULT_TOKEN"))
    else {
        println!("skipped: VAULT_ADDR not set");
        return;
    };
    let store = secrets::open(&SecretStoreConfig::Vault {
        address,
        token,
        secrets_path: "secret/data/".into(),
    })
    .unwrap();
    contract(
        store.as_ref(),
        &format!("openamt-test-{}", std::process::id()),
    )
    .await;
}

#[tokio::test]
async fn local_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = secrets::open(&SecretStoreConfig::Local {
        dir: dir.path().join("store"),
    })
    .unwrap();
    contract(store.as_ref(), "local").await;
    assert_eq!(store.health().await.unwrap().name, "LOCAL");
}

#[tokio::test]
async fn local_store_survives_a_restart_and_keeps_its_key_private() {
    let dir = tempfile::tempdir().unwrap();
    let config = SecretStoreConfig::Local {
        dir: dir.path().to_owned(),
    };
    let secret = map(json!({"AMT_PASSWORD": "Amt!pass1", "MEBX_PASSWORD": "Mebx!pass1"}));
    {
        let store = secrets::open(&config).unwrap();
        store.put("profiles/p1", secret.clone()).await.unwrap();
    }
    let reopened = secrets::open(&config).unwrap();
    assert_eq!(reopened.get("profiles/p1").await.unwrap(), Some(secret));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Nothing on disk holds the password in clear.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"Amt!pass1"));
    }
}

fn secret_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "secret"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn local_store_detects_tampering_and_swapped_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = secrets::open(&SecretStoreConfig::Local {
        dir: dir.path().to_owned(),
    })
    .unwrap();
    store
        .put("devices/a", map(json!({"AMT_PASSWORD": "a"})))
        .await
        .unwrap();
    let files = secret_files(dir.path());
    assert_eq!(files.len(), 1);

    // One flipped bit in the ciphertext.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&files[0], &bytes).unwrap();
    assert!(matches!(
        store.get("devices/a").await,
        Err(SecretError::Tampered { .. })
    ));

    // A valid file of another path copied over this one is caught by the associated data.
    store
        .put("devices/a", map(json!({"AMT_PASSWORD": "a"})))
        .await
        .unwrap();
    store
        .put("devices/b", map(json!({"AMT_PASSWORD": "b"})))
        .await
        .unwrap();
    let files = secret_files(dir.path());
    assert_eq!(files.len(), 2);
    std::fs::copy(&files[0], &files[1]).unwrap();
    let (a, b) = (store.get("devices/a").await, store.get("devices/b").await);
    assert!(
        matches!(a, Err(SecretError::Tampered { .. }))
            ^ matches!(b, Err(SecretError::Tampered { .. })),
        "exactly the overwritten path fails: {a:?} {b:?}"
    );

    // Truncated and foreign files.
    std::fs::write(&files[0], b"OAS1").unwrap();
    std::fs::write(&files[1], b"not a secret file").unwrap();
    assert!(matches!(
        store.get("devices/a").await,
        Err(SecretError::Tampered { .. })
    ));
    assert!(matches!(
        store.get("devices/b").await,
        Err(SecretError::Tampered { .. })
    ));

    // A different key cannot read the files.
    std::fs::write(dir.path().join("secret.key"), [7u8; 32]).unwrap();
    let other = secrets::open(&SecretStoreConfig::Local {
        dir: dir.path().to_owned(),
    })
    .unwrap();
    other
        .put("devices/c", map(json!({"AMT_PASSWORD": "c"})))
        .await
        .unwrap();
    std::fs::write(dir.path().join("secret.key"), [8u8; 32]).unwrap();
    let third = secrets::open(&SecretStoreConfig::Local {
        dir: dir.path().to_owned(),
    })
    .unwrap();
    assert!(matches!(
        third.get("devices/c").await,
        Err(SecretError::Tampered { .. })
    ));

    std::fs::write(dir.path().join("secret.key"), b"short").unwrap();
    assert!(matches!(
        secrets::open(&SecretStoreConfig::Local {
            dir: dir.path().to_owned()
        }),
        Err(SecretError::BadKey { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_takes_concurrent_writers_and_first_opens() {
    let dir = tempfile::tempdir().unwrap();
    let config = SecretStoreConfig::Local {
        dir: dir.path().join("fresh"),
    };
    // Several first opens at once must agree on one key.
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || secrets::open(&config).unwrap())
        })
        .collect();
    let stores: Vec<Arc<dyn SecretStore>> = opens.into_iter().map(|t| t.join().unwrap()).collect();

    let mut writers = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        for round in 0..20 {
            let store = Arc::clone(store);
            writers.push(tokio::spawn(async move {
                let value = map(json!({"writer": i, "round": round, "pad": "x".repeat(2000)}));
                store.put("devices/shared", value.clone()).await.unwrap();
                store.put(&format!("devices/own-{i}"), value).await.unwrap();
            }));
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    // Every store reads every other store's files: same key, whole files.
    for store in &stores {
        let shared = store
            .get("devices/shared")
            .await
            .unwrap()
            .expect("last writer wins");
        assert_eq!(shared["pad"].as_str().map(str::len), Some(2000));
        for i in 0..stores.len() {
            let own = store
                .get(&format!("devices/own-{i}"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(own["writer"], json!(i));
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("fresh"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

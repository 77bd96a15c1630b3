//! `secrets::generate` makes what compose.yaml mounts, and the real Mosquitto accepts it: the `$7$`
//! password file, the certificate and the shipped configuration.

use std::{
    net::{Ipv4Addr, TcpListener},
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use broker::{BrokerUrl, Bus, BusConfig, OutboxConfig};
use gateway::secrets::{SecretsOptions, generate};

fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn running_as_root() -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::metadata(dir.path()).unwrap().uid() == 0
}

fn options() -> SecretsOptions {
    let mut options = SecretsOptions::for_compose("openamt.example.com");
    if !running_as_root() {
        options.mosquitto_owner = None;
        options.kong_owner = None;
    }
    options
}

#[test]
fn makes_every_secret_once_and_keeps_them() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let first = generate(dir.path(), &options()).unwrap();
    for file in &first.files {
        assert!(file.exists(), "{}", file.display());
    }
    for private in [
        "ca-key.pem",
        "broker-key.pem",
        "gateway-key.pem",
        "passwords",
        "mqtt-credentials.json",
        "mqtt/mps.password",
        "mps-jwt-secret",
        "mps-admin-password",
        "postgres-password",
        "vault-token",
        "mps-database-url",
        "rps-database-url",
        "kong.yml",
    ] {
        let mode = std::fs::metadata(dir.path().join(private))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{private} is readable by others: {mode:o}");
    }
    if running_as_root() {
        let uid = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().uid();
        assert_eq!(
            uid("passwords"),
            1883,
            "Mosquitto's image user reads its password file"
        );
        assert_eq!(uid("broker-key.pem"), 1883);
        assert_eq!(
            uid("kong.yml"),
            1000,
            "Kong's image user reads its configuration"
        );
        assert_eq!(uid("gateway-key.pem"), 1000);
        assert_eq!(uid("mps-jwt-secret"), 0);
    }

    let postgres = read(dir.path(), "postgres-password");
    assert_eq!(
        read(dir.path(), "mps-database-url"),
        format!("postgresql://postgresadmin:{postgres}@db:5432/mpsdb")
    );
    assert!(read(dir.path(), "rps-database-url").ends_with("@db:5432/rpsdb"));

    // Kong's copy has the secret in place and nothing else changed.
    let secret = read(dir.path(), "mps-jwt-secret");
    assert_eq!(secret.len(), 48);
    let kong = read(dir.path(), "kong.yml");
    assert!(!kong.contains("{vault://"));
    assert_eq!(
        kong,
        gateway::KONG_YAML.replace("{vault://env/mps-jwt-secret}", &secret)
    );
    gateway::Declarative::parse(&kong).unwrap();

    // The admin password passes MPS's "strong password" rule.
    let admin = read(dir.path(), "mps-admin-password");
    assert!((8..=32).contains(&admin.len()));
    assert!(admin.chars().any(|c| c.is_ascii_uppercase()));
    assert!(admin.chars().any(|c| c.is_ascii_lowercase()));
    assert!(admin.chars().any(|c| c.is_ascii_digit()));
    assert!(admin.chars().any(|c| !c.is_ascii_alphanumeric()));

    // Every broker user has a $7$ line that verifies against its password.
    let passwords = read(dir.path(), "passwords");
    for user in broker::credentials::USERS {
        let password = read(dir.path(), &format!("mqtt/{user}.password"));
        let line = passwords
            .lines()
            .find(|l| l.starts_with(&format!("{user}:")))
            .unwrap_or_else(|| panic!("no line for {user}"));
        assert!(gateway::mosquitto_passwd::verify(
            &line[user.len() + 1..],
            &password
        ));
    }

    // Again: nothing rotates.
    let ca = read(dir.path(), "ca.pem");
    let mqtt_mps = read(dir.path(), "mqtt/mps.password");
    generate(dir.path(), &options()).unwrap();
    assert_eq!(read(dir.path(), "mps-jwt-secret"), secret);
    assert_eq!(read(dir.path(), "mps-admin-password"), admin);
    assert_eq!(read(dir.path(), "ca.pem"), ca);
    assert_eq!(read(dir.path(), "mqtt/mps.password"), mqtt_mps);
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn mosquitto_accepts_the_generated_files() {
    init();
    if Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        println!("skipped: Debian's mosquitto is not installed (scripts/test installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    generate(&config_dir, &options()).unwrap();

    // The shipped mosquitto.conf, pointed at this directory instead of the container's paths.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = read(&config_dir, "mosquitto.conf")
        .replace("/mosquitto/config/", &format!("{}/", config_dir.display()))
        .replace("/mosquitto/data/", &format!("{}/", data_dir.display()))
        .replace("listener 8883", &format!("listener {port} 127.0.0.1"));
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let conf_path = dir.path().join("mosquitto.conf");
    std::fs::write(&conf_path, format!("{conf}\nuser {}\n", user.trim())).unwrap();
    let _mosquitto = KillOnDrop(
        Command::new("mosquitto")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..250 {
        if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let config = |user: &str, password: &str| {
        let url: BrokerUrl = format!("mqtts://mosquitto:{port}").parse().unwrap();
        // The broker certificate names `mosquitto` (compose) and `localhost`.
        let url = BrokerUrl {
            host: "localhost".into(),
            ..url
        };
        let mut config = BusConfig::new(
            url,
            user,
            password,
            &format!("{user}-secrets-test"),
            "/openamt/test",
        );
        config.ca_pem = Some(std::fs::read(config_dir.join("ca.pem")).unwrap());
        config.outbox = OutboxConfig::Memory;
        config
    };
    let password = read(&config_dir, "mqtt/router.password");
    let bus = Bus::connect(config("router", &password)).await.unwrap();
    bus.wait_connected(Duration::from_secs(10))
        .await
        .expect("Mosquitto accepts the generated password and certificate");
    bus.subscribe(&bus.topics().all_presence()).await.unwrap();
    bus.shutdown(Duration::from_secs(2)).await;

    let refused = Bus::connect(config("router", "wrong-password")).await;
    assert!(refused.is_err(), "a wrong password is refused");
}

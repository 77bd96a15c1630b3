//! Mosquitto's password file lines, as `mosquitto_passwd` 2.x writes them:
//! `user:$7$<iterations>$<base64 salt>$<base64 hash>`, the hash being PBKDF2-HMAC-SHA512 (64 bytes) of
//! the password with a 12-byte random salt, 101 iterations by default.

use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::Sha512;

pub const ITERATIONS: u32 = 101;
const SALT_LEN: usize = 12;
const HASH_LEN: usize = 64;

/// One line of the password file (without the newline). User names may not contain `:`.
pub fn line(user: &str, password: &str) -> Result<String, String> {
    if user.is_empty() || user.contains([':', '\n', '\r']) {
        return Err(format!("{user:?} cannot be a Mosquitto user name"));
    }
    let salt: [u8; SALT_LEN] = rand::random();
    Ok(format!("{user}:{}", hash(password, &salt, ITERATIONS)))
}

/// `$7$<iterations>$<salt>$<hash>`.
pub fn hash(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut out = [0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out);
    format!(
        "$7${iterations}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(out)
    )
}

/// Whether `password` matches a `$7$` entry (to check lines written by `mosquitto_passwd` itself).
pub fn verify(entry: &str, password: &str) -> bool {
    let mut parts = entry.split('$');
    let (Some(""), Some("7"), Some(iterations), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(iterations), Ok(salt)) = (iterations.parse::<u32>(), STANDARD.decode(salt)) else {
        return false;
    };
    if iterations == 0 {
        return false;
    }
    let computed = hash(password, &salt, iterations);
    computed.rsplit('$').next() == Some(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Debian's mosquitto_passwd 2.0.11: `mosquitto_passwd -c -b pw alice secret`.
    const MADE_BY_MOSQUITTO_PASSWD: &str = "$7$101$UvxMIkBd8rBTrMTT$2Fn83kQ3DKLOcEq3tZTUzb0G9FuJ0N9uRndFfiPV/izQpIPmixVBCU8ilapot4rMk/6XELnVX/v4ES4U6YOGxQ==";

    #[test]
    fn reproduces_mosquitto_passwd() {
        assert!(verify(MADE_BY_MOSQUITTO_PASSWD, "secret"));
        assert!(!verify(MADE_BY_MOSQUITTO_PASSWD, "Secret"));
        let salt = STANDARD.decode("UvxMIkBd8rBTrMTT").unwrap();
        assert_eq!(hash("secret", &salt, 101), MADE_BY_MOSQUITTO_PASSWD);
    }

    #[test]
    fn fresh_lines_have_the_right_shape() {
        let line = line("mps", "pw").unwrap();
        let (user, entry) = line.split_once(':').unwrap();
        assert_eq!(user, "mps");
        assert!(entry.starts_with("$7$101$"));
        assert!(verify(entry, "pw"));
        assert!(super::line("a:b", "pw").is_err());
        assert!(!verify("$6$garbage", "pw"));
    }
}

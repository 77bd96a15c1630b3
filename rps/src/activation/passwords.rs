//! Passwords RPS makes for devices (AMT admin, MEBx, CIRA), the reference's way: 16 characters from
//! `A–Z a–z 0–9 !@#$%^*()`, kept only if it has an upper- and a lower-case letter, a digit and one of `$@!%*#?`.
//! Also the two encodings of a new admin password AMT accepts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::seq::IndexedRandom as _;

const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz1234567890!@#$%^*()";

/// The reference's strength rule (`PasswordHelper.passwordCheck`).
pub fn is_strong(password: &str) -> bool {
    let len = password.chars().count();
    (8..=32).contains(&len)
        && password.chars().any(|c| "$@!%*#?".contains(c))
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| c.is_ascii_lowercase())
}

/// A fresh random 16-character password that passes [`is_strong`].
pub fn random_password() -> String {
    let mut rng = rand::rng();
    loop {
        let candidate: String = (0..16)
            .map(|_| char::from(*CHARS.choose(&mut rng).unwrap_or(&b'A')))
            .collect();
        // Roughly one candidate in three has a symbol of the required set.
        if is_strong(&candidate) {
            return candidate;
        }
    }
}

/// `NetworkAdminPassword` for Setup / AdminSetup (encryption type 2): hex MD5 of `admin:<realm>:<password>`.
pub fn network_admin_password(realm: &str, password: &str) -> String {
    hex::encode(wsman::digest::ha1("admin", realm, password))
}

/// `DigestPassword` for SetAdminAclEntryEx: base64 of the 16 raw MD5 bytes of `admin:<realm>:<password>`.
pub fn digest_password(realm: &str, password: &str) -> String {
    STANDARD.encode(wsman::digest::ha1("admin", realm, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_passwords_are_strong_and_different() {
        let a = random_password();
        let b = random_password();
        assert_eq!(a.len(), 16);
        assert!(is_strong(&a) && is_strong(&b));
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| CHARS.contains(&c)));
    }

    #[test]
    fn the_strength_rule() {
        assert!(is_strong("P@ssw0rd"));
        assert!(!is_strong("Passw0rd"), "no symbol of the set");
        assert!(!is_strong("P@ss0rd"), "too short");
        assert!(!is_strong("p@ssw0rd"), "no upper case");
    }

    #[test]
    fn admin_password_encodings() {
        // MD5("admin:Digest:A3829B3827DE4D33D4449B366831FD01:P@ssw0rd")
        let hex = network_admin_password("Digest:A3829B3827DE4D33D4449B366831FD01", "P@ssw0rd");
        assert_eq!(
            hex,
            wsman::digest::md5_hex(b"admin:Digest:A3829B3827DE4D33D4449B366831FD01:P@ssw0rd")
        );
        let b64 = digest_password("Digest:A3829B3827DE4D33D4449B366831FD01", "P@ssw0rd");
        assert_eq!(STANDARD.decode(b64).unwrap(), hex::decode(hex).unwrap());
    }
}

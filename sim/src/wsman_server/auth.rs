//! Digest authentication as AMT does it: challenges with the device realm and a fresh nonce, answers
//! checked against stored HA1 values. Valid accounts: the local system account while pre-provisioned
//! (and locally afterwards), the admin account once provisioned, and enabled digest users.

use wsman::digest::{Authorization, Challenge, NonceStatus, ha1};

use crate::device::Device;
use crate::device::accounts::LSA_USER;
use crate::device::logs::Initiator;

/// The HTML AMT sends with a 401 (MPS frames the answer by its closing `</html>`).
pub const UNAUTHORIZED_PAGE: &str = concat!(
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" >\n",
    "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n",
    "<title>Intel&reg; Active Management Technology</title></head>\n",
    "<body><h2 class=warn>Log on failed. Incorrect user name or password, or user account temporarily locked.</h2>\n",
    "<p><form METHOD=\"GET\" action=\"index.htm\"><h2><input type=submit value=\"Try again\"></h2></form></p>\n",
    "</body>\n</html>\n"
);

/// The authenticated user name, or the `WWW-Authenticate` value of a new challenge.
pub fn authenticate(device: &Device, request: &wsman::http::Request) -> Result<String, String> {
    let realm = device.digest_realm();
    let Some(header) = request.header("Authorization") else {
        return Err(challenge(device, &realm, false));
    };
    let Ok(auth) = Authorization::parse(header) else {
        return Err(challenge(device, &realm, false));
    };
    if auth.realm != realm || auth.uri != request.path {
        return Err(challenge(device, &realm, false));
    }
    device.with_state(|state| {
        match state.protocol.nonces.check(&auth.nonce) {
            NonceStatus::Fresh => {}
            NonceStatus::Stale => return Err(issue(state, &realm, true)),
            NonceStatus::Unknown => return Err(issue(state, &realm, false)),
        }
        let expected = if auth.username == LSA_USER {
            Some(ha1(LSA_USER, &realm, &state.lsa_password))
        } else if state
            .admin
            .as_ref()
            .is_some_and(|a| a.username == auth.username)
        {
            state.admin_ha1()
        } else {
            state
                .users
                .iter()
                .find(|u| u.enabled && u.username == auth.username)
                .map(|u| u.ha1)
        };
        match expected {
            Some(ha1) if auth.verify(&request.method, &ha1) => Ok(auth.username.clone()),
            Some(_) => {
                // ACL Access with Invalid Credentials (security admin app 16, event 5), "Invalid ME access".
                state.log_audit(16, 5, Initiator::Local, vec![0]);
                tracing::debug!(user = %auth.username, "WS-Man digest answer does not match");
                Err(issue(state, &realm, false))
            }
            None => Err(issue(state, &realm, false)),
        }
    })
}

fn challenge(device: &Device, realm: &str, stale: bool) -> String {
    device.with_state(|state| issue(state, realm, stale))
}

fn issue(state: &mut crate::device::DeviceState, realm: &str, stale: bool) -> String {
    let nonce = state.protocol.nonces.issue();
    Challenge {
        realm: realm.to_string(),
        nonce,
        qop: Some("auth".to_string()),
        opaque: None,
        stale,
        algorithm: None,
    }
    .to_header()
}

//! The redirection service over an in-memory stream: session start, digest authentication
//! (right and wrong password), SOL start and the fake console's prompt and echo.

mod support;

use sim::device::{ControlMode, Device, DeviceSpec, Provisioned};
use support::redir_client::*;
use tokio::io::AsyncWriteExt;

const ADMIN_PASSWORD: &str = "Adm1n!Pass";

fn provisioned_device(index: u64) -> Device {
    Device::new(DeviceSpec {
        provisioned: Some(Provisioned {
            mode: ControlMode::Acm,
            admin_password: ADMIN_PASSWORD.into(),
            cira: None,
        }),
        ..DeviceSpec::fresh(77, index)
    })
}

#[tokio::test]
async fn sol_session_with_digest_auth_shows_prompt_and_echoes() {
    let device = provisioned_device(1);
    let (mut client, server) = tokio::io::duplex(4096);
    let service = tokio::spawn(sim::redirection::serve(device.clone(), server));

    assert_eq!(start_sol(&mut client).await, 0, "SOL session accepted");
    assert_eq!(
        digest_login(&mut client, "admin", ADMIN_PASSWORD).await,
        0,
        "digest accepted"
    );
    assert_eq!(start_sol_redirection(&mut client).await, 0);
    let banner = read_console_until(&mut client, b"login: ").await;
    assert!(String::from_utf8_lossy(&banner).contains(&device.hostname()));

    type_keys(&mut client, 2, b"root").await;
    assert_eq!(read_console_until(&mut client, b"root").await, b"root");
    type_keys(&mut client, 3, b"\r\n").await;
    assert_eq!(
        read_console_until(&mut client, b"login: ").await,
        b"\r\nlogin: "
    );

    // Keep-alive ping is answered with a pong carrying the same sequence number.
    client
        .write_all(&[0x24, 0, 0, 0, 9, 0, 0, 0])
        .await
        .unwrap();
    assert_eq!(read_n(&mut client, 8).await, [0x25, 0, 0, 0, 9, 0, 0, 0]);

    // EndRedirectionSession ends the service cleanly.
    client.write_all(&[0x12, 0, 0, 0]).await.unwrap();
    service.await.unwrap().unwrap();
}

#[tokio::test]
async fn wrong_password_is_rejected() {
    let device = provisioned_device(2);
    let (mut client, server) = tokio::io::duplex(4096);
    tokio::spawn(sim::redirection::serve(device, server));
    assert_eq!(start_sol(&mut client).await, 0);
    assert_eq!(
        digest_login(&mut client, "admin", "not-the-password").await,
        1,
        "digest refused"
    );
    // SOL must not start without authentication: the service closes the stream.
    client
        .write_all(&[0x20, 0, 0, 0, 1, 0, 0, 0])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut rest).await;
    assert!(
        rest.is_empty(),
        "nothing but a close after an unauthenticated SOL start: {rest:?}"
    );
}

#[tokio::test]
async fn second_sol_session_is_busy_and_kvm_is_a_separate_session() {
    let device = provisioned_device(3);
    let (mut first, server) = tokio::io::duplex(4096);
    tokio::spawn(sim::redirection::serve(device.clone(), server));
    assert_eq!(start_sol(&mut first).await, 0);

    let (mut second, server) = tokio::io::duplex(4096);
    tokio::spawn(sim::redirection::serve(device.clone(), server));
    assert_eq!(
        start_sol(&mut second).await,
        2,
        "BUSY while the first SOL session lives"
    );

    let (mut kvm, server) = tokio::io::duplex(4096);
    tokio::spawn(sim::redirection::serve(device.clone(), server));
    kvm.write_all(&[0x10, 0x01, 0, 0, b'K', b'V', b'M', b'R'])
        .await
        .unwrap();
    assert_eq!(
        read_n(&mut kvm, 2).await,
        [0x11, 0],
        "KVM is another session kind: accepted"
    );

    // Once the first session ends, SOL is free again.
    first.write_all(&[0x12, 0, 0, 0]).await.unwrap();
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (mut third, server) = tokio::io::duplex(4096);
    tokio::spawn(sim::redirection::serve(device, server));
    assert_eq!(start_sol(&mut third).await, 0);
}

#[tokio::test]
async fn garbage_before_authentication_closes_the_session() {
    let device = provisioned_device(4);
    let (mut client, server) = tokio::io::duplex(4096);
    let service = tokio::spawn(sim::redirection::serve(device, server));
    client
        .write_all(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0, b'x'])
        .await
        .unwrap();
    assert!(
        service.await.unwrap().is_err(),
        "protocol violation reported, no panic"
    );
}

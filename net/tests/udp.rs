//! UDP on loopback (127.0.0.1 and ::1): `send_to`/`recv_from`, and `connect`/`send`/`recv`.

mod support;

use std::io;
use std::time::Duration;

use net::UdpSocket;
use runtime::time::timeout;
use support::run;

/// Binds on `ip`, or None (with the reason printed) when this host has no such loopback.
async fn bind(ip: &str) -> io::Result<Option<UdpSocket>> {
    match UdpSocket::bind(format!("{ip}:0")).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
            eprintln!("skipped: no loopback {ip} here ({e})");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn send_to_and_recv_from(ip: &str) -> io::Result<()> {
    let (Some(a), Some(b)) = (bind(ip).await?, bind(ip).await?) else {
        return Ok(());
    };
    let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
    for (i, len) in [0usize, 1, 1200, 60_000].into_iter().enumerate() {
        let msg: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        let (res, _) = a.send_to(msg.clone(), b_addr).await;
        assert_eq!(res?, len);
        let (res, buf) = b.recv_from(Vec::with_capacity(65_536)).await;
        let (n, from) = res?;
        assert_eq!((n, from), (len, a_addr));
        assert!(buf == msg, "datagram {i} differs");
    }
    // A datagram larger than the buffer is truncated to it (and the rest dropped).
    a.send_to(vec![9u8; 100], b_addr).await.0?;
    let (res, buf) = b.recv_from(Vec::with_capacity(10)).await;
    assert_eq!(res?.0, 10);
    assert_eq!(buf, [9u8; 10]);
    Ok(())
}

async fn connect_send_recv(ip: &str) -> io::Result<()> {
    let (Some(a), Some(b), Some(c)) = (bind(ip).await?, bind(ip).await?, bind(ip).await?) else {
        return Ok(());
    };
    a.connect(b.local_addr()?).await?;
    b.connect(a.local_addr()?).await?;
    assert_eq!(a.send(b"ping".to_vec()).await.0?, 4);
    let (res, buf) = b.recv(Vec::with_capacity(16)).await;
    assert_eq!((res?, &buf[..]), (4, &b"ping"[..]));
    b.send(b"pong".to_vec()).await.0?;
    let (res, buf) = a.recv(Vec::with_capacity(16)).await;
    assert_eq!((res?, &buf[..]), (4, &b"pong"[..]));
    // A connected socket drops datagrams from anyone else.
    c.send_to(b"stranger".to_vec(), a.local_addr()?).await.0?;
    let r = timeout(Duration::from_millis(50), a.recv(Vec::with_capacity(16))).await;
    assert!(r.is_err(), "a connected socket took a stranger's datagram");
    Ok(())
}

#[test]
fn send_to_and_recv_from_v4() {
    run(send_to_and_recv_from("127.0.0.1"));
}

#[test]
fn send_to_and_recv_from_v6() {
    run(send_to_and_recv_from("[::1]"));
}

#[test]
fn connect_send_recv_v4() {
    run(connect_send_recv("127.0.0.1"));
}

#[test]
fn connect_send_recv_v6() {
    run(connect_send_recv("[::1]"));
}

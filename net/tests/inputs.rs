//! The input audit of net (docs/input-audit.md), enforced: sizes, counts and durations at
//! 0, at their largest and past it are served, saturated or refused by the kernel with its
//! errno, never a panic, a hang or a silently different value.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

#[cfg(feature = "tokio")]
use net::compat::Compat;
use net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// An int socket option, read with `getsockopt(2)`.
fn sockopt(s: &TcpStream, level: i32, name: i32) -> libc::c_int {
    let (mut v, mut len) = (
        0 as libc::c_int,
        size_of::<libc::c_int>() as libc::socklen_t,
    );
    // SAFETY: `v` and `len` are valid for writes of an int and its length.
    let rc = unsafe { libc::getsockopt(s.as_raw_fd(), level, name, (&raw mut v).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
    v
}

fn rcvbuf(s: &TcpStream) -> usize {
    sockopt(s, libc::SOL_SOCKET, libc::SO_RCVBUF) as usize
}

/// The linger time in seconds (`SO_LINGER`'s `l_linger`).
fn linger_secs(s: &TcpStream) -> libc::c_int {
    let mut l = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let mut len = size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: `l` and `len` are valid for writes of a linger and its length.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw mut l).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
    l.l_linger
}

/// Buffer sizes are saturated at `i32::MAX` before socket2 casts them to a C `int`: 2^32
/// bytes used to become 0 (the smallest buffer), 2^32 + 4096 became 4096.
#[runtime::test]
async fn socket_buffer_sizes_saturate() {
    let (s, _peer) = pair().await;
    s.set_recv_buffer_size(1 << 20).unwrap();
    let asked = rcvbuf(&s);
    for size in [0, 1 << 32, (1 << 32) + 4096, usize::MAX] {
        s.set_recv_buffer_size(size).unwrap();
        s.set_send_buffer_size(size).unwrap();
        let got = rcvbuf(&s);
        if size == 0 {
            assert!(got < asked, "0 is the kernel's minimum: {got}");
        } else {
            assert!(
                got >= asked,
                "{size} saturates at the kernel's maximum, got {got}"
            );
        }
    }
    let sock = TcpSocket::new_v4().unwrap();
    for size in [0, 1 << 32, usize::MAX] {
        sock.set_recv_buffer_size(size).unwrap();
        sock.set_send_buffer_size(size).unwrap();
    }
}

/// Linger and keep-alive times are saturated at `i32::MAX` seconds: a linger of 2^32 s
/// used to become 0, a reset on close.
#[runtime::test]
async fn socket_times_saturate() {
    let (s, _peer) = pair().await;
    for secs in [1u64 << 32, (1 << 32) + 5, u64::MAX] {
        s.set_linger(Some(Duration::from_secs(secs))).unwrap();
        assert_eq!(linger_secs(&s), i32::MAX, "linger {secs}");
        // TCP_KEEPIDLE takes at most 32767 s: past it, the kernel's EINVAL, never 5 s.
        let e = s
            .set_keepalive(Some(Duration::from_secs(secs)))
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "keepalive {secs}");
    }
    s.set_linger(Some(Duration::ZERO)).unwrap();
    s.set_linger(Some(Duration::MAX)).unwrap();
    s.set_keepalive(Some(Duration::from_secs(1))).unwrap();
    let e = s.set_keepalive(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    s.set_keepalive(None).unwrap();
}

/// `listen` backlogs: 0 and `u32::MAX` (saturated at `i32::MAX`, then the kernel's
/// somaxconn) both accept.
#[runtime::test]
async fn listen_backlog_extremes_accept() {
    for backlog in [0, 1, u32::MAX] {
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let l = sock.listen(backlog).unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (_s, peer) = l.accept().await.unwrap();
        assert_eq!(peer, c.local_addr().unwrap(), "backlog {backlog}");
    }
}

/// `connect_timeout` at 0 fails at once with `TimedOut`; at `Duration::MAX` it waits (it
/// used to time out after ~24 us: the timespec wrapped negative).
#[runtime::test]
async fn connect_timeout_extremes() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    for t in [Duration::from_secs(u64::MAX / 2), Duration::MAX] {
        let s = TcpStream::connect_timeout(l.local_addr().unwrap(), t)
            .await
            .unwrap();
        drop(s);
    }
    match TcpStream::connect_timeout(l.local_addr().unwrap(), Duration::ZERO).await {
        Ok(_) => {} // loopback may connect before a 0 timeout fires
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}"),
    }
}

/// `Compat` buffer capacities are clamped to 1 byte ..= 64 MiB (0 panicked; `usize::MAX`
/// aborted at the first read): bytes still go through whole.
#[cfg(feature = "tokio")]
#[runtime::test]
async fn compat_capacities_are_clamped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for (read, write) in [(0, 0), (1, 1), (usize::MAX, usize::MAX)] {
        let (a, b) = pair().await;
        let mut a = Compat::new(a).with_capacity(read, write);
        let mut b = Compat::new(b).with_capacity(read, write);
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let sent = data.clone();
        let writer = runtime::spawn(async move {
            a.write_all(&sent).await.unwrap();
            a.flush().await.unwrap();
        });
        let mut got = vec![0u8; data.len()];
        b.read_exact(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got, data, "capacities {read}, {write}");
    }
}

/// Empty buffers move nothing; a datagram past 64 KiB is the kernel's EMSGSIZE; a receive
/// into an empty buffer on a socket returns 0 without losing the datagram waiting.
#[runtime::test]
async fn empty_and_oversized_datagrams() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = b.local_addr().unwrap();
    let (n, _) = a.send_to(Vec::new(), to).await;
    assert_eq!(n.unwrap(), 0);
    let (n, _) = b.recv_from(Vec::with_capacity(16)).await;
    assert_eq!(n.unwrap().0, 0, "the empty datagram");
    let (res, _) = a.send_to(vec![0u8; 70_000], to).await;
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EMSGSIZE));
    for ttl in [256, i32::MAX as u32 + 1, u32::MAX] {
        let e = a.set_multicast_ttl_v4(ttl).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "ttl {ttl}");
    }
    a.set_multicast_ttl_v4(0).unwrap();
    a.set_multicast_ttl_v4(255).unwrap();
}

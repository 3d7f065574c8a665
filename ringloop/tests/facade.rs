//! The facade: one dependency gives the macros, the runtime, `net` and `fs`; a renamed
//! dependency works with `crate = "path"`; work started outside a runtime fails early and says so.

// The facade under another name, as `rl = { package = "ringloop", .. }` in Cargo.toml would give.
extern crate ringloop as rl;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use ringloop::NoRuntime;
use ringloop::net::{TcpListener, TcpStream, UdpSocket, UnixListener};

#[ringloop::test]
async fn facade_test_runs_sockets_and_files() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let client = ringloop::spawn(async move {
        let stream = TcpStream::connect(addr).await?;
        let (res, _) = stream.write_all(b"ping".to_vec()).await;
        res
    });
    let (server, _) = listener.accept().await?;
    let (res, buf) = server.read(Vec::with_capacity(8)).await;
    assert_eq!(&buf[..res?], b"ping");
    client.await.unwrap()?;

    let path = std::env::temp_dir().join(format!("ringloop-facade-{}", std::process::id()));
    ringloop::fs::write(&path, b"file".as_slice()).await?;
    assert_eq!(ringloop::fs::read(&path).await?, b"file");
    ringloop::fs::remove_file(&path).await
}

#[rl::test(crate = "rl")]
async fn renamed_dependency_works_with_the_crate_argument() {
    rl::time::sleep(std::time::Duration::from_millis(1)).await;
    assert_eq!(rl::core_id(), Some(0));
}

/// Polls `fut` once on this thread, where no runtime runs.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(fut).poll(&mut cx)
}

#[test]
fn binds_outside_a_runtime_fail_at_bind_with_no_runtime() {
    let Poll::Ready(Err(err)) = poll_once(TcpListener::bind("127.0.0.1:0")) else {
        panic!("TcpListener::bind outside a runtime did not fail at once");
    };
    assert!(NoRuntime::is(&err), "{err}");
    let Poll::Ready(Err(err)) = poll_once(UdpSocket::bind("127.0.0.1:0")) else {
        panic!("UdpSocket::bind outside a runtime did not fail at once");
    };
    assert!(NoRuntime::is(&err), "{err}");
    let path = std::env::temp_dir().join(format!("ringloop-facade-{}.sock", std::process::id()));
    let err = UnixListener::bind(&path).unwrap_err();
    assert!(NoRuntime::is(&err), "{err}");
    assert!(!path.exists(), "a failed bind left a socket file");
    // A kernel error is not mistaken for it.
    let kernel = std::io::Error::from(std::io::ErrorKind::AddrInUse);
    assert!(!NoRuntime::is(&kernel));
}

#[test]
#[should_panic(expected = "no io_uring runtime on this thread")]
fn spawn_outside_a_runtime_panics_saying_why() {
    drop(ringloop::spawn(async {}));
}

#[ringloop::test]
async fn local_addr_is_std_on_every_socket() -> std::io::Result<()> {
    let tcp: std::net::SocketAddr = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let udp: std::net::SocketAddr = UdpSocket::bind("127.0.0.1:0").await?.local_addr()?;
    assert!(tcp.ip().is_loopback() && udp.ip().is_loopback());
    let path = std::env::temp_dir().join(format!("ringloop-addr-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let bound: std::os::unix::net::SocketAddr = listener.local_addr()?;
    assert_eq!(bound.as_pathname(), Some(path.as_path()));
    let client = ringloop::net::UnixStream::connect(&path).await?;
    assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
    assert!(client.local_addr()?.is_unnamed());
    std::fs::remove_file(&path)
}

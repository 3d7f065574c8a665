//! Unix sockets: streams by path and by abstract name, `pair`, datagrams by pair and by
//! path, and `peer_cred` (an io_uring socket command, Linux 6.7+).

mod support;

use std::io;
use std::path::PathBuf;

use net::{UnixDatagram, UnixListener, UnixStream};
use support::{join, run};

/// A fresh socket path in the temp dir; removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        let p = std::env::temp_dir().join(format!(
            "net-test-{}-{tag}-{:?}.sock",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Accepts one connection on `listener` and echoes `len` bytes back.
async fn echo_once(listener: UnixListener, len: usize) -> io::Result<()> {
    let s = listener.accept().await?;
    let (res, buf) = s.read_exact(Vec::with_capacity(len)).await;
    res?;
    s.write_all(buf).await.0
}

async fn round_trip(c: &UnixStream, msg: &[u8]) -> io::Result<()> {
    c.write_all(msg.to_vec()).await.0?;
    let (res, buf) = c.read_exact(Vec::with_capacity(msg.len())).await;
    res?;
    assert_eq!(buf, msg);
    Ok(())
}

#[test]
fn stream_by_path() {
    run(async {
        let path = TempPath::new("stream");
        let l = UnixListener::bind(&path.0)?;
        let server = runtime::spawn(echo_once(l, 5));
        let c = UnixStream::connect(&path.0).await?;
        let peer = c.peer_addr()?;
        assert_eq!(peer.as_pathname(), Some(path.0.as_path()));
        round_trip(&c, b"hello").await?;
        join(server).await?;
        // Binding the same path again: EADDRINUSE (the socket file is still there).
        let err = UnixListener::bind(&path.0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        Ok(())
    });
}

#[test]
fn stream_by_abstract_name() {
    run(async {
        let name = format!("\0net-test-{}-abstract", std::process::id());
        let l = UnixListener::bind(&name)?;
        let server = runtime::spawn(echo_once(l, 8));
        let c = UnixStream::connect(&name).await?;
        // No file appears for an abstract name.
        assert!(!std::path::Path::new(&name[1..]).exists());
        round_trip(&c, b"abstract").await?;
        join(server).await
    });
}

#[test]
fn connect_to_nothing_fails() {
    run(async {
        let path = TempPath::new("nothing");
        let err = UnixStream::connect(&path.0).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        Ok(())
    });
}

#[test]
fn stream_pair() {
    run(async {
        let (a, b) = UnixStream::pair()?;
        a.write_all(b"to b".to_vec()).await.0?;
        let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
        res?;
        assert_eq!(buf, b"to b");
        b.writev(vec![b"to ".to_vec(), b"a".to_vec()]).await.0?;
        let (res, buf) = a.read_exact(Vec::with_capacity(4)).await;
        res?;
        assert_eq!(buf, b"to a");
        a.shutdown(std::net::Shutdown::Write).await?;
        assert_eq!(b.read(Vec::with_capacity(4)).await.0?, 0);
        Ok(())
    });
}

#[test]
fn datagram_pair() {
    run(async {
        let (a, b) = UnixDatagram::pair()?;
        for msg in [&b"one"[..], b"", b"three"] {
            assert_eq!(a.send(msg.to_vec()).await.0?, msg.len());
        }
        // Datagram boundaries are kept (an empty one included).
        for msg in [&b"one"[..], b"", b"three"] {
            let (res, buf) = b.recv(Vec::with_capacity(64)).await;
            assert_eq!((res?, &buf[..]), (msg.len(), msg));
        }
        Ok(())
    });
}

#[test]
fn datagram_by_path() {
    run(async {
        let (pa, pb) = (TempPath::new("dgram-a"), TempPath::new("dgram-b"));
        let a = UnixDatagram::bind(&pa.0)?;
        let b = UnixDatagram::bind(&pb.0)?;
        a.send_to(b"hi b".to_vec(), &pb.0).await.0?;
        let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
        let (n, from) = res?;
        assert_eq!(&buf[..n], b"hi b");
        assert_eq!(from.as_pathname(), Some(pa.0.as_path()));
        // connect + send from an unbound socket.
        let c = UnixDatagram::unbound()?;
        c.connect(&pb.0).await?;
        c.send(b"from c".to_vec()).await.0?;
        let (res, buf) = b.recv(Vec::with_capacity(64)).await;
        assert_eq!((res?, &buf[..]), (6, &b"from c"[..]));
        Ok(())
    });
}

#[test]
fn peer_cred_names_this_process() {
    run(async {
        let (a, _b) = UnixStream::pair()?;
        let cred = a.peer_cred().await?;
        assert_eq!(cred.pid, std::process::id() as i32);
        // SAFETY: getuid/getgid cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!((cred.uid, cred.gid), (uid, gid));

        // And across a listener: the accepted side sees the connecting process.
        let path = TempPath::new("cred");
        let l = UnixListener::bind(&path.0)?;
        let c = UnixStream::connect(&path.0).await?;
        let s = l.accept().await?;
        assert_eq!(s.peer_cred().await?.pid, std::process::id() as i32);
        assert_eq!(c.peer_cred().await?.pid, std::process::id() as i32);
        Ok(())
    });
}

//! Sockets on the fallback driver where its route differs from io_uring's: SEND_ZC is a
//! copying send plus the notification the op waits for; `MSG_WAITALL` stream writes go on
//! across readiness until every byte is out (as io_uring does since Linux 5.18); and the
//! `O_NONBLOCK` the emulator needs for connect does not stay on the socket (it stays on a
//! listener, documented); a multishot receive that waits for the next edge after a short
//! read still sees every byte and the end. Each test forces the fallback, whatever
//! `RUNTIME_DRIVER` says.

mod support;

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use net::{TcpListener, TcpStream};
use runtime::buf::BufPool;
use runtime::{Builder, DriverChoice, DriverKind};
use support::{join, pattern};

/// Whether `RUNTIME_FAULTS` shortens transfers in this run (`.ci/faults`): a test that
/// counts ops or expects one op to move everything has nothing to check then.
fn faults_injected() -> bool {
    std::env::var_os("RUNTIME_FAULTS").is_some_and(|v| !v.is_empty())
}

/// Runs `body` on a one-core fallback runtime; panics with its error, or after 10 s.
fn run_fallback<F: Future<Output = io::Result<()>>>(body: F) {
    let rt = Builder::new()
        .driver(DriverChoice::Fallback)
        .build()
        .expect("the fallback driver needs no io_uring");
    rt.block_on(async {
        assert_eq!(runtime::driver_kind(), Some(DriverKind::Fallback));
        match runtime::time::timeout(Duration::from_secs(10), body).await {
            Ok(r) => r.expect("test body failed"),
            Err(_) => panic!("test body still running after 10 s"),
        }
    });
}

async fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let client = runtime::spawn(TcpStream::connect(addr));
    let (server, _) = listener.accept().await?;
    Ok((join(client).await?, server))
}

/// Whether `fd` has `O_NONBLOCK`.
fn nonblocking(fd: &impl AsRawFd) -> bool {
    // SAFETY: plain integers.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "{}", io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn send_zc_copies_and_notifies_and_goes_out_whole() {
    if faults_injected() {
        return; // injected short transfers break "one op, every byte" by design
    }
    run_fallback(async {
        let (c, s) = pair().await?;
        // More than the socket buffers hold: the send waits for room several times.
        let len = 8 << 20;
        let data = pattern(len);
        let reader = runtime::spawn(async move { s.read_exact(Vec::with_capacity(len)).await });
        // The reader's receive goes first, so the counts below are the send's alone.
        runtime::yield_now().await;
        let before = runtime::metrics().unwrap();
        let (res, buf) = c.send_zc(data.clone()).await;
        let after = runtime::metrics().unwrap();
        // One op, every byte (MSG_WAITALL), and the buffer back only with the notification.
        assert_eq!(res?, len);
        assert!(buf == data, "the buffer came back whole");
        assert_eq!(after.ops_submitted - before.ops_submitted, 1);
        assert!(
            after.cqes_reaped - before.cqes_reaped >= 2,
            "result and notification"
        );
        let (res, got) = join(reader).await;
        res?;
        assert!(got == data, "bytes lost, repeated or out of order");
        Ok(())
    });
}

#[test]
fn one_stream_write_and_one_writev_send_every_byte() {
    if faults_injected() {
        return; // injected short transfers break "one op, every byte" by design
    }
    run_fallback(async {
        let (c, s) = pair().await?;
        let len = 16 << 20;
        let data = pattern(len);
        let reader = runtime::spawn(async move { s.read_exact(Vec::with_capacity(2 * len)).await });
        let (n, _) = c.write(data.clone()).await;
        assert_eq!(n?, len, "one write, all of it");
        let bufs: Vec<Vec<u8>> = data.chunks(1 << 20).map(<[u8]>::to_vec).collect();
        let (n, _) = c.writev(bufs).await;
        assert_eq!(n?, len, "one writev, all of it");
        let (res, got) = join(reader).await;
        res?;
        assert!(
            got[..len] == data[..] && got[len..] == data[..],
            "bytes differ"
        );
        Ok(())
    });
}

#[test]
fn connected_and_accepted_sockets_stay_blocking() {
    run_fallback(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client = runtime::spawn(TcpStream::connect(addr));
        let (server, _) = listener.accept().await?;
        let client = join(client).await?;
        // The listener is the emulator's to accept on without blocking (cores may share
        // it); it has no `into_std`.
        assert!(nonblocking(&listener), "the listener, as documented");
        assert!(!nonblocking(&server), "the accepted socket");
        // A connected socket handed to blocking code blocks, as it would on io_uring.
        let mut client = client.into_std()?;
        assert!(!nonblocking(&client), "the connected socket");
        std::io::Write::write_all(&mut client, b"blocking")?;
        let (res, got) = server.read_exact(Vec::with_capacity(8)).await;
        res?;
        assert_eq!(got, b"blocking");
        Ok(())
    });
}

/// The emulator registers a socket edge-triggered and a multishot receive that reads less
/// than its buffer waits for the next edge. Bytes and the end that arrive together bring one
/// edge: the receive must read on to the end rather than wait for an edge that never comes.
/// Then bytes that come in pieces, an edge each. Twenty connections, so fd numbers are
/// reused: each op registers its own fd.
#[test]
fn a_multishot_receive_sees_every_byte_and_the_end_after_short_reads() {
    run_fallback(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let pool = BufPool::new(9, 8, 1024)?;
        for round in 0..20 {
            let mut client = std::net::TcpStream::connect(addr)?;
            let (server, _) = listener.accept().await?;
            let mut stream = server.recv_stream(&pool);
            // The receive starts, finds nothing and waits for an edge.
            assert!(stream.try_next().is_none(), "nothing sent yet");
            runtime::yield_now().await;
            let data = pattern(100 + round);
            if round % 2 == 0 {
                // Bytes and the end before the core looks again: one edge for both.
                std::io::Write::write_all(&mut client, &data)?;
                client.shutdown(std::net::Shutdown::Write)?;
            } else {
                // Bytes in three pieces, each after the receive drained the last.
                for piece in data.chunks(40) {
                    std::io::Write::write_all(&mut client, piece)?;
                    runtime::time::sleep(Duration::from_millis(2)).await;
                }
                client.shutdown(std::net::Shutdown::Write)?;
            }
            let mut got = Vec::new();
            while let Some(buf) = stream.next().await {
                got.extend_from_slice(&buf?);
            }
            assert_eq!(got, data, "round {round}");
        }
        Ok(())
    });
}

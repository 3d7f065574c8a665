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
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::Duration;

use net::{RecvStream, TcpListener, TcpStream, UnixStream};
use runtime::buf::BufPool;
use runtime::{Builder, DriverChoice, DriverKind};
use support::{faults_injected, join, pattern};

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

// An edge-triggered registration only tells of what comes after it: an op may wait only
// after its syscall said EAGAIN, or after a short read that left nothing behind. Each test
// below hung once, where a read stopped short with data or the end still queued.

/// read_exact (a MSG_WAITALL recv) that gets fewer bytes than asked followed by EOF, both
/// queued when the retry runs: must end with UnexpectedEof.
#[test]
fn waitall_recv_short_then_eof() {
    run_fallback(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut client = std::net::TcpStream::connect(addr)?;
        let (server, _) = listener.accept().await?;
        let read =
            runtime::spawn(async move { server.read_exact(Vec::with_capacity(100)).await.0 });
        // Let the read start, find nothing and wait.
        runtime::time::sleep(Duration::from_millis(20)).await;
        std::io::Write::write_all(&mut client, &[7u8; 10])?;
        drop(client);
        let r = runtime::time::timeout(Duration::from_secs(3), join(read))
            .await
            .map_err(|_| io::Error::other("the op did not complete within 3 s"))?;
        let e = r.expect_err("short");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        Ok(())
    });
}

/// The first `n` bytes of `stream` (fewer at its end); an error naming what came if they
/// do not come within 3 s.
async fn first_bytes(stream: &mut RecvStream, n: usize) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let read = runtime::time::timeout(Duration::from_secs(3), async {
        while got.len() < n {
            match stream.next().await {
                Some(buf) => got.extend_from_slice(&buf?),
                None => break,
            }
        }
        Ok::<_, io::Error>(())
    })
    .await;
    match read {
        Ok(r) => r.map(|()| got),
        Err(_) => Err(io::Error::other(format!(
            "HANG: got only {:?}",
            String::from_utf8_lossy(&got)
        ))),
    }
}

/// Urgent data in the middle of a stream read by a multishot receive.
#[test]
fn multishot_recv_urgent_data() {
    run_fallback(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let pool = BufPool::new(9, 8, 1024)?;
        let mut client = std::net::TcpStream::connect(addr)?;
        let (server, _) = listener.accept().await?;
        let mut stream = server.recv_stream(&pool);
        assert!(stream.try_next().is_none());
        runtime::time::sleep(Duration::from_millis(20)).await;
        std::io::Write::write_all(&mut client, b"abc")?;
        // SAFETY: one byte from a live buffer.
        let r = unsafe { libc::send(client.as_raw_fd(), b"X".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(r, 1);
        std::io::Write::write_all(&mut client, b"def")?;
        assert_eq!(first_bytes(&mut stream, 6).await?, b"abcdef");
        drop(client);
        Ok(())
    });
}

/// read_exact on a SOCK_SEQPACKET socket: io_uring goes on across records for MSG_WAITALL
/// (io_net_retry); two records queued at once.
#[test]
fn waitall_seqpacket_two_records() {
    run_fallback(async {
        let mut fds = [0; 2];
        // SAFETY: a two-int array.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0);
        // SAFETY: fresh fds we own.
        let (a, b) = unsafe {
            (
                std::os::unix::net::UnixStream::from_raw_fd(fds[0]),
                std::os::unix::net::UnixStream::from_raw_fd(fds[1]),
            )
        };
        let a = UnixStream::from_std(a);
        let read = runtime::spawn(async move { a.read_exact(Vec::with_capacity(8)).await });
        runtime::time::sleep(Duration::from_millis(20)).await;
        std::io::Write::write_all(&mut &b, b"aaaa")?;
        std::io::Write::write_all(&mut &b, b"bbbb")?;
        let (r, buf) = runtime::time::timeout(Duration::from_secs(3), join(read))
            .await
            .map_err(|_| io::Error::other("the op did not complete within 3 s"))?;
        r?;
        assert_eq!(buf, b"aaaabbbb");
        drop(b);
        Ok(())
    });
}

/// A multishot receive on a Unix stream whose peer passes an fd (SCM_RIGHTS) with a
/// message: the kernel ends a read at a message that carried fds, data behind it stays.
#[test]
fn multishot_recv_unix_stream_scm_rights() {
    run_fallback(async {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        let a = UnixStream::from_std(a);
        let pool = BufPool::new(9, 8, 1024)?;
        let mut stream = a.recv_stream(&pool);
        assert!(stream.try_next().is_none());
        runtime::time::sleep(Duration::from_millis(20)).await;
        // "abc" with an fd, then "def".
        let passed = std::fs::File::open("/dev/null")?;
        let fdv = passed.as_raw_fd();
        // SAFETY: a msghdr with one iovec and one SCM_RIGHTS cmsg, all live locals.
        unsafe {
            let mut data = *b"abc";
            let mut iov = libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: 3,
            };
            let space = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize;
            let mut cbuf = vec![0u8; space];
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), fdv);
            assert_eq!(libc::sendmsg(b.as_raw_fd(), &msg, 0), 3);
        }
        std::io::Write::write_all(&mut &b, b"def")?;
        assert_eq!(first_bytes(&mut stream, 6).await?, b"abcdef");
        drop(b);
        Ok(())
    });
}

/// A Unix listener whose backlog is full (listen(0), filled by non-blocking connects until
/// EAGAIN), and the fillers.
fn full_unix_listener(path: &std::path::Path) -> (socket2::Socket, Vec<socket2::Socket>) {
    use socket2::{Domain, SockAddr, Socket, Type};
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    listener.bind(&SockAddr::unix(path).unwrap()).unwrap();
    listener.listen(0).unwrap();
    let mut fillers = Vec::new();
    loop {
        let c = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        match c.connect(&SockAddr::unix(path).unwrap()) {
            Ok(()) => fillers.push(c),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
            Err(e) => panic!("filling the backlog: {e}"),
        }
    }
    (listener, fillers)
}

/// A Unix connect to a listener whose backlog is full waits, as on io_uring, and completes
/// connected once the listener accepts. Before the fix the emulator took EAGAIN ("nothing
/// started") for EINPROGRESS, found the unconnected socket writable and returned `Ok` with
/// a socket that was not connected (ENOTCONN on every use).
#[test]
fn a_unix_connect_to_a_full_backlog_waits_for_room() {
    let path = std::env::temp_dir().join(format!("net-full-backlog-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (listener, _fillers) = full_unix_listener(&path);
    run_fallback(async {
        let connect = runtime::spawn(UnixStream::connect(path.clone()));
        runtime::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !connect.is_finished(),
            "the connect ended while the backlog was full"
        );
        // Room in the backlog: the connect goes through.
        drop(listener.accept()?);
        let stream = runtime::time::timeout(Duration::from_secs(5), connect)
            .await
            .expect("the connect still waits after the listener accepted")
            .expect("the connect task")?;
        stream.peer_addr().expect("a connected socket");
        Ok(())
    });
    let _ = std::fs::remove_file(&path);
}

//! TCP on loopback: round trips, accept and multishot `incoming`, exact reads (into any
//! owned buffer) and full writes, writev, zero-copy send, multishot receive on a
//! provided-buffer pool (also when the pool runs dry), split halves, names, connect timeouts,
//! IPv6, and the faults: refused, reset, half-close, silence, zero-length buffers, address in
//! use, drop with ops in flight.

mod support;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use net::{TcpListener, TcpSocket, TcpStream};
use runtime::buf::{BufPool, IoBuf};
use runtime::time::{sleep, timeout};
use support::{join, pattern, run, settle};

/// A listener on an ephemeral loopback port.
async fn listener() -> io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr().unwrap();
    Ok((l, addr))
}

/// A connected pair: (client, server).
async fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let (l, addr) = listener().await?;
    let client = runtime::spawn(async move { TcpStream::connect(addr).await });
    let (server, _) = l.accept().await?;
    let client = join(client).await?;
    Ok((client, server))
}

/// Serves echo on one accepted stream until EOF.
async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            return Ok(());
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
        buf.clear();
    }
}

#[test]
fn echo_round_trip() {
    run(async {
        let (l, addr) = listener().await?;
        let server = runtime::spawn(async move {
            let (s, peer) = l.accept().await?;
            assert!(peer.ip().is_loopback());
            echo(s).await
        });
        let c = TcpStream::connect(addr).await?;
        assert_eq!(c.peer_addr()?, addr);
        for msg in [&b"hello"[..], b"world", &[7u8; 3000]] {
            c.write_all(msg.to_vec()).await.0?;
            let (res, buf) = c.read_exact(Vec::with_capacity(msg.len())).await;
            res?;
            assert_eq!(buf, msg);
        }
        drop(c);
        join(server).await
    });
}

#[test]
fn incoming_accepts_several_clients_on_one_multishot() {
    run(async {
        let (l, addr) = listener().await?;
        const CLIENTS: usize = 16;
        let server = runtime::spawn(async move {
            let mut incoming = l.incoming();
            let mut tasks = Vec::new();
            for _ in 0..CLIENTS {
                let s = incoming.next().await.expect("incoming never ends")?;
                assert!(s.peer_addr()?.ip().is_loopback());
                tasks.push(runtime::spawn(echo(s)));
            }
            for t in tasks {
                join(t).await?;
            }
            Ok::<_, io::Error>(())
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                runtime::spawn(async move {
                    let c = TcpStream::connect(addr).await?;
                    let msg = format!("client {i}").into_bytes();
                    c.write_all(msg.clone()).await.0?;
                    let (res, buf) = c.read_exact(Vec::with_capacity(msg.len())).await;
                    res?;
                    assert_eq!(buf, msg);
                    Ok::<_, io::Error>(())
                })
            })
            .collect();
        for c in clients {
            join(c).await?;
        }
        join(server).await?;
        Ok(())
    });
}

#[test]
fn read_exact_and_write_all_move_a_large_buffer() {
    run(async {
        let (c, s) = pair().await?;
        let data = pattern(4 << 20);
        let expected = data.clone();
        let writer = runtime::spawn(async move {
            let (res, buf) = c.write_all(data).await;
            res?;
            assert_eq!(buf.len(), 4 << 20, "write_all gives the buffer back");
            Ok::<_, io::Error>(c)
        });
        let (res, buf) = s.read_exact(Vec::with_capacity(4 << 20)).await;
        res?;
        assert!(buf == expected, "bytes differ");
        let c = join(writer).await?;
        // read_exact at end of stream is UnexpectedEof, with what was read.
        c.write_all(b"abc".to_vec()).await.0?;
        drop(c);
        let (res, buf) = s.read_exact(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"abc");
        Ok(())
    });
}

#[test]
fn read_exact_fills_any_owned_buffer() {
    run(async {
        let (c, s) = pair().await?;
        c.write_all(b"0123456789abcdef".to_vec()).await.0?;
        // A boxed slice is filled to its length.
        let (res, boxed) = s.read_exact(vec![0u8; 6].into_boxed_slice()).await;
        res?;
        assert_eq!(&boxed[..], b"012345");
        // A range of a Vec: that range is filled, the bytes before it are kept.
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"<<");
        let (res, slice) = s.read_exact(v.slice(2..8)).await;
        res?;
        assert_eq!(slice.into_inner(), b"<<6789ab");
        // The read half takes them too.
        let (r, _w) = s.into_split();
        let (res, array) = r.read_exact(Box::new([0u8; 4])).await;
        res?;
        assert_eq!(&array[..], b"cdef");
        // At end of stream: UnexpectedEof, with what was read at the buffer's start.
        c.write_all(b"xy".to_vec()).await.0?;
        drop(c);
        let (res, boxed) = r.read_exact(vec![0u8; 4].into_boxed_slice()).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(&boxed[..2], b"xy");
        Ok(())
    });
}

#[test]
fn writev_sends_buffers_in_order() {
    run(async {
        let (c, s) = pair().await?;
        let bufs = vec![
            b"one ".to_vec(),
            Vec::new(),
            b"two ".to_vec(),
            b"three".to_vec(),
        ];
        let (res, bufs) = c.writev(bufs).await;
        assert_eq!(res?, 13);
        assert_eq!(bufs.len(), 4, "writev gives the buffers back");
        let (res, buf) = s.read_exact(Vec::with_capacity(13)).await;
        res?;
        assert_eq!(buf, b"one two three");
        Ok(())
    });
}

#[test]
fn send_zc_returns_the_buffer_after_the_notification() {
    run(async {
        let (c, s) = pair().await?;
        // Small enough for the socket buffers: the send completes with nobody reading, so
        // the counters below see this op alone.
        let data = pattern(64 * 1024);
        let expected = data.clone();
        let before = runtime::metrics().unwrap();
        let (res, buf) = c.send_zc(data).await;
        let after = runtime::metrics().unwrap();
        assert_eq!(res?, 64 * 1024);
        assert_eq!(buf, expected, "the buffer came back whole");
        // The op was handed back only at its final CQE: the result (F_MORE), then the
        // notification (F_NOTIF) once the kernel let go of the buffer.
        assert_eq!(after.ops_completed - before.ops_completed, 1);
        assert!(
            after.cqes_reaped - before.cqes_reaped >= 2,
            "{} CQE(s) for a zero-copy send",
            after.cqes_reaped - before.cqes_reaped
        );
        assert_eq!(after.ops_in_flight, before.ops_in_flight);
        let (res, got) = s.read_exact(Vec::with_capacity(64 * 1024)).await;
        res?;
        assert!(got == expected, "bytes differ");

        // A larger transfer, in slices of the one buffer, with a reader.
        let data = pattern(1 << 20);
        let reader = runtime::spawn(async move {
            let (res, buf) = s.read_exact(Vec::with_capacity(1 << 20)).await;
            res.map(|()| buf)
        });
        let mut sent = 0;
        let mut buf = data;
        while sent < buf.len() {
            let len = buf.len();
            let (res, slice) = c.send_zc(buf.slice(sent..len.min(sent + 256 * 1024))).await;
            buf = slice.into_inner();
            sent += res?;
        }
        let got = join(reader).await?;
        assert!(got == buf, "bytes differ");
        Ok(())
    });
}

/// Streams `total` bytes of pattern to a multishot receive on `pool` and checks they all
/// arrive in order. The consumer holds up to `held` buffers, each for `hold` more (given
/// back by a second task). The sender is a plain blocking socket on its own thread, so the
/// ops this core submits are the receive's arms alone: returns how many there were.
async fn recv_stream_collects(
    pool: BufPool,
    total: usize,
    held: usize,
    hold: Duration,
) -> io::Result<u64> {
    let (c, s) = pair().await?;
    let mut c = c.into_std()?;
    let writer = std::thread::spawn(move || {
        for part in pattern(total).chunks(64 * 1024) {
            std::io::Write::write_all(&mut c, part)?;
        }
        Ok::<_, io::Error>(())
    });
    let before = runtime::metrics().unwrap().ops_submitted;
    let mut stream = s.recv_stream(&pool);
    let mut got = Vec::with_capacity(total);
    let holding: Rc<RefCell<VecDeque<runtime::buf::ProvidedBuf>>> = Rc::default();
    while let Some(buf) = stream.next().await {
        let buf = buf?;
        assert!(!buf.is_empty(), "an empty buffer before the end");
        buf.with(|b| got.extend_from_slice(b));
        holding.borrow_mut().push_back(buf);
        if holding.borrow().len() >= held {
            if hold.is_zero() {
                holding.borrow_mut().pop_front();
            } else {
                // The consumer lets go of the oldest buffer a little later, elsewhere.
                let h = holding.clone();
                runtime::spawn(async move {
                    sleep(hold).await;
                    h.borrow_mut().pop_front();
                });
            }
        }
    }
    let arms = runtime::metrics().unwrap().ops_submitted - before;
    writer.join().expect("writer thread")?;
    assert_eq!(got.len(), total);
    assert!(got == pattern(total), "bytes out of order or lost");
    Ok(arms)
}

#[test]
fn recv_stream_delivers_every_byte_in_order() {
    run(async {
        let pool = BufPool::new(1, 64, 16 * 1024)?;
        recv_stream_collects(pool, 8 << 20, 8, Duration::ZERO).await?;
        Ok(())
    });
}

#[test]
fn recv_stream_rearms_when_the_pool_runs_dry() {
    run(async {
        // Two 4 KiB buffers for 1 MiB: the kernel runs out (ENOBUFS, which ends the
        // multishot) again and again while the consumer holds buffers for a millisecond.
        let pool = BufPool::new(2, 2, 4096)?;
        let total = 1 << 20;
        let arms = recv_stream_collects(pool, total, 2, Duration::from_millis(1)).await?;
        assert!(arms > 1, "the pool never ran dry ({arms} arm)");
        // It re-arms when a buffer comes back, not in a loop while the consumer holds them
        // all (that would be hundreds of thousands of arms here).
        let buffers = (total / 4096) as u64;
        assert!(
            arms <= 2 * buffers,
            "{arms} arms for {buffers} buffers: a re-arm spin"
        );
        Ok(())
    });
}

#[test]
fn recv_stream_takes_a_burst_larger_than_the_pools_ring_window() {
    run(async {
        // 1,024 buffers, of which the ring holds 64 at first: 32 KiB waiting in the socket
        // fill 128 buffers of 256 bytes in one go, so the kernel finds the ring empty while
        // spare buffers wait (ENOBUFS, which ends the multishot). The stream widens the
        // ring and re-arms; no byte is lost or reordered.
        let pool = BufPool::new(3, 1024, 256)?;
        let (c, s) = pair().await?;
        let mut c = c.into_std()?;
        let total = 32 * 1024;
        std::io::Write::write_all(&mut c, &pattern(total))?;
        let before = runtime::metrics().unwrap().ops_submitted;
        let mut stream = s.recv_stream(&pool);
        let mut got = Vec::with_capacity(total);
        while got.len() < total {
            let buf = stream.next().await.expect("the stream ended early")?;
            buf.with(|b| got.extend_from_slice(b));
        }
        let arms = runtime::metrics().unwrap().ops_submitted - before;
        assert!(got == pattern(total), "bytes out of order or lost");
        assert!(arms >= 2, "the ring never ran dry ({arms} arm)");
        // And the next burst of the same size, into the widened ring.
        std::io::Write::write_all(&mut c, &pattern(total))?;
        got.clear();
        while got.len() < total {
            let buf = stream.next().await.expect("the stream ended early")?;
            buf.with(|b| got.extend_from_slice(b));
        }
        assert!(got == pattern(total), "bytes out of order or lost");
        Ok(())
    });
}

#[test]
fn a_recv_stream_waits_without_spinning_while_other_streams_hold_every_buffer() {
    run(async {
        // Two streams armed once and never polled again: the kernel fills all 64 buffers
        // for them, in CQEs nobody reads. A third stream's multishot then finds the ring
        // empty (ENOBUFS). It must wait for a buffer to go into the ring, not re-arm into
        // ENOBUFS turn after turn (it did: thousands of arms in this wait).
        let pool = BufPool::new(4, 64, 256)?;
        let (l, addr) = listener().await?;
        let mut peers = Vec::new();
        let mut hogs = Vec::new();
        for _ in 0..2 {
            let mut c = std::net::TcpStream::connect(addr)?;
            let (s, _) = l.accept().await?;
            let mut stream = s.recv_stream(&pool);
            assert!(stream.try_next().is_none());
            std::io::Write::write_all(&mut c, &[7; 32 * 1024])?;
            hogs.push((stream, s));
            peers.push(c);
        }
        sleep(Duration::from_millis(50)).await;
        let mut c = std::net::TcpStream::connect(addr)?;
        let (s, _) = l.accept().await?;
        let mut stream = s.recv_stream(&pool);
        std::io::Write::write_all(&mut c, b"ping")?;
        let before = runtime::metrics().unwrap().ops_submitted;
        let waited = timeout(Duration::from_millis(200), stream.next()).await;
        let arms = runtime::metrics().unwrap().ops_submitted - before;
        assert!(
            waited.is_err(),
            "a buffer came from a pool whose every buffer was held"
        );
        assert!(
            arms <= 4,
            "{arms} arms while every buffer was held: a re-arm spin"
        );
        // The hogs let go (their CQEs' bytes are kept for the sockets' next reads): the
        // buffers go back into the ring, and the waiting stream gets its bytes.
        drop(hogs);
        let buf = stream.next().await.expect("the stream ended")?;
        buf.with(|b| assert_eq!(b, b"ping"));
        drop(peers);
        Ok(())
    });
}

#[test]
fn write_all_vectored_sends_every_buffer_across_short_writes() {
    run(async {
        let (c, s) = pair().await?;
        // 16 MiB in 64 buffers: more than the socket takes at once, so sendmsg returns short
        // counts and the rest goes from inside a buffer.
        let data = pattern(16 << 20);
        let bufs: Vec<Vec<u8>> = data.chunks(256 << 10).map(<[u8]>::to_vec).collect();
        let writer = runtime::spawn(async move {
            let (res, bufs) = c.write_all_vectored(bufs).await;
            res?;
            assert_eq!(bufs.len(), 64, "the buffers come back");
            Ok::<_, io::Error>(())
        });
        let (res, got) = s.read_exact(Vec::with_capacity(data.len())).await;
        res?;
        assert!(got == data, "bytes lost, repeated or out of order");
        join(writer).await
    });
}

#[test]
fn next_batch_takes_what_arrived_and_echoes_it_in_one_write() {
    run(async {
        let (c, s) = pair().await?;
        let total = 4 << 20;
        let data = pattern(total);
        let expected = data.clone();
        let server = runtime::spawn(async move {
            let pool = BufPool::new(3, 64, 4096)?;
            let mut received = s.recv_stream(&pool);
            let mut bufs = Vec::new();
            let mut batches = 0;
            loop {
                let n = received.next_batch(&mut bufs, 8).await?;
                if n == 0 {
                    break;
                }
                assert!(
                    n <= 8 && bufs.len() == n,
                    "{n} buffers, {} in the Vec",
                    bufs.len()
                );
                batches += 1;
                let (res, b) = s.write_all_vectored(bufs).await;
                res?;
                bufs = b;
                bufs.clear();
            }
            // After the end, it stays ended.
            assert_eq!(received.next_batch(&mut bufs, 8).await?, 0);
            s.shutdown(Shutdown::Write).await?;
            Ok::<_, io::Error>(batches)
        });
        let (r, w) = c.into_split();
        let writer = runtime::spawn(async move {
            w.write_all(data).await.0?;
            w.shutdown(Shutdown::Write).await
        });
        let (res, got) = r.read_exact(Vec::with_capacity(total)).await;
        res?;
        assert!(got == expected, "echoed bytes differ");
        join(writer).await?;
        let batches = join(server).await?;
        assert!(
            batches >= total / (8 * 4096),
            "{batches} batches of at most 8 x 4 KiB"
        );
        Ok(())
    });
}

#[test]
fn next_batch_returns_the_data_before_an_error_that_followed_it() {
    run(async {
        let (c, s) = pair().await?;
        let pool = BufPool::new(5, 8, 4096)?;
        let mut received = s.recv_stream(&pool);
        // Arms the multishot receive: the data and the reset below both reach its queue
        // before the batch is taken.
        assert!(received.try_next().is_none());
        c.write_all(b"abc".to_vec()).await.0?;
        sleep(Duration::from_millis(20)).await;
        c.set_linger(Some(Duration::ZERO))?;
        drop(c);
        sleep(Duration::from_millis(50)).await;
        let mut bufs = Vec::new();
        // "abc" in one buffer, or in several where it left in several sends.
        let n = received.next_batch(&mut bufs, 8).await?;
        let got: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!((n, got), (bufs.len(), b"abc".to_vec()));
        let err = received.next_batch(&mut bufs, 8).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        Ok(())
    });
}

#[test]
fn a_dropped_recv_stream_hands_its_held_error_to_the_next_read() {
    run(async {
        let (c, s) = pair().await?;
        let pool = BufPool::new(6, 8, 4096)?;
        let mut received = s.recv_stream(&pool);
        assert!(received.try_next().is_none());
        c.write_all(b"abc".to_vec()).await.0?;
        sleep(Duration::from_millis(20)).await;
        c.set_linger(Some(Duration::ZERO))?;
        drop(c);
        sleep(Duration::from_millis(50)).await;
        let mut bufs = Vec::new();
        let n = received.next_batch(&mut bufs, 8).await?;
        let got: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!((n, got), (bufs.len(), b"abc".to_vec()));
        // The reset is held by the stream; dropping it gives it to the socket.
        drop(received);
        let (res, _) = s.read(Vec::with_capacity(16)).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        Ok(())
    });
}

#[test]
fn try_next_does_not_wait() {
    run(async {
        let (c, s) = pair().await?;
        let pool = BufPool::new(4, 8, 4096)?;
        let mut received = s.recv_stream(&pool);
        assert!(received.try_next().is_none(), "nothing was sent yet");
        c.write_all(b"hello".to_vec()).await.0?;
        // One buffer, or several where the bytes left in several sends.
        let mut got = Vec::new();
        while got.len() < 5 {
            got.extend_from_slice(&received.next().await.expect("data")?);
        }
        assert_eq!(got, b"hello");
        Ok(())
    });
}

#[test]
fn split_halves_work_from_two_tasks() {
    run(async {
        let (c, s) = pair().await?;
        let server = runtime::spawn(echo(s));
        let (r, w) = c.into_split();
        const N: usize = 1000;
        let writer = runtime::spawn(async move {
            for i in 0..N {
                w.write_all(format!("{i:08}").into_bytes()).await.0?;
            }
            w.shutdown(Shutdown::Write).await
        });
        let reader = runtime::spawn(async move {
            let (res, buf) = r.read_exact(Vec::with_capacity(N * 8)).await;
            res?;
            let expected: String = (0..N).map(|i| format!("{i:08}")).collect();
            assert!(buf == expected.as_bytes());
            let (res, _) = r.read(Vec::with_capacity(8)).await;
            assert_eq!(res?, 0, "EOF after the echo of everything");
            Ok::<_, io::Error>(())
        });
        join(writer).await?;
        join(reader).await?;
        join(server).await
    });
}

#[test]
fn connect_by_name_resolves_localhost() {
    run(async {
        let (l, addr) = listener().await?;
        let accept = runtime::spawn(async move { l.accept().await.map(|(s, _)| s) });
        // "localhost" is resolved on the blocking pool; it may name ::1 first, which
        // refuses (we listen on 127.0.0.1): connect tries each address in turn.
        let c = TcpStream::connect(format!("localhost:{}", addr.port())).await?;
        assert_eq!(c.peer_addr()?, addr);
        let _s = join(accept).await?;
        let c = TcpStream::connect(("localhost", addr.port())).await;
        // The listener is gone (the accept task ended): refused.
        assert_eq!(c.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
        Ok(())
    });
}

/// `Duration::MAX` is "no practical limit": before, its timespec wrapped negative and the
/// connect timed out at once.
#[test]
fn connect_timeout_of_duration_max_connects() {
    run(async {
        let (l, addr) = listener().await?;
        let c = TcpStream::connect_timeout(addr, Duration::MAX).await?;
        let (s, _) = l.accept().await?;
        c.write_all(b"y".to_vec()).await.0?;
        let (res, buf) = s.read(Vec::with_capacity(1)).await;
        assert_eq!((res?, &buf[..]), (1, &b"y"[..]));
        Ok(())
    });
}

#[test]
fn connect_timeout_succeeds_on_loopback() {
    run(async {
        let (l, addr) = listener().await?;
        let c = TcpStream::connect_timeout(addr, Duration::from_secs(2)).await?;
        let (s, _) = l.accept().await?;
        c.write_all(b"x".to_vec()).await.0?;
        let (res, buf) = s.read(Vec::with_capacity(1)).await;
        assert_eq!((res?, &buf[..]), (1, &b"x"[..]));
        Ok(())
    });
}

#[test]
fn connect_timeout_fires_on_a_full_backlog() {
    run(async {
        // A listener with backlog 0 that never accepts: once its accept queue holds a
        // connection, Linux drops further SYNs (tcp_conn_request: sk_acceptq_is_full), so
        // a connect waits for SYN retransmits: the linked timeout must fire.
        let sock = TcpSocket::new_v4()?;
        sock.bind("127.0.0.1:0".parse().unwrap())?;
        let l = sock.listen(0)?;
        let addr = l.local_addr().unwrap();
        let mut fillers = Vec::new();
        let mut full = false;
        for _ in 0..8 {
            match TcpStream::connect_timeout(addr, Duration::from_millis(100)).await {
                Ok(s) => fillers.push(s),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    full = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        assert!(
            full,
            "the accept queue never filled ({} queued)",
            fillers.len()
        );
        let start = Instant::now();
        let err = TcpStream::connect_timeout(addr, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(err.to_string().contains("timed out"), "{err}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert_eq!(
            settle(Duration::from_secs(1)).await,
            0,
            "the connect op was freed"
        );
        Ok(())
    });
}

#[test]
fn ipv6_loopback_round_trip() {
    run(async {
        let l = match TcpListener::bind("[::1]:0").await {
            Ok(l) => l,
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
                eprintln!("skipped: no IPv6 loopback here ({e})");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let addr = l.local_addr().unwrap();
        assert!(addr.is_ipv6());
        let server = runtime::spawn(async move { echo(l.accept().await?.0).await });
        let c = TcpStream::connect(addr).await?;
        assert!(c.local_addr()?.ip().is_loopback());
        c.write_all(b"over v6".to_vec()).await.0?;
        let (res, buf) = c.read_exact(Vec::with_capacity(7)).await;
        res?;
        assert_eq!(buf, b"over v6");
        drop(c);
        join(server).await
    });
}

#[test]
fn connection_refused_is_an_error() {
    run(async {
        // Bind a port, then close it at once (std: close(2) before the connect; the
        // runtime's sockets close with a CLOSE op, whose final fput is deferred).
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        Ok(())
    });
}

#[test]
fn reset_by_peer_mid_read_is_an_error() {
    run(async {
        let (c, s) = pair().await?;
        let reader = runtime::spawn(async move { s.read(Vec::with_capacity(64)).await.0 });
        // The read is in flight; the peer aborts (linger 0 sends RST on close).
        sleep(Duration::from_millis(20)).await;
        c.set_linger(Some(Duration::ZERO))?;
        drop(c);
        let err = join(reader).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        Ok(())
    });
}

#[test]
fn half_close_reads_eof_and_still_writes() {
    run(async {
        let (c, s) = pair().await?;
        c.write_all(b"request".to_vec()).await.0?;
        c.shutdown(Shutdown::Write).await?;
        let (res, req) = s.read_exact(Vec::with_capacity(7)).await;
        res?;
        assert_eq!(req, b"request");
        let (res, _) = s.read(Vec::with_capacity(16)).await;
        assert_eq!(res?, 0, "EOF after the peer's shutdown(Write)");
        // Our write side is still open, and so is the peer's read side.
        s.write_all(b"response".to_vec()).await.0?;
        drop(s);
        let (res, buf) = c.read_exact(Vec::with_capacity(8)).await;
        res?;
        assert_eq!(buf, b"response");
        Ok(())
    });
}

#[test]
fn silent_peer_read_times_out_and_is_cancelled_cleanly() {
    run(async {
        let (c, s) = pair().await?;
        let start = Instant::now();
        let r = timeout(Duration::from_millis(100), s.read(Vec::with_capacity(64))).await;
        assert!(r.is_err(), "a read from a silent peer completed");
        assert!(start.elapsed() >= Duration::from_millis(100));
        // The dropped read was cancelled: its slot is freed once the kernel's ECANCELED
        // CQE is in, and no byte is lost to it.
        assert_eq!(
            settle(Duration::from_secs(1)).await,
            0,
            "the read op lingers"
        );
        c.write_all(b"late".to_vec()).await.0?;
        let (res, buf) = s.read_exact(Vec::with_capacity(4)).await;
        res?;
        assert_eq!(buf, b"late");
        Ok(())
    });
}

#[test]
fn zero_length_buffers() {
    run(async {
        let (c, s) = pair().await?;
        // Writing nothing succeeds at once with 0; so do write_all and writev of nothing.
        assert_eq!(c.write(Vec::new()).await.0?, 0);
        c.write_all(Vec::new()).await.0?;
        assert_eq!(c.writev(Vec::<Vec<u8>>::new()).await.0?, 0);
        // Reading into no room returns 0 at once, with data pending or not (no op: the
        // kernel's recv(2) of 0 bytes would wait for data), and read_exact of nothing
        // succeeds.
        let r = timeout(Duration::from_secs(1), s.read(Vec::new())).await;
        assert_eq!(r.expect("a zero-length read waits").0?, 0);
        s.read_exact(Vec::new()).await.0?;
        c.write_all(b"x".to_vec()).await.0?;
        let r = timeout(Duration::from_secs(1), s.read(Vec::new())).await;
        assert_eq!(r.expect("a zero-length read waits").0?, 0);
        // The byte is still there for a real read.
        let (res, buf) = s.read(Vec::with_capacity(8)).await;
        assert_eq!((res?, &buf[..]), (1, &b"x"[..]));
        Ok(())
    });
}

#[test]
fn address_in_use_is_a_clear_error() {
    run(async {
        let (_l, addr) = listener().await?;
        let err = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let msg = err.to_string();
        assert!(
            msg.contains(&addr.to_string()) && msg.contains("already in use"),
            "{msg}"
        );
        Ok(())
    });
}

#[test]
fn dropping_a_stream_with_ops_in_flight_closes_it_after_the_cqes() {
    run(async {
        let (c, s) = pair().await?;
        let (r, w) = s.into_split();
        // A read in flight in a task; the write half goes away: the socket stays open.
        let reader = runtime::spawn(async move { r.read(Vec::with_capacity(64)).await.0 });
        sleep(Duration::from_millis(10)).await;
        drop(w);
        c.write_all(b"still open".to_vec()).await.0?;
        // The read gets the bytes (all 10, or the first part where they left in parts).
        let n = join(reader).await?;
        assert!((1..=10).contains(&n), "read {n} of 10 bytes");

        // Now a read in flight when its task is aborted: the op is cancelled, the fd is
        // closed only after its CQE, and the peer sees EOF.
        let (c2, s2) = pair().await?;
        let task = runtime::spawn(async move { s2.read(Vec::with_capacity(64)).await.0 });
        sleep(Duration::from_millis(10)).await;
        task.abort();
        let (res, _) = timeout(Duration::from_secs(2), c2.read(Vec::with_capacity(8)))
            .await
            .expect("the peer saw no close");
        assert_eq!(res?, 0, "EOF once the aborted stream closed");
        assert_eq!(settle(Duration::from_secs(1)).await, 0);
        drop(c);
        Ok(())
    });
}

#[runtime::test]
async fn tcp_socket_reports_the_port_it_bound_before_listening() {
    let s = net::TcpSocket::new_v4().unwrap();
    s.set_reuseport(true).unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let bound = s.local_addr().unwrap();
    assert_ne!(bound.port(), 0);
    let listener = s.listen(16).unwrap();
    assert_eq!(listener.local_addr().unwrap(), bound);
}

/// Peers that reset before their connection was accepted: `accept` still returns each one,
/// with the address the accept itself got. Before, it asked the socket (`getpeername`), got
/// ENOTCONN and failed, so an `accept().await?` loop ended on the first reset.
#[test]
fn accept_survives_peers_that_reset_before_it() {
    run(async {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr().unwrap();
        let clients = std::thread::spawn(move || -> io::Result<()> {
            for _ in 0..100 {
                let c = std::net::TcpStream::connect(addr)?;
                socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO))?;
                drop(c); // RST
            }
            let mut good = std::net::TcpStream::connect(addr)?;
            std::io::Write::write_all(&mut good, b"!")?;
            std::thread::sleep(Duration::from_millis(200));
            Ok(())
        });
        let mut accepted = 0;
        loop {
            let (s, peer) = l.accept().await?;
            accepted += 1;
            assert_eq!(peer.ip(), addr.ip());
            let (res, buf) = s.read(Vec::with_capacity(1)).await;
            if matches!(res, Ok(1)) && buf == b"!" {
                break;
            }
        }
        clients.join().expect("client thread")?;
        assert!(accepted >= 1, "the good connection was accepted");
        Ok(())
    });
}

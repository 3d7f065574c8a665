//! `forward_to`: everything one stream receives goes out on another, whole and in order,
//! with no poll of the task per message; kept bytes go first; a dry pool recovers; a dropped
//! forward loses nothing (what it received goes out, the rest waits in the socket); a
//! failed send is returned, and what arrives after it is kept for the next read.

mod support;

use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use net::{TcpStream, UnixStream};
use runtime::buf::BufPool;
use support::{faults_injected, pattern, run, settle};

/// Our side of a fresh loopback connection, and the std peer.
fn pair() -> (TcpStream, std::net::TcpStream) {
    let (ours, peer) = support::std_pair();
    (TcpStream::from_std(ours), peer)
}

/// Writes `data` to `peer` in pieces of varied sizes on a thread, then shuts its writing side.
fn send_on_a_thread(
    mut peer: std::net::TcpStream,
    data: Vec<u8>,
) -> std::thread::JoinHandle<io::Result<std::net::TcpStream>> {
    std::thread::spawn(move || {
        let sizes = [1, 700, 4096, 65536, 3, 20000];
        let (mut at, mut i) = (0, 0);
        while at < data.len() {
            let n = sizes[i % sizes.len()].min(data.len() - at);
            peer.write_all(&data[at..at + n])?;
            at += n;
            i += 1;
        }
        peer.shutdown(std::net::Shutdown::Write)?;
        Ok(peer)
    })
}

/// Reads `peer` to its end on a thread.
fn read_on_a_thread(mut peer: std::net::TcpStream) -> std::thread::JoinHandle<io::Result<Vec<u8>>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got)?;
        Ok(got)
    })
}

#[test]
fn an_echo_returns_every_byte_in_order() {
    let data = pattern(3 << 20);
    let expected = data.clone();
    run(async move {
        let (ours, peer) = pair();
        let pool = BufPool::new(7, 64, 16 * 1024)?;
        let reader = read_on_a_thread(peer.try_clone()?);
        let writer = send_on_a_thread(peer, data);
        let copied = ours.forward_to(&ours, &pool).await?;
        assert_eq!(copied, expected.len() as u64, "bytes forwarded");
        ours.shutdown(std::net::Shutdown::Write).await?;
        writer.join().expect("writer")?;
        let got = reader.join().expect("reader")?;
        assert!(
            got == expected,
            "the echo came back other, or in another order"
        );
        Ok(())
    });
}

/// A proxy: one forward each way at once, between two connections.
#[test]
fn a_proxy_forwards_both_ways() {
    let up = pattern(1 << 20);
    let down: Vec<u8> = pattern((1 << 20) + 77).into_iter().rev().collect();
    let (up_expected, down_expected) = (up.clone(), down.clone());
    run(async move {
        let (client_side, client) = pair();
        let (server_side, server) = pair();
        let pool = BufPool::new(8, 64, 4096)?;
        let client_reads = read_on_a_thread(client.try_clone()?);
        let server_reads = read_on_a_thread(server.try_clone()?);
        let client_writes = send_on_a_thread(client, up);
        let server_writes = send_on_a_thread(server, down);
        let upward = async {
            let n = client_side.forward_to(&server_side, &pool).await?;
            server_side.shutdown(std::net::Shutdown::Write).await?;
            io::Result::Ok(n)
        };
        let downward = async {
            let n = server_side.forward_to(&client_side, &pool).await?;
            client_side.shutdown(std::net::Shutdown::Write).await?;
            io::Result::Ok(n)
        };
        let (up_n, down_n) = runtime::join!(upward, downward);
        assert_eq!(up_n?, up_expected.len() as u64);
        assert_eq!(down_n?, down_expected.len() as u64);
        client_writes.join().expect("client writer")?;
        server_writes.join().expect("server writer")?;
        assert!(
            server_reads.join().expect("reader")? == up_expected,
            "upward bytes differ"
        );
        assert!(
            client_reads.join().expect("reader")? == down_expected,
            "downward bytes differ"
        );
        Ok(())
    });
}

/// Between kinds and halves: a Unix stream forwarded to a TCP write half, and that TCP
/// stream's read half back to the Unix stream.
#[test]
fn forwards_between_kinds_and_halves() {
    let up = pattern(300_000);
    let down: Vec<u8> = pattern(200_000).into_iter().rev().collect();
    let (up_expected, down_expected) = (up.clone(), down.clone());
    run(async move {
        let (unix_far, unix_near) = std::os::unix::net::UnixStream::pair()?;
        let unix_near = UnixStream::from_std(unix_near);
        let (tcp_near, tcp_far) = pair();
        let (tcp_read, tcp_write) = tcp_near.into_split();
        let pool = BufPool::new(15, 64, 4096)?;
        let unix_reads = std::thread::spawn({
            let mut far = unix_far.try_clone()?;
            move || {
                let mut got = Vec::new();
                far.read_to_end(&mut got).map(|_| got)
            }
        });
        let unix_writes = std::thread::spawn({
            let mut far = unix_far;
            move || {
                far.write_all(&up)?;
                far.shutdown(std::net::Shutdown::Write)
            }
        });
        let tcp_reads = read_on_a_thread(tcp_far.try_clone()?);
        let tcp_writes = send_on_a_thread(tcp_far, down);
        let upward = async {
            let n = unix_near.forward_to(&tcp_write, &pool).await?;
            tcp_write.shutdown(std::net::Shutdown::Write).await?;
            io::Result::Ok(n)
        };
        let downward = async {
            let n = tcp_read.forward_to(&unix_near, &pool).await?;
            unix_near.shutdown(std::net::Shutdown::Write).await?;
            io::Result::Ok(n)
        };
        let (up_n, down_n) = runtime::join!(upward, downward);
        assert_eq!(up_n?, up_expected.len() as u64);
        assert_eq!(down_n?, down_expected.len() as u64);
        unix_writes.join().expect("unix writer")?;
        tcp_writes.join().expect("tcp writer")?;
        assert!(
            tcp_reads.join().expect("reader")? == up_expected,
            "upward bytes differ"
        );
        assert!(
            unix_reads.join().expect("reader")? == down_expected,
            "downward bytes differ"
        );
        Ok(())
    });
}

/// The point of it: the task is polled when the forward starts and ends, not per message.
#[test]
fn messages_do_not_poll_the_task() {
    run(async {
        let (client, server) = UnixStream::pair()?;
        let pool = BufPool::new(9, 64, 4096)?;
        let server = Rc::new(server);
        let polls = Rc::new(std::cell::Cell::new(0u32));
        let forward = {
            let (server, polls) = (server.clone(), polls.clone());
            runtime::spawn(async move {
                let mut fwd = pin!(server.forward_to(&server, &pool));
                poll_fn(|cx| {
                    polls.set(polls.get() + 1);
                    fwd.as_mut().poll(cx)
                })
                .await
            })
        };
        let mut back = Vec::with_capacity(1000);
        for round in 0..300u32 {
            let msg = vec![round as u8; 1000];
            client.write_all(msg).await.0?;
            let (res, b) = client.read_exact(back).await;
            res?;
            assert!(
                b.iter().all(|&x| x == round as u8),
                "round {round}: wrong bytes"
            );
            back = b;
        }
        client.shutdown(std::net::Shutdown::Write).await?;
        assert_eq!(forward.await??, 300_000);
        assert!(
            polls.get() <= 4,
            "the forward's task was polled {} times for 300 messages",
            polls.get()
        );
        Ok(())
    });
}

/// What a dropped receive had taken from the socket goes out before what arrives later.
#[test]
fn kept_bytes_go_first() {
    run(async {
        let (ours, mut peer) = pair();
        let pool = BufPool::new(10, 64, 4096)?;
        {
            // A receive stream that took bytes it never handed out.
            let mut received = ours.recv_stream(&pool);
            assert!(received.try_next().is_none(), "nothing was sent yet");
            peer.write_all(b"kept ")?;
            runtime::time::sleep(Duration::from_millis(50)).await;
        }
        let reader = read_on_a_thread(peer.try_clone()?);
        let writer = std::thread::spawn(move || {
            peer.write_all(b"and later")?;
            peer.shutdown(std::net::Shutdown::Write)
        });
        let copied = ours.forward_to(&ours, &pool).await?;
        ours.shutdown(std::net::Shutdown::Write).await?;
        writer.join().expect("writer")?;
        assert_eq!(reader.join().expect("reader")?, b"kept and later");
        assert_eq!(copied, 14);
        Ok(())
    });
}

/// Four buffers of 64 bytes for a megabyte: the kernel finds the ring empty again and again
/// (ENOBUFS ends the receive); each time the forward re-arms once a buffer is back.
#[test]
fn a_dry_pool_recovers() {
    let data = pattern(1 << 20);
    let expected = data.clone();
    run(async move {
        let (ours, peer) = pair();
        let pool = BufPool::new(11, 4, 64)?;
        let reader = read_on_a_thread(peer.try_clone()?);
        let writer = send_on_a_thread(peer, data);
        assert_eq!(ours.forward_to(&ours, &pool).await?, expected.len() as u64);
        ours.shutdown(std::net::Shutdown::Write).await?;
        writer.join().expect("writer")?;
        assert!(reader.join().expect("reader")? == expected, "bytes differ");
        Ok(())
    });
}

/// A forward dropped mid-stream: what it had received still goes out, before any later
/// write (a marker written at once comes right after it); the rest waits in the socket.
/// Read and written on by hand after the drop, the far end gets every byte once, in order.
#[test]
fn a_dropped_forward_loses_nothing() {
    const MARK: &[u8] = b"MARK";
    let data = pattern(4 << 20);
    let expected = data.clone();
    run_for_secs(20, async move {
        let (from, source) = pair();
        let (to, sink) = pair();
        let pool = BufPool::new(12, 64, 4096)?;
        // A far end that reads late, through a small send buffer: when the forward is
        // dropped, its send is stuck and what it received waits in its queue.
        to.set_send_buffer_size(4096)?;
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut sink = sink;
            let mut got = Vec::new();
            sink.read_to_end(&mut got).map(|_| got)
        });
        // 64 pieces a millisecond apart or more: the drop comes in the middle.
        let writer = std::thread::spawn(move || {
            let mut source = source;
            for piece in data.chunks(64 * 1024) {
                source.write_all(piece)?;
                std::thread::sleep(Duration::from_millis(1));
            }
            source.shutdown(std::net::Shutdown::Write)
        });
        let forward = from.forward_to(&to, &pool);
        match runtime::time::timeout(Duration::from_millis(20), forward).await {
            Err(_) => {}
            Ok(res) => panic!("the forward ended before it was dropped: {res:?}"),
        }
        // A write of `to` right after the drop: it goes after all the forward received.
        to.write_all(MARK.to_vec()).await.0?;
        // By hand from here: whatever the forward had not received.
        let mut by_hand = 0;
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            let (res, b) = from.read(buf).await;
            let n = res?;
            if n == 0 {
                break;
            }
            by_hand += n;
            let (res, b) = to.write_all(b).await;
            res?;
            buf = b;
            buf.clear();
        }
        to.shutdown(std::net::Shutdown::Write).await?;
        writer.join().expect("writer")?;
        let got = reader.join().expect("reader")?;
        assert_eq!(
            got.len(),
            expected.len() + MARK.len(),
            "bytes lost or duplicated"
        );
        let forwarded = expected.len() - by_hand;
        assert!(
            forwarded > 0,
            "the forward moved nothing before the drop: nothing tested"
        );
        assert!(
            got[..forwarded] == expected[..forwarded],
            "the forwarded bytes differ"
        );
        assert_eq!(
            &got[forwarded..forwarded + MARK.len()],
            MARK,
            "a later write went between the bytes the forward had received"
        );
        assert!(
            got[forwarded + MARK.len()..] == expected[forwarded..],
            "the bytes read after the drop differ"
        );
        assert_eq!(
            settle(Duration::from_secs(2)).await,
            0,
            "ops still in flight"
        );
        Ok(())
    });
}

/// The far end is gone: the forward returns the send's error, and what arrives after it
/// waits for the stream's next read.
#[test]
fn a_failed_send_is_returned_and_later_bytes_are_kept() {
    if faults_injected() {
        // Injected errors change which send fails; the error path is what is tested here.
        return;
    }
    run(async {
        let (from, mut source) = pair();
        let (to, sink) = pair();
        let pool = BufPool::new(13, 64, 4096)?;
        // A reset instead of a FIN: sends to it fail.
        socket2::SockRef::from(&sink).set_linger(Some(Duration::ZERO))?;
        drop(sink);
        let writer = std::thread::spawn(move || {
            for _ in 0..50 {
                source.write_all(&[1u8; 1000])?;
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(100));
            source.write_all(b"TAIL")?;
            source.shutdown(std::net::Shutdown::Write)
        });
        let err = from
            .forward_to(&to, &pool)
            .await
            .expect_err("sending to a reset connection fails");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{err}"
        );
        assert!(err.to_string().contains("were not sent"), "{err}");
        let mut rest = Vec::new();
        let mut buf = Vec::with_capacity(4096);
        loop {
            let (res, b) = from.read(buf).await;
            if res? == 0 {
                break;
            }
            rest.extend_from_slice(&b);
            buf = b;
            buf.clear();
        }
        writer.join().expect("writer")?;
        assert!(
            rest.ends_with(b"TAIL"),
            "the bytes after the failure were lost"
        );
        Ok(())
    });
}

/// `forward_to` with another core's (here: another runtime's) pool is refused at once.
#[test]
fn a_pool_of_another_ring_is_refused() {
    let rt = runtime::Runtime::new().expect("runtime");
    let pool = rt
        .block_on(async { BufPool::new(14, 4, 64) })
        .expect("pool");
    run(async move {
        let (a, _b) = UnixStream::pair()?;
        let err = a
            .forward_to(&a, &pool)
            .await
            .expect_err("another ring's pool");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        Ok(())
    });
    drop(rt);
}

fn run_for_secs<F: Future<Output = io::Result<()>>>(secs: u64, body: F) {
    support::run_for(Duration::from_secs(secs), body);
}

/// A `Drop` that `Runtime::drop` runs (the runtime is current, its loop does not run, so
/// the driver submits and reaps at once): it polls a forward whose source has its end
/// waiting, then drops it. The receive's final CQE is reaped inside
/// `submit_shared_cancelable`, before `poll_arm` stores the op and clears `ended`: the end
/// is overwritten and the forward waits for a CQE that already came (holding both turns, so
/// reads of `from` and writes of `to` wait too) until it is dropped.
#[test]
fn a_forward_armed_outside_the_loop_sees_its_end() {
    use std::cell::Cell;
    struct PollOnDrop {
        from: Rc<TcpStream>,
        to: Rc<TcpStream>,
        pool: BufPool,
        out: Rc<Cell<Option<String>>>,
    }
    impl Drop for PollOnDrop {
        fn drop(&mut self) {
            let mut fwd = pin!(self.from.forward_to(&self.to, &self.pool));
            let mut got = "Pending".to_string();
            for _ in 0..50 {
                if let Poll::Ready(r) = support::poll_outside(fwd.as_mut()) {
                    got = format!("Ready({r:?})");
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let m = runtime::metrics().expect("the runtime is current");
            self.out.set(Some(format!(
                "{got}, ops in flight {}, completed {}",
                m.ops_in_flight, m.ops_completed
            )));
        }
    }
    let (from_std, source) = support::std_pair();
    let (to_std, sink) = support::std_pair();
    let from = Rc::new(TcpStream::from_std(from_std));
    let to = Rc::new(TcpStream::from_std(to_std));
    // The end only: the receive's first try meets it, so its final CQE comes at once.
    source.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let out = Rc::new(Cell::new(None));
    let rt = runtime::Runtime::new().unwrap();
    let pool = rt.block_on(async { BufPool::new(40, 8, 4096) }).unwrap();
    let guard = PollOnDrop {
        from: from.clone(),
        to: to.clone(),
        pool: pool.clone(),
        out: out.clone(),
    };
    rt.block_on(async move {
        let _task = runtime::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        runtime::yield_now().await;
    });
    drop(rt);
    let got = out.take().expect("the drop ran");
    assert!(
        got.starts_with("Ready(Ok(0))"),
        "a forward whose source was at its end, its receive over: {got}"
    );
    drop(pool);
    // A fresh runtime: the turns must be free (the old ring is drained and gone).
    support::run(async {
        let read =
            runtime::time::timeout(Duration::from_secs(2), from.read(Vec::with_capacity(64))).await;
        assert!(
            read.is_ok(),
            "a read of `from` hangs: the forward's read turn was never given back"
        );
        let write =
            runtime::time::timeout(Duration::from_secs(2), to.write_all(b"x".to_vec())).await;
        assert!(
            write.is_ok(),
            "a write of `to` hangs: the forward's write turn was never given back"
        );
        Ok(())
    });
    drop(sink);
}

/// A send fails while nobody polls the forward (its task awaits something else), and the
/// forward is then dropped before it is polled again (a `select` or a timeout that fired
/// in the same turn). The failure was stored for the future (`broken`), which `detach` drops
/// without a word: neither the forward nor `to`'s next write reports the bytes lost (the
/// next write gets a bare EPIPE). Dropped before the failure, the next write would say
/// "an earlier write ... N bytes".
#[test]
fn a_send_failure_before_the_drop_is_reported_by_the_next_write() {
    if faults_injected() {
        return;
    }
    run(async {
        let (from, mut source) = pair();
        let (to, sink) = pair();
        let pool = BufPool::new(41, 64, 4096)?;
        socket2::SockRef::from(&sink).set_linger(Some(Duration::ZERO))?;
        drop(sink);
        let mut forward = Box::pin(from.forward_to(&to, &pool));
        // One poll: the forward starts and arms its receive.
        let first = poll_fn(|cx| Poll::Ready(forward.as_mut().poll(cx).is_pending())).await;
        assert!(first, "the forward ended at once");
        let writer = std::thread::spawn(move || {
            for _ in 0..20 {
                source.write_all(&[1u8; 1000])?;
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok::<_, io::Error>(source)
        });
        // The sends fail meanwhile, in the reap; the forward is not polled.
        runtime::time::sleep(Duration::from_millis(200)).await;
        let _source = writer.join().expect("writer")?;
        drop(forward);
        let (res, _) = to.write_all(b"x".to_vec()).await;
        let err = res.expect_err("`to` is reset");
        let msg = err.to_string();
        assert!(
            msg.contains("not sent") || msg.contains("earlier write"),
            "the forward's failed send (received bytes lost) was reported by nobody; `to`'s \
             next write said only: {msg}"
        );
        Ok(())
    });
}

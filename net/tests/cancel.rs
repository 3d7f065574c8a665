//! Cancellation loses nothing the kernel already delivered.
//!
//! Each test races an I/O future against a timer (as `tokio::select!` without `biased;`,
//! see `support::race`) or puts it under `runtime::time::timeout`, so that some futures are
//! dropped after the kernel completed their op, and checks that no connection, byte or
//! datagram went missing and that no write went out twice or not at all:
//! - accept: a connection accepted for a dropped `accept()` (or queued in a dropped
//!   `Incoming`) is returned by the next `accept()` / `incoming()` item;
//! - stream reads (`read`, `read_exact`, split read halves, Unix streams, `RecvStream`,
//!   `compat::Compat`): bytes a dropped read took from the socket are returned, in order,
//!   before anything newer, by the next read;
//! - datagrams: a datagram taken by a dropped receive is returned, with its source, by the
//!   next receive;
//! - writes: a dropped `write` finishes in the background and its bytes go out exactly once,
//!   in order, before any later write on the stream (or the next write reports how much of
//!   the dropped one went out).
//!
//! Everything runs on loopback, with bounded loops and a watchdog; the assertions count and
//! compare data, never time.

mod support;

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use runtime::Runtime;
use runtime::buf::{BufPool, BufResult};
use runtime::time::{sleep, timeout};
use support::{
    Either, XorShift, numbered, race, serial, spawn_numbered_writer, std_pair, stream_loss,
    watchdog,
};

/// Each test's watchdog limit (each ends in a few seconds when nothing hangs).
const LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Accept
// ---------------------------------------------------------------------------------------

/// How many connections the accept tests open, one after another.
const CONNS: usize = 10_000;
/// How long a client waits for its echoed byte before it counts the connection as lost.
const REPLY_WAIT: Duration = Duration::from_secs(2);
/// After this many clients waited in vain, the client gives up (keeps the test short).
const MAX_SILENT: usize = 3;

/// What the clients of an accept test saw.
#[derive(Debug, Default)]
struct Clients {
    /// Got their byte back.
    answered: usize,
    /// The server closed the connection without answering (end of stream).
    closed: usize,
    /// The connection was reset.
    reset: usize,
    /// No answer within `REPLY_WAIT`.
    silent: usize,
    /// Anything else (connect failed, wrong byte, ...), first few.
    other: Vec<String>,
    /// Connections attempted.
    tried: usize,
}

/// A thread that opens `n` connections to `addr` one after another: each writes one byte and
/// waits for it to come back. Sets `done` when finished.
fn spawn_clients(
    addr: SocketAddr,
    n: usize,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Clients> {
    std::thread::spawn(move || {
        let mut c = Clients::default();
        for i in 0..n {
            c.tried += 1;
            let byte = (i % 251) as u8;
            let res = (|| -> io::Result<u8> {
                let mut s = std::net::TcpStream::connect(addr)?;
                s.set_read_timeout(Some(REPLY_WAIT))?;
                s.write_all(&[byte])?;
                let mut b = [0u8; 1];
                match s.read(&mut b)? {
                    0 => Err(io::ErrorKind::UnexpectedEof.into()),
                    _ => Ok(b[0]),
                }
            })();
            match res {
                Ok(b) if b == byte => c.answered += 1,
                Ok(b) => c.other.push(format!("#{i}: got {b} back, sent {byte}")),
                Err(e) => match e.kind() {
                    io::ErrorKind::UnexpectedEof => c.closed += 1,
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => c.reset += 1,
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => c.silent += 1,
                    _ => c.other.push(format!("#{i}: {e}")),
                },
            }
            if c.silent >= MAX_SILENT || c.other.len() >= MAX_SILENT {
                break;
            }
        }
        done.store(true, Ordering::Release);
        c
    })
}

/// Serves one connection: reads one byte and writes it back.
fn serve(stream: TcpStream) {
    drop(runtime::spawn(async move {
        let (res, buf) = stream.read(Vec::with_capacity(1)).await;
        if let Ok(1) = res {
            let _ = stream.write_all(buf).await;
        }
    }));
}

/// Fails the test unless every client got its answer.
fn check_clients(test: &str, c: &Clients, served: usize) {
    assert!(
        c.answered == CONNS && c.other.is_empty(),
        "{test}: {} of {CONNS} connections lost ({} tried, {} answered, {} closed unanswered, \
         {} reset, {} silent; other: {:?}); the server served {served}",
        CONNS - c.answered,
        c.tried,
        c.answered,
        c.closed,
        c.reset,
        c.silent,
        c.other,
    );
}

/// The server races `accept()` with a 100 us timer; a connection the kernel accepted for an
/// `accept()` dropped because the timer won must come out of the next `accept()`.
#[test]
fn accept_raced_with_a_timer_loses_no_connection() {
    const TEST: &str = "accept_raced_with_a_timer_loses_no_connection";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let (clients, served) = Runtime::new()
        .expect("io_uring runtime")
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let done = Arc::new(AtomicBool::new(false));
            let clients = spawn_clients(listener.local_addr().unwrap(), CONNS, done.clone());
            let mut rng = XorShift::new(0xacce97);
            let mut served = 0;
            while !done.load(Ordering::Acquire) {
                match race(
                    &mut rng,
                    listener.accept(),
                    sleep(Duration::from_micros(100)),
                )
                .await
                {
                    Either::Left(Ok((s, _))) => {
                        served += 1;
                        serve(s);
                    }
                    Either::Left(Err(e)) => return Err(e),
                    Either::Right(()) => {}
                }
            }
            io::Result::Ok((clients.join().expect("client thread"), served))
        })
        .expect("server");
    check_clients(TEST, &clients, served);
}

/// The server takes connections from `listener.incoming()` raced with a 100 us timer and
/// drops the `Incoming` (its multishot accept armed, maybe with connections queued) every
/// third turn; every connection must still come out of a later `Incoming`.
#[test]
fn incoming_dropped_and_recreated_loses_no_connection() {
    const TEST: &str = "incoming_dropped_and_recreated_loses_no_connection";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let (clients, served) = Runtime::new()
        .expect("io_uring runtime")
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let done = Arc::new(AtomicBool::new(false));
            let clients = spawn_clients(listener.local_addr().unwrap(), CONNS, done.clone());
            let mut rng = XorShift::new(0x1c0_5eed);
            let mut served = 0;
            let mut incoming = listener.incoming();
            let mut turn = 0u64;
            while !done.load(Ordering::Acquire) {
                turn += 1;
                if turn.is_multiple_of(3) {
                    incoming = listener.incoming();
                }
                match race(&mut rng, incoming.next(), sleep(Duration::from_micros(100))).await {
                    Either::Left(Some(Ok(s))) => {
                        served += 1;
                        serve(s);
                    }
                    Either::Left(Some(Err(e))) => return Err(e),
                    Either::Left(None) => unreachable!("Incoming never ends"),
                    Either::Right(()) => {}
                }
            }
            io::Result::Ok((clients.join().expect("client thread"), served))
        })
        .expect("server");
    check_clients(TEST, &clients, served);
}

// ---------------------------------------------------------------------------------------
// Stream reads
// ---------------------------------------------------------------------------------------

/// How many chunks the writer thread of the read tests sends.
const CHUNKS: usize = 3_000;
/// The largest chunk.
const CHUNK_MAX: usize = 40;
/// The writer's pause between chunks (3,000 of them spread the data over about a second).
const GAP: Duration = Duration::from_micros(300);

/// A TCP stream on our side of a loopback pair, and a writer thread on the other that sends
/// the numbered chunks then shuts down.
fn tcp_with_writer(seed: u64) -> (TcpStream, std::thread::JoinHandle<Vec<u8>>) {
    let (ours, peer) = std_pair();
    let writer = spawn_numbered_writer(peer, CHUNKS, CHUNK_MAX, GAP, seed, |p| {
        let _ = p.shutdown(Shutdown::Write);
    });
    (TcpStream::from_std(ours), writer)
}

/// Reads until end of stream, each read (`read(buf)`, a fresh 64-byte buffer) raced with a
/// `timer` that drops it when it wins. Returns the bytes read and how many reads were
/// dropped.
async fn read_raced<F, Fut>(seed: u64, timer: Duration, mut read: F) -> io::Result<(Vec<u8>, usize)>
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = BufResult<usize, Vec<u8>>>,
{
    let mut rng = XorShift::new(seed);
    let mut got = Vec::new();
    let mut dropped = 0;
    loop {
        match race(&mut rng, read(Vec::with_capacity(64)), sleep(timer)).await {
            Either::Left((Ok(0), _)) => return Ok((got, dropped)),
            Either::Left((Ok(n), buf)) => got.extend_from_slice(&buf[..n]),
            Either::Left((Err(e), _)) => return Err(e),
            Either::Right(()) => dropped += 1,
        }
    }
}

/// `None` when `got` is exactly what the writer sent; else what went wrong. `drops` says what
/// was dropped (for the message).
fn stream_problem(
    how: &str,
    got: &[u8],
    writer: std::thread::JoinHandle<Vec<u8>>,
    drops: String,
) -> Option<String> {
    let sent = writer.join().expect("writer thread");
    stream_loss(got, &sent).map(|loss| format!("{how}: {loss}; dropped: {drops}"))
}

/// Fails the test unless `got` is exactly what the writer sent.
fn check_stream(
    test: &str,
    how: &str,
    got: &[u8],
    writer: std::thread::JoinHandle<Vec<u8>>,
    drops: String,
) {
    if let Some(p) = stream_problem(how, got, writer, drops) {
        panic!("{test}: {p}");
    }
}

/// `TcpStream::read` raced with a 500 us timer (`select!`-style), then under
/// `runtime::time::timeout`: bytes a dropped read took from the socket come out of the next
/// read, in order.
#[test]
fn read_raced_with_a_timer_loses_no_byte() {
    const TEST: &str = "read_raced_with_a_timer_loses_no_byte";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let rt = Runtime::new().expect("io_uring runtime");

    // select!-style.
    let (stream, writer) = tcp_with_writer(1);
    let (got, dropped) = rt
        .block_on(read_raced(11, Duration::from_micros(500), |b| {
            stream.read(b)
        }))
        .expect("read");
    let raced = stream_problem(
        "read raced with sleep",
        &got,
        writer,
        format!("{dropped} reads"),
    );

    // timeout(tiny, read).
    let (stream, writer) = tcp_with_writer(2);
    let (got, dropped) = rt
        .block_on(async {
            let mut got = Vec::new();
            let mut dropped = 0;
            loop {
                match timeout(
                    Duration::from_micros(300),
                    stream.read(Vec::with_capacity(64)),
                )
                .await
                {
                    Ok((Ok(0), _)) => return io::Result::Ok((got, dropped)),
                    Ok((Ok(n), buf)) => got.extend_from_slice(&buf[..n]),
                    Ok((Err(e), _)) => return Err(e),
                    Err(_) => dropped += 1,
                }
            }
        })
        .expect("read");
    let timed_out = stream_problem(
        "read under timeout",
        &got,
        writer,
        format!("{dropped} reads"),
    );
    let problems: Vec<String> = [raced, timed_out].into_iter().flatten().collect();
    assert!(
        problems.is_empty(),
        "{TEST}:\n  - {}",
        problems.join("\n  - ")
    );
}

/// `TcpStream::read_exact` of 8-byte buffers raced with a timer: the bytes a dropped
/// `read_exact` had read come out of the next read, in order.
#[test]
fn read_exact_raced_with_a_timer_loses_no_byte() {
    const TEST: &str = "read_exact_raced_with_a_timer_loses_no_byte";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let (stream, writer) = tcp_with_writer(3);
    let (got, dropped) = Runtime::new()
        .expect("io_uring runtime")
        .block_on(async {
            let mut rng = XorShift::new(33);
            let mut got = Vec::new();
            let mut dropped = 0;
            loop {
                let read = stream.read_exact(Vec::with_capacity(8));
                match race(&mut rng, read, sleep(Duration::from_micros(500))).await {
                    Either::Left((Ok(()), buf)) => got.extend_from_slice(&buf),
                    Either::Left((Err(e), buf)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        // End of stream: `buf` holds what came before it.
                        got.extend_from_slice(&buf);
                        return io::Result::Ok((got, dropped));
                    }
                    Either::Left((Err(e), _)) => return Err(e),
                    Either::Right(()) => dropped += 1,
                }
            }
        })
        .expect("read_exact");
    check_stream(
        TEST,
        "read_exact raced with sleep",
        &got,
        writer,
        format!("{dropped} reads"),
    );
}

/// The read half of a split `TcpStream` (`OwnedReadHalf::read`) raced with a timer.
#[test]
fn read_half_raced_with_a_timer_loses_no_byte() {
    const TEST: &str = "read_half_raced_with_a_timer_loses_no_byte";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let (stream, writer) = tcp_with_writer(4);
    let (read_half, _write_half) = stream.into_split();
    let (got, dropped) = Runtime::new()
        .expect("io_uring runtime")
        .block_on(read_raced(44, Duration::from_micros(500), |b| {
            read_half.read(b)
        }))
        .expect("read");
    check_stream(
        TEST,
        "OwnedReadHalf::read raced with sleep",
        &got,
        writer,
        format!("{dropped} reads"),
    );
}

/// `UnixStream::read` raced with a timer.
#[test]
fn unix_read_raced_with_a_timer_loses_no_byte() {
    const TEST: &str = "unix_read_raced_with_a_timer_loses_no_byte";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let (ours, peer) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let writer = spawn_numbered_writer(peer, CHUNKS, CHUNK_MAX, GAP, 5, |p| {
        let _ = p.shutdown(Shutdown::Write);
    });
    let stream = UnixStream::from_std(ours);
    let (got, dropped) = Runtime::new()
        .expect("io_uring runtime")
        .block_on(read_raced(55, Duration::from_micros(500), |b| {
            stream.read(b)
        }))
        .expect("read");
    check_stream(
        TEST,
        "UnixStream::read raced with sleep",
        &got,
        writer,
        format!("{dropped} reads"),
    );
}

/// A `RecvStream` (multishot receive on a pool of 8 buffers of 256 bytes) raced with a
/// timer and dropped every fourth turn, each drop followed by one plain `read()`: the buffers
/// a dropped `RecvStream` had received come out of that `read()` or the next `RecvStream`,
/// in order.
#[test]
fn recv_stream_dropped_and_recreated_loses_no_byte() {
    const TEST: &str = "recv_stream_dropped_and_recreated_loses_no_byte";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let (stream, writer) = tcp_with_writer(6);
    let (got, drops) = Runtime::new()
        .expect("io_uring runtime")
        .block_on(async {
            let pool = BufPool::new(0xca1, 8, 256)?;
            let mut rng = XorShift::new(66);
            let mut got = Vec::new();
            // (RecvStreams dropped, next() futures dropped, reads dropped)
            let mut drops = (0, 0, 0);
            let mut rs = None;
            let mut turn = 0u64;
            let timer = Duration::from_micros(500);
            loop {
                turn += 1;
                if turn.is_multiple_of(4) {
                    // Drop the RecvStream (maybe with buffers received), then one plain read.
                    if rs.take().is_some() {
                        drops.0 += 1;
                    }
                    match race(&mut rng, stream.read(Vec::with_capacity(64)), sleep(timer)).await {
                        Either::Left((Ok(0), _)) => return io::Result::Ok((got, drops)),
                        Either::Left((Ok(n), buf)) => got.extend_from_slice(&buf[..n]),
                        Either::Left((Err(e), _)) => return Err(e),
                        Either::Right(()) => drops.2 += 1,
                    }
                    continue;
                }
                let recv = rs.get_or_insert_with(|| stream.recv_stream(&pool));
                match race(&mut rng, recv.next(), sleep(timer)).await {
                    Either::Left(Some(Ok(buf))) => got.extend_from_slice(&buf),
                    Either::Left(Some(Err(e))) => return Err(e),
                    Either::Left(None) => return Ok((got, drops)),
                    Either::Right(()) => drops.1 += 1,
                }
            }
        })
        .expect("recv_stream");
    check_stream(
        TEST,
        "RecvStream dropped and re-created",
        &got,
        writer,
        format!(
            "{} RecvStreams, {} of their next() futures, {} reads",
            drops.0, drops.1, drops.2
        ),
    );
}

/// tokio's `AsyncReadExt::read` (16-byte buffer) on a `net::compat::Compat` raced with a
/// timer, and the `Compat` unwrapped (`into_inner`) and re-wrapped every fifth read: neither
/// a dropped read future nor a dropped `Compat` loses bytes it received.
///
/// Needs net's `tokio` feature (on under `cargo test --workspace`, where the examples turn
/// it on; else `cargo test -p net --features tokio --test cancel`).
#[cfg(feature = "tokio")]
#[test]
fn compat_read_raced_with_a_timer_loses_no_byte() {
    use net::compat::Compat;
    use tokio::io::AsyncReadExt;

    const TEST: &str = "compat_read_raced_with_a_timer_loses_no_byte";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let (stream, writer) = tcp_with_writer(7);
    let (got, dropped, rewrapped) = Runtime::new()
        .expect("io_uring runtime")
        .block_on(async {
            let mut rng = XorShift::new(77);
            let mut c = Compat::new(stream);
            let mut got = Vec::new();
            let (mut dropped, mut rewrapped) = (0, 0);
            let mut turn = 0u64;
            loop {
                turn += 1;
                if turn.is_multiple_of(5) {
                    c = Compat::new(c.into_inner());
                    rewrapped += 1;
                }
                let mut buf = [0u8; 16];
                match race(
                    &mut rng,
                    c.read(&mut buf),
                    sleep(Duration::from_micros(500)),
                )
                .await
                {
                    Either::Left(Ok(0)) => return io::Result::Ok((got, dropped, rewrapped)),
                    Either::Left(Ok(n)) => got.extend_from_slice(&buf[..n]),
                    Either::Left(Err(e)) => return Err(e),
                    Either::Right(()) => dropped += 1,
                }
            }
        })
        .expect("compat read");
    check_stream(
        TEST,
        "Compat + tokio read raced with sleep",
        &got,
        writer,
        format!("{dropped} read futures, {rewrapped} Compats (into_inner, re-wrapped)"),
    );
}

// ---------------------------------------------------------------------------------------
// Datagrams
// ---------------------------------------------------------------------------------------

/// How many datagrams the UDP test sends.
const DATAGRAMS: u32 = 2_000;

/// `UdpSocket::recv_from` raced with a 200 us timer: every datagram is received exactly once,
/// in order (loopback does not reorder), with its source address.
#[test]
fn udp_recv_raced_with_a_timer_loses_no_datagram() {
    const TEST: &str = "udp_recv_raced_with_a_timer_loses_no_datagram";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let (got, dropped, src) = Runtime::new()
        .expect("io_uring runtime")
        .block_on(async {
            let socket = UdpSocket::bind("127.0.0.1:0").await?;
            let to = socket.local_addr()?;
            let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
            let src = sender.local_addr()?;
            let done = Arc::new(AtomicBool::new(false));
            let sent = {
                let done = done.clone();
                std::thread::spawn(move || {
                    for i in 0..DATAGRAMS {
                        let mut d = [0u8; 16];
                        d[..4].copy_from_slice(&i.to_le_bytes());
                        sender.send_to(&d, to).expect("send_to");
                        std::thread::sleep(Duration::from_micros(400));
                    }
                    done.store(true, Ordering::Release);
                })
            };
            let mut rng = XorShift::new(88);
            let mut got: Vec<(u32, SocketAddr)> = Vec::new();
            let mut dropped = 0;
            let on = |got: &mut Vec<(u32, SocketAddr)>, n: usize, buf: &[u8], from| {
                assert_eq!(n, 16, "{TEST}: a datagram of {n} bytes");
                got.push((u32::from_le_bytes(buf[..4].try_into().unwrap()), from));
            };
            // Raced with a timer until the sender is done: all it sent is queued by then.
            while !done.load(Ordering::Acquire) {
                let recv = socket.recv_from(Vec::with_capacity(64));
                match race(&mut rng, recv, sleep(Duration::from_micros(200))).await {
                    Either::Left((Ok((n, from)), buf)) => on(&mut got, n, &buf, from),
                    Either::Left((Err(e), _)) => return Err(e),
                    Either::Right(()) => dropped += 1,
                }
            }
            sent.join().expect("sender thread");
            // Then the rest, until nothing comes for 100 ms.
            while got.len() < DATAGRAMS as usize {
                match timeout(
                    Duration::from_millis(100),
                    socket.recv_from(Vec::with_capacity(64)),
                )
                .await
                {
                    Ok((Ok((n, from)), buf)) => on(&mut got, n, &buf, from),
                    Ok((Err(e), _)) => return Err(e),
                    Err(_) => break,
                }
            }
            io::Result::Ok((got, dropped, src))
        })
        .expect("udp");
    let wrong_src: Vec<_> = got.iter().filter(|(_, from)| *from != src).collect();
    assert!(
        wrong_src.is_empty(),
        "{TEST}: datagrams from a wrong source: {wrong_src:?}"
    );
    let numbers: Vec<u32> = got.iter().map(|(i, _)| *i).collect();
    let want: Vec<u32> = (0..DATAGRAMS).collect();
    if numbers != want {
        let mut seen = vec![0u32; DATAGRAMS as usize];
        for &i in &numbers {
            seen[i as usize] += 1;
        }
        let lost = seen.iter().filter(|&&c| c == 0).count();
        let twice = seen.iter().filter(|&&c| c > 1).count();
        let first_lost = seen.iter().position(|&c| c == 0);
        panic!(
            "{TEST}: received {} of {DATAGRAMS} datagrams: {lost} lost (first: {first_lost:?}), \
             {twice} received more than once, in order: {}; {dropped} receives were dropped",
            numbers.len(),
            numbers.windows(2).all(|w| w[0] < w[1]),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------

/// How many chunks the write test writes; every eighth is large.
const WRITE_CHUNKS: usize = 300;
/// A large chunk: more than the socket buffers hold, so its write waits for the reader.
const LARGE: usize = 256 * 1024;

/// The writer task issues `write(chunk)` futures, each raced with a random short timer; a
/// write that completed short goes on with the rest of its chunk, and a dropped write is left
/// behind: its bytes must still go out, once, before the next write's. A slow std reader
/// reads until end of stream. It must see all chunks, each once, in order (or the writer got
/// an error about a dropped write that went out in part, and the reader saw a prefix).
#[test]
fn dropped_writes_go_out_exactly_once_in_order() {
    const TEST: &str = "dropped_writes_go_out_exactly_once_in_order";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let mut rng = XorShift::new(0x3417e);
    let sizes: Vec<usize> = (0..WRITE_CHUNKS)
        .map(|i| {
            if i % 8 == 7 {
                LARGE
            } else {
                1 + rng.below(8 * 1024)
            }
        })
        .collect();
    let all = numbered(sizes.iter().sum());

    let (ours, mut peer) = std_pair();
    let reader = std::thread::spawn(move || {
        // A slow reader: 16 KiB at a time, with a pause after each.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match peer.read(&mut buf) {
                Ok(0) => return Ok(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    });
    let stream = TcpStream::from_std(ours);
    let _ = stream.set_send_buffer_size(64 * 1024);
    let (dropped, error) = Runtime::new().expect("io_uring runtime").block_on(async {
        let mut dropped = 0;
        let mut off = 0;
        for (i, &len) in sizes.iter().enumerate() {
            let end = off + len;
            while off < end {
                let mut write = std::pin::pin!(stream.write(all[off..end].to_vec()));
                // A write is committed once polled; `race` may find the timer expired before
                // it polls the write at all, and then nothing was written.
                let polled = std::cell::Cell::new(false);
                let write = std::future::poll_fn(|cx| {
                    polled.set(true);
                    write.as_mut().poll(cx)
                });
                let last = i + 1 == sizes.len();
                let res = if last {
                    // The last write is awaited: when it is done, so is every one before it.
                    Either::Left(write.await)
                } else {
                    let t = Duration::from_micros(rng.below(3_000) as u64);
                    race(&mut rng, write, sleep(t)).await
                };
                match res {
                    Either::Left((Ok(0), _)) => {
                        return (dropped, Some(io::Error::from(io::ErrorKind::WriteZero)));
                    }
                    Either::Left((Ok(n), _)) => off += n,
                    Either::Left((Err(e), _)) => return (dropped, Some(e)),
                    // Dropped after it was polled: it still goes out, whole, before the next
                    // write.
                    Either::Right(()) if polled.get() => {
                        dropped += 1;
                        off = end;
                    }
                    // Never polled: nothing went out; write the same bytes again.
                    Either::Right(()) => {}
                }
            }
        }
        let error = stream.shutdown(Shutdown::Write).await.err();
        drop(stream);
        (dropped, error)
    });
    let got = reader.join().expect("reader thread").expect("reader");
    match error {
        None => {
            if let Some(loss) = stream_loss(&got, &all) {
                panic!(
                    "{TEST}: {loss}; {dropped} of the writes were dropped (each must still go \
                     out, once, in order)"
                );
            }
        }
        Some(e) if e.to_string().to_lowercase().contains("dropped") => {
            assert!(
                all.starts_with(&got),
                "{TEST}: the writer stopped on a partly sent dropped write ({e}), but the \
                 reader's {} bytes are not a prefix of what was written: {}",
                got.len(),
                stream_loss(&got, &all).unwrap_or_default(),
            );
        }
        Some(e) => panic!("{TEST}: the writer failed: {e}"),
    }
}

/// Polls `fut` once; whether it finished then.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> bool {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx).is_ready())
    })
    .await
}

/// A write polled once and dropped while it waits for an earlier dropped write still in
/// flight (the peer is not reading) is committed all the same: its bytes go out after the
/// earlier write's and before the next one's. Fails if the waiting write is simply forgotten
/// (the peer's bytes then have a gap where it belonged).
#[test]
fn a_write_dropped_while_it_waits_for_its_turn_still_goes_out_in_order() {
    const TEST: &str = "a_write_dropped_while_it_waits_for_its_turn_still_goes_out_in_order";
    let _s = serial();
    let _w = watchdog(TEST, LIMIT);
    let all = numbered(LARGE * 4 + 3 * 1000);
    let (first, rest) = all.split_at(LARGE * 4);
    let (second, rest) = rest.split_at(1000);
    let (third, fourth) = rest.split_at(1000);
    let (ours, mut peer) = std_pair();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        // Reads nothing until told, so the first write stays in flight.
        wait.recv().expect("go");
        let mut got = Vec::new();
        peer.read_to_end(&mut got).map(|_| got)
    });
    let stream = TcpStream::from_std(ours);
    let _ = stream.set_send_buffer_size(16 * 1024);
    let written = Runtime::new().expect("io_uring runtime").block_on(async {
        let mut write = Box::pin(stream.write(first.to_vec()));
        assert!(
            !poll_once(&mut write).await,
            "{TEST}: a write larger than the socket buffers finished while nobody reads"
        );
        drop(write);
        let mut waiting = Box::pin(stream.write(second.to_vec()));
        assert!(
            !poll_once(&mut waiting).await,
            "{TEST}: a write started while an earlier one is still in flight"
        );
        drop(waiting);
        let mut vectored = Box::pin(stream.writev(vec![third.to_vec()]));
        assert!(
            !poll_once(&mut vectored).await,
            "{TEST}: a vectored write started while an earlier one is still in flight"
        );
        drop(vectored);
        go.send(()).expect("reader");
        let (res, _) = stream.write_all(fourth.to_vec()).await;
        let shut = stream.shutdown(Shutdown::Write).await;
        res.and(shut)
    });
    let got = reader.join().expect("reader thread").expect("reader");
    match written {
        Ok(()) => {
            if let Some(loss) = stream_loss(&got, &all) {
                panic!("{TEST}: {loss}");
            }
        }
        // A send may still complete short (a signal, or injected faults): then the next write
        // says so, and the peer got a prefix, with no gap before the cut.
        Err(e) if e.to_string().contains("dropped") => assert!(
            all.starts_with(&got),
            "{TEST}: {e}, but the peer's bytes are not a prefix of what was written: {}",
            stream_loss(&got, &all).unwrap_or_default()
        ),
        Err(e) => panic!("{TEST}: the writer failed: {e}"),
    }
}

/// Bytes a dropped read kept, then `into_std`: refused while they are kept (the stream comes
/// back in the error, nothing lost), and once they are read it succeeds and the std stream
/// reads on from there. Before the fix `into_std` succeeded and the kept bytes vanished.
/// (Reads may be short, as under `.ci/faults`: only the whole sequence is compared.)
#[test]
fn into_std_does_not_lose_bytes_a_dropped_read_kept() {
    let _s = serial();
    let _w = watchdog("into_std_does_not_lose_bytes_a_dropped_read_kept", LIMIT);
    let (ours, mut peer) = std_pair();
    let (std_stream, mut got, refused) = Runtime::new().expect("runtime").block_on(async {
        let a = TcpStream::from_std(ours);
        let mut read = Box::pin(a.read(vec![0u8; 16]));
        assert!(!poll_once(&mut read).await);
        let before = runtime::metrics().unwrap().cqes_reaped;
        peer.write_all(b"kept").expect("peer write");
        // Its CQE (the only one this runtime waits for) carried bytes, reaped and not yet
        // taken: dropped now, the read keeps them for the stream's next read.
        while runtime::metrics().unwrap().cqes_reaped == before {
            sleep(Duration::from_millis(1)).await;
        }
        drop(read);
        let mut a = a;
        let mut got = Vec::new();
        let mut refused = 0;
        loop {
            match a.into_std() {
                Ok(s) => break (s, got, refused),
                Err(e) => {
                    assert!(
                        e.error().to_string().contains("bytes that dropped reads"),
                        "{e}"
                    );
                    refused += 1;
                    a = e.into_stream();
                    let (res, bytes) = a.read(vec![0u8; 16]).await;
                    res.expect("read");
                    got.extend_from_slice(&bytes);
                }
            }
        }
    });
    assert!(
        refused > 0,
        "into_std took the stream while bytes were kept"
    );
    peer.write_all(b"later").expect("peer write");
    drop(peer);
    let mut std_stream = std_stream;
    std_stream.set_nonblocking(false).expect("blocking");
    std_stream.read_to_end(&mut got).expect("std read");
    assert_eq!(got, b"keptlater");
}

/// A `RecvStream` is its socket's reader while it lives: a `read` of the socket waits, and
/// once the stream is dropped the read gets what the stream had received and not handed
/// out, in order.
#[test]
fn a_read_waits_for_a_live_recv_stream_and_then_gets_what_it_did_not_hand_out() {
    let _s = serial();
    let _w = watchdog(
        "a_read_waits_for_a_live_recv_stream_and_then_gets_what_it_did_not_hand_out",
        LIMIT,
    );
    Runtime::new().expect("runtime").block_on(async {
        let (a, b) = UnixStream::pair().expect("pair");
        let pool = BufPool::new(7, 8, 4096).expect("pool");
        let mut rs = a.recv_stream(&pool);
        b.write_all(b"one".to_vec()).await.0.expect("write");
        // (Receives may be short, as under `.ci/faults`.)
        let mut first = Vec::new();
        while first.len() < 3 {
            let buf = rs.next().await.expect("an item").expect("bytes");
            first.extend_from_slice(&buf);
        }
        assert_eq!(first, b"one");
        b.write_all(b"two".to_vec()).await.0.expect("write");
        sleep(Duration::from_millis(20)).await;
        let waited = timeout(Duration::from_millis(100), a.read(vec![0u8; 16])).await;
        assert!(
            waited.is_err(),
            "a read got bytes while the RecvStream lives"
        );
        drop(rs);
        let (res, got) = a.read_exact(Vec::with_capacity(3)).await;
        res.expect("read");
        assert_eq!(got, b"two", "what the stream had not handed out");
    });
}

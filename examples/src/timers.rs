//! Timers and timeouts, in four steps:
//!
//! 1. [`runtime::time::sleep`]: a timer on the core's wheel; the core's wait in
//!    `io_uring_enter` is bounded by the nearest deadline, so no SQE per timer.
//! 2. [`runtime::time::interval`]: ticks a period apart, the first at once (with
//!    `MissedTickBehavior::Delay` a late tick does not bunch up the next ones).
//! 3. [`runtime::time::timeout`] around a read that never completes: at the deadline the
//!    read's future is dropped, which cancels its op (`ASYNC_CANCEL`); the runtime keeps the
//!    buffer until the kernel's final completion, the op slot is freed, and the stream is
//!    as good as before: data sent afterwards is read by the next read, none was lost.
//! 4. A timeout on the op itself (`IORING_OP_LINK_TIMEOUT`, [`runtime::op::Op::timeout`]),
//!    through [`net::TcpStream::connect_timeout`]: a connect to a loopback listener whose
//!    accept queue is full gets no answer (Linux drops the SYN), and the kernel cancels it.
//!
//! # Examples
//! ```
//! runtime::Runtime::new()?.block_on(async {
//!     let report = examples::timers::demo(3, std::time::Duration::from_millis(5)).await?;
//!     assert!(report.iter().any(|l| l.contains("cancelled cleanly")));
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use net::{TcpListener, TcpSocket, TcpStream};
use runtime::time::{interval, sleep, timeout};

fn fail(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// Step 1: sleeps `d` and checks it did not wake early; returns a report line.
///
/// # Errors
/// `Other` if the sleep ended before its deadline.
pub async fn sleep_step(d: Duration) -> io::Result<String> {
    let start = Instant::now();
    sleep(d).await;
    let slept = start.elapsed();
    if slept < d {
        return Err(fail(format!("sleep({d:?}) woke after {slept:?}")));
    }
    Ok(format!("sleep({d:?}) woke after {slept:.1?}"))
}

/// Step 2: waits for `ticks` ticks `period` apart; returns a report line with each tick's
/// time since the start.
///
/// # Errors
/// `Other` if a tick came before its time.
pub async fn interval_step(ticks: usize, period: Duration) -> io::Result<String> {
    let start = Instant::now();
    let mut every = interval(period);
    every.set_missed_tick_behavior(runtime::time::MissedTickBehavior::Delay);
    let mut at = Vec::with_capacity(ticks);
    // The first tick is at once (as in tokio), tick i a period after tick i - 1.
    for i in 0..ticks {
        every.tick().await;
        let t = start.elapsed();
        if t < period * i as u32 {
            return Err(fail(format!(
                "tick {i} came at {t:?}, before {:?}",
                period * i as u32
            )));
        }
        at.push(format!("{t:.1?}"));
    }
    Ok(format!(
        "interval({period:?}): {ticks} ticks at [{}]",
        at.join(", ")
    ))
}

/// Waits (a few loop turns, at most 1 s) until this core has no more ops in flight than
/// `baseline`: a cancelled op holds its slot until the kernel's final completion.
async fn settle(baseline: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let now = runtime::metrics().map_or(0, |m| m.ops_in_flight);
        if now <= baseline || Instant::now() > deadline {
            return now;
        }
        runtime::yield_now().await;
    }
}

/// Step 3: a read on a loopback connection whose peer says nothing, under a `wait` timeout.
/// Checks that the timeout fires, that the cancelled op leaves the core (its slot freed
/// once the kernel confirms), and that a later read gets the bytes the peer sends next.
///
/// # Errors
/// The connection's errors; `Other` if the read completed or the stream lost data.
pub async fn timeout_step(wait: Duration) -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;

    let before = runtime::metrics().unwrap_or_default();
    let start = Instant::now();
    let read = timeout(wait, client.read(Vec::with_capacity(64))).await;
    let waited = start.elapsed();
    if read.is_ok() {
        return Err(fail("the read completed although nothing was sent".into()));
    }
    let in_flight = settle(before.ops_in_flight).await;
    let after = runtime::metrics().unwrap_or_default();
    if in_flight > before.ops_in_flight {
        return Err(fail(format!(
            "{} ops still in flight after the cancel (before: {})",
            in_flight, before.ops_in_flight
        )));
    }

    server.write_all(b"late".to_vec()).await.0?;
    let (res, buf) = client.read(Vec::with_capacity(64)).await;
    let n = res?;
    if &buf[..n] != b"late" {
        return Err(fail(format!("the next read got {:?}", &buf[..n])));
    }
    Ok(format!(
        "timeout({wait:?}) on a silent read: Elapsed after {waited:.1?}; the read was \
         cancelled cleanly ({} op cancelled, ops in flight back to {in_flight}) and the \
         next read got the bytes sent after it",
        after.ops_cancelled - before.ops_cancelled
    ))
}

/// Step 4: `connect_timeout(wait)` to a loopback listener whose accept queue is full
/// (backlog 0 holds one connection, and nobody accepts): Linux drops the next SYN, so only
/// the linked timeout ends that connect, with `TimedOut`.
///
/// # Errors
/// Socket errors; `Other` if no connect timed out.
pub async fn connect_timeout_step(wait: Duration) -> io::Result<String> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let listener = socket.listen(0)?;
    let addr = listener.local_addr()?;
    // The first connects fill the queue (the handshake completes in the kernel, with no
    // accept); the one after them waits for a SYN-ACK that never comes.
    let mut queued = Vec::new();
    loop {
        let start = Instant::now();
        match TcpStream::connect_timeout(addr, wait).await {
            Ok(stream) if queued.len() < 4 => queued.push(stream),
            Ok(_) => return Err(fail("the accept queue never filled up".into())),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Ok(format!(
                    "connect_timeout({wait:?}) with {} connection(s) queued: {:?} (\"{e}\") \
                     after {:.1?}, cancelled in the kernel by its linked timeout",
                    queued.len(),
                    e.kind(),
                    start.elapsed()
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs the four steps (`ticks` interval ticks `period` apart) and returns their report
/// lines.
///
/// # Errors
/// The first step that fails.
pub async fn demo(ticks: usize, period: Duration) -> io::Result<Vec<String>> {
    Ok(vec![
        sleep_step(Duration::from_millis(20)).await?,
        interval_step(ticks, period).await?,
        timeout_step(Duration::from_millis(50)).await?,
        connect_timeout_step(Duration::from_millis(100)).await?,
    ])
}

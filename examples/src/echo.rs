//! A TCP echo server: one task per connection, connections from one multishot accept
//! ([`TcpListener::incoming`]), each stream forwarded to itself by the ring
//! ([`TcpStream::forward_to`]: a multishot receive on the core's provided buffers, each
//! buffer sent straight back from the completion that delivered it, with no copy in user
//! space, no poll of the task per message, and no buffer held by an idle connection).
//!
//! Used by the `echo` and `echo_per_core` examples.
//!
//! # Examples
//! ```
//! use examples::echo;
//! use net::TcpListener;
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let report = echo::demo(listener).await?;
//!     assert!(report.contains("verified"));
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{Shutdown, SocketAddr};

use net::{TcpListener, TcpStream};
use runtime::buf::BufPool;

use crate::signal::{Signal, accept_until, join};

/// The port of `echo` without `--addr`.
pub const DEFAULT_PORT: u16 = 7000;

/// The provided-buffer group the echo servers register on each core (any id this core's
/// other pools do not use).
pub const POOL_GROUP: u16 = 0xec0;
/// Buffers in each core's pool (a power of two): this many receives may be in the
/// connections' hands at once before the kernel waits for one to come back.
pub const POOL_BUFS: u16 = 256;
/// Bytes per pool buffer.
pub const POOL_BUF_LEN: usize = 16 * 1024;

/// This core's receive pool, or `None` (with a note on stderr) where the kernel has no
/// buffer rings (before 5.19): the servers then echo through a `Vec` per connection.
pub fn core_pool() -> Option<BufPool> {
    match BufPool::new(POOL_GROUP, POOL_BUFS, POOL_BUF_LEN) {
        Ok(pool) => Some(pool),
        Err(e) => {
            eprintln!("echo: no provided buffers ({e}); echoing through a copy instead");
            None
        }
    }
}

/// Echoes everything `stream` receives until the peer shuts down its side; returns the bytes
/// echoed. Each buffer of `pool` the kernel fills is sent back as is by the ring, and
/// returns to `pool` once sent.
///
/// # Errors
/// The receive's or the send's error (ECONNRESET, EPIPE, …).
pub async fn echo_provided(stream: &TcpStream, pool: &BufPool) -> io::Result<u64> {
    stream.forward_to(stream, pool).await
}

/// Echoes like [`echo_provided`], through one `Vec` of the connection's own.
///
/// # Errors
/// The read's or the write's error.
pub async fn echo_copy(stream: &TcpStream) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(POOL_BUF_LEN);
    let mut echoed = 0;
    loop {
        // A read fills the Vec from its start and sets its length to what it read.
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            return Ok(echoed);
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
        echoed += n as u64;
    }
}

/// Serves echo on `listener`, a task per connection, until `stop` fires; counts each
/// finished connection on `stop` (so [`Signal::after`]`(Some(n))` stops after `n`
/// connections). Returns the number of connections this listener accepted.
///
/// Connections still open when it returns keep their tasks; they end with the runtime.
///
/// # Errors
/// None so far: accept errors (EMFILE, …) are reported on stderr and accepting goes on.
pub async fn serve(listener: TcpListener, stop: Signal) -> io::Result<usize> {
    let pool = core_pool();
    let accepted = accept_until(listener, stop, "echo", move |stream| {
        let pool = pool.clone();
        async move {
            let res = match &pool {
                Some(pool) => echo_provided(&stream, pool).await,
                None => echo_copy(&stream).await,
            };
            if let Err(e) = res {
                eprintln!("echo: connection: {e}");
            }
        }
    })
    .await;
    Ok(accepted)
}

/// The bytes client `client` sends in a demo: `len` bytes of a pattern of its own.
pub fn pattern(client: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ client.wrapping_mul(7)) as u8)
        .collect()
}

/// One client exchange: connects to `addr`, sends `data` while reading the echo back (so
/// neither side's socket buffer can fill up and stall both), shuts down its side, and
/// checks that the echo is `data` and then end of stream.
///
/// # Errors
/// The connection's errors; `InvalidData` when the echo differs.
pub async fn check_echo(addr: SocketAddr, data: Vec<u8>) -> io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let len = data.len();
    let (reader, writer) = stream.into_split();
    let send = async {
        let (res, data) = writer.write_all(data).await;
        res?;
        writer.shutdown(Shutdown::Write).await?;
        Ok::<_, io::Error>(data)
    };
    let receive = async {
        let (res, echo) = reader.read_exact(Vec::with_capacity(len)).await;
        res?;
        let (res, _) = reader.read(Vec::with_capacity(1)).await;
        match res? {
            0 => Ok(echo),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more bytes came back than were sent",
            )),
        }
    };
    let (sent, echoed) = join(send, receive).await;
    if sent? != echoed? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the echo of {len} bytes differs from what was sent"),
        ));
    }
    Ok(())
}

/// Sizes the demo clients send: one byte, around a pool buffer, and many buffers.
pub const DEMO_SIZES: [usize; 5] = [1, POOL_BUF_LEN - 1, POOL_BUF_LEN, POOL_BUF_LEN + 1, 300_000];

/// Runs [`check_echo`] for `clients` concurrent clients (client `i` sends
/// `DEMO_SIZES[i % 5]` bytes of [`pattern`]`(i, _)`); returns the bytes verified.
///
/// # Errors
/// The first failing client's error.
pub async fn run_clients(addr: SocketAddr, clients: usize) -> io::Result<u64> {
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let len = DEMO_SIZES[i % DEMO_SIZES.len()];
            runtime::spawn(async move {
                check_echo(addr, pattern(i, len)).await?;
                Ok::<_, io::Error>(len as u64)
            })
        })
        .collect();
    let mut bytes = 0;
    for t in tasks {
        bytes += t.await??;
    }
    Ok(bytes)
}

/// The self-test of `echo --demo`: serves on `listener` (in this task's core), runs 10
/// concurrent clients against it, checks every byte, stops the server, and returns a one-line
/// report.
///
/// # Errors
/// A client's error, or `InvalidData` when an echo differs.
pub async fn demo(listener: TcpListener) -> io::Result<String> {
    const CLIENTS: usize = 10;
    let addr = listener.local_addr()?;
    let stop = Signal::after(Some(CLIENTS));
    let server = runtime::spawn(serve(listener, stop.clone()));
    let bytes = run_clients(addr, CLIENTS).await;
    // Every client saw end of stream, so every connection task has counted itself by now;
    // fire anyway, so a failed client does not leave the server waiting.
    stop.fire();
    let accepted = server.await??;
    let bytes = bytes?;
    Ok(format!(
        "echo: {accepted} connections, {bytes} bytes echoed and verified"
    ))
}

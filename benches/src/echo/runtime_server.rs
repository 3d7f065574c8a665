//! The servers on this runtime, written as a user would:
//!
//! - `runtime`: a task per connection from the multishot accept stream
//!   ([`net::TcpListener::incoming`]); each forwards its stream to itself
//!   ([`net::TcpStream::forward_to`]: multishot recv on the core's provided-buffer pool, every
//!   received buffer sent back as is by the ring, with no poll of the task per message, and
//!   no read buffer held by an idle connection).
//! - `runtime-rw`: the plainest owned-buffer loop, `read(Vec)` then `write_all`.
//! - `runtime-fallback`: `runtime` again; the parent starts it with `RUNTIME_DRIVER=fallback`
//!   in its environment, which the runtime reads.
//!
//! One core by default (`block_on` on the pinned main thread); with `--cores N`,
//! [`runtime::Runtime::run_per_core`] with one `SO_REUSEPORT` listener per core.

use std::future::{Future, poll_fn};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use net::{TcpListener, TcpSocket, TcpStream, UnixStream};
use runtime::buf::{BufPool, IoBuf};

use super::run::ServerKind;
use super::server::{ServeArgs, announce_metrics, announce_ready, control_fd};
use super::sockopt::{BACKLOG, bind_tcp};

/// Runs the `runtime` (or `runtime-fallback`) or `runtime-rw` server described by `args`.
///
/// # Errors
/// Setup failures: the ring, the buffer pool, bind.
pub fn serve(args: &ServeArgs) -> io::Result<()> {
    let provided = args.kind != ServerKind::RuntimeRw;
    let bufs = (args.pool_bufs, args.read_buf.max(1));
    let metrics = if args.cores <= 1 {
        let rt = runtime::Builder::new().cores(1).build()?;
        let port = args.port;
        vec![rt.block_on(async move {
            let listener = listen(port, false)?;
            announce_ready(listener.local_addr()?.port());
            serve_core(listener, provided, bufs).await
        })?]
    } else {
        // A bound, non-listening socket holds the port for the cores' listeners.
        let (reserve, port) = bind_tcp(args.port, true, false)?;
        let cores = args.cores;
        let bound = Arc::new(AtomicUsize::new(0));
        let rt = runtime::Builder::new()
            .cores(cores)
            .pin_cores(true)
            .build()?;
        let out = rt.run_per_core(move |_core| {
            let bound = bound.clone();
            async move {
                let listener = listen(port, true)?;
                if bound.fetch_add(1, Ordering::AcqRel) + 1 == cores {
                    announce_ready(port);
                }
                serve_core(listener, provided, bufs).await
            }
        });
        drop(reserve);
        out.into_iter().collect::<io::Result<Vec<_>>>()?
    };
    for (core, m) in metrics.iter().enumerate() {
        announce_metrics(
            core,
            &[
                ("enters", m.enter_calls),
                ("sqes", m.sqes_submitted),
                ("cqes", m.cqes_reaped),
                ("loop_turns", m.loop_turns),
                ("tasks_polled", m.tasks_polled),
                ("ops_submitted", m.ops_submitted),
                ("ops_completed", m.ops_completed),
                ("cq_overflows", m.cq_overflows),
                ("sq_full", m.sq_full_events),
            ],
        );
    }
    Ok(())
}

fn listen(port: u16, reuseport: bool) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    if reuseport {
        socket.set_reuseport(true)?;
    }
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    socket.listen(BACKLOG as u32)
}

/// The control socket (the parent's end of our stdin): end of stream means stop.
fn control() -> io::Result<UnixStream> {
    let fd = control_fd()?;
    Ok(UnixStream::from_std(std::os::unix::net::UnixStream::from(
        fd,
    )))
}

/// Accepts and serves until the control socket closes; returns the core's counters.
async fn serve_core(
    listener: TcpListener,
    provided: bool,
    (pool_bufs, read_buf): (u16, usize),
) -> io::Result<runtime::Metrics> {
    let pool = if provided {
        Some(BufPool::new(0, pool_bufs, read_buf)?)
    } else {
        None
    };
    let control = control()?;
    let accept = async {
        let mut incoming = listener.incoming();
        while let Some(conn) = incoming.next().await {
            match conn {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    match &pool {
                        Some(pool) => drop(runtime::spawn(echo_provided(stream, pool.clone()))),
                        None => drop(runtime::spawn(echo_rw(stream, read_buf))),
                    }
                }
                Err(e) => eprintln!("runtime server: accept: {e}"),
            }
        }
    };
    let stop = async {
        let _ = control.read(Vec::with_capacity(1)).await;
    };
    first_of(accept, stop).await;
    Ok(runtime::metrics().unwrap_or_default())
}

/// The idiomatic echo: everything the stream receives, sent back on it by the ring
/// ([`TcpStream::forward_to`]): a multishot recv into the pool's buffers, each buffer sent
/// back as it is (no copy) from the completion that delivered it, without a wake-up or a
/// poll of the task per message.
async fn echo_provided(stream: TcpStream, pool: BufPool) {
    let _ = stream.forward_to(&stream, &pool).await;
}

/// The plainest echo: read into an owned Vec, write that much back, again.
async fn echo_rw(stream: TcpStream, read_buf: usize) {
    let mut buf = vec![0u8; read_buf];
    loop {
        let (res, b) = stream.read(buf).await;
        let n = match res {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let (res, slice) = stream.write_all(b.slice(..n)).await;
        if res.is_err() {
            return;
        }
        buf = slice.into_inner();
    }
}

/// Runs both futures until either finishes.
async fn first_of(a: impl Future<Output = ()>, b: impl Future<Output = ()>) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if b.as_mut().poll(cx).is_ready() || a.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

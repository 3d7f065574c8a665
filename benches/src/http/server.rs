//! The HTTP servers under test, each run in a child process: ours (`net::hyper::Server`,
//! per core) and hyper on tokio (current_thread, or multi_thread with as many workers), in
//! HTTP/1.1 or HTTP/2 (cleartext, prior knowledge). Every server answers `GET /` with the
//! body the parent asked for.

use std::convert::Infallible;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;

/// A server implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `net::hyper::Server` on this runtime, one core per `--cores`.
    Ours,
    /// hyper on tokio's current_thread runtime (one thread per `--cores`, `SO_REUSEPORT`).
    TokioCt,
    /// hyper on tokio's multi_thread runtime with `--cores` workers, one listener.
    TokioMt,
}

impl Kind {
    /// Every server, in the order runs alternate.
    pub const ALL: [Kind; 3] = [Kind::Ours, Kind::TokioCt, Kind::TokioMt];

    /// The name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::TokioCt => "tokio-ct",
            Kind::TokioMt => "tokio-mt",
        }
    }

    /// Parses [`Kind::name`].
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// The HTTP version a run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1, keep-alive.
    H1,
    /// HTTP/2 with prior knowledge (h2c).
    H2,
}

impl Proto {
    /// The name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Proto::H1 => "h1",
            Proto::H2 => "h2",
        }
    }

    /// Parses [`Proto::name`].
    pub fn parse(s: &str) -> Option<Proto> {
        [Proto::H1, Proto::H2].into_iter().find(|p| p.name() == s)
    }
}

/// Runs server `kind` on `cores` cores (the process is pinned by the caller) answering
/// `body` in `proto`; prints `READY <port>`, stops when stdin ends, then prints one
/// `METRICS` line per core of ours (enters, SQEs, loop turns, task polls).
///
/// # Errors
/// Setup failures.
pub fn serve(kind: Kind, cores: usize, body: Bytes, proto: Proto) -> io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let listeners = net::hyper::bind_reuseport(addr, cores)?;
    let port = listeners[0].local_addr()?.port();
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while io::stdin().lock().read_line(&mut line).is_ok_and(|n| n > 0) {}
            stop.store(true, Ordering::Release);
        });
    }
    let ready = || {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "READY {port}");
        let _ = out.flush();
    };
    match kind {
        Kind::Ours => {
            let mut b = runtime::Builder::new();
            b.cores(cores);
            let rt = b.build()?;
            ready();
            let stop2 = stop.clone();
            let mut server = net::hyper::Server::new();
            server.protocols(match proto {
                Proto::H1 => net::hyper::Protocols::Http1,
                Proto::H2 => net::hyper::Protocols::Http2,
            });
            let served = server.serve_per_core(
                &rt,
                listeners,
                move |_| {
                    let body = body.clone();
                    service_fn(move |_req| {
                        let body = body.clone();
                        async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(body))) }
                    })
                },
                move |core| {
                    let stop = stop2.clone();
                    async move {
                        while !stop.load(Ordering::Acquire) {
                            runtime::time::sleep(Duration::from_millis(20)).await;
                        }
                        if let Some(m) = runtime::metrics() {
                            println!(
                                "METRICS core={core} enters={} sqes={} turns={} polls={} cqes={}",
                                m.enter_calls,
                                m.sqes_submitted,
                                m.loop_turns,
                                m.tasks_polled,
                                m.cqes_reaped
                            );
                        }
                    }
                },
            );
            served.map(drop)
        }
        Kind::TokioCt => {
            let threads: Vec<_> = listeners
                .into_iter()
                .map(|l| {
                    let (body, stop) = (body.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()?;
                        let local = tokio::task::LocalSet::new();
                        local.block_on(&rt, accept_loop(l, body, stop, proto))
                    })
                })
                .collect();
            ready();
            for t in threads {
                t.join()
                    .map_err(|_| io::Error::other("server thread panicked"))??;
            }
            Ok(())
        }
        Kind::TokioMt => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .enable_all()
                .build()?;
            let listener = listeners.into_iter().next().expect("one listener");
            ready();
            rt.block_on(accept_loop_send(listener, body, stop, proto))
        }
    }
}

/// One connection of hyper on tokio, in `proto` (HTTP/2 streams on `tokio::spawn`, as
/// hyper-util's `TokioExecutor`).
async fn serve_connection(s: tokio::net::TcpStream, body: Bytes, proto: Proto) {
    let svc = service_fn(move |_req| {
        let body = body.clone();
        async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(body))) }
    });
    let _ = match proto {
        Proto::H1 => {
            hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer)
                .serve_connection(TokioIo(s), svc)
                .await
        }
        Proto::H2 => {
            hyper::server::conn::http2::Builder::new(TokioExecutor)
                .timer(TokioTimer)
                .serve_connection(TokioIo(s), svc)
                .await
        }
    };
}

/// hyper's `Executor` on tokio (`tokio::spawn`), as hyper-util's `TokioExecutor`.
#[derive(Clone, Copy)]
pub(crate) struct TokioExecutor;

impl<F> hyper::rt::Executor<F> for TokioExecutor
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(future);
    }
}

async fn accept_loop(
    l: std::net::TcpListener,
    body: Bytes,
    stop: Arc<AtomicBool>,
    proto: Proto,
) -> io::Result<()> {
    l.set_nonblocking(true)?;
    let l = tokio::net::TcpListener::from_std(l)?;
    while !stop.load(Ordering::Acquire) {
        let Ok(accepted) = tokio::time::timeout(Duration::from_millis(20), l.accept()).await else {
            continue;
        };
        let (s, _) = accepted?;
        s.set_nodelay(true)?;
        tokio::task::spawn_local(serve_connection(s, body.clone(), proto));
    }
    Ok(())
}

async fn accept_loop_send(
    l: std::net::TcpListener,
    body: Bytes,
    stop: Arc<AtomicBool>,
    proto: Proto,
) -> io::Result<()> {
    l.set_nonblocking(true)?;
    let l = tokio::net::TcpListener::from_std(l)?;
    while !stop.load(Ordering::Acquire) {
        let Ok(accepted) = tokio::time::timeout(Duration::from_millis(20), l.accept()).await else {
            continue;
        };
        let (s, _) = accepted?;
        s.set_nodelay(true)?;
        tokio::spawn(serve_connection(s, body.clone(), proto));
    }
    Ok(())
}

/// hyper's `Timer` on tokio's timers, as hyper-util's `TokioTimer`: with a timer hyper arms
/// its `header_read_timeout` (30 s) for every request, as `net::hyper::Server` does on ours,
/// so both servers do the same work (and neither is open to a slow-header client).
#[derive(Clone, Copy)]
struct TokioTimer;

struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

impl std::future::Future for TokioSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for TokioSleep {}

impl hyper::rt::Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(Box::pin(tokio::time::sleep_until(
            deadline.into(),
        ))))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<TokioSleep>() {
            Some(mut s) => s.0.as_mut().reset(new_deadline.into()),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// hyper's I/O traits over a tokio stream, as hyper-util's `TokioIo` (reading straight
/// into hyper's buffer, writes vectored), so tokio is measured as hyper users run it.
pub(crate) struct TokioIo(pub(crate) tokio::net::TcpStream);

impl hyper::rt::Read for TokioIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        use tokio::io::AsyncRead;
        // SAFETY: tokio's ReadBuf only writes initialized bytes into the unfilled part and
        // reports how many; we advance hyper's cursor by exactly that many (as hyper-util).
        let n = unsafe {
            let mut tbuf = tokio::io::ReadBuf::uninit(buf.as_mut());
            match Pin::new(&mut self.0).poll_read(cx, &mut tbuf) {
                Poll::Ready(Ok(())) => tbuf.filled().len(),
                other => return other,
            }
        };
        // SAFETY: the `n` bytes were written by the read above.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for TokioIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, b)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.0), cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}

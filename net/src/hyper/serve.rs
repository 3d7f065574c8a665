//! [`Server`]: hyper's HTTP/1.1 (and, with feature `hyper-http2`, HTTP/2) server on every
//! core, each with its own `SO_REUSEPORT` listener, a connection limit, and graceful shutdown.

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ::hyper::body::{Body, Incoming};
use ::hyper::server::conn::http1;
use ::hyper::service::HttpService;
use futures_core::Stream;
use slab::Slab;

#[cfg(feature = "hyper-http2")]
mod protocols;

#[cfg(feature = "hyper-http2")]
use self::protocols::sniff_and_serve;
#[cfg(feature = "hyper-http2")]
pub use self::protocols::{FIRST_BYTES_TIMEOUT, Protocols};
use super::io::{HyperIo, core_pool};
use super::rt::RuntimeTimer;
use crate::waker_slot::set_waker;
use crate::{TcpListener, TcpStream};

/// Default for [`Server::max_connections`]: connections open at once, per core.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16 * 1024;

/// hyper's HTTP/1.1 server on this runtime: one task per connection on the core that
/// accepted it, reading from the multishot receive ([`HyperIo`]). With feature
/// `hyper-http2` it speaks HTTP/2 as well ([`Server::protocols`]: by default each
/// connection's first bytes decide). Cargo features are additive: one crate of a build that
/// turns on `hyper-http2` makes that the default of every `Server` in it;
/// `protocols(Protocols::Http1)` keeps a server to HTTP/1.1.
///
/// - [`Server::serve`] runs on one core with one listener;
///   [`Server::serve_per_core`] runs it on every core of a runtime, each core with its own
///   `SO_REUSEPORT` listener ([`bind_reuseport`]), so the kernel spreads connections and a
///   connection stays on its core.
/// - At most [`Server::max_connections`] connections per core: at the limit the core stops
///   accepting (new connections wait in the kernel's backlog) until one ends.
/// - Graceful shutdown: when the `shutdown` future completes the core stops accepting
///   (closes its listener), tells every connection to finish (hyper's `graceful_shutdown`:
///   an idle keep-alive connection closes at once, a busy one after its response; an HTTP/2
///   connection sends `GOAWAY`, finishes the streams it has and waits for the client to
///   answer its `PING`) and waits for them; after [`Server::grace_period`], if set, the rest
///   are dropped. A client that stops reading holds a drain up for as long as it likes
///   unless a grace period is set.
///
/// # Examples
/// One core, shut down after one request from hyper's client:
/// ```
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::body::Bytes;
/// use net::hyper::{HyperIo, Server};
///
/// runtime::Runtime::new()?.block_on(async {
///     let listener = net::TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let (stop, stopped) = runtime::sync::oneshot::channel::<()>();
///     let service = hyper::service::service_fn(|_req| async {
///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
///     });
///     let server = runtime::spawn(async move {
///         Server::new().serve(listener, service, async { let _ = stopped.await; }).await
///     });
///
///     let stream = net::TcpStream::connect(addr).await?;
///     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
///         .await
///         .map_err(std::io::Error::other)?;
///     runtime::spawn(conn);
///     let req = hyper::Request::get("/").body(Empty::<Bytes>::new()).map_err(std::io::Error::other)?;
///     let res = sender.send_request(req).await.map_err(std::io::Error::other)?;
///     assert_eq!(res.into_body().collect().await.map_err(std::io::Error::other)?.to_bytes(), "hello");
///
///     let _ = stop.send(());
///     let served = server.await.expect("server task")?;
///     assert_eq!(served.connections, 1);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    http1: http1::Builder,
    #[cfg(feature = "hyper-http2")]
    http2: ::hyper::server::conn::http2::Builder<super::rt::RuntimeExecutor>,
    #[cfg(feature = "hyper-http2")]
    protocols: Protocols,
    #[cfg(feature = "hyper-http2")]
    first_bytes_timeout: Duration,
    max_connections: usize,
    grace_period: Option<Duration>,
    nodelay: bool,
}

/// What one core's [`Server::serve`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// Connections accepted and served.
    pub connections: u64,
    /// Connections that ended with an error (a peer that left mid-request, a timeout, …).
    /// A connection closed by graceful shutdown before it sent its first bytes counts in
    /// neither this nor `aborted`, only in `connections`.
    pub errors: u64,
    /// Connections dropped when the grace period ran out.
    pub aborted: u64,
    /// Accepts that failed (EMFILE, …); the server went on.
    pub accept_errors: u64,
}

impl Default for Server {
    fn default() -> Server {
        Server::new()
    }
}

impl Server {
    /// A server with hyper's defaults (keep-alive, `header_read_timeout` of 30 s) on the
    /// runtime's timers ([`RuntimeTimer`]), [`DEFAULT_MAX_CONNECTIONS`] per core, no grace
    /// period (graceful shutdown waits as long as connections take), `TCP_NODELAY` on; with
    /// feature `hyper-http2`, HTTP/2 too ([`Protocols::Auto`]), its streams spawned on the
    /// connection's core ([`RuntimeExecutor`](super::RuntimeExecutor)).
    pub fn new() -> Server {
        let mut http1 = http1::Builder::new();
        http1.timer(RuntimeTimer);
        #[cfg(feature = "hyper-http2")]
        let http2 = {
            let mut http2 = ::hyper::server::conn::http2::Builder::new(super::rt::RuntimeExecutor);
            http2.timer(RuntimeTimer);
            http2
        };
        Server {
            http1,
            #[cfg(feature = "hyper-http2")]
            http2,
            #[cfg(feature = "hyper-http2")]
            protocols: Protocols::Auto,
            #[cfg(feature = "hyper-http2")]
            first_bytes_timeout: FIRST_BYTES_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            grace_period: None,
            nodelay: true,
        }
    }

    /// hyper's connection settings (timeouts, keep-alive, pipelining, header limits).
    pub fn http1(&mut self) -> &mut http1::Builder {
        &mut self.http1
    }

    /// hyper's HTTP/2 connection settings (windows, concurrent streams, keep-alive pings).
    #[cfg(feature = "hyper-http2")]
    pub fn http2(
        &mut self,
    ) -> &mut ::hyper::server::conn::http2::Builder<super::rt::RuntimeExecutor> {
        &mut self.http2
    }

    /// Which HTTP versions connections may speak (default [`Protocols::Auto`]).
    ///
    /// ```
    /// use net::hyper::{Protocols, Server};
    ///
    /// // gRPC behind a proxy: HTTP/2 only, more streams per connection than hyper's default.
    /// let mut server = Server::new();
    /// server.protocols(Protocols::Http2).http2().max_concurrent_streams(1024);
    /// ```
    #[cfg(feature = "hyper-http2")]
    pub fn protocols(&mut self, protocols: Protocols) -> &mut Server {
        self.protocols = protocols;
        self
    }

    /// How long a connection may take to send the bytes that tell its version (under
    /// [`Protocols::Auto`]) or HTTP/2's preface (under [`Protocols::Http2`]) before it is
    /// closed; default [`FIRST_BYTES_TIMEOUT`]. hyper's own timeouts start after it.
    #[cfg(feature = "hyper-http2")]
    pub fn first_bytes_timeout(&mut self, timeout: Duration) -> &mut Server {
        self.first_bytes_timeout = timeout;
        self
    }

    /// At most `n` connections open at once per core (at least 1).
    pub fn max_connections(&mut self, n: usize) -> &mut Server {
        self.max_connections = n.max(1);
        self
    }

    /// How long graceful shutdown waits for connections before dropping them; `None`
    /// (the default) waits until they end.
    pub fn grace_period(&mut self, grace: Option<Duration>) -> &mut Server {
        self.grace_period = grace;
        self
    }

    /// `TCP_NODELAY` on accepted connections (default on: hyper writes whole responses).
    pub fn nodelay(&mut self, on: bool) -> &mut Server {
        self.nodelay = on;
        self
    }

    /// Serves `listener` on this core until `shutdown` completes, then shuts down
    /// gracefully (see [`Server`]). Each connection gets a clone of `service`.
    ///
    /// # Errors
    /// None so far (accept errors are counted in [`Served::accept_errors`] and the loop goes
    /// on); the `Result` leaves room for setup errors.
    pub async fn serve<S, B, F>(
        &self,
        listener: TcpListener,
        service: S,
        shutdown: F,
    ) -> io::Result<Served>
    where
        S: HttpService<Incoming, ResBody = B> + Clone + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
        F: Future<Output = ()>,
    {
        let state = Rc::new(State::default());
        let pool = core_pool();
        // The multishot accept, armed only below the connection limit: at the limit it is
        // dropped, so new connections wait in the kernel's backlog (any it accepted in the
        // meantime are kept for the next `incoming()`, which hands them out first).
        let mut incoming = None;
        let mut shutdown = pin!(shutdown);
        loop {
            let next = std::future::poll_fn(|cx| {
                if shutdown.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                if state.poll_below(cx, self.max_connections).is_pending() {
                    incoming = None;
                    return Poll::Pending;
                }
                let incoming = incoming.get_or_insert_with(|| listener.incoming());
                Stream::poll_next(std::pin::Pin::new(incoming), cx).map(Some)
            })
            .await;
            let stream = match next {
                // Shut down, or the listener ended.
                None | Some(None) => break,
                Some(Some(Ok(stream))) => stream,
                Some(Some(Err(e))) => {
                    state.served.borrow_mut().accept_errors += 1;
                    tracing::warn!(error = %e, "accept failed; accepting on");
                    continue;
                }
            };
            self.spawn_connection(&state, stream, pool.as_ref(), service.clone());
        }
        // Stop accepting: connections the kernel queued for this listener are refused.
        drop(incoming);
        drop(listener);
        state.set(&state.draining);
        let idle = std::future::poll_fn(|cx| state.poll_below(cx, 1));
        match self.grace_period {
            None => idle.await,
            Some(grace) => {
                if runtime::time::timeout(grace, idle).await.is_err() {
                    state.set(&state.aborted);
                    std::future::poll_fn(|cx| state.poll_below(cx, 1)).await;
                }
            }
        }
        let served = *state.served.borrow();
        Ok(served)
    }

    fn spawn_connection<S, B>(
        &self,
        state: &Rc<State>,
        stream: TcpStream,
        pool: Option<&runtime::buf::BufPool>,
        service: S,
    ) where
        S: HttpService<Incoming, ResBody = B> + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        if self.nodelay
            && let Err(e) = stream.set_nodelay(true)
        {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let io = HyperIo::with_pool(stream, pool);
        let guard = Connection::open(state);
        #[cfg(feature = "hyper-http2")]
        match self.protocols {
            Protocols::Http1 => {}
            // HTTP/2 alone waits for the preface as Auto does, closed at the drain and after
            // the first-bytes timeout: hyper's HTTP/2 handshake has neither.
            protocols @ (Protocols::Http2 | Protocols::Auto) => {
                let (http1, http2) = (self.http1.clone(), self.http2.clone());
                let first_bytes = self.first_bytes_timeout;
                drop(runtime::spawn(sniff_and_serve(
                    protocols,
                    first_bytes,
                    io,
                    http1,
                    http2,
                    service,
                    guard,
                )));
                return;
            }
        }
        let conn = self.http1.serve_connection(io, service);
        drop(runtime::spawn(drive(
            conn,
            |c| c.graceful_shutdown(),
            guard,
        )));
    }

    /// Runs [`Server::serve`] on every core of `rt` ([`runtime::Runtime::run_per_core`]),
    /// core `i` on `listeners[i]` (from [`bind_reuseport`]) with the service
    /// `make_service(i)` and the shutdown future `shutdown(i)`; returns when every core has
    /// shut down.
    ///
    /// # Errors
    /// `InvalidInput` if `rt` has more cores than `listeners`; a core's listener that could
    /// not be set up.
    pub fn serve_per_core<M, S, B, SF, F>(
        &self,
        rt: &runtime::Runtime,
        listeners: Vec<std::net::TcpListener>,
        make_service: M,
        shutdown: SF,
    ) -> io::Result<Vec<Served>>
    where
        M: Fn(usize) -> S + Send + Sync + 'static,
        S: HttpService<Incoming, ResBody = B> + Clone + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
        SF: Fn(usize) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + 'static,
    {
        let listeners = Mutex::new(listeners.into_iter().map(Some).collect::<Vec<_>>());
        let server = self.clone();
        rt.run_per_core(move |core| {
            let listener = listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(core)
                .and_then(Option::take);
            let (server, service, shutdown) = (server.clone(), make_service(core), shutdown(core));
            async move {
                let listener = listener.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("core {core} has no listener: bind one per core (bind_reuseport)"),
                    )
                })?;
                let listener = TcpListener::from_std(listener)?;
                server.serve(listener, service, shutdown).await
            }
        })
        .into_iter()
        .collect()
    }
}

/// `count` listeners on `addr` with `SO_REUSEADDR` and `SO_REUSEPORT` (one per core, for
/// [`Server::serve_per_core`]); with port 0 the first picks the port and the others bind
/// the same one (`listeners[0].local_addr()` says which).
///
/// # Errors
/// `socket(2)`, `bind(2)` (EADDRINUSE when a socket without `SO_REUSEPORT` holds the port),
/// `listen(2)`.
pub fn bind_reuseport(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut addr = addr;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM.cloexec(),
            None,
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        let listener = std::net::TcpListener::from(socket);
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Drives one of hyper's server connections (HTTP/1.1 or HTTP/2) to its end: asks it to
/// finish (`graceful`) once the server drains, drops it once the grace period ran out, and
/// counts how it ended.
async fn drive<C>(conn: C, graceful: fn(Pin<&mut C>), guard: Connection)
where
    C: Future<Output = ::hyper::Result<()>>,
{
    let state = &guard.state;
    let mut conn = pin!(conn);
    let mut asked = false;
    let end = std::future::poll_fn(|cx| {
        if state.aborted.get() {
            return Poll::Ready(None);
        }
        guard.register(cx);
        if let Poll::Ready(end) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(end));
        }
        // Polled first: a connection that starts during the drain reads what waits for it
        // (bytes the sniff took and replays) before it is asked to finish; hyper closes one
        // whose read buffer is empty at once.
        if state.draining.get() && !asked {
            graceful(conn.as_mut());
            asked = true;
            return conn.as_mut().poll(cx).map(Some);
        }
        Poll::Pending
    })
    .await;
    let mut served = state.served.borrow_mut();
    match end {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            served.errors += 1;
            tracing::debug!(error = %e, "connection");
        }
        None => served.aborted += 1,
    }
}

/// One core's server state, shared by its accept loop and its connection tasks.
#[derive(Default)]
struct State {
    /// Each open connection's task waker (for draining and aborting).
    connections: RefCell<Slab<Option<Waker>>>,
    /// The accept loop, waiting for room under the limit or for the last connection.
    accept: RefCell<Option<Waker>>,
    /// Graceful shutdown was asked: connections finish their response and close.
    draining: Cell<bool>,
    /// The grace period ran out: connections end now.
    aborted: Cell<bool>,
    served: RefCell<Served>,
}

impl State {
    /// Ready while fewer than `limit` connections are open.
    fn poll_below(&self, cx: &Context<'_>, limit: usize) -> Poll<()> {
        if self.connections.borrow().len() < limit {
            return Poll::Ready(());
        }
        set_waker(&mut self.accept.borrow_mut(), cx);
        Poll::Pending
    }

    /// Sets `flag` and wakes every connection.
    fn set(&self, flag: &Cell<bool>) {
        flag.set(true);
        let wakers: Vec<Waker> = self
            .connections
            .borrow()
            .iter()
            .filter_map(|(_, w)| w.clone())
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// An open connection's place in [`State`]; leaving it (the task ended or was dropped)
/// makes room under the limit.
struct Connection {
    state: Rc<State>,
    key: usize,
}

impl Connection {
    fn open(state: &Rc<State>) -> Connection {
        let key = state.connections.borrow_mut().insert(None);
        state.served.borrow_mut().connections += 1;
        Connection {
            state: state.clone(),
            key,
        }
    }

    fn register(&self, cx: &Context<'_>) {
        set_waker(&mut self.state.connections.borrow_mut()[self.key], cx);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.state.connections.borrow_mut().remove(self.key);
        if let Some(w) = self.state.accept.borrow_mut().take() {
            w.wake();
        }
    }
}

//! One listening socket per core on one port (`SO_REUSEPORT`): the kernel spreads incoming
//! connections among the sockets, so each core accepts its share on its own ring and the
//! connection stays there. Used by `echo_per_core` and `chat`.
//!
//! With port 0, core 0 binds first and the kernel picks the port; the other cores wait for it
//! and bind the same. [`ReuseportGroup::all_listening`] tells when every core listens (a
//! connection made before then could only land on the cores already listening).
//!
//! [`serve_per_core`] runs a server so on every core: each core's listener and accept loop,
//! `listening on ADDR` once all listen, and an optional client on core 0.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use net::{TcpListener, TcpSocket};

use crate::cli;
use crate::signal::Signal;

/// A listener with `SO_REUSEADDR` and `SO_REUSEPORT` on `addr`.
///
/// # Errors
/// `socket(2)`, `bind(2)` (EADDRINUSE when a socket without `SO_REUSEPORT` holds the port),
/// `listen(2)`.
pub fn listen_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The cores of one `run_per_core` binding one port together: share it (`Arc`) among them.
#[derive(Debug)]
pub struct ReuseportGroup {
    requested: SocketAddr,
    /// The address core 0 bound (port 0 resolved), or why it could not.
    bound: Mutex<Option<Result<SocketAddr, String>>>,
    first_bound: Signal,
    /// Counts each core's attempt, good or bad.
    listening: Signal,
    /// The first core's error, if any.
    failed: Mutex<Option<String>>,
}

impl ReuseportGroup {
    /// A group of `cores` cores binding `addr`.
    pub fn new(addr: SocketAddr, cores: usize) -> Arc<ReuseportGroup> {
        Arc::new(ReuseportGroup {
            requested: addr,
            bound: Mutex::new(None),
            first_bound: Signal::new(),
            listening: Signal::after(Some(cores.max(1))),
            failed: Mutex::new(None),
        })
    }

    /// This core's listener: core 0 binds the requested address, every other core the
    /// address core 0 got.
    ///
    /// # Errors
    /// This core's bind or listen error, or core 0's (then no core can bind).
    pub async fn listen(&self, core: usize) -> io::Result<TcpListener> {
        let result = self.bind(core).await;
        if let Err(e) = &result {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.get_or_insert_with(|| format!("core {core}: {e}"));
        }
        self.listening.count();
        result
    }

    async fn bind(&self, core: usize) -> io::Result<TcpListener> {
        if core == 0 {
            let result = listen_reuseport(self.requested);
            *self.bound.lock().unwrap_or_else(|e| e.into_inner()) = Some(match &result {
                Ok(l) => l.local_addr().map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            });
            self.first_bound.fire();
            return result;
        }
        self.first_bound.wait().await;
        let bound = self.bound.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bound {
            Some(Ok(addr)) => listen_reuseport(addr),
            Some(Err(e)) => Err(io::Error::other(format!("core 0 could not listen: {e}"))),
            None => unreachable!("core 0 fires first_bound after storing its address"),
        }
    }

    /// Waits until every core has tried to listen; returns the shared address.
    ///
    /// # Errors
    /// The first core's error, if a core could not listen.
    pub async fn all_listening(&self) -> io::Result<SocketAddr> {
        self.listening.wait().await;
        if let Some(e) = self
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(io::Error::other(e));
        }
        match self.bound.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(Ok(addr)) => Ok(addr),
            _ => unreachable!("every core listens, so core 0 bound"),
        }
    }
}

/// What [`serve_per_core`] returns.
#[derive(Debug)]
pub struct Served<T> {
    /// What each core accepted (connections, clients), in core order.
    pub per_core: Vec<usize>,
    /// The client's result, when one was given.
    pub client: Option<io::Result<T>>,
}

/// Runs a server on `cores` cores (at least 1) listening on `addr`, one [`ReuseportGroup`]
/// listener per core, until `stop` fires. `setup(core, group, stop)` is a core's start: it
/// listens (with [`ReuseportGroup::listen`]) and returns the core's accept loop, which then
/// runs as a task and returns how many it accepted. Prints `listening on ADDR` once every core
/// listens. If `client` is given, core 0 then runs it with that address, and fires `stop`
/// when it is done.
///
/// # Errors
/// A core's setup or accept loop error (a failed setup stops every core).
///
/// # Panics
/// As [`runtime::Runtime::run_per_core`]: if a core cannot set up its ring.
pub fn serve_per_core<T, C, CFut, S, SFut, L>(
    addr: SocketAddr,
    cores: usize,
    stop: Signal,
    client: Option<C>,
    setup: S,
) -> io::Result<Served<T>>
where
    T: Send + 'static,
    C: FnOnce(SocketAddr) -> CFut + Send + 'static,
    CFut: Future<Output = io::Result<T>>,
    S: Fn(usize, Arc<ReuseportGroup>, Signal) -> SFut + Send + Sync + 'static,
    SFut: Future<Output = io::Result<L>> + 'static,
    L: Future<Output = io::Result<usize>> + 'static,
{
    let cores = cores.max(1);
    let rt = runtime::Builder::new().cores(cores).build()?;
    let group = ReuseportGroup::new(addr, cores);
    let client = Mutex::new(client);
    let outputs = rt.run_per_core(move |core| {
        let client = match core {
            0 => client.lock().unwrap_or_else(|e| e.into_inner()).take(),
            _ => None,
        };
        let started = setup(core, Arc::clone(&group), stop.clone());
        let (group, stop) = (Arc::clone(&group), stop.clone());
        async move {
            let accept_loop = match started.await {
                Ok(l) => l,
                Err(e) => {
                    stop.fire();
                    return (Err(e), None);
                }
            };
            let server = runtime::spawn(accept_loop);
            let mut client_result = None;
            if core == 0 {
                match group.all_listening().await {
                    Ok(addr) => {
                        cli::print_listening(addr);
                        if let Some(client) = client {
                            client_result = Some(client(addr).await);
                            stop.fire();
                        }
                    }
                    // Another core failed; it reports its own error.
                    Err(_) => stop.fire(),
                }
            }
            let accepted = match server.await {
                Ok(r) => r,
                Err(e) => Err(e.into()),
            };
            (accepted, client_result)
        }
    });
    let mut served = Served {
        per_core: Vec::with_capacity(cores),
        client: None,
    };
    for (accepted, client) in outputs {
        served.per_core.push(accepted?);
        served.client = served.client.or(client);
    }
    Ok(served)
}

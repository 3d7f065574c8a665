//! The echo server on every core: one listening socket per core on the same port
//! (`SO_REUSEPORT`, see [`crate::reuseport`]), so the kernel spreads connections among the
//! cores and each connection stays on the core that accepted it, with that core's ring,
//! buffer pool and tasks. Each core runs [`echo::serve`]; nothing is shared but the stop
//! signal.
//!
//! # Examples
//! ```
//! let report = examples::echo_per_core::demo(2)?;
//! assert!(report.contains("verified"));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::SocketAddr;

use crate::cli;
use crate::echo;
use crate::reuseport;
use crate::signal::Signal;

/// The port of `echo_per_core` without `--addr`.
pub const DEFAULT_PORT: u16 = 7001;

/// What [`serve`] returns: the connections each core accepted, and the client's result.
pub type Served = reuseport::Served<u64>;

/// Runs the echo server on `cores` cores listening on `addr` until `stop` fires (it counts
/// finished connections on all cores: [`Signal::after`]`(Some(n))` stops after `n`), as
/// [`reuseport::serve_per_core`]: prints `listening on ADDR` once every core listens, then
/// runs `client`, if given, on core 0 with that address and fires `stop` when it is done.
///
/// # Errors
/// A core's bind or listen error (every core then stops).
///
/// # Panics
/// As [`runtime::Runtime::run_per_core`]: if a core cannot set up its ring.
pub fn serve<C, Fut>(
    addr: SocketAddr,
    cores: usize,
    stop: Signal,
    client: Option<C>,
) -> io::Result<Served>
where
    C: FnOnce(SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<u64>>,
{
    reuseport::serve_per_core(addr, cores, stop, client, |core, group, stop| async move {
        let listener = group.listen(core).await?;
        Ok(echo::serve(listener, stop))
    })
}

/// [`serve`] without a client: serves until `stop` fires; returns the connections each
/// core accepted.
///
/// # Errors
/// As [`serve`].
pub fn run(addr: SocketAddr, cores: usize, stop: Signal) -> io::Result<Vec<usize>> {
    type NoClient = fn(SocketAddr) -> std::future::Ready<io::Result<u64>>;
    Ok(serve(addr, cores, stop, None::<NoClient>)?.per_core)
}

/// The self-test of `echo_per_core --demo`: serves on `cores` cores (at least 2) on a free
/// loopback port, runs 24 concurrent clients from core 0, checks every byte, and returns a
/// report with the connections each core accepted.
///
/// # Errors
/// A bind, listen or client error; `InvalidData` when an echo differs.
pub fn demo(cores: usize) -> io::Result<String> {
    const CLIENTS: usize = 24;
    let cores = cores.max(2);
    let client = |addr| echo::run_clients(addr, CLIENTS);
    let served = serve(
        cli::loopback_any_port(),
        cores,
        Signal::after(Some(CLIENTS)),
        Some(client),
    )?;
    let bytes = served.client.expect("core 0 ran the client")?;
    let total: usize = served.per_core.iter().sum();
    Ok(format!(
        "echo_per_core: {total} connections over {cores} cores (accepted per core: {:?}), \
         {bytes} bytes echoed and verified",
        served.per_core
    ))
}

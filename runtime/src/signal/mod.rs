//! Unix signals as async events: [`ctrl_c`] and [`signal`], read from a `signalfd` by an
//! io_uring read on the core's ring (no handler, no self-pipe).
//!
//! # How signals reach a thread-per-core process
//! A signalfd sees only signals that are *blocked* (masked): an unblocked signal runs its
//! disposition instead (SIGINT's default: the process dies). A signal sent to the process
//! (`kill`, Ctrl-C at a terminal) goes to one thread that does not block it, so every
//! thread must block it, not just the core that listens. The choice made here:
//! - [`signal`] and [`ctrl_c`] block their signal in the calling thread, and threads inherit
//!   their creator's mask. So under `#[runtime::main]` or `Runtime::block_on` on the main
//!   thread, with the signal set up first, every thread started later blocks it too (cores
//!   of `run_per_core`, the blocking pool).
//! - Where threads already run (`run_per_core` started before, threads of other
//!   libraries), call [`block`] on the main thread before starting any of them: a thread
//!   that was started earlier and does not block the signal would receive it, and the
//!   signalfd would not.
//! - Each delivery is read by one listener: with several cores each listening, one of them
//!   gets it. To stop every core, listen on one and fan out ([`broadcast`](crate::sync::broadcast)
//!   or a flag), as the guide's graceful-shutdown section shows.
//! - Signals of one kind that arrive while one is pending merge into one (POSIX), so a
//!   stream yields at least one event per burst, not one per `kill`.
//! - Child processes inherit the blocked mask across `exec`; reset it there
//!   (`CommandExt::pre_exec` with `pthread_sigmask`) if the child needs the signal.
//!
//! # Nothing lost on cancel
//! A dropped [`Signal::recv`] whose read had taken a delivery keeps it: the next `recv` of
//! the same `Signal` returns at once.

mod read;

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use crate::op::Op;
use read::ReadSiginfo;

/// Blocks `signum` in the calling thread, so that threads it starts afterwards block it
/// too and a process-directed `signum` waits for a signalfd (see the [module docs](self)).
///
/// # Errors
/// `InvalidInput` for a number that is not a signal (or SIGKILL/SIGSTOP, which cannot be
/// blocked).
pub fn block(signum: i32) -> io::Result<()> {
    let set = sigset(signum)?;
    // SAFETY: `set` is an initialized sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// The set holding `signum` alone.
fn sigset(signum: i32) -> io::Result<libc::sigset_t> {
    if signum == libc::SIGKILL || signum == libc::SIGSTOP {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} (SIGKILL or SIGSTOP) cannot be caught"),
        ));
    }
    // SAFETY: sigemptyset initializes the zeroed set; sigaddset only writes into it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::sigaddset(&mut set, signum) != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{signum} is not a signal number"),
            ));
        }
        Ok(set)
    }
}

/// The deliveries of one signal (see [`signal`]).
#[derive(Debug)]
pub struct Signal {
    fd: Rc<OwnedFd>,
    /// Deliveries read by dropped `recv`s, handed out first.
    kept: Rc<Cell<u64>>,
}

/// Listens for `signum` (`libc::SIGTERM`, `libc::SIGHUP`, …): blocks it in this thread (see
/// the [module docs](self) for the other threads) and opens a signalfd for it.
///
/// # Errors
/// `InvalidInput` for a number that is not a signal (or SIGKILL/SIGSTOP); signalfd's errno
/// (EMFILE, …).
///
/// # Examples
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let mut hangups = runtime::signal::signal(libc::SIGHUP)?;
/// while hangups.recv().await.is_some() {
///     // reload the configuration
/// }
/// # Ok(()) }
/// ```
pub fn signal(signum: i32) -> io::Result<Signal> {
    let set = sigset(signum)?;
    block(signum)?;
    // Blocking reads: io_uring waits for readiness itself (poll), never a worker thread.
    // SAFETY: `set` is an initialized sigset_t; -1 asks for a new fd.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(Signal {
        fd: Rc::new(fd),
        kept: Rc::new(Cell::new(0)),
    })
}

impl Signal {
    /// Waits for the next delivery. `Some(())` each time (deliveries that arrived together
    /// may merge into one); never `None` unless the signalfd fails, which is reported by
    /// [`Signal::recv_result`].
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `recv` that had read a delivery keeps it for the next.
    pub async fn recv(&mut self) -> Option<()> {
        self.recv_result().await.ok()
    }

    /// As [`Signal::recv`], with the read's error.
    ///
    /// # Errors
    /// The read's errno (it has none in normal operation); "no runtime" outside one.
    pub async fn recv_result(&mut self) -> io::Result<()> {
        loop {
            let kept = self.kept.get();
            if kept > 0 {
                self.kept.set(kept - 1);
                return Ok(());
            }
            let read = ReadSiginfo::new(self.fd.clone(), self.kept.clone());
            match Op::new(read).await {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The signalfd.
    pub fn as_raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Completes at the next SIGINT (Ctrl-C at a terminal), which stops killing the process once
/// this was called: blocks SIGINT in this thread (see the [module docs](self)).
///
/// # Errors
/// As [`signal`] and [`Signal::recv_result`].
///
/// # Examples
/// ```no_run
/// #[runtime::main]
/// async fn main() -> std::io::Result<()> {
///     let stop = runtime::signal::ctrl_c();
///     // … serve until stopped …
///     stop.await?;
///     println!("stopping");
///     Ok(())
/// }
/// ```
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> {
    // Blocked now, not at the first poll: a Ctrl-C from here on is kept for the future.
    let sig = signal(libc::SIGINT);
    async move { sig?.recv_result().await }
}

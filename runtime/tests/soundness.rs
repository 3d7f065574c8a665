//! Soundness holes of the op API reachable from safe code: a multishot operation handed out
//! (`&mut`) while the kernel may write into it, a cancel that finds nothing retried for
//! ever (and a shutdown that then never ends), and (last section) SQE flags restricted to
//! those that cannot break the driver's bookkeeping.
//!
//! Findings are printed to fd 2 as soon as found ([`support::say`]), so a later hang
//! (caught by the watchdog, which aborts the process) still shows them. Run one test at a
//! time (`-- --exact NAME --nocapture`) to see each one's own outcome.

mod support;

use std::cell::Cell;
use std::io;
use std::mem::size_of;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use runtime::op::{Completion, Multishot, MultishotOperation, Op, Operation};
use runtime::{Runtime, metrics, yield_now};
use support::{listener, loud_watchdog, poll_once, say};
use uring_sys::abi::IOSQE_CQE_SKIP_SUCCESS;
use uring_sys::{Sqe, prep};

/// Each test's watchdog limit (every test ends in well under a second when nothing hangs).
const LIMIT: Duration = Duration::from_secs(20);

/// Runs the tests of this file one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// 3. `Multishot::operation_mut` while the multishot is armed.
// ---------------------------------------------------------------------------------------

/// Multishot `IORING_OP_ACCEPT` that asks for each peer's address: the kernel writes a
/// sockaddr into `addr` (and its length into `len`) for every connection while armed.
struct AcceptMulti {
    listener: Rc<TcpListener>,
    addr: Box<libc::sockaddr_storage>,
    len: Box<libc::socklen_t>,
    late_closed: Rc<Cell<usize>>,
}

impl AcceptMulti {
    fn new(listener: Rc<TcpListener>, late_closed: Rc<Cell<usize>>) -> AcceptMulti {
        AcceptMulti {
            listener,
            // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
            addr: Box::new(unsafe { std::mem::zeroed() }),
            len: Box::new(0),
            late_closed,
        }
    }
}

// SAFETY: the SQE's addresses are `self.addr` and `self.len`, Boxes whose heap blocks do
// not move with `self` and live until `self` drops; its fd is the listener's, kept open by
// the Rc the op holds.
unsafe impl MultishotOperation for AcceptMulti {
    type Item = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Sqe {
        *self.len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let mut sqe = prep::prep_accept_multishot(self.listener.as_raw_fd(), libc::SOCK_CLOEXEC);
        sqe.set_addr(&raw mut *self.addr as u64);
        sqe.set_addr2(&raw mut *self.len as u64);
        sqe
    }

    fn next(&mut self, result: io::Result<u32>, _cqe: Completion) -> Self::Item {
        // SAFETY: a successful accept's result is a new fd that nobody else owns.
        result.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // SAFETY: the kernel made this fd for this op, whose owner is gone.
            unsafe { libc::close(cqe.res()) };
            self.late_closed.set(self.late_closed.get() + 1);
        }
    }
}

/// While a multishot is armed the kernel may write into its operation's memory at any
/// time: `operation_mut` must not hand out `&mut` to it then (it returns `None`).
#[test]
fn operation_mut_is_none_while_armed() {
    let _s = serial();
    let _w = loud_watchdog("operation_mut_is_none_while_armed", LIMIT);
    let l = listener();
    let late_closed = Rc::new(Cell::new(0));
    let rt = Runtime::new().unwrap();
    let exposed = rt.block_on(async {
        let mut ms = Multishot::new(AcceptMulti::new(l.clone(), late_closed.clone()));
        let first = std::future::poll_fn(|cx| Poll::Ready(ms.poll_next_item(cx))).await;
        assert!(first.is_pending(), "nobody connected yet");
        for _ in 0..3 {
            yield_now().await;
        }
        assert!(!ms.is_ended(), "the multishot accept is armed");
        let exposed = ms.operation_mut().is_some();
        drop(ms);
        for _ in 0..50 {
            if metrics().unwrap().ops_in_flight == 0 {
                break;
            }
            runtime::time::sleep(Duration::from_millis(2)).await;
        }
        exposed
    });
    drop(rt);
    if exposed {
        say(
            "[operation_mut_is_none_while_armed] PROBLEM: operation_mut() returned Some while \
             the multishot accept was armed",
        );
    }
    assert!(
        !exposed,
        "Multishot::operation_mut returned the operation while its multishot was armed: safe \
         code gets &mut to memory the kernel writes (the sockaddr of each accepted peer)"
    );
}

// ---------------------------------------------------------------------------------------
// 10. A cancel that finds nothing.
// ---------------------------------------------------------------------------------------

/// A NOP whose SQE asks the kernel to skip its CQE on success (`IOSQE_CQE_SKIP_SUCCESS`, set
/// by the op itself): it completes without any CQE, so the driver's slot never sees one.
struct SilentNop;

// SAFETY: a NOP's SQE carries no address and no fd.
unsafe impl Operation for SilentNop {
    type Output = io::Result<u32>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_nop().flags(IOSQE_CQE_SKIP_SUCCESS)
    }

    fn complete(self, result: io::Result<u32>, _cqe: Completion) -> Self::Output {
        result
    }
}

/// An op dropped after it completed without a CQE: its cancel finds nothing (ENOENT).
/// Before the fix the driver retried the cancel at every loop turn for ever (one SQE per turn), and
/// dropping the runtime never returns (its drain waits for a CQE that never comes).
#[test]
fn cancel_that_finds_nothing_is_bounded() {
    let _s = serial();
    let _w = loud_watchdog("cancel_that_finds_nothing_is_bounded", LIMIT);
    let rt = Runtime::new().unwrap();
    let (growth, turns) = rt.block_on(async {
        let mut op = Op::new(SilentNop);
        if poll_once(&mut op).await.is_some() {
            // Refused up front (e.g. a runtime that rejects CQE_SKIP_SUCCESS from ops): the
            // kernel never saw it, nothing to cancel.
            return (0, 0);
        }
        for _ in 0..3 {
            yield_now().await;
        }
        drop(op);
        let before = metrics().unwrap();
        for _ in 0..200 {
            yield_now().await;
        }
        let after = metrics().unwrap();
        (
            after.sqes_submitted - before.sqes_submitted,
            after.loop_turns - before.loop_turns,
        )
    });
    if growth >= 50 {
        say(&format!(
            "[cancel_that_finds_nothing_is_bounded] PROBLEM: {growth} SQEs submitted in \
             {turns} loop turns after dropping an op that completed without a CQE (the \
             cancel is retried at every turn); now dropping the runtime (a hang here is the \
             second problem)"
        ));
    }
    drop(rt);
    say("[cancel_that_finds_nothing_is_bounded] the runtime dropped");
    assert!(
        growth < 50,
        "{growth} SQEs submitted in {turns} loop turns after dropping an op whose cancel \
         finds nothing: the cancel is retried without bound"
    );
}

// ---------------------------------------------------------------------------------------
// 5. `Op::sqe_flags` takes `runtime::op::SqeFlags` (only flags that cannot break the
//    driver's bookkeeping: ASYNC, combined with `|`), no longer any `IOSQE_*` byte
//    (FIXED_FILE, BUFFER_SELECT, CQE_SKIP_SUCCESS, IO_LINK would change what the SQE's fd
//    means, which memory the kernel uses, or whether a CQE comes at all).
//
//    (`runtime::op::SqeFlags` did not exist before the fix.)
// ---------------------------------------------------------------------------------------

use runtime::op::SqeFlags;
use support::{Read, pipe, write_all};

/// A read of a pipe with `SqeFlags::ASYNC` (straight to io-wq), then one with flags
/// combined by `|`: both read what was written. (`IO_DRAIN` is not offered: the core's
/// wake-up read never completes, so a drained op would never start.)
#[test]
fn sqe_flags_async_read_of_a_pipe() {
    let _s = serial();
    let _w = loud_watchdog("sqe_flags_async_read_of_a_pipe", LIMIT);
    let (rfd, wfd) = pipe();
    write_all(&wfd, b"hello");
    Runtime::new().unwrap().block_on(async {
        let (res, buf) = Op::new(Read::new(rfd.clone(), Vec::with_capacity(16)))
            .sqe_flags(SqeFlags::ASYNC)
            .await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"hello");
        write_all(&wfd, b"world");
        let (res, buf) = Op::new(Read::new(rfd, Vec::with_capacity(16)))
            .sqe_flags(SqeFlags::ASYNC | SqeFlags::NONE)
            .await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"world");
    });
}

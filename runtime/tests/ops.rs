//! Ops through the public op API: completion, `Op::timeout`, `Op::cancel`, the cancel
//! contract of a dropped op (buffers live until the CQE, late fds are closed), a
//! cancellation stress, shutdown with ops in flight, a full SQ, a tiny CQ, SQE flags,
//! how many `io_uring_enter` calls ops cost, and a stale `SharedOp` handle whose slot a
//! later op reuses.
//!
//! The tests of this file run one at a time ([`serial`]): some count the process's open
//! fds, which other tests would disturb.

mod support;

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use runtime::op::Op;
use runtime::time::sleep;
use runtime::{Builder, Runtime, metrics, spawn, yield_now};
use support::{
    Accept, Lcg, Nop, Read, Timeout, WitnessBuf, listener, open_fds, pipe, poll_once, watchdog,
    write_all,
};

/// Runs the tests of this file one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs loop turns (sleeping `step` each) until no op is in flight, at most `limit` long.
async fn settle(step: Duration, limit: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let in_flight = metrics().unwrap().ops_in_flight;
        if in_flight == 0 || start.elapsed() > limit {
            return in_flight;
        }
        sleep(step).await;
    }
}

#[test]
fn nop_completes_through_op() {
    let _s = serial();
    let _w = watchdog("nop_completes_through_op", Duration::from_secs(10));
    Runtime::new().unwrap().block_on(async {
        let before = metrics().unwrap();
        assert_eq!(Op::new(Nop).await.unwrap(), 0);
        let after = metrics().unwrap();
        assert_eq!(after.ops_submitted - before.ops_submitted, 1);
        assert_eq!(after.ops_completed - before.ops_completed, 1);
        assert_eq!(after.ops_in_flight, 0);
    });
}

/// Counts its wakes.
struct WakeCount(std::sync::atomic::AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_quiet_poll_is_woken_only_by_a_result_other_than_the_expected_one() {
    let _s = serial();
    let _w = watchdog("quiet_poll", Duration::from_secs(10));
    Runtime::new().unwrap().block_on(async {
        let count = std::sync::Arc::new(WakeCount(Default::default()));
        let waker = std::task::Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let wakes = || count.0.load(std::sync::atomic::Ordering::SeqCst);

        // The expected result: the CQE wakes nobody, the next poll has it.
        let mut nop = Op::new(Nop);
        assert!(nop.poll_quietly(&mut cx, 0).is_pending());
        sleep(Duration::from_millis(20)).await;
        assert_eq!(wakes(), 0, "the expected result woke the task");
        assert!(matches!(nop.poll_quietly(&mut cx, 0), Poll::Ready(Ok(0))));

        // A short read (3 bytes where 5 were expected) wakes as ever.
        let (rx, tx) = pipe();
        let mut read = Op::new(Read::new(rx, Vec::with_capacity(8)));
        assert!(read.poll_quietly(&mut cx, 5).is_pending());
        write_all(&tx, b"abc");
        sleep(Duration::from_millis(20)).await;
        assert_eq!(
            wakes(),
            1,
            "a result other than the expected one did not wake"
        );
        match read.poll_quietly(&mut cx, 5) {
            Poll::Ready((res, buf)) => {
                assert_eq!(res.unwrap(), 3);
                assert_eq!(buf, b"abc");
            }
            Poll::Pending => panic!("woken but not ready"),
        }

        // A plain poll after a quiet one waits loudly again.
        let mut nop = Op::new(Nop);
        assert!(nop.poll_quietly(&mut cx, 0).is_pending());
        assert!(Pin::new(&mut nop).poll(&mut cx).is_pending());
        sleep(Duration::from_millis(20)).await;
        assert_eq!(wakes(), 2, "a plain poll after a quiet one was not woken");
        assert!(matches!(
            Pin::new(&mut nop).poll(&mut cx),
            Poll::Ready(Ok(0))
        ));
        assert_eq!(metrics().unwrap().ops_in_flight, 0);
    });
}

#[test]
fn read_returns_the_written_bytes_with_its_buffer() {
    let _s = serial();
    let _w = watchdog(
        "read_returns_the_written_bytes_with_its_buffer",
        Duration::from_secs(10),
    );
    let (rfd, wfd) = pipe();
    Runtime::new().unwrap().block_on(async {
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            write_all(&wfd, b"hello");
        });
        let (res, buf) = Op::new(Read::new(rfd, Vec::with_capacity(16))).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"hello");
        writer.join().unwrap();
    });
}

#[test]
fn op_timeout_cancels_a_read_that_gets_no_data_and_returns_the_buffer() {
    let _s = serial();
    let _w = watchdog(
        "op_timeout_cancels_a_read_that_gets_no_data_and_returns_the_buffer",
        Duration::from_secs(10),
    );
    let (rfd, _wfd) = pipe();
    Runtime::new().unwrap().block_on(async {
        let start = Instant::now();
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(&[7u8; 3]);
        let (res, buf) = Op::new(Read::new(rfd, buf))
            .timeout(Duration::from_millis(20))
            .await;
        let err = res.unwrap_err();
        // The linked timeout cancels the read: ECANCELED (ETIME is the timeout's own CQE).
        assert!(
            matches!(err.raw_os_error(), Some(libc::ECANCELED | libc::ETIME)),
            "{err}"
        );
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "cancelled before its timeout"
        );
        assert_eq!(buf, vec![7u8; 3], "the buffer comes back untouched");
        assert_eq!(
            settle(Duration::from_millis(5), Duration::from_secs(1)).await,
            0
        );
    });
}

#[test]
fn op_cancel_on_a_pending_read_returns_ecanceled_with_the_buffer() {
    let _s = serial();
    let _w = watchdog(
        "op_cancel_on_a_pending_read_returns_ecanceled_with_the_buffer",
        Duration::from_secs(10),
    );
    let (rfd, _wfd) = pipe();
    Runtime::new().unwrap().block_on(async {
        let witness = Rc::new(());
        let mut op = Op::new(Read::new(rfd.clone(), WitnessBuf::new(32, &witness)));
        assert!(poll_once(&mut op).await.is_none());
        yield_now().await;
        assert!(
            poll_once(&mut op).await.is_none(),
            "a read of an empty pipe completed"
        );
        op.cancel();
        let (res, buf) = op.await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        assert_eq!(buf.bytes(), b"");
        assert_eq!(Rc::strong_count(&witness), 2, "the buffer came back to us");
        drop(buf);
        assert_eq!(Rc::strong_count(&witness), 1);

        // Cancelled before its first poll: ECANCELED without reaching the kernel.
        let before = metrics().unwrap().ops_submitted;
        let mut op = Op::new(Read::new(rfd, Vec::with_capacity(4)));
        op.cancel();
        let (res, _buf) = op.await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        assert_eq!(metrics().unwrap().ops_submitted, before);
        assert_eq!(metrics().unwrap().ops_in_flight, 0);
    });
}

#[test]
fn dropped_read_keeps_buffer_until_cqe() {
    let _s = serial();
    let _w = watchdog(
        "dropped_read_keeps_buffer_until_cqe",
        Duration::from_secs(10),
    );
    let (rfd, _wfd) = pipe();
    Runtime::new().unwrap().block_on(async {
        let witness = Rc::new(());
        let mut op = Op::new(Read::new(rfd, WitnessBuf::new(4096, &witness)));
        assert!(poll_once(&mut op).await.is_none());
        // One turn: the kernel has the read (armed on the empty pipe).
        yield_now().await;
        drop(op);
        assert_eq!(
            Rc::strong_count(&witness),
            2,
            "the buffer was freed while the kernel may write to it"
        );
        let m = metrics().unwrap();
        assert!(m.ops_in_flight >= 1, "{m:?}");
        assert!(m.ops_cancelled >= 1, "{m:?}");
        // The cancel goes out with the next enter; its CQE frees the slot and the buffer.
        assert_eq!(
            settle(Duration::from_millis(1), Duration::from_secs(1)).await,
            0
        );
        assert_eq!(
            Rc::strong_count(&witness),
            1,
            "the buffer outlived the final CQE"
        );
    });
}

#[test]
fn dropped_accept_closes_the_fd_it_accepted() {
    let _s = serial();
    let _w = watchdog(
        "dropped_accept_closes_the_fd_it_accepted",
        Duration::from_secs(10),
    );
    Runtime::new().unwrap().block_on(async {
        let l = listener();
        let addr = l.local_addr().unwrap();
        let late = Rc::new(Cell::new(0));
        let fds = open_fds();
        // The accept completes, but its future is dropped before taking the fd.
        let mut op = Op::new(Accept::new(l.clone(), late.clone()));
        assert!(poll_once(&mut op).await.is_none());
        let client = std::net::TcpStream::connect(addr).unwrap();
        for _ in 0..50 {
            sleep(Duration::from_millis(1)).await;
            if metrics().unwrap().cqes_reaped > 0 {
                break;
            }
        }
        drop(op);
        // Or dropped while still waiting: cancelled, nothing to close.
        let mut op = Op::new(Accept::new(l.clone(), late.clone()));
        assert!(poll_once(&mut op).await.is_none());
        drop(op);
        assert_eq!(
            settle(Duration::from_millis(1), Duration::from_secs(1)).await,
            0
        );
        assert_eq!(late.get(), 1, "the accepted fd was not closed for nobody");
        drop(client);
        assert_eq!(open_fds(), fds, "an accepted fd leaked");
        // An accept that is awaited hands its fd over.
        let client = std::net::TcpStream::connect(addr).unwrap();
        let fd: OwnedFd = Op::new(Accept::new(l.clone(), late.clone())).await.unwrap();
        assert_eq!(open_fds(), fds + 2);
        drop((fd, client));
        assert_eq!(late.get(), 1);
    });
}

/// One op of any of the stress test's kinds.
enum AnyOp {
    Nop(Op<Nop>),
    Timeout(Op<Timeout>),
    Read(Op<Read<Vec<u8>>>),
    Accept(Op<Accept>),
}

/// What an op of the stress test ended with: `Ok(())` or the errno; an accepted fd is
/// dropped (closed) on the spot.
type Outcome = Result<(), i32>;

fn outcome<T>(r: io::Result<T>) -> Outcome {
    r.map(drop).map_err(|e| e.raw_os_error().unwrap_or(-1))
}

impl AnyOp {
    fn cancel(&mut self) {
        match self {
            AnyOp::Nop(op) => op.cancel(),
            AnyOp::Timeout(op) => op.cancel(),
            AnyOp::Read(op) => op.cancel(),
            AnyOp::Accept(op) => op.cancel(),
        }
    }

    fn kind(&self) -> usize {
        match self {
            AnyOp::Nop(_) => 0,
            AnyOp::Timeout(_) => 1,
            AnyOp::Read(_) => 2,
            AnyOp::Accept(_) => 3,
        }
    }
}

impl Future for AnyOp {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match &mut *self {
            AnyOp::Nop(op) => Pin::new(op).poll(cx).map(outcome),
            AnyOp::Timeout(op) => Pin::new(op).poll(cx).map(outcome),
            AnyOp::Read(op) => Pin::new(op).poll(cx).map(|(r, _buf)| outcome(r)),
            AnyOp::Accept(op) => Pin::new(op).poll(cx).map(outcome),
        }
    }
}

#[test]
fn cancellation_stress_leaves_no_op_in_flight_and_no_fd_open() {
    const BATCHES: usize = 100;
    const PER_BATCH: usize = 1000;
    let _s = serial();
    let _w = watchdog(
        "cancellation_stress_leaves_no_op_in_flight_and_no_fd_open",
        Duration::from_secs(60),
    );
    let started = Instant::now();
    let rt = Runtime::new().unwrap();
    let stats = rt.block_on(async {
        let (rfd, _wfd) = pipe();
        let l = listener();
        let addr = l.local_addr().unwrap();
        let late = Rc::new(Cell::new(0));
        let fds = open_fds();
        let mut rng = Lcg(0x5eed_1234);
        let mut clients = Vec::new();
        // [kind][fate]
        let mut seen = [[0usize; 5]; 4];
        for _ in 0..BATCHES {
            // A few connections, so that some accepts complete with an fd.
            for _ in 0..3 {
                clients.push(std::net::TcpStream::connect(addr).unwrap());
            }
            let mut after_turn = Vec::new();
            let mut to_cancel = Vec::new();
            let mut to_finish = Vec::new();
            for _ in 0..PER_BATCH {
                let mut op = match rng.below(4) {
                    0 => AnyOp::Nop(Op::new(Nop)),
                    1 => AnyOp::Timeout(Op::new(Timeout::new(Duration::from_secs(3600)))),
                    2 => AnyOp::Read(Op::new(Read::new(rfd.clone(), Vec::with_capacity(64)))),
                    _ => AnyOp::Accept(Op::new(Accept::new(l.clone(), late.clone()))),
                };
                let fate = rng.below(5) as usize;
                seen[op.kind()][fate] += 1;
                match fate {
                    // Dropped before its first poll: never submitted.
                    0 => drop(op),
                    // Dropped right after its SQE was pushed, before the kernel saw it.
                    1 => {
                        let _ = poll_once(&mut op).await;
                        drop(op);
                    }
                    // Dropped after a loop turn: in the kernel, or completed and not taken.
                    2 => {
                        if poll_once(&mut op).await.is_none() {
                            after_turn.push(op);
                        }
                    }
                    // Cancelled with Op::cancel and awaited.
                    3 => {
                        if poll_once(&mut op).await.is_none() {
                            to_cancel.push(op);
                        }
                    }
                    // Awaited to completion (NOPs), else cancelled; dropped after.
                    _ => {
                        if poll_once(&mut op).await.is_none() {
                            to_finish.push(op);
                        }
                    }
                }
            }
            yield_now().await;
            drop(after_turn);
            for mut op in to_cancel {
                op.cancel();
                let r = op.await;
                assert!(
                    matches!(r, Ok(()) | Err(libc::ECANCELED)),
                    "cancelled op ended with {r:?}"
                );
            }
            for mut op in to_finish {
                if !matches!(op, AnyOp::Nop(_)) {
                    op.cancel();
                }
                let _ = op.await;
            }
            // Some abandoned ops wait for their cancel's CQE; let the ring catch up now and
            // then so in-flight slots stay bounded.
            if metrics().unwrap().ops_in_flight > 2 * PER_BATCH as u64 {
                yield_now().await;
            }
        }
        let left = settle(Duration::from_millis(20), Duration::from_secs(2)).await;
        assert_eq!(
            left,
            0,
            "ops still in flight after the stress: {:?}",
            metrics().unwrap()
        );
        drop(clients);
        assert_eq!(open_fds(), fds, "fds leaked (accepted for dropped ops?)");
        assert!(
            seen.iter().all(|fates| fates.iter().all(|&n| n > 0)),
            "{seen:?}"
        );
        (metrics().unwrap(), late.get())
    });
    drop(rt);
    let (m, late) = stats;
    eprintln!(
        "stress: {} ops in {:?}; submitted {}, completed {}, cancelled {}, late fds closed {late}, enters {}, sq full {}",
        BATCHES * PER_BATCH,
        started.elapsed(),
        m.ops_submitted,
        m.ops_completed,
        m.ops_cancelled,
        m.enter_calls,
        m.sq_full_events
    );
}

#[test]
fn runtime_drop_with_ops_in_flight_frees_their_buffers() {
    let _s = serial();
    let _w = watchdog(
        "runtime_drop_with_ops_in_flight_frees_their_buffers",
        Duration::from_secs(10),
    );
    let (rfd, wfd) = pipe();
    let witness = Rc::new(());
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        // A task stuck in a read.
        let (r, buf) = (rfd.clone(), WitnessBuf::new(64, &witness));
        let stuck = spawn(async move { Op::new(Read::new(r, buf)).await });
        // A detached task holding an op.
        let (r, buf) = (rfd.clone(), WitnessBuf::new(64, &witness));
        drop(spawn(async move {
            let (res, _buf) = Op::new(Read::new(r, buf)).await;
            res
        }));
        // A task holding a submitted op that it never polls again.
        let (r, buf) = (rfd.clone(), WitnessBuf::new(64, &witness));
        drop(spawn(async move {
            let mut op = Op::new(Read::new(r, buf));
            let _ = poll_once(&mut op).await;
            std::future::pending::<()>().await;
        }));
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(Rc::strong_count(&witness), 4);
        assert_eq!(metrics().unwrap().ops_in_flight, 3);
        drop(stuck);
    });
    drop(rt);
    assert_eq!(
        Rc::strong_count(&witness),
        1,
        "a buffer outlived the runtime"
    );
    assert_eq!(Rc::strong_count(&rfd), 1, "an op still holds the pipe");
    // The read end is closed when nobody holds it: the write fails with EPIPE.
    drop(rfd);
    let mut f = std::fs::File::from(wfd);
    let e = std::io::Write::write(&mut f, b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
}

#[test]
fn runtime_drop_with_an_op_held_outside_does_not_hang() {
    let _s = serial();
    let _w = watchdog(
        "runtime_drop_with_an_op_held_outside_does_not_hang",
        Duration::from_secs(10),
    );
    let (rfd, _wfd) = pipe();
    let witness = Rc::new(());
    let rt = Runtime::new().unwrap();
    let mut op = Op::new(Read::new(rfd, WitnessBuf::new(64, &witness)));
    rt.block_on(async {
        // A read bounded by runtime::time::timeout, on an op that outlives it.
        let r = runtime::time::timeout(Duration::from_millis(5), &mut op).await;
        assert!(r.is_err());
        assert_eq!(metrics().unwrap().ops_in_flight, 1);
    });
    // The kernel must be done with the buffer when this returns, and it must return.
    drop(rt);
    assert_eq!(
        Rc::strong_count(&witness),
        2,
        "the op still owns its buffer"
    );
    drop(op);
    assert_eq!(Rc::strong_count(&witness), 1);
}

#[test]
fn runtime_dropped_inside_another_runtime_releases_its_own_ops() {
    let _s = serial();
    let _w = watchdog(
        "runtime_dropped_inside_another_runtime_releases_its_own_ops",
        Duration::from_secs(10),
    );
    let (inner_fd, _inner_w) = pipe();
    let (outer_fd, outer_w) = pipe();
    let inner_witness = Rc::new(());
    let outer_witness = Rc::new(());
    let inner = Runtime::new().unwrap();
    inner.block_on(async {
        let w = inner_witness.clone();
        drop(spawn(async move {
            Op::new(Read::new(inner_fd, WitnessBuf::new(8, &w))).await
        }));
        yield_now().await;
        assert_eq!(metrics().unwrap().ops_in_flight, 1);
    });
    let outer = Runtime::new().unwrap();
    outer.block_on(async {
        // The outer ring's first op: the same slot key as the inner one's.
        let mut own = Op::new(Read::new(outer_fd, WitnessBuf::new(8, &outer_witness)));
        assert!(poll_once(&mut own).await.is_none());
        drop(inner);
        assert_eq!(
            Rc::strong_count(&inner_witness),
            1,
            "the inner runtime's buffer outlived it"
        );
        assert_eq!(
            metrics().unwrap().ops_in_flight,
            1,
            "the outer runtime's op was touched"
        );
        write_all(&outer_w, b"ok");
        let (res, buf) = own.await;
        assert_eq!(res.unwrap(), 2);
        assert_eq!(buf.bytes(), b"ok");
    });
}

#[test]
fn full_sq_holds_no_op_back_with_eight_entries() {
    let _s = serial();
    let _w = watchdog(
        "full_sq_holds_no_op_back_with_eight_entries",
        Duration::from_secs(10),
    );
    let rt = Builder::new().entries(8).build().unwrap();
    rt.block_on(async {
        let handles: Vec<_> = (0..1000)
            .map(|_| spawn(async { Op::new(Nop).await }))
            .collect();
        for h in handles {
            assert_eq!(h.await.unwrap().unwrap(), 0);
        }
        let m = metrics().unwrap();
        assert_eq!(m.ops_in_flight, 0);
        assert!(m.ops_completed >= 1000, "{m:?}");
        eprintln!(
            "full SQ: {} sq-full events, {} enters for 1000 NOPs",
            m.sq_full_events, m.enter_calls
        );
        assert!(
            m.sq_full_events > 0,
            "an 8-entry SQ never filled with 1000 ops: {m:?}"
        );
    });
}

#[test]
fn tiny_cq_overflow_completes_every_op_exactly_once() {
    let _s = serial();
    let _w = watchdog(
        "tiny_cq_overflow_completes_every_op_exactly_once",
        Duration::from_secs(10),
    );
    let rt = Builder::new().entries(8).cq_entries(8).build().unwrap();
    rt.block_on(async {
        let done = Rc::new(Cell::new(0u32));
        // 500 NOPs from 500 tasks.
        let handles: Vec<_> = (0..500)
            .map(|_| {
                let done = done.clone();
                spawn(async move {
                    let r = Op::new(Nop).await;
                    done.set(done.get() + 1);
                    r
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.await.unwrap().unwrap(), 0);
        }
        assert_eq!(done.get(), 500);
        // 500 kernel timers that expire together: their CQEs arrive in one burst, far more
        // than the 8-entry CQ holds.
        done.set(0);
        let before = metrics().unwrap();
        let handles: Vec<_> = (0..500)
            .map(|_| {
                let done = done.clone();
                spawn(async move {
                    let r = Op::new(Timeout::new(Duration::from_millis(20))).await;
                    done.set(done.get() + 1);
                    r
                })
            })
            .collect();
        for h in handles {
            assert_eq!(
                h.await.unwrap().unwrap_err().raw_os_error(),
                Some(libc::ETIME)
            );
        }
        assert_eq!(done.get(), 500);
        let m = metrics().unwrap();
        assert_eq!(m.ops_completed - before.ops_completed, 500, "{m:?}");
        assert_eq!(m.ops_in_flight, 0);
        eprintln!(
            "tiny CQ: {} overflow reports, {} CQEs reaped",
            m.cq_overflows, m.cqes_reaped
        );
    });
}

#[test]
fn iosqe_async_nop_completes() {
    let _s = serial();
    let _w = watchdog("iosqe_async_nop_completes", Duration::from_secs(10));
    Runtime::new().unwrap().block_on(async {
        let r = Op::new(Nop).sqe_flags(runtime::op::SqeFlags::ASYNC).await;
        assert_eq!(r.unwrap(), 0);
        assert_eq!(metrics().unwrap().ops_in_flight, 0);
    });
}

#[test]
fn sequential_nops_cost_about_one_enter_each() {
    let _s = serial();
    let _w = watchdog(
        "sequential_nops_cost_about_one_enter_each",
        Duration::from_secs(10),
    );
    Runtime::new().unwrap().block_on(async {
        let before = metrics().unwrap().enter_calls;
        for _ in 0..1000 {
            Op::new(Nop).await.unwrap();
        }
        let enters = metrics().unwrap().enter_calls - before;
        eprintln!("1000 sequential NOPs: {enters} enters");
        assert!(enters <= 2000, "{enters} enters for 1000 sequential NOPs");
    });
}

#[test]
fn concurrent_nops_are_batched_into_few_enters() {
    let _s = serial();
    let _w = watchdog(
        "concurrent_nops_are_batched_into_few_enters",
        Duration::from_secs(10),
    );
    Runtime::new().unwrap().block_on(async {
        let before = metrics().unwrap();
        let handles: Vec<_> = (0..1000)
            .map(|_| spawn(async { Op::new(Nop).await }))
            .collect();
        for h in handles {
            h.await.unwrap().unwrap();
        }
        let after = metrics().unwrap();
        let enters = after.enter_calls - before.enter_calls;
        eprintln!(
            "1000 concurrent NOPs: {enters} enters, {} SQEs submitted",
            after.sqes_submitted - before.sqes_submitted
        );
        assert!(
            enters < 200,
            "{enters} enters for 1000 concurrent NOPs: no batching"
        );
    });
}

/// Records the results of a shared op's CQEs, and whether its last one came; owns the
/// memory a read writes into, so that the ring's reference to it keeps that alive until the
/// final CQE (a panicking test included).
#[derive(Default)]
struct Results {
    seen: std::cell::RefCell<Vec<i32>>,
    ended: Cell<bool>,
    buf: std::cell::UnsafeCell<[u8; 32]>,
}

impl runtime::op::SharedCompletion for Results {
    fn on_cqe(self: Rc<Self>, cqe: runtime::op::Completion) {
        self.seen.borrow_mut().push(cqe.res());
        if !cqe.more() {
            self.ended.set(true);
        }
    }
}

/// A `SharedOp` kept after its op ended names a slot that a later op reuses: its cancel must
/// reach neither that later op nor anything else (the slot's generation tells them apart),
/// while the later op's own handle still cancels it.
#[test]
fn a_stale_shared_op_handle_does_not_cancel_the_op_in_its_old_slot() {
    let _s = serial();
    let _w = watchdog(
        "a_stale_shared_op_handle_does_not_cancel_the_op_in_its_old_slot",
        Duration::from_secs(20),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let ring = runtime::op::RingHandle::current().unwrap();
        let first = Rc::new(Results::default());
        // SAFETY: a NOP's SQE carries no address and no fd.
        let stale = unsafe {
            runtime::op::submit_shared_cancelable(&ring, uring_sys::prep::prep_nop(), first.clone())
        }
        .unwrap();
        while !first.ended.get() {
            yield_now().await;
        }
        assert_eq!(*first.seen.borrow(), [0]);

        // A read of a pipe nobody writes: in flight until cancelled, in the slot the NOP
        // left (the driver's slab hands out the last freed slot first).
        let (rx, tx) = pipe();
        let second = Rc::new(Results::default());
        // SAFETY: the SQE reads into `second.buf`, which nothing else touches, and which
        // the `Rc` handed to the ring keeps alive until the op's final CQE, a panicking
        // test included; `rx` closing early in a panic's unwind can end or misdirect the
        // read, never free what it writes into.
        let live = unsafe {
            runtime::op::submit_shared_cancelable(
                &ring,
                uring_sys::prep::prep_read(
                    std::os::fd::AsRawFd::as_raw_fd(&*rx),
                    second.buf.get().cast::<u8>(),
                    32,
                    u64::MAX,
                ),
                second.clone(),
            )
        }
        .unwrap();
        assert_eq!(metrics().unwrap().ops_in_flight, 1);
        // Both handles name slot `index` (their `Debug` shows the key): the later op did
        // reuse the stale handle's slot, so only the generation tells them apart.
        let slot = |op: &runtime::op::SharedOp| {
            let key = format!("{op:?}");
            key[key.find("index").expect("the key's index")..]
                .split(',')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(slot(&stale), slot(&live), "{stale:?} {live:?}");

        stale.cancel();
        stale.cancel();
        sleep(Duration::from_millis(30)).await;
        assert!(
            second.seen.borrow().is_empty(),
            "a stale handle's cancel reached the op in its old slot: {:?}",
            second.seen.borrow()
        );
        assert_eq!(metrics().unwrap().ops_in_flight, 1);

        live.cancel();
        while !second.ended.get() {
            yield_now().await;
        }
        assert_eq!(*second.seen.borrow(), [-libc::ECANCELED]);
        assert_eq!(metrics().unwrap().ops_in_flight, 0);
        drop((rx, tx));
    });
}

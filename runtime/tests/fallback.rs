//! What the fallback driver does with the features only io_uring has: registered files and
//! buffers work as user-space tables (with the kernel's errors), MSG_RING is not there
//! (cross-core wake-ups take the eventfd; the opcode itself completes with `Unsupported`),
//! nor is multishot poll. Each test forces the fallback, whatever `RUNTIME_DRIVER` says.
//! Elsewhere: SEND_ZC (a copying send plus its notification) in net's `tests/fallback.rs`;
//! IOPOLL rings (the kernel's alone: `PolledRing` fails to build where io_uring is denied)
//! in ringloop's `tests/seccomp_fallback.rs`.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use runtime::buf::{FixedBuf, FixedBufRegistry};
use runtime::op::{Completion, Op, Operation, RingHandle};
use runtime::{Builder, DriverChoice, DriverKind, Runtime};
use uring_sys::{Sqe, abi, prep};

fn fallback() -> Runtime {
    Builder::new()
        .driver(DriverChoice::Fallback)
        .build()
        .expect("the fallback driver needs no io_uring")
}

fn fallback_cores(cores: usize) -> Runtime {
    Builder::new()
        .driver(DriverChoice::Fallback)
        .cores(cores)
        .pin_cores(false)
        .build()
        .expect("the fallback driver needs no io_uring")
}

/// An op from a prepared SQE, holding what it points to until its CQE.
struct Raw {
    sqe: Sqe,
    ring: Option<RingHandle>,
    buf: Option<FixedBuf>,
    bytes: Vec<u8>,
}

impl Raw {
    fn new(sqe: Sqe) -> Raw {
        Raw {
            sqe,
            ring: None,
            buf: None,
            bytes: Vec::new(),
        }
    }
}

// SAFETY: each SQE below points into `bytes` or `buf` (heap memory, stable across moves),
// owned by the op until its CQE, or to no memory at all.
unsafe impl Operation for Raw {
    type Output = (io::Result<u32>, Option<FixedBuf>);

    fn sqe(&mut self) -> Sqe {
        self.sqe
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result, self.buf)
    }

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.ring.as_ref()
    }
}

/// A pipe: (read end, write end).
fn pipe() -> (std::fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two fresh fds that nobody else owns.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

#[test]
fn registered_files_are_a_table_of_the_emulator() {
    fallback().block_on(async {
        assert_eq!(runtime::driver_kind(), Some(DriverKind::Fallback));
        let (mut r, w) = pipe();
        let fixed = runtime::fixed_files::register(w.as_fd()).unwrap();
        // The slot holds its own reference, as the kernel's table does.
        drop(w);
        let mut op = Raw::new(Sqe::new(0, 0));
        op.bytes = b"through the slot".to_vec();
        op.sqe = prep::prep_write(
            fixed.index() as i32,
            op.bytes.as_ptr(),
            op.bytes.len() as u32,
            0,
        )
        .fixed_file();
        op.ring = Some(fixed.ring().clone());
        assert_eq!(Op::new(op).await.0.unwrap(), 16);
        let mut got = [0; 16];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"through the slot");

        // An empty slot is EBADF, as in the kernel.
        let empty = runtime::fixed_files::reserve().unwrap();
        let mut op = Raw::new(prep::prep_write(
            empty.index() as i32,
            std::ptr::null(),
            0,
            0,
        ));
        op.sqe = op.sqe.fixed_file();
        op.ring = Some(empty.ring().clone());
        let e = Op::new(op).await.0.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");

        // Dropping the FixedFile empties the slot: the pipe's last writer is gone.
        drop(fixed);
        // Let the slot's update run (it goes with the next loop turn).
        runtime::time::sleep(std::time::Duration::from_millis(1)).await;
        assert_eq!(r.read(&mut got).unwrap(), 0, "end of file: no writer left");
    });
}

#[test]
fn registered_buffers_are_bounds_checked_like_the_kernels() {
    fallback().block_on(async {
        let registry = FixedBufRegistry::new(2, 4096).unwrap();
        let (mut r, w) = pipe();
        let mut buf = registry.check_out(0).unwrap();
        buf.as_mut_slice()[..5].copy_from_slice(b"fixed");
        let sqe = prep::prep_write_fixed(
            w.as_raw_fd(),
            buf.as_slice().as_ptr(),
            5,
            0,
            buf.buf_index(),
        );
        let mut op = Raw::new(sqe);
        op.ring = Some(buf.ring().clone());
        op.buf = Some(buf);
        let (res, buf) = Op::new(op).await;
        assert_eq!(res.unwrap(), 5);
        let mut got = [0; 5];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"fixed");

        // Memory outside the buffer the SQE names is EFAULT, never an access: buffer 1's
        // index with buffer 0's memory.
        let buf = buf.unwrap();
        let other = registry.check_out(1).unwrap();
        let sqe = prep::prep_write_fixed(
            w.as_raw_fd(),
            buf.as_slice().as_ptr(),
            5,
            0,
            other.buf_index(),
        );
        let mut op = Raw::new(sqe);
        op.ring = Some(buf.ring().clone());
        op.buf = Some(buf);
        let e = Op::new(op).await.0.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EFAULT), "{e}");
    });
}

#[test]
fn msg_ring_is_unsupported_and_cores_wake_each_other_through_the_eventfd() {
    fallback().block_on(async {
        assert_eq!(runtime::op_supported(abi::IORING_OP_MSG_RING), Some(false));
        let (_r, w) = pipe();
        let op = Raw::new(prep::prep_msg_ring(w.as_raw_fd(), 0, 1, 0));
        let e = Op::new(op).await.0.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
    });
    // What MSG_RING does for the cores, the eventfd does: a core parked in epoll_wait takes
    // work from the other, and the answer comes back.
    let (done_tx, done_rx) = runtime::sync::oneshot::channel::<()>();
    let done = Arc::new(Mutex::new((Some(done_tx), Some(done_rx))));
    let rt = fallback_cores(2);
    let answers = rt.run_per_core(move |core| {
        let done = done.clone();
        async move {
            assert_eq!(runtime::driver_kind(), Some(DriverKind::Fallback));
            if core != 0 {
                // Core 1 serves until core 0 is done with it.
                let rx = done.lock().unwrap().1.take().expect("one core 1");
                rx.await.unwrap();
                return Vec::new();
            }
            let mut got = Vec::new();
            for i in 0..100 {
                let h = runtime::spawn_on(1, async move { (runtime::core_id(), i) }).unwrap();
                got.push(h.await.unwrap());
            }
            let tx = done.lock().unwrap().0.take().expect("one core 0");
            tx.send(()).unwrap();
            got
        }
    });
    let expected: Vec<_> = (0..100).map(|i| (Some(1), i)).collect();
    assert_eq!(answers[0], expected);
}

#[test]
fn multishot_poll_is_unsupported() {
    fallback().block_on(async {
        let (r, _w) = pipe();
        let mut sqe = prep::prep_poll_add(r.as_raw_fd(), libc::POLLIN as u32);
        sqe.set_len(abi::IORING_POLL_ADD_MULTI);
        let e = Op::new(Raw::new(sqe)).await.0.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
    });
}

/// Fails the process if `done` is not signalled within 10 s: a hang fails instead of
/// stalling the suite.
fn hang_watchdog(name: &'static str) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(std::time::Duration::from_secs(10))
        {
            eprintln!("{name}: hung for 10 s");
            std::process::exit(3);
        }
    });
    tx
}

/// A read that waits on `fd` after a poll of it ended: it must complete. A poll that left
/// its fd's wait list naming its freed slot would link the read to itself (a hang).
async fn read_after(r: std::fs::File) {
    drop(r);
    // The same fd number again, most likely, and the same slab slot.
    let (r2, w2) = pipe();
    let mut op = Raw::new(Sqe::new(0, 0));
    op.bytes = vec![0u8; 8];
    op.sqe = prep::prep_read(r2.as_raw_fd(), op.bytes.as_mut_ptr(), 8, u64::MAX);
    let h = runtime::spawn(async move { Op::new(op).await.0 });
    runtime::time::sleep(std::time::Duration::from_millis(20)).await;
    // SAFETY: writes 3 bytes from a live array to a pipe we own.
    unsafe { libc::write(w2.as_raw_fd(), b"abc".as_ptr().cast(), 3) };
    assert_eq!(h.await.unwrap().unwrap(), 3);
    drop(r2);
}

/// A `POLL_ADD` for no event but the ones always reported (mask 0: `EPOLLERR|EPOLLHUP`)
/// waits with an empty event set; when it ends (on its hang-up, by a link timeout), it must
/// leave its fd's wait list all the same.
#[test]
fn a_poll_for_hang_up_only_leaves_the_wait_list_when_it_ends() {
    let done = hang_watchdog("a_poll_for_hang_up_only_leaves_the_wait_list_when_it_ends");
    fallback().block_on(async {
        // Ended by its edge (retried in place, as the fd's only waiter).
        let (r, w) = pipe();
        let rfd = r.as_raw_fd();
        let h =
            runtime::spawn(async move { Op::new(Raw::new(prep::prep_poll_add(rfd, 0))).await.0 });
        runtime::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(w);
        let res = h.await.unwrap().expect("the poll sees the hang-up");
        assert_ne!(res & libc::EPOLLHUP as u32, 0, "events {res:#x}");
        read_after(r).await;

        // Ended by its link timeout.
        let (r, _w) = pipe();
        let res = Op::new(Raw::new(prep::prep_poll_add(r.as_raw_fd(), 0)))
            .timeout(std::time::Duration::from_millis(20))
            .await
            .0;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        read_after(r).await;
    });
    let _ = done.send(());
}

/// A loop that never parks (a task that only yields) still hears of everything that comes
/// through readiness: a pipe's data, a waker fired on another thread (the eventfd), a
/// blocking-pool result and a timer. An enter that does not park skips its readiness check
/// when the one before made one; were it to skip them all, the main task here would never
/// run again and the bound below would fail it.
#[test]
fn a_loop_that_never_parks_still_hears_of_readiness() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Poll, Waker};
    use std::time::Duration;

    fallback().block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let spinning = stop.clone();
        let spinner = runtime::spawn(async move {
            while !spinning.load(Ordering::Relaxed) {
                runtime::yield_now().await;
            }
        });
        let (r, w) = pipe();
        let mut w = std::fs::File::from(w);
        let woken = Arc::new(Mutex::new((false, None::<Waker>)));
        let waking = woken.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            w.write_all(b"x").unwrap();
            let mut g = waking.lock().unwrap();
            g.0 = true;
            if let Some(waker) = g.1.take() {
                waker.wake();
            }
        });
        let all = async {
            let mut op = Raw::new(Sqe::new(0, 0));
            op.bytes = vec![0u8; 8];
            op.sqe = prep::prep_read(r.as_raw_fd(), op.bytes.as_mut_ptr(), 8, 0);
            assert_eq!(Op::new(op).await.0.unwrap(), 1, "the pipe's byte");
            std::future::poll_fn(|cx| {
                let mut g = woken.lock().unwrap();
                if g.0 {
                    return Poll::Ready(());
                }
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            let pooled = runtime::spawn_blocking(|| 7);
            assert_eq!(pooled.await.unwrap(), 7);
            runtime::time::sleep(Duration::from_millis(1)).await;
        };
        // A liveness bound, not a timing: every step above takes milliseconds.
        runtime::time::timeout(Duration::from_secs(20), all)
            .await
            .expect("a loop that never parked starved an op waiting for readiness");
        stop.store(true, Ordering::Relaxed);
        spinner.await.unwrap();
        writer.join().unwrap();
    });
}

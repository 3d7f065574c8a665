//! Soundness holes of files reachable from safe code: a fixed file slot used through
//! another runtime's fixed file table, a close pushed on the ring at the last loop turn
//! (never submitted), and a registered buffer whose read is dropped in flight with its
//! registry.
//!
//! Findings are printed to fd 2 as soon as found ([`support::say`]). Run one test at a time
//! (`-- --exact NAME --nocapture`) to see each one's own outcome.

mod support;

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use fs::File;
use runtime::Runtime;
use support::{TempPath, fd_target, say, serial, watchdog};

/// Each test's watchdog limit (every test ends in well under a second when nothing hangs).
const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// 6. A fixed file slot belongs to the table of the runtime that lent it.
// ---------------------------------------------------------------------------------------

/// File X registered on runtime A (slot 0 of A's table), file Y on runtime B (slot 0 of
/// B's table); X written inside B's `block_on`. Before the fix, the write names slot 0 with
/// `IOSQE_FIXED_FILE` on B's ring, and lands in Y.
#[test]
fn fixed_file_slot_is_bound_to_its_runtime() {
    let _s = serial();
    let _w = watchdog("fixed_file_slot_is_bound_to_its_runtime", LIMIT);
    let dir = TempPath::new("soundness-fixed");
    std::fs::create_dir(&dir).unwrap();
    let (x, y) = (dir.join("x"), dir.join("y"));
    std::fs::write(&x, b"xxxxxxxx").unwrap();
    std::fs::write(&y, b"yyyyyyyy").unwrap();
    let a = Runtime::new().unwrap();
    let b = Runtime::new().unwrap();
    let (fx, slot_x) = a.block_on(async {
        let f = File::options().write(true).open(&x).await.unwrap();
        let slot = f.register().unwrap();
        (f, slot)
    });
    let (fy, slot_y) = b.block_on(async {
        let f = File::options().write(true).open(&y).await.unwrap();
        let slot = f.register().unwrap();
        (f, slot)
    });
    let res = b.block_on(async { fx.write_at(b"oops".to_vec(), 0).await.0 });
    let x_now = std::fs::read(&x).unwrap();
    let y_now = std::fs::read(&y).unwrap();
    let mut problems = Vec::new();
    if y_now != b"yyyyyyyy" {
        problems.push(format!(
            "writing X (slot {slot_x} of A's table) inside B.block_on wrote into Y (slot \
             {slot_y} of B's table): Y is now {:?}; the write returned {res:?}",
            String::from_utf8_lossy(&y_now)
        ));
    }
    if res.is_ok() && x_now != b"oopsxxxx" {
        problems.push(format!(
            "the write returned {res:?} but X is {:?}, not \"oopsxxxx\"",
            String::from_utf8_lossy(&x_now)
        ));
    }
    for p in &problems {
        say(&format!(
            "[fixed_file_slot_is_bound_to_its_runtime] PROBLEM: {p}"
        ));
    }
    a.block_on(async move { drop(fx) });
    b.block_on(async move { drop(fy) });
    drop((a, b));
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every op that names a registered file refuses another runtime's ring (`InvalidInput`)
/// instead of acting on whatever file that ring's table holds at the same slot: fsync,
/// fallocate, ftruncate and fadvise, each of which declares the file's ring on its own.
#[test]
fn every_fixed_file_op_is_bound_to_its_runtime() {
    let _s = serial();
    let _w = watchdog("every_fixed_file_op_is_bound_to_its_runtime", LIMIT);
    let dir = TempPath::new("soundness-fixed-ops");
    std::fs::create_dir(&dir).unwrap();
    let (x, y) = (dir.join("x"), dir.join("y"));
    std::fs::write(&x, b"xxxxxxxx").unwrap();
    std::fs::write(&y, b"yyyyyyyy").unwrap();
    let a = Runtime::new().unwrap();
    let b = Runtime::new().unwrap();
    let fx = a.block_on(async {
        let f = File::options().write(true).open(&x).await.unwrap();
        f.register().unwrap();
        f
    });
    let fy = b.block_on(async {
        let f = File::options().write(true).open(&y).await.unwrap();
        f.register().unwrap();
        f
    });
    let results = b.block_on(async {
        vec![
            ("sync_all", fx.sync_all().await),
            ("allocate", fx.allocate(0, 4096).await),
            ("set_len", fx.set_len(1).await),
            ("advise", fx.advise(0, 0, fs::Advice::Sequential).await),
        ]
    });
    for (what, res) in &results {
        assert_eq!(
            res.as_ref().map_err(std::io::Error::kind),
            Err(std::io::ErrorKind::InvalidInput),
            "{what} of A's registered file inside B.block_on"
        );
    }
    assert_eq!(std::fs::read(&y).unwrap(), b"yyyyyyyy", "Y was touched");
    assert_eq!(std::fs::read(&x).unwrap(), b"xxxxxxxx", "X was touched");
    a.block_on(async move { drop(fx) });
    b.block_on(async move { drop(fy) });
}

// ---------------------------------------------------------------------------------------
// 8. A close pushed at the last loop turn.
// ---------------------------------------------------------------------------------------

/// A file opened and dropped inside `block_on`, as the last thing its future does (the
/// runtime stays alive, no further `block_on`). Before the fix, the drop pushes an `IORING_OP_CLOSE`
/// on the ring and `block_on` returns without another turn, so the fd stays open until some
/// later `block_on`, if any.
#[test]
fn close_after_last_turn() {
    let _s = serial();
    let _w = watchdog("close_after_last_turn", LIMIT);
    let path = TempPath::new("soundness-close-last");
    std::fs::write(&path, b"data").unwrap();
    let rt = Runtime::new().unwrap();
    let (raw, target) = rt.block_on(async {
        let f = File::open(&path).await.unwrap();
        let raw = f.as_fd().expect("a process fd").as_raw_fd();
        let target = fd_target(raw).expect("the file's fd is open");
        drop(f);
        (raw, target)
    });
    let still_open = fd_target(raw).as_ref() == Some(&target);
    if still_open {
        say(&format!(
            "[close_after_last_turn] PROBLEM: fd {raw} ({}) is still open after block_on \
             returned, though its File was dropped inside",
            target.display()
        ));
    }
    drop(rt);
    assert!(
        !still_open,
        "fd {raw} ({}) is still open after block_on returned, though its File was dropped \
         inside",
        target.display()
    );
}

/// A file opened inside `block_on`, returned out of it and dropped outside (the runtime
/// alive, no further `block_on`): its fd is closed at once.
#[test]
fn close_outside_block_on() {
    let _s = serial();
    let _w = watchdog("close_outside_block_on", LIMIT);
    let path = TempPath::new("soundness-close-outside");
    std::fs::write(&path, b"data").unwrap();
    let rt = Runtime::new().unwrap();
    let f = rt.block_on(async { File::open(&path).await.unwrap() });
    let raw = f.as_fd().expect("a process fd").as_raw_fd();
    let target = fd_target(raw).expect("the file's fd is open");
    drop(f);
    let still_open = fd_target(raw).as_ref() == Some(&target);
    drop(rt);
    assert!(
        !still_open,
        "fd {raw} ({}) is still open after its File was dropped outside block_on",
        target.display()
    );
}

/// How many of this process's fds name `path`.
fn fds_naming(path: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// An open dropped while in flight (its CQE reaped as abandoned: `OpenAt::on_abandoned_cqe`)
/// and a close dropped while in flight (it finishes anyway: `Close::finish_when_dropped`)
/// leave no fd of the file open.
#[test]
fn dropped_open_and_close_leak_no_fd() {
    let _s = serial();
    let _w = watchdog("dropped_open_and_close_leak_no_fd", LIMIT);
    let path = TempPath::new("soundness-dropped-open-close");
    std::fs::write(&path, b"data").unwrap();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..50 {
            // Times out at its first poll, after the open's SQE was pushed.
            let r = runtime::time::timeout(Duration::ZERO, File::open(&path)).await;
            drop(r);
            let f = File::open(&path).await.unwrap();
            drop(runtime::time::timeout(Duration::ZERO, f.close()).await);
        }
        // Let the abandoned CQEs (and background closes) come in.
        runtime::time::sleep(Duration::from_millis(20)).await;
    });
    drop(rt);
    assert_eq!(fds_naming(&path), 0, "an fd of {} leaked", path.display());
}

// ---------------------------------------------------------------------------------------
// 7. A registered buffer stays the kernel's while an op on it is in flight.
// ---------------------------------------------------------------------------------------

/// A READ_FIXED into a registered buffer is submitted on an empty pipe, then dropped
/// outside `block_on` together with the registry. The drop asks the kernel to cancel the
/// read, and the buffer (and so the registry) must live until the read's final CQE, then
/// the registration must go: a new registry on the same core must not find the core's
/// buffers still registered (EBUSY), which it does if the registry is kept or leaked.
/// AddressSanitizer cannot see the kernel's writes, so canaries stand guard for the case
/// where the read gets the pipe's bytes before its cancel: victims of the buffer's size,
/// filled with `0xA5`, are allocated before the pipe gets `0x5A` bytes and the loop runs,
/// and none may change.
#[test]
fn fixed_buffer_read_dropped_in_flight_with_its_registry() {
    use std::future::Future;
    use std::task::Poll;

    use runtime::buf::FixedBufRegistry;

    const BUF: usize = 4096;
    const VICTIMS: usize = 64;
    let _s = serial();
    let _w = watchdog(
        "fixed_buffer_read_dropped_in_flight_with_its_registry",
        LIMIT,
    );
    let (read_end, write_end) = std::io::pipe().unwrap();
    let file = File::from(OwnedFd::from(read_end));
    let rt = Runtime::new().unwrap();
    let registry = rt
        .block_on(async { FixedBufRegistry::new(1, BUF) })
        .unwrap();
    let buf = registry.check_out(0).unwrap();
    let mut read = Box::pin(file.read_fixed_at(buf, 0));
    rt.block_on(async {
        // A few turns, so the read is in the kernel, waiting on the empty pipe.
        for _ in 0..3 {
            let polled = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
            if let Poll::Ready((res, _)) = polled {
                panic!("the read completed before the pipe had data: {res:?}");
            }
            runtime::yield_now().await;
        }
    });
    drop(read);
    drop(registry);
    let victims: Vec<Vec<u8>> = (0..VICTIMS).map(|_| vec![0xA5; BUF]).collect();
    std::io::Write::write_all(&mut &write_end, &[0x5A; BUF]).unwrap();
    rt.block_on(runtime::time::sleep(Duration::from_millis(20)));
    let mut problems = Vec::new();
    for (i, v) in victims.iter().enumerate() {
        if let Some(at) = v.iter().position(|&b| b != 0xA5) {
            problems.push(format!(
                "victim {i} changed at byte {at} (now {:#x}): the kernel wrote into freed memory",
                v[at]
            ));
        }
    }
    match rt.block_on(async { FixedBufRegistry::new(1, BUF).map(drop) }) {
        Ok(()) => {}
        Err(e) => problems.push(format!(
            "the dropped registry's buffers are still registered after the read completed: {e}"
        )),
    }
    drop(rt);
    drop(file);
    for p in &problems {
        say(&format!(
            "[fixed_buffer_read_dropped_in_flight_with_its_registry] PROBLEM: {p}"
        ));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

// ---------------------------------------------------------------------------------------
// 9. An io_uring fd in a `File`: IORING_OP_CLOSE refuses it (EBADF) and leaves it open.
// ---------------------------------------------------------------------------------------

/// A fresh io_uring instance's fd (test set-up).
fn io_uring_instance() -> OwnedFd {
    use std::os::fd::FromRawFd;
    // struct io_uring_params: 120 bytes, all zero (no flags).
    let mut params = [0u64; 15];
    // SAFETY: test set-up: a zeroed io_uring_params of the size the kernel reads and writes.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, params.as_mut_ptr()) } as i32;
    assert!(
        fd >= 0,
        "io_uring_setup: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the fresh fd is ours.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn is_ring(fd: i32) -> bool {
    fd_target(fd).is_some_and(|t| t.to_string_lossy().contains("io_uring"))
}

/// `File::from(OwnedFd)` of an io_uring fd, closed with `File::close` and dropped: the fd is
/// gone either way, as std's close would leave it (the ring and its locked memory with it).
/// Before the fix both left it open: `close` reported EBADF, and a drop's detached CLOSE
/// failed unseen.
#[test]
fn a_file_of_an_io_uring_fd_is_closed() {
    let _s = serial();
    let _w = watchdog("a_file_of_an_io_uring_fd_is_closed", LIMIT);
    let rt = Runtime::new().unwrap();
    let ring = io_uring_instance();
    let fd = ring.as_raw_fd();
    let closed = rt.block_on(File::from(ring).close());
    assert!(
        !is_ring(fd),
        "File::close returned {closed:?}; the ring fd {fd} is open"
    );
    closed.unwrap();

    let ring = io_uring_instance();
    let fd = ring.as_raw_fd();
    rt.block_on(async move {
        drop(File::from(ring));
        runtime::time::sleep(Duration::from_millis(20)).await;
    });
    assert!(!is_ring(fd), "a dropped File left the ring fd {fd} open");
}

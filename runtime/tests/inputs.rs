//! The input audit of the runtime (docs/input-audit.md), enforced: every size, count,
//! index, core number and duration at 0, at its largest and past it is served, saturated or
//! refused with a clear error, never a panic, an abort or a hang. (Ring entries and
//! provided-buffer geometries are in `limits.rs`.)

mod support;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use runtime::buf::{AlignedBuf, BufPool, FixedBufRegistry, IoBuf};
use runtime::fixed_files::{self, FixedFile};
use runtime::op::{Completion, Op, Operation, RingHandle};
use runtime::sync::{broadcast, mpsc};
use runtime::time::{
    MIN_PERIOD, MissedTickBehavior, interval, interval_at, sleep, sleep_until, timeout,
};
use runtime::{Builder, JoinError, Runtime};
use uring_sys::{Sqe, abi, prep};

/// Builder numbers: 0 is saturated to 1 (cores, budget) or the kernel's EINVAL (ring sizes);
/// the largest ring sizes are clamped by the kernel.
#[test]
fn builder_numbers_at_their_edges() {
    let rt = Builder::new().poll_budget(0).cores(0).build().unwrap();
    assert_eq!(
        rt.block_on(async { runtime::spawn(async { 3 }).await.unwrap() }),
        3
    );
    assert_eq!(rt.run_per_core(|core| async move { core }), [0]);
    for cq in [u32::MAX, 1 << 20] {
        let rt = Builder::new().cq_entries(cq).build().unwrap();
        assert_eq!(rt.block_on(async { 1 }), 1, "cq_entries {cq}");
    }
    for (what, built) in [
        ("entries(0)", Builder::new().entries(0).build()),
        ("cq_entries(0)", Builder::new().cq_entries(0).build()),
    ] {
        let e = built.expect_err(what);
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{what}: {e}");
    }
}

/// Durations: 0 is ready at once, `Duration::MAX` and far instants saturate to "never"
/// (they panicked with an overflow), and a timeout of 0 on a pending future elapses.
#[test]
fn durations_at_their_edges() {
    Runtime::new().unwrap().block_on(async {
        sleep(Duration::ZERO).await;
        sleep_until(Instant::now()).await;
        for d in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
            assert_eq!(timeout(d, async { 5 }).await.unwrap(), 5);
            let mut s = std::pin::pin!(sleep(d));
            let poll =
                std::future::poll_fn(|cx| std::task::Poll::Ready(s.as_mut().poll(cx).is_pending()));
            assert!(poll.await, "a sleep of {d:?} is pending");
        }
        assert!(
            timeout(Duration::ZERO, std::future::pending::<()>())
                .await
                .is_err()
        );
    });
}

/// Core numbers: one the runtime does not have is `InvalidInput` naming it.
#[test]
fn spawn_on_a_missing_core_is_invalid_input() {
    Runtime::new().unwrap().block_on(async {
        runtime::spawn_on(0, async { 1 }).unwrap().await.unwrap();
        for core in [1, usize::MAX] {
            let Err(e) = runtime::spawn_on(core, async {}) else {
                panic!("spawn_on({core}) accepted")
            };
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains(&core.to_string()), "{e}");
        }
    });
    let outs = Builder::new()
        .cores(2)
        .pin_cores(false)
        .build()
        .unwrap()
        .run_per_core(|_| async {
            runtime::spawn_on(usize::MAX, async {})
                .err()
                .map(|e| e.kind())
        });
    assert_eq!(outs, [Some(io::ErrorKind::InvalidInput); 2]);
}

/// A channel of capacity 0 holds one value (saturated); messages still flow.
#[test]
fn channel_capacity_zero_is_one() {
    Runtime::new().unwrap().block_on(async {
        let (tx, mut rx) = runtime::sync::mpsc::channel(0);
        runtime::spawn(async move {
            for i in 0..3 {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        assert_eq!(got, [0, 1, 2]);
    });
}

/// Registered buffers: counts and lengths the kernel cannot take are `InvalidInput` before
/// anything is allocated (`usize::MAX` buffers used to allocate until the process died);
/// indexes past the count are `None`.
#[test]
fn fixed_buffer_geometries_out_of_range_are_invalid_input() {
    Runtime::new().unwrap().block_on(async {
        for (count, len) in [
            (0, 64),
            (16385, 64),
            (usize::MAX, 64),
            (1, 0),
            ((1 << 30) + 1, 1),
            (1, (1 << 30) + 1),
            (1, usize::MAX),
        ] {
            let e = FixedBufRegistry::new(count, len).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{count} x {len}");
            assert!(e.to_string().contains("16384"), "{e}");
        }
        let reg = FixedBufRegistry::new(2, 1).unwrap();
        assert!(reg.check_out(0).is_some());
        for index in [2, u16::MAX as usize + 1, usize::MAX] {
            assert!(reg.check_out(index).is_none(), "index {index}");
        }
    });
}

/// Aligned buffers: length 0 works; a size that wraps past `usize` panics with a message
/// (it used to wrap in release builds to a small block with a huge length, which a read
/// would overrun); a slice bound of `usize::MAX` is out of range, not wrapped to empty.
#[test]
fn aligned_buf_and_slice_bounds() {
    let b = AlignedBuf::new(0, 4096);
    assert_eq!((b.len(), b.bytes_total()), (0, 0));
    for (len, align) in [(usize::MAX, 4096), (usize::MAX - 4095, 4096), (1, 3)] {
        let r = catch_unwind(|| AlignedBuf::new(len, align));
        assert!(r.is_err(), "AlignedBuf::new({len}, {align}) must refuse");
    }
    let r = catch_unwind(AssertUnwindSafe(|| vec![0u8; 4].slice(..=usize::MAX)));
    assert!(r.is_err(), "..=usize::MAX is out of range");
    let r = catch_unwind(AssertUnwindSafe(|| {
        vec![0u8; 4].slice((
            std::ops::Bound::Excluded(usize::MAX),
            std::ops::Bound::Unbounded,
        ))
    }));
    assert!(r.is_err(), "a start past usize::MAX is out of range");
    assert_eq!(vec![0u8; 4].slice(4..).bytes_total(), 0);
}

/// More cores than `Builder::MAX_CORES` are refused by `build` (they were accepted, then
/// `run_per_core` allocated a table of `usize::MAX` cores: a capacity-overflow panic).
#[test]
fn builder_refuses_more_than_max_cores() {
    for cores in [Builder::MAX_CORES + 1, usize::MAX] {
        let e = Builder::new().cores(cores).build().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "cores({cores}): {e}");
        assert!(
            e.to_string().contains(&Builder::MAX_CORES.to_string()),
            "{e}"
        );
    }
    Builder::new().cores(Builder::MAX_CORES).build().unwrap();
}

/// A thread name with a NUL byte is refused by `build` (it was accepted, then std's thread
/// spawn panicked in `run_per_core`); a plain one names the cores' threads.
#[test]
fn builder_refuses_a_thread_name_with_nul() {
    for name in ["a\0b", "\0"] {
        let e = Builder::new().thread_name(name).build().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name:?}: {e}");
        assert!(e.to_string().contains("NUL"), "{e}");
    }
    let named = Builder::new()
        .cores(1)
        .thread_name("edge")
        .build()
        .unwrap()
        .run_per_core(|_| async { std::thread::current().name().map(str::to_owned) });
    assert_eq!(named, [Some("edge-0".to_owned())]);
}

/// Interval periods below one tick of the wheel (zero panicked) are raised to it, and
/// start instants far in the past or the future neither panic nor spin.
#[test]
fn interval_periods_and_starts_at_their_edges() {
    Runtime::new().unwrap().block_on(async {
        for period in [Duration::ZERO, Duration::from_nanos(1), MIN_PERIOD / 2] {
            let mut every = interval(period);
            assert_eq!(every.period(), MIN_PERIOD, "interval({period:?})");
            let first = every.tick().await;
            let second = every.tick().await;
            assert!(second >= first + MIN_PERIOD, "{first:?}, then {second:?}");
        }
        // A schedule that began long ago: skipping the missed ticks comes back to the
        // schedule at once instead of ticking for every period since.
        let now = Instant::now();
        let long_ago = now.checked_sub(Duration::from_secs(1 << 40)).unwrap_or(now);
        let mut every = interval_at(long_ago, Duration::ZERO);
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        assert_eq!(every.tick().await, long_ago);
        assert!(
            every.tick().await >= now,
            "a skipped schedule is back to now"
        );
        // Starts and deadlines far in the future are pending, not an overflow.
        let far = now.checked_add(Duration::from_secs(1 << 62)).unwrap();
        let mut late = interval_at(far, Duration::MAX);
        assert!(timeout(MIN_PERIOD, late.tick()).await.is_err());
        assert!(timeout(MIN_PERIOD, sleep_until(far)).await.is_err());
        sleep_until(long_ago).await;
        let mut reset = sleep(Duration::MAX);
        reset.reset(far);
        assert!(timeout(MIN_PERIOD, reset).await.is_err());
    });
}

/// A channel's capacity is a bound, not an up-front allocation: `usize::MAX` panicked with
/// a capacity overflow (`1 << 40` asked for terabytes: see
/// `huge_channel_capacities_allocate_nothing_up_front` for that, under a memory limit).
#[test]
fn channel_capacity_of_usize_max_is_unbounded_in_practice() {
    Runtime::new().unwrap().block_on(async {
        let (tx, mut rx) = mpsc::channel(usize::MAX);
        for i in 0..100 {
            tx.try_send(i).unwrap();
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        let (tx, mut rx) = broadcast::channel(usize::MAX);
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        for i in 0..100 {
            assert_eq!(rx.recv().await, Ok(i));
        }
    });
}

/// Runs the rest of test `name` in a child process (this binary, that test only) whose
/// address space is limited to what it uses now plus 512 MiB, so that a huge allocation
/// fails there instead of using the machine's memory. Returns `true` in the child, after
/// the limit is set; in the parent, asserts that the child passed and returns `false`.
fn in_child_with_little_memory(name: &str) -> bool {
    const ENV: &str = "INPUTS_LITTLE_MEMORY";
    if std::env::var(ENV).as_deref() == Ok(name) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmSize in /proc/self/status");
        let limit = kib * 1024 + (512 << 20);
        let rlimit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: a valid rlimit, read for the call.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ENV, name)
        // Under AddressSanitizer (.ci/asan) its allocator aborts on an allocation it refuses
        // unless told to return null, as libc's malloc does: what these tests are about.
        .env("ASAN_OPTIONS", asan_options_returning_null())
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "{name} in a child with little memory: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// `ASAN_OPTIONS` as given, plus `allocator_may_return_null=1` (no effect without ASan).
fn asan_options_returning_null() -> String {
    match std::env::var("ASAN_OPTIONS") {
        Ok(given) if !given.is_empty() => format!("{given}:allocator_may_return_null=1"),
        _ => "allocator_may_return_null=1".to_string(),
    }
}

/// 2 GiB: more than a child of `in_child_with_little_memory` may allocate, less than any
/// machine that runs these tests has.
const MORE_THAN_THE_CHILD_HAS: usize = 2 << 30;

/// Channels of `1 << 40` values work with the memory their values need (they asked for
/// terabytes up front, which aborted the process where the allocator refused).
#[test]
fn huge_channel_capacities_allocate_nothing_up_front() {
    if !in_child_with_little_memory("huge_channel_capacities_allocate_nothing_up_front") {
        return;
    }
    Runtime::new().unwrap().block_on(async {
        let (tx, mut rx) = mpsc::channel::<u8>(1 << 40);
        tx.send(7).await.unwrap();
        assert_eq!(rx.recv().await, Some(7));
        let (tx, mut rx) = broadcast::channel::<u8>(1 << 40);
        tx.send(8).unwrap();
        assert_eq!(rx.recv().await, Ok(8));
    });
}

/// Buffer pools and registries larger than the machine are `InvalidInput` before any
/// allocation (32768 buffers of 4 GiB passed the old checks, then aborted allocating
/// 140 TB); ones the allocator refuses are `OutOfMemory` naming the size (they aborted).
#[test]
fn huge_buffer_memory_is_an_error_not_an_abort() {
    if !in_child_with_little_memory("huge_buffer_memory_is_an_error_not_an_abort") {
        return;
    }
    Runtime::new().unwrap().block_on(async {
        let e = BufPool::new(0x4c2, 32768, u32::MAX as usize).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(
            e.to_string().contains("more than this machine's memory"),
            "{e}"
        );
        let e = FixedBufRegistry::new(16384, 1 << 30).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");

        let e = BufPool::new(0x4c2, 2048, MORE_THAN_THE_CHILD_HAS / 2048).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory, "{e}");
        // The pool's geometry as given (its memory is a little more: buffers are padded to
        // an odd number of cache lines).
        let geometry = format!("2048 buffers of {} bytes", MORE_THAN_THE_CHILD_HAS / 2048);
        assert!(e.to_string().contains(&geometry), "{e}");
        let e = FixedBufRegistry::new(2, MORE_THAN_THE_CHILD_HAS / 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory, "{e}");
        // The failed pool left its group free, and small ones still work.
        BufPool::new(0x4c2, 8, 64).unwrap();
        FixedBufRegistry::new(2, 64).unwrap();
    });
}

/// A READ of up to 64 bytes from a fixed file slot (`IOSQE_FIXED_FILE`); the op holds the
/// slot, as the op contract asks, and gives it back.
struct ReadSlot {
    slot: FixedFile,
    buf: Vec<u8>,
}

impl ReadSlot {
    async fn run(slot: FixedFile) -> (io::Result<Vec<u8>>, FixedFile) {
        let (read, slot) = Op::new(ReadSlot {
            slot,
            buf: Vec::with_capacity(64),
        })
        .await;
        (read, slot)
    }
}

// SAFETY: the SQE names `self.buf`'s heap block (it does not move with `self` and lives
// until the op is dropped) and the fixed slot `self.slot`, which the op holds and whose
// ring it is bound to (`bound_ring`).
unsafe impl Operation for ReadSlot {
    type Output = (io::Result<Vec<u8>>, FixedFile);

    fn bound_ring(&self) -> Option<&RingHandle> {
        Some(self.slot.ring())
    }

    fn sqe(&mut self) -> Sqe {
        let len = self.buf.capacity() as u32;
        // Offset -1: the file's own position, as pipes need.
        prep::prep_read(
            self.slot.index() as i32,
            self.buf.as_mut_ptr(),
            len,
            u64::MAX,
        )
        .flags(abi::IOSQE_FIXED_FILE)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let read = result.map(|n| {
            // SAFETY: the kernel wrote `n` bytes, at most the capacity it was given.
            unsafe { self.buf.set_len(n as usize) };
            self.buf
        });
        (read, self.slot)
    }
}

/// Fixed file slots: one registered twice holds two references, so dropping (closing) one
/// slot leaves the other usable and the process fd closable; a dropped slot is emptied, so
/// the same index lent again reads as EBADF, not the old file; and once every slot holding
/// a pipe's read end is gone, the kernel let go of it (the writer gets EPIPE).
#[test]
fn fixed_file_slots_closed_twice_and_used_after_close() {
    let _w = support::watchdog(
        "fixed_file_slots_closed_twice_and_used_after_close",
        Duration::from_secs(20),
    );
    Runtime::new().unwrap().block_on(async {
        let (r, w) = support::pipe();
        let a = fixed_files::register(r.as_fd()).unwrap();
        let b = fixed_files::register(r.as_fd()).unwrap();
        assert_ne!(a.index(), b.index());
        drop(r);
        support::write_all(&w, b"one");
        let (read, a) = ReadSlot::run(a).await;
        assert_eq!(read.unwrap(), b"one");
        let freed = a.index();
        drop(a);
        support::write_all(&w, b"two");
        let (read, b) = ReadSlot::run(b).await;
        assert_eq!(read.unwrap(), b"two", "the other slot still reads");

        let reused = fixed_files::reserve().unwrap();
        assert_eq!(reused.index(), freed, "the emptied slot is lent again");
        support::write_all(&w, b"three");
        let (read, reused) = ReadSlot::run(reused).await;
        let e = read.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
        drop((reused, b));
        assert_eq!(writer_sees_no_reader(&w).raw_os_error(), Some(libc::EPIPE));
    });
}

/// Writes to the pipe `w` until the write fails (the reader is gone): the kernel may drop
/// a removed fixed file's reference a little after the unregistering call (5.15's deferred
/// resource removal), so this retries while writes still succeed.
fn writer_sees_no_reader(w: &OwnedFd) -> io::Error {
    // SAFETY: fcntl on an fd we own, with an int argument.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    loop {
        // SAFETY: writes one byte from a live array to our own fd.
        let n = unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock {
                return e;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A panicking `spawn_blocking` closure is a `JoinError` carrying its payload, whatever the
/// payload's type, and the pool goes on serving.
#[test]
fn spawn_blocking_panics_are_join_errors() {
    let _w = support::watchdog(
        "spawn_blocking_panics_are_join_errors",
        Duration::from_secs(20),
    );
    Runtime::new().unwrap().block_on(async {
        let e = runtime::spawn_blocking(|| -> u8 { panic!("blocking boom") })
            .await
            .unwrap_err();
        let JoinError::Panicked(payload) = e else {
            panic!("{e:?}")
        };
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"blocking boom"));
        let e = runtime::spawn_blocking(|| std::panic::panic_any(7u32))
            .await
            .unwrap_err();
        let JoinError::Panicked(payload) = e else {
            panic!("{e:?}")
        };
        assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
        assert_eq!(runtime::spawn_blocking(|| 5).await.unwrap(), 5);
    });
}

/// Panics on drop.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("PanicsOnDrop dropped");
    }
}

/// A `spawn_blocking` result nobody waits for any more is dropped on the pool thread; one
/// whose drop panics must not cost the pool that thread for good: 65 of them (the pool
/// has 64 threads) and the pool still runs the next closure.
#[test]
fn spawn_blocking_results_that_panic_when_dropped_keep_the_pool_alive() {
    let _w = support::watchdog(
        "spawn_blocking_results_that_panic_when_dropped_keep_the_pool_alive",
        Duration::from_secs(20),
    );
    Runtime::new().unwrap().block_on(async {
        for _ in 0..65 {
            let (go, wait) = std::sync::mpsc::channel::<()>();
            let handle = runtime::spawn_blocking(move || {
                let _ = wait.recv();
                PanicsOnDrop
            });
            drop(handle);
            go.send(()).unwrap();
        }
        assert_eq!(runtime::spawn_blocking(|| 5).await.unwrap(), 5);
    });
}

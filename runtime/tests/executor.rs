//! The executor: spawning and joining tasks, aborts, panics, detached tasks, fairness between
//! tasks and I/O, the blocking pool, and how `Builder::build` reports a denied
//! `io_uring_setup`.

mod support;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use runtime::op::Op;
use runtime::time::timeout;
use runtime::{JoinError, Runtime, spawn, yield_now};
use support::{Nop, Timeout, watchdog};

/// Sets a flag when dropped: tells whether a task's future was dropped.
struct DropWitness(Rc<Cell<bool>>);

impl Drop for DropWitness {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn spawned_task_output_is_returned_by_join() {
    let _w = watchdog(
        "spawned_task_output_is_returned_by_join",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    let out = rt.block_on(async {
        let h = spawn(async {
            yield_now().await;
            "done".to_string()
        });
        h.await.unwrap()
    });
    assert_eq!(out, "done");
}

#[test]
fn ten_thousand_tasks_are_spawned_and_joined() {
    let _w = watchdog(
        "ten_thousand_tasks_are_spawned_and_joined",
        Duration::from_secs(20),
    );
    let rt = Runtime::new().unwrap();
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..10_000u64)
            .map(|i| {
                spawn(async move {
                    if i % 2 == 0 {
                        yield_now().await;
                    }
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        let m = runtime::metrics().unwrap();
        assert!(m.tasks_spawned >= 10_000, "{m:?}");
        sum
    });
    assert_eq!(sum, (0..10_000u64).sum());
}

#[test]
fn join_handle_awaited_by_another_task_wakes_it() {
    let _w = watchdog(
        "join_handle_awaited_by_another_task_wakes_it",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    let out = rt.block_on(async {
        // The joiner is a spawned task (not the main future): the child's completion must
        // put it back on the run queue.
        let outer = spawn(async {
            let inner = spawn(async {
                yield_now().await;
                20
            });
            inner.await.unwrap() + 1
        });
        timeout(Duration::from_secs(2), outer)
            .await
            .expect("the joiner was never woken")
            .unwrap()
            * 2
    });
    assert_eq!(out, 42);
}

#[test]
fn task_aborted_before_first_poll_is_dropped_unpolled() {
    let _w = watchdog(
        "task_aborted_before_first_poll_is_dropped_unpolled",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let polled = Rc::new(Cell::new(false));
        let witness = DropWitness(dropped.clone());
        let p = polled.clone();
        let h = spawn(async move {
            let _witness = witness;
            p.set(true);
        });
        h.abort();
        assert!(dropped.get(), "abort drops the future at once");
        assert!(h.is_finished());
        assert!(matches!(h.await, Err(JoinError::Aborted)));
        yield_now().await;
        assert!(!polled.get(), "an aborted task is never polled");
    });
}

#[test]
fn task_aborted_while_pending_is_dropped_and_reports_aborted() {
    let _w = watchdog(
        "task_aborted_while_pending_is_dropped_and_reports_aborted",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let witness = DropWitness(dropped.clone());
        let h = spawn(async move {
            let _witness = witness;
            std::future::pending::<()>().await;
        });
        yield_now().await;
        yield_now().await;
        assert!(!h.is_finished());
        assert!(!dropped.get());
        h.abort();
        assert!(dropped.get());
        assert!(matches!(h.await, Err(JoinError::Aborted)));
    });
}

#[test]
fn aborting_a_task_wakes_a_task_joining_it() {
    let _w = watchdog(
        "aborting_a_task_wakes_a_task_joining_it",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let target = Rc::new(RefCell::new(spawn(std::future::pending::<()>())));
        let t = target.clone();
        // The joiner borrows the handle only while polling it, so the main future can abort.
        let joiner =
            spawn(async move { poll_fn(|cx| Pin::new(&mut *t.borrow_mut()).poll(cx)).await });
        yield_now().await;
        yield_now().await;
        assert!(!joiner.is_finished());
        target.borrow().abort();
        let joined = timeout(Duration::from_secs(2), joiner)
            .await
            .expect("the abort did not wake the joiner");
        assert!(matches!(joined.unwrap(), Err(JoinError::Aborted)));
    });
}

#[test]
fn task_aborting_itself_stops_after_its_current_poll() {
    let _w = watchdog(
        "task_aborting_itself_stops_after_its_current_poll",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let own: Rc<RefCell<Option<runtime::JoinHandle<()>>>> = Rc::new(RefCell::new(None));
        let polls = Rc::new(Cell::new(0));
        let dropped = Rc::new(Cell::new(false));
        let (o, p, witness) = (own.clone(), polls.clone(), DropWitness(dropped.clone()));
        let h = spawn(async move {
            let _witness = witness;
            loop {
                p.set(p.get() + 1);
                if let Some(h) = o.borrow().as_ref() {
                    h.abort();
                }
                yield_now().await;
            }
        });
        yield_now().await;
        let before = polls.get();
        assert!(before >= 1);
        *own.borrow_mut() = Some(h);
        for _ in 0..5 {
            yield_now().await;
        }
        assert_eq!(
            polls.get(),
            before + 1,
            "polled again after aborting itself"
        );
        assert!(dropped.get(), "the aborted future was not dropped");
        let h = own.borrow_mut().take().unwrap();
        assert!(h.is_finished());
        assert!(matches!(h.await, Err(JoinError::Aborted)));
    });
}

#[test]
fn task_aborting_itself_may_own_join_handles() {
    let _w = watchdog(
        "task_aborting_itself_may_own_join_handles",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let own: Rc<RefCell<Option<runtime::JoinHandle<()>>>> = Rc::new(RefCell::new(None));
        let child_done = Rc::new(Cell::new(false));
        let (o, c) = (own.clone(), child_done.clone());
        let h = spawn(async move {
            // Dropping this future drops the child's handle, which detaches the child.
            let _child = spawn(async move {
                for _ in 0..3 {
                    yield_now().await;
                }
                c.set(true);
            });
            loop {
                if let Some(h) = o.borrow().as_ref() {
                    h.abort();
                }
                yield_now().await;
            }
        });
        yield_now().await;
        *own.borrow_mut() = Some(h);
        for _ in 0..10 {
            yield_now().await;
        }
        let h = own.borrow_mut().take().unwrap();
        assert!(matches!(h.await, Err(JoinError::Aborted)));
        assert!(child_done.get(), "the detached child did not run on");
    });
}

#[test]
fn panicking_task_gives_panicked_with_payload_and_core_keeps_running() {
    let _w = watchdog(
        "panicking_task_gives_panicked_with_payload_and_core_keeps_running",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let other = spawn(async {
            for _ in 0..10 {
                yield_now().await;
            }
            7
        });
        let n = std::hint::black_box(42);
        let h = spawn(async move {
            yield_now().await;
            if n == 42 {
                // A formatted message: the payload is a String.
                panic!("boom {n}");
            }
        });
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.to_string(), "task panicked: boom 42");
        let payload = err.into_panic().unwrap();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("boom 42")
        );
        // The core runs on: other tasks and new ones complete.
        assert_eq!(other.await.unwrap(), 7);
        assert_eq!(spawn(async { 8 }).await.unwrap(), 8);
        assert_eq!(Op::new(Nop).await.unwrap(), 0);
    });
}

#[test]
fn detached_task_runs_to_completion() {
    let _w = watchdog("detached_task_runs_to_completion", Duration::from_secs(10));
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        drop(spawn(async move {
            for _ in 0..3 {
                yield_now().await;
            }
            Op::new(Nop).await.unwrap();
            d.set(true);
        }));
        for _ in 0..100 {
            if done.get() {
                break;
            }
            runtime::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(done.get(), "the detached task did not finish");
    });
}

#[test]
fn yield_now_interleaves_two_tasks() {
    let _w = watchdog("yield_now_interleaves_two_tasks", Duration::from_secs(10));
    let rt = Runtime::new().unwrap();
    let log = rt.block_on(async {
        let log = Rc::new(RefCell::new(String::new()));
        let task = |name: char| {
            let log = log.clone();
            spawn(async move {
                for _ in 0..5 {
                    log.borrow_mut().push(name);
                    yield_now().await;
                }
            })
        };
        let (a, b) = (task('A'), task('B'));
        a.await.unwrap();
        b.await.unwrap();
        Rc::try_unwrap(log).unwrap().into_inner()
    });
    assert_eq!(log, "ABABABABAB");
}

#[test]
fn busy_yielding_task_does_not_starve_io() {
    let _w = watchdog(
        "busy_yielding_task_does_not_starve_io",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let stop = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0u64));
        let (s, n) = (stop.clone(), spins.clone());
        let busy = spawn(async move {
            // Bounded, so a starved op fails the test instead of hanging it.
            while !s.get() && n.get() < 5_000_000 {
                n.set(n.get() + 1);
                yield_now().await;
            }
        });
        yield_now().await;
        // Completes inline at submission.
        let nop = spawn(async { Op::new(Nop).await });
        assert_eq!(nop.await.unwrap().unwrap(), 0);
        // Completes from a kernel timer: needs the busy core to fetch deferred completions.
        let timer = spawn(async { Op::new(Timeout::new(Duration::from_millis(2))).await });
        let err = timer.await.unwrap().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ETIME));
        // And a runtime timer.
        runtime::time::sleep(Duration::from_millis(2)).await;
        assert!(
            !busy.is_finished(),
            "the busy task ran out of spins: ops were starved"
        );
        stop.set(true);
        busy.await.unwrap();
        assert!(spins.get() > 0);
    });
}

#[test]
fn is_finished_turns_true_when_the_task_ends() {
    let _w = watchdog(
        "is_finished_turns_true_when_the_task_ends",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let (tx, rx) = runtime::sync::oneshot::channel::<u8>();
        let h = spawn(async move { rx.await.unwrap() });
        yield_now().await;
        assert!(!h.is_finished());
        tx.send(3).unwrap();
        for _ in 0..10 {
            yield_now().await;
        }
        assert!(h.is_finished());
        assert_eq!(h.await.unwrap(), 3);
    });
}

#[test]
fn spawn_blocking_returns_its_value_and_reports_its_panic() {
    let _w = watchdog(
        "spawn_blocking_returns_its_value_and_reports_its_panic",
        Duration::from_secs(10),
    );
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let main_thread = std::thread::current().id();
        let (v, thread) = runtime::spawn_blocking(|| (6 * 7, std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(v, 42);
        assert_ne!(thread, main_thread, "ran on the pool, not on the core");
        let err = runtime::spawn_blocking(|| -> u8 { panic!("blocking boom") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.to_string(), "task panicked: blocking boom");
    });
}

/// The environment variable that makes the test binary, re-run as a child, deny
/// `io_uring_setup` to itself and try to build a runtime.
const SECCOMP_CHILD: &str = "RUNTIME_TEST_SECCOMP_CHILD";

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn build_explains_io_uring_setup_denied_by_seccomp() {
    const NAME: &str = "build_explains_io_uring_setup_denied_by_seccomp";
    if std::env::var_os(SECCOMP_CHILD).is_some() {
        match deny_io_uring_setup() {
            Ok(()) => {
                let mut forced = runtime::Builder::new();
                forced.driver(runtime::DriverChoice::IoUring);
                match forced.build() {
                    Ok(_) => println!("CHILD: build succeeded despite the filter"),
                    Err(e) => println!("CHILD: build failed: {e}"),
                }
                let mut auto = runtime::Builder::new();
                auto.driver(runtime::DriverChoice::Auto);
                match auto.build() {
                    Ok(rt) => {
                        let kind = rt.block_on(async {
                            runtime::time::sleep(Duration::from_millis(1)).await;
                            runtime::driver_kind()
                        });
                        println!("CHILD: auto runs {kind:?}");
                    }
                    Err(e) => println!("CHILD: auto build failed: {e}"),
                }
            }
            Err(e) => println!("CHILD-SKIP: could not install a seccomp filter: {e}"),
        }
        return;
    }
    let _w = watchdog(NAME, Duration::from_secs(20));
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
        .env(SECCOMP_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    if stdout.contains("CHILD-SKIP") {
        eprintln!("skipped: {stdout}");
        return;
    }
    assert!(
        stdout.contains("CHILD: build failed"),
        "child output:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("EPERM"), "{stdout}");
    assert!(stdout.contains("kernel.io_uring_disabled"), "{stdout}");
    assert!(stdout.contains("seccomp"), "{stdout}");
    // Without forcing io_uring, the same process runs on the fallback driver.
    assert!(
        stdout.contains("CHILD: auto runs Some(Fallback)"),
        "{stdout}"
    );
}

/// Installs a seccomp filter on this thread that fails `io_uring_setup` with EPERM, as
/// Docker's default profile does.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn deny_io_uring_setup() -> std::io::Result<()> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, sock_filter, sock_fprog};
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    // Offsets in struct seccomp_data: nr at 0, arch at 4.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| sock_filter {
        code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let filter = [
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH),
        jeq(AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR),
        jeq(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `prog` points to `filter`, both alive for the call; the kernel copies them.
    if unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const sock_fprog,
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Two blocking jobs submitted back to back while one pool thread is idle: the second gets
/// a thread of its own. Before the fix both counted on the one idle thread, so the second
/// waited behind the first, here for ever (the first waits for the second; it gives up
/// after 10 s so the test fails instead of hanging).
#[test]
fn a_second_blocking_job_does_not_wait_behind_the_first() {
    let _w = watchdog(
        "a_second_blocking_job_does_not_wait_behind_the_first",
        Duration::from_secs(30),
    );
    // One pool thread, idle (it stays 10 s).
    let (warm_tx, warm_rx) = std::sync::mpsc::channel();
    drop(runtime::spawn_blocking(move || warm_tx.send(()).unwrap()));
    warm_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let (b_tx, b_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    drop(runtime::spawn_blocking(move || {
        let got = b_rx.recv_timeout(Duration::from_secs(10)).is_ok();
        done_tx.send(got).unwrap();
    }));
    drop(runtime::spawn_blocking(move || b_tx.send(()).unwrap()));
    assert!(done_rx.recv().unwrap(), "the second job never ran");
}

/// A `JoinHandle` of runtime A awaited by a task of runtime B, and A dropped: the awaiting
/// task is woken and gets `Aborted`. Before the fix A's shutdown dropped the stored waker
/// unwoken and the task waited for ever.
#[test]
fn a_join_handle_of_a_dropped_runtime_resolves() {
    let _w = watchdog(
        "a_join_handle_of_a_dropped_runtime_resolves",
        Duration::from_secs(30),
    );
    let a = Runtime::new().unwrap();
    // The handle leaves its runtime's `block_on` unawaited: that is the point.
    #[allow(clippy::async_yields_async)]
    let handle = a.block_on(async { spawn(std::future::pending::<()>()) });
    let b = Runtime::new().unwrap();
    let out = b.block_on(async move {
        let waiter = spawn(handle);
        spawn(async move {
            runtime::time::sleep(Duration::from_millis(20)).await;
            drop(a);
        });
        timeout(Duration::from_secs(10), waiter).await
    });
    let joined = out.expect("the awaiting task was never woken").unwrap();
    assert!(matches!(joined, Err(JoinError::Aborted)), "{joined:?}");
}

/// A handle kept after its task's output was taken names a slab slot and 16-bit generation
/// that the 65,536th later spawn gets again: `abort` and `is_finished` must not reach that
/// task. Before the fix `abort` aborted it.
#[test]
fn a_stale_join_handle_does_not_abort_a_later_task() {
    let _w = watchdog(
        "a_stale_join_handle_does_not_abort_a_later_task",
        Duration::from_secs(60),
    );
    let out = Runtime::new().unwrap().block_on(async {
        let mut first = spawn(async {});
        (&mut first).await.unwrap();
        for _ in 0..65_535 {
            spawn(async {}).await.unwrap();
        }
        let later = spawn(async {
            runtime::time::sleep(Duration::from_millis(10)).await;
            7
        });
        first.abort();
        assert!(first.is_finished());
        later.await
    });
    assert!(matches!(out, Ok(7)), "{out:?}");
}

/// Panics when dropped (unless already unwinding).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a future's drop panics");
        }
    }
}

/// Aborting a task whose future panics when dropped: the handle resolves with the panic,
/// and `abort` does not panic. Before the fix the panic left `abort`, and the handle never
/// resolved (the task stayed "running" with no future).
#[test]
fn aborting_a_future_whose_drop_panics_resolves_its_handle() {
    let _w = watchdog(
        "aborting_a_future_whose_drop_panics_resolves_its_handle",
        Duration::from_secs(30),
    );
    Runtime::new().unwrap().block_on(async {
        let mut handle = spawn(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await
        });
        yield_now().await;
        handle.abort();
        let joined = timeout(Duration::from_secs(10), &mut handle)
            .await
            .expect("the handle never resolved");
        assert!(matches!(joined, Err(JoinError::Panicked(_))), "{joined:?}");
        // And a task whose future panics when dropped after it finished.
        let finished = spawn(async {
            let _p = PanicOnDrop;
            5
        })
        .await;
        assert!(
            matches!(finished, Err(JoinError::Panicked(_))),
            "{finished:?}"
        );
    });
}

/// A waker that spawns when it is dropped.
struct SpawnWhenDropped;

impl std::task::Wake for SpawnWhenDropped {
    fn wake(self: std::sync::Arc<Self>) {}
}

impl Drop for SpawnWhenDropped {
    fn drop(&mut self) {
        drop(spawn(async {}));
    }
}

/// A `JoinHandle` polled with a waker whose drop spawns, then polled with another: the
/// replaced waker is dropped outside the task slab's borrow. Before the fix the spawn in its
/// drop panicked inside the runtime ("already borrowed").
#[test]
fn a_join_handle_waker_may_spawn_when_replaced() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    Runtime::new().unwrap().block_on(async {
        let mut handle = spawn(std::future::pending::<()>());
        let first = Waker::from(std::sync::Arc::new(SpawnWhenDropped));
        assert!(
            Pin::new(&mut handle)
                .poll(&mut Context::from_waker(&first))
                .is_pending()
        );
        drop(first);
        poll_fn(|cx| {
            assert!(Pin::new(&mut handle).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        handle.abort();
    });
}

//! Memory-safety holes reachable from safe code, shown with canaries.
//!
//! AddressSanitizer does not see the kernel's writes, so each test frees (wrongly, on the
//! code it guards against) a buffer the kernel may still write to, then allocates many
//! "victims" of the same size filled with `0xA5`, lets the peer send `0x5A` bytes and
//! the runtime's loop run, and checks that no victim changed. Where it applies, it also
//! checks that registrations (buffer groups) and io_uring instances are gone.
//!
//! Every finding is printed to fd 2 as soon as it is found (`Problems`), so a later abort
//! (heap corruption) or hang (caught by the watchdog, which aborts) still shows it. Run one
//! test at a time (`-- --exact NAME --nocapture`) to see each one's own outcome.

mod support;

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use net::TcpStream;
use runtime::Runtime;
use runtime::buf::BufPool;
use support::{
    Problems, VICTIM, Victims, XorShift, io_uring_fds, panic_message, peer_send, poll_inside,
    poll_outside, run_loop, say, serial, settle, std_pair, watchdog,
};

/// The read future of the tests: owns its stream (an `Rc`) and its buffer.
type ReadFut = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)>>>;

/// Each test's watchdog limit (every test ends in well under a second when nothing hangs).
const LIMIT: Duration = Duration::from_secs(20);
/// The read buffer's size: victims of exactly this size reuse a freed one.
const BUF: usize = 4096;
/// How many victims of each size.
const VICTIMS: usize = 64;
/// How long the runtime's loop runs so that the kernel completes what it can.
const SETTLE: Duration = Duration::from_millis(20);

fn read_future(stream: &Rc<TcpStream>, buf: Vec<u8>) -> ReadFut {
    let s = stream.clone();
    Box::pin(async move { s.read(buf).await })
}

/// A stream on our side of a fresh loopback pair, and the (std) peer.
fn stream_pair() -> (Rc<TcpStream>, std::net::TcpStream) {
    let (ours, peer) = std_pair();
    (Rc::new(TcpStream::from_std(ours)), peer)
}

/// Polls `fut` once inside `rt.block_on` and checks it is in flight (nothing was sent).
fn submit_in(rt: &Runtime, fut: &mut ReadFut) {
    match poll_inside(rt, fut.as_mut(), 3) {
        Poll::Pending => {}
        Poll::Ready((res, _)) => {
            panic!("the read completed before the peer sent anything: {res:?}")
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. An op leaves its runtime's context.
// ---------------------------------------------------------------------------------------

/// A read future polled (submitted) in `block_on`, then dropped outside it while the runtime
/// lives: before the fix, its buffer is freed while the kernel's recv still targets it.
#[test]
fn read_dropped_outside_block_on() {
    let _s = serial();
    let _w = watchdog("read_dropped_outside_block_on", LIMIT);
    let mut p = Problems::new("read_dropped_outside_block_on");
    let (stream, peer) = stream_pair();
    let rt = Runtime::new().unwrap();
    let mut fut = read_future(&stream, vec![0; BUF]);
    submit_in(&rt, &mut fut);
    drop(fut);
    let victims = Victims::none().add(BUF, VICTIMS);
    peer_send(&peer, BUF);
    run_loop(&rt, SETTLE);
    victims.report(&mut p);
    drop(rt);
    drop(stream);
    p.check();
}

/// The same future polled outside `block_on` (no-op waker): before the fix, it returns its buffer
/// (with a "no runtime" error) while the SQE is in flight, and the kernel then writes into a
/// buffer the caller owns again. A fixed runtime hands the buffer back only once the kernel
/// released it (or stays Pending).
#[test]
fn read_polled_outside_block_on() {
    let _s = serial();
    let _w = watchdog("read_polled_outside_block_on", LIMIT);
    let mut p = Problems::new("read_polled_outside_block_on");
    let (stream, peer) = stream_pair();
    let rt = Runtime::new().unwrap();
    let mut fut = read_future(&stream, vec![0; BUF]);
    submit_in(&rt, &mut fut);
    let mut handed_back = None;
    for _ in 0..3 {
        if let Poll::Ready((res, buf)) = poll_outside(fut.as_mut()) {
            say(&format!(
                "[read_polled_outside_block_on] polled outside block_on: Ready({res:?}), \
                 buffer of {} bytes",
                buf.capacity()
            ));
            handed_back = Some(buf);
            break;
        }
    }
    // Done (or still pending: then this drop is the case of read_dropped_outside_block_on).
    drop(fut);
    let mut buf = handed_back;
    if let Some(buf) = buf.as_mut() {
        let cap = buf.capacity();
        buf.clear();
        buf.resize(cap, VICTIM);
    }
    let victims = Victims::none().add(BUF, VICTIMS);
    peer_send(&peer, BUF);
    run_loop(&rt, SETTLE);
    if let Some(buf) = &buf {
        let changed = buf.iter().filter(|&&b| b != VICTIM).count();
        p.expect(
            changed == 0,
            format!(
                "the kernel wrote {changed} bytes into the buffer the op handed back \
                 (polled outside block_on)"
            ),
        );
    }
    victims.report(&mut p);
    drop(buf);
    drop(rt);
    drop(stream);
    p.check();
}

/// A `read_exact` that already holds part of its bytes, dropped outside `block_on` while its
/// `MSG_WAITALL` receive waits for the rest: the kernel (or the fallback's emulation) has
/// written into the buffer at an offset and goes on writing there when the rest arrives. The
/// buffer must stay the op's until its last completion (no victim changes), and nothing the
/// peer sent may be lost: the next `read_exact` gets every byte, in order.
#[test]
fn read_exact_dropped_mid_transfer() {
    let _s = serial();
    let _w = watchdog("read_exact_dropped_mid_transfer", LIMIT);
    let mut p = Problems::new("read_exact_dropped_mid_transfer");
    let (ours, peer) = std_pair();
    let rt = Runtime::new().unwrap();
    let stream = TcpStream::from_std(ours);
    // Bytes that say where they belong, so a lost or reordered piece shows.
    let sent: Vec<u8> = (0..BUF).map(|i| (i % 251) as u8).collect();
    let (first, rest) = sent.split_at(BUF / 2);
    {
        let mut fut = pin!(stream.read_exact(Vec::with_capacity(BUF)));
        assert!(
            poll_inside(&rt, fut.as_mut(), 3).is_pending(),
            "nothing was sent yet"
        );
        std::io::Write::write_all(&mut &peer, first).expect("peer write");
        // Let the first half land in the buffer while the read waits for the rest.
        let mut polls = 0;
        let mut queued: libc::c_int = 1;
        while polls < 20 && queued > 0 {
            assert!(
                poll_inside(&rt, fut.as_mut(), 3).is_pending(),
                "half was sent"
            );
            // SAFETY: FIONREAD writes one int, into `queued`.
            let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut queued) };
            assert_eq!(r, 0, "FIONREAD: {}", io::Error::last_os_error());
            polls += 1;
        }
        // Otherwise this would be read_dropped_outside_block_on again.
        assert_eq!(
            queued, 0,
            "the first half never left the socket for the read's buffer"
        );
        // Dropped here, outside block_on, mid-transfer.
    }
    let victims = Victims::none().add(BUF, VICTIMS);
    std::io::Write::write_all(&mut &peer, rest).expect("peer write");
    run_loop(&rt, SETTLE);
    victims.report(&mut p);
    let (res, got) = rt.block_on(async {
        runtime::time::timeout(
            Duration::from_secs(5),
            stream.read_exact(Vec::with_capacity(BUF)),
        )
        .await
        .unwrap_or_else(|_| (Err(io::ErrorKind::TimedOut.into()), Vec::new()))
    });
    match res {
        Ok(()) => p.expect(
            got == sent,
            format!(
                "the read after the dropped read_exact got other bytes than were sent (first \
                 difference at byte {:?})",
                got.iter().zip(&sent).position(|(a, b)| a != b)
            ),
        ),
        Err(e) => p.add(format!(
            "the read after the dropped read_exact failed ({e}): bytes were lost"
        )),
    }
    drop(rt);
    drop(stream);
    p.check();
}

/// A multishot receive (RecvStream) armed in `block_on`, then the stream and its pool
/// dropped outside it: before the fix, the pool's memory is freed while its buffer group stays
/// registered and the multishot armed, so the kernel writes into freed memory, and the group
/// id stays taken (EEXIST).
#[test]
fn recv_stream_dropped_outside_block_on() {
    let _s = serial();
    let _w = watchdog("recv_stream_dropped_outside_block_on", LIMIT);
    let mut p = Problems::new("recv_stream_dropped_outside_block_on");
    let (stream, peer) = stream_pair();
    let rt = Runtime::new().unwrap();
    let group = 0x51c;
    let pool = rt
        .block_on(async { BufPool::new(group, 8, BUF) })
        .expect("a buffer pool (kernel 5.19+)");
    // Victims of the size of the pool's memory (its buffers are padded), which they reuse.
    let pool_memory = pool.memory_len();
    let mut rs = stream.recv_stream(&pool);
    {
        let next = pin!(rs.next());
        assert!(
            poll_inside(&rt, next, 3).is_pending(),
            "nothing was sent yet"
        );
    }
    drop(rs);
    drop(pool);
    let victims = Victims::none().add(pool_memory, 16).add(BUF, VICTIMS);
    peer_send(&peer, BUF);
    run_loop(&rt, SETTLE);
    victims.report(&mut p);
    match rt.block_on(async { BufPool::new(group, 8, BUF).map(drop) }) {
        Ok(()) => {}
        Err(e) => p.add(format!(
            "re-registering buffer group {group} failed ({e}): the pool dropped outside \
             block_on left its group registered"
        )),
    }
    drop(rt);
    drop(stream);
    p.check();
}

/// A forward (multishot receive into a pool, sends from the reap) armed in `block_on`, then
/// dropped outside it with its pool: the pool's memory must stay until the receive's final
/// CQE, and its group must be free again after.
#[test]
fn forward_dropped_outside_block_on() {
    let _s = serial();
    let _w = watchdog("forward_dropped_outside_block_on", LIMIT);
    let mut p = Problems::new("forward_dropped_outside_block_on");
    let (stream, peer) = stream_pair();
    let rt = Runtime::new().unwrap();
    let group = 0x51d;
    let pool = rt
        .block_on(async { BufPool::new(group, 8, BUF) })
        .expect("a buffer pool (kernel 5.19+)");
    let pool_memory = pool.memory_len();
    {
        let forward = pin!(stream.forward_to(&stream, &pool));
        assert!(
            poll_inside(&rt, forward, 3).is_pending(),
            "nothing was sent yet"
        );
    }
    drop(pool);
    let victims = Victims::none().add(pool_memory, 16).add(BUF, VICTIMS);
    peer_send(&peer, BUF);
    run_loop(&rt, SETTLE);
    victims.report(&mut p);
    match rt.block_on(async { BufPool::new(group, 8, BUF).map(drop) }) {
        Ok(()) => {}
        Err(e) => p.add(format!(
            "re-registering buffer group {group} failed ({e}): the dropped forward left its \
             pool registered"
        )),
    }
    drop(rt);
    drop(stream);
    p.check();
}

/// A forward armed in `block_on`, its runtime dropped, then the forward and its pool: no
/// write into freed memory, and no ring left open.
#[test]
fn forward_alive_after_runtime_dropped() {
    let _s = serial();
    let _w = watchdog("forward_alive_after_runtime_dropped", LIMIT);
    let mut p = Problems::new("forward_alive_after_runtime_dropped");
    let (stream, peer) = stream_pair();
    let base = io_uring_fds();
    let rt = Runtime::new().unwrap();
    let pool = rt
        .block_on(async { BufPool::new(0x51e, 8, BUF) })
        .expect("a buffer pool (kernel 5.19+)");
    let pool_memory = pool.memory_len();
    let mut forward = Box::pin(stream.forward_to(&stream, &pool));
    assert!(
        poll_inside(&rt, forward.as_mut(), 3).is_pending(),
        "nothing was sent yet"
    );
    drop(rt);
    drop(forward);
    drop(pool);
    let victims = Victims::none().add(pool_memory, 16).add(BUF, VICTIMS);
    peer_send(&peer, BUF);
    let other = Runtime::new().unwrap();
    run_loop(&other, SETTLE);
    drop(other);
    victims.report(&mut p);
    let now = io_uring_fds();
    p.expect(
        now == base,
        format!("{now} io_uring fds open, {base} before the runtime was created"),
    );
    drop(stream);
    p.check();
}

/// Runtime A's read, polled in A, dropped inside runtime B's `block_on` (two runtimes on one
/// thread): before the fix, B's driver looks the op up in its own slab (unreachable! panic, or another
/// op's slot), and A's buffer is freed while A's kernel still targets it.
#[test]
fn op_of_a_dropped_inside_b() {
    let _s = serial();
    let _w = watchdog("op_of_a_dropped_inside_b", LIMIT);
    let mut p = Problems::new("op_of_a_dropped_inside_b");
    let (stream, peer) = stream_pair();
    let a = Runtime::new().unwrap();
    let b = Runtime::new().unwrap();
    let mut fut = read_future(&stream, vec![0; BUF]);
    submit_in(&a, &mut fut);
    let dropped = catch_unwind(AssertUnwindSafe(|| b.block_on(async move { drop(fut) })));
    // Victims first: the report below allocates, and could take the freed buffer's memory.
    let victims = Victims::none().add(BUF, VICTIMS);
    if let Err(panic) = dropped {
        p.add(format!(
            "dropping A's op inside B.block_on panicked: {}",
            panic_message(&*panic)
        ));
    }
    peer_send(&peer, BUF);
    run_loop(&a, SETTLE);
    run_loop(&b, Duration::from_millis(2));
    victims.report(&mut p);
    drop(b);
    drop(a);
    drop(stream);
    p.check();
}

/// A read polled in `block_on`, the runtime dropped, then the future dropped: its buffer
/// must not be written after it is freed, and the ring must be gone once both are.
#[test]
fn op_alive_after_runtime_dropped() {
    let _s = serial();
    let _w = watchdog("op_alive_after_runtime_dropped", LIMIT);
    let mut p = Problems::new("op_alive_after_runtime_dropped");
    let (stream, peer) = stream_pair();
    let base = io_uring_fds();
    let rt = Runtime::new().unwrap();
    let mut fut = read_future(&stream, vec![0; BUF]);
    submit_in(&rt, &mut fut);
    drop(rt);
    drop(fut);
    let victims = Victims::none().add(BUF, VICTIMS);
    peer_send(&peer, BUF);
    // Whatever ring is left runs its work when some runtime enters; give it the chance.
    let other = Runtime::new().unwrap();
    run_loop(&other, SETTLE);
    drop(other);
    victims.report(&mut p);
    let now = io_uring_fds();
    p.expect(
        now == base,
        format!("{now} io_uring fds open, {base} before the runtime was created"),
    );
    drop(stream);
    p.check();
}

/// As [`op_alive_after_runtime_dropped`], but the future is dropped inside a new runtime's
/// `block_on`: before the fix, the new runtime's driver takes the dead runtime's op key for one of its
/// own (unreachable! panic, or another op's slot).
#[test]
fn op_of_a_dropped_runtime_dropped_inside_another() {
    let _s = serial();
    let _w = watchdog("op_of_a_dropped_runtime_dropped_inside_another", LIMIT);
    let mut p = Problems::new("op_of_a_dropped_runtime_dropped_inside_another");
    let (stream, peer) = stream_pair();
    let base = io_uring_fds();
    let rt = Runtime::new().unwrap();
    let mut fut = read_future(&stream, vec![0; BUF]);
    submit_in(&rt, &mut fut);
    drop(rt);
    let c = Runtime::new().unwrap();
    let dropped = catch_unwind(AssertUnwindSafe(|| c.block_on(async move { drop(fut) })));
    let victims = Victims::none().add(BUF, VICTIMS);
    if let Err(panic) = dropped {
        p.add(format!(
            "dropping the op of a dropped runtime inside another runtime's block_on panicked: {}",
            panic_message(&*panic)
        ));
    }
    peer_send(&peer, BUF);
    run_loop(&c, SETTLE);
    drop(c);
    victims.report(&mut p);
    let now = io_uring_fds();
    p.expect(
        now == base,
        format!("{now} io_uring fds open, {base} before the runtimes were created"),
    );
    drop(stream);
    p.check();
}

/// A JoinHandle of a task that awaits a read, kept after the runtime is dropped, then
/// dropped: no write into freed memory, and the ring goes with the last handle.
#[test]
// The handle is returned out of block_on on purpose, not awaited.
#[allow(clippy::async_yields_async)]
fn join_handle_outlives_runtime() {
    let _s = serial();
    let _w = watchdog("join_handle_outlives_runtime", LIMIT);
    let mut p = Problems::new("join_handle_outlives_runtime");
    let (stream, peer) = stream_pair();
    let base = io_uring_fds();
    let rt = Runtime::new().unwrap();
    let s = stream.clone();
    let handle = rt.block_on(async move {
        let h = runtime::spawn(async move { s.read(vec![0; BUF]).await });
        for _ in 0..3 {
            runtime::yield_now().await;
        }
        h
    });
    drop(rt);
    drop(handle);
    let victims = Victims::none().add(BUF, VICTIMS);
    peer_send(&peer, BUF);
    let other = Runtime::new().unwrap();
    run_loop(&other, SETTLE);
    drop(other);
    victims.report(&mut p);
    let now = io_uring_fds();
    p.expect(
        now == base,
        format!("{now} io_uring fds open, {base} before the runtime was created"),
    );
    drop(stream);
    p.check();
}

// ---------------------------------------------------------------------------------------
// 7. A pool dropped where its runtime's driver cannot be reached.
// ---------------------------------------------------------------------------------------

/// A RecvStream abandoned together with its pool: the abandoned multishot holds the last
/// pool clone, so its final CQE drops the pool inside the driver's reap, where the driver
/// is borrowed. Before the fix, the unregister is skipped: the group stays registered over freed
/// memory, and the same group id cannot be registered again (EEXIST).
#[test]
fn pool_dropped_while_driver_busy() {
    let _s = serial();
    let _w = watchdog("pool_dropped_while_driver_busy", LIMIT);
    let mut p = Problems::new("pool_dropped_while_driver_busy");
    let (stream, peer) = stream_pair();
    let rt = Runtime::new().unwrap();
    let group = 0x517;
    let s = stream.clone();
    let (left, pool_memory) = rt.block_on(async move {
        let pool = BufPool::new(group, 8, BUF).expect("a buffer pool (kernel 5.19+)");
        let pool_memory = pool.memory_len();
        let mut rs = s.recv_stream(&pool);
        {
            let mut next = pin!(rs.next());
            let first = std::future::poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await;
            assert!(first.is_pending(), "nothing was sent yet");
        }
        for _ in 0..3 {
            runtime::yield_now().await;
        }
        drop(rs);
        drop(pool);
        (settle(Duration::from_secs(2)).await, pool_memory)
    });
    p.expect(left == 0, format!("{left} ops still in flight after 2 s"));
    let victims = Victims::none().add(pool_memory, 16).add(BUF, VICTIMS);
    peer_send(&peer, BUF);
    run_loop(&rt, SETTLE);
    victims.report(&mut p);
    match rt.block_on(async { BufPool::new(group, 8, BUF).map(drop) }) {
        Ok(()) => {}
        Err(e) => p.add(format!(
            "re-registering buffer group {group} failed ({e}): the pool dropped inside the \
             driver left its group registered"
        )),
    }
    drop(rt);
    drop(stream);
    p.check();
}

/// Runtime A's pool dropped inside runtime B's `block_on`: before the fix, the unregister goes to B's
/// ring, A's group stays registered over the freed pool memory (a recv on A that selects
/// that group, here through a pool of the same id made on B, writes into it), and A cannot
/// register the group again (EEXIST).
#[test]
fn pool_dropped_in_other_runtime() {
    let _s = serial();
    let _w = watchdog("pool_dropped_in_other_runtime", LIMIT);
    let mut p = Problems::new("pool_dropped_in_other_runtime");
    let (stream, peer) = stream_pair();
    let a = Runtime::new().unwrap();
    let b = Runtime::new().unwrap();
    let group = 0x518;
    let pool = a
        .block_on(async { BufPool::new(group, 8, BUF) })
        .expect("a buffer pool (kernel 5.19+)");
    let pool_memory = pool.memory_len();
    b.block_on(async move { drop(pool) });
    let victims = Victims::none().add(pool_memory, 16).add(BUF, VICTIMS);
    // Does A's ring still hand out the freed memory? A recv on A that selects the group id.
    // (Using B's pool on A may well be refused, even by a panic: that is fine here.)
    match b.block_on(async { BufPool::new(group, 8, BUF) }) {
        Ok(pool_b) => {
            let mut rs = stream.recv_stream(&pool_b);
            let armed = catch_unwind(AssertUnwindSafe(|| {
                let next = pin!(rs.next());
                let _ = poll_inside(&a, next, 3);
            }));
            if let Err(panic) = &armed {
                say(&format!(
                    "[pool_dropped_in_other_runtime] (fine) B's pool refused on A: {}",
                    panic_message(&**panic)
                ));
            }
            peer_send(&peer, BUF);
            run_loop(&a, SETTLE);
            victims.report(&mut p);
            let _ = catch_unwind(AssertUnwindSafe(|| a.block_on(async move { drop(rs) })));
            b.block_on(async move { drop(pool_b) });
        }
        Err(e) => say(&format!(
            "[pool_dropped_in_other_runtime] (skipped the canary part) B could not register \
             group {group}: {e}"
        )),
    }
    match a.block_on(async { BufPool::new(group, 8, BUF).map(drop) }) {
        Ok(()) => {}
        Err(e) => p.add(format!(
            "re-registering buffer group {group} on A failed ({e}): A's pool dropped inside \
             B.block_on left its group registered on A"
        )),
    }
    drop(b);
    drop(a);
    drop(stream);
    p.check();
}

// ---------------------------------------------------------------------------------------
// 8. A close pushed at the last turn.
// ---------------------------------------------------------------------------------------

/// What `/proc/self/fd/FD` links to, if open.
fn fd_target(fd: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

/// A TcpStream dropped as the last thing `block_on`'s future does: before the fix, its close is
/// pushed on the ring and never submitted (no turn follows), so the socket stays open until
/// some later `block_on`, if any.
#[test]
fn close_after_last_turn_tcp() {
    let _s = serial();
    let _w = watchdog("close_after_last_turn_tcp", LIMIT);
    let mut p = Problems::new("close_after_last_turn_tcp");
    let (ours, _peer) = std_pair();
    let raw = ours.as_raw_fd();
    let target = fd_target(raw).expect("our socket's fd");
    let rt = Runtime::new().unwrap();
    rt.block_on(async move { drop(TcpStream::from_std(ours)) });
    let now = fd_target(raw);
    p.expect(
        now.as_ref() != Some(&target),
        format!(
            "fd {raw} ({}) is still open after block_on returned, though its TcpStream was \
             dropped inside",
            target.display()
        ),
    );
    drop(rt);
    p.check();
}

/// A TcpStream made in `block_on` and dropped outside it (the runtime alive, no further
/// `block_on`): its fd is closed at once.
#[test]
fn close_outside_block_on_tcp() {
    let _s = serial();
    let _w = watchdog("close_outside_block_on_tcp", LIMIT);
    let mut p = Problems::new("close_outside_block_on_tcp");
    let (ours, _peer) = std_pair();
    let raw = ours.as_raw_fd();
    let target = fd_target(raw).expect("our socket's fd");
    let rt = Runtime::new().unwrap();
    let stream = rt.block_on(async move { TcpStream::from_std(ours) });
    drop(stream);
    let now = fd_target(raw);
    p.expect(
        now.as_ref() != Some(&target),
        format!(
            "fd {raw} ({}) is still open after its TcpStream was dropped outside block_on",
            target.display()
        ),
    );
    drop(rt);
    p.check();
}

// ---------------------------------------------------------------------------------------
// 11. A property: random polls, drops and runtime drops never let the kernel write into
// freed memory, never panic, and leave no ring behind.
// ---------------------------------------------------------------------------------------

const SEEDS: u64 = 32;
const STEPS: usize = 48;
const CONNS: usize = 4;

struct World {
    rng: XorShift,
    rts: [Option<Runtime>; 2],
    conns: Vec<(Rc<TcpStream>, std::net::TcpStream)>,
    futs: Vec<ReadFut>,
    trace: Vec<String>,
}

impl World {
    fn rt(&mut self, i: usize) -> &Runtime {
        if self.rts[i].is_none() {
            self.trace.push(format!("recreate rt{i}"));
            self.rts[i] = Some(Runtime::new().expect("a runtime"));
        }
        self.rts[i].as_ref().unwrap()
    }

    fn pick(&mut self) -> Option<usize> {
        (!self.futs.is_empty()).then(|| self.rng.below(self.futs.len()))
    }

    fn create(&mut self) {
        let c = self.rng.below(CONNS);
        let size = [512, BUF][self.rng.below(2)];
        self.trace.push(format!("create on conn{c} ({size} B)"));
        let fut = read_future(&self.conns[c].0, vec![0; size]);
        self.futs.push(fut);
    }

    fn poll_in(&mut self, r: usize) {
        let Some(i) = self.pick() else { return };
        let turns = self.rng.below(3);
        self.trace.push(format!("poll #{i} in rt{r}"));
        self.rt(r);
        let rt = self.rts[r].as_ref().unwrap();
        if poll_inside(rt, self.futs[i].as_mut(), turns).is_ready() {
            drop(self.futs.swap_remove(i));
        }
    }

    fn step(&mut self) {
        match self.rng.below(13) {
            0 | 1 => self.create(),
            2 | 3 => {
                let r = self.rng.below(2);
                self.poll_in(r);
            }
            4 => {
                let Some(i) = self.pick() else { return };
                self.trace.push(format!("poll #{i} outside"));
                if poll_outside(self.futs[i].as_mut()).is_ready() {
                    drop(self.futs.swap_remove(i));
                }
            }
            5 | 6 => {
                let Some(i) = self.pick() else { return };
                let r = self.rng.below(2);
                self.trace.push(format!("drop #{i} in rt{r}"));
                let fut = self.futs.swap_remove(i);
                self.rt(r).block_on(async move { drop(fut) });
            }
            7 => {
                let Some(i) = self.pick() else { return };
                self.trace.push(format!("drop #{i} outside"));
                drop(self.futs.swap_remove(i));
            }
            8 => {
                let r = self.rng.below(2);
                if self.rts[r].is_some() {
                    self.trace.push(format!("drop rt{r}"));
                    self.rts[r] = None;
                }
            }
            9 => {
                let c = self.rng.below(CONNS);
                let n = 1 + self.rng.below(256);
                self.trace.push(format!("peer{c} sends {n}"));
                peer_send(&self.conns[c].1, n);
            }
            10 => {
                let r = self.rng.below(2);
                if let Some(rt) = &self.rts[r] {
                    self.trace.push(format!("run rt{r}"));
                    run_loop(rt, Duration::from_millis(1));
                }
            }
            11 => {
                self.create();
                let r = self.rng.below(2);
                self.poll_in(r);
            }
            _ => {
                // Moved into a detached task of a runtime (maybe not the one it was first
                // polled in), which polls it from then on.
                let Some(i) = self.pick() else { return };
                let r = self.rng.below(2);
                self.trace.push(format!("spawn #{i} on rt{r}"));
                let fut = self.futs.swap_remove(i);
                self.rt(r).block_on(async move {
                    drop(runtime::spawn(async move {
                        drop(fut.await);
                    }));
                    runtime::yield_now().await;
                });
            }
        }
    }

    /// Drops every future, then checks with victims that no buffer is written after.
    fn finish(&mut self) -> Result<(), String> {
        while let Some(fut) = self.futs.pop() {
            drop(fut);
        }
        let victims = Victims::none().add(BUF, VICTIMS).add(512, VICTIMS);
        for (_, peer) in &self.conns {
            peer_send(peer, BUF);
        }
        for rt in self.rts.iter().flatten() {
            run_loop(rt, Duration::from_millis(3));
        }
        let changed = victims.changed();
        if !changed.is_empty() {
            return Err(format!("{} victims changed: {}", changed.len(), changed[0]));
        }
        self.rts = [None, None];
        self.conns.clear();
        Ok(())
    }
}

fn run_seed(seed: u64, base: usize) -> Result<(), String> {
    let mut world = World {
        rng: XorShift::new(seed),
        rts: [
            Some(Runtime::new().map_err(|e| e.to_string())?),
            Some(Runtime::new().map_err(|e| e.to_string())?),
        ],
        conns: (0..CONNS).map(|_| stream_pair()).collect(),
        futs: Vec::new(),
        trace: Vec::new(),
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for _ in 0..STEPS {
            world.step();
        }
        world.finish()
    }));
    let trace = |w: &World| {
        let t = &w.trace;
        let from = t.len().saturating_sub(12);
        t[from..].join("; ")
    };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => return Err(format!("{msg} (last steps: {})", trace(&world))),
        Err(panic) => {
            let msg = format!(
                "panicked: {} (last steps: {})",
                panic_message(&*panic),
                trace(&world)
            );
            // The state may be broken: leak it rather than risk freeing what the kernel
            // still writes to (or a second panic while dropping).
            std::mem::forget(world);
            return Err(msg);
        }
    }
    drop(world);
    let now = io_uring_fds();
    if now != base {
        return Err(format!(
            "{now} io_uring fds open after the seed, {base} before"
        ));
    }
    Ok(())
}

#[test]
fn property_random_drops_polls_moves() {
    let _s = serial();
    let _w = watchdog("property_random_drops_polls_moves", LIMIT);
    let mut p = Problems::new("property_random_drops_polls_moves");
    let base = io_uring_fds();
    for seed in 0..SEEDS {
        if let Err(msg) = run_seed(seed, base) {
            p.add(format!("seed {seed}: {msg}"));
            break;
        }
    }
    p.check();
}

//! `SendQueue`: batches go out whole and in order, their completion wakes nobody, their
//! buffers come back without the task, a dropped queue's batch still goes out (from memory
//! nobody else got), and a gap is reported; hostile buffers and callers (a `Drop` that
//! panics or sends again from the reap, another runtime, a write racing a send) get no
//! leak, hang or reordering. Batches over 64 KiB (a queue's, `write_all_vectored`'s) go in
//! parts that no other write comes between, and a dropped one leaves no silent gap.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use net::{TcpListener, TcpStream, UnixStream};
use runtime::buf::IoBuf;
use support::{pattern, run};

async fn pair() -> io::Result<(TcpStream, std::net::TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let peer = std::thread::spawn(move || std::net::TcpStream::connect(addr));
    let (ours, _) = listener.accept().await?;
    Ok((ours, peer.join().expect("connect thread")?))
}

/// Reads `len` bytes from `peer` on a thread of its own, after `delay` (a late reader
/// leaves the sender's sends waiting for room).
fn read_on_a_thread(
    mut peer: impl Read + Send + 'static,
    len: usize,
    delay: Duration,
) -> std::thread::JoinHandle<io::Result<Vec<u8>>> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let mut got = vec![0u8; len];
        peer.read_exact(&mut got).map(|()| got)
    })
}

#[test]
fn batches_arrive_whole_and_in_order() {
    const BATCHES: usize = 200;
    let data = pattern(BATCHES * 3 * 1000);
    let expected = data.clone();
    run(async move {
        let (ours, peer) = pair().await?;
        let total = data.len();
        let reader = read_on_a_thread(peer, total, Duration::ZERO);
        let mut queue = ours.send_queue();
        let mut bufs: Vec<Vec<u8>> = Vec::new();
        // Batches of one, two and three buffers: plain sends (which `.ci/faults` cuts
        // short) and sendmsgs.
        let mut chunks = data.chunks(1000).peekable();
        for batch in [1, 1, 2, 1, 3].into_iter().cycle() {
            if chunks.peek().is_none() {
                break;
            }
            bufs.extend(chunks.by_ref().take(batch).map(<[u8]>::to_vec));
            queue.send(&mut bufs).await?;
            assert!(bufs.is_empty(), "send takes every buffer");
        }
        queue.flush().await?;
        let got = reader.join().expect("reader")?;
        assert!(
            got == expected,
            "the peer got other bytes, or in another order"
        );
        Ok(())
    });
}

/// The point of the queue: a batch's completion does not poll the task. The task sends,
/// then waits on a future that counts its polls; it is woken only after the send's CQE was
/// reaped (the peer has the bytes and the loop turned again).
#[test]
fn a_sent_batch_wakes_nobody() {
    run(async {
        let (ours, mut peer) = pair().await?;
        let polls = Rc::new(Cell::new(0u32));
        let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
        let task = {
            let (polls, parked) = (polls.clone(), parked.clone());
            runtime::spawn(async move {
                let mut queue = ours.send_queue();
                queue.send(&mut vec![b"ping".to_vec()]).await?;
                poll_fn(|cx| {
                    polls.set(polls.get() + 1);
                    if polls.get() > 1 {
                        return Poll::Ready(());
                    }
                    *parked.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                })
                .await;
                queue.flush().await
            })
        };
        let got = runtime::spawn_blocking(move || {
            let mut got = [0u8; 4];
            peer.read_exact(&mut got).map(|()| got)
        })
        .await
        .expect("reader")?;
        assert_eq!(&got, b"ping");
        // More loop turns: the CQE is reaped by now.
        for _ in 0..5 {
            runtime::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(polls.get(), 1, "the send's completion polled the task");
        let waker = parked.borrow_mut().take().expect("the task parked");
        waker.wake();
        task.await.expect("task")?;
        assert_eq!(polls.get(), 2);
        Ok(())
    });
}

/// `IoBuf` for a test buffer whose field 0 is a `Vec<u8>` (the other fields say what its
/// `Drop` does).
macro_rules! vec_buf {
    ($t:ty) => {
        // SAFETY: the bytes are the Vec's heap block, which does not move when the buffer
        // moves and lives until it is dropped; all of it is initialized.
        unsafe impl IoBuf for $t {
            fn stable_ptr(&self) -> *const u8 {
                self.0.as_ptr()
            }
            fn bytes_init(&self) -> usize {
                self.0.len()
            }
            fn bytes_total(&self) -> usize {
                self.0.len()
            }
        }
    };
}

/// A buffer that counts its drops.
struct Counted(Vec<u8>, Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.set(self.1.get() + 1);
    }
}

vec_buf!(Counted);

/// The buffers go back (dropped here; a pool's to its ring) when the kernel has sent them,
/// while the task that sent them waits for something else.
#[test]
fn buffers_are_released_when_sent_without_the_task() {
    run(async {
        let (ours, mut peer) = pair().await?;
        let dropped = Rc::new(Cell::new(0));
        let mut queue = ours.send_queue();
        let mut bufs = vec![
            Counted(b"ab".to_vec(), dropped.clone()),
            Counted(b"cd".to_vec(), dropped.clone()),
        ];
        queue.send(&mut bufs).await?;
        assert_eq!(dropped.get(), 0, "the kernel has them until the CQE");
        let got = runtime::spawn_blocking(move || {
            let mut got = [0u8; 4];
            peer.read_exact(&mut got).map(|()| got)
        })
        .await
        .expect("reader")?;
        assert_eq!(&got, b"abcd");
        for _ in 0..50 {
            if dropped.get() == 2 {
                break;
            }
            runtime::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(dropped.get(), 2, "the sent buffers were not released");
        assert_eq!(support::settle(Duration::from_secs(1)).await, 0);
        queue.flush().await
    });
}

/// A batch the kernel still sends when its queue is dropped (the peer reads later) goes out
/// whole, from memory nobody else was given: victims of the same size allocated after the
/// drop keep their pattern, and the peer gets only the batch's bytes. A write after the
/// drop follows it, in order, and nothing stays in flight.
#[test]
fn a_dropped_queue_still_sends_its_batch_from_its_own_memory() {
    const LEN: usize = 4 << 20;
    run(async {
        let (ours, peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        let mut queue = ours.send_queue();
        queue.send(&mut vec![vec![0x11u8; LEN]]).await?;
        // Let the kernel start: it fills the socket buffer and waits for room.
        runtime::time::sleep(Duration::from_millis(5)).await;
        drop(queue);
        let victims: Vec<Vec<u8>> = (0..8).map(|_| vec![0xA5u8; LEN]).collect();
        let reader = read_on_a_thread(peer, LEN + 5, Duration::ZERO);
        let (res, _) = ours.write_all(b"after".to_vec()).await;
        res?;
        let got = runtime::spawn_blocking(move || reader.join().expect("reader"))
            .await
            .expect("join")?;
        assert!(
            got[..LEN].iter().all(|&b| b == 0x11),
            "the peer got bytes that were not the batch's"
        );
        assert_eq!(&got[LEN..], b"after", "the later write overtook the batch");
        for v in &victims {
            assert!(v.iter().all(|&b| b == 0xA5), "a victim was written to");
        }
        assert_eq!(support::settle(Duration::from_secs(1)).await, 0);
        Ok(())
    });
}

/// A batch the peer's reset cut short is reported by the queue (not by silence), and the
/// queue's later sends fail too.
#[test]
fn a_failed_batch_is_reported() {
    run(async {
        let (ours, peer) = pair().await?;
        // An abortive close: the next send meets a reset.
        socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO))?;
        drop(peer);
        let mut queue = ours.send_queue();
        let mut reported = None;
        for _ in 0..100 {
            let sent = queue.send(&mut vec![vec![7u8; 64 * 1024]]).await;
            if let Err(e) = sent.and(queue.flush().await) {
                reported = Some(e);
                break;
            }
            runtime::time::sleep(Duration::from_millis(1)).await;
        }
        let e = reported.expect("a send to a reset peer never failed");
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
        // Later batches are taken, and fail in turn.
        let later = queue.send(&mut vec![vec![1u8]]).await;
        assert!(later.and(queue.flush().await).is_err());
        Ok(())
    });
}

/// A runtime dropped while a batch is in flight cancels it: the queue, polled after that
/// outside any runtime, reports the gap at once instead of waiting for ever.
#[test]
fn a_batch_cut_by_the_runtimes_end_is_reported_outside_it() {
    let rt = runtime::Runtime::new().expect("runtime");
    let (ours, mut peer) = std::os::unix::net::UnixStream::pair().expect("pair");
    let (ours, mut queue) = rt.block_on(async move {
        let ours = UnixStream::from_std(ours);
        let mut queue = ours.send_queue();
        queue
            .send(&mut vec![vec![3u8; 8 << 20]])
            .await
            .expect("queued");
        runtime::time::sleep(Duration::from_millis(5)).await;
        (ours, queue)
    });
    drop(rt);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut flush = std::pin::pin!(queue.flush());
    match flush.as_mut().poll(&mut cx) {
        Poll::Ready(Err(e)) => assert!(e.to_string().contains("gap"), "{e}"),
        other => panic!("expected the gap reported, got {other:?}"),
    }
    // The kernel had sent a prefix of the batch, nothing else.
    peer.set_nonblocking(true).expect("nonblocking");
    let mut got = Vec::new();
    let _ = peer.read_to_end(&mut got);
    assert!(got.len() < 8 << 20 && got.iter().all(|&b| b == 3));
    drop(ours);
    let _ = peer.write_all(b"x");
}

// Hostile buffers and callers.

/// A buffer whose drop panics (once, when armed).
struct Bomb(Vec<u8>, bool);
impl Drop for Bomb {
    fn drop(&mut self) {
        if self.1 && !std::thread::panicking() {
            panic!("Bomb dropped");
        }
    }
}
vec_buf!(Bomb);

/// A buffer whose `Drop` panics inside the reap (the queue's completion) leaves no slot
/// awaiting a CQE: the slot goes before the owner runs, so nothing stays in flight and the
/// runtime drops at once (not after the 3 s settle limit, leaking).
#[test]
fn a_panicking_buffer_drop_in_the_reap_does_not_leak_the_slot() {
    let rt = runtime::Runtime::new().unwrap();
    let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let ours = rt.block_on(async { UnixStream::from_std(ours) });
    let mut queue = rt.block_on(async { ours.send_queue::<Bomb>() });
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            queue
                .send(&mut vec![Bomb(b"boom".to_vec(), true)])
                .await
                .unwrap();
            for _ in 0..50 {
                runtime::time::sleep(Duration::from_millis(2)).await;
            }
        })
    }));
    assert!(res.is_err(), "the bomb went off in the reap");
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).unwrap();
    let in_flight = rt.block_on(async { support::settle(Duration::from_millis(200)).await });
    drop(queue);
    drop(ours);
    let t = Instant::now();
    drop(rt);
    let dropped_in = t.elapsed();
    assert_eq!(in_flight, 0, "the panicked op's slot stayed in flight");
    assert!(
        dropped_in < Duration::from_secs(1),
        "drop(runtime) took {dropped_in:?}"
    );
}

/// A buffer whose `Drop` panics in the reap does not leave a task that awaits `flush()`
/// parked for good: the waiter is woken before the buffers drop. The reap's panic is caught
/// and the runtime used again, as in the test above.
#[test]
fn a_flush_waiter_is_woken_though_a_buffer_drop_panics_in_the_reap() {
    let rt = runtime::Runtime::new().unwrap();
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let ours = rt.block_on(async { UnixStream::from_std(ours) });
    let mut task = None;
    rt.block_on(async {
        let mut queue = ours.send_queue::<Bomb>();
        task = Some(runtime::spawn(async move {
            queue
                .send(&mut vec![Bomb(vec![1u8; 1 << 20], true)])
                .await
                .unwrap();
            queue.flush().await
        }));
    });
    let task = task.expect("spawned");
    // The peer reads later, so the CQE comes while the task waits in flush.
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let mut peer = peer;
        let mut got = vec![0u8; 1 << 20];
        peer.read_exact(&mut got)
    });
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            for _ in 0..100 {
                runtime::time::sleep(Duration::from_millis(2)).await;
            }
        })
    }));
    assert!(res.is_err(), "the buffer's drop panicked in the reap");
    reader.join().unwrap().unwrap();
    let flushed = rt.block_on(async { runtime::time::timeout(Duration::from_secs(2), task).await });
    assert!(
        flushed.is_ok(),
        "the task awaiting flush() hung after the reap's panic"
    );
}

/// The queue's batch fails and another write of the stream reports the stream's cut first:
/// the queue's flush still reports its own failure (not that everything was sent).
#[test]
fn flush_reports_the_queues_own_failed_batch() {
    support::run(async {
        let (ours, peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        drop(peer);
        let mut queue = ours.send_queue();
        queue.send(&mut vec![vec![1u8; 1000]]).await?;
        // Another writer of the stream (a heartbeat task) meets the queue's gap.
        let (hb, _) = ours.write_all(b"hb".to_vec()).await;
        assert!(hb.is_err());
        let flushed = queue.flush().await;
        assert!(
            flushed.is_err(),
            "flush() said Ok although the queue's batch was never sent"
        );
        Ok(())
    });
}

/// A batch sent on runtime A, flushed inside runtime B's `block_on` (A idle, alive): an
/// error at once, as an op polled so is settled, not a wait for ever (A's ring never turns
/// there).
#[test]
fn flush_in_another_runtime_does_not_hang() {
    let rt_a = runtime::Runtime::new().unwrap();
    let rt_b = runtime::Runtime::new().unwrap();
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    const LEN: usize = 4 << 20;
    let (ours, mut queue) = rt_a.block_on(async move {
        let ours = UnixStream::from_std(ours);
        let mut q = ours.send_queue();
        q.send(&mut vec![vec![1u8; LEN]]).await.unwrap();
        runtime::time::sleep(Duration::from_millis(5)).await;
        (ours, q)
    });
    let reader = read_on_a_thread(peer, LEN, Duration::ZERO);
    let flushed = rt_b
        .block_on(async { runtime::time::timeout(Duration::from_secs(2), queue.flush()).await });
    assert!(
        flushed.is_ok(),
        "flush() in another runtime hung (2 s): the ring that has the batch never turns"
    );
    drop(reader);
    drop((ours, queue));
}

/// Polls both to completion, `a` first at every round.
async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx: &mut Context<'_>| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

/// A queue send polled before a `write_all` of the stream goes before it: writes take their
/// place in the stream's line in the order they were first polled.
#[test]
fn a_queue_send_polled_first_goes_first() {
    const LEN: usize = 4 << 20;
    support::run(async {
        let (ours, peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        let mut queue = ours.send_queue();
        queue.send(&mut vec![vec![1u8; LEN]]).await?;
        let reader = read_on_a_thread(peer, LEN + 5 + 5, Duration::from_millis(50));
        let mut second = vec![b"queue".to_vec()];
        let (q, (w, _)) = join2(queue.send(&mut second), ours.write_all(b"write".to_vec())).await;
        q?;
        w?;
        queue.flush().await?;
        let got = runtime::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap()?;
        assert_eq!(
            std::str::from_utf8(&got[LEN..]).unwrap(),
            "queuewrite",
            "the write polled later overtook the queue's send"
        );
        Ok(())
    });
}

/// Shutdown with a batch to a peer that never reads: cancelled at once, nothing leaks.
#[test]
fn drop_runtime_with_a_stuck_batch_is_quick() {
    let rt = runtime::Runtime::new().unwrap();
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let (ours, queue) = rt.block_on(async move {
        let ours = UnixStream::from_std(ours);
        let mut q = ours.send_queue();
        // many buffers, some empty: a sendmsg
        let mut bufs: Vec<Vec<u8>> = (0..1500)
            .map(|i| {
                if i % 3 == 0 {
                    Vec::new()
                } else {
                    vec![7u8; 8192]
                }
            })
            .collect();
        q.send(&mut bufs).await.unwrap();
        runtime::time::sleep(Duration::from_millis(5)).await;
        (ours, q)
    });
    let t = Instant::now();
    drop(rt);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    drop((ours, queue, peer));
}

/// A buffer whose drop re-enters the queue (sends again through an Rc) and spawns.
struct Reenter(Vec<u8>, Rc<RefCell<Option<net::SendQueue<Reenter>>>>, u32);
impl Drop for Reenter {
    fn drop(&mut self) {
        if self.2 == 0 {
            return;
        }
        let next = Reenter(
            vec![b'a' + (self.2 % 26) as u8; 3000],
            self.1.clone(),
            self.2 - 1,
        );
        let Ok(mut slot) = self.1.try_borrow_mut() else {
            return;
        };
        if let Some(q) = slot.as_mut() {
            let mut bufs = vec![next];
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            let mut fut = pin!(q.send(&mut bufs));
            let _ = fut.as_mut().poll(&mut cx);
        }
        drop(runtime::spawn(async {}));
    }
}
vec_buf!(Reenter);

/// Buffers whose drop (in the reap) sends the next batch through the same queue.
#[test]
fn a_buffer_drop_that_sends_again_from_the_reap() {
    support::run(async {
        let (ours, peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        let cell: Rc<RefCell<Option<net::SendQueue<Reenter>>>> = Rc::new(RefCell::new(None));
        *cell.borrow_mut() = Some(ours.send_queue());
        let first = Reenter(vec![b'z'; 3000], cell.clone(), 20);
        {
            let mut q = cell.borrow_mut().take().unwrap();
            q.send(&mut vec![first]).await?;
            *cell.borrow_mut() = Some(q);
        }
        let reader = read_on_a_thread(peer, 21 * 3000, Duration::ZERO);
        for _ in 0..200 {
            if reader.is_finished() {
                break;
            }
            runtime::time::sleep(Duration::from_millis(5)).await;
        }
        let got = runtime::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap()?;
        let mut expected = vec![b'z'; 3000];
        for n in (1..=20).rev() {
            expected.extend(vec![b'a' + (n % 26) as u8; 3000]);
        }
        assert!(got == expected, "bytes out of order or lost");
        let mut q = cell.borrow_mut().take().unwrap();
        q.flush().await?;
        assert_eq!(support::settle(Duration::from_secs(1)).await, 0);
        Ok(())
    });
}

/// Short sends (fault injection), >1024 buffers, empty buffers mixed in; canaries.
#[test]
fn many_buffers_with_empties_arrive_whole() {
    const N: usize = 3000;
    support::run(async {
        let (ours, peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        let mut queue = ours.send_queue();
        let mut expected = Vec::new();
        let mut total = 0;
        let mut batches = Vec::new();
        for round in 0..4u8 {
            let bufs: Vec<Vec<u8>> = (0..N)
                .map(|i| {
                    if i % 5 == 0 {
                        Vec::new()
                    } else {
                        vec![round.wrapping_mul(31).wrapping_add((i % 200) as u8); 1 + i % 300]
                    }
                })
                .collect();
            for b in &bufs {
                expected.extend_from_slice(b);
                total += b.len();
            }
            batches.push(bufs);
        }
        let reader = read_on_a_thread(peer, total, Duration::ZERO);
        for mut b in batches {
            queue.send(&mut b).await?;
            // canaries: same sizes as the buffers just given away
            let _victims: Vec<Vec<u8>> = (0..N).map(|i| vec![0xA5u8; 1 + i % 300]).collect();
        }
        queue.flush().await?;
        let got = runtime::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap()?;
        assert!(got == expected, "bytes differ");
        assert_eq!(support::settle(Duration::from_secs(1)).await, 0);
        Ok(())
    });
}

/// The anonymous-inode fds of this process (io_uring instances, epoll sets, eventfds): what a
/// runtime's driver holds.
fn anon_inode_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("anon_inode:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// A queue kept after its runtime is dropped does not keep that runtime's driver (its ring
/// and eventfd) alive. Run in a child process of its own: other tests' runtimes would open
/// and close such fds meanwhile.
#[test]
fn a_queue_outliving_its_runtime_keeps_no_ring_open() {
    if support::child_role().as_deref() != Some("outlive") {
        let child = support::spawn_child(
            "a_queue_outliving_its_runtime_keeps_no_ring_open",
            "outlive",
            &[],
        );
        let (status, out) = child.finish().expect("the child ran");
        assert!(status.success(), "the child failed: {out}");
        return;
    }
    let before = anon_inode_fds();
    let rt = runtime::Runtime::new().expect("runtime");
    let (ours, mut peer) = std::os::unix::net::UnixStream::pair().expect("pair");
    let (ours, queue) = rt.block_on(async move {
        let ours = UnixStream::from_std(ours);
        let mut queue = ours.send_queue();
        queue
            .send(&mut vec![b"kept".to_vec()])
            .await
            .expect("queued");
        queue.flush().await.expect("sent");
        (ours, queue)
    });
    drop(rt);
    assert_eq!(
        anon_inode_fds(),
        before,
        "the dropped runtime's driver fds are still open while its queue lives"
    );
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).expect("read");
    assert_eq!(&got, b"kept");
    drop((queue, ours));
}

/// A batch of more than 64 KiB goes out in parts of at most 64 KiB of whole buffers (larger
/// TCP sends cost more per byte), each after the one before, and arrives whole: nine
/// buffers of 16 KiB are three sends (4 + 4 + 1 buffers), through a queue and through
/// `write_all_vectored` alike. Under `.ci/faults` short sends add resends.
#[test]
fn a_large_batch_goes_in_parts_of_at_most_64_kib() {
    const BUF: usize = 16 * 1024;
    const BUFS: usize = 9;
    let data = pattern(2 * BUFS * BUF + 1);
    let expected = data.clone();
    run(async move {
        let (ours, peer) = pair().await?;
        let total = data.len();
        let reader = read_on_a_thread(peer, total, Duration::ZERO);
        let sqes = || runtime::metrics().expect("a runtime").sqes_submitted;
        let mut queue = ours.send_queue();
        // A first byte settles what the connection's setup left for the next enter.
        queue.send(&mut vec![data[..1].to_vec()]).await?;
        queue.flush().await?;
        let mut chunks = data[1..].chunks(BUF).map(<[u8]>::to_vec);
        let mut bufs: Vec<Vec<u8>> = chunks.by_ref().take(BUFS).collect();
        let before = sqes();
        queue.send(&mut bufs).await?;
        queue.flush().await?;
        let queued = sqes() - before;
        drop(queue);
        let bufs: Vec<Vec<u8>> = chunks.collect();
        let before = sqes();
        let (res, _) = ours.write_all_vectored(bufs).await;
        res?;
        let written = sqes() - before;
        if support::faults_injected() {
            assert!(queued >= 3 && written >= 3, "{queued} and {written} sends");
        } else {
            assert_eq!(
                (queued, written),
                (3, 3),
                "sends of the queue's batch, of the write"
            );
        }
        let got = reader.join().expect("reader")?;
        assert!(
            got == expected,
            "the peer got other bytes, or in another order"
        );
        Ok(())
    });
}

/// A `write_all_vectored` of more than 64 KiB goes in parts but stays one write in the
/// stream's line: a write polled while its first part is in flight goes after all of it,
/// not between two parts.
#[test]
fn no_write_goes_between_the_parts_of_a_vectored_write() {
    const BUF: usize = 16 * 1024;
    const BUFS: usize = 64;
    support::run(async {
        let (ours, peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        // Late, so that the first part waits for room while the other write is polled.
        let reader = read_on_a_thread(peer, BUFS * BUF + 5, Duration::from_millis(50));
        let bufs = vec![vec![1u8; BUF]; BUFS];
        let ((v, _), (w, _)) = join2(
            ours.write_all_vectored(bufs),
            ours.write_all(b"write".to_vec()),
        )
        .await;
        v?;
        w?;
        let got = runtime::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap()?;
        let at = got.iter().position(|&b| b != 1).unwrap_or(got.len());
        assert_eq!(
            at,
            BUFS * BUF,
            "the other write went between two parts of the vectored write"
        );
        assert_eq!(&got[BUFS * BUF..], b"write");
        Ok(())
    });
}

/// After a dropped `write_all_vectored` of 16 KiB buffers: allocates victims of that size
/// (a part's buffers freed before the kernel sent them would be reused by these, and their
/// 0xA5 would reach the peer instead of `all`'s pattern), writes `rest`, shuts the write
/// side, and checks what the peer read (`reader`): either the write or the shutdown
/// reported a gap and the peer got a prefix of `all`, or the peer got all of it; then that
/// no op of the dropped write is left in flight.
async fn write_rest_and_assert_no_silent_gap(
    ours: &UnixStream,
    rest: &[u8],
    reader: std::thread::JoinHandle<io::Result<Vec<u8>>>,
    all: &[u8],
) -> io::Result<()> {
    let victims: Vec<Vec<u8>> = (0..16).map(|_| vec![0xA5u8; 16 * 1024]).collect();
    let (res, _) = ours.write_all(rest.to_vec()).await;
    let next = res.and(ours.shutdown(std::net::Shutdown::Write).await);
    let got = runtime::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap()?;
    match next {
        Ok(()) => assert!(
            got == all,
            "the next write succeeded, but the peer got {} of {} bytes: a silent gap",
            got.len(),
            all.len()
        ),
        Err(e) => assert!(all.starts_with(&got), "{e}, but the peer got other bytes"),
    }
    // Held until the peer read everything: a send reads its buffers, so a freed one shows
    // as a victim's bytes at the peer, not as a changed victim.
    drop(victims);
    assert_eq!(
        support::settle(Duration::from_secs(1)).await,
        0,
        "an op outlived its write"
    );
    Ok(())
}

/// A `write_all_vectored` of more than 64 KiB dropped after its first poll: the part in
/// flight finishes, the parts after it are not sent, and the stream's next write says so
/// (before, it succeeded with the peer 64 KiB short).
#[test]
fn a_vectored_write_dropped_after_its_first_part_leaves_no_silent_gap() {
    const BUF: usize = 16 * 1024;
    let all = pattern(8 * BUF + 4);
    support::run(async move {
        let (ours, mut peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).map(|_| got)
        });
        let bufs: Vec<Vec<u8>> = all[..8 * BUF].chunks(BUF).map(<[u8]>::to_vec).collect();
        let mut vectored = Box::pin(ours.write_all_vectored(bufs));
        let done = poll_fn(|cx| Poll::Ready(vectored.as_mut().poll(cx).is_ready())).await;
        assert!(!done, "128 KiB went in one poll");
        drop(vectored);
        write_rest_and_assert_no_silent_gap(&ours, &all[8 * BUF..], reader, &all).await
    });
}

/// The same, dropped while it waits for its turn behind a dropped 1 MiB write: a task of
/// its own sends its first part, and the stream's next write reports the rest as a gap
/// (before, it succeeded with the peer 112 KiB short).
#[test]
fn a_vectored_write_dropped_while_it_waits_leaves_no_silent_gap() {
    const BUF: usize = 16 * 1024;
    const FIRST: usize = 1 << 20;
    let all = pattern(FIRST + 8 * BUF + 4);
    support::run(async move {
        let (ours, mut peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            wait.recv().expect("go");
            let mut got = Vec::new();
            peer.read_to_end(&mut got).map(|_| got)
        });
        let mut first = Box::pin(ours.write(all[..FIRST].to_vec()));
        let done = poll_fn(|cx| Poll::Ready(first.as_mut().poll(cx).is_ready())).await;
        assert!(!done, "1 MiB fit in the socket");
        let bufs: Vec<Vec<u8>> = all[FIRST..FIRST + 8 * BUF]
            .chunks(BUF)
            .map(<[u8]>::to_vec)
            .collect();
        let mut vectored = Box::pin(ours.write_all_vectored(bufs));
        let done = poll_fn(|cx| Poll::Ready(vectored.as_mut().poll(cx).is_ready())).await;
        assert!(!done, "the vectored write did not wait for its turn");
        drop((first, vectored));
        go.send(()).unwrap();
        write_rest_and_assert_no_silent_gap(&ours, &all[FIRST + 8 * BUF..], reader, &all).await
    });
}

/// As `a_dropped_queue_still_sends_its_batch_from_its_own_memory`, for a batch of many
/// parts: 64 buffers of 64 KiB, one part each, go out after the queue is dropped, each from
/// its own memory (victims of the buffers' size, allocated after the drop, keep their
/// pattern) and in order.
#[test]
fn a_dropped_queue_sends_every_part_of_its_batch_from_its_own_memory() {
    const BUF: usize = 64 * 1024;
    const BUFS: usize = 64;
    run(async {
        let (ours, peer) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours);
        let mut queue = ours.send_queue();
        let mut batch: Vec<Vec<u8>> = (0..BUFS).map(|i| vec![i as u8 + 1; BUF]).collect();
        queue.send(&mut batch).await?;
        runtime::time::sleep(Duration::from_millis(5)).await;
        drop(queue);
        let victims: Vec<Vec<u8>> = (0..2 * BUFS).map(|_| vec![0xA5u8; BUF]).collect();
        let reader = read_on_a_thread(peer, BUFS * BUF + 5, Duration::ZERO);
        let (res, _) = ours.write_all(b"after".to_vec()).await;
        res?;
        let got = runtime::spawn_blocking(move || reader.join().expect("reader"))
            .await
            .expect("join")?;
        for (i, part) in got[..BUFS * BUF].chunks(BUF).enumerate() {
            assert!(
                part.iter().all(|&b| b == i as u8 + 1),
                "buffer {i} arrived with bytes that were not its own"
            );
        }
        assert_eq!(
            &got[BUFS * BUF..],
            b"after",
            "the later write overtook the batch"
        );
        for v in &victims {
            assert!(v.iter().all(|&b| b == 0xA5), "a victim was written to");
        }
        assert_eq!(support::settle(Duration::from_secs(1)).await, 0);
        Ok(())
    });
}

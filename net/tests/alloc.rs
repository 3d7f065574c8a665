//! Allocation counts on the socket hot paths, with a counting global allocator: once warm, an
//! echo (multishot receive into a pool, then `write_all_vectored` or a `SendQueue` send of
//! what arrived, one buffer or several; or `forward_to`, whose sends go out from the reap)
//! allocates nothing, and neither does a datagram's `send_to` or `recv_from`.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use net::UnixStream;
use runtime::buf::BufPool;
use support::faults_injected;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; it only counts calls on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: as above, for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Echoes `rounds` messages of `len` bytes through a socket pair (buffer group `group`, of
/// `buf_len`-byte buffers, so a message spans `len / buf_len` of them); returns the allocations of the last
/// half of the rounds, and how many vectored writes sent several buffers at once. `queued`:
/// the server sends each batch through a `SendQueue` instead of `write_all_vectored`.
async fn echo_rounds(
    group: u16,
    len: usize,
    buf_len: usize,
    rounds: usize,
    queued: bool,
) -> (u64, usize) {
    let (client, server) = UnixStream::pair().expect("a socket pair");
    let pool = BufPool::new(group, 64, buf_len).expect("a pool");
    let mut received = server.recv_stream(&pool);
    let mut queue = server.send_queue();
    let mut bufs = Vec::with_capacity(64);
    let mut out = vec![0u8; len];
    let mut back = Vec::with_capacity(len);
    let (mut before, mut several) = (0, 0);
    for round in 0..rounds {
        if round == rounds / 2 {
            before = allocs();
        }
        out.fill(round as u8);
        let (res, o) = client.write_all(out).await;
        res.expect("client write");
        out = o;
        let mut got = 0;
        while got < len {
            let n = received.next_batch(&mut bufs, 64).await.expect("receive");
            assert!(n > 0, "the stream ended");
            got = bufs.iter().map(|b| b.len()).sum();
        }
        several += usize::from(bufs.len() > 1);
        if queued {
            queue.send(&mut bufs).await.expect("server send");
        } else {
            let (res, b) = server.write_all_vectored(bufs).await;
            res.expect("server write");
            bufs = b;
            bufs.clear();
        }
        let (res, k) = client.read_exact(back).await;
        res.expect("client read");
        assert!(
            k.iter().all(|&x| x == round as u8),
            "round {round}: wrong bytes"
        );
        back = k;
    }
    (allocs() - before, several)
}

#[test]
fn a_warm_echo_allocates_nothing() {
    runtime::Runtime::new().unwrap().block_on(async {
        for queued in [false, true] {
            // One buffer per message: a plain SEND.
            // (Groups of their own: a queued echo's last batch may hold its pool a while.)
            let group = if queued { 5 } else { 3 };
            let (one, _) = echo_rounds(group, 64, 64, 400, queued).await;
            // Four buffers per message: SENDMSG with a msghdr from the thread's free list.
            let (four, several) = echo_rounds(group + 1, 256, 64, 400, queued).await;
            if faults_injected() {
                return;
            }
            let how = if queued { "queued" } else { "awaited" };
            assert_eq!(one, 0, "allocations in 200 warm one-buffer {how} echoes");
            assert!(
                several > 0,
                "no write sent several buffers: the test tests nothing"
            );
            assert_eq!(four, 0, "allocations in 200 warm four-buffer {how} echoes");
        }
    });
}

/// `forward_to` echoing to itself: the client's messages come back, and on the forward's
/// side (the same thread: the reap that receives and sends) nothing is allocated once warm.
/// Messages of one buffer (a `SEND`) and of four (a `SENDMSG` of the forward's own iovecs).
#[test]
fn a_warm_forward_allocates_nothing() {
    runtime::Runtime::new().unwrap().block_on(async {
        for (group, len) in [(21u16, 64usize), (22, 256)] {
            let (client, server) = UnixStream::pair().expect("a socket pair");
            let pool = BufPool::new(group, 64, 64).expect("a pool");
            let forward = runtime::spawn(async move {
                let n = server.forward_to(&server, &pool).await;
                (n, server)
            });
            let (mut out, mut back) = (vec![0u8; len], Vec::with_capacity(len));
            let rounds = 400;
            let mut before = 0;
            for round in 0..rounds {
                if round == rounds / 2 {
                    before = allocs();
                }
                out.fill(round as u8);
                let (res, o) = client.write_all(out).await;
                res.expect("client write");
                out = o;
                let (res, b) = client.read_exact(back).await;
                res.expect("client read");
                assert!(
                    b.iter().all(|&x| x == round as u8),
                    "round {round}: wrong bytes"
                );
                back = b;
            }
            let warm = allocs() - before;
            client
                .shutdown(std::net::Shutdown::Write)
                .await
                .expect("shutdown");
            let (n, _server) = forward.await.expect("the forward's task");
            assert_eq!(n.expect("forward"), (rounds * len) as u64);
            if faults_injected() {
                continue;
            }
            assert_eq!(
                warm, 0,
                "allocations in 200 warm forwarded {len}-byte echoes"
            );
        }
    });
}

/// Datagrams: `send_to` and `recv_from` both ways, once warm.
#[test]
fn a_warm_datagram_echo_allocates_nothing() {
    runtime::Runtime::new().unwrap().block_on(async {
        let server = net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let client = net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let to = server.local_addr().expect("address");
        let (mut out, mut inb, mut back) = (vec![0u8; 64], vec![0u8; 64], vec![0u8; 64]);
        let mut before = 0;
        for round in 0..400u32 {
            if round == 200 {
                before = allocs();
            }
            out.fill(round as u8);
            let (res, o) = client.send_to(out, to).await;
            assert_eq!(res.expect("send_to"), 64);
            out = o;
            let (res, i) = server.recv_from(inb).await;
            let (n, from) = res.expect("recv_from");
            assert_eq!(n, 64);
            let (res, i) = server.send_to(i, from).await;
            assert_eq!(res.expect("send_to back"), 64);
            inb = i;
            let (res, b) = client.recv_from(back).await;
            assert_eq!(res.expect("recv_from back").0, 64);
            assert!(
                b.iter().all(|&x| x == round as u8),
                "round {round}: wrong bytes"
            );
            back = b;
        }
        if !faults_injected() {
            assert_eq!(
                allocs() - before,
                0,
                "allocations in 200 warm datagram echoes"
            );
        }
    });
}

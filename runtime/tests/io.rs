//! `runtime::io`, `select!`/`join!` and the channels' blocking and broadcast parts, on
//! in-memory readers and plain threads (the socket and file cases are in `net` and `fs`).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use runtime::Runtime;
use runtime::buf::{BufResult, IoBufMut};
use runtime::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use runtime::sync::{broadcast, mpsc};

/// Hands out `chunks` one per read, each read pending once first (as a socket read that
/// waits), so a caller can drop it halfway. Counts the reads that completed.
struct Trickle {
    chunks: Vec<&'static [u8]>,
    reads: Rc<Cell<usize>>,
}

struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl AsyncRead for Trickle {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        PendingOnce(false).await;
        if self.chunks.is_empty() {
            return (Ok(0), buf);
        }
        let mut chunk = self.chunks.remove(0);
        let (res, buf) = chunk.read(buf).await;
        if !chunk.is_empty() {
            self.chunks.insert(0, chunk);
        }
        self.reads.set(self.reads.get() + 1);
        (res, buf)
    }
}

/// A `read_line` dropped after it buffered part of a line, by a `select!` whose other
/// branch wins, consumed nothing: the next `read_line` returns the whole line.
#[test]
fn dropped_read_line_keeps_the_partial_line() {
    Runtime::new().unwrap().block_on(async {
        let reads = Rc::new(Cell::new(0));
        let mut r = BufReader::new(Trickle {
            chunks: vec![b"hel", b"lo\nwor", b"ld\n"],
            reads: reads.clone(),
        });
        let mut line = String::new();
        // Let one read complete (the line is not whole yet), then drop the read_line.
        runtime::select! {
            _ = r.read_line(&mut line) => panic!("the line is not complete yet"),
            _ = async { while reads.get() < 1 { runtime::yield_now().await } } => {}
        }
        assert_eq!(line, "", "a dropped read_line appended nothing");
        assert_eq!(r.buffer(), b"hel", "and consumed nothing");
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "hello\n");
        let mut lines = r.lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("world"));
        assert_eq!(lines.next_line().await.unwrap(), None);
    });
}

#[test]
fn select_handler_may_use_what_the_losing_future_borrowed() {
    Runtime::new().unwrap().block_on(async {
        let mut r = BufReader::new(b"a\nb\n".as_slice());
        let mut line = String::new();
        let n = runtime::select! {
            res = r.read_line(&mut line) => {
                // `r` and `line` are free again here: the futures were dropped.
                r.buffer().len() + res.unwrap() + line.len()
            }
            _ = std::future::pending::<()>() => unreachable!(),
        };
        assert_eq!(n, 2 + 2 + 2);
        let disabled = runtime::select! {
            Some(v) = async { None::<u8> } => v,
            else => 7,
        };
        assert_eq!(disabled, 7);
        let (a, b, c) = runtime::join!(async { 1 }, PendingOnce(false), async { "c" });
        assert_eq!((a, b, c), (1, (), "c"));
    });
}

#[test]
fn blocking_send_and_recv_from_plain_threads() {
    let (tx, mut rx) = mpsc::channel(1);
    let (back_tx, mut back_rx) = mpsc::channel(1);
    let producer = std::thread::spawn(move || {
        for i in 0..100 {
            tx.blocking_send(i).unwrap();
        }
    });
    let consumer = std::thread::spawn(move || {
        let mut sum = 0;
        while let Some(v) = back_rx.blocking_recv() {
            sum += v;
        }
        sum
    });
    Runtime::new().unwrap().block_on(async move {
        while let Some(v) = rx.recv().await {
            back_tx.send(v).await.unwrap();
        }
    });
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), (0..100).sum::<i32>());
}

#[test]
fn blocking_recv_on_a_core_panics_with_advice() {
    let err = std::panic::catch_unwind(|| {
        Runtime::new().unwrap().block_on(async {
            let (_tx, mut rx) = mpsc::channel::<u8>(1);
            rx.blocking_recv()
        })
    })
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("use `.await` there"), "{msg}");
}

#[test]
fn broadcast_reaches_receivers_on_other_threads() {
    let (tx, rx) = broadcast::channel::<u32>(8);
    let rxs: Vec<_> = (0..3).map(|_| rx.resubscribe()).collect();
    drop(rx);
    let threads: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            std::thread::spawn(move || {
                Runtime::new().unwrap().block_on(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
        })
        .collect();
    for i in 0..5 {
        assert_eq!(tx.send(i).unwrap(), 3);
    }
    drop(tx);
    for t in threads {
        assert_eq!(t.join().unwrap(), [0, 1, 2, 3, 4]);
    }
}

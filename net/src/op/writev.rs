//! `IORING_OP_SENDMSG` of several owned buffers (a vectored write on a socket; `MSG_NOSIGNAL`,
//! so a closed peer is an EPIPE error, not a SIGPIPE as with `WRITEV`).

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::{Sending, StreamWriteOp};
use crate::op::recycle::{FreeList, Recycle, Recycled};

/// Writes the initialized bytes of every buffer, in order, from byte `skip` of them all on
/// (the rest of a short write or of the part before), at most `IOV_MAX` buffers and
/// `max_bytes` bytes of whole buffers per op. Not cancelled when dropped, as
/// [`Send`](super::send::Send).
pub(crate) struct Writev<B> {
    pub(crate) fd: SharedFd,
    pub(crate) bufs: Vec<B>,
    target: Target,
    /// Its turn among the stream's writes; set before it is submitted.
    pub(crate) sending: Option<Sending>,
    /// Bytes of the same write after this op's part, which only its caller sends (the next
    /// parts of a `write_all_vectored`): if the op is abandoned, they never go out, and the
    /// stream's next write must say so.
    pub(crate) after: usize,
}

/// What the SQE points to.
enum Target {
    /// One span (one buffer, or what is left of the last one): a plain `SEND`, which needs
    /// no iovec array and no msghdr, so a write of one buffer allocates nothing.
    One(libc::iovec),
    /// Several: a `SENDMSG` of the msghdr, which names the iovecs.
    Many(Recycled<Msg>),
}

/// A msghdr and the iovecs it names, boxed (and recycled) so that both addresses hold while
/// the op moves.
struct Msg {
    msg: libc::msghdr,
    iovecs: Vec<libc::iovec>,
}

thread_local! {
    static FREE_MSGS: FreeList<Msg> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most iovecs a kept [`Msg`] may keep room for.
const KEPT_IOVECS_MAX: usize = 64;

impl Recycle for Msg {
    fn free_list() -> &'static std::thread::LocalKey<FreeList<Msg>> {
        &FREE_MSGS
    }

    fn reset(&mut self) -> bool {
        self.iovecs.clear();
        self.msg.msg_iov = std::ptr::null_mut();
        self.msg.msg_iovlen = 0;
        self.iovecs.capacity() <= KEPT_IOVECS_MAX
    }
}

/// A recycled msghdr naming `spans`, of which there are at most `max`.
fn msg_of(spans: impl Iterator<Item = libc::iovec>, max: usize) -> Recycled<Msg> {
    let mut recycled = Recycled::take(|| Msg {
        // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control data).
        msg: unsafe { std::mem::zeroed() },
        iovecs: Vec::new(),
    });
    let m = &mut *recycled;
    m.iovecs.reserve(max);
    m.iovecs.extend(spans);
    // Not resized again while the op lives: `reset` clears it only once it is back.
    m.msg.msg_iov = m.iovecs.as_mut_ptr();
    m.msg.msg_iovlen = m.iovecs.len();
    recycled
}

/// The iovecs of `bufs`' initialized bytes from byte `skip` of them all on: the first one
/// that is not skipped whole starts inside it; at most `IOV_MAX`, and only those whose bytes
/// fit in `max_bytes` in all (the first one whatever its size).
fn iovecs<B: IoBuf>(
    bufs: &[B],
    mut skip: usize,
    max_bytes: usize,
) -> impl Iterator<Item = libc::iovec> + '_ {
    let mut first = true;
    let mut room = max_bytes;
    bufs.iter()
        .filter_map(move |b| {
            let len = b.bytes_init();
            if skip >= len {
                skip -= len;
                return None;
            }
            let from = std::mem::take(&mut skip);
            Some(libc::iovec {
                // Inside `b`'s initialized bytes: `from < len`.
                iov_base: b.stable_ptr().wrapping_add(from) as *mut libc::c_void,
                iov_len: len - from,
            })
        })
        .take(IOV_MAX)
        .take_while(move |v| {
            let fits = first || v.iov_len <= room;
            first = false;
            room = room.saturating_sub(v.iov_len);
            fits
        })
}

/// The most iovecs one `sendmsg` takes (`UIO_MAXIOV`); more is EMSGSIZE.
const IOV_MAX: usize = 1024;

/// The most bytes one op of a batch (`write_all_vectored`, a `SendQueue`) sends, in whole
/// buffers; the rest follows in further ops. On loopback a TCP send of more than this cost
/// far more per byte: echoing 64 KiB messages in 16 KiB buffers, 4 connections with 4 in
/// flight, one `sendmsg` of every buffer that had arrived (up to 64) took 22-24 us of server
/// CPU per echo; parts of at most 64 KiB 18-19 us, of 32 KiB 20 us, of 128 and 256 KiB
/// 23-25 us (`docs/benchmarks.md`, "Sends of at most 64 KiB"). 64 KiB is also the largest
/// segment TCP builds (GSO), so a part still leaves as one; where larger sends cost no more,
/// the price is an SQE and a CQE per 64 KiB. Smaller batches are one op.
pub(crate) const BATCH_PART_MAX: usize = 64 * 1024;

impl<B: IoBuf> Writev<B> {
    /// The bytes this op sends (its part of the write).
    pub(crate) fn part_len(&self) -> usize {
        match &self.target {
            Target::One(span) => span.iov_len,
            Target::Many(m) => m.iovecs.iter().map(|v| v.iov_len).sum(),
        }
    }

    /// The op that sends `bufs` from byte `skip` on: as much of it as `max_bytes` allows in
    /// whole buffers (or the first buffer's rest, whatever its size).
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, skip: usize, max_bytes: usize) -> Self {
        let target = Target::of(iovecs(&bufs, skip, max_bytes), bufs.len().min(IOV_MAX));
        Writev {
            fd,
            bufs,
            target,
            sending: None,
            after: 0,
        }
    }
}

impl Target {
    /// The target of `spans`, of which there are at most `max`.
    fn of(mut spans: impl Iterator<Item = libc::iovec>, max: usize) -> Target {
        match (spans.next(), spans.next()) {
            // A `SEND`'s length is a `u32`: a longer buffer goes in parts (a short write).
            (Some(one), None) => Target::One(libc::iovec {
                iov_len: one.iov_len.min(u32::MAX as usize),
                ..one
            }),
            (first, second) => {
                Target::Many(msg_of(first.into_iter().chain(second).chain(spans), max))
            }
        }
    }
}

// SAFETY: the SQE points into `bufs`' stable memory (IoBuf), within one buffer's initialized
// bytes (its whole, or the part after `skip`): directly for one span, else through the
// boxed msghdr of a `Recycled<Msg>`, which points to its iovecs (a Vec's heap block, not
// resized while the op holds it), whose entries each point so. All are owned by this op until
// it is dropped after the CQE (only then does the Msg go back to the free list: see
// `recycle`). `fd` is kept open by this op.
unsafe impl<B: IoBuf> Operation for Writev<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn sqe(&mut self) -> Sqe {
        // MSG_WAITALL: the whole write or an error, as for `Send` on a stream.
        let flags = libc::MSG_NOSIGNAL | libc::MSG_WAITALL;
        match &self.target {
            Target::One(span) => prep::prep_send(
                self.fd.raw(),
                span.iov_base.cast_const().cast(),
                span.iov_len as u32,
                flags,
            ),
            Target::Many(m) => prep::prep_sendmsg(self.fd.raw(), &m.msg, flags),
        }
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if let Some(sending) = &self.sending {
            sending.keep_result(cqe.res(), StreamWriteOp::len(self));
        }
    }

    fn finish_when_dropped(&self) -> bool {
        true
    }
}

impl<B: IoBuf> StreamWriteOp for Writev<B> {
    type Buf = Vec<B>;

    fn start(&mut self, sending: Sending) {
        self.sending = Some(sending);
    }

    /// The op's own bytes, and those of the same write after it (`after`): what a dropped
    /// write owes the stream.
    fn len(&self) -> usize {
        self.part_len() + self.after
    }

    fn into_buf(self) -> Vec<B> {
        self.bufs
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::Poll;
    use std::time::Duration;

    use super::*;

    /// (offset into the buffer, length) of each iovec.
    fn spans(bufs: &[Vec<u8>], skip: usize) -> Vec<(usize, usize)> {
        spans_up_to(bufs, skip, usize::MAX)
    }

    /// As [`spans`], for an op of at most `max_bytes`.
    fn spans_up_to(bufs: &[Vec<u8>], skip: usize, max_bytes: usize) -> Vec<(usize, usize)> {
        iovecs(bufs, skip, max_bytes)
            .map(|v| {
                let b = bufs
                    .iter()
                    .find(|b| {
                        let start = b.as_ptr() as usize;
                        (start..start + b.len()).contains(&(v.iov_base as usize))
                    })
                    .expect("every iovec points into one of the buffers");
                (v.iov_base as usize - b.as_ptr() as usize, v.iov_len)
            })
            .collect()
    }

    #[test]
    fn iovecs_resume_inside_the_buffer_where_a_short_write_stopped() {
        let bufs = vec![vec![1u8; 3], vec![2u8; 5], vec![3u8; 2]];
        assert_eq!(spans(&bufs, 0), [(0, 3), (0, 5), (0, 2)]);
        assert_eq!(spans(&bufs, 3), [(0, 5), (0, 2)]);
        assert_eq!(spans(&bufs, 4), [(1, 4), (0, 2)]);
        assert_eq!(spans(&bufs, 9), [(1, 1)]);
        assert!(spans(&bufs, 10).is_empty());
    }

    #[test]
    fn one_span_is_a_plain_send_and_several_a_sendmsg() {
        let fd = SharedFd::new(std::os::fd::OwnedFd::from(
            std::net::UdpSocket::bind("127.0.0.1:0").expect("a socket"),
        ));
        let bufs = vec![vec![1u8; 3], vec![2u8; 5]];
        // Past the first buffer only the second is left: one span, no msghdr.
        let mut w = Writev::new(fd.clone(), bufs.clone(), 4, usize::MAX);
        assert!(matches!(w.target, Target::One(_)));
        assert_eq!(StreamWriteOp::len(&w), 4);
        let sqe = w.sqe();
        assert_eq!(sqe.opcode(), uring_sys::abi::IORING_OP_SEND);
        assert_eq!((sqe.addr(), sqe.len()), (w.bufs[1].as_ptr() as u64 + 1, 4));
        let mut w = Writev::new(fd, bufs, 1, usize::MAX);
        assert!(matches!(&w.target, Target::Many(m) if m.iovecs.len() == 2));
        assert_eq!(StreamWriteOp::len(&w), 7);
        assert_eq!(w.sqe().opcode(), uring_sys::abi::IORING_OP_SENDMSG);
    }

    #[test]
    fn a_part_takes_whole_buffers_up_to_its_bytes_and_at_least_one() {
        let bufs = vec![vec![1u8; 3], vec![2u8; 5], vec![3u8; 2]];
        assert_eq!(spans_up_to(&bufs, 0, 8), [(0, 3), (0, 5)]);
        assert_eq!(spans_up_to(&bufs, 0, 7), [(0, 3)]);
        // The rest of a buffer counts as what is left of it.
        assert_eq!(spans_up_to(&bufs, 1, 7), [(1, 2), (0, 5)]);
        // A first span larger than the part goes alone, whole.
        assert_eq!(spans_up_to(&bufs, 3, 2), [(0, 5)]);
        assert_eq!(spans_up_to(&bufs, 8, 2), [(0, 2)]);
        // 64 KiB of 16 KiB buffers: four to a part.
        let bufs = vec![vec![0u8; 16 * 1024]; 9];
        assert_eq!(spans_up_to(&bufs, 0, BATCH_PART_MAX).len(), 4);
        assert_eq!(spans_up_to(&bufs, 8 * 16 * 1024, BATCH_PART_MAX).len(), 1);
    }

    #[test]
    fn iovecs_stop_at_iov_max() {
        let bufs = vec![vec![0u8; 1]; IOV_MAX + 5];
        assert_eq!(iovecs(&bufs, 2, usize::MAX).count(), IOV_MAX);
    }

    /// How many msghdrs this thread's free list holds.
    fn kept() -> usize {
        FREE_MSGS.with(|free| free.borrow().len())
    }

    /// The msghdr of a vectored write dropped while it waits for room goes back to the free
    /// list only after its final CQE: the kernel (or the fallback, which reads it again at
    /// each attempt) never sends through a msghdr another op holds. Checked three ways: the
    /// free list does not grow at the drop, victims taken from it meanwhile point at `0xA5`
    /// bytes (a reused msghdr would send those), and the peer gets exactly the bytes written.
    #[test]
    fn the_msghdr_of_a_dropped_write_is_not_reused_before_its_cqe() {
        use std::io::Read;
        const BIG: usize = 1 << 20;
        let rt = runtime::Runtime::new().unwrap();
        let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let ours = crate::UnixStream::from_std(ours);
        let bufs = vec![vec![1u8; BIG], vec![2u8; BIG]];
        let reader = rt.block_on(async {
            // One op for both (`write_all_vectored` would send them one at a time).
            let mut write = Box::pin(ours.writev(bufs));
            std::future::poll_fn(|cx| {
                assert!(
                    write.as_mut().poll(cx).is_pending(),
                    "2 MiB fit in the socket"
                );
                Poll::Ready(())
            })
            .await;
            runtime::time::sleep(Duration::from_millis(5)).await;
            let in_flight = kept();
            // Writes are not cancelled: this one goes on without its future.
            drop(write);
            assert_eq!(
                kept(),
                in_flight,
                "the dropped write's msghdr went back to the free list before its CQE"
            );
            let pattern = vec![0xA5u8; 4096];
            let victims: Vec<_> = (0..8)
                .map(|_| {
                    let span = libc::iovec {
                        iov_base: pattern.as_ptr().cast_mut().cast(),
                        iov_len: pattern.len(),
                    };
                    msg_of([span, span].into_iter(), 2)
                })
                .collect();
            let after_victims = kept();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::with_capacity(2 * BIG);
                peer.read_to_end(&mut got).unwrap();
                got
            });
            for _ in 0..200 {
                if runtime::metrics().unwrap().ops_in_flight == 0 {
                    break;
                }
                runtime::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(
                runtime::metrics().unwrap().ops_in_flight,
                0,
                "the write did not finish"
            );
            assert_eq!(
                kept(),
                after_victims + 1,
                "the finished write's msghdr did not come back"
            );
            drop(victims);
            drop(ours);
            reader
        });
        let got = reader.join().unwrap();
        // Under `.ci/faults` a send may end short, and the dropped write's rest is then not
        // sent (the stream's next write would say so): what arrived is a prefix.
        if std::env::var_os("RUNTIME_FAULTS").is_none_or(|v| v.is_empty()) {
            assert_eq!(got.len(), 2 * BIG, "bytes lost or added");
        }
        assert!(got.len() <= 2 * BIG, "bytes added");
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, &b)| b == if i < BIG { 1 } else { 2 }),
            "the peer got bytes other than those written"
        );
    }
}

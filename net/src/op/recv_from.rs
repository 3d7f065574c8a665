//! `IORING_OP_RECVMSG` for datagrams: the payload into an owned buffer, the sender's address
//! into an owned sockaddr.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::op::{Completion, Operation};
use socket2::SockAddr;
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Receiving;
use crate::op::recycle::Recycled;
use crate::op::{MsgParts, zeroed_storage};

/// Receives one datagram into `buf`.
pub(crate) struct RecvFrom<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) parts: Recycled<MsgParts<libc::sockaddr_storage>>,
    /// Where the socket keeps the datagram if this receive's future is dropped.
    pub(crate) receiving: Receiving,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, receiving: Receiving) -> Self {
        RecvFrom {
            fd,
            buf,
            parts: MsgParts::new(zeroed_storage()),
            receiving,
        }
    }

    /// The sender's address, once the kernel wrote it.
    fn sender(&self) -> SockAddr {
        // SAFETY: after a successful RECVMSG the kernel filled the address storage and set
        // the msghdr's name length to the length of the address it wrote.
        unsafe { SockAddr::new(*self.parts.addr(), self.parts.name_len()) }
    }
}

// SAFETY: the SQE points to the msghdr in `parts` (boxed: stable; back to the thread's free
// list only when this op is dropped, after its CQE), whose iovec and name point
// to the iovec and the address storage (same box) and into `buf` (stable, IoBufMut); all are
// owned by this op until it is dropped after the CQE. `fd` is kept open by this op.
unsafe impl<B: IoBufMut> Operation for RecvFrom<B> {
    type Output = BufResult<(usize, SockAddr), B>;

    fn sqe(&mut self) -> Sqe {
        let msg = self
            .parts
            .prepare(self.buf.stable_mut_ptr().cast(), self.buf.bytes_total());
        prep::prep_recvmsg(self.fd.raw(), msg, 0)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| {
            // SAFETY: the kernel wrote n bytes from the buffer's start.
            unsafe { self.buf.set_init(n as usize) };
            (n as usize, self.sender())
        });
        (result, self.buf)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // SAFETY: the kernel wrote `res` bytes from the buffer's start (at most its
            // capacity) and is done with it: this is the final CQE.
            let got = unsafe {
                std::slice::from_raw_parts(self.buf.stable_mut_ptr(), cqe.res() as usize)
            };
            self.receiving.keep(got.to_vec(), Some(self.sender()));
        } else {
            self.receiving.keep_end(cqe.res());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::Poll;
    use std::time::Duration;

    use super::*;
    use crate::UdpSocket;

    /// The bytes of an address storage.
    fn bytes(s: &libc::sockaddr_storage) -> Vec<u8> {
        // SAFETY: a sockaddr_storage is plain bytes; we read its whole size from a live one.
        unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(s).cast::<u8>(),
                size_of::<libc::sockaddr_storage>(),
            )
        }
        .to_vec()
    }

    /// How many parts this thread's free list holds.
    fn kept() -> usize {
        <MsgParts<libc::sockaddr_storage> as crate::op::recycle::Recycle>::free_list()
            .with(|free| free.borrow().len())
    }

    /// Parts of a receive dropped in flight go back to the free list only after its final
    /// CQE, so the kernel never writes a sender's address into parts another op holds.
    /// Checked three ways: the free list does not grow at the drop, while the receive is in
    /// flight (it does once the CQE came); victims taken from the list meanwhile, their address
    /// storage filled with `0xA5`, stay unchanged (this catches a write only when the datagram
    /// beats the cancel, which the kernel does not promise); and the datagram comes back with
    /// its sender's address.
    #[test]
    fn parts_of_a_dropped_receive_are_not_reused_before_its_cqe() {
        let rt = runtime::Runtime::new().unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rt.block_on(async {
            let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let to = sock.local_addr().unwrap();
            let mut recv = Box::pin(sock.recv_from(vec![0u8; 64]));
            std::future::poll_fn(|cx| {
                assert!(recv.as_mut().poll(cx).is_pending(), "nothing was sent yet");
                Poll::Ready(())
            })
            .await;
            let in_flight = kept();
            // Dropped inside the loop: the cancel goes out with the next turn.
            drop(recv);
            assert_eq!(
                runtime::metrics().unwrap().ops_in_flight,
                1,
                "not in flight"
            );
            assert_eq!(
                kept(),
                in_flight,
                "the dropped receive's parts went back to the free list before its CQE"
            );
            let mut pattern = zeroed_storage();
            // SAFETY: fills one live sockaddr_storage (plain bytes) with a pattern.
            unsafe { std::ptr::write_bytes(&raw mut pattern, 0xA5, 1) };
            let victims: Vec<_> = (0..8).map(|_| MsgParts::new(pattern)).collect();
            let after_victims = kept();
            peer.send_to(b"canary", to).unwrap();
            runtime::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(runtime::metrics().unwrap().ops_in_flight, 0, "not settled");
            for (i, v) in victims.iter().enumerate() {
                assert_eq!(
                    bytes(v.addr()),
                    bytes(&pattern),
                    "victim #{i} changed: the kernel wrote a sender's address into parts \
                     that were reused before its CQE"
                );
            }
            assert_eq!(
                kept(),
                after_victims + 1,
                "the settled receive's parts did not come back"
            );
            drop(victims);
            let (res, buf) = sock.recv_from(vec![0u8; 64]).await;
            let (n, from) = res.expect("the next receive");
            assert_eq!(
                (&buf[..n], from),
                (&b"canary"[..], peer.local_addr().unwrap())
            );
        });
    }
}

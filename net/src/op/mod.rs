//! One io_uring op per file; the socket types build on them.

pub(crate) mod accept;
pub(crate) mod accept_multi;
pub(crate) mod connect;
pub(crate) mod peer_cred;
pub(crate) mod recv;
pub(crate) mod recv_from;
pub(crate) mod recv_multi;
pub(crate) mod recycle;
pub(crate) mod send;
pub(crate) mod send_to;
pub(crate) mod shutdown;
pub(crate) mod writev;

use std::io;

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use runtime::op::Op;
use socket2::SockAddr;

use crate::fd::SharedFd;
use crate::kept::{Kept, Received, Sent, StreamWrite};
use recycle::{FreeList, Recycle, Recycled};

/// One `SEND` (if `zero_copy`, `SEND_ZC`) of `buf`'s initialized bytes on the stream `fd`, in
/// its turn among the stream's writes (`sent`). A future, not an `async fn`: the write path
/// (`write_all`, `write_all_vectored`) awaits it directly, one state machine fewer per send.
pub(crate) fn stream_send<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    sent: &Sent,
    zero_copy: bool,
) -> StreamWrite<send::Send<B>> {
    StreamWrite::new(sent, send_op(fd, buf, zero_copy))
}

/// One `SEND` of `buf`'s initialized bytes on the datagram socket `fd`: one datagram.
pub(crate) fn datagram_send<B: IoBuf>(fd: &SharedFd, buf: B) -> Op<send::Send<B>> {
    Op::new(send_op(fd, buf, false))
}

fn send_op<B: IoBuf>(fd: &SharedFd, buf: B, zero_copy: bool) -> send::Send<B> {
    send::Send {
        fd: fd.clone(),
        buf,
        sending: None,
        zero_copy,
    }
}

/// One `RECV` into `buf` on `fd` with `MSG_*` `flags`: what dropped receives of the socket
/// kept, first.
pub(crate) async fn recv<B: IoBufMut>(
    fd: &SharedFd,
    mut buf: B,
    received: &Received,
    datagram: bool,
    flags: i32,
) -> BufResult<usize, B> {
    let taken = std::future::poll_fn(|cx| {
        if datagram {
            received
                .poll_take_datagram(cx, &mut buf)
                .map(|k| k.map(|r| r.map(|(n, _)| n)))
        } else {
            received.poll_take_stream(cx, &mut buf)
        }
    })
    .await;
    let receiving = match taken {
        Kept::Some(res) => return (res, buf),
        Kept::None(receiving) => receiving,
    };
    Op::new(recv::Recv {
        fd: fd.clone(),
        buf,
        receiving,
        flags,
    })
    .await
}

/// One `CONNECT` of `fd` to `addr`.
pub(crate) async fn connect(fd: &SharedFd, addr: SockAddr) -> io::Result<()> {
    Op::new(connect::Connect {
        fd: fd.clone(),
        addr: Box::new(addr),
    })
    .await
}

/// What `SENDMSG`/`RECVMSG` point the kernel at: the msghdr, its one iovec and the socket
/// address it names, kept together so that an op holds them in one (recycled) box and their
/// addresses stay put until the CQE. `A` is the address: the destination ([`SockAddr`], read
/// by the kernel) or room for the sender's (`sockaddr_storage`, written by the kernel).
pub(crate) struct MsgParts<A> {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: A,
}

/// A socket address a msghdr can name: where it lies and how many bytes of it the kernel may
/// use.
pub(crate) trait MsgName {
    fn name_ptr(&mut self) -> *mut libc::c_void;
    fn name_len(&self) -> libc::socklen_t;
}

/// The destination of a send: the kernel reads `len()` bytes of it.
impl MsgName for SockAddr {
    fn name_ptr(&mut self) -> *mut libc::c_void {
        self.as_ptr() as *mut libc::c_void
    }
    fn name_len(&self) -> libc::socklen_t {
        self.len()
    }
}

/// Room for a sender's address: the kernel may write all of it.
impl MsgName for libc::sockaddr_storage {
    fn name_ptr(&mut self) -> *mut libc::c_void {
        std::ptr::from_mut(self).cast()
    }
    fn name_len(&self) -> libc::socklen_t {
        size_of::<libc::sockaddr_storage>() as libc::socklen_t
    }
}

thread_local! {
    static FREE_SEND_PARTS: FreeList<MsgParts<SockAddr>> =
        const { std::cell::RefCell::new(Vec::new()) };
    static FREE_RECV_PARTS: FreeList<MsgParts<libc::sockaddr_storage>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Recycle for MsgParts<SockAddr> {
    fn free_list() -> &'static std::thread::LocalKey<FreeList<Self>> {
        &FREE_SEND_PARTS
    }
}

impl Recycle for MsgParts<libc::sockaddr_storage> {
    fn free_list() -> &'static std::thread::LocalKey<FreeList<Self>> {
        &FREE_RECV_PARTS
    }
}

impl<A: MsgName> MsgParts<A>
where
    MsgParts<A>: Recycle,
{
    /// Parts naming `addr` (a recycled box: see [`recycle`]), pointing nowhere until
    /// [`MsgParts::prepare`].
    pub(crate) fn new(addr: A) -> Recycled<MsgParts<A>> {
        let mut addr = Some(addr);
        let mut parts = Recycled::take(|| MsgParts {
            msg: libc::msghdr {
                msg_name: std::ptr::null_mut(),
                msg_namelen: 0,
                msg_iov: std::ptr::null_mut(),
                msg_iovlen: 0,
                msg_control: std::ptr::null_mut(),
                msg_controllen: 0,
                msg_flags: 0,
            },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            addr: addr.take().expect("taken once"),
        });
        if let Some(addr) = addr {
            parts.addr = addr;
        }
        parts
    }
}

impl<A: MsgName> MsgParts<A> {
    /// Points the msghdr at the address and at one iovec of `len` bytes from `base`, and
    /// returns it for the SQE. The pointers are into `self`: valid while it stays put (boxed).
    pub(crate) fn prepare(&mut self, base: *mut libc::c_void, len: usize) -> *mut libc::msghdr {
        self.iov = libc::iovec {
            iov_base: base,
            iov_len: len,
        };
        self.msg.msg_name = self.addr.name_ptr();
        self.msg.msg_namelen = self.addr.name_len();
        self.msg.msg_iov = &raw mut self.iov;
        self.msg.msg_iovlen = 1;
        &raw mut self.msg
    }

    /// The address.
    pub(crate) fn addr(&self) -> &A {
        &self.addr
    }

    /// The address length in the msghdr: after a `RECVMSG`, the sender's, as the kernel set it.
    pub(crate) fn name_len(&self) -> libc::socklen_t {
        self.msg.msg_namelen
    }
}

/// An all-zero `sockaddr_storage`, for the kernel to write an address into.
pub(crate) fn zeroed_storage() -> libc::sockaddr_storage {
    // sockaddr_storage has private padding fields; SockAddr gives a zeroed one safely.
    let empty = SockAddr::from(std::net::SocketAddr::from(([0u8, 0, 0, 0], 0)));
    let mut storage = empty.as_storage();
    storage.ss_family = 0;
    storage
}

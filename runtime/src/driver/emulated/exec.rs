//! The interpreter: each opcode the project uses, done by ordinary syscalls on the SQE's own
//! fields. An attempt on the core never blocks: it completes, asks to wait for readiness, or
//! hands the op to the blocking pool ([`Blocking`]).
//!
//! Every address an SQE holds is passed to a syscall as is (the kernel checks it, EFAULT at
//! worst), except the provided-buffer ring, which the emulator reads itself (see
//! `Emulator::peek_buf`). The memory stays valid while the op runs: the driver keeps what an
//! SQE points to until its final CQE is reaped (`SubmissionQueue::push`'s contract), and the
//! emulator posts that CQE only after its last syscall on the op returned. Where an op
//! goes on from part of its buffers (`MSG_WAITALL`, a FIFO's readable bytes) the emulator
//! passes a trimmed copy of the iovecs ([`with_iov`]) and never writes to the op's memory
//! other than as the syscall does.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use uring_sys::{Sqe, abi};

use super::Emulator;

/// Opcodes the emulator implements (what its probe reports). Everything else completes with
/// `-EOPNOTSUPP`.
pub(super) const SUPPORTED: &[u8] = &[
    abi::IORING_OP_NOP,
    abi::IORING_OP_READ,
    abi::IORING_OP_WRITE,
    abi::IORING_OP_READV,
    abi::IORING_OP_WRITEV,
    abi::IORING_OP_READ_FIXED,
    abi::IORING_OP_WRITE_FIXED,
    abi::IORING_OP_FSYNC,
    abi::IORING_OP_FALLOCATE,
    abi::IORING_OP_FTRUNCATE,
    abi::IORING_OP_FADVISE,
    abi::IORING_OP_OPENAT,
    abi::IORING_OP_CLOSE,
    abi::IORING_OP_STATX,
    abi::IORING_OP_UNLINKAT,
    abi::IORING_OP_RENAMEAT,
    abi::IORING_OP_MKDIRAT,
    abi::IORING_OP_SYMLINKAT,
    abi::IORING_OP_LINKAT,
    abi::IORING_OP_SPLICE,
    abi::IORING_OP_PIPE,
    abi::IORING_OP_ACCEPT,
    abi::IORING_OP_CONNECT,
    abi::IORING_OP_SHUTDOWN,
    abi::IORING_OP_RECV,
    abi::IORING_OP_SEND,
    abi::IORING_OP_SEND_ZC,
    abi::IORING_OP_RECVMSG,
    abi::IORING_OP_SENDMSG,
    abi::IORING_OP_POLL_ADD,
    abi::IORING_OP_ASYNC_CANCEL,
    abi::IORING_OP_LINK_TIMEOUT,
    abi::IORING_OP_TIMEOUT,
    abi::IORING_OP_URING_CMD,
];

/// `SOCKET_URING_OP_GETSOCKOPT` of `include/uapi/linux/io_uring.h`.
const SOCKET_URING_OP_GETSOCKOPT: u32 = 2;

/// What one attempt of an op came to.
pub(super) enum Attempt {
    /// The final result and CQE flags.
    Done(i32, u32),
    /// A multishot result (posted with `F_MORE`); attempt again.
    More(i32, u32),
    /// A multishot result that drained a stream (posted with `F_MORE`); wait for `IN`.
    Drained(i32, u32),
    /// Not ready: wait for these epoll events on the op's fd.
    Wait(u32),
    /// Moved part of a MSG_WAITALL transfer: attempt again now (an edge-triggered wait is
    /// only safe after EAGAIN; the rest may be queued already, or the end).
    Again,
    /// Would block and cannot be polled: run it on the blocking pool.
    Blocking,
    /// Would block, with nothing to poll and nothing worth a pool thread: attempt it again
    /// a little later.
    Later,
}

/// What a receive waits for: data, the peer's end, and urgent data (which ends a TCP read
/// early, so a multishot receive must see it on the edge to read on).
pub(super) const IN: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32;
const OUT: u32 = libc::EPOLLOUT as u32;

/// `-errno` of the last failed syscall.
fn neg_errno() -> i32 {
    -std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A syscall's return value as a CQE result: the value, or `-errno`.
fn res(ret: isize) -> i32 {
    if ret < 0 { neg_errno() } else { ret as i32 }
}

/// The duration in a TIMEOUT/LINK_TIMEOUT SQE (relative timeouts only).
pub(super) fn timespec(sqe: &Sqe) -> Option<Duration> {
    if sqe.addr() == 0 || sqe.timeout_flags() != 0 {
        return None;
    }
    // SAFETY: the driver's LINK_TIMEOUT SQEs point to a timespec in the op's slot, which
    // lives until the op's CQE; it is read here, at submission, as the kernel reads it.
    let ts = unsafe { (sqe.addr() as *const abi::__kernel_timespec).read() };
    (ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec))
        .then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

impl Emulator {
    /// One non-blocking attempt of op `index`.
    pub(super) fn attempt(&mut self, index: usize) -> Attempt {
        let p = &self.pending[index];
        let (sqe, fd) = (p.sqe, p.fd);
        match sqe.opcode() {
            abi::IORING_OP_NOP => Attempt::Done(0, 0),
            abi::IORING_OP_READ
            | abi::IORING_OP_READV
            | abi::IORING_OP_READ_FIXED
            | abi::IORING_OP_WRITE
            | abi::IORING_OP_WRITEV
            | abi::IORING_OP_WRITE_FIXED => {
                if let Err(e) = self.check_fixed(&sqe) {
                    return Attempt::Done(-e, 0);
                }
                // A read that selects a provided buffer reads into the next one of its group.
                let mut sqe = sqe;
                let mut picked = None;
                if sqe.sqe_flags() & abi::IOSQE_BUFFER_SELECT != 0 {
                    if sqe.opcode() != abi::IORING_OP_READ {
                        return Attempt::Done(-libc::EINVAL, 0);
                    }
                    let Some((addr, len, bid)) = self.peek_buf(sqe.buf_group()) else {
                        return Attempt::Done(-libc::ENOBUFS, 0);
                    };
                    let len = if !sqe.is_empty() {
                        len.min(sqe.len())
                    } else {
                        len
                    };
                    sqe.set_addr(addr as u64).set_len(len);
                    picked = Some(bid);
                }
                let mut r = rw(&sqe, fd, true, usize::MAX);
                if r == -libc::EOPNOTSUPP && !is_file(fd) {
                    // This fd does not do RWF_NOWAIT (a FIFO, a tty): its readiness first.
                    match rw_without_nowait(&sqe, fd) {
                        Some(done) => r = done,
                        // A provided buffer is picked here, on the core: not on the pool.
                        None if picked.is_some() => return Attempt::Done(-libc::EOPNOTSUPP, 0),
                        None => return Attempt::Blocking,
                    }
                }
                match r {
                    r if r > 0 && picked.is_some() => {
                        self.consume_buf(sqe.buf_group());
                        let bid = u32::from(picked.unwrap_or_default());
                        Attempt::Done(
                            r,
                            abi::IORING_CQE_F_BUFFER | (bid << abi::IORING_CQE_BUFFER_SHIFT),
                        )
                    }
                    r if r == -libc::EAGAIN => {
                        if is_file(fd) && picked.is_none() {
                            Attempt::Blocking
                        } else if is_read(&sqe) {
                            Attempt::Wait(IN)
                        } else {
                            Attempt::Wait(OUT)
                        }
                    }
                    // A file that does not do RWF_NOWAIT: block on the pool.
                    r if r == -libc::EOPNOTSUPP && picked.is_none() => Attempt::Blocking,
                    r => Attempt::Done(r, 0),
                }
            }
            abi::IORING_OP_RECV => self.recv(index, &sqe, fd),
            abi::IORING_OP_SEND | abi::IORING_OP_SEND_ZC => {
                let done = self.pending[index].done;
                // SAFETY: a syscall on the SQE's buffer, past the bytes already sent (see
                // the module docs); `done < len`.
                let r = res(unsafe {
                    libc::send(
                        fd,
                        (sqe.addr() as *const u8).add(done as usize).cast(),
                        (sqe.len() - done) as usize,
                        sqe.msg_flags() as i32 | libc::MSG_DONTWAIT,
                    )
                });
                match self.waitall(index, &sqe, r, u64::from(sqe.len()), OUT) {
                    // A zero-copy send's result carries F_MORE; its notification follows.
                    Attempt::Done(r, f) if r >= 0 && sqe.opcode() == abi::IORING_OP_SEND_ZC => {
                        Attempt::More(r, f)
                    }
                    a => a,
                }
            }
            abi::IORING_OP_RECVMSG | abi::IORING_OP_SENDMSG => {
                if sqe.sqe_flags() & abi::IOSQE_BUFFER_SELECT != 0 {
                    return Attempt::Done(-libc::EOPNOTSUPP, 0);
                }
                let flags = sqe.msg_flags() as i32 | libc::MSG_DONTWAIT;
                let msg = sqe.addr() as *mut libc::msghdr;
                if sqe.opcode() == abi::IORING_OP_RECVMSG {
                    // SAFETY: a syscall on the SQE's msghdr (see the module docs).
                    let r = res(unsafe { libc::recvmsg(fd, msg, flags) });
                    return if r == -libc::EAGAIN {
                        Attempt::Wait(IN)
                    } else {
                        Attempt::Done(r, 0)
                    };
                }
                self.sendmsg(index, &sqe, fd, msg, flags)
            }
            abi::IORING_OP_ACCEPT => accept(&sqe, fd),
            abi::IORING_OP_CONNECT => {
                let connecting = self.pending[index].connecting;
                let a = connect(&sqe, fd, connecting);
                if matches!(a, Attempt::Wait(_)) {
                    self.pending[index].connecting = true;
                }
                a
            }
            abi::IORING_OP_POLL_ADD => {
                if sqe.len() & abi::IORING_POLL_ADD_MULTI != 0 {
                    return Attempt::Done(-libc::EOPNOTSUPP, 0);
                }
                let mask = sqe.poll32_events();
                let mut pfd = libc::pollfd {
                    fd,
                    events: mask as i16,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; no wait.
                let r = unsafe { libc::poll(&mut pfd, 1, 0) };
                if r < 0 {
                    Attempt::Done(neg_errno(), 0)
                } else if pfd.revents != 0 {
                    Attempt::Done(i32::from(pfd.revents as u16), 0)
                } else {
                    Attempt::Wait(mask)
                }
            }
            abi::IORING_OP_SHUTDOWN => {
                // SAFETY: plain integers.
                Attempt::Done(
                    res(unsafe { libc::shutdown(fd, sqe.len() as i32) } as isize),
                    0,
                )
            }
            abi::IORING_OP_CLOSE => Attempt::Done(self.close(&sqe, fd), 0),
            abi::IORING_OP_PIPE => {
                if sqe.file_index() != 0 {
                    return Attempt::Done(-libc::EOPNOTSUPP, 0);
                }
                // SAFETY: a syscall on the SQE's two-int array (see the module docs).
                let r =
                    unsafe { libc::pipe2(sqe.addr() as *mut libc::c_int, sqe.rw_flags() as i32) };
                Attempt::Done(res(r as isize), 0)
            }
            abi::IORING_OP_FADVISE => {
                // SAFETY: plain integers.
                let r = unsafe {
                    libc::posix_fadvise(
                        fd,
                        sqe.off() as i64,
                        i64::from(sqe.len()),
                        sqe.fadvise_advice() as i32,
                    )
                };
                // posix_fadvise returns the errno itself.
                Attempt::Done(-r, 0)
            }
            abi::IORING_OP_URING_CMD => {
                if sqe.cmd_op() != SOCKET_URING_OP_GETSOCKOPT {
                    return Attempt::Done(-libc::EOPNOTSUPP, 0);
                }
                let mut len = sqe.optlen() as libc::socklen_t;
                // SAFETY: a syscall on the SQE's option buffer (see the module docs).
                let r = unsafe {
                    libc::getsockopt(
                        fd,
                        sqe.level() as i32,
                        sqe.optname() as i32,
                        sqe.optval() as *mut libc::c_void,
                        &mut len,
                    )
                };
                Attempt::Done(if r < 0 { neg_errno() } else { len as i32 }, 0)
            }
            abi::IORING_OP_FSYNC
            | abi::IORING_OP_FALLOCATE
            | abi::IORING_OP_FTRUNCATE
            | abi::IORING_OP_OPENAT
            | abi::IORING_OP_STATX
            | abi::IORING_OP_UNLINKAT
            | abi::IORING_OP_RENAMEAT
            | abi::IORING_OP_MKDIRAT
            | abi::IORING_OP_SYMLINKAT
            | abi::IORING_OP_LINKAT
            | abi::IORING_OP_SPLICE => {
                if sqe.opcode() == abi::IORING_OP_OPENAT
                    && sqe.file_index() == abi::IORING_FILE_INDEX_ALLOC
                {
                    return Attempt::Done(-libc::EOPNOTSUPP, 0);
                }
                Attempt::Blocking
            }
            _ => Attempt::Done(-libc::EOPNOTSUPP, 0),
        }
    }

    /// READ_FIXED/WRITE_FIXED: the range must lie in the registered buffer it names.
    fn check_fixed(&self, sqe: &Sqe) -> Result<(), i32> {
        if !matches!(
            sqe.opcode(),
            abi::IORING_OP_READ_FIXED | abi::IORING_OP_WRITE_FIXED
        ) {
            return Ok(());
        }
        let (base, len) = *self
            .buffers
            .get(sqe.buf_index() as usize)
            .ok_or(libc::EFAULT)?;
        let start = sqe.addr() as usize;
        let end = start.checked_add(sqe.len() as usize).ok_or(libc::EFAULT)?;
        if start < base || end > base + len {
            return Err(libc::EFAULT);
        }
        Ok(())
    }

    /// What a send or receive of `len` bytes in all that returned `r` comes to: with
    /// `MSG_WAITALL` on a stream, a short transfer is kept (`done`) and the op waits for
    /// `events` to go on with the rest, as io_uring does since Linux 5.18; it ends with all
    /// bytes, or with those moved before an error or the end of the stream.
    fn waitall(&mut self, index: usize, sqe: &Sqe, r: i32, len: u64, events: u32) -> Attempt {
        let p = &mut self.pending[index];
        let done = p.done;
        if r == -libc::EAGAIN {
            return Attempt::Wait(events);
        }
        if r <= 0 {
            if done == 0 {
                return Attempt::Done(r, 0);
            }
            // An error or the end after some bytes: those bytes, as a short transfer.
            p.short = true;
            return Attempt::Done(done as i32, 0);
        }
        let total = done + r as u32;
        let waitall = sqe.msg_flags() as i32 & libc::MSG_WAITALL != 0;
        // io_uring honours MSG_WAITALL on stream and seqpacket sockets (`io_net_retry`);
        // the socket's type is asked only of a short transfer (a syscall per op otherwise).
        if u64::from(total) < len
            && waitall
            && matches!(
                super::super::socket_type(p.fd),
                Some(libc::SOCK_STREAM | libc::SOCK_SEQPACKET)
            )
        {
            p.done = total;
            return Attempt::Again;
        }
        Attempt::Done(total as i32, 0)
    }

    /// SENDMSG, going on past a short send with `MSG_WAITALL` on a stream (the control
    /// message goes with the first part only, as in the kernel).
    fn sendmsg(
        &mut self,
        index: usize,
        sqe: &Sqe,
        fd: RawFd,
        msg: *mut libc::msghdr,
        flags: i32,
    ) -> Attempt {
        let done = self.pending[index].done;
        if done == 0 {
            // SAFETY: a syscall on the SQE's msghdr (see the module docs).
            let r = res(unsafe { libc::sendmsg(fd, msg, flags) });
            if r <= 0 || flags & libc::MSG_WAITALL == 0 {
                return if r == -libc::EAGAIN {
                    Attempt::Wait(OUT)
                } else {
                    Attempt::Done(r, 0)
                };
            }
            // SAFETY: the SQE's msghdr and its iovecs (see the module docs), read only.
            let len = unsafe { iov_len((*msg).msg_iov, (*msg).msg_iovlen) };
            return self.waitall(index, sqe, r, len, OUT);
        }
        // SAFETY: as above; the copy is ours, and points to the op's own buffers.
        let (mut m, len) = unsafe { (msg.read(), iov_len((*msg).msg_iov, (*msg).msg_iovlen)) };
        m.msg_control = std::ptr::null_mut();
        m.msg_controllen = 0;
        let r = with_iov(
            m.msg_iov,
            m.msg_iovlen,
            done as usize,
            usize::MAX,
            |iov, count| {
                m.msg_iov = iov.cast_mut();
                m.msg_iovlen = count;
                // SAFETY: `m` is a valid msghdr whose iovecs (alive for the call) lie in the
                // op's buffers.
                res(unsafe { libc::sendmsg(fd, &m, flags) })
            },
        );
        self.waitall(index, sqe, r, len, OUT)
    }

    /// RECV, with a provided buffer when the SQE selects one, multishot when it asks.
    fn recv(&mut self, index: usize, sqe: &Sqe, fd: RawFd) -> Attempt {
        let multishot = sqe.ioprio() & abi::IORING_RECV_MULTISHOT != 0;
        let select = sqe.sqe_flags() & abi::IOSQE_BUFFER_SELECT != 0;
        if multishot && !select {
            return Attempt::Done(-libc::EINVAL, 0);
        }
        let (addr, len, bid) = if select {
            match self.peek_buf(sqe.buf_group()) {
                Some((addr, len, bid)) => {
                    let len = if !sqe.is_empty() {
                        len.min(sqe.len())
                    } else {
                        len
                    };
                    (addr, len, Some(bid))
                }
                None => return Attempt::Done(-libc::ENOBUFS, 0),
            }
        } else {
            (sqe.addr() as *mut u8, sqe.len(), None)
        };
        if bid.is_none() {
            let done = self.pending[index].done;
            // SAFETY: a syscall on the SQE's buffer, past the bytes already received (see
            // the module docs); `done < len`.
            let r = res(unsafe {
                libc::recv(
                    fd,
                    addr.add(done as usize).cast(),
                    (len - done) as usize,
                    sqe.msg_flags() as i32 | libc::MSG_DONTWAIT,
                )
            });
            return self.waitall(index, sqe, r, u64::from(len), IN);
        }
        // SAFETY: a syscall on a provided buffer the pool lent to the ring and takes back
        // only with this CQE (see the module docs).
        let r = res(unsafe {
            libc::recv(
                fd,
                addr.cast(),
                len as usize,
                sqe.msg_flags() as i32 | libc::MSG_DONTWAIT,
            )
        });
        if r == -libc::EAGAIN {
            return Attempt::Wait(IN);
        }
        let mut flags = 0;
        if let Some(bid) = bid
            && r > 0
        {
            self.consume_buf(sqe.buf_group());
            flags = abi::IORING_CQE_F_BUFFER | (u32::from(bid) << abi::IORING_CQE_BUFFER_SHIFT);
        }
        if multishot && r > 0 {
            if (r as u32) < len && self.drained(index) {
                Attempt::Drained(r, flags)
            } else {
                Attempt::More(r, flags)
            }
        } else {
            Attempt::Done(r, flags)
        }
    }

    /// CLOSE of an fd, or of a fixed-file slot (`file_index`).
    fn close(&mut self, sqe: &Sqe, fd: RawFd) -> i32 {
        if sqe.file_index() != 0 {
            return match self.files.get_mut(sqe.file_index() as usize - 1) {
                Some(slot) if slot.is_some() => {
                    *slot = None;
                    0
                }
                _ => -libc::EBADF,
            };
        }
        if sqe.sqe_flags() & abi::IOSQE_FIXED_FILE != 0 {
            return -libc::EBADF;
        }
        // SAFETY: the op owns `fd` (CLOSE hands it over, as to the kernel).
        res(unsafe { libc::close(fd) } as isize)
    }
}

fn is_read(sqe: &Sqe) -> bool {
    matches!(
        sqe.opcode(),
        abi::IORING_OP_READ | abi::IORING_OP_READV | abi::IORING_OP_READ_FIXED
    )
}

/// Whether `fd` is a regular file or block device: it never says "not ready", it blocks.
fn is_file(fd: RawFd) -> bool {
    file_type(fd).is_none_or(|t| matches!(t, libc::S_IFREG | libc::S_IFBLK))
}

/// `fd`'s file type (`S_IFMT` bits), `None` if fstat fails.
fn file_type(fd: RawFd) -> Option<libc::mode_t> {
    // SAFETY: stat is plain data that fstat fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid stat buffer.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return None;
    }
    Some(st.st_mode & libc::S_IFMT)
}

/// A read or write of any of the six kinds, of at most `max` bytes; `nowait` adds
/// `RWF_NOWAIT`. The offset `-1` means the file position; a stream (pipe, socket) ignores the
/// offset, as io_uring does.
fn rw(sqe: &Sqe, fd: RawFd, nowait: bool, max: usize) -> i32 {
    let single;
    let (iov, count) = match sqe.opcode() {
        abi::IORING_OP_READV | abi::IORING_OP_WRITEV => {
            (sqe.addr() as *const libc::iovec, sqe.len() as usize)
        }
        _ => {
            single = libc::iovec {
                iov_base: sqe.addr() as *mut libc::c_void,
                iov_len: sqe.len() as usize,
            };
            (&raw const single, 1)
        }
    };
    let flags = sqe.rw_flags() as i32 | if nowait { libc::RWF_NOWAIT } else { 0 };
    with_iov(iov, count, 0, max, |iov, count| {
        let call = |off: i64| {
            // SAFETY: a syscall on the SQE's buffers (see the module docs), or on a trimmed
            // copy of its iovecs that lives across it.
            res(unsafe {
                if is_read(sqe) {
                    libc::preadv2(fd, iov, count as i32, off, flags)
                } else {
                    libc::pwritev2(fd, iov, count as i32, off, flags)
                }
            })
        };
        let off = sqe.off() as i64;
        match call(off) {
            r if r == -libc::ESPIPE && off != -1 => call(-1),
            r => r,
        }
    })
}

/// A read or write on a pollable fd that refuses `RWF_NOWAIT` (a FIFO opened by path, a
/// tty): `-EAGAIN` until it is ready, then no more than it takes without blocking: the bytes
/// a read finds (`FIONREAD`), or `PIPE_BUF` bytes into a FIFO with room (a FIFO takes that
/// many at once when poll says writable). `None` when that cannot be told: the op goes to
/// the blocking pool. A FIFO is read and written through a description of its own that
/// does not block ([`nonblocking_fifo`]), since another reader or writer of the same pipe
/// (another core, another process) may take what poll saw first; for a tty only such a
/// race could still make the call block.
fn rw_without_nowait(sqe: &Sqe, fd: RawFd) -> Option<i32> {
    let read = is_read(sqe);
    let mut pfd = libc::pollfd {
        fd,
        events: if read { libc::POLLIN } else { libc::POLLOUT },
        revents: 0,
    };
    // SAFETY: one valid pollfd; no wait.
    if unsafe { libc::poll(&mut pfd, 1, 0) } < 0 {
        return Some(neg_errno());
    }
    if pfd.revents == 0 {
        return Some(-libc::EAGAIN);
    }
    if pfd.revents & libc::POLLNVAL != 0 {
        return Some(-libc::EBADF);
    }
    let fifo = file_type(fd) == Some(libc::S_IFIFO);
    let max = if read {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to `n`.
        if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } < 0 {
            return None;
        }
        match n {
            n if n > 0 => n as usize,
            // Hung up and drained: the end, which a read returns at once.
            _ if pfd.revents & libc::POLLHUP != 0 => return Some(0),
            // Another reader of the pipe took what poll saw: wait for the next write.
            _ if fifo => return Some(-libc::EAGAIN),
            _ => return None,
        }
    } else if fifo {
        libc::PIPE_BUF
    } else {
        return None;
    };
    if fifo && let Some(own) = nonblocking_fifo(fd, read) {
        return Some(rw(sqe, own.as_raw_fd(), false, max));
    }
    Some(rw(sqe, fd, false, max))
}

/// The pipe of FIFO `fd` again, through a new description that does not block (opened by
/// its `/proc/self/fd` link, for reading or writing as `read` says); `None` where that
/// fails (no `/proc`).
fn nonblocking_fifo(fd: RawFd, read: bool) -> Option<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    let mode = if read { libc::O_RDONLY } else { libc::O_WRONLY };
    // SAFETY: a NUL-terminated path that lives across the call.
    let r = unsafe { libc::open(path.as_ptr(), mode | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    // SAFETY: a new fd, ours alone.
    (r >= 0).then(|| unsafe { OwnedFd::from_raw_fd(r) })
}

/// Calls `f` with the iovecs `iov[..count]` less their first `skip` bytes and cut at `max`
/// bytes: the array itself when it needs neither, else a trimmed copy (on the stack up to
/// 64 entries).
///
/// `iov` must point to `count` readable iovecs (the SQE's, kept by its op).
fn with_iov<R>(
    iov: *const libc::iovec,
    count: usize,
    skip: usize,
    max: usize,
    f: impl FnOnce(*const libc::iovec, usize) -> R,
) -> R {
    if skip == 0 && max == usize::MAX {
        return f(iov, count);
    }
    const STACK: usize = 64;
    let mut stack = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; STACK];
    let mut heap = Vec::new();
    let out: &mut [libc::iovec] = if count <= STACK {
        &mut stack[..count]
    } else {
        heap.resize(count, stack[0]);
        &mut heap
    };
    let (mut skip, mut left, mut n) = (skip, max, 0);
    for i in 0..count {
        // SAFETY: i < count readable iovecs (the caller's contract).
        let v = unsafe { iov.add(i).read() };
        if skip >= v.iov_len {
            skip -= v.iov_len;
            continue;
        }
        let len = (v.iov_len - skip).min(left);
        if len == 0 {
            break;
        }
        out[n] = libc::iovec {
            // Within the same buffer: `skip < iov_len`.
            iov_base: v.iov_base.cast::<u8>().wrapping_add(skip).cast(),
            iov_len: len,
        };
        n += 1;
        skip = 0;
        left -= len;
    }
    f(out.as_ptr(), n)
}

/// The bytes `count` iovecs at `iov` hold.
///
/// # Safety
/// `iov` points to `count` readable iovecs.
unsafe fn iov_len(iov: *const libc::iovec, count: usize) -> u64 {
    (0..count)
        // SAFETY: i < count readable iovecs (the caller's contract).
        .map(|i| unsafe { (*iov.add(i)).iov_len } as u64)
        .sum()
}

/// Sets `O_NONBLOCK` on a listener for good: accept has no per-call flag for it. Not for
/// the call only, as for connect: a listener may be shared by several cores' accepts (one
/// file description), and one core restoring the flag could leave another's accept
/// blocking its core. A listener has no `into_std`; the flag shows only to code that
/// accepts on a duplicate of its fd.
fn set_nonblocking(fd: RawFd) -> Result<(), i32> {
    // SAFETY: plain integers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(-neg_errno());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: plain integers.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(-neg_errno());
        }
    }
    Ok(())
}

/// Runs `call` (a syscall's CQE result) with `O_NONBLOCK` set on `fd`, then gives `fd` its
/// flags back: connect has no per-call flag for it, and the socket is the user's, who may
/// hand it to blocking code (`into_std`, documented to keep the blocking mode) afterwards. A
/// connect that got EINPROGRESS goes on without the flag. The socket is this op's alone
/// while it connects.
fn nonblocking(fd: RawFd, call: impl FnOnce() -> i32) -> i32 {
    // SAFETY: plain integers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return neg_errno();
    }
    if flags & libc::O_NONBLOCK != 0 {
        return call();
    }
    // SAFETY: plain integers.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return neg_errno();
    }
    let r = call();
    // SAFETY: plain integers; restores what F_GETFL read.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    r
}

/// ACCEPT, multishot when the SQE asks (a CQE with `F_MORE` per connection).
fn accept(sqe: &Sqe, fd: RawFd) -> Attempt {
    if sqe.file_index() != 0 {
        // Direct accept into the fixed table: not emulated.
        return Attempt::Done(-libc::EOPNOTSUPP, 0);
    }
    let multishot = sqe.ioprio() & abi::IORING_ACCEPT_MULTISHOT != 0;
    let (addr, len) = if multishot {
        (std::ptr::null_mut(), std::ptr::null_mut())
    } else {
        (
            sqe.addr() as *mut libc::sockaddr,
            sqe.addr2() as *mut libc::socklen_t,
        )
    };
    if let Err(e) = set_nonblocking(fd) {
        return Attempt::Done(-e, 0);
    }
    // SAFETY: a syscall on the SQE's sockaddr and length (see the module docs).
    let r = res(unsafe { libc::accept4(fd, addr, len, sqe.accept_flags() as i32) } as isize);
    match r {
        r if r == -libc::EAGAIN => Attempt::Wait(IN),
        r if r >= 0 && multishot => Attempt::More(r, 0),
        r => Attempt::Done(r, 0),
    }
}

/// CONNECT: started non-blocking; once writable, its outcome is `SO_ERROR`.
fn connect(sqe: &Sqe, fd: RawFd, connecting: bool) -> Attempt {
    if !connecting {
        let r = nonblocking(fd, || {
            // SAFETY: a syscall on the SQE's sockaddr (see the module docs).
            res(unsafe {
                libc::connect(
                    fd,
                    sqe.addr() as *const libc::sockaddr,
                    sqe.off() as libc::socklen_t,
                )
            } as isize)
        });
        return match r {
            r if r == -libc::EINPROGRESS => Attempt::Wait(OUT),
            // Nothing started (a Unix listener's backlog is full, or no local port is
            // free), and an unconnected socket polls writable at once: try again later.
            r if r == -libc::EAGAIN => Attempt::Later,
            r => Attempt::Done(r, 0),
        };
    }
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd; no wait.
    if unsafe { libc::poll(&mut pfd, 1, 0) } == 0 {
        return Attempt::Wait(OUT);
    }
    let mut err: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for the call.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut err).cast(),
            &mut len,
        )
    };
    if r < 0 {
        Attempt::Done(neg_errno(), 0)
    } else {
        Attempt::Done(-err, 0)
    }
}

/// An op for the blocking pool: the SQE and its resolved fds.
pub(super) struct Blocking {
    pub(super) sqe: Sqe,
    pub(super) fd: RawFd,
    pub(super) splice_fd_in: RawFd,
}

impl Blocking {
    /// Runs the op's syscall, blocking; returns the CQE result.
    pub(super) fn run(&self) -> i32 {
        let (sqe, fd) = (&self.sqe, self.fd);
        let path = |addr: u64| addr as *const libc::c_char;
        // SAFETY: every call below is a syscall on the SQE's own fields and addresses (see
        // the module docs): the slot keeps them until the CQE, which waits for this result.
        unsafe {
            match sqe.opcode() {
                abi::IORING_OP_FSYNC => {
                    let r = if sqe.fsync_flags() & abi::IORING_FSYNC_DATASYNC != 0 {
                        libc::fdatasync(fd)
                    } else {
                        libc::fsync(fd)
                    };
                    res(r as isize)
                }
                abi::IORING_OP_FALLOCATE => {
                    let r =
                        libc::fallocate(fd, sqe.len() as i32, sqe.off() as i64, sqe.addr() as i64);
                    res(r as isize)
                }
                abi::IORING_OP_FTRUNCATE => res(libc::ftruncate(fd, sqe.off() as i64) as isize),
                abi::IORING_OP_OPENAT => {
                    // Opened with O_NONBLOCK, as io_uring's first, inline attempt does, then
                    // the flag cleared unless asked for: a FIFO's open would otherwise wait
                    // for its other end on a pool thread that nothing can interrupt (a
                    // reader's open now succeeds at once, a writer's without a reader fails
                    // with ENXIO, as on io_uring without O_CREAT or O_TRUNC).
                    // A file under a lease answers a non-blocking open with EAGAIN once the
                    // lease break started: that one is opened again, blocking (as io_uring
                    // retries it on a worker).
                    let flags = sqe.open_flags() as i32 | libc::O_CLOEXEC;
                    let mut r =
                        libc::openat(fd, path(sqe.addr()), flags | libc::O_NONBLOCK, sqe.len());
                    if r < 0 && flags & libc::O_NONBLOCK == 0 && neg_errno() == -libc::EAGAIN {
                        r = libc::openat(fd, path(sqe.addr()), flags, sqe.len());
                    }
                    if r >= 0 && flags & libc::O_NONBLOCK == 0 {
                        let now = libc::fcntl(r, libc::F_GETFL);
                        if now >= 0 {
                            libc::fcntl(r, libc::F_SETFL, now & !libc::O_NONBLOCK);
                        }
                    }
                    res(r as isize)
                }
                abi::IORING_OP_STATX => {
                    let r = libc::statx(
                        fd,
                        path(sqe.addr()),
                        sqe.statx_flags() as i32,
                        sqe.len(),
                        sqe.off() as *mut libc::statx,
                    );
                    res(r as isize)
                }
                abi::IORING_OP_UNLINKAT => {
                    let r = libc::unlinkat(fd, path(sqe.addr()), sqe.unlink_flags() as i32);
                    res(r as isize)
                }
                abi::IORING_OP_RENAMEAT => {
                    let r = libc::syscall(
                        libc::SYS_renameat2,
                        fd,
                        path(sqe.addr()),
                        sqe.len() as i32,
                        path(sqe.addr2()),
                        sqe.rename_flags(),
                    );
                    res(r as isize)
                }
                abi::IORING_OP_MKDIRAT => {
                    res(libc::mkdirat(fd, path(sqe.addr()), sqe.len()) as isize)
                }
                abi::IORING_OP_SYMLINKAT => {
                    res(libc::symlinkat(path(sqe.addr()), fd, path(sqe.addr2())) as isize)
                }
                abi::IORING_OP_LINKAT => {
                    let r = libc::linkat(
                        fd,
                        path(sqe.addr()),
                        sqe.len() as i32,
                        path(sqe.addr2()),
                        sqe.hardlink_flags() as i32,
                    );
                    res(r as isize)
                }
                abi::IORING_OP_SPLICE => {
                    let mut off_in = sqe.splice_off_in() as i64;
                    let mut off_out = sqe.off() as i64;
                    let r = libc::splice(
                        self.splice_fd_in,
                        if off_in == -1 {
                            std::ptr::null_mut()
                        } else {
                            &mut off_in
                        },
                        fd,
                        if off_out == -1 {
                            std::ptr::null_mut()
                        } else {
                            &mut off_out
                        },
                        sqe.len() as usize,
                        sqe.splice_flags() & !abi::SPLICE_F_FD_IN_FIXED,
                    );
                    res(r)
                }
                // Reads and writes that would block (files, fds without RWF_NOWAIT).
                _ => rw(sqe, fd, false, usize::MAX),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes `with_iov` hands over for `skip` and `max`, gathered.
    fn trimmed(bufs: &[&[u8]], skip: usize, max: usize) -> (Vec<u8>, usize) {
        let iov: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr().cast_mut().cast(),
                iov_len: b.len(),
            })
            .collect();
        with_iov(iov.as_ptr(), iov.len(), skip, max, |p, n| {
            let mut out = Vec::new();
            for i in 0..n {
                // SAFETY: `with_iov` passes `n` iovecs into `bufs`, alive here.
                let v = unsafe { p.add(i).read() };
                // SAFETY: as above: `iov_len` bytes at `iov_base` inside one of `bufs`.
                out.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len)
                });
            }
            (out, n)
        })
    }

    #[test]
    fn with_iov_skips_and_cuts_across_buffers() {
        let bufs: [&[u8]; 3] = [b"abc", b"", b"defgh"];
        assert_eq!(trimmed(&bufs, 0, usize::MAX), (b"abcdefgh".to_vec(), 3));
        assert_eq!(trimmed(&bufs, 2, usize::MAX), (b"cdefgh".to_vec(), 2));
        assert_eq!(trimmed(&bufs, 3, usize::MAX), (b"defgh".to_vec(), 1));
        assert_eq!(trimmed(&bufs, 4, 2), (b"ef".to_vec(), 1));
        assert_eq!(trimmed(&bufs, 1, 3), (b"bcd".to_vec(), 2));
        assert_eq!(trimmed(&bufs, 8, usize::MAX), (Vec::new(), 0));
        assert_eq!(trimmed(&bufs, 0, 0), (Vec::new(), 0));
    }

    #[test]
    fn with_iov_copies_more_than_the_stack_holds() {
        let data: Vec<u8> = (0..200u8).collect();
        let bufs: Vec<&[u8]> = data.chunks(2).collect();
        let (got, n) = trimmed(&bufs, 5, 100);
        assert_eq!(got, data[5..105]);
        assert_eq!(n, 51);
    }
}

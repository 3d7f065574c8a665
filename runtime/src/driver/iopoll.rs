//! [`IopollRing`]: a small ring of its own with `IORING_SETUP_IOPOLL`, for polled O_DIRECT
//! transfers on devices with poll queues (NVMe with `nvme.poll_queues=N`).
//!
//! The cores' rings are not IOPOLL rings: an IOPOLL ring takes only O_DIRECT reads and writes
//! on devices that poll, so a core's wake-up read, timeouts and MSG_RING could not run on it.
//! An `IopollRing` is used synchronously: each call submits one transfer and polls until it
//! completes, on the calling thread (microseconds on a device that polls). Where the device
//! cannot poll the kernel fails the transfer with EOPNOTSUPP, which becomes an `Unsupported`
//! error that says so.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use uring_sys::{Ring, Sqe, prep};

use crate::buf::{AlignedBuf, BufResult, IoBuf, IoBufMut};

/// A polled ring for O_DIRECT transfers; see the module docs.
#[derive(Debug)]
pub struct IopollRing {
    ring: Ring,
    /// Set when the ring failed with a transfer possibly in flight: it is not used again.
    broken: bool,
}

impl IopollRing {
    /// A polled ring with `entries` SQ entries.
    ///
    /// # Errors
    /// The ring setup's error (see `uring_sys::SetupError`).
    pub fn new(entries: u32) -> io::Result<IopollRing> {
        Ok(IopollRing {
            ring: Ring::builder(entries).iopoll(true).build()?,
            broken: false,
        })
    }

    /// Reads `buf.len()` bytes at `pos` of `fd` (opened with `O_DIRECT`), polling for the
    /// completion; returns how many were read. The caller checks alignment.
    ///
    /// # Errors
    /// `Unsupported` where the device cannot poll; the read's errno.
    pub fn read_at(
        &mut self,
        fd: BorrowedFd<'_>,
        mut buf: AlignedBuf,
        pos: u64,
    ) -> BufResult<usize, AlignedBuf> {
        let sqe = prep::prep_read(
            fd.as_raw_fd(),
            buf.stable_mut_ptr(),
            buf.bytes_total() as u32,
            pos,
        );
        self.transfer(sqe, buf)
    }

    /// Writes `buf` at `pos` of `fd` (opened with `O_DIRECT`), polling for the completion.
    ///
    /// # Errors
    /// As [`IopollRing::read_at`].
    pub fn write_at(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: AlignedBuf,
        pos: u64,
    ) -> BufResult<usize, AlignedBuf> {
        let sqe = prep::prep_write(
            fd.as_raw_fd(),
            buf.stable_ptr(),
            buf.bytes_init() as u32,
            pos,
        );
        self.transfer(sqe, buf)
    }

    /// Submits `sqe` (which points into `buf` and at an fd borrowed for the whole call) and
    /// polls until its CQE.
    fn transfer(&mut self, sqe: Sqe, buf: AlignedBuf) -> BufResult<usize, AlignedBuf> {
        if self.broken {
            return (
                Err(io::Error::other(
                    "this IopollRing failed earlier with a transfer in flight; make a new one",
                )),
                buf,
            );
        }
        if buf.bytes_total() > u32::MAX as usize {
            return (
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "at most 4 GiB per polled transfer",
                )),
                buf,
            );
        }
        let sqe = sqe.user_data(1);
        // SAFETY: the SQE points into `buf`, which this function owns and does not return (or
        // free) until the CQE is reaped below; on a ring failure with the transfer possibly in
        // flight it is leaked instead. The fd is borrowed by the caller for the whole call.
        // Nothing else is in this ring's SQ (each call reaps its own CQE).
        if unsafe { self.ring.sq().push(&sqe) }.is_err() {
            return (Err(io::Error::other("the IOPOLL ring's SQ is full")), buf);
        }
        let mut submitted = false;
        loop {
            if let Some(cqe) = self.ring.cq().pop() {
                let result = if cqe.res() == -libc::EOPNOTSUPP {
                    Err(not_pollable())
                } else {
                    cqe.result().map(|n| n as usize)
                };
                return (result, buf);
            }
            match self.ring.submit_and_wait(1) {
                Ok(n) => submitted |= n > 0,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                    ) => {}
                Err(e) if !submitted && self.ring.sq().len() == 1 => {
                    // Never submitted: replace the ring (the SQE goes with the old one, so it
                    // never reaches the kernel); the buffer is free.
                    match Ring::builder(2).iopoll(true).build() {
                        Ok(fresh) => self.ring = fresh,
                        Err(_) => self.broken = true,
                    }
                    return (Err(e), buf);
                }
                Err(e) => {
                    self.broken = true;
                    let align = buf.align();
                    std::mem::forget(buf);
                    return (Err(e), AlignedBuf::new(0, align));
                }
            }
        }
    }
}

fn not_pollable() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this file's device does not support polled I/O (IORING_SETUP_IOPOLL: EOPNOTSUPP): \
         IOPOLL needs O_DIRECT on a block device with poll queues, such as NVMe loaded with \
         nvme.poll_queues=N; virtio-blk, loop devices and most cloud disks have none. Use the \
         runtime's ordinary ring instead",
    )
}

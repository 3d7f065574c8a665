//! The positional transfers, in either direction: [`RwAt`] (`IORING_OP_READ`/`WRITE`, or
//! `READ_FIXED`/`WRITE_FIXED` for a registered buffer) moves bytes between the file and part
//! of one owned buffer (`pread`/`pwrite`), [`RwvAt`] (`IORING_OP_READV`/`WRITEV`) between
//! the file and several (`preadv`/`pwritev`). [`Read`] and [`Write`] say which way, [`At`]
//! where.

use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

use crate::op::FileRef;

/// Where in the file a transfer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// At this offset (`pread`/`pwrite`): the file's own position is neither used nor moved.
    Offset(u64),
    /// At the file's own position, which the transfer advances (`read`/`write`): io_uring's
    /// offset -1 (`IORING_FEAT_RW_CUR_POS`, 5.6). A pipe, a socket or a terminal has only
    /// this.
    Position,
}

impl At {
    /// Refuses an offset the kernel cannot take as one: its file offsets are signed
    /// (`loff_t`), and io_uring reads -1 (`u64::MAX`) as [`At::Position`], so an offset past
    /// `i64::MAX` would quietly read or write at the file's position. As in std, it is
    /// `InvalidInput`.
    pub(crate) fn check(self, what: &str) -> io::Result<()> {
        match self {
            At::Offset(pos) if pos > i64::MAX as u64 => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{what}: offset {pos} is past the largest file offset (i64::MAX); to use the \
                     file's own position (a pipe, stdout), use File::read/write"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// `n` bytes further on: the file's position moves by itself.
    pub(crate) fn after(self, n: usize) -> At {
        match self {
            At::Offset(pos) => At::Offset(pos.saturating_add(n as u64)),
            At::Position => At::Position,
        }
    }

    /// The offset O_DIRECT alignment is checked against: the file's position is unknown
    /// here (the kernel checks it, EINVAL).
    pub(crate) fn dio_offset(self) -> u64 {
        match self {
            At::Offset(pos) => pos,
            At::Position => 0,
        }
    }

    /// The SQE's offset field.
    fn raw(self) -> u64 {
        match self {
            At::Offset(pos) => pos,
            At::Position => u64::MAX,
        }
    }
}

/// Which way a transfer moves bytes between a file and buffers of type `B`.
///
/// # Safety
/// `ptr(buf)` points to `buf`'s memory, stable across moves of `buf`, whose first
/// `room(buf)` bytes the kernel may access in this direction: writable memory for a read,
/// initialized bytes for a write. `prep` and `prep_vectored` build SQEs that point to
/// nothing but the memory they are given.
pub(crate) unsafe trait Direction<B>: 'static {
    /// Whether a transfer larger than one op moves continues in further ops: a read fills
    /// its buffer; a write reports the short count, as `pwrite(2)` does.
    const CONTINUES: bool;

    /// The first byte of `buf`.
    fn ptr(buf: &mut B) -> *mut u8;
    /// How many bytes of `buf` a transfer may move: its capacity for a read, its
    /// initialized bytes for a write.
    fn room(buf: &B) -> usize;
    /// The SQE moving `len` bytes at `ptr` (inside registered buffer `fixed`, if any) at
    /// file offset `offset`.
    fn prep(fd: RawFd, ptr: *mut u8, len: u32, offset: u64, fixed: Option<u16>) -> Sqe;
    /// The SQE moving the `nr` buffers of `iovecs` at file offset `offset`.
    fn prep_vectored(fd: RawFd, iovecs: *const libc::iovec, nr: u32, offset: u64) -> Sqe;
    /// After the kernel moved `buf`'s bytes up to `end`: a read marks them initialized.
    ///
    /// # Safety
    /// `buf`'s first `end` bytes are initialized and `end <= room(buf)`.
    unsafe fn moved(buf: &mut B, end: usize);
}

/// From the file into the buffers.
pub(crate) struct Read;

/// From the buffers to the file.
pub(crate) struct Write;

// SAFETY: `stable_mut_ptr` points to the buffer's stable memory, writable up to
// `bytes_total` (IoBufMut); the preps point only to the memory given.
unsafe impl<B: IoBufMut> Direction<B> for Read {
    const CONTINUES: bool = true;

    fn ptr(buf: &mut B) -> *mut u8 {
        buf.stable_mut_ptr()
    }

    fn room(buf: &B) -> usize {
        buf.bytes_total()
    }

    fn prep(fd: RawFd, ptr: *mut u8, len: u32, offset: u64, fixed: Option<u16>) -> Sqe {
        match fixed {
            Some(index) => prep::prep_read_fixed(fd, ptr, len, offset, index),
            None => prep::prep_read(fd, ptr, len, offset),
        }
    }

    fn prep_vectored(fd: RawFd, iovecs: *const libc::iovec, nr: u32, offset: u64) -> Sqe {
        prep::prep_readv(fd, iovecs, nr, offset)
    }

    unsafe fn moved(buf: &mut B, end: usize) {
        // SAFETY: the caller's contract is `set_init`'s: the first `end` bytes are
        // initialized and `end <= bytes_total`.
        unsafe { buf.set_init(end) };
    }
}

// SAFETY: `stable_ptr` points to the buffer's stable memory, initialized up to `bytes_init`
// (IoBuf), which the kernel only reads; the preps point only to the memory given.
unsafe impl<B: IoBuf> Direction<B> for Write {
    const CONTINUES: bool = false;

    fn ptr(buf: &mut B) -> *mut u8 {
        buf.stable_ptr().cast_mut()
    }

    fn room(buf: &B) -> usize {
        buf.bytes_init()
    }

    fn prep(fd: RawFd, ptr: *mut u8, len: u32, offset: u64, fixed: Option<u16>) -> Sqe {
        match fixed {
            Some(index) => prep::prep_write_fixed(fd, ptr, len, offset, index),
            None => prep::prep_write(fd, ptr, len, offset),
        }
    }

    fn prep_vectored(fd: RawFd, iovecs: *const libc::iovec, nr: u32, offset: u64) -> Sqe {
        prep::prep_writev(fd, iovecs, nr, offset)
    }

    unsafe fn moved(_: &mut B, _: usize) {}
}

/// Moves up to `len` bytes between the file at `at` and `buf[start..]`, the way `D` says.
pub(crate) struct RwAt<D, B, F = SharedFd> {
    fd: F,
    buf: B,
    /// Where in `buf` the bytes go or come from; `start + len <= D::room(buf)`.
    start: usize,
    len: u32,
    at: At,
    /// The registered buffer holding `buf` (a `FixedIoBuf`): then `READ_FIXED`/`WRITE_FIXED`.
    fixed: Option<u16>,
    dir: PhantomData<D>,
}

impl<D: Direction<B>, B: IoBuf, F: FileRef> RwAt<D, B, F> {
    /// The op on `buf[start..start + len]`, where `start + len <= D::room(&buf)`; `fixed`
    /// names the registered buffer holding `buf`.
    pub(crate) fn new(fd: F, buf: B, fixed: Option<u16>, start: usize, len: u32, at: At) -> Self {
        RwAt {
            fd,
            buf,
            start,
            len,
            at,
            fixed,
            dir: PhantomData,
        }
    }
}

// SAFETY: the SQE points to `buf[start..start + len]`, inside `buf`'s first `D::room` bytes
// (the caller keeps `start + len` within them), which `Direction`'s contract makes memory the
// kernel may access this way (writable for a read, initialized for a write), stable across
// moves and owned by this op until it is dropped after the CQE (with `fixed`, the kernel
// also checks that the range lies inside that registered buffer); `fd` keeps the file open
// (a `FileRef` holds its `SharedFd`).
unsafe impl<D: Direction<B>, B: IoBuf, F: FileRef> Operation for RwAt<D, B, F> {
    type Output = BufResult<usize, B>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        debug_assert!(self.start + self.len as usize <= D::room(&self.buf));
        let t = self.fd.target();
        let ptr = D::ptr(&mut self.buf).wrapping_add(self.start);
        D::prep(t.fd, ptr, self.len, self.at.raw(), self.fixed).flags(t.sqe_flags)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            // SAFETY: the bytes before `start` were initialized before (the caller's
            // contract) and the kernel moved the n bytes after, within `D::room`.
            unsafe { D::moved(&mut self.buf, self.start + n) };
        }
        (result, self.buf)
    }
}

/// Moves bytes between the file at `at` and `bufs` in turn, each over its `D::room`.
pub(crate) struct RwvAt<D, B> {
    fd: SharedFd,
    bufs: Vec<B>,
    /// Built in `sqe()` from `bufs`; the kernel reads it while the op is in flight.
    iovecs: Vec<libc::iovec>,
    at: At,
    dir: PhantomData<D>,
}

impl<D: Direction<B>, B: IoBuf> RwvAt<D, B> {
    /// The op on `bufs` at `at`.
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, at: At) -> Self {
        RwvAt {
            fd,
            bufs,
            iovecs: Vec::new(),
            at,
            dir: PhantomData,
        }
    }
}

// SAFETY: the SQE points to `iovecs`, a Vec this op owns (its heap block does not move and is
// not touched after `sqe()`), whose entries cover each buffer's first `D::room` bytes:
// memory the kernel may access this way (`Direction`'s contract), stable and owned by this
// op until it is dropped after the CQE; `fd` keeps the file open.
unsafe impl<D: Direction<B>, B: IoBuf> Operation for RwvAt<D, B> {
    type Output = BufResult<usize, Vec<B>>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        self.iovecs = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_len: D::room(b),
                iov_base: D::ptr(b).cast(),
            })
            .collect();
        let t = self.fd.target();
        let nr = self.iovecs.len() as u32;
        D::prep_vectored(t.fd, self.iovecs.as_ptr(), nr, self.at.raw()).flags(t.sqe_flags)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            let mut left = n;
            for b in &mut self.bufs {
                let here = left.min(D::room(b));
                // SAFETY: the kernel moved the buffers' bytes in order: this one's first
                // `here` bytes, within its `D::room`, were moved (for a read, written).
                unsafe { D::moved(b, here) };
                left -= here;
            }
        }
        (result, self.bufs)
    }
}

//! `IORING_OP_READ` of one `signalfd_siginfo` from a signalfd.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use uring_sys::{Sqe, prep};

use crate::op::{Completion, Operation};

/// The size the kernel writes per signal (`struct signalfd_siginfo`).
const SIGINFO: usize = std::mem::size_of::<libc::signalfd_siginfo>();

/// Reads one delivery; a dropped read that got one counts it in `kept`.
pub(super) struct ReadSiginfo {
    fd: Rc<OwnedFd>,
    buf: Box<[u8; SIGINFO]>,
    kept: Rc<Cell<u64>>,
}

impl ReadSiginfo {
    pub(super) fn new(fd: Rc<OwnedFd>, kept: Rc<Cell<u64>>) -> ReadSiginfo {
        ReadSiginfo {
            fd,
            buf: Box::new([0; SIGINFO]),
            kept,
        }
    }
}

// SAFETY: the SQE names `fd` (kept open by the `Rc` this op holds) and `buf`, a heap block
// the op owns (it does not move when the op moves and lives until the op drops, which the
// driver delays to the final CQE), of exactly the length given.
unsafe impl Operation for ReadSiginfo {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_read(
            self.fd.as_raw_fd(),
            self.buf.as_mut_ptr(),
            SIGINFO as u32,
            0,
        )
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> io::Result<()> {
        match result? as usize {
            SIGINFO => Ok(()),
            n => Err(io::Error::other(format!(
                "a signalfd read gave {n} bytes, not one siginfo of {SIGINFO}"
            ))),
        }
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if matches!(cqe.result(), Ok(n) if n as usize == SIGINFO) {
            self.kept.set(self.kept.get() + 1);
        }
    }
}

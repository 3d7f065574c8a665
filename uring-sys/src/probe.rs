//! Which opcodes this kernel supports (`IORING_REGISTER_PROBE`, 5.6).

use std::io;
use std::os::fd::AsRawFd;

use crate::abi::{self, io_uring_probe_op};
use crate::{Ring, syscall};

/// The kernel's answer to `IORING_REGISTER_PROBE`.
#[derive(Clone)]
pub struct Probe {
    last_op: u8,
    flags: [u16; 256],
}

impl Probe {
    /// A probe that reports exactly `opcodes` as supported: what a ring that is not the
    /// kernel's (see `Ring::user_space`) implements.
    pub fn from_opcodes(opcodes: &[u8]) -> Probe {
        let mut flags = [0u16; 256];
        for &op in opcodes {
            flags[op as usize] = abi::IO_URING_OP_SUPPORTED;
        }
        Probe {
            last_op: opcodes.iter().copied().max().unwrap_or(0),
            flags,
        }
    }

    /// Whether the kernel knows `opcode` (`IORING_OP_*`).
    pub fn is_supported(&self, opcode: u8) -> bool {
        self.flags[opcode as usize] & abi::IO_URING_OP_SUPPORTED != 0
    }

    /// The highest opcode this kernel knows.
    pub fn last_op(&self) -> u8 {
        self.last_op
    }

    /// The names of the opcodes this crate knows and the kernel lacks.
    pub fn missing(&self) -> Vec<&'static str> {
        (0..abi::IORING_OP_LAST)
            .filter(|&op| !self.is_supported(op))
            .map(|op| abi::OPCODE_NAMES[op as usize])
            .collect()
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("last_op", &self.last_op)
            .field("missing", &self.missing())
            .finish()
    }
}

impl Ring {
    /// Asks the kernel which opcodes it supports.
    ///
    /// # Errors
    /// EINVAL before 5.6, which has no probe.
    pub fn probe(&self) -> io::Result<Probe> {
        // The header (16 bytes) is two probe_op slots long; the ops follow it.
        let mut buf = [io_uring_probe_op::default(); 2 + 256];
        // SAFETY: buf is large and aligned enough for the header plus 256 ops, as nr_args says.
        unsafe {
            syscall::register(
                self.as_raw_fd(),
                abi::IORING_REGISTER_PROBE,
                buf.as_mut_ptr().cast(),
                256,
            )?;
        }
        let last_op = buf[0].op;
        let ops_len = buf[0].resv as usize;
        let mut flags = [0u16; 256];
        for op in &buf[2..2 + ops_len.min(256)] {
            flags[op.op as usize] = op.flags;
        }
        Ok(Probe { last_op, flags })
    }
}

//! O_DIRECT: [`AlignedBuf`], a buffer at the alignment direct I/O needs, and
//! [`DioAlignment`], what a file needs (statx `STATX_DIOALIGN`, else 4096).
//!
//! With `O_DIRECT` the kernel moves data between the device and the buffer without the page
//! cache, so the buffer address, the length and the file offset must be multiples of what the
//! file system and device accept. Getting it wrong gives a bare EINVAL; this crate checks
//! first and says which one is off and by how much.

use std::io;

pub use runtime::buf::AlignedBuf;

/// The alignment O_DIRECT I/O on a file needs, in bytes (powers of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DioAlignment {
    /// Of the buffer's address in memory (`stx_dio_mem_align`).
    pub memory: u32,
    /// Of the file offset and the length (`stx_dio_offset_align`).
    pub offset: u32,
}

impl DioAlignment {
    /// What is assumed where statx does not tell (before Linux 6.1, or a file system that
    /// does not report it): 4096 for both, which every device accepts.
    pub const DEFAULT: DioAlignment = DioAlignment {
        memory: 4096,
        offset: 4096,
    };

    /// Checks one O_DIRECT transfer; the error names the operation, what is misaligned, and
    /// the alignment wanted.
    pub(crate) fn check(self, what: &str, addr: usize, len: usize, offset: u64) -> io::Result<()> {
        let (mem, off) = (self.memory.max(1) as usize, self.offset.max(1) as u64);
        let problem = if !addr.is_multiple_of(mem) {
            format!(
                "the buffer address {addr:#x} is not a multiple of {mem} bytes (the file's \
                 memory alignment); use fs::aligned_buf_for"
            )
        } else if !(len as u64).is_multiple_of(off) {
            format!(
                "the length {len} is not a multiple of {off} bytes (the file's offset \
                 alignment)"
            )
        } else if !offset.is_multiple_of(off) {
            format!(
                "the file offset {offset} is not a multiple of {off} bytes (the file's offset \
                 alignment)"
            )
        } else {
            return Ok(());
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("O_DIRECT {what}: {problem} (alignment from statx STATX_DIOALIGN, or 4096)"),
        ))
    }
}

/// A zeroed buffer aligned for `file`'s O_DIRECT transfers (statx `STATX_DIOALIGN`, else
/// 4096 bytes).
pub fn aligned_buf_for(file: &crate::File, len: usize) -> AlignedBuf {
    let align = file.dio_alignment().unwrap_or(DioAlignment::DEFAULT);
    AlignedBuf::new(len, align.memory.max(1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misalignment_says_which_and_how_much() {
        let a = DioAlignment {
            memory: 512,
            offset: 4096,
        };
        assert!(a.check("read_at", 4096, 8192, 4096).is_ok());
        let e = a.check("read_at", 4097, 8192, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("buffer address 0x1001"), "{e}");
        assert!(e.to_string().contains("512"), "{e}");
        let e = a.check("write_at", 4096, 100, 0).unwrap_err();
        assert!(e.to_string().contains("length 100"), "{e}");
        assert!(e.to_string().contains("4096"), "{e}");
        let e = a.check("write_at", 4096, 4096, 512).unwrap_err();
        assert!(e.to_string().contains("file offset 512"), "{e}");
    }
}

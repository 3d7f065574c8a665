//! [`Sqe`]: a submission queue entry with a named accessor for every union member of
//! `struct io_uring_sqe`, and [`Cqe`]: a copied-out completion.

use std::os::fd::RawFd;

use crate::abi::{self, io_uring_cqe, io_uring_sqe};

/// One submission queue entry, built on the stack and copied into the ring by
/// [`crate::SubmissionQueue::push`].
///
/// Build one with a `prep_*` helper from [`crate::prep`], then chain [`Sqe::user_data`],
/// [`Sqe::flags`] and the other setters.
#[repr(transparent)]
#[derive(Clone, Copy, Default)]
pub struct Sqe(pub io_uring_sqe);

/// Declares, for each union member of the SQE, a getter and a `set_` setter that read or
/// write the member's bits at bit `$shift` of the flattened field `$field`, plus one row of
/// [`Sqe::MEMBERS`] so that `tests/layout.rs` checks each member's position against C.
macro_rules! union_members {
    ($( $(#[$doc:meta])* $name:ident / $set:ident : $ty:ty = $field:ident [$shift:literal]; )*) => {
        impl Sqe {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $name(&self) -> $ty {
                    (self.0.$field >> $shift) as $ty
                }

                $(#[$doc])*
                #[inline]
                pub fn $set(&mut self, value: $ty) -> &mut Self {
                    let bits = <$ty>::BITS;
                    let mask: u64 = if bits == 64 { !0 } else { ((1u64 << bits) - 1) << $shift };
                    let old = self.0.$field as u64;
                    self.0.$field = ((old & !mask) | (((value as u64) << $shift) & mask)) as _;
                    self
                }
            )*

            /// `(member name, byte offset, size)` of each union member as these accessors
            /// place it.
            pub const MEMBERS: &'static [(&'static str, usize, usize)] = &[
                $( (
                    stringify!($name),
                    std::mem::offset_of!(io_uring_sqe, $field) + $shift / 8,
                    std::mem::size_of::<$ty>(),
                ), )*
            ];
        }
    };
}

union_members! {
    /// Offset into the file (`off`).
    off / set_off: u64 = off[0];
    /// Second address (`addr2`), e.g. the sockaddr length pointer of accept.
    addr2 / set_addr2: u64 = off[0];
    /// `uring_cmd` command (`cmd_op`).
    cmd_op / set_cmd_op: u32 = off[0];
    /// Buffer or iovec address (`addr`).
    addr / set_addr: u64 = addr[0];
    /// Splice input offset (`splice_off_in`).
    splice_off_in / set_splice_off_in: u64 = addr[0];
    /// Socket option level (`level`).
    level / set_level: u32 = addr[0];
    /// Socket option name (`optname`).
    optname / set_optname: u32 = addr[32];
    /// read/write flags (`rw_flags`, RWF_*).
    rw_flags / set_rw_flags: u32 = op_flags[0];
    /// fsync flags (`fsync_flags`).
    fsync_flags / set_fsync_flags: u32 = op_flags[0];
    /// 16-bit poll mask (`poll_events`).
    poll_events / set_poll_events: u16 = op_flags[0];
    /// 32-bit poll mask (`poll32_events`).
    poll32_events / set_poll32_events: u32 = op_flags[0];
    /// sync_file_range flags.
    sync_range_flags / set_sync_range_flags: u32 = op_flags[0];
    /// send/recv flags (`msg_flags`, MSG_*).
    msg_flags / set_msg_flags: u32 = op_flags[0];
    /// timeout flags.
    timeout_flags / set_timeout_flags: u32 = op_flags[0];
    /// accept4 flags.
    accept_flags / set_accept_flags: u32 = op_flags[0];
    /// cancel flags.
    cancel_flags / set_cancel_flags: u32 = op_flags[0];
    /// open flags.
    open_flags / set_open_flags: u32 = op_flags[0];
    /// statx flags.
    statx_flags / set_statx_flags: u32 = op_flags[0];
    /// fadvise advice.
    fadvise_advice / set_fadvise_advice: u32 = op_flags[0];
    /// splice flags.
    splice_flags / set_splice_flags: u32 = op_flags[0];
    /// renameat2 flags.
    rename_flags / set_rename_flags: u32 = op_flags[0];
    /// unlinkat flags.
    unlink_flags / set_unlink_flags: u32 = op_flags[0];
    /// linkat flags.
    hardlink_flags / set_hardlink_flags: u32 = op_flags[0];
    /// xattr flags.
    xattr_flags / set_xattr_flags: u32 = op_flags[0];
    /// msg_ring flags.
    msg_ring_flags / set_msg_ring_flags: u32 = op_flags[0];
    /// uring_cmd flags.
    uring_cmd_flags / set_uring_cmd_flags: u32 = op_flags[0];
    /// waitid flags.
    waitid_flags / set_waitid_flags: u32 = op_flags[0];
    /// futex flags.
    futex_flags / set_futex_flags: u32 = op_flags[0];
    /// fixed fd install flags.
    install_fd_flags / set_install_fd_flags: u32 = op_flags[0];
    /// nop flags.
    nop_flags / set_nop_flags: u32 = op_flags[0];
    /// fixed buffer index (`buf_index`).
    buf_index / set_buf_index: u16 = buf_index[0];
    /// provided buffer group (`buf_group`).
    buf_group / set_buf_group: u16 = buf_index[0];
    /// splice input fd (`splice_fd_in`).
    splice_fd_in / set_splice_fd_in: i32 = file_index[0];
    /// direct descriptor slot, plus one (`file_index`).
    file_index / set_file_index: u32 = file_index[0];
    /// socket option length (`optlen`).
    optlen / set_optlen: u32 = file_index[0];
    /// sockaddr length for send_zc to an address (`addr_len`).
    addr_len / set_addr_len: u16 = file_index[0];
    /// third address (`addr3`).
    addr3 / set_addr3: u64 = addr3[0];
    /// attribute pointer (`attr_ptr`).
    attr_ptr / set_attr_ptr: u64 = addr3[0];
    /// socket option value pointer (`optval`).
    optval / set_optval: u64 = addr3[0];
    /// attribute type mask (`attr_type_mask`).
    attr_type_mask / set_attr_type_mask: u64 = attr_type_mask[0];
}

impl Sqe {
    /// A zeroed SQE for `opcode` on `fd`.
    #[inline]
    pub fn new(opcode: u8, fd: RawFd) -> Sqe {
        Sqe(io_uring_sqe {
            opcode,
            fd,
            ..Default::default()
        })
    }

    /// The opcode.
    #[inline]
    pub fn opcode(&self) -> u8 {
        self.0.opcode
    }

    /// The fd (or fixed-file index with `IOSQE_FIXED_FILE`).
    #[inline]
    pub fn fd(&self) -> RawFd {
        self.0.fd
    }

    /// The `len` field.
    #[inline]
    pub fn len(&self) -> u32 {
        self.0.len
    }

    /// Whether `len` is zero.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// The SQE flags (`IOSQE_*`).
    #[inline]
    pub fn sqe_flags(&self) -> u8 {
        self.0.flags
    }

    /// The `user_data` that the CQE will carry back.
    #[inline]
    pub fn get_user_data(&self) -> u64 {
        self.0.user_data
    }

    /// The `ioprio` field (also holds send/recv/accept flags).
    #[inline]
    pub fn ioprio(&self) -> u16 {
        self.0.ioprio
    }

    /// Sets `user_data`, returned in this SQE's CQE(s).
    #[inline]
    pub fn user_data(mut self, user_data: u64) -> Sqe {
        self.0.user_data = user_data;
        self
    }

    /// Ors `IOSQE_*` flags in (`IOSQE_IO_LINK`, `IOSQE_ASYNC`, …).
    #[inline]
    pub fn flags(mut self, flags: u8) -> Sqe {
        self.0.flags |= flags;
        self
    }

    /// Ors flags into `ioprio` (accept, send/recv and multishot flags live there).
    #[inline]
    pub fn ioprio_flags(mut self, flags: u16) -> Sqe {
        self.0.ioprio |= flags;
        self
    }

    /// Sets the `len` field.
    #[inline]
    pub fn set_len(&mut self, len: u32) -> &mut Self {
        self.0.len = len;
        self
    }

    /// Sets the per-opcode flags word (whichever union member the opcode reads: `rw_flags`,
    /// `msg_flags`, `open_flags`, …).
    #[inline]
    pub fn set_op_flags(&mut self, flags: u32) -> &mut Self {
        self.0.op_flags = flags;
        self
    }

    /// Sets the fd field.
    #[inline]
    pub fn set_fd(&mut self, fd: RawFd) -> &mut Self {
        self.0.fd = fd;
        self
    }

    /// Selects a buffer from provided-buffer group `group` (`IOSQE_BUFFER_SELECT`).
    #[inline]
    pub fn buffer_select(mut self, group: u16) -> Sqe {
        self.0.flags |= abi::IOSQE_BUFFER_SELECT;
        self.0.buf_index = group;
        self
    }

    /// Uses a registered file: `fd` is an index into the fixed file table.
    #[inline]
    pub fn fixed_file(mut self) -> Sqe {
        self.0.flags |= abi::IOSQE_FIXED_FILE;
        self
    }
}

impl std::fmt::Debug for Sqe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = abi::OPCODE_NAMES
            .get(self.0.opcode as usize)
            .copied()
            .unwrap_or("?");
        f.debug_struct("Sqe")
            .field("opcode", &name)
            .field("flags", &self.0.flags)
            .field("fd", &self.0.fd)
            .field("user_data", &self.0.user_data)
            .field("len", &self.0.len)
            .finish_non_exhaustive()
    }
}

/// A completion queue entry, copied out of the ring.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cqe(pub io_uring_cqe);

impl Cqe {
    /// A CQE with these fields (for tests, and for results made without the kernel).
    #[inline]
    pub const fn new(user_data: u64, res: i32, flags: u32) -> Cqe {
        Cqe(io_uring_cqe {
            user_data,
            res,
            flags,
        })
    }

    /// The submitting SQE's `user_data`.
    #[inline]
    pub fn user_data(&self) -> u64 {
        self.0.user_data
    }

    /// The raw result: a count or value on success, `-errno` on failure.
    #[inline]
    pub fn res(&self) -> i32 {
        self.0.res
    }

    /// The `IORING_CQE_F_*` flags.
    #[inline]
    pub fn flags(&self) -> u32 {
        self.0.flags
    }

    /// The result as `io::Result`: `Err` with the errno when `res < 0`.
    #[inline]
    pub fn result(&self) -> std::io::Result<u32> {
        if self.0.res < 0 {
            Err(std::io::Error::from_raw_os_error(-self.0.res))
        } else {
            Ok(self.0.res as u32)
        }
    }

    /// Whether more CQEs will follow for the same SQE (`IORING_CQE_F_MORE`, multishot).
    #[inline]
    pub fn more(&self) -> bool {
        self.0.flags & abi::IORING_CQE_F_MORE != 0
    }

    /// Whether this is a zero-copy send's notification (`IORING_CQE_F_NOTIF`).
    #[inline]
    pub fn notif(&self) -> bool {
        self.0.flags & abi::IORING_CQE_F_NOTIF != 0
    }

    /// Whether the socket had more data after this recv (`IORING_CQE_F_SOCK_NONEMPTY`).
    #[inline]
    pub fn sock_nonempty(&self) -> bool {
        self.0.flags & abi::IORING_CQE_F_SOCK_NONEMPTY != 0
    }

    /// The provided buffer's id, when the kernel picked one (`IORING_CQE_F_BUFFER`).
    #[inline]
    pub fn buffer_id(&self) -> Option<u16> {
        (self.0.flags & abi::IORING_CQE_F_BUFFER != 0)
            .then_some((self.0.flags >> abi::IORING_CQE_BUFFER_SHIFT) as u16)
    }

    /// Whether the buffer stays with the kernel for more data (`IORING_CQE_F_BUF_MORE`,
    /// incrementally consumed buffer rings).
    #[inline]
    pub fn buffer_more(&self) -> bool {
        self.0.flags & abi::IORING_CQE_F_BUF_MORE != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_touch_only_their_bits() {
        let mut sqe = Sqe::new(abi::IORING_OP_NOP, -1);
        sqe.set_level(0x1111_2222).set_optname(0x3333_4444);
        assert_eq!(sqe.0.addr, 0x3333_4444_1111_2222);
        assert_eq!(sqe.level(), 0x1111_2222);
        assert_eq!(sqe.optname(), 0x3333_4444);
        sqe.set_file_index(0xdead_beef).set_addr_len(16);
        assert_eq!(sqe.0.file_index, 0xdead_0010);
        sqe.set_splice_fd_in(-1);
        assert_eq!(sqe.splice_fd_in(), -1);
    }

    #[test]
    fn cqe_buffer_id_needs_the_flag() {
        let cqe = Cqe(io_uring_cqe {
            user_data: 1,
            res: 5,
            flags: 7 << 16,
        });
        assert_eq!(cqe.buffer_id(), None);
        let cqe = Cqe(io_uring_cqe {
            flags: (7 << 16) | abi::IORING_CQE_F_BUFFER,
            ..cqe.0
        });
        assert_eq!(cqe.buffer_id(), Some(7));
        assert_eq!(
            Cqe(io_uring_cqe { res: -11, ..cqe.0 })
                .result()
                .unwrap_err()
                .raw_os_error(),
            Some(11)
        );
    }
}

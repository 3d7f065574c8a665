//! SQE preparation helpers, one per opcode, named like liburing's `io_uring_prep_*`.
//!
//! Each returns a fresh [`Sqe`]; chain [`Sqe::user_data`] and [`Sqe::flags`] on it. Every
//! pointer argument is stored in the SQE as an address: the memory it points to must stay
//! valid (and, for output buffers, unaliased) until the operation's CQE arrives. That is why
//! pushing an SQE into the ring is `unsafe` ([`crate::SubmissionQueue::push`]) while building
//! one is not.
#![allow(clippy::too_many_arguments)]

use std::ffi::{c_char, c_void};
use std::os::fd::RawFd;

use libc::{iovec, msghdr, sockaddr, socklen_t};

use crate::abi::{self, __kernel_timespec};
use crate::sqe::Sqe;

/// Declares each helper as `name(args) => OPCODE on fd { setter(value), ... }`: the SQE starts
/// zeroed with that opcode and fd, then each setter is applied in turn.
macro_rules! prep {
    ($(
        $(#[$doc:meta])*
        $name:ident($($arg:ident: $ty:ty),* $(,)?) => $op:ident on $fd:expr $(, { $($set:ident($val:expr)),* $(,)? })?;
    )*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name($($arg: $ty),*) -> Sqe {
            #[allow(unused_mut)]
            let mut sqe = Sqe::new(abi::$op, $fd);
            $($( sqe.$set($val); )*)?
            sqe
        }
    )*};
}

prep! {
    /// Does nothing; completes with 0. Since 5.1.
    prep_nop() => IORING_OP_NOP on -1;

    /// Like `pread(2)`; `offset` `u64::MAX` reads at the file position. Since 5.6.
    prep_read(fd: RawFd, buf: *mut u8, len: u32, offset: u64) => IORING_OP_READ on fd,
        { set_addr(buf as u64), set_len(len), set_off(offset) };
    /// Like `pwrite(2)`; `offset` `u64::MAX` writes at the file position. Since 5.6.
    prep_write(fd: RawFd, buf: *const u8, len: u32, offset: u64) => IORING_OP_WRITE on fd,
        { set_addr(buf as u64), set_len(len), set_off(offset) };
    /// Like `preadv2(2)`. Since 5.1.
    prep_readv(fd: RawFd, iovecs: *const iovec, nr: u32, offset: u64) => IORING_OP_READV on fd,
        { set_addr(iovecs as u64), set_len(nr), set_off(offset) };
    /// Like `pwritev2(2)`. Since 5.1.
    prep_writev(fd: RawFd, iovecs: *const iovec, nr: u32, offset: u64) => IORING_OP_WRITEV on fd,
        { set_addr(iovecs as u64), set_len(nr), set_off(offset) };
    /// `pread` into registered buffer `buf_index` (`buf` lies inside it). Since 5.1.
    prep_read_fixed(fd: RawFd, buf: *mut u8, len: u32, offset: u64, buf_index: u16) => IORING_OP_READ_FIXED on fd,
        { set_addr(buf as u64), set_len(len), set_off(offset), set_buf_index(buf_index) };
    /// `pwrite` from registered buffer `buf_index` (`buf` lies inside it). Since 5.1.
    prep_write_fixed(fd: RawFd, buf: *const u8, len: u32, offset: u64, buf_index: u16) => IORING_OP_WRITE_FIXED on fd,
        { set_addr(buf as u64), set_len(len), set_off(offset), set_buf_index(buf_index) };
    /// `preadv` into registered buffer `buf_index`. Since 6.15.
    prep_readv_fixed(fd: RawFd, iovecs: *const iovec, nr: u32, offset: u64, buf_index: u16) => IORING_OP_READV_FIXED on fd,
        { set_addr(iovecs as u64), set_len(nr), set_off(offset), set_buf_index(buf_index) };
    /// `pwritev` from registered buffer `buf_index`. Since 6.15.
    prep_writev_fixed(fd: RawFd, iovecs: *const iovec, nr: u32, offset: u64, buf_index: u16) => IORING_OP_WRITEV_FIXED on fd,
        { set_addr(iovecs as u64), set_len(nr), set_off(offset), set_buf_index(buf_index) };
    /// Like `read(2)` repeated: multishot read into buffers of group `group`. Since 6.7.
    /// (The kernel wants `IOSQE_BUFFER_SELECT`, else EINVAL.)
    prep_read_multishot(fd: RawFd, len: u32, offset: u64, group: u16) => IORING_OP_READ_MULTISHOT on fd,
        { set_len(len), set_off(offset), set_buf_group(group), set_sqe_flags(abi::IOSQE_BUFFER_SELECT) };

    /// Like `fsync(2)`; `IORING_FSYNC_DATASYNC` makes it `fdatasync`. Since 5.1.
    prep_fsync(fd: RawFd, flags: u32) => IORING_OP_FSYNC on fd, { set_op_flags(flags) };
    /// Like `sync_file_range(2)`. Since 5.2.
    prep_sync_file_range(fd: RawFd, len: u32, offset: u64, flags: u32) => IORING_OP_SYNC_FILE_RANGE on fd,
        { set_len(len), set_off(offset), set_op_flags(flags) };
    /// Like `fallocate(2)`. Since 5.6.
    prep_fallocate(fd: RawFd, mode: i32, offset: u64, len: u64) => IORING_OP_FALLOCATE on fd,
        { set_len(mode as u32), set_off(offset), set_addr(len) };
    /// Like `ftruncate(2)`. Since 6.9.
    prep_ftruncate(fd: RawFd, len: u64) => IORING_OP_FTRUNCATE on fd, { set_off(len) };
    /// Like `posix_fadvise(2)`. Since 5.6.
    prep_fadvise(fd: RawFd, offset: u64, len: u32, advice: i32) => IORING_OP_FADVISE on fd,
        { set_off(offset), set_len(len), set_op_flags(advice as u32) };
    /// Like `madvise(2)`. Since 5.6.
    prep_madvise(addr: *mut c_void, len: u32, advice: i32) => IORING_OP_MADVISE on -1,
        { set_addr(addr as u64), set_len(len), set_op_flags(advice as u32) };

    /// Like `openat(2)`. Since 5.6.
    prep_openat(dirfd: RawFd, path: *const c_char, flags: i32, mode: u32) => IORING_OP_OPENAT on dirfd,
        { set_addr(path as u64), set_op_flags(flags as u32), set_len(mode) };
    /// `openat(2)` straight into fixed file slot `slot`; `IORING_FILE_INDEX_ALLOC` lets the
    /// kernel pick a free slot and return it. Since 5.15.
    prep_openat_direct(dirfd: RawFd, path: *const c_char, flags: i32, mode: u32, slot: u32) => IORING_OP_OPENAT on dirfd,
        { set_addr(path as u64), set_op_flags(flags as u32), set_len(mode), set_file_index(direct_slot(slot)) };
    /// Like `openat2(2)`; `how` points to a `struct open_how` of `size` bytes. Since 5.6.
    prep_openat2(dirfd: RawFd, path: *const c_char, how: *const c_void, size: u32) => IORING_OP_OPENAT2 on dirfd,
        { set_addr(path as u64), set_off(how as u64), set_len(size) };
    /// Like `close(2)`. Since 5.6.
    prep_close(fd: RawFd) => IORING_OP_CLOSE on fd;
    /// Closes fixed file slot `slot`. Since 5.15.
    prep_close_direct(slot: u32) => IORING_OP_CLOSE on 0, { set_file_index(slot + 1) };
    /// Like `statx(2)`. Since 5.6.
    prep_statx(dirfd: RawFd, path: *const c_char, flags: i32, mask: u32, statx: *mut libc::statx) => IORING_OP_STATX on dirfd,
        { set_addr(path as u64), set_op_flags(flags as u32), set_len(mask), set_off(statx as u64) };
    /// Like `unlinkat(2)` (`AT_REMOVEDIR` removes a directory). Since 5.11.
    prep_unlinkat(dirfd: RawFd, path: *const c_char, flags: i32) => IORING_OP_UNLINKAT on dirfd,
        { set_addr(path as u64), set_op_flags(flags as u32) };
    /// Like `renameat2(2)`. Since 5.11.
    prep_renameat(old_dirfd: RawFd, old_path: *const c_char, new_dirfd: RawFd, new_path: *const c_char, flags: u32) => IORING_OP_RENAMEAT on old_dirfd,
        { set_addr(old_path as u64), set_len(new_dirfd as u32), set_addr2(new_path as u64), set_op_flags(flags) };
    /// Like `mkdirat(2)`. Since 5.15.
    prep_mkdirat(dirfd: RawFd, path: *const c_char, mode: u32) => IORING_OP_MKDIRAT on dirfd,
        { set_addr(path as u64), set_len(mode) };
    /// Like `symlinkat(2)`. Since 5.15.
    prep_symlinkat(target: *const c_char, new_dirfd: RawFd, link_path: *const c_char) => IORING_OP_SYMLINKAT on new_dirfd,
        { set_addr(target as u64), set_addr2(link_path as u64) };
    /// Like `linkat(2)`. Since 5.15.
    prep_linkat(old_dirfd: RawFd, old_path: *const c_char, new_dirfd: RawFd, new_path: *const c_char, flags: i32) => IORING_OP_LINKAT on old_dirfd,
        { set_addr(old_path as u64), set_len(new_dirfd as u32), set_addr2(new_path as u64), set_op_flags(flags as u32) };
    /// Installs fixed file `slot` as a regular fd (`IORING_FIXED_FD_NO_CLOEXEC`). Since 6.8.
    /// (The kernel wants `IOSQE_FIXED_FILE`, else EBADF.)
    prep_fixed_fd_install(slot: RawFd, flags: u32) => IORING_OP_FIXED_FD_INSTALL on slot,
        { set_op_flags(flags), set_sqe_flags(abi::IOSQE_FIXED_FILE) };
    /// Updates fixed files from `offset` with `nr` fds (`IORING_FILE_INDEX_ALLOC` picks). Since 5.6.
    prep_files_update(fds: *const RawFd, nr: u32, offset: i32) => IORING_OP_FILES_UPDATE on -1,
        { set_addr(fds as u64), set_len(nr), set_off(offset as u64) };

    /// Like `accept4(2)`. Since 5.5.
    prep_accept(fd: RawFd, addr: *mut sockaddr, addrlen: *mut socklen_t, flags: i32) => IORING_OP_ACCEPT on fd,
        { set_addr(addr as u64), set_addr2(addrlen as u64), set_op_flags(flags as u32) };
    /// `accept4(2)` repeated: one CQE per connection while `IORING_CQE_F_MORE`. Since 5.19.
    prep_accept_multishot(fd: RawFd, flags: i32) => IORING_OP_ACCEPT on fd,
        { set_op_flags(flags as u32), set_ioprio(abi::IORING_ACCEPT_MULTISHOT) };
    /// Like `connect(2)`. Since 5.5.
    prep_connect(fd: RawFd, addr: *const sockaddr, addrlen: socklen_t) => IORING_OP_CONNECT on fd,
        { set_addr(addr as u64), set_off(addrlen as u64) };
    /// Like `socket(2)`. Since 5.19.
    prep_socket(domain: i32, ty: i32, protocol: i32) => IORING_OP_SOCKET on domain,
        { set_off(ty as u64), set_len(protocol as u32) };
    /// Like `bind(2)`. Since 6.11.
    prep_bind(fd: RawFd, addr: *const sockaddr, addrlen: socklen_t) => IORING_OP_BIND on fd,
        { set_addr(addr as u64), set_addr2(addrlen as u64) };
    /// Like `listen(2)`. Since 6.11.
    prep_listen(fd: RawFd, backlog: u32) => IORING_OP_LISTEN on fd, { set_len(backlog) };
    /// Like `shutdown(2)`. Since 5.11.
    prep_shutdown(fd: RawFd, how: i32) => IORING_OP_SHUTDOWN on fd, { set_len(how as u32) };
    /// Like `recv(2)`. Since 5.6.
    prep_recv(fd: RawFd, buf: *mut u8, len: u32, flags: i32) => IORING_OP_RECV on fd,
        { set_addr(buf as u64), set_len(len), set_op_flags(flags as u32) };
    /// `recv(2)` repeated into buffers of group `group`, one CQE each while
    /// `IORING_CQE_F_MORE`. Since 6.0.
    prep_recv_multishot(fd: RawFd, group: u16, flags: i32) => IORING_OP_RECV on fd,
        { set_op_flags(flags as u32), set_ioprio(abi::IORING_RECV_MULTISHOT), set_buf_group(group), set_sqe_flags(abi::IOSQE_BUFFER_SELECT) };
    /// Like `send(2)`. Since 5.6.
    prep_send(fd: RawFd, buf: *const u8, len: u32, flags: i32) => IORING_OP_SEND on fd,
        { set_addr(buf as u64), set_len(len), set_op_flags(flags as u32) };
    /// Zero-copy `send(2)`: a result CQE with `F_MORE`, then a `F_NOTIF` CQE once the kernel
    /// no longer reads `buf`. Since 6.0.
    prep_send_zc(fd: RawFd, buf: *const u8, len: u32, flags: i32, zc_flags: u16) => IORING_OP_SEND_ZC on fd,
        { set_addr(buf as u64), set_len(len), set_op_flags(flags as u32), set_ioprio(zc_flags) };
    /// Like `recvmsg(2)`. Since 5.3.
    prep_recvmsg(fd: RawFd, msg: *mut msghdr, flags: i32) => IORING_OP_RECVMSG on fd,
        { set_addr(msg as u64), set_len(1), set_op_flags(flags as u32) };
    /// `recvmsg(2)` repeated into buffers of group `group`; each buffer starts with an
    /// `io_uring_recvmsg_out` header laid out by `msg`'s name and control lengths. Since 6.0.
    prep_recvmsg_multishot(fd: RawFd, msg: *const msghdr, group: u16, flags: i32) => IORING_OP_RECVMSG on fd,
        { set_addr(msg as u64), set_len(1), set_op_flags(flags as u32), set_ioprio(abi::IORING_RECV_MULTISHOT), set_buf_group(group), set_sqe_flags(abi::IOSQE_BUFFER_SELECT) };
    /// Like `sendmsg(2)`. Since 5.3.
    prep_sendmsg(fd: RawFd, msg: *const msghdr, flags: i32) => IORING_OP_SENDMSG on fd,
        { set_addr(msg as u64), set_len(1), set_op_flags(flags as u32) };
    /// Zero-copy `sendmsg(2)`, notified like [`prep_send_zc`]. Since 6.1.
    prep_sendmsg_zc(fd: RawFd, msg: *const msghdr, flags: i32) => IORING_OP_SENDMSG_ZC on fd,
        { set_addr(msg as u64), set_len(1), set_op_flags(flags as u32) };

    /// One-shot poll for `mask` (`POLLIN` …). Since 5.1.
    prep_poll_add(fd: RawFd, mask: u32) => IORING_OP_POLL_ADD on fd, { set_op_flags(mask) };
    /// Multishot poll: a CQE per readiness change while `IORING_CQE_F_MORE`. Since 5.13.
    prep_poll_multishot(fd: RawFd, mask: u32) => IORING_OP_POLL_ADD on fd,
        { set_op_flags(mask), set_len(abi::IORING_POLL_ADD_MULTI) };
    /// Removes the poll whose SQE carried `user_data`. Since 5.1.
    prep_poll_remove(user_data: u64) => IORING_OP_POLL_REMOVE on -1, { set_addr(user_data) };
    /// Completes after `ts`, or after `count` other completions. Since 5.4.
    prep_timeout(ts: *const __kernel_timespec, count: u32, flags: u32) => IORING_OP_TIMEOUT on -1,
        { set_addr(ts as u64), set_len(1), set_off(count as u64), set_op_flags(flags) };
    /// Removes the timeout whose SQE carried `user_data`. Since 5.5.
    prep_timeout_remove(user_data: u64, flags: u32) => IORING_OP_TIMEOUT_REMOVE on -1,
        { set_addr(user_data), set_op_flags(flags) };
    /// Moves the timeout whose SQE carried `user_data` to `ts`. Since 5.11.
    prep_timeout_update(ts: *const __kernel_timespec, user_data: u64, flags: u32) => IORING_OP_TIMEOUT_REMOVE on -1,
        { set_addr(user_data), set_addr2(ts as u64), set_op_flags(flags | abi::IORING_TIMEOUT_UPDATE) };
    /// Cancels the previous linked SQE if it has not completed after `ts`. Since 5.5.
    prep_link_timeout(ts: *const __kernel_timespec, flags: u32) => IORING_OP_LINK_TIMEOUT on -1,
        { set_addr(ts as u64), set_len(1), set_op_flags(flags) };
    /// Cancels the request whose SQE carried `user_data` (`IORING_ASYNC_CANCEL_*`). Since 5.5.
    prep_cancel(user_data: u64, flags: u32) => IORING_OP_ASYNC_CANCEL on -1,
        { set_addr(user_data), set_op_flags(flags) };
    /// Cancels requests on `fd` (`IORING_ASYNC_CANCEL_ALL` for every one). Since 5.19.
    prep_cancel_fd(fd: RawFd, flags: u32) => IORING_OP_ASYNC_CANCEL on fd,
        { set_op_flags(flags | abi::IORING_ASYNC_CANCEL_FD) };
    /// Posts a CQE with `res` and `user_data` to the ring `ring_fd`. Since 5.18.
    prep_msg_ring(ring_fd: RawFd, res: u32, user_data: u64, flags: u32) => IORING_OP_MSG_RING on ring_fd,
        { set_addr(abi::IORING_MSG_DATA), set_len(res), set_off(user_data), set_op_flags(flags) };
    /// Like `splice(2)`; an offset of `-1` means the fd's position. Since 5.7.
    prep_splice(fd_in: RawFd, off_in: i64, fd_out: RawFd, off_out: i64, len: u32, flags: u32) => IORING_OP_SPLICE on fd_out,
        { set_splice_fd_in(fd_in), set_splice_off_in(off_in as u64), set_off(off_out as u64), set_len(len), set_op_flags(flags) };
    /// Like `tee(2)`. Since 5.8.
    prep_tee(fd_in: RawFd, fd_out: RawFd, len: u32, flags: u32) => IORING_OP_TEE on fd_out,
        { set_splice_fd_in(fd_in), set_len(len), set_op_flags(flags) };
    /// Like `pipe2(2)` into `fds[2]`. Since 6.16.
    prep_pipe(fds: *mut RawFd, flags: u32) => IORING_OP_PIPE on 0,
        { set_addr(fds as u64), set_op_flags(flags) };
    /// Gives `nr` buffers of `len` bytes at `addr` to group `group`, ids from `bid`. Since 5.7.
    prep_provide_buffers(addr: *mut u8, len: u32, nr: i32, group: u16, bid: u16) => IORING_OP_PROVIDE_BUFFERS on nr,
        { set_addr(addr as u64), set_len(len), set_off(bid as u64), set_buf_group(group) };
    /// Takes `nr` buffers back from group `group`. Since 5.7.
    prep_remove_buffers(nr: i32, group: u16) => IORING_OP_REMOVE_BUFFERS on nr, { set_buf_group(group) };
}

/// The kernel takes a direct slot plus one (0 means "not direct"), except the ALLOC marker.
fn direct_slot(slot: u32) -> u32 {
    if slot == abi::IORING_FILE_INDEX_ALLOC {
        slot
    } else {
        slot + 1
    }
}

impl Sqe {
    /// Sets `ioprio` (send/recv/accept flags live there).
    #[inline]
    pub fn set_ioprio(&mut self, ioprio: u16) -> &mut Self {
        self.0.ioprio = ioprio;
        self
    }

    /// Ors `IOSQE_*` flags in.
    #[inline]
    pub fn set_sqe_flags(&mut self, flags: u8) -> &mut Self {
        self.0.flags |= flags;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_fills_the_fields_liburing_fills() {
        let mut buf = [0u8; 8];
        let sqe = prep_read(3, buf.as_mut_ptr(), 8, 100).user_data(42);
        assert_eq!(sqe.opcode(), abi::IORING_OP_READ);
        assert_eq!(sqe.fd(), 3);
        assert_eq!(sqe.addr(), buf.as_ptr() as u64);
        assert_eq!(sqe.len(), 8);
        assert_eq!(sqe.off(), 100);
        assert_eq!(sqe.get_user_data(), 42);
    }

    #[test]
    fn splice_puts_fd_in_where_the_kernel_reads_it() {
        let sqe = prep_splice(4, -1, 5, 10, 99, 0);
        assert_eq!(sqe.fd(), 5);
        assert_eq!(sqe.splice_fd_in(), 4);
        assert_eq!(sqe.splice_off_in(), u64::MAX);
        assert_eq!(sqe.off(), 10);
    }

    #[test]
    fn recv_multishot_selects_its_group() {
        let sqe = prep_recv_multishot(7, 3, 0);
        assert_eq!(sqe.buf_group(), 3);
        assert_ne!(sqe.sqe_flags() & abi::IOSQE_BUFFER_SELECT, 0);
        assert_ne!(sqe.ioprio() & abi::IORING_RECV_MULTISHOT, 0);
    }
}

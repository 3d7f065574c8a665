//! `io_uring_setup(2)`, `io_uring_enter(2)` and `io_uring_register(2)` as thin `io::Result`
//! wrappers. Nothing here retries or interprets errors; callers decide (see [`crate::Ring`]).

use std::ffi::c_void;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::abi::{self, io_uring_params};

/// Turns a raw syscall return into `io::Result`, with `errno` on `-1`.
fn check(ret: libc::c_long) -> io::Result<u32> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as u32)
    }
}

/// `io_uring_setup(entries, params)`: creates a ring and fills `params` with its offsets.
///
/// # Errors
/// The raw errno; [`crate::Ring`] turns it into an explanation. InvalidInput, before any
/// syscall, for `IORING_SETUP_REGISTERED_FD_ONLY`.
///
/// # Safety
/// `params` must not make the kernel use memory that the caller does not keep alive as the
/// kernel requires. Today only `IORING_SETUP_NO_MMAP` does: the rings then live in the
/// memory at `cq_off.user_addr` and `sq_off.user_addr`, which must stay valid, and be used
/// only as the ring's, as long as the ring exists (which can be past the `OwnedFd`'s drop:
/// the kernel tears rings down asynchronously). `IORING_SETUP_REGISTERED_FD_ONLY` is
/// refused, since its result is a registered index that must not be wrapped as an `OwnedFd`.
pub unsafe fn setup(entries: u32, params: &mut io_uring_params) -> io::Result<OwnedFd> {
    if params.flags & abi::IORING_SETUP_REGISTERED_FD_ONLY != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "io_uring_setup with IORING_SETUP_REGISTERED_FD_ONLY returns a registered ring \
             index, not an fd: syscall::setup cannot own it",
        ));
    }
    // SAFETY: `params` is a valid, exclusively borrowed io_uring_params for the whole call;
    // the caller vouches for any memory it names (NO_MMAP).
    let ret = unsafe {
        libc::syscall(
            abi::SYS_IO_URING_SETUP,
            entries as libc::c_long,
            params as *mut io_uring_params,
        )
    };
    let fd = check(ret)? as RawFd;
    // SAFETY: without REGISTERED_FD_ONLY (refused above) the kernel returns a new fd, ours
    // alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `io_uring_enter(fd, to_submit, min_complete, flags, arg, argsz)`.
///
/// # Safety
/// `arg` must be null or point to a value of `argsz` bytes of the kind `flags` announce
/// (a `sigset_t`, or an `io_uring_getevents_arg` with `IORING_ENTER_EXT_ARG`), valid for the
/// call. Every SQE made visible by the SQ tail must point only to memory that stays valid
/// until its CQE arrives.
pub unsafe fn enter(
    fd: RawFd,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    arg: *const c_void,
    argsz: usize,
) -> io::Result<u32> {
    // SAFETY: the caller upholds the argument contract above; the rest are plain integers.
    let ret = unsafe {
        libc::syscall(
            abi::SYS_IO_URING_ENTER,
            fd as libc::c_long,
            to_submit as libc::c_long,
            min_complete as libc::c_long,
            flags as libc::c_long,
            arg,
            argsz,
        )
    };
    check(ret)
}

/// `io_uring_register(fd, opcode, arg, nr_args)`.
///
/// # Safety
/// `arg` must point to what `opcode` expects (`nr_args` entries of it), valid for the call;
/// memory it registers (buffers, buffer rings) must stay valid until unregistered.
pub unsafe fn register(
    fd: RawFd,
    opcode: u32,
    arg: *const c_void,
    nr_args: u32,
) -> io::Result<u32> {
    // SAFETY: the caller upholds the argument contract above.
    let ret = unsafe {
        libc::syscall(
            abi::SYS_IO_URING_REGISTER,
            fd as libc::c_long,
            opcode as libc::c_long,
            arg,
            nr_args as libc::c_long,
        )
    };
    check(ret)
}

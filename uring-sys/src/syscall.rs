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
/// The raw errno; [`crate::Ring`] turns it into an explanation.
pub fn setup(entries: u32, params: &mut io_uring_params) -> io::Result<OwnedFd> {
    // SAFETY: `params` is a valid, exclusively borrowed io_uring_params for the whole call.
    let ret = unsafe {
        libc::syscall(
            abi::SYS_IO_URING_SETUP,
            entries as libc::c_long,
            params as *mut io_uring_params,
        )
    };
    let fd = check(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
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

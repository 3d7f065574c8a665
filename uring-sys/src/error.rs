//! Explanations for `io_uring_setup(2)` failures: the errno alone rarely says what to do.

use std::fmt;
use std::io;

use crate::abi::{self, io_uring_params};
use crate::syscall;

/// A failed `io_uring_setup(2)`: the errno, and an explanation that names the cause and the
/// fix. Reach it through `io::Error::get_ref()` and `downcast_ref`; the `io::Error`'s kind
/// follows the errno (PermissionDenied for EPERM, Unsupported for ENOSYS, …).
#[derive(Debug, Clone)]
pub struct SetupError {
    errno: i32,
    message: String,
    rejected_flag: Option<u32>,
}

impl SetupError {
    /// The raw errno of the failed setup.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The `IORING_SETUP_*` bit this kernel rejects, when the setup failed with EINVAL and
    /// a trial ring with that requested flag alone (and the flags it needs) failed too: the
    /// first such flag, in bit order. `None` when no single flag is to blame (a combination
    /// of flags or the sizes), and for other errnos.
    pub fn rejected_flag(&self) -> Option<u32> {
        self.rejected_flag
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SetupError {}

/// The name of each setup flag bit, for messages.
const SETUP_FLAG_NAMES: [(u32, &str, &str); 19] = [
    (abi::IORING_SETUP_IOPOLL, "IORING_SETUP_IOPOLL", "5.1"),
    (
        abi::IORING_SETUP_SQPOLL,
        "IORING_SETUP_SQPOLL",
        "5.1 (unprivileged since 5.11)",
    ),
    (abi::IORING_SETUP_SQ_AFF, "IORING_SETUP_SQ_AFF", "5.1"),
    (abi::IORING_SETUP_CQSIZE, "IORING_SETUP_CQSIZE", "5.5"),
    (abi::IORING_SETUP_CLAMP, "IORING_SETUP_CLAMP", "5.6"),
    (abi::IORING_SETUP_ATTACH_WQ, "IORING_SETUP_ATTACH_WQ", "5.6"),
    (
        abi::IORING_SETUP_R_DISABLED,
        "IORING_SETUP_R_DISABLED",
        "5.10",
    ),
    (
        abi::IORING_SETUP_SUBMIT_ALL,
        "IORING_SETUP_SUBMIT_ALL",
        "5.18",
    ),
    (
        abi::IORING_SETUP_COOP_TASKRUN,
        "IORING_SETUP_COOP_TASKRUN",
        "5.19",
    ),
    (
        abi::IORING_SETUP_TASKRUN_FLAG,
        "IORING_SETUP_TASKRUN_FLAG",
        "5.19",
    ),
    (abi::IORING_SETUP_SQE128, "IORING_SETUP_SQE128", "5.19"),
    (abi::IORING_SETUP_CQE32, "IORING_SETUP_CQE32", "5.19"),
    (
        abi::IORING_SETUP_SINGLE_ISSUER,
        "IORING_SETUP_SINGLE_ISSUER",
        "6.0",
    ),
    (
        abi::IORING_SETUP_DEFER_TASKRUN,
        "IORING_SETUP_DEFER_TASKRUN",
        "6.1",
    ),
    (abi::IORING_SETUP_NO_MMAP, "IORING_SETUP_NO_MMAP", "6.5"),
    (
        abi::IORING_SETUP_REGISTERED_FD_ONLY,
        "IORING_SETUP_REGISTERED_FD_ONLY",
        "6.5",
    ),
    (
        abi::IORING_SETUP_NO_SQARRAY,
        "IORING_SETUP_NO_SQARRAY",
        "6.6",
    ),
    (
        abi::IORING_SETUP_HYBRID_IOPOLL,
        "IORING_SETUP_HYBRID_IOPOLL",
        "6.13",
    ),
    (
        abi::IORING_SETUP_CQE_MIXED,
        "IORING_SETUP_CQE_MIXED",
        "6.18",
    ),
];

/// Flags that the kernel only accepts together with another.
fn companions(flag: u32) -> u32 {
    match flag {
        abi::IORING_SETUP_DEFER_TASKRUN => abi::IORING_SETUP_SINGLE_ISSUER,
        abi::IORING_SETUP_TASKRUN_FLAG => abi::IORING_SETUP_COOP_TASKRUN,
        abi::IORING_SETUP_SQ_AFF => abi::IORING_SETUP_SQPOLL,
        _ => 0,
    }
}

/// Finds the first requested setup flag that this kernel rejects on its own, by trying a
/// small ring with just that flag (and the flags it needs).
fn rejected_flag(
    requested: &io_uring_params,
) -> Option<&'static (u32, &'static str, &'static str)> {
    SETUP_FLAG_NAMES.iter().find(|&&(flag, _, _)| {
        // NO_MMAP and REGISTERED_FD_ONLY are never tried: a trial ring has no memory to
        // give the first, and `syscall::setup` refuses the second.
        let untried = abi::IORING_SETUP_NO_MMAP | abi::IORING_SETUP_REGISTERED_FD_ONLY;
        if requested.flags & flag == 0 || flag & untried != 0 {
            return false;
        }
        let mut p = io_uring_params {
            flags: flag | companions(flag),
            ..Default::default()
        };
        if flag == abi::IORING_SETUP_CQSIZE {
            p.cq_entries = 4;
        }
        if flag == abi::IORING_SETUP_SQ_AFF {
            p.sq_thread_cpu = requested.sq_thread_cpu;
        }
        // SAFETY: `p` names no memory: its flags are one flag and its companions, never
        // NO_MMAP (skipped above), and its address fields are zero.
        let trial = unsafe { syscall::setup(2, &mut p) };
        matches!(trial, Err(e) if e.raw_os_error() == Some(libc::EINVAL))
    })
}

fn io_uring_disabled_sysctl() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        Ok(v) => format!("kernel.io_uring_disabled = {}", v.trim()),
        Err(_) => "kernel.io_uring_disabled is not present (kernel before 6.6)".to_string(),
    }
}

/// Turns a setup errno into an `io::Error` carrying a [`SetupError`] that explains it.
pub(crate) fn explain_setup(err: io::Error, entries: u32, params: &io_uring_params) -> io::Error {
    let Some(errno) = err.raw_os_error() else {
        return err;
    };
    // Only EINVAL can mean a rejected flag; the trials run once, here.
    let rejected = if errno == libc::EINVAL {
        rejected_flag(params)
    } else {
        None
    };
    let explanation = match errno {
        libc::ENOSYS => "this kernel has no io_uring: it needs Linux 5.1 or later built with \
             CONFIG_IO_URING=y (this runtime needs 5.15 or later); on a newer kernel, a seccomp \
             filter may answer ENOSYS for io_uring_setup"
            .to_string(),
        libc::EPERM => format!(
            "io_uring is not allowed for this process. Check the sysctl \
             kernel.io_uring_disabled (0: allowed, 1: only for the group in \
             kernel.io_uring_group, 2: disabled; now: {}), and, in a container, the seccomp \
             profile: Docker's default profile (since Docker 25) and many Kubernetes and \
             gVisor setups deny io_uring_setup; allow io_uring_setup, io_uring_enter and \
             io_uring_register in the profile, or run with --security-opt seccomp=unconfined \
             where that is acceptable",
            io_uring_disabled_sysctl()
        ),
        libc::ENOMEM => format!(
            "the kernel could not allocate a ring of {entries} entries: before Linux 5.12 ring \
             memory counts against RLIMIT_MEMLOCK (raise it with `ulimit -l` or in \
             /etc/security/limits.conf); otherwise ask for fewer entries"
        ),
        libc::EINVAL => match rejected {
            Some(&(_, name, since)) => format!(
                "this kernel rejects the setup flag {name} (it needs Linux {since}); \
                 turn that option off"
            ),
            None if entries == 0 || entries > 32768 => {
                format!("{entries} entries is out of range: ask for 1 to 32768")
            }
            None => format!(
                "the kernel rejected this combination of setup flags ({:#x}) or sizes \
                 ({entries} SQ entries, {} CQ entries): CQ entries must be at least the SQ \
                 entries, DEFER_TASKRUN needs SINGLE_ISSUER, SQ_AFF needs SQPOLL",
                params.flags, params.cq_entries
            ),
        },
        libc::EMFILE | libc::ENFILE => {
            "no file descriptor is left for the ring: raise RLIMIT_NOFILE or close fds".to_string()
        }
        _ => format!("io_uring_setup failed: {err}"),
    };
    let message = format!(
        "io_uring_setup failed with {} (os error {errno}): {explanation}",
        errno_name(errno)
    );
    let rejected_flag = rejected.map(|&(flag, _, _)| flag);
    io::Error::new(
        err.kind(),
        SetupError {
            errno,
            message,
            rejected_flag,
        },
    )
}

fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::ENOSYS => "ENOSYS",
        libc::EPERM => "EPERM",
        libc::ENOMEM => "ENOMEM",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EFAULT => "EFAULT",
        _ => "an error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_names_the_sysctl_and_seccomp() {
        let e = explain_setup(
            io::Error::from_raw_os_error(libc::EPERM),
            8,
            &Default::default(),
        );
        let msg = e.to_string();
        assert!(msg.contains("kernel.io_uring_disabled"), "{msg}");
        assert!(msg.contains("seccomp"), "{msg}");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(setup_error(&e).errno(), libc::EPERM);
    }

    #[test]
    fn einval_on_entries_out_of_range_says_the_range() {
        let e = explain_setup(
            io::Error::from_raw_os_error(libc::EINVAL),
            0,
            &Default::default(),
        );
        assert!(e.to_string().contains("1 to 32768"), "{e}");
    }

    fn setup_error(e: &io::Error) -> &SetupError {
        e.get_ref().unwrap().downcast_ref::<SetupError>().unwrap()
    }

    #[test]
    fn einval_names_the_flag_this_kernel_rejects() {
        // HYBRID_IOPOLL is rejected on every kernel: unknown before 6.13, and it needs IOPOLL
        // since. CLAMP, which every kernel takes, is requested too and not blamed.
        let mut params = io_uring_params {
            flags: abi::IORING_SETUP_CLAMP | abi::IORING_SETUP_HYBRID_IOPOLL,
            ..Default::default()
        };
        let requested = params;
        // SAFETY: `params` names no memory: neither flag is NO_MMAP, its address fields are 0.
        let err = unsafe { syscall::setup(8, &mut params) }.expect_err("HYBRID_IOPOLL alone");
        let e = explain_setup(err, 8, &requested);
        let inner = setup_error(&e);
        assert_eq!(inner.errno(), libc::EINVAL);
        assert_eq!(inner.rejected_flag(), Some(abi::IORING_SETUP_HYBRID_IOPOLL));
        assert!(e.to_string().contains("IORING_SETUP_HYBRID_IOPOLL"), "{e}");
    }

    #[test]
    fn einval_of_a_combination_names_no_flag() {
        // The kernel takes DEFER_TASKRUN (with the SINGLE_ISSUER it needs): the missing
        // SINGLE_ISSUER is to blame, not a flag this kernel lacks.
        let e = crate::Ring::builder(8)
            .defer_taskrun(true)
            .build()
            .expect_err("DEFER_TASKRUN without SINGLE_ISSUER");
        let inner = setup_error(&e);
        assert_eq!(inner.errno(), libc::EINVAL);
        assert_eq!(inner.rejected_flag(), None, "{e}");
        // Other errnos name no flag either.
        let e = explain_setup(
            io::Error::from_raw_os_error(libc::ENOMEM),
            8,
            &io_uring_params {
                flags: abi::IORING_SETUP_HYBRID_IOPOLL,
                ..Default::default()
            },
        );
        assert_eq!(setup_error(&e).rejected_flag(), None);
    }
}

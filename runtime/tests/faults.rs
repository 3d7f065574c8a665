//! Injected faults (feature `fault-injection`): an op failed before submission completes
//! with its errno, on the next loop turn, without the loop waiting in the kernel for a
//! completion that will never come from there.
#![cfg(feature = "fault-injection")]

use std::io;
use std::sync::mpsc;
use std::time::Duration;

use runtime::op::{Completion, Op, Operation};
use uring_sys::{Sqe, prep};

struct Nop;

// SAFETY: a NOP's SQE points to no memory.
unsafe impl Operation for Nop {
    type Output = io::Result<u32>;
    fn sqe(&mut self) -> Sqe {
        prep::prep_nop()
    }
    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result
    }
}

/// Runs `body` on a runtime whose every op fails with EPIPE; the result, or `None` if it
/// did not finish within a generous limit (a hang: the thread is left behind).
fn with_every_op_failing<T: Send + 'static>(
    body: impl AsyncFnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = runtime::Builder::new()
            .inject_faults("seed=1,fail=1:EPIPE".parse().expect("faults"))
            .build()
            .expect("runtime");
        let _ = done.send(rt.block_on(body()));
    });
    wait.recv_timeout(Duration::from_secs(20)).ok()
}

#[test]
fn an_injected_failure_completes_without_a_kernel_completion() {
    let res = with_every_op_failing(async || Op::new(Nop).await)
        .expect("an op failed by injection never completed: the loop waited in the kernel");
    let e = res.expect_err("every op fails");
    assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
}

#[test]
fn many_injected_failures_in_a_row_all_complete() {
    let errors = with_every_op_failing(async || {
        let mut errors = 0;
        for _ in 0..1000 {
            errors += usize::from(Op::new(Nop).await.is_err());
        }
        errors
    })
    .expect("a hang");
    assert_eq!(errors, 1000);
}

// Raw IOSQE_* bits (CQE_SKIP_SUCCESS, BUFFER_SELECT) would lose the op's CQE or buffers.
use runtime::op::{Completion, Op, Operation};
use uring_sys::{Sqe, prep};

struct Nop;

// SAFETY: a NOP points to no memory.
unsafe impl Operation for Nop {
    type Output = std::io::Result<u32>;
    fn sqe(&mut self) -> Sqe {
        prep::prep_nop()
    }
    fn complete(self, r: std::io::Result<u32>, _: Completion) -> Self::Output {
        r
    }
}

fn main() {
    let _op = Op::new(Nop).sqe_flags(uring_sys::abi::IOSQE_CQE_SKIP_SUCCESS);
}

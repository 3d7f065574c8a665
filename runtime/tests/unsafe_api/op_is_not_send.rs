// An op belongs to the ring of the thread that submitted it.
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
    let op = Op::new(Nop);
    std::thread::spawn(move || drop(op));
}

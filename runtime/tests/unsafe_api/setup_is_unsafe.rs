// Raw setup params can make the kernel use memory nothing keeps alive (NO_MMAP).
fn main() {
    let mut params = uring_sys::abi::io_uring_params::default();
    let _fd = uring_sys::syscall::setup(8, &mut params);
}

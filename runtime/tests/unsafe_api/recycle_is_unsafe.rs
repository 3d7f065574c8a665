// Putting back a buffer that is lent or in the ring lets the kernel write what others read.
fn main() {
    let pool = runtime::buf::BufPool::new(1, 4, 64).unwrap();
    pool.recycle(0);
}

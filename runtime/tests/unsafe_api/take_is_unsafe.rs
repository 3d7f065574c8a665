// Taking a provided buffer by id could alias one the kernel still writes: unsafe.
fn main() {
    let pool = runtime::buf::BufPool::new(1, 4, 64).unwrap();
    let _buf = pool.take(0, 1);
}

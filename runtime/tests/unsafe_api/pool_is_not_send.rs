// A buffer pool is registered with one core's ring.
fn main() {
    let pool = runtime::buf::BufPool::new(1, 4, 64).unwrap();
    std::thread::spawn(move || drop(pool));
}

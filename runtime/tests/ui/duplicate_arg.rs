#[runtime::main(entries = 64, cores = 2, entries = 128)]
async fn main() {}

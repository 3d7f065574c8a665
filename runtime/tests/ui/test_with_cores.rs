#[runtime::test(cores = 4)]
async fn per_core_test() {}

fn main() {}

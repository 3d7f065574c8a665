// A tokio habit: reading into a borrowed slice. The error must say to pass an owned buffer.
// (`read` stands for `TcpStream::read`, `File::read_at`, …: each takes `B: IoBufMut`; a local
// function keeps this snapshot free of those crates' source.)
fn read<B: ringloop::buf::IoBufMut>(buf: B) -> B {
    buf
}

fn main() {
    let mut buf = [0u8; 16];
    let _ = read(&mut buf[..]);
}

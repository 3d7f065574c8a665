//! TCP, UDP and Unix sockets on the runtime's op API: one op per file under `op/`, user types
//! (`TcpListener`, `TcpStream`, `UdpSocket`, `UnixStream`, …) built on them. Not written yet:
//! this crate is the place for them.

//! Name resolution (`"localhost:8080"`) on the blocking pool, since `getaddrinfo` blocks.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Something that names socket addresses: a `SocketAddr`, `(host, port)`, `"host:port"`.
/// Literal addresses resolve at once; names go to the blocking pool.
pub trait ToAddrs {
    /// The addresses, in the resolver's order.
    fn to_addrs(&self) -> impl std::future::Future<Output = io::Result<Vec<SocketAddr>>>;
}

impl ToAddrs for SocketAddr {
    async fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![*self])
    }
}

impl ToAddrs for str {
    async fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        let name = self.to_string();
        runtime::spawn_blocking(move || name.to_socket_addrs().map(Iterator::collect)).await?
    }
}

impl ToAddrs for String {
    async fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().to_addrs().await
    }
}

impl<T: ToAddrs + ?Sized> ToAddrs for &T {
    async fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).to_addrs().await
    }
}

impl ToAddrs for (&str, u16) {
    async fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = self.0.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.1)]);
        }
        let (name, port) = (self.0.to_string(), self.1);
        runtime::spawn_blocking(move || {
            (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect)
        })
        .await?
    }
}

impl ToAddrs for (std::net::IpAddr, u16) {
    async fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(self.0, self.1)])
    }
}

/// Runs `f` on each address in turn until one succeeds; the last error otherwise.
pub(crate) async fn each_addr<A: ToAddrs + ?Sized, T, F, Fut>(addrs: &A, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs.to_addrs().await? {
        match f(addr).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the name resolved to no address",
        )
    }))
}

//! [`split`]: a reader-writer into a read half and a write half that two tasks can use at
//! once.

use std::io;
use std::rc::Rc;

use super::{AsyncRead, AsyncWrite};
use crate::buf::{BufResult, IoBuf, IoBufMut};

/// Splits `stream` into a read half and a write half, which can be moved into two tasks (of
/// this core) and used at the same time: a read waiting for data does not hold up a write.
///
/// It works for any type whose shared reference reads and writes (`&TcpStream`,
/// `&UnixStream`, `&fs::File` implement the traits), so no lock is needed; `TcpStream` also
/// has its own `into_split`. [`ReadHalf::unsplit`] puts the halves back together.
///
/// # Examples
/// ```
/// use runtime::io::{AsyncRead, AsyncWrite, split};
///
/// /// Any stream whose `&` reads and writes: `&net::TcpStream`, `&net::UnixStream`.
/// async fn echo_once<S>(stream: S) -> std::io::Result<()>
/// where
///     S: 'static,
///     for<'a> &'a S: AsyncRead + AsyncWrite,
/// {
///     let (mut rd, mut wr) = split(stream);
///     let (n, buf) = rd.read(Vec::with_capacity(64)).await;
///     n?;
///     wr.write_all(buf).await.0
/// }
/// # fn main() {}
/// ```
pub fn split<T>(stream: T) -> (ReadHalf<T>, WriteHalf<T>)
where
    for<'a> &'a T: AsyncRead + AsyncWrite,
{
    let stream = Rc::new(stream);
    (
        ReadHalf {
            stream: stream.clone(),
        },
        WriteHalf { stream },
    )
}

/// The read half of [`split`].
#[derive(Debug)]
pub struct ReadHalf<T> {
    stream: Rc<T>,
}

/// The write half of [`split`].
#[derive(Debug)]
pub struct WriteHalf<T> {
    stream: Rc<T>,
}

impl<T> ReadHalf<T> {
    /// The stream again, from both halves.
    ///
    /// # Panics
    /// If `write` is not this read half's other half.
    pub fn unsplit(self, write: WriteHalf<T>) -> T {
        assert!(
            Rc::ptr_eq(&self.stream, &write.stream),
            "unsplit: the halves are of different streams"
        );
        drop(write);
        match Rc::try_unwrap(self.stream) {
            Ok(stream) => stream,
            Err(_) => unreachable!("the two halves held the only references"),
        }
    }
}

impl<T> AsyncRead for ReadHalf<T>
where
    for<'a> &'a T: AsyncRead,
{
    /// As `&T`'s read.
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        let mut stream: &T = &self.stream;
        stream.read(buf).await
    }

    /// As `&T`'s read_exact.
    async fn read_exact<B: IoBufMut>(&mut self, buf: B) -> BufResult<(), B> {
        let mut stream: &T = &self.stream;
        stream.read_exact(buf).await
    }
}

impl<T> AsyncWrite for WriteHalf<T>
where
    for<'a> &'a T: AsyncWrite,
{
    /// As `&T`'s write.
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        let mut stream: &T = &self.stream;
        stream.write(buf).await
    }

    /// As `&T`'s write_all.
    async fn write_all<B: IoBuf>(&mut self, buf: B) -> BufResult<(), B> {
        let mut stream: &T = &self.stream;
        stream.write_all(buf).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        let mut stream: &T = &self.stream;
        stream.flush().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        let mut stream: &T = &self.stream;
        stream.shutdown().await
    }
}

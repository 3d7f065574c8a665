//! The generic I/O traits of `runtime::io` for the stream sockets: [`TcpStream`],
//! [`UnixStream`] (and shared references to them, so `runtime::io::split` works on them),
//! and TCP's split halves. Each method is the stream's own (see its cancel safety there):
//! reads keep what a dropped read received, writes finish in order when dropped, and
//! `read_exact` gives back what it held.

use std::future::poll_fn;
use std::io;

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use runtime::io::{AsyncRead, AsyncWrite};

use crate::stream::StreamIo;
use crate::{OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};

/// `AsyncRead` for types whose `io` field is a [`StreamIo`].
macro_rules! read_impls {
    ($($ty:ty),*) => {$(
        impl AsyncRead for $ty {
            fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                self.io.read(buf)
            }

            fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
                self.io.read_exact(buf)
            }
        }
    )*};
}

/// `AsyncWrite` for types whose `io` field is a [`StreamIo`].
macro_rules! write_impls {
    ($($ty:ty),*) => {$(
        impl AsyncWrite for $ty {
            fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                self.io.write(buf)
            }

            fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
                self.io.write_all(buf)
            }

            fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
                flush(&self.io)
            }

            async fn shutdown(&mut self) -> io::Result<()> {
                flush(&self.io).await?;
                self.io.shutdown(std::net::Shutdown::Write).await
            }
        }
    )*};
}

read_impls!(
    TcpStream,
    &TcpStream,
    UnixStream,
    &UnixStream,
    OwnedReadHalf
);
write_impls!(
    TcpStream,
    &TcpStream,
    UnixStream,
    &UnixStream,
    OwnedWriteHalf
);

/// A stream's writes complete when their futures do; what is left to wait for are dropped
/// writes still finishing in the background, whose failure (or short send) is reported here.
async fn flush(io: &StreamIo) -> io::Result<()> {
    poll_fn(|cx| io.sent.poll_start(cx)).await.map(drop)
}

//! [`copy`]: everything from a reader to a writer.

use std::io;

use super::{AsyncRead, AsyncWrite, DEFAULT_BUF_SIZE};

/// Copies everything `reader` yields to `writer`, until `reader` ends; returns the number of
/// bytes copied. One buffer of [`DEFAULT_BUF_SIZE`] bytes serves every round (its ownership
/// goes to each read and write op and comes back). `writer` is not flushed.
///
/// # Errors
/// The first read or write error; `WriteZero` if a write wrote nothing.
///
/// # Cancel safety
/// Not cancel safe: bytes read and not yet written when the future is dropped are lost.
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     let mut out = Vec::new();
///     let n = runtime::io::copy(&mut b"hello".as_slice(), &mut out).await?;
///     assert_eq!((n, &out[..]), (5, &b"hello"[..]));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncRead + ?Sized,
    W: AsyncWrite + ?Sized,
{
    let mut buf = Vec::with_capacity(DEFAULT_BUF_SIZE);
    let mut copied = 0u64;
    loop {
        let (res, b) = reader.read(buf).await;
        buf = b;
        let n = match res {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (res, b) = writer.write_all(buf).await;
        buf = b;
        res?;
        copied += n as u64;
    }
}

//! [`Lines`]: the lines of a buffered reader, one `String` at a time.

use std::io;

use super::{AsyncBufRead, AsyncBufReadExt};

/// The lines of an [`AsyncBufRead`], without their `\n` or `\r\n`; made by
/// [`AsyncBufReadExt::lines`].
///
/// # Cancel safety
/// [`next_line`](Lines::next_line) is cancel safe: a dropped call consumed nothing (see
/// [`AsyncBufReadExt::read_line`]), so `select!` over it and another future loses no line.
///
/// # Examples
/// ```
/// use runtime::io::{AsyncBufReadExt, BufReader};
///
/// runtime::Runtime::new()?.block_on(async {
///     let mut lines = BufReader::new(b"a\r\nb\nc".as_slice()).lines();
///     let mut got = Vec::new();
///     while let Some(line) = lines.next_line().await? {
///         got.push(line);
///     }
///     assert_eq!(got, ["a", "b", "c"]);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
}

impl<R> Lines<R> {
    pub(crate) fn new(reader: R) -> Lines<R> {
        Lines { reader }
    }

    /// The reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The reader (to write to the stream behind it, say).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The reader, with the bytes it buffered past the last line.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: AsyncBufRead> Lines<R> {
    /// The next line, without its `\n` or `\r\n`; `None` at end of stream (after a last line
    /// without a newline, if any).
    ///
    /// # Errors
    /// The read's error; `InvalidData` for a line that is not UTF-8 (the line is skipped).
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        Ok(Some(line))
    }
}

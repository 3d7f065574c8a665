//! The bytes of every message, and their check ([`Pattern`]).

/// The bytes of every message: connection `conn`'s message `seq` of `size` bytes is a
/// 12-byte header (`seq` as u64 LE, `conn` as u32 LE; cut short for tiny messages) and then
/// a window of a fixed random sequence whose start depends on both, so a byte echoed on the
/// wrong connection, out of order, twice or altered differs from what is expected.
pub struct Pattern {
    bytes: Vec<u8>,
    max_size: usize,
}

/// Header bytes at the start of each message.
const HEADER: usize = 12;
/// The random sequence repeats with this (prime) period.
const PERIOD: usize = 4093;

impl Pattern {
    /// A pattern for messages of up to `max_size` bytes.
    pub fn new(max_size: usize) -> Pattern {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut base = Vec::with_capacity(PERIOD);
        for _ in 0..PERIOD {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            base.push((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8);
        }
        let mut bytes = Vec::with_capacity(PERIOD + max_size);
        while bytes.len() < PERIOD + max_size {
            let take = (PERIOD + max_size - bytes.len()).min(PERIOD);
            bytes.extend_from_slice(&base[..take]);
        }
        Pattern { bytes, max_size }
    }

    /// The largest message size this pattern serves.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    fn start(conn: u32, seq: u64) -> usize {
        let h = (u64::from(conn).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((h >> 32) % PERIOD as u64) as usize
    }

    fn header(conn: u32, seq: u64) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[..8].copy_from_slice(&seq.to_le_bytes());
        h[8..].copy_from_slice(&conn.to_le_bytes());
        h
    }

    /// Appends message (`conn`, `seq`) of `size` bytes to `out`.
    pub fn append(&self, conn: u32, seq: u64, size: usize, out: &mut Vec<u8>) {
        debug_assert!(size <= self.max_size);
        let h = Self::header(conn, seq);
        let hl = size.min(HEADER);
        out.extend_from_slice(&h[..hl]);
        let s = Self::start(conn, seq);
        out.extend_from_slice(&self.bytes[s + hl..s + size]);
    }

    /// Checks that `data` is bytes `off..off + data.len()` of message (`conn`, `seq`) of
    /// `size` bytes; returns the first differing offset (within the message) and the byte
    /// expected there.
    pub fn check(
        &self,
        conn: u32,
        seq: u64,
        size: usize,
        off: usize,
        data: &[u8],
    ) -> Result<(), (usize, u8)> {
        debug_assert!(off + data.len() <= size);
        let mut i = 0;
        if off < HEADER.min(size) {
            let h = Self::header(conn, seq);
            while i < data.len() && off + i < HEADER.min(size) {
                if data[i] != h[off + i] {
                    return Err((off + i, h[off + i]));
                }
                i += 1;
            }
        }
        if i < data.len() {
            let s = Self::start(conn, seq) + off + i;
            let want = &self.bytes[s..s + data.len() - i];
            if want != &data[i..] {
                let j = want
                    .iter()
                    .zip(&data[i..])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err((off + i + j, want[j]));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_checks_what_it_appends() {
        let p = Pattern::new(5000);
        for size in [1usize, 5, 12, 13, 64, 4999] {
            let mut v = Vec::new();
            p.append(7, 42, size, &mut v);
            assert_eq!(v.len(), size);
            assert_eq!(p.check(7, 42, size, 0, &v), Ok(()));
            // In pieces.
            let mid = size / 2;
            assert_eq!(p.check(7, 42, size, 0, &v[..mid]), Ok(()));
            assert_eq!(p.check(7, 42, size, mid, &v[mid..]), Ok(()));
            // Another connection or sequence number differs.
            if size >= 9 {
                assert!(p.check(8, 42, size, 0, &v).is_err());
            }
            assert!(p.check(7, 43, size, 0, &v).is_err());
            // One flipped byte is found where it is.
            let mut w = v.clone();
            w[size - 1] ^= 0x10;
            assert_eq!(p.check(7, 42, size, 0, &w).unwrap_err().0, size - 1);
        }
    }
}

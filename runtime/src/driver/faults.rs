//! Seeded fault injection (feature `fault-injection`; compiled out without it): ops fail
//! before they reach the kernel with chosen errnos, and reads and writes are shortened (the
//! SQE's length cut: a legitimate partial transfer), each at a given rate from a seed, so
//! error and partial-transfer paths run in tests as they would on a bad day.
//!
//! Only ops that a future awaits are touched (not cancels, closes on drop or linked chains),
//! and a failed op's CQE is delivered at the next reap, as a kernel's would be.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use uring_sys::{Sqe, abi};

/// What to inject, and how often.
///
/// ```
/// # #[cfg(feature = "fault-injection")] {
/// let faults: runtime::Faults = "seed=7,fail=0.05:EINTR+ECONNRESET,short=0.3".parse().unwrap();
/// let rt = runtime::Builder::new().inject_faults(faults).build().unwrap();
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Seed of the generator; each core mixes in a number of its own.
    pub seed: u64,
    /// Share of ops (0.0..=1.0) that fail before submission.
    pub fail_rate: f64,
    /// The errnos a failed op gets, picked at random.
    pub errnos: Vec<i32>,
    /// Share of reads and writes (0.0..=1.0) whose length is cut to a random shorter one.
    pub short_rate: f64,
}

impl Faults {
    /// The environment variable that turns injection on for every runtime built without an
    /// explicit [`Builder::inject_faults`](crate::Builder::inject_faults).
    pub const ENV: &'static str = "RUNTIME_FAULTS";

    /// Reads [`Faults::ENV`]; `None` when unset or empty.
    ///
    /// # Panics
    /// When it is set but malformed (a test setting it wants to know at once).
    pub fn from_env() -> Option<Faults> {
        let v = std::env::var(Self::ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())?;
        match v.parse() {
            Ok(f) => Some(f),
            Err(e) => panic!("{}={v:?}: {e}", Self::ENV),
        }
    }
}

impl std::str::FromStr for Faults {
    type Err = io::Error;

    /// `seed=N,fail=RATE:ERRNO+ERRNO,short=RATE`, every part optional; errnos by name
    /// (EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNRESET, EPIPE, ...) or number.
    fn from_str(s: &str) -> io::Result<Faults> {
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let rate = |v: &str| match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(bad(format!("rate {v:?} is not a number in 0..=1"))),
        };
        let mut f = Faults {
            seed: 0,
            fail_rate: 0.0,
            errnos: Vec::new(),
            short_rate: 0.0,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?}: expected key=value")))?;
            match key {
                "seed" => {
                    f.seed = value
                        .parse()
                        .map_err(|_| bad(format!("seed {value:?} is not a u64")))?;
                }
                "fail" => {
                    let (r, names) = value.split_once(':').unwrap_or((value, "EINTR"));
                    f.fail_rate = rate(r)?;
                    f.errnos = names.split('+').map(errno).collect::<io::Result<_>>()?;
                }
                "short" => f.short_rate = rate(value)?,
                _ => return Err(bad(format!("unknown key {key:?} (seed, fail, short)"))),
            }
        }
        Ok(f)
    }
}

fn errno(name: &str) -> io::Result<i32> {
    let n = match name {
        "EINTR" => libc::EINTR,
        "EAGAIN" => libc::EAGAIN,
        "ENOBUFS" => libc::ENOBUFS,
        "ENOMEM" => libc::ENOMEM,
        "ECONNRESET" => libc::ECONNRESET,
        "EPIPE" => libc::EPIPE,
        "EIO" => libc::EIO,
        "ENOSPC" => libc::ENOSPC,
        "ETIMEDOUT" => libc::ETIMEDOUT,
        other => other.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown errno {other:?}"),
            )
        })?,
    };
    if n <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("errno {name:?} must be positive"),
        ));
    }
    Ok(n)
}

/// What the injector decided for one SQE.
pub(crate) enum Decision {
    Pass,
    /// Complete the op with this negative errno, without submitting it.
    Fail(i32),
}

/// One core's injector: the plan and its generator.
pub(crate) struct Injector {
    faults: Faults,
    state: u64,
    /// How many ops failed and how many transfers were cut (for tests and the log).
    pub(crate) failed: u64,
    pub(crate) shortened: u64,
}

impl Injector {
    pub(crate) fn new(faults: Faults) -> Injector {
        // Each driver of the process gets its own stream, reproducible in creation order.
        static DRIVERS: AtomicU64 = AtomicU64::new(0);
        let n = DRIVERS.fetch_add(1, Ordering::Relaxed);
        let state = (faults.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
        tracing::warn!(?faults, "fault injection is on");
        Injector {
            faults,
            state,
            failed: 0,
            shortened: 0,
        }
    }

    /// The injector for a driver: `faults` when the builder set them, else `RUNTIME_FAULTS`.
    pub(crate) fn configured(faults: Option<&Faults>) -> Option<Injector> {
        faults.cloned().or_else(Faults::from_env).map(Injector::new)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: plenty for picking faults.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn chance(&mut self, rate: f64) -> bool {
        rate > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= rate
    }

    /// Decides for an op's SQE about to be pushed: maybe fail it, maybe cut its length.
    pub(crate) fn decide(&mut self, sqe: &mut Sqe) -> Decision {
        if !self.faults.errnos.is_empty() && self.chance(self.faults.fail_rate) {
            self.failed += 1;
            let i = (self.next() % self.faults.errnos.len() as u64) as usize;
            return Decision::Fail(-self.faults.errnos[i]);
        }
        let s = &mut sqe.0;
        let transfer = matches!(
            s.opcode,
            abi::IORING_OP_READ
                | abi::IORING_OP_WRITE
                | abi::IORING_OP_READ_FIXED
                | abi::IORING_OP_WRITE_FIXED
                | abi::IORING_OP_RECV
                | abi::IORING_OP_SEND
        );
        // A provided-buffer receive's length is the buffer's; leave those alone.
        let selects_buffer = s.flags & abi::IOSQE_BUFFER_SELECT != 0;
        // A datagram goes whole or not at all: the kernel never sends part of one, and a
        // shorter receive would cut it. Only byte streams get short sends and receives.
        let socket_op = matches!(s.opcode, abi::IORING_OP_RECV | abi::IORING_OP_SEND);
        let may_cut = !socket_op
            || (s.flags & abi::IOSQE_FIXED_FILE == 0
                && super::socket_type(s.fd) == Some(libc::SOCK_STREAM));
        if transfer
            && !selects_buffer
            && may_cut
            && s.len > 1
            && self.chance(self.faults.short_rate)
        {
            // A length in whole 4 KiB blocks may be an O_DIRECT transfer, which must stay
            // aligned: cut those by whole blocks (or not at all).
            let unit = if s.len.is_multiple_of(4096) { 4096 } else { 1 };
            let units = s.len / unit;
            if units > 1 {
                self.shortened += 1;
                s.len = unit * (1 + (self.next() % u64::from(units - 1)) as u32);
            }
        }
        Decision::Pass
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn parses_the_documented_form() {
        let f: Faults = "seed=7, fail=0.25:EINTR+ECONNRESET+5, short=0.5"
            .parse()
            .unwrap();
        assert_eq!(f.seed, 7);
        assert_eq!(f.fail_rate, 0.25);
        assert_eq!(f.errnos, vec![libc::EINTR, libc::ECONNRESET, 5]);
        assert_eq!(f.short_rate, 0.5);
        let only_short: Faults = "short=1".parse().unwrap();
        assert!(only_short.errnos.is_empty());
    }

    #[test]
    fn refuses_bad_input_clearly() {
        for bad in [
            "seed",
            "fail=2",
            "short=-1",
            "fail=0.1:EWHAT",
            "colour=red",
            "fail=0.1:0",
        ] {
            let e = bad.parse::<Faults>().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}: {e}");
        }
    }

    #[test]
    fn cuts_lengths_and_fails_at_the_given_rates() {
        let (stream, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = stream.as_raw_fd();
        let mut inj = Injector::new("seed=1,fail=0.5:EPIPE,short=1".parse().unwrap());
        let (mut failed, mut cut) = (0, 0);
        for _ in 0..1000 {
            let mut sqe = uring_sys::prep::prep_recv(fd, std::ptr::null_mut(), 100, 0);
            match inj.decide(&mut sqe) {
                Decision::Fail(e) => {
                    assert_eq!(e, -libc::EPIPE);
                    failed += 1;
                }
                Decision::Pass => {
                    assert!((1..100).contains(&sqe.0.len), "{}", sqe.0.len);
                    cut += 1;
                }
            }
        }
        assert!((400..600).contains(&failed), "{failed}");
        assert_eq!(failed + cut, 1000);
        // An op that is not a transfer keeps its length.
        let mut nop = uring_sys::prep::prep_nop();
        let mut inj = Injector::new("short=1".parse().unwrap());
        nop.0.len = 9;
        assert!(matches!(inj.decide(&mut nop), Decision::Pass));
        assert_eq!(nop.0.len, 9);
    }

    #[test]
    fn never_cuts_a_datagram() {
        let (a, _b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let mut inj = Injector::new("short=1".parse().unwrap());
        for mut sqe in [
            uring_sys::prep::prep_send(a.as_raw_fd(), std::ptr::null(), 100, 0),
            uring_sys::prep::prep_recv(a.as_raw_fd(), std::ptr::null_mut(), 100, 0),
        ] {
            assert!(matches!(inj.decide(&mut sqe), Decision::Pass));
            assert_eq!(sqe.0.len, 100, "a datagram op's length was cut");
        }
    }
}

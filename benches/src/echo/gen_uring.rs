//! The batched io_uring engine of the generator, on `uring-sys` directly: one multishot recv
//! per connection on a provided-buffer ring, and every send queued during a loop turn goes
//! to the kernel in that turn's single `io_uring_enter` (which also waits for completions).
//! One send at a time per connection keeps its bytes in order; messages queued meanwhile
//! go out together in the next send. At a fixed rate (open loop) messages are queued when
//! due and the enter waits no longer than until the next one.

use std::io;
use std::time::{Duration, Instant};

use uring_sys::{BufRing, Ring, Sqe, prep};

use super::load::Session;

const RECV: u64 = 1 << 32;
const SEND: u64 = 2 << 32;
const KIND: u64 = 0xffff_ffff << 32;
/// The buffer group of the recv buffers.
const GROUP: u16 = 0;
/// Most memory for recv buffers.
const MAX_BUF_MEMORY: usize = 128 << 20;

/// Per-connection op state.
#[derive(Default)]
struct Ops {
    /// A multishot recv is armed.
    recv_armed: bool,
    /// A send is in flight from `inflight[inflight_off..]`.
    send_busy: bool,
    /// The bytes being sent: the kernel reads them until the send's CQE, so nothing touches
    /// this Vec meanwhile (new messages queue in the connection's `tx`).
    inflight: Vec<u8>,
    inflight_off: usize,
}

/// The recv buffers: `count` buffers of `len` bytes at `base`, registered as group
/// [`GROUP`]. The memory is a Vec's that nothing references as a whole while the kernel
/// owns parts of it; buffers are read through `base` only once the kernel handed them over.
struct Buffers {
    ring: BufRing,
    memory: Vec<u8>,
    base: *mut u8,
    len: usize,
}

impl Buffers {
    /// Puts buffer `bid` back in the ring (visible to the kernel after `publish`).
    fn give_back(&mut self, bid: u16) {
        let ptr = self.base.wrapping_add(bid as usize * self.len);
        // SAFETY: buffer `bid` lies inside `memory` (bid < count: the kernel only names
        // buffers we gave it), which outlives the registration (see `run`'s teardown); we
        // read it only between its CQE and this call, never after.
        unsafe { self.ring.push(ptr, self.len as u32, bid) };
    }
}

/// Runs the session's connections until the window closes.
///
/// # Errors
/// A wrong echo, a connection the server closed, a stall, or a ring or socket error.
pub fn run(s: &mut Session) -> io::Result<()> {
    let n = s.conns.len();
    let depth = s.depth as usize;
    let sq_entries = (2 * n + 64).next_power_of_two().clamp(64, 32768) as u32;
    let mut ring = build_ring(sq_entries, (sq_entries * 4).min(65536))?;

    let buf_len = s.size.next_power_of_two().clamp(512, 16 * 1024);
    let want = n * depth * s.size.div_ceil(buf_len) + 64;
    let mut count = want.next_power_of_two().clamp(64, 32768);
    while count > 64 && count * buf_len > MAX_BUF_MEMORY {
        count /= 2;
    }
    let mut memory = vec![0u8; count * buf_len];
    // Moving the Vec below does not move its heap block, which `base` points to.
    let base = memory.as_mut_ptr();
    let mut bufs = Buffers {
        ring: ring.setup_buf_ring(count as u16, GROUP)?,
        memory,
        base,
        len: buf_len,
    };
    for bid in 0..count {
        bufs.give_back(bid as u16);
    }
    bufs.ring.publish();

    let mut ops: Vec<Ops> = (0..n).map(|_| Ops::default()).collect();
    let result = drive(s, &mut ring, &mut bufs, &mut ops);
    let drained = teardown(s, &mut ring, &mut bufs, &mut ops);
    let _ = ring.unregister_buf_ring(GROUP);
    drop(ring);
    if !drained {
        // Some op did not complete in time: the kernel may still use its memory after the
        // ring's fd is closed, until it cancels it. Never free that memory.
        std::mem::forget(std::mem::take(&mut bufs.memory));
        for o in &mut ops {
            std::mem::forget(std::mem::take(&mut o.inflight));
        }
    }
    result
}

fn build_ring(sq: u32, cq: u32) -> io::Result<Ring> {
    Ring::builder(sq)
        .cq_entries(cq)
        .single_issuer(true)
        .defer_taskrun(true)
        .build()
        .or_else(|_| Ring::builder(sq).cq_entries(cq).coop_taskrun(true).build())
        .or_else(|_| Ring::builder(sq).cq_entries(cq).build())
}

/// Pushes `sqe`, submitting first when the SQ is full.
///
/// # Safety
/// As [`uring_sys::SubmissionQueue::push`]: what `sqe` points to stays valid until its CQE.
unsafe fn push(ring: &mut Ring, sqe: &Sqe) -> io::Result<()> {
    loop {
        // SAFETY: forwarded from the caller.
        match unsafe { ring.sq().push(sqe) } {
            Ok(()) => return Ok(()),
            Err(_) => {
                ring.submit()?;
            }
        }
    }
}

fn arm_recv(ring: &mut Ring, fd: i32, i: usize, o: &mut Ops) -> io::Result<()> {
    let sqe = prep::prep_recv_multishot(fd, GROUP, 0).user_data(RECV | i as u64);
    // SAFETY: the SQE names buffer group GROUP, whose memory outlives every op (`run` keeps
    // it until all ops completed, or leaks it), and the socket, open until teardown.
    unsafe { push(ring, &sqe)? };
    o.recv_armed = true;
    Ok(())
}

/// Starts a send of what connection `i` queued, unless one is in flight.
fn start_send(ring: &mut Ring, s: &mut Session, i: usize, o: &mut Ops) -> io::Result<()> {
    if o.send_busy {
        return Ok(());
    }
    if o.inflight_off >= o.inflight.len() {
        let c = &mut s.conns[i];
        c.refill(&s.pattern, s.size);
        if c.tx.is_empty() {
            return Ok(());
        }
        o.inflight.clear();
        std::mem::swap(&mut o.inflight, &mut c.tx);
        o.inflight_off = 0;
    }
    let rest = &o.inflight[o.inflight_off..];
    let sqe = prep::prep_send(
        s.conns[i].raw(),
        rest.as_ptr(),
        rest.len().min(u32::MAX as usize) as u32,
        libc::MSG_NOSIGNAL,
    )
    .user_data(SEND | i as u64);
    // SAFETY: `rest` is in `o.inflight`'s heap block, which nothing touches (nor frees) until
    // this send's CQE clears `send_busy` (or `run` leaks it); the socket stays open.
    unsafe { push(ring, &sqe)? };
    o.send_busy = true;
    Ok(())
}

fn drive(s: &mut Session, ring: &mut Ring, bufs: &mut Buffers, ops: &mut [Ops]) -> io::Result<()> {
    let now = Instant::now();
    for (i, o) in ops.iter_mut().enumerate() {
        arm_recv(ring, s.conns[i].raw(), i, o)?;
        for _ in 0..s.depth {
            s.conns[i].queue(now);
        }
        start_send(ring, s, i, o)?;
    }
    let mut pending = Vec::with_capacity(ring.cq().capacity() as usize);
    let mut due = Vec::new();
    loop {
        let now = Instant::now();
        if !s.meter.tick(now)? {
            return Ok(());
        }
        if let Some(pacer) = &mut s.pacer {
            due.clear();
            pacer.queue_due(now, &mut s.conns, |i| due.push(i));
            for &i in &due {
                start_send(ring, s, i, &mut ops[i])?;
            }
        }
        enter(ring, s.wait_hint(Instant::now()))?;
        let now = Instant::now();
        // Copy the CQEs out first: handling them pushes SQEs, which needs the ring.
        pending.clear();
        pending.extend(ring.cq());
        let mut recycled = false;
        for cqe in &pending {
            let i = (cqe.user_data() & !KIND) as usize;
            let o = &mut ops[i];
            match cqe.user_data() & KIND {
                RECV => {
                    let res = cqe.res();
                    let bid = cqe.buffer_id();
                    let outcome = if res > 0 {
                        let Some(bid) = bid else {
                            return Err(io::Error::other("recv CQE without a buffer"));
                        };
                        // SAFETY: the kernel filled `res` bytes of buffer `bid` (inside
                        // `memory`) and hands it to us until we give it back below; nothing
                        // else reads or writes it meanwhile.
                        let data = unsafe {
                            std::slice::from_raw_parts(
                                bufs.base.add(bid as usize * bufs.len),
                                res as usize,
                            )
                        };
                        let c = &mut s.conns[i];
                        let done = c.receive(&s.pattern, s.size, data, now, &mut s.meter);
                        if let Ok(done) = done {
                            s.on_echoes(i, done, now);
                        }
                        done.map(drop)
                    } else if res == 0 {
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("the server closed connection {}", s.conns[i].id),
                        ))
                    } else if -res == libc::ENOBUFS {
                        Ok(())
                    } else {
                        Err(io::Error::new(
                            io::Error::from_raw_os_error(-res).kind(),
                            format!(
                                "recv on connection {}: {}",
                                s.conns[i].id,
                                io::Error::from_raw_os_error(-res)
                            ),
                        ))
                    };
                    if let Some(bid) = bid {
                        bufs.give_back(bid);
                        recycled = true;
                    }
                    outcome?;
                    if !cqe.more() {
                        o.recv_armed = false;
                        if recycled {
                            bufs.ring.publish();
                        }
                        arm_recv(ring, s.conns[i].raw(), i, o)?;
                    }
                    start_send(ring, s, i, o)?;
                }
                SEND => {
                    o.send_busy = false;
                    let res = cqe.res();
                    if res < 0 {
                        let e = io::Error::from_raw_os_error(-res);
                        return Err(io::Error::new(
                            e.kind(),
                            format!("send on connection {}: {e}", s.conns[i].id),
                        ));
                    }
                    o.inflight_off += res as usize;
                    start_send(ring, s, i, o)?;
                }
                _ => {}
            }
        }
        if recycled {
            bufs.ring.publish();
        }
    }
}

/// One enter: submits what the turn queued and waits for a completion (at most `wait`).
fn enter(ring: &mut Ring, wait: Duration) -> io::Result<()> {
    match ring.submit_and_wait_timeout(1, wait) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Ends every op: shuts the sockets down (recvs see end of stream, sends fail), then reaps
/// until no op is left. Returns false if some op did not complete within 2 s.
fn teardown(s: &mut Session, ring: &mut Ring, bufs: &mut Buffers, ops: &mut [Ops]) -> bool {
    for c in &s.conns {
        // SAFETY: shutdown(2) on a socket we own.
        unsafe { libc::shutdown(c.raw(), libc::SHUT_RDWR) };
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if ops.iter().all(|o| !o.recv_armed && !o.send_busy) {
            return true;
        }
        if Instant::now() >= deadline || enter(ring, Duration::from_millis(20)).is_err() {
            return false;
        }
        let mut recycled = false;
        for cqe in ring.cq() {
            let i = (cqe.user_data() & !KIND) as usize;
            let Some(o) = ops.get_mut(i) else { continue };
            match cqe.user_data() & KIND {
                RECV => {
                    if let Some(bid) = cqe.buffer_id() {
                        bufs.give_back(bid);
                        recycled = true;
                    }
                    if !cqe.more() {
                        o.recv_armed = false;
                    }
                }
                SEND => o.send_busy = false,
                _ => {}
            }
        }
        if recycled {
            bufs.ring.publish();
        }
    }
}

//! The fallback driver: an emulated ring for where io_uring is blocked or missing.
//!
//! The driver keeps its ring, its slab and its reaping: only the ring is not the kernel's. It
//! is a [`Ring::user_space`] with the kernel's layout, so ops push the very SQEs they push on
//! io_uring, and the driver reaps CQEs exactly as it reaps the kernel's. What plays the
//! kernel is [`Emulator::enter`], called where the driver would call `io_uring_enter`: it
//! takes the published SQEs and runs each opcode by ordinary syscalls:
//! - sockets, pipes and other pollable fds: a non-blocking attempt (`MSG_DONTWAIT`,
//!   `RWF_NOWAIT`, `O_NONBLOCK`: for good on listeners, for the call on connects); on `EAGAIN`
//!   the op waits for readiness from this core's epoll, where the loop parks instead of in
//!   `io_uring_enter`; a `MSG_WAITALL` transfer on a stream goes on the same way until every
//!   byte is moved, as io_uring does. An fd is registered edge-triggered, checked once per
//!   op that waits on it (not once per wait: see [`Emulator::arm`]); an op waits only after
//!   `EAGAIN`, except a multishot receive on TCP that read less than its buffer, which waits
//!   for the next edge instead of reading again ([`Emulator::drained`]), so an echo costs
//!   what it costs an epoll server: a receive, a send and a share of one `epoll_wait`;
//! - files and anything else that may block: the process's blocking pool, whose result comes
//!   back through an eventfd in the same epoll set;
//! - links (`IO_LINK`, `IO_HARDLINK`, `LINK_TIMEOUT`), `ASYNC_CANCEL`, multishot accept and
//!   recv with provided-buffer rings (read from user space: the memory is ours), fixed files
//!   and buffers (a user-space table), with the CQE flags the kernel sets.
//!
//! Opcodes it does not implement complete with `-EOPNOTSUPP`, never silently; its probe
//! ([`Emulator::probe`]) names what it implements, so code that probes picks another route.
//! `docs/architecture.md` says why this beats a fallback per op.

mod exec;

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slab::Slab;
use uring_sys::abi;
use uring_sys::{BufRing, Cqe, Probe, Ring, Sqe, UserSpaceSide};

use exec::Attempt;

/// The epoll token of the blocking pool's eventfd (fds are never this large).
const POOL_TOKEN: u64 = u64::MAX;
/// Events asked of `epoll_wait` at once.
const EVENTS: usize = 64;

/// An op the emulator started and has not completed.
struct Pending {
    sqe: Sqe,
    /// The fd the op works on (a fixed file resolved to its real fd).
    fd: RawFd,
    /// The epoll events it waits for, while it waits (0 for a poll of `EPOLLERR|EPOLLHUP`
    /// only, so this says nothing about the list: see `linked`).
    waiting: u32,
    /// It is in its fd's `WaitList` (from `push_waiter` to `forget_waiter`).
    linked: bool,
    /// Its fd is in the epoll set (it was added, or found there, when this op first waited).
    /// Kept for the op's life: the op holds its fd open, so the registration stays the fd's.
    registered: bool,
    /// Its fd is a TCP socket (asked once, by a multishot receive that read short).
    tcp: Option<bool>,
    /// Its neighbours in its fd's `WaitList` (`NONE` at the ends).
    prev: usize,
    next: usize,
    /// On the blocking pool: it cannot be cancelled, only waited for.
    in_pool: bool,
    /// A CONNECT that got EINPROGRESS: its next attempt reads the outcome.
    connecting: bool,
    /// When it is attempted again (a CONNECT that got EAGAIN: nothing to wait for on its
    /// fd), and how many times it was put off so far.
    retry_at: Option<Instant>,
    retries: u32,
    /// Bytes a `MSG_WAITALL` send or receive on a stream moved so far: it goes on from
    /// there until all are moved, as io_uring does (Linux 5.18 on).
    done: u32,
    /// It completed with fewer bytes than asked although `MSG_WAITALL` wanted them all:
    /// a failure for its link chain, as in the kernel.
    short: bool,
    /// The LINK_TIMEOUT after it: its `user_data` and deadline.
    link_timeout: Option<(u64, Instant)>,
    /// The link timeout fired: the op completes with ECANCELED, the timeout with ETIME.
    timed_out: bool,
    /// The SQEs linked behind it, issued when it completes.
    chain: VecDeque<Sqe>,
    /// Distinguishes this op from a later one in the same slab entry (for stale timers).
    generation: u64,
}

/// No op: the end of a `WaitList`.
const NONE: usize = usize::MAX;

/// The ops waiting for readiness on one fd: a list linked through their `Pending`s, so
/// waiting allocates nothing once the map has room for the fds that wait at once.
#[derive(Clone, Copy)]
struct WaitList {
    head: usize,
    tail: usize,
    len: usize,
    /// The events this fd number is registered for in the epoll set as far as this core
    /// knows (0: none). Kept when the list empties, as a hint only: the file behind the
    /// number may have closed since, so every op checks it once ([`Emulator::arm`]).
    mask: u32,
}

/// A map from small integers (fds, buffer group ids) to values: a vector indexed by the key
/// below [`DENSE_KEYS`], as those numbers are dense from 0 (the kernel hands out the lowest
/// free fd), and a map above it, so an fd `dup2`ed to a huge number costs no huge vector. A
/// lookup is an index, where a `HashMap`'s SipHash had cost about a fifth of an echo's
/// user-space instructions.
struct SmallKeys<V> {
    slots: Vec<Option<V>>,
    spill: HashMap<usize, V>,
}

/// Keys below this live in [`SmallKeys`]'s vector.
const DENSE_KEYS: usize = 1 << 16;

impl<V> SmallKeys<V> {
    fn with_capacity(n: usize) -> Self {
        SmallKeys {
            slots: Vec::with_capacity(n),
            spill: HashMap::new(),
        }
    }

    fn get(&self, key: usize) -> Option<&V> {
        if key >= DENSE_KEYS {
            return self.spill.get(&key);
        }
        self.slots.get(key)?.as_ref()
    }

    fn get_mut(&mut self, key: usize) -> Option<&mut V> {
        if key >= DENSE_KEYS {
            return self.spill.get_mut(&key);
        }
        self.slots.get_mut(key)?.as_mut()
    }

    fn insert(&mut self, key: usize, value: V) {
        if key >= DENSE_KEYS {
            self.spill.insert(key, value);
            return;
        }
        if key >= self.slots.len() {
            self.slots.resize_with(key + 1, || None);
        }
        self.slots[key] = Some(value);
    }

    fn get_or_insert(&mut self, key: usize, value: V) -> &mut V {
        if self.get(key).is_none() {
            self.insert(key, value);
        }
        self.get_mut(key).expect("just inserted")
    }

    fn remove(&mut self, key: usize) -> Option<V> {
        if key >= DENSE_KEYS {
            return self.spill.remove(&key);
        }
        self.slots.get_mut(key)?.take()
    }
}

/// Room for this many fds waiting at once and fds to re-arm in one enter, reserved up front.
const WAITING_FDS: usize = 64;

/// A provided-buffer ring as the kernel sees it: the descriptors and the consumer's head.
struct BufGroup {
    ring: *const abi::io_uring_buf,
    entries: u16,
    head: u16,
}

/// A result of the blocking pool, for op `index` of generation `generation`.
type PoolDone = (usize, u64, i32);

/// What the pool threads share with the core: finished jobs and the eventfd that says so.
struct PoolShared {
    done: Mutex<Vec<PoolDone>>,
    eventfd: OwnedFd,
}

/// One core's emulated kernel side.
pub(crate) struct Emulator {
    epoll: OwnedFd,
    pending: Slab<Pending>,
    next_generation: u64,
    /// Ops waiting for readiness, by fd; an emptied list stays for its registration `mask`.
    waiters: SmallKeys<WaitList>,
    /// Fds with a waiting op that has not checked their registration yet, or that waits for
    /// an event it lacks: registered at the end of the enter ([`Emulator::arm`]).
    to_arm: Vec<RawFd>,
    /// The fd and events of the epoll edge whose waiters are being retried (events 0
    /// outside [`Emulator::ready`]), for [`Emulator::drained`].
    edge: (RawFd, u32),
    /// Link-timeout deadlines: (deadline, op index, op generation), nearest first.
    timers: BinaryHeap<std::cmp::Reverse<(Instant, usize, u64)>>,
    /// CQEs made and not yet posted (the CQ was full): the kernel's overflow backlog.
    backlog: VecDeque<Cqe>,
    pool: Arc<PoolShared>,
    /// Provided-buffer rings by group.
    groups: SmallKeys<BufGroup>,
    /// Registered buffers (`iov_base`, `iov_len`), for READ_FIXED/WRITE_FIXED bounds.
    buffers: Vec<(usize, usize)>,
    /// The fixed file table: the fds we hold for its slots.
    files: Vec<Option<OwnedFd>>,
    /// Emulated enters, the counterpart of `io_uring_enter` calls in the metrics.
    enters: u64,
    /// The enter before this one called `epoll_wait` (or tried: EINTR counts): see
    /// [`Emulator::enter`].
    checked_last: bool,
    /// `epoll_wait` calls so far.
    readiness_checks: u64,
}

impl Emulator {
    /// The user-space ring and its emulator for one core. The sizes are checked as the
    /// kernel checks them (with `IORING_SETUP_CLAMP`), so a configuration fails alike on both
    /// drivers; the CQ itself is always twice the SQ, and the backlog holds what overflows.
    ///
    /// # Errors
    /// `InvalidInput` for 0 entries, a CQ of 0 entries or one smaller than the SQ; else
    /// `epoll_create1`'s, `eventfd`'s or the ring memory's error.
    pub(crate) fn new(entries: u32, cq_entries: Option<u32>) -> io::Result<(Ring, Emulator)> {
        check_sizes(entries, cq_entries)?;
        let epoll = cvt_fd(
            // SAFETY: plain flags; the result is checked.
            unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) },
        )?;
        let pool_efd = cvt_fd(
            // SAFETY: plain integers; the result is checked.
            unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) },
        )?;
        epoll_ctl(
            &epoll,
            libc::EPOLL_CTL_ADD,
            pool_efd.as_raw_fd(),
            libc::EPOLLIN as u32,
            POOL_TOKEN,
        )?;
        // The ring's fd stands for the emulator: a duplicate of its epoll fd.
        let ring = Ring::user_space(entries, epoll.try_clone()?)?;
        Ok((
            ring,
            Emulator {
                epoll,
                pending: Slab::new(),
                next_generation: 0,
                waiters: SmallKeys::with_capacity(WAITING_FDS),
                to_arm: Vec::with_capacity(WAITING_FDS),
                edge: (-1, 0),
                timers: BinaryHeap::new(),
                backlog: VecDeque::new(),
                pool: Arc::new(PoolShared {
                    done: Mutex::new(Vec::new()),
                    eventfd: pool_efd,
                }),
                groups: SmallKeys::with_capacity(0),
                buffers: Vec::new(),
                files: Vec::new(),
                enters: 0,
                checked_last: false,
                readiness_checks: 0,
            },
        ))
    }

    /// What a probe of this ring says: the opcodes [`exec`] implements.
    pub(crate) fn probe() -> Probe {
        Probe::from_opcodes(exec::SUPPORTED)
    }

    /// Emulated enters so far.
    pub(crate) fn enters(&self) -> u64 {
        self.enters
    }

    /// What `io_uring_enter` does: takes every published SQE and starts it; collects what
    /// became ready (an enter that does not park skips this when the one before did it); if
    /// `wait` and no CQE is ready, parks in `epoll_wait` for at most `timeout` (or the
    /// nearest link timeout). Returns the SQEs consumed.
    ///
    /// # Errors
    /// `epoll_wait(2)`'s errno, EINTR aside.
    pub(crate) fn enter(
        &mut self,
        ring: &mut Ring,
        wait: bool,
        timeout: Option<Duration>,
    ) -> io::Result<u32> {
        self.enters += 1;
        // Publishes what was pushed, as `Ring::submit` does before entering the kernel.
        ring.sq().sync();
        let Some(mut side) = ring.user_space_side() else {
            unreachable!("the emulator drives a kernel ring");
        };
        let mut consumed = 0;
        let mut chain: VecDeque<Sqe> = VecDeque::new();
        while let Some(sqe) = side.next_sqe() {
            consumed += 1;
            let linked = sqe.sqe_flags() & (abi::IOSQE_IO_LINK | abi::IOSQE_IO_HARDLINK) != 0;
            if chain.is_empty() && !linked {
                // The common case, without a chain (and without allocating one).
                self.start(sqe, VecDeque::new());
                continue;
            }
            chain.push_back(sqe);
            if !linked {
                self.start_chain(std::mem::take(&mut chain));
            }
        }
        // A link flag on the last SQE of a submission ends the chain there, as in the kernel.
        if !chain.is_empty() {
            self.start_chain(chain);
        }
        self.arm();
        let idle = self.backlog.is_empty();
        let block = wait && idle;
        // An enter that does not park checks readiness without waiting, so that readiness
        // keeps up under load; but that costs an `epoll_wait` syscall, often a wasted one. So
        // an enter that does not park (it has CQEs to hand back, such as a send's that
        // completed at once, or the loop has tasks to run) skips the check when the enter
        // before made one: an echo at one connection then costs what it costs an epoll server
        // (its `epoll_wait`, receive and send), and at least every second enter still checks,
        // so a loop that never parks never starves the ops that wait for readiness.
        let check = !self.pending.is_empty() && !self.checked_last;
        self.checked_last = block || check;
        if block || check {
            let limit = if block {
                self.wait_limit(timeout)
            } else {
                Some(Duration::ZERO)
            };
            self.poll_events(limit)?;
        }
        self.expire_timers();
        self.arm();
        self.flush(&mut side);
        Ok(consumed)
    }

    /// How long a blocking wait may last: the caller's timeout, cut at the nearest link
    /// timeout.
    fn wait_limit(&self, timeout: Option<Duration>) -> Option<Duration> {
        let timer = self
            .timers
            .peek()
            .map(|t| t.0.0.saturating_duration_since(Instant::now()));
        match (timeout, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Posts the backlog into the CQ, as far as it has room; flags what is left.
    fn flush(&mut self, side: &mut UserSpaceSide<'_>) {
        while let Some(cqe) = self.backlog.pop_front() {
            if let Err(cqe) = side.post_cqe(cqe) {
                self.backlog.push_front(cqe);
                break;
            }
        }
        side.set_cq_overflow(!self.backlog.is_empty());
    }

    fn post(&mut self, user_data: u64, res: i32, flags: u32) {
        self.backlog.push_back(Cqe::new(user_data, res, flags));
    }

    /// Starts the first SQE of a chain; the rest wait in its `Pending` until it completes.
    fn start_chain(&mut self, mut chain: VecDeque<Sqe>) {
        if let Some(sqe) = chain.pop_front() {
            self.start(sqe, chain);
        }
    }

    /// Starts `sqe`, with the SQEs linked behind it.
    fn start(&mut self, sqe: Sqe, mut chain: VecDeque<Sqe>) {
        let mut link_timeout = None;
        if chain
            .front()
            .is_some_and(|s| s.opcode() == abi::IORING_OP_LINK_TIMEOUT)
        {
            let lt = chain.pop_front().expect("checked");
            match exec::timespec(&lt) {
                // A deadline past what `Instant` holds never comes: no timer.
                Some(d) => {
                    link_timeout = Instant::now()
                        .checked_add(d)
                        .map(|at| (lt.get_user_data(), at));
                    if link_timeout.is_none() {
                        self.post(lt.get_user_data(), -libc::ECANCELED, 0);
                    }
                }
                None => {
                    // A bad timespec fails the timeout and the op it guards, like the kernel.
                    self.post(lt.get_user_data(), -libc::EINVAL, 0);
                    self.post(sqe.get_user_data(), -libc::ECANCELED, 0);
                    self.cancel_chain(chain);
                    return;
                }
            }
        }
        match sqe.opcode() {
            abi::IORING_OP_ASYNC_CANCEL => {
                let res = self.cancel(&sqe);
                self.complete_sqe(&sqe, res, 0, chain);
                return;
            }
            abi::IORING_OP_LINK_TIMEOUT => {
                // Not behind an op: nothing to time.
                self.complete_sqe(&sqe, -libc::EINVAL, 0, chain);
                return;
            }
            _ => {}
        }
        let fd = match self.resolve_fd(&sqe) {
            Ok(fd) => fd,
            Err(e) => {
                self.complete_sqe(&sqe, -e, 0, chain);
                return;
            }
        };
        let generation = self.next_generation;
        self.next_generation += 1;
        // A TIMEOUT (relative, no completion count) is a timer and nothing else.
        let timer = if sqe.opcode() == abi::IORING_OP_TIMEOUT {
            match exec::timespec(&sqe).filter(|_| sqe.off() == 0) {
                // Past what `Instant` holds: a century, which never comes either.
                Some(d) => Some(
                    Instant::now()
                        .checked_add(d)
                        .unwrap_or_else(|| Instant::now() + Duration::from_secs(3_153_600_000)),
                ),
                None => {
                    self.complete_sqe(&sqe, -libc::EOPNOTSUPP, 0, chain);
                    return;
                }
            }
        } else {
            None
        };
        if let Some(deadline) = timer.or(link_timeout.map(|(_, d)| d)) {
            self.timers.push(std::cmp::Reverse((
                deadline,
                self.pending.vacant_key(),
                generation,
            )));
        }
        let index = self.pending.insert(Pending {
            sqe,
            fd,
            waiting: 0,
            linked: false,
            registered: false,
            tcp: None,
            prev: NONE,
            next: NONE,
            in_pool: false,
            connecting: false,
            retry_at: None,
            retries: 0,
            done: 0,
            short: false,
            link_timeout,
            timed_out: false,
            chain,
            generation,
        });
        if timer.is_none() {
            self.run(index);
        }
    }

    /// Completes an SQE that never became a `Pending`, then issues or fails its chain.
    fn complete_sqe(&mut self, sqe: &Sqe, res: i32, flags: u32, chain: VecDeque<Sqe>) {
        self.post_result(sqe, res, flags);
        self.continue_chain(sqe, res, chain);
    }

    /// Posts an op's final CQE, unless it succeeded with `IOSQE_CQE_SKIP_SUCCESS`.
    fn post_result(&mut self, sqe: &Sqe, res: i32, flags: u32) {
        self.post_final(sqe, res, flags, res < 0);
    }

    /// Posts an op's final CQE; `failed` (an error, or a short `MSG_WAITALL` transfer)
    /// posts it even with `IOSQE_CQE_SKIP_SUCCESS`.
    fn post_final(&mut self, sqe: &Sqe, res: i32, flags: u32, failed: bool) {
        if !failed && sqe.sqe_flags() & abi::IOSQE_CQE_SKIP_SUCCESS != 0 {
            return;
        }
        self.post(sqe.get_user_data(), res, flags);
    }

    /// After `sqe` completed with `res`: issues the rest of its chain, or fails it with
    /// ECANCELED when a soft link broke.
    fn continue_chain(&mut self, sqe: &Sqe, res: i32, chain: VecDeque<Sqe>) {
        self.continue_chain_failed(sqe, res < 0, chain);
    }

    fn continue_chain_failed(&mut self, sqe: &Sqe, failed: bool, chain: VecDeque<Sqe>) {
        if chain.is_empty() {
            return;
        }
        let hard = sqe.sqe_flags() & abi::IOSQE_IO_HARDLINK != 0;
        if failed && !hard {
            self.cancel_chain(chain);
        } else {
            self.start_chain(chain);
        }
    }

    fn cancel_chain(&mut self, chain: VecDeque<Sqe>) {
        for sqe in chain {
            self.post(sqe.get_user_data(), -libc::ECANCELED, 0);
        }
    }

    /// The real fd of an SQE: its fixed-file slot's with `IOSQE_FIXED_FILE`.
    fn resolve_fd(&self, sqe: &Sqe) -> Result<RawFd, i32> {
        if sqe.sqe_flags() & abi::IOSQE_FIXED_FILE == 0 {
            return Ok(sqe.fd());
        }
        self.fixed_fd(sqe.fd() as u32).ok_or(libc::EBADF)
    }

    fn fixed_fd(&self, index: u32) -> Option<RawFd> {
        self.files
            .get(index as usize)
            .and_then(|f| f.as_ref().map(AsRawFd::as_raw_fd))
    }

    /// Attempts op `index` until it completes, waits or goes to the pool; a multishot op
    /// posts a CQE with `F_MORE` per round.
    fn run(&mut self, index: usize) {
        loop {
            match self.attempt(index) {
                Attempt::Done(res, flags) => return self.finish(index, res, flags),
                Attempt::More(res, flags) => {
                    let sqe = self.pending[index].sqe;
                    self.post(sqe.get_user_data(), res, flags | abi::IORING_CQE_F_MORE);
                    if sqe.opcode() == abi::IORING_OP_SEND_ZC {
                        // The data was copied: the buffer is free now, as the notification says.
                        return self.finish(index, 0, abi::IORING_CQE_F_NOTIF);
                    }
                }
                Attempt::Drained(res, flags) => {
                    let sqe = self.pending[index].sqe;
                    self.post(sqe.get_user_data(), res, flags | abi::IORING_CQE_F_MORE);
                    return self.wait_for(index, exec::IN);
                }
                Attempt::Wait(events) => return self.wait_for(index, events),
                Attempt::Later => return self.retry_later(index),
                Attempt::Again => {}
                Attempt::Blocking => return self.send_to_pool(index),
            }
        }
    }

    /// Attempts op `index` again after a pause that doubles each time, from 1 ms up to
    /// 64 ms: for a CONNECT that got EAGAIN (a Unix listener's backlog full, or no local
    /// port free), which io_uring retries from a worker thread. It stays cancellable, and
    /// its link timeout runs meanwhile.
    fn retry_later(&mut self, index: usize) {
        let p = &mut self.pending[index];
        let deadline = Instant::now() + Duration::from_millis(1 << p.retries.min(6));
        p.retries += 1;
        p.retry_at = Some(deadline);
        let generation = p.generation;
        self.timers
            .push(std::cmp::Reverse((deadline, index, generation)));
    }

    /// Completes op `index` with its final CQE, its link timeout's, then its chain.
    fn finish(&mut self, index: usize, res: i32, flags: u32) {
        if self.pending[index].linked {
            self.forget_waiter(self.pending[index].fd, index);
        }
        let p = self.pending.remove(index);
        let res = if p.timed_out { -libc::ECANCELED } else { res };
        // Bytes a MSG_WAITALL op already moved are its result even when it is cancelled,
        // timed out or fails later: dropping them would lose data (the kernel reports them
        // on an error, and cancels with ECANCELED; the count is what the op needs).
        let (res, failed) = if res < 0 && p.done > 0 {
            (p.done as i32, true)
        } else {
            (res, res < 0 || p.short)
        };
        self.post_final(&p.sqe, res, flags, failed);
        if let Some((user_data, _)) = p.link_timeout {
            let lt = if p.timed_out {
                -libc::ETIME
            } else {
                -libc::ECANCELED
            };
            self.post(user_data, lt, 0);
        }
        self.continue_chain_failed(&p.sqe, failed, p.chain);
    }

    fn wait_for(&mut self, index: usize, events: u32) {
        let fd = self.pending[index].fd;
        if fd < 0 {
            // Not an fd: nothing to wait for (an attempt on it fails first, as a rule).
            return self.finish(index, -libc::EBADF, 0);
        }
        if !self.pending[index].linked {
            self.push_waiter(fd, index);
        }
        self.pending[index].waiting = events;
        let mask = self.waiters.get(fd as usize).map_or(0, |l| l.mask);
        if !self.pending[index].registered || events & !mask != 0 {
            self.to_arm.push(fd);
        }
    }

    /// Appends op `index` to `fd`'s wait list.
    fn push_waiter(&mut self, fd: RawFd, index: usize) {
        let list = self.waiters.get_or_insert(
            fd as usize,
            WaitList {
                head: NONE,
                tail: NONE,
                len: 0,
                mask: 0,
            },
        );
        let tail = list.tail;
        list.tail = index;
        list.len += 1;
        if tail == NONE {
            list.head = index;
        }
        let p = &mut self.pending[index];
        (p.prev, p.next, p.linked) = (tail, NONE, true);
        if tail != NONE {
            self.pending[tail].next = index;
        }
    }

    /// Takes the first op off `fd`'s wait list, no longer waiting.
    fn pop_waiter(&mut self, fd: RawFd) -> Option<usize> {
        let list = self.waiters.get(fd as usize)?;
        if list.len == 0 {
            return None;
        }
        let index = list.head;
        self.forget_waiter(fd, index);
        self.pending[index].waiting = 0;
        Some(index)
    }

    /// Unlinks op `index` from `fd`'s wait list (dropping the list when it empties).
    fn forget_waiter(&mut self, fd: RawFd, index: usize) {
        let p = &mut self.pending[index];
        let (prev, next) = (p.prev, p.next);
        (p.prev, p.next, p.linked) = (NONE, NONE, false);
        if prev != NONE {
            self.pending[prev].next = next;
        }
        if next != NONE {
            self.pending[next].prev = prev;
        }
        let Some(list) = self.waiters.get_mut(fd as usize) else {
            return;
        };
        if list.head == index {
            list.head = next;
        }
        if list.tail == index {
            list.tail = prev;
        }
        // An emptied list stays, for its `mask`.
        list.len -= 1;
    }

    /// Registers each fd in `to_arm` edge-triggered for the union of what its waiting ops
    /// wait for. An fd is armed when an op waits on it for the first time, or waits for an
    /// event its registration lacks; an op that waits again is not (edge-triggered, the
    /// registration stays), so a multishot receive costs one `epoll_ctl` for its life.
    ///
    /// Every op checks its fd's registration once, because a number this core registered
    /// may name another file now (closed and reused, even outside the runtime; a closed file
    /// leaves the set by itself): `EPOLL_CTL_MOD` when the fd's `mask` says it is
    /// registered, `ADD` on `ENOENT`; `ADD` when it does not, `MOD` on `EEXIST`. Both check
    /// readiness at once, so nothing that arrived since the attempt is missed. Within an
    /// op's life the registration stays its file's: the op holds its fd open.
    fn arm(&mut self) {
        while let Some(fd) = self.to_arm.pop() {
            let Some(list) = self.waiters.get(fd as usize).filter(|l| l.len > 0) else {
                continue;
            };
            let (head, known) = (list.head, list.mask != 0);
            let union = self.waited_for(head);
            match self.register(fd, union, known) {
                Ok(()) => {
                    if let Some(list) = self.waiters.get_mut(fd as usize) {
                        list.mask = union;
                    }
                    let mut i = head;
                    while i != NONE {
                        self.pending[i].registered = true;
                        i = self.pending[i].next;
                    }
                }
                Err(e) => {
                    // Not pollable (EPERM: a regular file) or not an fd (EBADF): the ops
                    // waiting on it fail rather than wait for ever.
                    let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
                    let waiting = self.waiters.get_mut(fd as usize).map_or(0, |l| {
                        l.mask = 0;
                        l.len
                    });
                    for _ in 0..waiting {
                        let Some(index) = self.pop_waiter(fd) else {
                            break;
                        };
                        self.finish(index, -errno, 0);
                    }
                }
            }
        }
    }

    /// The union of the events the ops of a wait list, from `head` on, wait for.
    fn waited_for(&self, head: usize) -> u32 {
        let mut union = 0;
        let mut i = head;
        while i != NONE {
            union |= self.pending[i].waiting;
            i = self.pending[i].next;
        }
        union
    }

    /// Registers `fd` edge-triggered for `events`: modifies the registration it probably
    /// has (`known`), else adds one, and falls back to the other on `ENOENT`/`EEXIST`.
    fn register(&self, fd: RawFd, events: u32, known: bool) -> io::Result<()> {
        let events = events | libc::EPOLLET as u32;
        let (first, second, miss) = if known {
            (libc::EPOLL_CTL_MOD, libc::EPOLL_CTL_ADD, libc::ENOENT)
        } else {
            (libc::EPOLL_CTL_ADD, libc::EPOLL_CTL_MOD, libc::EEXIST)
        };
        match epoll_ctl(&self.epoll, first, fd, events, fd as u64) {
            Err(e) if e.raw_os_error() == Some(miss) => {
                epoll_ctl(&self.epoll, second, fd, events, fd as u64)
            }
            other => other,
        }
    }

    /// One `epoll_wait` (at most `limit`; `None`: until an event), then runs what it made
    /// ready.
    fn poll_events(&mut self, limit: Option<Duration>) -> io::Result<()> {
        self.readiness_checks += 1;
        // Not zeroed first (64 entries per call): the kernel writes the `n` it returns.
        let mut events = [const { std::mem::MaybeUninit::<libc::epoll_event>::uninit() }; EVENTS];
        let ms = match limit {
            // Rounded up: a wait that ends before its deadline would only spin.
            Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
            None => -1,
        };
        // SAFETY: `events` has room for EVENTS entries, as the call is told (a
        // `MaybeUninit<epoll_event>` is laid out as an `epoll_event`).
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr().cast(),
                EVENTS as i32,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EINTR) {
                Ok(())
            } else {
                Err(e)
            };
        }
        for ev in &events[..n as usize] {
            // SAFETY: epoll_wait wrote the first `n` entries (0 <= n <= EVENTS).
            let ev = unsafe { ev.assume_init_read() };
            if ev.u64 == POOL_TOKEN {
                self.reap_pool();
            } else {
                self.ready(ev.u64 as RawFd, ev.events);
            }
        }
        Ok(())
    }

    /// Retries every op waiting on `fd`, on an edge of `events`. An edge that no waiting op
    /// asked for (a datagram socket's `EPOLLOUT` after each send while only a receive
    /// waits, or any edge of an fd nobody waits on any more, such as one handed to blocking
    /// code) narrows the registration to what the waiters want, or removes it, so it does
    /// not come again.
    fn ready(&mut self, fd: RawFd, events: u32) {
        const ALWAYS: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
        let Some(list) = self.waiters.get(fd as usize) else {
            return;
        };
        let (waiting, head) = (list.len, list.head);
        let wanted = if waiting > 0 {
            self.waited_for(head)
        } else {
            0
        };
        if events & (wanted | ALWAYS) == 0 || waiting == 0 {
            let narrowed = if waiting == 0 {
                epoll_ctl(&self.epoll, libc::EPOLL_CTL_DEL, fd, 0, 0).map(|()| 0)
            } else {
                self.register(fd, wanted, true).map(|()| wanted)
            };
            if let Some(list) = self.waiters.get_mut(fd as usize) {
                // On an error the number names another file now (or none): unknown.
                list.mask = *narrowed.as_ref().unwrap_or(&0);
            }
            if waiting == 0 || narrowed.is_ok() {
                return;
            }
        }
        // Each op that waited gets one attempt: `run` puts one that must wait again at the
        // back of the list, past the count taken here. An op that a completion in between
        // finished (a cancel in a link chain) has left the list; then one that came back
        // gets a second attempt, which costs a syscall and nothing else.
        self.edge = (fd, events);
        if waiting == 1 {
            // One op waits (the common case: a socket's receive): it is retried where it
            // is, still linked. `run` re-arms it in place (`wait_for`), or unlinks it when it
            // completes (`finish`) or goes to the pool (`send_to_pool`).
            self.run(head);
        } else {
            for _ in 0..waiting {
                let Some(index) = self.pop_waiter(fd) else {
                    break;
                };
                self.run(index);
            }
        }
        self.edge = (-1, 0);
    }

    /// Whether a multishot receive of op `index` that read short has drained its socket, so
    /// it may wait for the next edge: only while retrying on an edge that carried no
    /// hang-up, error or urgent data (an end that came before the edge brings no other, and
    /// TCP ends a read at the urgent mark), and only on TCP, whose short read with
    /// `MSG_DONTWAIT` means an empty queue (datagrams, and AF_UNIX streams, which end a read
    /// at passed fds or changed credentials, leave data behind a short read).
    fn drained(&mut self, index: usize) -> bool {
        const END: u32 =
            (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) as u32;
        let p = &mut self.pending[index];
        let (fd, events) = self.edge;
        if fd != p.fd || events == 0 || events & END != 0 {
            return false;
        }
        *p.tcp
            .get_or_insert_with(|| super::socket_protocol(p.fd) == Some(libc::IPPROTO_TCP))
    }

    /// Fails the ops whose link timeout passed, as the kernel's LINK_TIMEOUT cancels them.
    fn expire_timers(&mut self) {
        if self.timers.is_empty() {
            // No clock read: an enter with no link timeout or connect retry queued (a heap
            // entry stays until its deadline, even for an op that finished) costs none.
            return;
        }
        let now = Instant::now();
        while let Some(std::cmp::Reverse((deadline, index, generation))) = self.timers.peek() {
            if *deadline > now {
                break;
            }
            let (deadline, index, generation) = (*deadline, *index, *generation);
            self.timers.pop();
            let Some(p) = self.pending.get_mut(index) else {
                continue;
            };
            if p.generation != generation || p.in_pool {
                // Done already, or running on the pool, where it cannot be stopped: it
                // completes on its own (the kernel's ETIME then comes with a late op).
                continue;
            }
            if p.retry_at == Some(deadline) {
                p.retry_at = None;
                self.run(index);
                continue;
            }
            if p.sqe.opcode() == abi::IORING_OP_TIMEOUT {
                self.finish(index, -libc::ETIME, 0);
                continue;
            }
            p.timed_out = true;
            self.finish(index, -libc::ECANCELED, 0);
        }
    }

    /// ASYNC_CANCEL: fails the matching pending ops with ECANCELED. Returns what the kernel
    /// returns: 0 (or the count, with `CANCEL_ALL`), `-EALREADY` for an op already running
    /// on the pool, `-ENOENT` when nothing matched.
    fn cancel(&mut self, sqe: &Sqe) -> i32 {
        let flags = sqe.cancel_flags();
        let any = flags & abi::IORING_ASYNC_CANCEL_ANY != 0;
        let all = flags & (abi::IORING_ASYNC_CANCEL_ALL | abi::IORING_ASYNC_CANCEL_ANY) != 0;
        if flags & !(abi::IORING_ASYNC_CANCEL_ALL | abi::IORING_ASYNC_CANCEL_ANY) != 0 {
            return -libc::EOPNOTSUPP;
        }
        let target = sqe.addr();
        let matches: Vec<usize> = self
            .pending
            .iter()
            .filter(|(_, p)| any || p.sqe.get_user_data() == target)
            .map(|(i, _)| i)
            .take(if all { usize::MAX } else { 1 })
            .collect();
        if matches.is_empty() {
            return -libc::ENOENT;
        }
        let mut cancelled = 0;
        let mut running = false;
        for index in matches {
            if self.pending[index].in_pool {
                running = true;
                continue;
            }
            cancelled += 1;
            self.finish(index, -libc::ECANCELED, 0);
        }
        match (all, cancelled, running) {
            (true, n, _) if n > 0 => n,
            (_, 0, true) => -libc::EALREADY,
            _ => 0,
        }
    }

    /// Sends op `index` to the blocking pool; its result comes back through the eventfd.
    fn send_to_pool(&mut self, index: usize) {
        if self.pending[index].linked {
            // Retried in place on an edge (`ready`): no longer waiting for readiness.
            self.forget_waiter(self.pending[index].fd, index);
            self.pending[index].waiting = 0;
        }
        let sqe = self.pending[index].sqe;
        let splice_fd_in = self.splice_fd_in(&sqe);
        let p = &mut self.pending[index];
        p.in_pool = true;
        let job = exec::Blocking {
            sqe,
            fd: p.fd,
            splice_fd_in,
        };
        let generation = p.generation;
        let shared = self.pool.clone();
        crate::executor::blocking::run_detached(Box::new(move || {
            let res = job.run();
            shared
                .done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((index, generation, res));
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to the eventfd `shared` keeps open.
            unsafe { libc::write(shared.eventfd.as_raw_fd(), (&raw const one).cast(), 8) };
        }));
    }

    fn splice_fd_in(&self, sqe: &Sqe) -> RawFd {
        let fd = sqe.splice_fd_in();
        if sqe.opcode() == abi::IORING_OP_SPLICE
            && sqe.splice_flags() & abi::SPLICE_F_FD_IN_FIXED != 0
        {
            self.fixed_fd(fd as u32).unwrap_or(-1)
        } else {
            fd
        }
    }

    /// Completes the ops the pool finished.
    fn reap_pool(&mut self) {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from our own eventfd (non-blocking).
        unsafe { libc::read(self.pool.eventfd.as_raw_fd(), (&raw mut count).cast(), 8) };
        let done = std::mem::take(&mut *self.pool.done.lock().unwrap_or_else(|e| e.into_inner()));
        for (index, generation, res) in done {
            let Some(p) = self.pending.get(index) else {
                unreachable!("a pool op's slot was freed before its result came back");
            };
            debug_assert_eq!(p.generation, generation);
            let res = self.after_pool(index, res);
            self.finish(index, res, 0);
        }
    }

    /// What the core adds to a pool result: a direct open installs its fd in the table.
    fn after_pool(&mut self, index: usize, res: i32) -> i32 {
        let sqe = self.pending[index].sqe;
        if sqe.opcode() == abi::IORING_OP_OPENAT && sqe.file_index() != 0 && res >= 0 {
            // SAFETY: the pool's open returned this fd and nobody else took it.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            return match self.install(sqe.file_index() - 1, fd) {
                Ok(()) => 0,
                Err(e) => -e,
            };
        }
        res
    }

    /// Puts `fd` in fixed-file slot `index`, closing what was there.
    fn install(&mut self, index: u32, fd: OwnedFd) -> Result<(), i32> {
        match self.files.get_mut(index as usize) {
            Some(slot) => {
                *slot = Some(fd);
                Ok(())
            }
            None => Err(libc::EINVAL),
        }
    }

    /// Registers a provided-buffer ring for `group`, in user memory.
    pub(crate) fn setup_buf_ring(&mut self, entries: u16, group: u16) -> io::Result<BufRing> {
        if self.groups.get(group.into()).is_some() {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let ring = BufRing::user_space(entries, group)?;
        self.groups.insert(
            group.into(),
            BufGroup {
                ring: ring.as_ptr(),
                entries,
                head: 0,
            },
        );
        Ok(ring)
    }

    /// Forgets `group`'s buffer ring: no op picks from it any more.
    pub(crate) fn unregister_buf_ring(&mut self, group: u16) -> io::Result<()> {
        match self.groups.remove(group.into()) {
            Some(_) => Ok(()),
            None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        }
    }

    /// Takes the next buffer of `group`: (address, length, buffer id), without consuming
    /// it ([`Emulator::consume_buf`] does, once data went into it).
    fn peek_buf(&self, group: u16) -> Option<(*mut u8, u32, u16)> {
        let g = self.groups.get(group.into())?;
        // SAFETY: the ring memory belongs to the `BufRing` of a pool that unregisters the
        // group here before it frees it (`unregister_buf_ring`); the tail is the u16 at
        // byte 14, written by the pool with Release.
        let tail = unsafe {
            (*g.ring
                .cast::<u8>()
                .add(14)
                .cast::<std::sync::atomic::AtomicU16>())
            .load(std::sync::atomic::Ordering::Acquire)
        };
        if tail == g.head {
            return None;
        }
        let slot = (g.head & (g.entries - 1)) as usize;
        // SAFETY: slot < entries lies in the ring; the pool wrote it before publishing the
        // tail (Acquire above). Fields are read one by one: slot 0's `resv` is the tail.
        let (addr, len, bid) = unsafe {
            let b = g.ring.add(slot);
            (
                (&raw const (*b).addr).read(),
                (&raw const (*b).len).read(),
                (&raw const (*b).bid).read(),
            )
        };
        Some((addr as *mut u8, len, bid))
    }

    fn consume_buf(&mut self, group: u16) {
        if let Some(g) = self.groups.get_mut(group.into()) {
            g.head = g.head.wrapping_add(1);
        }
    }

    /// Registers buffers for READ_FIXED/WRITE_FIXED (only their bounds are kept).
    pub(crate) fn register_buffers(&mut self, iovecs: &[libc::iovec]) -> io::Result<()> {
        if !self.buffers.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        self.buffers = iovecs
            .iter()
            .map(|v| (v.iov_base as usize, v.iov_len))
            .collect();
        Ok(())
    }

    pub(crate) fn unregister_buffers(&mut self) -> io::Result<()> {
        if self.buffers.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENXIO));
        }
        self.buffers.clear();
        Ok(())
    }

    /// Creates an empty fixed file table of `size` slots.
    pub(crate) fn register_files_sparse(&mut self, size: u32) -> io::Result<()> {
        if !self.files.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        self.files = (0..size).map(|_| None).collect();
        Ok(())
    }

    /// Sets slot `index` to a duplicate of `fd` (`-1`: empties it).
    pub(crate) fn register_files_update(&mut self, index: u32, fd: RawFd) -> io::Result<u32> {
        let file = if fd < 0 {
            None
        } else {
            // SAFETY: the caller lends `fd` open for this call; we keep our own duplicate,
            // as the kernel keeps its own file reference.
            Some(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?)
        };
        match self.files.get_mut(index as usize) {
            Some(slot) => {
                *slot = file;
                Ok(1)
            }
            None => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        }
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("pending", &self.pending.len())
            .field("backlog", &self.backlog.len())
            .field("readiness_checks", &self.readiness_checks)
            .finish_non_exhaustive()
    }
}

/// The kernel's checks of ring sizes (`io_uring_create` with `IORING_SETUP_CLAMP`).
fn check_sizes(entries: u32, cq_entries: Option<u32>) -> io::Result<()> {
    let invalid = |what: String| Err(io::Error::new(io::ErrorKind::InvalidInput, what));
    if entries == 0 {
        return invalid(
            "a ring of 0 entries is out of range: ask for 1 to 32768 (Builder::entries)".into(),
        );
    }
    let sq = entries.min(32768).next_power_of_two();
    match cq_entries {
        Some(0) => invalid(
            "a completion queue of 0 entries is out of range: ask for at least the SQ entries \
             (Builder::cq_entries)"
                .into(),
        ),
        Some(cq) if cq.min(65536).next_power_of_two() < sq => invalid(format!(
            "a completion queue of {cq} entries is smaller than the {sq} SQ entries: ask for \
             at least as many (Builder::cq_entries)"
        )),
        _ => Ok(()),
    }
}

fn epoll_ctl(epoll: &OwnedFd, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` is a valid epoll_event for the call.
    if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn cvt_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uring_sys::prep;

    #[test]
    fn ring_sizes_are_checked_as_the_kernel_checks_them() {
        let invalid = |e: io::Result<()>| e.unwrap_err().kind() == io::ErrorKind::InvalidInput;
        assert!(invalid(check_sizes(0, None)));
        assert!(invalid(check_sizes(8, Some(0))));
        assert!(invalid(check_sizes(8, Some(4))));
        // Rounded up to a power of two, then compared; too large is clamped.
        check_sizes(8, Some(5)).unwrap();
        check_sizes(u32::MAX, Some(u32::MAX)).unwrap();
        check_sizes(1, None).unwrap();
    }

    /// Pushes `sqes` and enters as the driver does when it would park; returns the user
    /// data of the CQEs that came back.
    fn enter(emu: &mut Emulator, ring: &mut Ring, sqes: &[Sqe]) -> Vec<u64> {
        for sqe in sqes {
            // SAFETY: NOPs, and a receive into a buffer the test keeps past its CQE.
            unsafe { ring.sq().push(sqe).unwrap() };
        }
        emu.enter(ring, true, Some(Duration::from_secs(5))).unwrap();
        std::iter::from_fn(|| ring.cq().pop().map(|c| c.user_data())).collect()
    }

    #[test]
    fn an_enter_with_completions_checks_readiness_only_when_the_one_before_did_not() {
        use std::io::Write;
        let (mut ring, mut emu) = Emulator::new(8, None).unwrap();
        let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut buf = [0u8; 16];
        let recv = prep::prep_recv(ours.as_raw_fd(), buf.as_mut_ptr(), 16, 0).user_data(1);
        let nop = prep::prep_nop().user_data(2);
        // Nothing to read yet: the receive waits for readiness; the NOP's CQE comes back.
        assert_eq!(enter(&mut emu, &mut ring, &[recv, nop]), [2]);
        let checks = emu.readiness_checks;
        peer.write_all(b"ping").unwrap();
        // A loop with a completion at every enter never parks. The enter after one that
        // checked readiness does not check (no `epoll_wait`), so the receive waits...
        assert_eq!(enter(&mut emu, &mut ring, &[nop]), [2]);
        assert_eq!(emu.readiness_checks, checks);
        // ...and the next one checks, so it completes: a loop that never parks still
        // hears of readiness at every second enter.
        assert_eq!(enter(&mut emu, &mut ring, &[nop]), [2, 1]);
        assert_eq!(emu.readiness_checks, checks + 1);
        assert_eq!(&buf[..4], b"ping");
    }
}

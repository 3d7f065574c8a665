//! The per-core driver: one [`Ring`] and a slab of op slots keyed by `user_data`.
//!
//! One loop turn enters the kernel at most once ([`Driver::turn`]): it submits every SQE that
//! futures pushed since the last turn and, when the core has nothing to run, waits for at
//! least one CQE (bounded by the nearest timer). Then it reaps every CQE from the mapped ring
//! without a syscall: `user_data` → slot → state transition → waker.

pub(crate) mod emulated;
#[cfg(feature = "fault-injection")]
pub(crate) mod faults;
pub(crate) mod file_table;
pub(crate) mod handle;
pub(crate) mod slot;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;
use uring_sys::abi::{self, __kernel_timespec};
use uring_sys::{Cqe, Probe, Ring, RingBuilder, Sqe, prep};

use crate::metrics::Counters;
use file_table::FileTable;
pub(crate) use handle::Handle;
use slot::{Abandoned, AfterCqe, Completion, Kept, OpState, SharedCompletion};

/// `user_data` values with the top bit set never name a slot: they mark internal CQEs.
const RESERVED: u64 = 1 << 63;
/// CQEs of ASYNC_CANCEL and LINK_TIMEOUT SQEs, and of fire-and-forget ops: ignored.
pub(crate) const IGNORED: u64 = RESERVED | 1;
/// The wake-up eventfd's read completed.
const EVENTFD_READ: u64 = RESERVED | 2;
/// Another core woke us with MSG_RING.
pub(crate) const MSG_RING_WAKE: u64 = RESERVED | 3;
/// With `RESERVED`: the CQE of an ASYNC_CANCEL for the op whose `user_data` fills the low
/// bits (so a cancel that found nothing can be retried).
const CANCEL_TAG: u64 = 1 << 62;
/// With `RESERVED` (and without `CANCEL_TAG`): a fire-and-forget CLOSE of the fd in the low
/// 32 bits, whose cancel is looked at (see [`Driver::close_detached`]).
const CLOSE_TAG: u64 = 1 << 32;
/// Generations use 30 bits, so an op's `user_data` never reaches the two tag bits.
const GENERATION_MASK: u32 = 0x3fff_ffff;
/// A cancel that found nothing is retried at most this often, each time after twice as many
/// loop turns as the last (1, 2, 4, … turns): an op linked behind another becomes cancelable
/// once issued, while an op that is merely waiting for a last CQE (a zero-copy send's
/// notification) must not cost a cancel SQE per turn for ever.
const CANCEL_RETRIES: u32 = 10;
/// How long [`Driver::settle`] and [`Driver::drain`] wait for ops the kernel does not give up
/// without a CQE reaped. Past it, their memory is leaked (and reported), never freed.
const SETTLE_LIMIT: Duration = Duration::from_secs(3);

/// Names one in-flight op: its slab key and the generation the slot had when the op was
/// submitted, so a late CQE can never reach a newer op that reuses the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpKey {
    index: u32,
    generation: u32,
}

impl OpKey {
    fn user_data(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    fn from_user_data(user_data: u64) -> OpKey {
        OpKey {
            index: user_data as u32,
            generation: (user_data >> 32) as u32,
        }
    }
}

struct Slot {
    generation: u32,
    state: OpState,
    /// The LINK_TIMEOUT timespec of an op with a timeout: the kernel reads it at submission.
    link_timespec: Option<Box<__kernel_timespec>>,
}

/// Ring setup the builder asked for.
#[derive(Debug, Clone)]
pub(crate) struct DriverConfig {
    pub(crate) entries: u32,
    pub(crate) cq_entries: Option<u32>,
    pub(crate) sqpoll_idle: Option<Duration>,
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
    pub(crate) submit_all: bool,
    pub(crate) register_ring_fd: bool,
    /// Which driver to run (`RUNTIME_DRIVER` or `Builder::driver`).
    pub(crate) choice: crate::DriverChoice,
    /// Faults to inject (tests); `None` reads `RUNTIME_FAULTS`.
    #[cfg(feature = "fault-injection")]
    pub(crate) faults: Option<faults::Faults>,
}

/// One core's ring and its in-flight ops.
pub(crate) struct Driver {
    ring: Ring,
    slots: Slab<Slot>,
    next_generation: u32,
    probe: Option<Probe>,
    /// Counts this core's events; shared with the executor.
    pub(crate) counters: std::rc::Rc<Counters>,
    /// Written by other threads to wake this core; a READ on it is kept armed.
    eventfd: OwnedFd,
    eventfd_buf: Box<u64>,
    eventfd_armed: bool,
    /// Set by `drain`: the eventfd read is no longer re-armed.
    draining: bool,
    /// Ops whose cancel found nothing yet (see [`Driver::cancel`]), with their retry count
    /// and the turn of their next retry.
    cancel_retry: Vec<(OpKey, u32, u64)>,
    /// Loop turns so far, the clock of cancel retries.
    turns: u64,
    /// The runtime is gone: no loop turn will ever come, so an op abandoned now is settled
    /// (cancelled and reaped) on the spot.
    pub(crate) orphaned: bool,
    /// A drain gave up on ops the kernel kept: their slots are leaked with the driver.
    gave_up: bool,
    /// The ring's fixed file table (`runtime::fixed_files`).
    files: FileTable,
    /// A duplicate of the ring fd that other cores target with MSG_RING; it keeps the ring
    /// file alive as long as they can reach it.
    pub(crate) msg_ring_fd: Option<std::sync::Arc<OwnedFd>>,
    /// The fallback: plays the kernel for a user-space `ring`. `None` on io_uring, where
    /// the only cost of its existence is one branch per enter.
    emulator: Option<Box<emulated::Emulator>>,
    /// Injects faults into ops (feature `fault-injection`); failed ops' CQEs wait in
    /// `injected` for the next reap.
    #[cfg(feature = "fault-injection")]
    injector: Option<faults::Injector>,
    #[cfg(feature = "fault-injection")]
    injected: Vec<Cqe>,
}

/// Logs the fallback's cause once per process.
fn warn_fallback_once(cause: &dyn std::fmt::Display) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "io_uring is unavailable, so the runtime runs its epoll fallback driver (slower; \
             set RUNTIME_DRIVER=uring to make this an error instead): {cause}"
        );
    });
}

/// Whether a ring setup error means "no io_uring here" (blocked, missing, no memlock),
/// which the fallback can serve, rather than a bad configuration.
fn is_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::ENOSYS | libc::ENOMEM | libc::EACCES)
    ) || e
        .get_ref()
        .and_then(|i| i.downcast_ref::<uring_sys::SetupError>())
        .is_some_and(|s| {
            matches!(
                s.errno(),
                libc::EPERM | libc::ENOSYS | libc::ENOMEM | libc::EACCES
            )
        })
}

impl Driver {
    /// Sets up the ring with the best flags this kernel takes, falling back one flag at a time.
    pub(crate) fn new(
        config: &DriverConfig,
        counters: std::rc::Rc<Counters>,
    ) -> io::Result<Driver> {
        use crate::DriverChoice;
        let ring = match config.choice {
            DriverChoice::Fallback => return Driver::fallback(config, counters),
            DriverChoice::IoUring => build_ring(config)?,
            DriverChoice::Auto => match build_ring(config) {
                Ok(ring) if !ring.has_feature(abi::IORING_FEAT_EXT_ARG) => {
                    warn_fallback_once(&format_args!(
                        "this kernel's io_uring lacks IORING_FEAT_EXT_ARG (timed waits, \
                         Linux 5.11): upgrade to Linux 5.15 or later"
                    ));
                    return Driver::fallback(config, counters);
                }
                Ok(ring) => ring,
                Err(e) if is_unavailable(&e) => {
                    warn_fallback_once(&e);
                    return Driver::fallback(config, counters);
                }
                Err(e) => return Err(e),
            },
        };
        let probe = ring.probe().ok();
        // SAFETY: eventfd(2) takes plain integers; the returned fd is checked below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: efd is a fresh fd that nobody else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let msg_ring = probe
            .as_ref()
            .is_some_and(|p| p.is_supported(abi::IORING_OP_MSG_RING));
        let msg_ring_fd = if msg_ring {
            ring_dup(&ring).ok().map(std::sync::Arc::new)
        } else {
            None
        };
        tracing::debug!(
            setup_flags = format_args!("{:#x}", ring.setup_flags()),
            features = format_args!("{:#x}", ring.params().features),
            sq_entries = ring.params().sq_entries,
            cq_entries = ring.params().cq_entries,
            registered_ring_fd = ring.uses_registered_fd(),
            msg_ring,
            missing_ops = ?probe.as_ref().map(|p| p.missing()),
            "io_uring ring set up"
        );
        let sq_entries = ring.params().sq_entries;
        Ok(Driver {
            draining: false,
            cancel_retry: Vec::new(),
            turns: 0,
            orphaned: false,
            gave_up: false,
            files: FileTable::default(),
            ring,
            // Sized by what the kernel granted (clamped), not what was asked for.
            slots: Slab::with_capacity(sq_entries as usize),
            next_generation: 0,
            probe,
            counters,
            eventfd,
            eventfd_buf: Box::new(0),
            eventfd_armed: false,
            msg_ring_fd,
            emulator: None,
            #[cfg(feature = "fault-injection")]
            injector: faults::Injector::configured(config.faults.as_ref()),
            #[cfg(feature = "fault-injection")]
            injected: Vec::new(),
        })
    }

    /// The fallback driver: the same driver over a user-space ring that the emulator plays
    /// the kernel for.
    fn fallback(config: &DriverConfig, counters: std::rc::Rc<Counters>) -> io::Result<Driver> {
        let (ring, emulator) = emulated::Emulator::new(config.entries, config.cq_entries)?;
        // SAFETY: eventfd(2) takes plain integers; the returned fd is checked below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: efd is a fresh fd that nobody else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        tracing::debug!("fallback (emulated ring) driver set up");
        let sq_entries = ring.params().sq_entries;
        Ok(Driver {
            draining: false,
            cancel_retry: Vec::new(),
            turns: 0,
            orphaned: false,
            gave_up: false,
            files: FileTable::default(),
            ring,
            slots: Slab::with_capacity(sq_entries as usize),
            next_generation: 0,
            probe: Some(emulated::Emulator::probe()),
            counters,
            eventfd,
            eventfd_buf: Box::new(0),
            eventfd_armed: false,
            // Cross-core wake-ups go through the eventfd.
            msg_ring_fd: None,
            emulator: Some(Box::new(emulator)),
            #[cfg(feature = "fault-injection")]
            injector: faults::Injector::configured(config.faults.as_ref()),
            #[cfg(feature = "fault-injection")]
            injected: Vec::new(),
        })
    }

    /// Which driver this core runs.
    pub(crate) fn kind(&self) -> crate::DriverKind {
        if self.emulator.is_some() {
            crate::DriverKind::Fallback
        } else {
            crate::DriverKind::IoUring
        }
    }

    /// Enters (io_uring_enter or its emulation) so far.
    pub(crate) fn enter_count(&self) -> u64 {
        match &self.emulator {
            Some(emu) => emu.enters(),
            None => self.ring.enter_count(),
        }
    }

    /// Creates a provided-buffer ring for `group` (registered with the kernel, or with the
    /// emulator).
    pub(crate) fn setup_buf_ring(
        &mut self,
        entries: u16,
        group: u16,
    ) -> io::Result<uring_sys::BufRing> {
        match &mut self.emulator {
            Some(emu) => emu.setup_buf_ring(entries, group),
            None => self.ring.setup_buf_ring(entries, group),
        }
    }

    /// Unregisters `group`'s provided-buffer ring.
    pub(crate) fn unregister_buf_ring(&mut self, group: u16) -> io::Result<()> {
        match &mut self.emulator {
            Some(emu) => emu.unregister_buf_ring(group),
            None => self.ring.unregister_buf_ring(group),
        }
    }

    /// Registers fixed buffers.
    ///
    /// # Safety
    /// As `Ring::register_buffers`: the memory stays valid until unregistered.
    pub(crate) unsafe fn register_buffers(&mut self, iovecs: &[libc::iovec]) -> io::Result<()> {
        match &mut self.emulator {
            Some(emu) => emu.register_buffers(iovecs),
            // SAFETY: the caller's contract, passed on.
            None => unsafe { self.ring.register_buffers(iovecs) },
        }
    }

    /// Unregisters the fixed buffers.
    pub(crate) fn unregister_buffers(&mut self) -> io::Result<()> {
        match &mut self.emulator {
            Some(emu) => emu.unregister_buffers(),
            None => self.ring.unregister_buffers(),
        }
    }

    /// Puts (a reference to) `fd` into fixed-file slot `index`.
    pub(crate) fn register_file(&mut self, index: u32, fd: RawFd) -> io::Result<u32> {
        match &mut self.emulator {
            Some(emu) => emu.register_files_update(index, fd),
            None => self.ring.register_files_update(index, &[fd]),
        }
    }

    /// The probe result, if the kernel has probing (5.6+).
    pub(crate) fn probe(&self) -> Option<&Probe> {
        self.probe.as_ref()
    }

    /// Takes an empty slot of the ring's fixed file table (created on first use).
    pub(crate) fn reserve_file_slot(&mut self) -> io::Result<u32> {
        match &mut self.emulator {
            Some(emu) => self.files.reserve(|size| {
                emu.register_files_sparse(size)?;
                Ok(size)
            }),
            None => self.files.reserve(|_| file_table::create_table(&self.ring)),
        }
    }

    /// Empties and frees a slot of the ring's fixed file table.
    pub(crate) fn release_file_slot(&mut self, index: u32) {
        match &mut self.emulator {
            Some(emu) => self
                .files
                .release(index, |i| emu.register_files_update(i, -1).map(drop)),
            None => self.files.release(index, |i| {
                self.ring.register_files_update(i, &[-1]).map(drop)
            }),
        }
    }

    /// The eventfd other threads write to wake this core.
    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Ops in flight (slots taken), abandoned ones included.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// Pushes an SQE; when the SQ is full, submits to make room first (never panics).
    #[inline]
    fn push(&mut self, sqe: &Sqe) -> io::Result<()> {
        loop {
            // SAFETY: every SQE reaching here comes from an `Operation` (whose unsafe impl
            // promises its pointers stay valid while it lives; it lives in its future until
            // that is dropped, then in its slot until the final CQE), or points to memory the
            // driver owns until its CQE (eventfd buffer, link timespec in the slot), or to no
            // memory (cancel, close, msg_ring). The crate's only callers of `submit`,
            // `submit_chain` and `submit_detached` are the op layer and those cases.
            match unsafe { self.ring.sq().push(sqe) } {
                Ok(()) => return Ok(()),
                Err(_full) => {
                    Counters::bump(&self.counters.sq_full, 1);
                    self.submit_now()?;
                    self.reap();
                }
            }
        }
    }

    /// Submits what is pushed, without waiting; retries EINTR, and on EBUSY/EAGAIN reaps
    /// to make room and tries again.
    fn submit_now(&mut self) -> io::Result<()> {
        loop {
            let entered = match &mut self.emulator {
                Some(emu) => emu.enter(&mut self.ring, false, None),
                None => self.ring.submit_and_get_events(0),
            };
            match entered {
                Ok(n) => {
                    self.count_submitted(n);
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {
                    if self.reap() == 0 {
                        return Err(fault("submit", e));
                    }
                }
                Err(e) => return Err(fault("submit", e)),
            }
        }
    }

    fn count_submitted(&self, n: u32) {
        Counters::bump(&self.counters.sqes_submitted, u64::from(n));
    }

    /// Starts an op: takes a slot (waking `waker` on completion, unless its final result is
    /// `quiet_if`: see [`OpState::poll`]), stamps its `user_data` on `sqe`, pushes it (and a
    /// LINK_TIMEOUT after it when `timeout` is set).
    #[inline]
    pub(crate) fn submit(
        &mut self,
        sqe: Sqe,
        timeout: Option<Duration>,
        waker: &Waker,
        quiet_if: Option<i32>,
    ) -> io::Result<OpKey> {
        // The owner does not poll the slot after submitting: a CQE reaped even before the
        // push returns (a full SQ submits and reaps) must find the waker here.
        let state = OpState::Submitted {
            waker: Some(waker.clone()),
            quiet_if,
        };
        self.submit_in(sqe, timeout, state)
    }

    /// [`Driver::submit`] with the slot's first state given.
    #[inline]
    fn submit_in(
        &mut self,
        mut sqe: Sqe,
        timeout: Option<Duration>,
        state: OpState,
    ) -> io::Result<OpKey> {
        let key = self.new_slot(state, timeout.map(|d| Box::new(timespec(d))));
        sqe.0.user_data = key.user_data();
        #[cfg(feature = "fault-injection")]
        if let Some(injector) = &mut self.injector
            && let faults::Decision::Fail(res) = injector.decide(&mut sqe)
        {
            // As if the kernel had failed it: the CQE comes with the next reap.
            self.injected.push(Cqe::new(sqe.0.user_data, res, 0));
            Counters::bump(&self.counters.ops_submitted, 1);
            return Ok(key);
        }
        let ts = match timeout {
            Some(_) => self.slots[key.index as usize].link_timespec.as_deref(),
            None => None,
        };
        let pushed = match ts {
            Some(ts) => {
                let link = prep::prep_link_timeout(ts, 0).user_data(IGNORED);
                let chain = [sqe.flags(abi::IOSQE_IO_LINK), link];
                self.push_all(&chain)
            }
            None => self.push(&sqe),
        };
        match pushed {
            Ok(()) => {
                Counters::bump(&self.counters.ops_submitted, 1);
                Ok(key)
            }
            Err(e) => {
                // Nothing reached the ring: the kernel never saw this slot.
                self.slots.remove(key.index as usize);
                Err(e)
            }
        }
    }

    /// Starts an op that no future awaits: its slot holds `owner` (which keeps the op's
    /// memory alive) from the start, shows it every CQE and drops the reference after the
    /// final one. Like an abandoned op, it is not cancelled unless the core shuts down.
    pub(crate) fn submit_shared(
        &mut self,
        sqe: Sqe,
        owner: Rc<dyn SharedCompletion>,
    ) -> io::Result<OpKey> {
        if self.draining {
            // The shutdown's cancel of everything went out already: this one would not
            // be cancelled (a send to a peer that never reads would stall the drain).
            return Err(io::Error::from_raw_os_error(libc::ECANCELED));
        }
        self.submit_in(sqe, None, OpState::Abandoned(Kept::Shared(owner)))
    }

    /// Takes a slot for an op about to be pushed, with the next generation.
    #[inline]
    fn new_slot(&mut self, state: OpState, link_timespec: Option<Box<__kernel_timespec>>) -> OpKey {
        let generation = self.next_generation & GENERATION_MASK;
        self.next_generation = self.next_generation.wrapping_add(1);
        let index = self.slots.insert(Slot {
            generation,
            state,
            link_timespec,
        });
        OpKey {
            index: index as u32,
            generation,
        }
    }

    /// Pushes a chain all at once, submitting first if it does not fit.
    fn push_all(&mut self, sqes: &[Sqe]) -> io::Result<()> {
        loop {
            // SAFETY: as in `push`.
            match unsafe { self.ring.sq().push_all(sqes) } {
                Ok(()) => return Ok(()),
                Err(_) if self.ring.sq().capacity() < sqes.len() as u32 => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "linked chain longer than the SQ",
                    ));
                }
                Err(_) => {
                    Counters::bump(&self.counters.sq_full, 1);
                    self.submit_now()?;
                    self.reap();
                }
            }
        }
    }

    /// Pushes an SQE whose CQE nobody waits for (close on drop, cancel, MSG_RING). It must
    /// point to no memory that could be freed before it completes.
    pub(crate) fn submit_detached(&mut self, sqe: Sqe) -> io::Result<()> {
        self.push_detached(sqe, IGNORED)
    }

    /// Pushes a fire-and-forget SQE tagged `user_data` (a `RESERVED` value).
    fn push_detached(&mut self, sqe: Sqe, user_data: u64) -> io::Result<()> {
        let mut sqe = sqe.user_data(user_data);
        if self.ring.has_feature(abi::IORING_FEAT_CQE_SKIP) {
            // Nobody reads a successful CQE of it: let the kernel skip posting one (5.17+).
            sqe = sqe.flags(abi::IOSQE_CQE_SKIP_SUCCESS);
        }
        self.push(&sqe)
    }

    /// Closes `fd`, which the caller gives up, with a fire-and-forget CLOSE. A CLOSE that
    /// was cancelled before it ran (the drain's cancel of everything in flight) left the fd
    /// open: that CQE closes it with close(2) instead ([`Driver::reap`]). Any other failure
    /// is the kernel's word that the number is no longer ours (`filp_close` reports a
    /// flush's error after the fd left the table), so nothing more is done.
    pub(crate) fn close_detached(&mut self, fd: OwnedFd) -> io::Result<()> {
        use std::os::fd::IntoRawFd;
        let raw = fd.as_raw_fd();
        let low = u64::from(raw.unsigned_abs());
        self.push_detached(prep::prep_close(raw), RESERVED | CLOSE_TAG | low)?;
        // Pushed: the kernel closes it now (or, if the CLOSE is cancelled unrun, the reap).
        let _ = fd.into_raw_fd();
        Ok(())
    }

    /// Starts a chain of ops linked with `IOSQE_IO_LINK` (or `IOSQE_IO_HARDLINK`): pushed
    /// together so the kernel runs them in order, each one only if the previous succeeded
    /// (hard links: whatever it returned); the rest complete with ECANCELED. Each op gets its
    /// own slot and CQE.
    pub(crate) fn submit_chain<const N: usize>(
        &mut self,
        mut sqes: [Sqe; N],
        hard: bool,
        waker: &Waker,
    ) -> io::Result<[OpKey; N]> {
        let link = if hard {
            abi::IOSQE_IO_HARDLINK
        } else {
            abi::IOSQE_IO_LINK
        };
        let mut keys = [OpKey {
            index: 0,
            generation: 0,
        }; N];
        for (i, sqe) in sqes.iter_mut().enumerate() {
            let state = OpState::Submitted {
                waker: Some(waker.clone()),
                quiet_if: None,
            };
            keys[i] = self.new_slot(state, None);
            sqe.0.user_data = keys[i].user_data();
            if i + 1 < N {
                sqe.0.flags |= link;
            }
        }
        match self.push_all(&sqes) {
            Ok(()) => {
                Counters::bump(&self.counters.ops_submitted, N as u64);
                Ok(keys)
            }
            Err(e) => {
                // Nothing reached the ring: the kernel never saw these slots.
                for k in keys {
                    self.slots.remove(k.index as usize);
                }
                Err(e)
            }
        }
    }

    #[inline]
    fn slot_mut(&mut self, key: OpKey) -> &mut Slot {
        match self.slots.get_mut(key.index as usize) {
            Some(slot) if slot.generation == key.generation => slot,
            _ => unreachable!("op {key:?} has no slot: freed while its owner still held it"),
        }
    }

    /// Whether polling the multishot op `key` would find an item or its end waiting.
    pub(crate) fn has_next_op(&self, key: OpKey) -> bool {
        self.slots
            .get(key.index as usize)
            .is_some_and(|s| s.generation == key.generation && s.state.has_next())
    }

    /// Whether `key`'s slot still waits for a CQE from the kernel (an unknown key does not).
    fn awaits_cqe(&self, key: OpKey) -> bool {
        self.slots
            .get(key.index as usize)
            .is_some_and(|s| s.generation == key.generation && s.state.awaits_cqe())
    }

    /// The owner of a single-shot op polls it; a ready result frees the slot. While it is
    /// pending, a final CQE with result `quiet_if` wakes nobody (see [`OpState::poll`]).
    #[inline]
    pub(crate) fn poll_op(
        &mut self,
        key: OpKey,
        cx: &mut Context<'_>,
        quiet_if: Option<i32>,
    ) -> Poll<Completion> {
        let poll = self.slot_mut(key).state.poll(cx, quiet_if);
        if poll.is_ready() {
            match self.slots.remove(key.index as usize) {
                // The common end: a completed slot without a timespec owns nothing, so it is
                // forgotten rather than run through the drop glue (which leaks nothing here).
                done @ Slot {
                    state: OpState::Completed(_),
                    link_timespec: None,
                    ..
                } => std::mem::forget(done),
                other => drop(other),
            }
            Counters::bump(&self.counters.ops_completed, 1);
        }
        poll
    }

    /// The owner of a multishot op polls for its next CQE; the end frees the slot.
    pub(crate) fn poll_next_op(
        &mut self,
        key: OpKey,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Completion>> {
        let poll = self.slot_mut(key).state.poll_next(cx);
        if let Poll::Ready(None) = poll {
            self.slots.remove(key.index as usize);
            Counters::bump(&self.counters.ops_completed, 1);
        }
        poll
    }

    /// The owner dropped an op before taking its final result: the slot keeps `resources`
    /// until the final CQE, and the kernel is asked to cancel (if `cancel`; else the op
    /// finishes in the background). With the runtime gone (no loop turn will come), the op
    /// is settled right here.
    pub(crate) fn abandon(&mut self, key: OpKey, resources: Box<dyn Abandoned>, cancel: bool) {
        Counters::bump(&self.counters.ops_cancelled, 1);
        match self.slot_mut(key).state.abandon(Kept::Boxed(resources)) {
            AfterCqe::Free => {
                self.slots.remove(key.index as usize);
            }
            AfterCqe::Keep if self.orphaned => {
                self.settle(key);
            }
            AfterCqe::Keep if cancel => self.cancel(key),
            AfterCqe::Keep => {}
        }
    }

    /// Asks the kernel to cancel an op; its CQE (or ECANCELED) still arrives and ends it.
    ///
    /// A cancel that finds nothing (ENOENT) while the op still awaits its CQE is retried,
    /// with back-off and at most [`CANCEL_RETRIES`] times: an op linked behind another is
    /// not issued yet, so not yet cancelable.
    pub(crate) fn cancel(&mut self, key: OpKey) {
        let mut sqe = prep::prep_cancel(key.user_data(), 0)
            .user_data(RESERVED | CANCEL_TAG | key.user_data());
        if self.ring.has_feature(abi::IORING_FEAT_CQE_SKIP) {
            sqe = sqe.flags(abi::IOSQE_CQE_SKIP_SUCCESS);
        }
        if let Err(e) = self.push(&sqe) {
            // The op keeps its slot and completes on its own; only the cancel is lost.
            tracing::debug!(error = %e, "could not push ASYNC_CANCEL");
        }
    }

    /// [`Driver::cancel`] of an op that may be over (a [`crate::op::SharedOp`]'s): nothing
    /// then, where the slot is gone or holds a newer op.
    pub(crate) fn cancel_if_in_flight(&mut self, key: OpKey) {
        if self.awaits_cqe(key) {
            self.cancel(key);
        }
    }

    /// Cancels `key` and turns the ring until the kernel is done with it (its final CQE
    /// reaped), for at most [`SETTLE_LIMIT`]. Used where no loop turn will come: an op
    /// polled outside its core's loop, or abandoned after its runtime was dropped. Returns
    /// whether it settled; if not, its slot (and memory) stays until the driver goes.
    pub(crate) fn settle(&mut self, key: OpKey) -> bool {
        if !self.awaits_cqe(key) {
            return true;
        }
        self.cancel(key);
        let deadline = Instant::now() + SETTLE_LIMIT;
        let mut round = 0u32;
        loop {
            if let Err(e) = self.turn(true, Some(Duration::from_millis(10))) {
                tracing::debug!(error = %e, "enter failed while settling an op");
            }
            if !self.awaits_cqe(key) {
                return true;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    op = ?key,
                    "an io_uring op outside its core's loop did not complete within {:?} of \
                     its cancel: its memory stays with the ring",
                    SETTLE_LIMIT
                );
                return false;
            }
            round += 1;
            if round.is_multiple_of(16) {
                self.cancel(key);
            }
        }
    }

    /// Submits what is pushed now, if anything is: used when no loop turn follows (the core
    /// is not running its loop), so cancels and closes reach the kernel at once. Reaps what
    /// is ready too, so abandoned ops that are done free their memory.
    pub(crate) fn submit_pending(&mut self) {
        self.ring.sq().sync();
        if self.ring.sq().is_empty() && self.emulator.is_none() {
            return;
        }
        if let Err(e) = self.submit_now() {
            tracing::debug!(error = %e, "could not submit outside the loop");
        }
        self.reap();
    }

    /// Re-sends the cancels whose turn has come (see [`Driver::cancel`]).
    fn retry_cancels(&mut self) {
        let now = self.turns;
        let mut due = Vec::new();
        self.cancel_retry.retain(|&(key, tries, at)| {
            if at <= now {
                due.push((key, tries));
                false
            } else {
                true
            }
        });
        for (key, tries) in due {
            if self.awaits_cqe(key) {
                self.cancel(key);
                self.pending_retry(key, tries + 1);
            }
        }
    }

    /// Notes a cancel that found nothing; gives up after [`CANCEL_RETRIES`] tries (the op
    /// keeps its slot and memory until its own CQE comes).
    fn pending_retry(&mut self, key: OpKey, tries: u32) {
        if tries >= CANCEL_RETRIES {
            tracing::debug!(op = ?key, "cancel found nothing {tries} times; waiting for the op's own CQE");
            return;
        }
        if let Some(entry) = self.cancel_retry.iter_mut().find(|(k, _, _)| *k == key) {
            entry.1 = entry.1.max(tries);
            return;
        }
        self.cancel_retry
            .push((key, tries, self.turns + (1u64 << tries.min(20))));
    }

    /// One loop turn's single enter: submits what futures pushed and, if `wait`, waits for
    /// at least one CQE (at most `timeout`); then reaps everything. Returns CQEs reaped.
    pub(crate) fn turn(&mut self, wait: bool, timeout: Option<Duration>) -> io::Result<usize> {
        self.turns += 1;
        if !self.cancel_retry.is_empty() {
            self.retry_cancels();
        }
        if wait && !self.eventfd_armed && !self.draining {
            self.arm_eventfd()?;
        }
        // Nothing to wait for when completions are ready (an injected fault's included).
        let wait = wait && !self.completions_ready();
        let result = if let Some(emu) = &mut self.emulator {
            // One branch per turn: the emulated ring is entered where the kernel's would be.
            emu.enter(&mut self.ring, wait, timeout)
        } else if wait {
            match timeout {
                Some(t) => self.ring.submit_and_wait_timeout(1, t),
                None => self.ring.submit_and_wait(1),
            }
        } else {
            // Enters only if SQEs wait, or the kernel flags deferred work (TASKRUN_FLAG) or
            // overflowed CQEs: a busy core with nothing to submit makes no syscall.
            self.ring.submit()
        };
        match result {
            Ok(n) => self.count_submitted(n),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {
                // The CQ backlog is full: reaping below makes room for the next turn.
                Counters::bump(&self.counters.cq_overflows, 1);
                tracing::debug!(error = %e, "io_uring_enter busy; reaping before retrying");
            }
            Err(e) => return Err(fault("enter", e)),
        }
        Ok(self.reap())
    }

    /// Keeps a READ armed on the wake-up eventfd so writes from other threads end a wait.
    fn arm_eventfd(&mut self) -> io::Result<()> {
        let buf: *mut u64 = &mut *self.eventfd_buf;
        let sqe =
            prep::prep_read(self.eventfd.as_raw_fd(), buf.cast(), 8, 0).user_data(EVENTFD_READ);
        self.push(&sqe)?;
        self.eventfd_armed = true;
        Ok(())
    }

    /// Reaps every ready CQE without a syscall. Returns how many.
    pub(crate) fn reap(&mut self) -> usize {
        let mut n = 0;
        // Within one reap no task runs, so waking the same task twice is redundant: a batch
        // of ops of one task costs one wake.
        let mut last_woken: Option<Waker> = None;
        if self.ring.sq().cq_overflow() {
            Counters::bump(&self.counters.cq_overflows, 1);
        }
        while let Some(cqe) = self.next_cqe() {
            n += 1;
            let user_data = cqe.user_data();
            if user_data & RESERVED != 0 {
                if user_data == EVENTFD_READ {
                    self.eventfd_armed = false;
                } else if user_data & CANCEL_TAG != 0 {
                    if cqe.res() == -libc::ENOENT {
                        let key = OpKey::from_user_data(user_data & !(RESERVED | CANCEL_TAG));
                        if self.awaits_cqe(key) {
                            self.pending_retry(key, 0);
                        }
                    }
                } else if user_data & CLOSE_TAG != 0 && cqe.res() == -libc::ECANCELED {
                    // Cancelled before it ran: the fd is still open, and ours to close.
                    let fd = (user_data & u64::from(u32::MAX)) as RawFd;
                    // SAFETY: the fd was given up to this CLOSE (`close_detached`), which
                    // never ran (io_uring fails a request with ECANCELED only before it
                    // starts), so the number still names that file and nobody else owns it.
                    drop(unsafe { OwnedFd::from_raw_fd(fd) });
                }
                continue;
            }
            let key = OpKey::from_user_data(user_data);
            let Some(slot) = self.slots.get_mut(key.index as usize) else {
                continue;
            };
            if slot.generation != key.generation {
                continue;
            }
            if slot.state.ends_abandoned(&cqe) {
                // An abandoned or shared op's final CQE: the kernel is done with what the
                // slot kept. The slot goes before that sees the CQE and drops (user code:
                // `on_abandoned_cqe`, a shared owner, buffers' drops), so a panic there
                // cannot leave the slot awaiting a CQE that will never come (a leak, and a
                // drain stalled for SETTLE_LIMIT).
                if let OpState::Abandoned(kept) = self.slots.remove(key.index as usize).state {
                    kept.finish(cqe);
                }
                continue;
            }
            let (after, waker) = slot.state.on_cqe(cqe);
            if after == AfterCqe::Free {
                self.slots.remove(key.index as usize);
            }
            if let Some(w) = waker
                && !last_woken.as_ref().is_some_and(|last| last.will_wake(&w))
            {
                w.wake_by_ref();
                last_woken = Some(w);
            }
        }
        Counters::bump(&self.counters.cqes_reaped, n as u64);
        n
    }

    /// Whether a CQE waits to be reaped: the kernel's, or (with fault injection) a failed
    /// op's, which must not leave the loop waiting in the kernel for nothing.
    #[inline(always)]
    fn completions_ready(&mut self) -> bool {
        #[cfg(feature = "fault-injection")]
        if !self.injected.is_empty() {
            return true;
        }
        !self.ring.cq().is_empty()
    }

    /// The next CQE to dispatch: the kernel's, or (with fault injection) a failed op's.
    #[inline(always)]
    fn next_cqe(&mut self) -> Option<Cqe> {
        #[cfg(feature = "fault-injection")]
        if let Some(cqe) = self.injected.pop() {
            return Some(cqe);
        }
        self.ring.cq().pop()
    }

    /// Shutdown: cancels everything and reaps until no slot awaits a CQE, so no memory the
    /// kernel may write to is freed before the ring goes away. Gives up after
    /// [`SETTLE_LIMIT`] without progress (an op the kernel never completes): those slots
    /// are leaked with the driver, never freed, and reported.
    pub(crate) fn drain(&mut self) {
        let cancel_all = prep::prep_cancel(
            0,
            abi::IORING_ASYNC_CANCEL_ANY | abi::IORING_ASYNC_CANCEL_ALL,
        )
        .user_data(IGNORED);
        self.draining = true;
        let _ = self.push(&cancel_all);
        if self.eventfd_armed {
            let _ = self.push(&prep::prep_cancel(EVENTFD_READ, 0).user_data(IGNORED));
        }
        // Whatever is pushed (closes, cancels) reaches the kernel even if nothing waits.
        self.submit_pending();
        let limit = if self.gave_up {
            Duration::ZERO
        } else {
            SETTLE_LIMIT
        };
        let mut last_progress = Instant::now();
        let mut rounds = 0u32;
        // Wait for the ops the kernel still owns. A completed op whose future lives on
        // (held outside the runtime) keeps its slot, but no CQE will ever free it: waiting
        // for the slab to empty would hang. Progress is an op fewer to wait for (the CQEs of
        // cancels that found nothing are none).
        let mut waiting = self.awaiting_ops();
        while waiting > 0 || self.eventfd_armed {
            if last_progress.elapsed() >= limit {
                tracing::warn!(
                    stuck = waiting,
                    "io_uring ops did not complete within {limit:?} of their cancel at \
                     shutdown: their memory is leaked, not freed, since the kernel may still \
                     write to it"
                );
                self.gave_up = true;
                return;
            }
            // Cancel stragglers one by one too (kernels before 5.19 have no CANCEL_ANY).
            if rounds % 16 == 15 {
                let keys: Vec<OpKey> = self
                    .slots
                    .iter()
                    .filter(|(_, s)| s.state.awaits_cqe())
                    .map(|(i, s)| OpKey {
                        index: i as u32,
                        generation: s.generation,
                    })
                    .collect();
                keys.into_iter().for_each(|k| self.cancel(k));
                if self.eventfd_armed {
                    let _ = self.push(&prep::prep_cancel(EVENTFD_READ, 0).user_data(IGNORED));
                }
            }
            rounds += 1;
            let armed = self.eventfd_armed;
            if let Err(e) = self.turn(true, Some(Duration::from_millis(10))) {
                tracing::debug!(error = %e, in_flight = self.slots.len(), "enter failed while draining");
            }
            let now = self.awaiting_ops();
            if now < waiting || (armed && !self.eventfd_armed) {
                last_progress = Instant::now();
            }
            waiting = now;
        }
    }

    /// Slots the kernel may still post a CQE for.
    fn awaiting_ops(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| s.state.awaits_cqe())
            .count()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The last handle is gone: no owner can poll a slot any more.
        self.drain();
        if self.gave_up || self.eventfd_armed {
            // The kernel may still write into what the stuck slots and the eventfd read
            // point to; closing the ring cancels those requests only asynchronously.
            std::mem::forget(std::mem::take(&mut self.slots));
            std::mem::forget(std::mem::replace(&mut self.eventfd_buf, Box::new(0)));
        }
    }
}

fn timespec(d: Duration) -> __kernel_timespec {
    __kernel_timespec {
        // Saturated: `Duration::MAX` would wrap to a negative (already expired) timespec.
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// An `io::Error` for a driver fault that keeps the errno and says what failed.
fn fault(what: &str, e: io::Error) -> io::Error {
    tracing::debug!(error = %e, what, "io_uring fault");
    io::Error::new(e.kind(), format!("io_uring_enter ({what}) failed: {e}"))
}

fn ring_dup(ring: &Ring) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on our open ring fd; the result is checked.
    let fd = unsafe { libc::fcntl(ring.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh duplicate that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Builds the ring with the requested flags; when the kernel rejects one (EINVAL), drops that
/// optional flag (see [`flag_to_drop`]) and tries again, so older kernels get the best they
/// support.
fn build_ring(config: &DriverConfig) -> io::Result<Ring> {
    let optional: [(bool, u32); 4] = [
        (config.defer_taskrun, abi::IORING_SETUP_DEFER_TASKRUN),
        (config.single_issuer, abi::IORING_SETUP_SINGLE_ISSUER),
        (config.coop_taskrun, abi::IORING_SETUP_COOP_TASKRUN),
        (config.submit_all, abi::IORING_SETUP_SUBMIT_ALL),
    ];
    let mut enabled: Vec<u32> = optional
        .iter()
        .filter(|(on, _)| *on)
        .map(|&(_, f)| f)
        .collect();
    loop {
        let mut b = RingBuilder::new(config.entries);
        b.register_ring_fd(config.register_ring_fd).clamp(true);
        if let Some(cq) = config.cq_entries {
            b.cq_entries(cq);
        }
        if let Some(idle) = config.sqpoll_idle {
            b.sqpoll(idle);
        }
        let has = |f| enabled.contains(&f);
        b.defer_taskrun(has(abi::IORING_SETUP_DEFER_TASKRUN))
            .single_issuer(has(abi::IORING_SETUP_SINGLE_ISSUER))
            .coop_taskrun(has(abi::IORING_SETUP_COOP_TASKRUN))
            .submit_all(has(abi::IORING_SETUP_SUBMIT_ALL));
        // TASKRUN_FLAG lets a turn skip the enter when no deferred work is pending.
        b.taskrun_flag(has(abi::IORING_SETUP_DEFER_TASKRUN) || has(abi::IORING_SETUP_COOP_TASKRUN));
        if config.sqpoll_idle.is_some() {
            // DEFER_TASKRUN needs the submitter to wait; SQPOLL submits from its own thread.
            b.defer_taskrun(false);
        }
        let e = match b.build() {
            Ok(ring) => return Ok(ring),
            Err(e) => e,
        };
        let Some(i) = setup_einval(&e).and_then(|s| flag_to_drop(&enabled, s.rejected_flag()))
        else {
            return Err(e);
        };
        let dropped = enabled.remove(i);
        tracing::debug!(
            flag = format_args!("{dropped:#x}"),
            "kernel rejected a setup flag; trying without it"
        );
    }
}

/// The explanation of a ring setup that failed with EINVAL.
fn setup_einval(e: &io::Error) -> Option<&uring_sys::SetupError> {
    e.get_ref()?
        .downcast_ref::<uring_sys::SetupError>()
        .filter(|s| s.errno() == libc::EINVAL)
}

/// Which of the `enabled` optional flags (newest first) to drop after a setup EINVAL: the
/// one the kernel rejected. When it rejected none of them (no single flag is to blame, or
/// the flag is one they imply, like TASKRUN_FLAG), the newest, which older kernels lack
/// first. `None` when none is left.
fn flag_to_drop(enabled: &[u32], rejected: Option<u32>) -> Option<usize> {
    if enabled.is_empty() {
        return None;
    }
    Some(
        rejected
            .and_then(|r| enabled.iter().position(|&f| f == r))
            .unwrap_or(0),
    )
}

/// `fd`'s socket type (`SO_TYPE`: `SOCK_STREAM`, `SOCK_DGRAM`, ...); `None` for a bad fd or
/// one that is not a socket. A syscall: for the rare paths (a short transfer, injected
/// faults), not for every op.
pub(crate) fn socket_type(fd: RawFd) -> Option<libc::c_int> {
    socket_int(fd, libc::SO_TYPE)
}

/// `fd`'s socket protocol (`SO_PROTOCOL`: `IPPROTO_TCP`, ...), `None` if it is no socket.
pub(crate) fn socket_protocol(fd: RawFd) -> Option<libc::c_int> {
    socket_int(fd, libc::SO_PROTOCOL)
}

/// An integer `SOL_SOCKET` option of `fd`.
fn socket_int(fd: RawFd, option: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals of the sizes given; the kernel writes at
    // most `len` bytes to `value`. A bad or non-socket fd is an error return, nothing else.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    (rc == 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENABLED: [u32; 4] = [
        abi::IORING_SETUP_DEFER_TASKRUN,
        abi::IORING_SETUP_SINGLE_ISSUER,
        abi::IORING_SETUP_COOP_TASKRUN,
        abi::IORING_SETUP_SUBMIT_ALL,
    ];

    #[test]
    fn drops_exactly_the_rejected_flag() {
        // The first optional flag is accepted, a later one rejected: that one goes.
        for (i, &flag) in ENABLED.iter().enumerate() {
            assert_eq!(flag_to_drop(&ENABLED, Some(flag)), Some(i));
        }
    }

    #[test]
    fn without_a_rejected_optional_flag_drops_the_newest() {
        assert_eq!(flag_to_drop(&ENABLED, None), Some(0));
        let implied = Some(abi::IORING_SETUP_TASKRUN_FLAG);
        assert_eq!(flag_to_drop(&ENABLED[2..], implied), Some(0));
        assert_eq!(flag_to_drop(&[], None), None);
        assert_eq!(flag_to_drop(&[], Some(abi::IORING_SETUP_SUBMIT_ALL)), None);
    }
}

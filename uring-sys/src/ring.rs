//! [`Ring`]: an io_uring instance (fd + mappings) with its submission and completion queues,
//! and [`RingBuilder`] for its setup flags.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr;
use std::rc::Rc;
use std::time::Duration;

use crate::abi::{self, io_uring_getevents_arg, io_uring_params, io_uring_rsrc_update};
use crate::cqueue::CompletionQueue;
use crate::error;
use crate::mmap::Mmap;
use crate::squeue::SubmissionQueue;
use crate::syscall;

/// Setup options of a [`Ring`]. Every flag defaults to off; see `io_uring_setup(2)`.
#[derive(Debug, Clone)]
pub struct RingBuilder {
    entries: u32,
    /// Only the methods below write it, and none sets `IORING_SETUP_NO_MMAP` or
    /// `IORING_SETUP_REGISTERED_FD_ONLY` (or any field that names memory): [`Self::build`]'s
    /// call of the unsafe `syscall::setup` relies on it.
    params: io_uring_params,
    register_ring_fd: bool,
}

macro_rules! setup_flag {
    ($($(#[$doc:meta])* $name:ident => $flag:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, on: bool) -> &mut Self {
            self.set_flag(abi::$flag, on)
        }
    )*};
}

impl RingBuilder {
    /// A builder for a ring with `entries` SQ entries (rounded up to a power of two by the
    /// kernel; at most 32768).
    pub fn new(entries: u32) -> RingBuilder {
        RingBuilder {
            entries,
            params: io_uring_params::default(),
            register_ring_fd: true,
        }
    }

    fn set_flag(&mut self, flag: u32, on: bool) -> &mut Self {
        if on {
            self.params.flags |= flag;
        } else {
            self.params.flags &= !flag;
        }
        self
    }

    /// CQ entries (`IORING_SETUP_CQSIZE`); the default is twice the SQ entries.
    pub fn cq_entries(&mut self, entries: u32) -> &mut Self {
        self.params.cq_entries = entries;
        self.set_flag(abi::IORING_SETUP_CQSIZE, true)
    }

    /// A kernel thread polls the SQ (`IORING_SETUP_SQPOLL`) and sleeps after `idle`
    /// without work; submissions then need no syscall while it is awake.
    pub fn sqpoll(&mut self, idle: Duration) -> &mut Self {
        self.params.sq_thread_idle = idle.as_millis().min(u32::MAX as u128) as u32;
        self.set_flag(abi::IORING_SETUP_SQPOLL, true)
    }

    /// Pins the SQPOLL thread to `cpu` (`IORING_SETUP_SQ_AFF`).
    pub fn sqpoll_cpu(&mut self, cpu: u32) -> &mut Self {
        self.params.sq_thread_cpu = cpu;
        self.set_flag(abi::IORING_SETUP_SQ_AFF, true)
    }

    setup_flag! {
        /// Busy-poll for completions (`IORING_SETUP_IOPOLL`): O_DIRECT files on polled devices only.
        iopoll => IORING_SETUP_IOPOLL;
        /// Clamp entries to the kernel's maximum instead of failing (`IORING_SETUP_CLAMP`).
        clamp => IORING_SETUP_CLAMP;
        /// Keep submitting after a failed SQE (`IORING_SETUP_SUBMIT_ALL`, 5.18).
        submit_all => IORING_SETUP_SUBMIT_ALL;
        /// Run completion work at the next kernel transition, no IPI (`IORING_SETUP_COOP_TASKRUN`, 5.19).
        coop_taskrun => IORING_SETUP_COOP_TASKRUN;
        /// Flag pending task work in the SQ flags (`IORING_SETUP_TASKRUN_FLAG`, 5.19).
        taskrun_flag => IORING_SETUP_TASKRUN_FLAG;
        /// Only the creating thread submits (`IORING_SETUP_SINGLE_ISSUER`, 6.0).
        single_issuer => IORING_SETUP_SINGLE_ISSUER;
        /// Post completions only when waited for (`IORING_SETUP_DEFER_TASKRUN`, 6.1; needs
        /// `single_issuer`): every wait must enter with `IORING_ENTER_GETEVENTS`.
        defer_taskrun => IORING_SETUP_DEFER_TASKRUN;
        /// No SQ index array: SQEs are consumed in ring order (`IORING_SETUP_NO_SQARRAY`, 6.6).
        no_sqarray => IORING_SETUP_NO_SQARRAY;
        /// Start disabled until `Ring::enable` (`IORING_SETUP_R_DISABLED`), to register
        /// restrictions first.
        disabled => IORING_SETUP_R_DISABLED;
    }

    /// Registers the ring's own fd (`IORING_REGISTER_RING_FDS`, 5.18) so each enter skips the
    /// fd lookup; on by default, silently skipped where the kernel lacks it or the creating
    /// thread's 16 slots are taken. The slot is the thread's and is freed when the ring drops.
    pub fn register_ring_fd(&mut self, on: bool) -> &mut Self {
        self.register_ring_fd = on;
        self
    }

    /// The setup flags chosen so far (`IORING_SETUP_*`).
    pub fn flags(&self) -> u32 {
        self.params.flags
    }

    /// Creates the ring.
    ///
    /// # Errors
    /// An error that names the cause and the fix: ENOSYS (no io_uring in this kernel), EPERM
    /// (`kernel.io_uring_disabled` or a seccomp profile), ENOMEM (`RLIMIT_MEMLOCK` before
    /// 5.12), EINVAL (the setup flag this kernel rejects). See [`crate::SetupError`].
    pub fn build(&self) -> io::Result<Ring> {
        let mut params = self.params;
        // SAFETY: `params` names no memory: no method of ours sets NO_MMAP (see the field).
        let fd = unsafe { syscall::setup(self.entries, &mut params) }
            .map_err(|e| error::explain_setup(e, self.entries, &self.params))?;
        Ring::from_fd(fd, params, self.register_ring_fd)
    }
}

/// An io_uring instance: the ring fd, its mappings, and its two queues.
///
/// Dropping it frees its registered-ring slot (see [`RingBuilder::register_ring_fd`]),
/// unmaps the rings and closes the fd. It does not wait for requests still in flight: closing
/// the last reference makes the kernel cancel them asynchronously (`io_ring_exit_work`), and
/// until they are done they may still read and write the memory their SQEs point to. Keeping
/// that memory alive past the drop is the caller's job (part of what
/// [`SubmissionQueue::push`] asks): reap every CQE before dropping the ring, as the runtime
/// does, or leak the memory.
///
/// A `Ring` stays on the thread that created it (it is not `Send`): its registered fd is an
/// index into that thread's table.
///
/// ```compile_fail,E0277
/// fn send<T: Send>(_: T) {}
/// send(uring_sys::Ring::new(8));
/// ```
///
/// # Examples
/// ```
/// use uring_sys::{prep, Ring};
///
/// let mut ring = Ring::new(8)?;
/// // SAFETY: a NOP points to no memory.
/// unsafe { ring.sq().push(&prep::prep_nop().user_data(7)).unwrap() };
/// ring.submit_and_wait(1)?;
/// let cqe = ring.cq().pop().unwrap();
/// assert_eq!((cqe.user_data(), cqe.res()), (7, 0));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Ring {
    sq: SubmissionQueue,
    cq: CompletionQueue,
    params: io_uring_params,
    /// The fd to pass to `io_uring_enter`: the registered index when `enter_flags` has
    /// `IORING_ENTER_REGISTERED_RING`, else the real fd.
    enter_fd: RawFd,
    enter_flags: u32,
    /// `io_uring_enter` calls made, for metrics and tests of batching.
    enters: u64,
    /// Made by [`Ring::user_space`]: no kernel behind it.
    user_space: bool,
    fd: OwnedFd,
}

/// The kernel's side of a [user-space ring](Ring::user_space), for the code that plays the
/// kernel: the same head/tail protocol, with the roles of the two queues swapped.
#[derive(Debug)]
pub struct UserSpaceSide<'a> {
    sq: &'a mut SubmissionQueue,
    cq: &'a mut CompletionQueue,
}

impl UserSpaceSide<'_> {
    /// Takes the next published SQE (pushed and made visible by `sync`), if any.
    pub fn next_sqe(&mut self) -> Option<crate::Sqe> {
        self.sq.consume()
    }

    /// Posts `cqe` for the reaper, or hands it back when the CQ is full.
    ///
    /// # Errors
    /// The CQE itself, when the CQ has no free entry.
    pub fn post_cqe(&mut self, cqe: crate::Cqe) -> Result<(), crate::Cqe> {
        self.cq.post(cqe)
    }

    /// Sets or clears `IORING_SQ_CQ_OVERFLOW`: CQEs wait in the poster's backlog, so the
    /// reaper must enter again once it made room.
    pub fn set_cq_overflow(&mut self, on: bool) {
        self.sq.set_flag(abi::IORING_SQ_CQ_OVERFLOW, on);
    }
}

/// A ring's mappings, owned by its two queues together: each queue keeps alive what it points
/// into, even when safe code swaps it into another `Ring` (`mem::swap(a.sq(), b.sq())`).
#[derive(Debug)]
pub(crate) struct RingMaps {
    sq: Mmap,
    /// None with `IORING_FEAT_SINGLE_MMAP`: the CQ ring is in `sq`.
    cq: Option<Mmap>,
    sqes: Mmap,
    /// Made by [`Ring::user_space`]: no kernel reads or writes these maps, so user space
    /// may act as the kernel on them. Queues carry it with their maps wherever safe code
    /// swaps them (`Ring::sq`/`Ring::cq` hand out `&mut`).
    pub(crate) user_space: bool,
}

impl Ring {
    /// A ring with `entries` SQ entries and default flags.
    ///
    /// # Errors
    /// As [`RingBuilder::build`].
    pub fn new(entries: u32) -> io::Result<Ring> {
        RingBuilder::new(entries).build()
    }

    /// A builder to choose setup flags.
    pub fn builder(entries: u32) -> RingBuilder {
        RingBuilder::new(entries)
    }

    fn from_fd(fd: OwnedFd, params: io_uring_params, register_ring_fd: bool) -> io::Result<Ring> {
        let raw = fd.as_raw_fd();
        let (sq_off, cq_off) = (&params.sq_off, &params.cq_off);
        let cqe_size = if params.flags & abi::IORING_SETUP_CQE32 != 0 {
            32
        } else {
            16
        };
        let sqe_size = if params.flags & abi::IORING_SETUP_SQE128 != 0 {
            128
        } else {
            64
        };
        let no_sqarray = params.flags & abi::IORING_SETUP_NO_SQARRAY != 0;
        let sq_len = if no_sqarray {
            sq_off.dropped as usize + 4
        } else {
            sq_off.array as usize + params.sq_entries as usize * 4
        };
        let cq_len = cq_off.cqes as usize + params.cq_entries as usize * cqe_size;
        let single_mmap = params.features & abi::IORING_FEAT_SINGLE_MMAP != 0;

        let sq_map = Mmap::ring(
            raw,
            if single_mmap {
                sq_len.max(cq_len)
            } else {
                sq_len
            },
            abi::IORING_OFF_SQ_RING,
        )?;
        let cq_map = if single_mmap {
            None
        } else {
            Some(Mmap::ring(raw, cq_len, abi::IORING_OFF_CQ_RING)?)
        };
        let sqe_map = Mmap::ring(
            raw,
            params.sq_entries as usize * sqe_size,
            abi::IORING_OFF_SQES,
        )?;
        let maps = RingMaps {
            sq: sq_map,
            cq: cq_map,
            sqes: sqe_map,
            user_space: false,
        };
        let mut ring = Ring::from_maps(fd, params, maps, false);
        if register_ring_fd && let Ok(index) = ring.register_ring_fd() {
            ring.enter_fd = index as RawFd;
            ring.enter_flags = abi::IORING_ENTER_REGISTERED_RING;
        }
        Ok(ring)
    }

    /// A ring in ordinary memory that no kernel reads, laid out as the kernel lays out its
    /// own (same offsets, same head/tail protocol): the SQ and CQ of it are the very types of
    /// a kernel ring, so code that pushes and reaps needs no second path. Whoever plays the
    /// kernel consumes the SQEs and posts the CQEs through [`Ring::user_space_side`]; the
    /// `submit*` calls fail with `EOPNOTSUPP` (no syscall is made). `fd` stands for the ring
    /// (returned by `as_raw_fd`; registration calls on it fail as on any non-io_uring fd).
    ///
    /// # Errors
    /// `mmap(2)`'s errno.
    ///
    /// # Examples
    /// ```
    /// use uring_sys::{prep, Cqe, Ring};
    ///
    /// let fd = std::fs::File::open("/dev/null")?.into();
    /// let mut ring = Ring::user_space(8, fd)?;
    /// // SAFETY: a NOP points to no memory.
    /// unsafe { ring.sq().push(&prep::prep_nop().user_data(7)).unwrap() };
    /// ring.sq().sync();
    /// let mut side = ring.user_space_side().expect("a user-space ring");
    /// let sqe = side.next_sqe().expect("published");
    /// side.post_cqe(Cqe::new(sqe.get_user_data(), 0, 0)).unwrap();
    /// assert_eq!(ring.cq().pop().map(|c| c.user_data()), Some(7));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn user_space(entries: u32, fd: OwnedFd) -> io::Result<Ring> {
        let sq_entries = entries.clamp(1, 32768).next_power_of_two();
        let cq_entries = sq_entries * 2;
        // The kernel's layout: the ring words, then the SQ index array / the CQE array.
        let sq_off = abi::io_sqring_offsets {
            head: 0,
            tail: 4,
            ring_mask: 8,
            ring_entries: 12,
            flags: 16,
            dropped: 20,
            array: 64,
            ..Default::default()
        };
        let cq_off = abi::io_cqring_offsets {
            head: 0,
            tail: 4,
            ring_mask: 8,
            ring_entries: 12,
            overflow: 16,
            cqes: 64,
            flags: 20,
            ..Default::default()
        };
        let sq = Mmap::anonymous(64 + sq_entries as usize * 4)?;
        let cq = Mmap::anonymous(64 + cq_entries as usize * size_of::<abi::io_uring_cqe>())?;
        let sqes = Mmap::anonymous(sq_entries as usize * size_of::<abi::io_uring_sqe>())?;
        // SAFETY: the offsets lie inside the fresh mappings above (64-byte headers), which
        // nobody else references yet.
        unsafe {
            *sq.offset::<u32>(sq_off.ring_mask) = sq_entries - 1;
            *sq.offset::<u32>(sq_off.ring_entries) = sq_entries;
            *cq.offset::<u32>(cq_off.ring_mask) = cq_entries - 1;
            *cq.offset::<u32>(cq_off.ring_entries) = cq_entries;
        }
        let params = io_uring_params {
            sq_entries,
            cq_entries,
            // What the user-space side implements: no CQE is dropped, a failed CQE of a
            // CQE_SKIP_SUCCESS SQE is posted, a successful one is not.
            features: abi::IORING_FEAT_NODROP | abi::IORING_FEAT_CQE_SKIP,
            sq_off,
            cq_off,
            ..Default::default()
        };
        let maps = RingMaps {
            sq,
            cq: Some(cq),
            sqes,
            user_space: true,
        };
        Ok(Ring::from_maps(fd, params, maps, true))
    }

    /// Builds the queues over `maps`, laid out as `params` says.
    fn from_maps(fd: OwnedFd, params: io_uring_params, maps: RingMaps, user_space: bool) -> Ring {
        let sq_off = &params.sq_off;
        let cq_off = &params.cq_off;
        let cqe_size = if params.flags & abi::IORING_SETUP_CQE32 != 0 {
            32
        } else {
            16
        };
        let no_sqarray = params.flags & abi::IORING_SETUP_NO_SQARRAY != 0;
        let maps = Rc::new(maps);
        let sq_map = &maps.sq;
        let sqe_map = &maps.sqes;
        let cq_base = maps.cq.as_ref().unwrap_or(sq_map);

        if !no_sqarray {
            // Identity-map the SQ index array once, so SQEs are consumed in ring order and
            // pushing never touches it again (as liburing does).
            let array: *mut u32 = sq_map.offset(sq_off.array);
            for i in 0..params.sq_entries {
                // SAFETY: the array has sq_entries u32s inside sq_map (sq_len covers them), and
                // the kernel reads it only for SQEs we publish later.
                unsafe { array.add(i as usize).write(i) };
            }
        }
        let sq = SubmissionQueue {
            khead: sq_map.offset(sq_off.head),
            ktail: sq_map.offset(sq_off.tail),
            kflags: sq_map.offset(sq_off.flags),
            kdropped: sq_map.offset(sq_off.dropped),
            sqes: sqe_map.as_ptr().cast(),
            // SAFETY: ring_mask lies inside sq_map; the kernel wrote it before setup returned.
            mask: unsafe { *sq_map.offset::<u32>(sq_off.ring_mask) },
            entries: params.sq_entries,
            // SAFETY: as above; no SQE has been pushed yet, so the tail is the kernel's value.
            tail: unsafe { *sq_map.offset::<u32>(sq_off.tail) },
            _maps: Rc::clone(&maps),
        };
        let cq = CompletionQueue {
            khead: cq_base.offset(cq_off.head),
            ktail: cq_base.offset(cq_off.tail),
            kflags: if cq_off.flags == 0 {
                ptr::null()
            } else {
                cq_base.offset(cq_off.flags)
            },
            koverflow: cq_base.offset(cq_off.overflow),
            cqes: cq_base.offset(cq_off.cqes),
            // SAFETY: ring_mask lies inside the CQ mapping; written by the kernel at setup.
            mask: unsafe { *cq_base.offset::<u32>(cq_off.ring_mask) },
            entries: params.cq_entries,
            shift: u32::from(cqe_size == 32),
            // SAFETY: as above; nothing has been reaped yet.
            head: unsafe { *cq_base.offset::<u32>(cq_off.head) },
            _maps: Rc::clone(&maps),
        };
        Ring {
            sq,
            cq,
            params,
            enter_fd: fd.as_raw_fd(),
            enter_flags: 0,
            enters: 0,
            user_space,
            fd,
        }
    }

    /// Whether this ring was made by [`Ring::user_space`].
    pub fn is_user_space(&self) -> bool {
        self.user_space
    }

    /// The kernel's side of a [user-space](Ring::user_space) ring: takes published SQEs,
    /// posts CQEs. `None` for a kernel ring, whose SQEs and CQEs only the kernel may move,
    /// and for a ring holding a kernel ring's queue (swapped in through `sq()`/`cq()`): the
    /// queues themselves must be user space's, or this side would move a kernel's head
    /// and tail (the kernel would then run an SQE twice, or report a CQE it never posted).
    pub fn user_space_side(&mut self) -> Option<UserSpaceSide<'_>> {
        let queues_ours = self.sq._maps.user_space && self.cq._maps.user_space;
        (self.user_space && queues_ours).then_some(UserSpaceSide {
            sq: &mut self.sq,
            cq: &mut self.cq,
        })
    }

    /// Registers this ring's fd in its own table; returns the index.
    fn register_ring_fd(&self) -> io::Result<u32> {
        let mut update = io_uring_rsrc_update {
            offset: u32::MAX,
            resv: 0,
            data: self.fd.as_raw_fd() as u64,
        };
        // SAFETY: `update` is one valid io_uring_rsrc_update for the call; the kernel writes
        // the chosen index back into it.
        unsafe {
            syscall::register(
                self.fd.as_raw_fd(),
                abi::IORING_REGISTER_RING_FDS,
                (&mut update as *mut io_uring_rsrc_update).cast(),
                1,
            )?
        };
        Ok(update.offset)
    }

    /// The submission queue.
    #[inline]
    pub fn sq(&mut self) -> &mut SubmissionQueue {
        &mut self.sq
    }

    /// The completion queue.
    #[inline]
    pub fn cq(&mut self) -> &mut CompletionQueue {
        &mut self.cq
    }

    /// Both queues at once.
    #[inline]
    pub fn queues(&mut self) -> (&mut SubmissionQueue, &mut CompletionQueue) {
        (&mut self.sq, &mut self.cq)
    }

    /// The parameters the kernel filled in at setup (entries, flags, features).
    pub fn params(&self) -> &io_uring_params {
        &self.params
    }

    /// The setup flags in force (`IORING_SETUP_*`).
    pub fn setup_flags(&self) -> u32 {
        self.params.flags
    }

    /// Whether the kernel reported `feature` (`IORING_FEAT_*`) at setup.
    pub fn has_feature(&self, feature: u32) -> bool {
        self.params.features & feature == feature
    }

    /// Whether enters go through the registered ring fd (`IORING_ENTER_REGISTERED_RING`).
    pub fn uses_registered_fd(&self) -> bool {
        self.enter_flags & abi::IORING_ENTER_REGISTERED_RING != 0
    }

    /// Publishes pushed SQEs and enters the kernel only if something needs it: SQEs to
    /// submit (without SQPOLL), a sleeping SQPOLL thread, or overflowed CQEs to flush.
    /// Returns the number of SQEs submitted.
    ///
    /// # Errors
    /// `io_uring_enter(2)`'s errno: EINTR (a signal: call again), EBUSY/EAGAIN (the kernel
    /// is short of resources or the CQ backlog is full: reap CQEs, then call again).
    pub fn submit(&mut self) -> io::Result<u32> {
        self.enter(0, None, false)
    }

    /// Like [`Self::submit`], then waits until at least `want` CQEs are ready.
    ///
    /// # Errors
    /// As [`Self::submit`].
    pub fn submit_and_wait(&mut self, want: u32) -> io::Result<u32> {
        self.enter(want, None, want > 0)
    }

    /// Like [`Self::submit_and_wait`] with `IORING_ENTER_GETEVENTS` even when `want` is 0:
    /// with `DEFER_TASKRUN` this is what runs pending completions into the CQ.
    ///
    /// # Errors
    /// As [`Self::submit`].
    pub fn submit_and_get_events(&mut self, want: u32) -> io::Result<u32> {
        self.enter(want, None, true)
    }

    /// Like [`Self::submit_and_wait`], but waits at most `timeout` (`IORING_ENTER_EXT_ARG`,
    /// 5.11).
    ///
    /// # Errors
    /// `ETIME` when the timeout passed before `want` CQEs arrived; otherwise as
    /// [`Self::submit`].
    pub fn submit_and_wait_timeout(&mut self, want: u32, timeout: Duration) -> io::Result<u32> {
        self.enter(want, Some(timeout), true)
    }

    fn enter(&mut self, want: u32, timeout: Option<Duration>, getevents: bool) -> io::Result<u32> {
        if self.user_space {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring_enter on a user-space ring: its SQEs are consumed by its \
                 user-space side (Ring::user_space_side), not by the kernel",
            ));
        }
        self.sq.sync();
        let pending = self.sq.len();
        let sqpoll = self.params.flags & abi::IORING_SETUP_SQPOLL != 0;
        let mut flags = self.enter_flags;
        if getevents || self.sq.cq_overflow() || self.sq.taskrun() {
            flags |= abi::IORING_ENTER_GETEVENTS;
        }
        if sqpoll && pending > 0 && self.sq.need_wakeup() {
            flags |= abi::IORING_ENTER_SQ_WAKEUP;
        }
        let needs_kernel = flags & (abi::IORING_ENTER_GETEVENTS | abi::IORING_ENTER_SQ_WAKEUP) != 0
            || (!sqpoll && pending > 0);
        if !needs_kernel {
            return Ok(if sqpoll { pending } else { 0 });
        }
        let to_submit = if sqpoll { 0 } else { pending };
        let ts;
        let arg;
        let (argp, argsz) = match timeout {
            Some(t) => {
                ts = abi::__kernel_timespec {
                    // Saturated: a wrapped negative timespec would be EINVAL.
                    tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: t.subsec_nanos() as i64,
                };
                arg = io_uring_getevents_arg {
                    ts: &ts as *const _ as u64,
                    ..Default::default()
                };
                flags |= abi::IORING_ENTER_EXT_ARG;
                (
                    &arg as *const io_uring_getevents_arg as *const c_void,
                    size_of::<io_uring_getevents_arg>(),
                )
            }
            None => (ptr::null(), 0),
        };
        self.enters += 1;
        // SAFETY: argp is null or points to `arg` (whose `ts` points to `ts`), both alive until
        // the call returns; EXT_ARG is set exactly when it is non-null. The SQEs published by
        // sync() carry the pointer contract their pushers accepted in SubmissionQueue::push.
        let submitted =
            unsafe { syscall::enter(self.enter_fd, to_submit, want, flags, argp, argsz) }?;
        Ok(if sqpoll { pending } else { submitted })
    }

    /// How many `io_uring_enter` calls this ring made.
    pub fn enter_count(&self) -> u64 {
        self.enters
    }

    /// Enables a ring created with [`RingBuilder::disabled`] (`IORING_REGISTER_ENABLE_RINGS`).
    ///
    /// # Errors
    /// The register call's errno.
    pub fn enable(&self) -> io::Result<()> {
        // SAFETY: ENABLE_RINGS takes no argument.
        unsafe {
            syscall::register(
                self.as_raw_fd(),
                abi::IORING_REGISTER_ENABLE_RINGS,
                ptr::null(),
                0,
            )
        }
        .map(drop)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // A registered ring fd is a file reference held by this thread's io_uring context, not
        // by the ring: without this the ring outlives its fd until the thread exits, and takes
        // one of the thread's 16 slots until then. The maps and fd are then dropped as fields.
        if self.uses_registered_fd() {
            let update = io_uring_rsrc_update {
                offset: self.enter_fd as u32,
                resv: 0,
                data: 0,
            };
            // SAFETY: `update` is one valid io_uring_rsrc_update for the call, which only reads
            // it. The slot is this thread's: `Ring` is !Send (its queues hold raw pointers),
            // so it is dropped on the thread that registered it. Failure (a restricted ring
            // that forbids this opcode) only leaves the slot taken until the thread exits.
            let _ = unsafe {
                syscall::register(
                    self.fd.as_raw_fd(),
                    abi::IORING_UNREGISTER_RING_FDS,
                    (&update as *const io_uring_rsrc_update).cast(),
                    1,
                )
            };
        }
    }
}

impl AsRawFd for Ring {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

//! Per-core hierarchical timing wheel: the pending timers of one core.
//!
//! The wheel is a plain struct owned by the core (`Core::timers`, processed by its loop, which
//! also bounds its wait in the driver by [`TimerWheel::next_deadline`]); it is single-threaded
//! and needs no locks or shared ownership. `crate::time` (`Sleep` and what is built on it)
//! registers timers in the current core's wheel; the wheel knows nothing of it. Time is
//! counted in millisecond *ticks* since the `origin` given to [`TimerWheel::new`], and a
//! deadline's tick is its offset rounded **up**, so a tick never lies before the deadline it
//! stands for.
//!
//! # Design
//!
//! - **Storage.** Entries live in a slab (`Vec<Entry>` plus a free list threaded through vacant
//!   entries). A [`TimerKey`] is the index plus the entry's generation, bumped whenever the entry
//!   is freed, so a stale key never reaches the timer that reused its slot. Insert and remove are
//!   O(1); insert allocates only when no vacant entry is left.
//! - **Lists.** Every slot is an intrusive doubly linked list through `u32` `prev`/`next` indices
//!   stored in the entries (chosen over `Vec` + swap-remove because a timer moves between lists
//!   on every cascade, and relinking moves no other entry and needs no back-index fix-up).
//! - **Levels.** 6 levels of 64 slots, as in tokio's wheel: a slot of level `l` spans `64^l` ticks,
//!   so the levels cover 2^36 ms (about 795 days) past the wheel's current tick. A timer is filed at
//!   the level of the highest bit in which its tick differs from the current tick. When time
//!   reaches a slot of level `l > 0`, its timers are filed again ("cascaded") into lower levels.
//!   Ticks beyond the top level wait in an *overflow* list, cascaded when time reaches the 2^36 ms
//!   epoch of its earliest timer, so days, years or an `Instant` centuries away all work.
//! - **Never early.** Time reaching a timer's tick only moves it to the *due* list. `process(now)`
//!   fires a due timer only when its exact stored `Instant` is `<= now`; one that is not yet due
//!   (its tick is the current, partly elapsed millisecond) stays for the next call.
//! - **Next deadline.** The earliest timer is in the due list, else in the earliest occupied slot
//!   of the lowest occupied level, else in the overflow list. Each list keeps a `sorted` flag:
//!   inserts keep it sorted when the tick goes at either end or a few steps from the tail (the
//!   usual case: timeouts are mostly set in deadline order); otherwise the list is sorted once when
//!   [`TimerWheel::next_deadline`] next asks for its head, so the query is O(1) amortized.

#![forbid(unsafe_code)]

use std::fmt;
use std::mem;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Bits of a tick consumed by one level: each level has `1 << LEVEL_BITS` slots.
const LEVEL_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << LEVEL_BITS;
/// Levels in the wheel; ticks farther away go to the overflow list.
const LEVELS: usize = 6;
/// Bits of tick covered by all levels together: one *epoch* is `1 << EPOCH_BITS` ticks.
const EPOCH_BITS: u32 = LEVEL_BITS * LEVELS as u32;
/// Length of one tick.
const NANOS_PER_TICK: u32 = 1_000_000;
/// Ticks per second.
const MILLIS_PER_SEC: u64 = 1_000;
/// Index meaning "no entry": the end of a list or of the free list.
const NIL: u32 = u32::MAX;
/// How many entries an insert may step back from a sorted list's tail to keep it sorted before
/// it appends and marks the list unsorted instead (which keeps insert O(1)).
const SORTED_WALK_LIMIT: usize = 8;

/// Handle to one timer in a [`TimerWheel`].
///
/// A key stays harmless after its timer was removed: the slot's generation no longer matches,
/// so every method treats the key as unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    /// Index of the entry in the slab.
    index: u32,
    /// Generation of the entry when the key was handed out.
    generation: u32,
}

/// Which list an entry is linked into: a slot of some level, the due list or the overflow list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ListId(u16);

impl ListId {
    /// Timers whose tick the wheel has reached, waiting for their exact deadline.
    const DUE: Self = Self((LEVELS * SLOTS) as u16);
    /// Timers beyond the top level's reach.
    const OVERFLOW: Self = Self((LEVELS * SLOTS) as u16 + 1);
    /// Number of lists: every slot, the due list and the overflow list.
    const COUNT: usize = LEVELS * SLOTS + 2;

    /// The list of `slot` in `level`.
    fn slot(level: usize, slot: usize) -> Self {
        debug_assert!(level < LEVELS && slot < SLOTS, "level {level}, slot {slot}");
        Self((level * SLOTS + slot) as u16)
    }

    /// `(level, slot)` for a slot list; `None` for the due and overflow lists.
    fn level_slot(self) -> Option<(usize, usize)> {
        let index = usize::from(self.0);
        (index < LEVELS * SLOTS).then_some((index / SLOTS, index % SLOTS))
    }

    /// Position in `TimerWheel::lists`.
    fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Lifecycle of a slab entry.
#[derive(Debug)]
enum State {
    /// Free; `next_free` continues the free list. The entry is in no list.
    Vacant {
        /// Next vacant entry, or `NIL`.
        next_free: u32,
    },
    /// Waiting for its deadline; linked into exactly one list (`Entry::list`).
    Pending {
        /// Woken when the timer fires.
        waker: Waker,
    },
    /// Its deadline passed and its waker was woken; in no list, kept until `remove` so that
    /// `is_fired` can report it.
    Fired,
}

/// One slab entry. `deadline`, `tick`, `list`, `prev` and `next` mean something only while the
/// entry is `Pending`.
#[derive(Debug)]
struct Entry {
    /// Bumped each time the entry is freed, so that older keys stop matching.
    generation: u32,
    /// Where the entry is in its lifecycle.
    state: State,
    /// The exact deadline, compared with `now` before firing.
    deadline: Instant,
    /// `deadline` in ticks since the origin, rounded up (saturating at `u64::MAX`).
    tick: u64,
    /// The list the entry is linked into.
    list: ListId,
    /// Previous entry in `list`, or `NIL` at the head.
    prev: u32,
    /// Next entry in `list`, or `NIL` at the tail.
    next: u32,
}

/// Head and tail of one intrusive list.
#[derive(Clone, Copy, Debug)]
struct List {
    /// First entry, or `NIL` when empty.
    head: u32,
    /// Last entry, or `NIL` when empty.
    tail: u32,
    /// Entries are in non-decreasing tick order (always true when empty).
    sorted: bool,
}

impl List {
    /// A list with no entries.
    const EMPTY: Self = Self {
        head: NIL,
        tail: NIL,
        sorted: true,
    };
}

/// Hierarchical timing wheel of one core: 6 levels x 64 slots of millisecond ticks, an overflow
/// list for farther deadlines, and a due list for timers whose tick has been reached.
///
/// See the [module docs](self) for the design.
pub(crate) struct TimerWheel {
    /// Unique in the process: tells a [`TimerKey`] of this wheel from one of another core's.
    id: u64,
    /// Instant of tick 0.
    origin: Instant,
    /// The wheel's current tick: every slot before it has been processed. Pending timers with
    /// `tick <= elapsed` are in the due list, the others in a slot or in the overflow list.
    elapsed: u64,
    /// Slab of timers.
    entries: Vec<Entry>,
    /// First vacant entry, or `NIL`.
    free_head: u32,
    /// Every slot list (`level * SLOTS + slot`), then the due and the overflow list.
    lists: Box<[List]>,
    /// Bit `s` of `occupied[l]` is set when slot `s` of level `l` is non-empty.
    occupied: [u64; LEVELS],
    /// Number of pending timers.
    len: usize,
    /// Reused buffer for sorting a list.
    scratch: Vec<u32>,
}

impl fmt::Debug for TimerWheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("origin", &self.origin)
            .field("elapsed_ms", &self.elapsed)
            .field("pending", &self.len)
            .field("slab", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl TimerWheel {
    /// Creates an empty wheel whose tick 0 is `origin`; ticks are milliseconds after it.
    pub(crate) fn new(origin: Instant) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            origin,
            elapsed: 0,
            entries: Vec::new(),
            free_head: NIL,
            lists: vec![List::EMPTY; ListId::COUNT].into_boxed_slice(),
            occupied: [0; LEVELS],
            len: 0,
            scratch: Vec::new(),
        }
    }

    /// This wheel's process-unique id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Adds a timer that wakes `waker` at the first [`process`](Self::process) with
    /// `now >= deadline`. A deadline already past fires on the next `process`.
    ///
    /// O(1); allocates only when the slab has no vacant entry.
    ///
    /// # Panics
    ///
    /// If `u32::MAX` timers (pending and fired-but-not-removed) already exist.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let tick = self.tick_for(deadline);
        let index = if self.free_head == NIL {
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&index| index != NIL)
                .expect("TimerWheel holds u32::MAX timers; remove fired timers with `remove`");
            self.entries.push(Entry {
                generation: 0,
                state: State::Pending { waker },
                deadline,
                tick,
                list: ListId::DUE,
                prev: NIL,
                next: NIL,
            });
            index
        } else {
            let index = self.free_head;
            let entry = &mut self.entries[index as usize];
            let State::Vacant { next_free } = entry.state else {
                unreachable!("free list holds entry {index}, found {:?}", entry.state)
            };
            self.free_head = next_free;
            entry.state = State::Pending { waker };
            entry.deadline = deadline;
            entry.tick = tick;
            index
        };
        self.len += 1;
        self.place(index);
        TimerKey {
            index,
            generation: self.entries[index as usize].generation,
        }
    }

    /// Removes the timer, pending or fired, and frees its entry. A stale key (already removed)
    /// is a no-op. O(1). Returns the waker of a timer that had not fired: the caller drops it
    /// once the wheel is no longer borrowed (a waker's drop may reach the wheel again).
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<Waker> {
        let index = self.live(key)?;
        if matches!(self.entries[index as usize].state, State::Pending { .. }) {
            self.unlink(index);
            self.len -= 1;
        }
        let next_free = self.free_head;
        let entry = &mut self.entries[index as usize];
        let old = mem::replace(&mut entry.state, State::Vacant { next_free });
        entry.generation = entry.generation.wrapping_add(1);
        self.free_head = index;
        match old {
            State::Pending { waker } => Some(waker),
            _ => None,
        }
    }

    /// Replaces the waker of a pending timer, cloning `waker` only when it would not wake the
    /// same task as the stored one. No-op for a fired timer or a stale key. Returns the waker
    /// replaced, for the caller to drop once the wheel is no longer borrowed.
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) -> Option<Waker> {
        let index = self.live(key)?;
        match &mut self.entries[index as usize].state {
            State::Pending { waker: stored } if !stored.will_wake(waker) => {
                Some(mem::replace(stored, waker.clone()))
            }
            _ => None,
        }
    }

    /// Whether a [`process`](Self::process) found the timer's deadline passed (and woke it).
    /// Stays true until the timer is removed; false for a stale key.
    pub(crate) fn is_fired(&self, key: TimerKey) -> bool {
        self.live(key)
            .is_some_and(|index| matches!(self.entries[index as usize].state, State::Fired))
    }

    /// The earliest pending deadline rounded up to its millisecond tick (never earlier than the
    /// deadline itself, at most 1 ms later), or `None` when no timer is pending.
    ///
    /// A deadline before the origin is reported as the origin. O(1) amortized: it takes `&mut
    /// self` to sort, once, a list that out-of-order inserts left unsorted.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        let list = if self.lists[ListId::DUE.index()].head == NIL {
            self.next_expiration()?.0
        } else {
            ListId::DUE
        };
        self.ensure_sorted(list);
        let first = &self.entries[self.lists[list.index()].head as usize];
        // `origin + tick` is at or after the deadline unless the tick saturated (a deadline
        // past `u64::MAX` ms) or the instant does not exist; then the exact deadline is the
        // answer that is never early.
        let rounded = self
            .origin
            .checked_add(Duration::from_millis(first.tick))
            .filter(|&at| at >= first.deadline);
        Some(rounded.unwrap_or(first.deadline))
    }

    /// Fires every pending timer whose deadline is `<= now`: marks it fired and wakes its waker.
    /// Returns how many fired. (Tests; the core uses `process_into`.)
    ///
    /// Advances the wheel to `now` rounded up to a tick, cascading the slots it passes; a timer
    /// whose tick is reached but whose exact deadline is still after `now` waits for a later
    /// call. Cost: O(slots passed + timers moved + due list).
    #[cfg(test)]
    pub(crate) fn process(&mut self, now: Instant) -> usize {
        let mut fired = Vec::new();
        let n = self.process_into(now, &mut fired);
        fired.into_iter().for_each(Waker::wake);
        n
    }

    /// As `process`, leaving the fired timers' wakers in `fired` for the caller to wake once
    /// the wheel is no longer borrowed: a waker may reach the wheel (drop or reset a
    /// `Sleep`).
    pub(crate) fn process_into(&mut self, now: Instant, fired: &mut Vec<Waker>) -> usize {
        let target = self.tick_for(now);
        while let Some((list, at)) = self.next_expiration() {
            if at > target {
                break;
            }
            debug_assert!(
                at > self.elapsed,
                "expiration {at} not after {}",
                self.elapsed
            );
            self.elapsed = at;
            self.cascade(list);
        }
        self.elapsed = self.elapsed.max(target);
        self.fire_due(now, fired)
    }

    /// Number of pending timers: inserted, not yet fired, not removed.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `instant` in ticks since the origin, rounded up; 0 before the origin, saturating at
    /// `u64::MAX`.
    fn tick_for(&self, instant: Instant) -> u64 {
        // In u64 (no 128-bit division: this runs every loop turn); whole seconds saturate
        // long before their milliseconds could overflow.
        instant
            .checked_duration_since(self.origin)
            .map_or(0, |since| {
                since
                    .as_secs()
                    .saturating_mul(MILLIS_PER_SEC)
                    .saturating_add(u64::from(since.subsec_nanos().div_ceil(NANOS_PER_TICK)))
            })
    }

    /// The index of the entry `key` names, if the key is not stale.
    fn live(&self, key: TimerKey) -> Option<u32> {
        let entry = self.entries.get(key.index as usize)?;
        let live =
            entry.generation == key.generation && !matches!(entry.state, State::Vacant { .. });
        live.then_some(key.index)
    }

    /// The next slot (or the overflow list) that time reaching `at` must cascade, with `at`;
    /// `None` when the levels and the overflow list are empty.
    ///
    /// The lowest occupied level holds the earliest timers: a level-`l` timer shares with
    /// `elapsed` every tick bit above level `l`, and its slot is after `elapsed`'s slot in that
    /// level, which lower levels fill.
    fn next_expiration(&mut self) -> Option<(ListId, u64)> {
        for (level, &occupied) in self.occupied.iter().enumerate() {
            if occupied == 0 {
                continue;
            }
            let shift = LEVEL_BITS * level as u32;
            let current = (self.elapsed >> shift) as u32 & (SLOTS as u32 - 1);
            let slot = (current + occupied.rotate_right(current).trailing_zeros()) as usize % SLOTS;
            let level_start = self.elapsed & !((1u64 << (shift + LEVEL_BITS)) - 1);
            let at = level_start + ((slot as u64) << shift);
            debug_assert!(
                at > self.elapsed,
                "level {level} slot {slot} at {at} is behind"
            );
            return Some((ListId::slot(level, slot), at));
        }
        if self.lists[ListId::OVERFLOW.index()].head == NIL {
            return None;
        }
        // Jump straight to the epoch of the earliest overflow timer: stepping epoch by epoch
        // would take 2^28 steps to reach an `Instant` 500 million years away.
        self.ensure_sorted(ListId::OVERFLOW);
        let earliest = self.entries[self.lists[ListId::OVERFLOW.index()].head as usize].tick;
        Some((ListId::OVERFLOW, earliest & !((1u64 << EPOCH_BITS) - 1)))
    }

    /// Files `index` by its tick relative to `elapsed`: due list, a slot, or overflow.
    fn place(&mut self, index: u32) {
        let tick = self.entries[index as usize].tick;
        let list = if tick <= self.elapsed {
            ListId::DUE
        } else {
            let level = level_for(self.elapsed, tick);
            if level < LEVELS {
                let slot = (tick >> (LEVEL_BITS * level as u32)) as usize % SLOTS;
                ListId::slot(level, slot)
            } else {
                ListId::OVERFLOW
            }
        };
        self.push(list, index);
    }

    /// Empties `list` (whose time `elapsed` has reached) and files each of its timers again,
    /// into a lower level or the due list.
    fn cascade(&mut self, list: ListId) {
        let mut index = mem::replace(&mut self.lists[list.index()], List::EMPTY).head;
        if let Some((level, slot)) = list.level_slot() {
            self.occupied[level] &= !(1 << slot);
        }
        while index != NIL {
            let next = self.entries[index as usize].next;
            self.place(index);
            index = next;
        }
    }

    /// Fires every due timer whose exact deadline is `<= now`, its waker into `wakers`;
    /// returns how many.
    fn fire_due(&mut self, now: Instant, wakers: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        let mut index = self.lists[ListId::DUE.index()].head;
        while index != NIL {
            let entry = &self.entries[index as usize];
            let next = entry.next;
            if entry.deadline <= now {
                self.unlink(index);
                self.len -= 1;
                fired += 1;
                match mem::replace(&mut self.entries[index as usize].state, State::Fired) {
                    State::Pending { waker } => wakers.push(waker),
                    state => unreachable!("due list holds entry {index}, found {state:?}"),
                }
            }
            index = next;
        }
        fired
    }

    /// Links `index` into `list`, keeping a sorted list sorted when that is cheap.
    fn push(&mut self, list: ListId, index: u32) {
        let tick = self.entries[index as usize].tick;
        let List { head, tail, sorted } = self.lists[list.index()];
        if let Some((level, slot)) = list.level_slot() {
            self.occupied[level] |= 1 << slot;
        }
        let after = if tail == NIL {
            NIL
        } else if !sorted || self.entries[tail as usize].tick <= tick {
            tail
        } else if tick < self.entries[head as usize].tick {
            NIL
        } else {
            // head.tick <= tick < tail.tick: step back from the tail to the last entry with a
            // tick <= `tick`, which exists (at worst the head), unless it is too far.
            let mut at = self.entries[tail as usize].prev;
            let mut steps = 1;
            loop {
                if self.entries[at as usize].tick <= tick {
                    break at;
                }
                if steps == SORTED_WALK_LIMIT {
                    self.lists[list.index()].sorted = false;
                    break tail;
                }
                at = self.entries[at as usize].prev;
                steps += 1;
            }
        };
        self.link_after(list, index, after);
    }

    /// Links `index` into `list` right after `after`, or at the front when `after` is `NIL`.
    fn link_after(&mut self, list: ListId, index: u32, after: u32) {
        let next = if after == NIL {
            mem::replace(&mut self.lists[list.index()].head, index)
        } else {
            mem::replace(&mut self.entries[after as usize].next, index)
        };
        if next == NIL {
            self.lists[list.index()].tail = index;
        } else {
            self.entries[next as usize].prev = index;
        }
        let entry = &mut self.entries[index as usize];
        entry.list = list;
        entry.prev = after;
        entry.next = next;
    }

    /// Unlinks the pending entry `index` from its list.
    fn unlink(&mut self, index: u32) {
        let Entry {
            prev, next, list, ..
        } = self.entries[index as usize];
        if prev == NIL {
            self.lists[list.index()].head = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[list.index()].tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        if self.lists[list.index()].head == NIL {
            self.lists[list.index()] = List::EMPTY;
            if let Some((level, slot)) = list.level_slot() {
                self.occupied[level] &= !(1 << slot);
            }
        }
    }

    /// Sorts `list` by tick if an out-of-order insert left it unsorted. O(n log n) once.
    fn ensure_sorted(&mut self, list: ListId) {
        let List { head, sorted, .. } = self.lists[list.index()];
        if sorted {
            return;
        }
        self.scratch.clear();
        let mut index = head;
        while index != NIL {
            self.scratch.push(index);
            index = self.entries[index as usize].next;
        }
        let entries = &mut self.entries;
        self.scratch
            .sort_unstable_by_key(|&index| entries[index as usize].tick);
        let mut prev = NIL;
        for &index in &self.scratch {
            entries[index as usize].prev = prev;
            if prev != NIL {
                entries[prev as usize].next = index;
            }
            prev = index;
        }
        entries[prev as usize].next = NIL;
        self.lists[list.index()] = List {
            head: self.scratch[0],
            tail: prev,
            sorted: true,
        };
    }
}

/// The level for a timer at `tick` when the wheel is at `elapsed` (`tick > elapsed`): the level
/// of the highest bit in which they differ. `LEVELS` or more means the overflow list.
fn level_for(elapsed: u64, tick: u64) -> usize {
    // The low bits are set so that level 0 comes out for ticks in `elapsed`'s level-0 range.
    let masked = (elapsed ^ tick) | (SLOTS as u64 - 1);
    let significant = u64::BITS - 1 - masked.leading_zeros();
    (significant / LEVEL_BITS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// Waker target counting its wake-ups.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Counter {
        /// Wake-ups so far.
        fn count(&self) -> usize {
            self.0.load(Ordering::Relaxed)
        }
    }

    /// A fresh counter and a waker that bumps it.
    fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    /// Small deterministic generator (Knuth's MMIX LCG), high bits only.
    struct Lcg(u64);

    impl Lcg {
        /// Next value, 31 bits.
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        /// Value in `0..bound`.
        fn below(&mut self, bound: u64) -> u64 {
            (self.next() << 31 | self.next()) % bound
        }
    }

    /// `at` rounded up to whole milliseconds after `origin`, as `next_deadline` reports it.
    fn ceil_ms(origin: Instant, at: Instant) -> Instant {
        let nanos = at.duration_since(origin).as_nanos().div_ceil(1_000_000);
        origin + Duration::from_millis(u64::try_from(nanos).unwrap())
    }

    const MS: Duration = Duration::from_millis(1);
    const DAY: Duration = Duration::from_secs(86_400);

    /// A timer tracked by the property test.
    struct Tracked {
        key: TimerKey,
        deadline: Instant,
        counter: Arc<Counter>,
        /// A `process` call has already reported this timer fired.
        seen_fired: bool,
    }

    #[test]
    fn never_early_fires_once_at_first_process_at_or_after_deadline() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        let mut rng = Lcg(0x5eed);
        let mut live: Vec<Tracked> = Vec::new();
        let mut now = origin;
        for step in 0..4000 {
            // Insert a few timers at distances that hit every level, the past and the present.
            for _ in 0..rng.below(4) {
                let deadline = match rng.below(8) {
                    0 => now
                        .checked_sub(Duration::from_micros(rng.below(5_000_000)))
                        .unwrap_or(now)
                        .max(origin),
                    1 => now + Duration::from_micros(rng.below(1_000)),
                    2 => now + Duration::from_micros(rng.below(64_000)),
                    3 => now + Duration::from_micros(rng.below(4_096_000)),
                    4 => now + Duration::from_micros(rng.below(262_144_000)),
                    5 => now + Duration::from_micros(rng.below(16_777_216_000)),
                    6 => now + Duration::from_millis(rng.below(3_000)),
                    _ => now,
                };
                let (counter, waker) = counting_waker();
                let key = wheel.insert(deadline, waker);
                live.push(Tracked {
                    key,
                    deadline,
                    counter,
                    seen_fired: false,
                });
            }
            // Occasionally cancel a timer, fired or not.
            if !live.is_empty() && rng.below(5) == 0 {
                let gone = live.swap_remove(rng.below(live.len() as u64) as usize);
                wheel.remove(gone.key);
            }
            // next_deadline: never before the earliest pending deadline, at most 1 ms after.
            let earliest = live
                .iter()
                .filter(|timer| timer.counter.count() == 0)
                .map(|timer| timer.deadline)
                .min();
            match (wheel.next_deadline(), earliest) {
                (None, None) => {}
                (Some(next), Some(earliest)) => {
                    assert!(
                        next >= earliest,
                        "step {step}: next_deadline before the earliest"
                    );
                    assert!(
                        next <= earliest + MS,
                        "step {step}: next_deadline over 1 ms late"
                    );
                }
                other => panic!("step {step}: next_deadline/earliest mismatch {other:?}"),
            }
            // Advance: mostly small or sub-millisecond steps, sometimes a jump of hours.
            now += match rng.below(100) {
                0 => Duration::from_millis(rng.below(7_200_000)),
                1..=10 => Duration::ZERO,
                11..=40 => Duration::from_micros(rng.below(1_000)),
                41..=80 => Duration::from_micros(rng.below(10_000)),
                _ => Duration::from_millis(rng.below(200)),
            };
            let fired = wheel.process(now);
            let mut newly = 0;
            for timer in &mut live {
                let count = timer.counter.count();
                if timer.deadline <= now {
                    // Unfired at the previous step's checks, so it fired at the first process
                    // at or after its deadline: this one, or an earlier one already counted.
                    assert_eq!(count, 1, "step {step}: due timer fired {count} times");
                    assert!(wheel.is_fired(timer.key), "step {step}");
                    newly += usize::from(!mem::replace(&mut timer.seen_fired, true));
                } else {
                    assert_eq!(count, 0, "step {step}: timer fired before its deadline");
                    assert!(!wheel.is_fired(timer.key), "step {step}");
                }
            }
            assert_eq!(fired, newly, "step {step}: process returned a wrong count");
            assert_eq!(
                wheel.len(),
                live.iter().filter(|timer| !timer.seen_fired).count()
            );
            // Drop some fired timers so that entries get reused.
            live.retain(|timer| {
                let keep = !timer.seen_fired || rng.below(2) == 0;
                if !keep {
                    wheel.remove(timer.key);
                }
                keep
            });
        }
        // Everything fires eventually, once.
        now += 400 * DAY;
        wheel.process(now);
        assert!(live.iter().all(|timer| timer.counter.count() == 1));
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn sub_millisecond_deadline_fires_at_first_process_after_it() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        let (counter, waker) = counting_waker();
        let deadline = origin + Duration::from_micros(1_400);
        let key = wheel.insert(deadline, waker);
        assert_eq!(wheel.next_deadline(), Some(origin + 2 * MS));
        assert_eq!(wheel.process(origin + Duration::from_micros(1_300)), 0);
        assert_eq!(wheel.process(origin + Duration::from_micros(1_399)), 0);
        assert_eq!(counter.count(), 0);
        assert_eq!(wheel.process(deadline), 1);
        assert_eq!(counter.count(), 1);
        assert!(wheel.is_fired(key));
        assert_eq!(wheel.process(origin + 5 * MS), 0);
        assert_eq!(counter.count(), 1);
    }

    #[test]
    fn stale_key_is_harmless_and_does_not_touch_reused_slot() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        let (first, waker) = counting_waker();
        let stale = wheel.insert(origin + 10 * MS, waker);
        wheel.remove(stale);
        assert_eq!(wheel.len(), 0);

        let (second, waker) = counting_waker();
        let key = wheel.insert(origin + 20 * MS, waker);
        assert_eq!(key.index, stale.index, "the freed entry is reused");
        assert_ne!(key, stale);

        wheel.remove(stale);
        let (other, other_waker) = counting_waker();
        wheel.set_waker(stale, &other_waker);
        assert_eq!(wheel.len(), 1);
        assert!(!wheel.is_fired(stale));

        assert_eq!(wheel.process(origin + 20 * MS), 1);
        assert_eq!((first.count(), second.count(), other.count()), (0, 1, 0));
        assert!(wheel.is_fired(key));
        assert!(!wheel.is_fired(stale));

        wheel.remove(stale);
        assert!(
            wheel.is_fired(key),
            "a stale remove must not free the reused entry"
        );
        wheel.remove(key);
        assert!(!wheel.is_fired(key));
        wheel.remove(key);
        assert_eq!(wheel.len(), 0);

        // A timer removed before its deadline never fires.
        let (third, waker) = counting_waker();
        let key = wheel.insert(origin + 30 * MS, waker);
        wheel.remove(key);
        assert_eq!(wheel.process(origin + 40 * MS), 0);
        assert_eq!(third.count(), 0);
        // A key past the end of the slab is stale too.
        wheel.remove(TimerKey {
            index: 1_000,
            generation: 0,
        });
        assert!(!wheel.is_fired(TimerKey {
            index: 1_000,
            generation: 0
        }));
    }

    #[test]
    fn fired_timer_stays_until_removed_and_set_waker_clones_only_when_needed() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        let (first, first_waker) = counting_waker();
        let key = wheel.insert(origin + 5 * MS, first_waker.clone());
        assert_eq!(Arc::strong_count(&first), 3);
        wheel.set_waker(key, &first_waker);
        assert_eq!(Arc::strong_count(&first), 3, "same waker: no clone");

        let (second, second_waker) = counting_waker();
        wheel.set_waker(key, &second_waker);
        assert_eq!(Arc::strong_count(&first), 2, "old waker dropped");
        assert_eq!(Arc::strong_count(&second), 3, "new waker cloned");

        assert_eq!(wheel.process(origin + 5 * MS), 1);
        assert_eq!((first.count(), second.count()), (0, 1));
        assert_eq!(wheel.len(), 0);
        assert!(wheel.is_fired(key));
        assert_eq!(Arc::strong_count(&second), 2, "waker consumed when fired");
        wheel.set_waker(key, &first_waker);
        assert_eq!(
            Arc::strong_count(&first),
            2,
            "no waker stored for a fired timer"
        );

        wheel.remove(key);
        assert!(!wheel.is_fired(key));
        let (_third, waker) = counting_waker();
        let reused = wheel.insert(origin + 6 * MS, waker);
        assert_eq!(
            reused.index, key.index,
            "removing a fired timer frees its entry"
        );
    }

    #[test]
    fn next_deadline_is_exact_tick_across_levels() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        assert_eq!(wheel.next_deadline(), None);
        // One deadline per level and one beyond the top level, inserted out of order.
        let offsets = [
            DAY * 100 + Duration::from_micros(17),              // level 5
            Duration::from_micros(5_300),                       // level 0
            DAY * 900,                                          // overflow
            Duration::from_secs(70) + Duration::from_micros(1), // level 2
            Duration::from_millis(700) + Duration::from_micros(999), // level 1
            DAY * 3,                                            // level 4
            Duration::from_secs(3_000) + Duration::from_micros(500), // level 3
        ];
        let mut timers: Vec<(Instant, TimerKey)> = offsets
            .iter()
            .map(|&offset| {
                (
                    origin + offset,
                    wheel.insert(origin + offset, counting_waker().1),
                )
            })
            .collect();
        timers.sort_by_key(|&(deadline, _)| deadline);
        // Removing the earliest one by one exposes each level's earliest slot in turn.
        for (i, &(deadline, key)) in timers.iter().enumerate() {
            assert_eq!(
                wheel.next_deadline(),
                Some(ceil_ms(origin, deadline)),
                "timer {i}"
            );
            wheel.remove(key);
        }
        assert_eq!(wheel.next_deadline(), None);

        // Again, this time letting time pass so that slots cascade between queries.
        let mut timers: Vec<(Instant, TimerKey)> = offsets
            .iter()
            .map(|&offset| {
                (
                    origin + offset,
                    wheel.insert(origin + offset, counting_waker().1),
                )
            })
            .collect();
        timers.sort_by_key(|&(deadline, _)| deadline);
        for (i, &(deadline, key)) in timers.iter().enumerate() {
            assert_eq!(
                wheel.next_deadline(),
                Some(ceil_ms(origin, deadline)),
                "timer {i}"
            );
            assert_eq!(
                wheel.process(deadline - Duration::from_nanos(1)),
                0,
                "timer {i}"
            );
            assert_eq!(
                wheel.next_deadline(),
                Some(ceil_ms(origin, deadline)),
                "timer {i}"
            );
            assert_eq!(wheel.process(deadline), 1, "timer {i}");
            assert!(wheel.is_fired(key));
        }
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn next_deadline_exact_within_one_slot_filled_out_of_order() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        let mut rng = Lcg(7);
        // 500 deadlines scattered over one level-2 slot (4096..8192 ms), in random order.
        let mut timers: Vec<(Instant, TimerKey)> = (0..500)
            .map(|_| {
                let deadline = origin + Duration::from_micros(4_096_000 + rng.below(4_096_000));
                (deadline, wheel.insert(deadline, counting_waker().1))
            })
            .collect();
        while !timers.is_empty() {
            let earliest = timers.iter().map(|&(deadline, _)| deadline).min().unwrap();
            assert_eq!(wheel.next_deadline(), Some(ceil_ms(origin, earliest)));
            // Remove the earliest, or sometimes another one, or add one more out of order.
            let victim = match rng.below(4) {
                0 => rng.below(timers.len() as u64) as usize,
                1 => {
                    let deadline = origin + Duration::from_micros(4_096_000 + rng.below(4_096_000));
                    timers.push((deadline, wheel.insert(deadline, counting_waker().1)));
                    continue;
                }
                _ => timers
                    .iter()
                    .position(|&(deadline, _)| deadline == earliest)
                    .unwrap(),
            };
            wheel.remove(timers.swap_remove(victim).1);
        }
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn insert_then_remove_100k() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        let mut rng = Lcg(42);
        let (counter, waker) = counting_waker();
        let keys: Vec<TimerKey> = (0..100_000)
            .map(|_| {
                let offset = Duration::from_micros(rng.below(30 * 86_400_000_000));
                wheel.insert(origin + offset, waker.clone())
            })
            .collect();
        assert_eq!(wheel.len(), 100_000);
        for &key in &keys {
            wheel.remove(key);
        }
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.next_deadline(), None);
        assert!(wheel.occupied.iter().all(|&bits| bits == 0));
        // The freed entries are reused: no growth of the slab.
        for _ in 0..100_000 {
            let key = wheel.insert(
                origin + Duration::from_millis(rng.below(1_000_000)),
                waker.clone(),
            );
            wheel.remove(key);
        }
        assert_eq!(wheel.entries.len(), 100_000);
        assert_eq!(wheel.process(origin + 40 * DAY), 0);
        assert_eq!(counter.count(), 0);
    }

    #[test]
    fn far_future_deadline_fires_on_time() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        // Beyond the levels' 2^36 ms (~795 days): starts in the overflow list.
        let deadline = origin + DAY * 1_000 + Duration::from_micros(250);
        let (counter, waker) = counting_waker();
        let key = wheel.insert(deadline, waker);
        let (near, near_waker) = counting_waker();
        wheel.insert(origin + 10 * MS, near_waker);
        assert_eq!(wheel.process(origin + 10 * MS), 1);
        assert_eq!(near.count(), 1);
        assert_eq!(wheel.next_deadline(), Some(ceil_ms(origin, deadline)));
        // Step a day at a time, through the epoch boundary.
        let mut now = origin;
        while now + DAY < deadline {
            now += DAY;
            assert_eq!(wheel.process(now), 0);
            assert_eq!(wheel.next_deadline(), Some(ceil_ms(origin, deadline)));
        }
        assert_eq!(wheel.process(deadline - Duration::from_micros(1)), 0);
        assert_eq!(counter.count(), 0);
        assert_eq!(wheel.process(deadline), 1);
        assert!(wheel.is_fired(key));

        // The same deadline reached in a single jump.
        let mut wheel = TimerWheel::new(origin);
        let (counter, waker) = counting_waker();
        wheel.insert(deadline, waker);
        assert_eq!(wheel.process(deadline - MS), 0);
        assert_eq!(wheel.process(deadline), 1);
        assert_eq!(counter.count(), 1);
    }

    #[test]
    fn absurdly_far_instant_is_never_early() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        // ~146 billion years: past u64::MAX milliseconds, so the tick saturates.
        let Some(deadline) = origin.checked_add(Duration::from_secs(1 << 62)) else {
            return;
        };
        let (counter, waker) = counting_waker();
        let key = wheel.insert(deadline, waker);
        let (near, near_waker) = counting_waker();
        wheel.insert(origin + DAY, near_waker);
        assert_eq!(wheel.next_deadline(), Some(origin + DAY));
        assert_eq!(wheel.process(origin + DAY), 1);
        assert_eq!(near.count(), 1);
        assert!(wheel.next_deadline().unwrap() >= deadline);
        assert_eq!(wheel.process(origin + DAY * 365 * 10_000), 0);
        assert_eq!(wheel.process(deadline - Duration::from_nanos(1)), 0);
        assert_eq!(counter.count(), 0);
        assert_eq!(wheel.process(deadline), 1);
        assert!(wheel.is_fired(key));
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn past_deadline_fires_on_next_process() {
        let origin = Instant::now();
        let mut wheel = TimerWheel::new(origin);
        let now = origin + Duration::from_secs(10);
        assert_eq!(wheel.process(now), 0);
        let (counter, waker) = counting_waker();
        let past = wheel.insert(origin + Duration::from_secs(5), waker.clone());
        let at_now = wheel.insert(now, waker.clone());
        let before_origin = origin
            .checked_sub(Duration::from_secs(1))
            .map(|at| wheel.insert(at, waker));
        assert!(wheel.next_deadline().unwrap() <= now);
        let expected = 2 + usize::from(before_origin.is_some());
        assert_eq!(wheel.process(now), expected);
        assert_eq!(counter.count(), expected);
        assert!(wheel.is_fired(past) && wheel.is_fired(at_now));
        assert_eq!(wheel.next_deadline(), None);
    }
}

//! The driver's side of one in-flight operation: [`OpState`] and its transitions.
//!
//! ```text
//!             push SQE                     CQE
//!   (new) ─────────► Submitted{waker} ──────► Completed{res, flags} ──poll──► output, slot freed
//!                         │ future dropped before CQE
//!                         ▼
//!               Abandoned{owned resources} ── (ASYNC_CANCEL sent) ── final CQE ──► slot freed,
//!                                                                                 resources dropped
//!   multishot: Submitted ── CQE(F_MORE) ──► Streaming{queued CQEs} … ── CQE(!F_MORE) ──► ended
//! ```
//!
//! Invariant: a slot is freed only by its final CQE (one without `IORING_CQE_F_MORE`), or by
//! the owner polling a `Completed`/ended state to take its result. Until then the kernel may
//! still write into the resources the slot keeps alive.

use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::waker_slot::set_waker;

/// Resources of an abandoned op, kept in its slot until the final CQE.
pub(crate) trait Abandoned {
    /// Sees a CQE that nobody will take.
    fn on_cqe(&mut self, cqe: Completion);
}

/// The owner of an op that no future awaits ([`crate::op::submit_shared`]): it shares the
/// op's memory with the slot, which holds one reference until the final CQE.
pub trait SharedCompletion {
    /// Sees each CQE of the op, in the loop's reap (the last one without `F_MORE`), or an
    /// error the driver made for an op whose deferred push failed. It must not block; it
    /// may wake tasks, drop buffers and submit again ([`crate::op::submit_shared`] pushes
    /// then when the reap is over).
    fn on_cqe(self: Rc<Self>, cqe: Completion);
}

/// What the slot of an op nobody awaits keeps until the final CQE.
pub(crate) enum Kept {
    /// An abandoned op's own resources (its future was dropped).
    Boxed(Box<dyn Abandoned>),
    /// A shared op's owner: the slot's reference keeps the op's memory alive.
    Shared(Rc<dyn SharedCompletion>),
}

impl Kept {
    fn on_cqe(&mut self, cqe: Completion) {
        match self {
            Kept::Boxed(resources) => resources.on_cqe(cqe),
            Kept::Shared(owner) => Rc::clone(owner).on_cqe(cqe),
        }
    }

    /// The op's final CQE: the kernel is done with what was kept, which sees the CQE and is
    /// dropped. Called once the slot no longer holds it, so a panic in the callback or in a
    /// drop (user code) leaves no slot awaiting a CQE that will never come.
    pub(crate) fn finish(mut self, cqe: Completion) {
        self.on_cqe(cqe);
    }
}

/// A completion as the kernel reported it: the CQE itself (`res()`, `flags()`, `result()`,
/// `more()`, `buffer_id()`, …). Ops see it as the driver reaped it.
pub type Completion = uring_sys::Cqe;

/// Where an operation stands, as the driver sees it.
pub(crate) enum OpState {
    /// The SQE is pushed; the waker is that of the task that polled last (None before).
    /// `quiet_if`: a final CQE with exactly this result wakes nobody (see [`OpState::poll`]).
    Submitted {
        waker: Option<Waker>,
        quiet_if: Option<i32>,
    },
    /// The final CQE arrived; the owner takes it on its next poll.
    Completed(Completion),
    /// The owner dropped its future: the slot keeps what the kernel may still touch until the
    /// final CQE. Each CQE (final or not) is shown to the resources, e.g. to close an fd the
    /// kernel created for nobody.
    Abandoned(Kept),
    /// A multishot op: CQEs queue here until the owner takes them; `ended` once the final one
    /// (without `F_MORE`) is queued.
    /// Boxed so that the common states keep slots small (one allocation per multishot op).
    Streaming(Box<Stream>),
}

/// The queue of a multishot op (or of a single-shot op answered with `F_MORE`).
pub(crate) struct Stream {
    waker: Option<Waker>,
    queue: VecDeque<Completion>,
    ended: bool,
}

impl Stream {
    fn new(first: Option<Completion>, ended: bool) -> Box<Stream> {
        Box::new(Stream {
            waker: None,
            queue: first.into_iter().collect(),
            ended,
        })
    }
}

impl std::fmt::Debug for OpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpState::Submitted { .. } => f.write_str("Submitted"),
            OpState::Completed(c) => write!(f, "Completed({c:?})"),
            OpState::Abandoned(_) => f.write_str("Abandoned"),
            OpState::Streaming(s) => {
                write!(f, "Streaming(queued {}, ended {})", s.queue.len(), s.ended)
            }
        }
    }
}

/// A placeholder completion for a slot about to be freed.
const NO_CQE: Completion = Completion::new(0, 0, 0);

/// What the driver must do after a CQE was applied to a slot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterCqe {
    /// Keep the slot: the owner will take the result, or more CQEs follow.
    Keep,
    /// Free the slot: the op is over and nobody waits for it.
    Free,
}

impl OpState {
    /// Applies one CQE. Single-shot ops complete; multishot ops stream; abandoned ops show
    /// the CQE to their resources and end on the final one. Returns the waker to wake: the
    /// driver wakes it once the whole batch is reaped, skipping repeats of the same task.
    #[inline]
    pub(crate) fn on_cqe(&mut self, cqe: Completion) -> (AfterCqe, Option<Waker>) {
        let more = cqe.more();
        if let OpState::Abandoned(resources) = self {
            if more {
                // Shown in place: if the callback panics, the resources stay in the slot
                // (the kernel may still use them) rather than being dropped by the unwind.
                resources.on_cqe(cqe);
                return (AfterCqe::Keep, None);
            }
            // The final CQE (the driver's reap frees the slot first: see `ends_abandoned`).
            if let OpState::Abandoned(kept) = std::mem::replace(self, OpState::Completed(cqe)) {
                kept.finish(cqe);
            }
            return (AfterCqe::Free, None);
        }
        match std::mem::replace(self, OpState::Completed(cqe)) {
            OpState::Submitted { waker, quiet_if } if !more => {
                if quiet_if == Some(cqe.res()) {
                    (AfterCqe::Keep, None)
                } else {
                    (AfterCqe::Keep, waker)
                }
            }
            OpState::Submitted { waker, .. } => {
                *self = OpState::Streaming(Stream::new(Some(cqe), false));
                (AfterCqe::Keep, waker)
            }
            OpState::Streaming(mut stream) => {
                debug_assert!(!stream.ended, "CQE after the final one of a multishot op");
                stream.queue.push_back(cqe);
                stream.ended = !more;
                let waker = stream.waker.take();
                *self = OpState::Streaming(stream);
                (AfterCqe::Keep, waker)
            }
            OpState::Abandoned(_) => unreachable!("handled above"),
            state @ OpState::Completed(_) => {
                unreachable!("CQE {cqe:?} for a completed op, found {state:?}")
            }
        }
    }

    /// The owner polls a single-shot op: the completion, or Pending with the waker stored.
    /// While Pending, a final CQE whose result is `quiet_if` will not wake the waker (the
    /// owner does not wait for the op and collects it at a later poll); any other result,
    /// and every CQE of a multishot or `F_MORE` op, wakes it.
    #[inline]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, quiet_if: Option<i32>) -> Poll<Completion> {
        match self {
            OpState::Completed(c) => Poll::Ready(*c),
            OpState::Submitted { waker, quiet_if: q } => {
                set_waker(waker, cx);
                *q = quiet_if;
                Poll::Pending
            }
            // A single-shot op that the kernel answered with F_MORE (e.g. a zero-copy send:
            // result, then notification): the result is the first CQE, the op ends with the
            // last; report the first once the last arrived so the buffer is free.
            OpState::Streaming(s) if s.ended => Poll::Ready(s.queue[0]),
            OpState::Streaming(s) => {
                set_waker(&mut s.waker, cx);
                Poll::Pending
            }
            OpState::Abandoned(_) => unreachable!("owner polled an abandoned op"),
        }
    }

    /// The owner polls a multishot op: the next queued CQE, `None` once the final one was
    /// taken, or Pending.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        match self {
            OpState::Streaming(s) => match s.queue.pop_front() {
                Some(c) => Poll::Ready(Some(c)),
                None if s.ended => Poll::Ready(None),
                None => {
                    set_waker(&mut s.waker, cx);
                    Poll::Pending
                }
            },
            // A multishot op whose first CQE was already final (e.g. an error at arming).
            OpState::Completed(c) => {
                let c = *c;
                *self = OpState::Streaming(Stream::new(None, true));
                Poll::Ready(Some(c))
            }
            OpState::Submitted { waker, .. } => {
                set_waker(waker, cx);
                Poll::Pending
            }
            OpState::Abandoned(_) => unreachable!("owner polled an abandoned op"),
        }
    }

    /// Whether the owner's [`OpState::poll_next`] would be ready now (an item or the end
    /// waits), without polling it.
    pub(crate) fn has_next(&self) -> bool {
        match self {
            OpState::Streaming(s) => !s.queue.is_empty() || s.ended,
            OpState::Completed(_) => true,
            OpState::Submitted { .. } | OpState::Abandoned(_) => false,
        }
    }

    /// Whether `cqe` is the final CQE of an abandoned (or shared) op: the slot is to be
    /// freed before what it kept sees the CQE ([`Kept::finish`]).
    #[inline]
    pub(crate) fn ends_abandoned(&self, cqe: &Completion) -> bool {
        !cqe.more() && matches!(self, OpState::Abandoned(_))
    }

    /// Whether the kernel may still post a CQE for this op, and so still use the memory its
    /// SQE points to. A completed op (its final CQE in, the owner not yet back for it) is
    /// the kernel's no more.
    pub(crate) fn awaits_cqe(&self) -> bool {
        match self {
            OpState::Submitted { .. } | OpState::Abandoned(_) => true,
            OpState::Streaming(s) => !s.ended,
            OpState::Completed(_) => false,
        }
    }

    /// The owner dropped its future. Returns whether the kernel is done with the slot
    /// ([`AfterCqe::Free`]), or keeps the resources until the final CQE. CQEs that arrived
    /// but were never taken are shown to the resources first (an accepted fd nobody will use
    /// gets closed, a provided buffer goes back).
    pub(crate) fn abandon(&mut self, resources: Kept) -> AfterCqe {
        // The resources go into the slot before any callback runs: if one panics, they stay
        // there (the kernel may still use them) instead of being dropped by the unwind.
        match std::mem::replace(self, OpState::Abandoned(resources)) {
            OpState::Submitted { .. } => AfterCqe::Keep,
            OpState::Streaming(s) => {
                for c in s.queue {
                    self.show_abandoned(c);
                }
                if s.ended {
                    *self = OpState::Completed(NO_CQE);
                    AfterCqe::Free
                } else {
                    AfterCqe::Keep
                }
            }
            OpState::Completed(c) => {
                self.show_abandoned(c);
                *self = OpState::Completed(c);
                AfterCqe::Free
            }
            OpState::Abandoned(_) => unreachable!("abandoned twice"),
        }
    }

    fn show_abandoned(&mut self, cqe: Completion) {
        if let OpState::Abandoned(resources) = self {
            resources.on_cqe(cqe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use uring_sys::abi::IORING_CQE_F_MORE;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Resources that record what they saw: an Rc witness tells when they are dropped.
    struct Witness(Rc<std::cell::RefCell<Vec<i32>>>);
    impl Abandoned for Witness {
        fn on_cqe(&mut self, cqe: Completion) {
            self.0.borrow_mut().push(cqe.res());
        }
    }

    fn cx_with(count: &Arc<Count>) -> Waker {
        Waker::from(count.clone())
    }

    #[test]
    fn single_shot_completes_and_wakes() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = cx_with(&count);
        let mut cx = Context::from_waker(&waker);
        let mut s = OpState::Submitted {
            waker: None,
            quiet_if: None,
        };
        assert!(s.poll(&mut cx, None).is_pending());
        let (after, waker) = s.on_cqe(Completion::new(0, 5, 0));
        assert_eq!(after, AfterCqe::Keep);
        waker
            .expect("the poller's waker comes back to be woken")
            .wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(s.poll(&mut cx, None), Poll::Ready(Completion::new(0, 5, 0)));
    }

    #[test]
    fn a_quiet_poll_gives_no_waker_for_the_expected_result_only() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = cx_with(&count);
        let mut cx = Context::from_waker(&waker);
        for (quiet_if, res, woken) in [(Some(5), 5, false), (Some(5), 3, true), (None, 5, true)] {
            let mut s = OpState::Submitted {
                waker: None,
                quiet_if: None,
            };
            assert!(s.poll(&mut cx, quiet_if).is_pending());
            let (after, waker) = s.on_cqe(Completion::new(0, res, 0));
            assert_eq!(after, AfterCqe::Keep);
            assert_eq!(
                waker.is_some(),
                woken,
                "quiet_if {quiet_if:?}, result {res}"
            );
            assert_eq!(
                s.poll(&mut cx, quiet_if),
                Poll::Ready(Completion::new(0, res, 0))
            );
        }
        // An F_MORE CQE (a zero-copy send's result) wakes even with the expected result.
        let mut s = OpState::Submitted {
            waker: None,
            quiet_if: None,
        };
        assert!(s.poll(&mut cx, Some(5)).is_pending());
        assert!(
            s.on_cqe(Completion::new(0, 5, IORING_CQE_F_MORE))
                .1
                .is_some()
        );
    }

    #[test]
    fn abandoned_resources_live_until_the_final_cqe() {
        let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut s = OpState::Submitted {
            waker: None,
            quiet_if: None,
        };
        assert_eq!(
            s.abandon(Kept::Boxed(Box::new(Witness(seen.clone())))),
            AfterCqe::Keep
        );
        assert_eq!(
            Rc::strong_count(&seen),
            2,
            "resources dropped before the CQE"
        );
        assert_eq!(
            s.on_cqe(Completion::new(0, 3, IORING_CQE_F_MORE)).0,
            AfterCqe::Keep
        );
        assert_eq!(Rc::strong_count(&seen), 2);
        assert_eq!(s.on_cqe(Completion::new(0, -125, 0)).0, AfterCqe::Free);
        assert_eq!(
            Rc::strong_count(&seen),
            1,
            "resources kept after the final CQE"
        );
        assert_eq!(*seen.borrow(), vec![3, -125]);
    }

    #[test]
    fn abandoning_a_completed_op_shows_it_the_result() {
        let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut s = OpState::Submitted {
            waker: None,
            quiet_if: None,
        };
        s.on_cqe(Completion::new(0, 9, 0));
        assert_eq!(
            s.abandon(Kept::Boxed(Box::new(Witness(seen.clone())))),
            AfterCqe::Free
        );
        assert_eq!(*seen.borrow(), vec![9]);
        assert_eq!(Rc::strong_count(&seen), 1);
    }

    #[test]
    fn multishot_queues_until_taken_and_ends_on_final() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = cx_with(&count);
        let mut cx = Context::from_waker(&waker);
        let mut s = OpState::Submitted {
            waker: None,
            quiet_if: None,
        };
        s.on_cqe(Completion::new(0, 1, IORING_CQE_F_MORE));
        s.on_cqe(Completion::new(0, 2, IORING_CQE_F_MORE));
        s.on_cqe(Completion::new(0, 3, 0));
        let got: Vec<_> = std::iter::from_fn(|| match s.poll_next(&mut cx) {
            Poll::Ready(Some(c)) => Some(c.res()),
            _ => None,
        })
        .collect();
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(s.poll_next(&mut cx), Poll::Ready(None));
    }
}

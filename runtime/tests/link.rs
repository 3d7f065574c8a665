//! Linked chains (`IOSQE_IO_LINK`/`IOSQE_IO_HARDLINK`): submitted together, run in order,
//! each op's result delivered; and fire-and-forget ops that post no CQE on success.

mod support;

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use runtime::op::{Op, link, link_hard};
use support::{Nop, Read, Timeout, pipe, write_all};

#[test]
fn linked_nops_both_complete_in_one_enter() {
    runtime::Runtime::new().unwrap().block_on(async {
        let before = runtime::metrics().unwrap();
        let (a, b) = link(Op::new(Nop), Op::new(Nop)).await;
        assert_eq!((a.unwrap(), b.unwrap()), (0, 0));
        let after = runtime::metrics().unwrap();
        assert_eq!(after.ops_submitted - before.ops_submitted, 2);
        assert_eq!(after.ops_in_flight, 0);
    });
}

#[test]
fn a_failed_first_op_cancels_the_linked_second() {
    runtime::Runtime::new().unwrap().block_on(async {
        // A kernel timeout "fails" with ETIME, which breaks a soft link.
        let (first, second) = link(
            Op::new(Timeout::new(Duration::from_millis(1))),
            Op::new(Nop),
        )
        .await;
        assert_eq!(first.unwrap_err().raw_os_error(), Some(libc::ETIME));
        assert_eq!(second.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    });
}

#[test]
fn a_hard_link_runs_the_second_op_whatever_the_first_returned() {
    runtime::Runtime::new().unwrap().block_on(async {
        let (first, second) = link_hard(
            Op::new(Timeout::new(Duration::from_millis(1))),
            Op::new(Nop),
        )
        .await;
        assert_eq!(first.unwrap_err().raw_os_error(), Some(libc::ETIME));
        assert_eq!(second.unwrap(), 0);
    });
}

#[test]
fn a_chain_runs_in_order_read_after_the_timeout() {
    runtime::Runtime::new().unwrap().block_on(async {
        let (rx, tx) = pipe();
        write_all(&tx, b"linked");
        let (t, (res, buf)) = link_hard(
            Op::new(Timeout::new(Duration::from_millis(2))),
            Op::new(Read::new(rx.clone(), Vec::with_capacity(16))),
        )
        .await;
        assert!(t.is_err());
        assert_eq!(res.unwrap(), 6);
        assert_eq!(&buf[..], b"linked");
    });
}

#[test]
fn a_dropped_chain_keeps_its_buffers_until_both_cqes() {
    runtime::Runtime::new().unwrap().block_on(async {
        let (rx, _tx) = pipe();
        let witness = Rc::new(());
        let buf = support::WitnessBuf::new(16, &witness);
        let mut chain = link(Op::new(Nop), Op::new(Read::new(rx.clone(), buf)));
        assert!(support::poll_once(&mut chain).await.is_none());
        drop(chain);
        assert_eq!(Rc::strong_count(&witness), 2, "buffer freed before its CQE");
        runtime::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            Rc::strong_count(&witness),
            1,
            "buffer kept after the cancel completed"
        );
        assert_eq!(runtime::metrics().unwrap().ops_in_flight, 0);
        let _ = rx.as_raw_fd();
    });
}

//! `runtime::signal`: a signal sent to the whole process reaches the signalfd read on the
//! ring, `ctrl_c` completes at SIGINT, and a dropped `recv` keeps the delivery it read.
//!
//! Its own `main` (no libtest harness): a process-directed signal goes to any thread that
//! does not block it, so the main thread blocks the signals before any other thread starts.

use std::time::Duration;

use runtime::Runtime;
use runtime::signal::{block, ctrl_c, signal};
use runtime::time::timeout;

fn raise_to_process(signum: i32) {
    // SAFETY: kill(2) with our own pid; the signals used are blocked in every thread.
    let rc = unsafe { libc::kill(libc::getpid(), signum) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

fn stream_receives_each_signal_sent_to_the_process(rt: &Runtime) {
    rt.block_on(async {
        let mut usr1 = signal(libc::SIGUSR1).unwrap();
        for _ in 0..3 {
            raise_to_process(libc::SIGUSR1);
            let got = timeout(Duration::from_secs(10), usr1.recv()).await;
            assert_eq!(got, Ok(Some(())), "SIGUSR1 did not arrive");
        }
        // Nothing more is pending.
        let more = timeout(Duration::from_millis(20), usr1.recv()).await;
        assert!(more.is_err(), "a fourth SIGUSR1 came from nowhere");
    });
}

fn ctrl_c_completes_at_sigint(rt: &Runtime) {
    rt.block_on(async {
        let stop = ctrl_c();
        raise_to_process(libc::SIGINT);
        timeout(Duration::from_secs(10), stop)
            .await
            .expect("ctrl_c did not complete")
            .unwrap();
    });
}

fn dropped_recv_keeps_the_delivery_it_read(rt: &Runtime) {
    rt.block_on(async {
        let mut usr2 = signal(libc::SIGUSR2).unwrap();
        // Start a read, let the signal arrive and the read complete in the kernel, then
        // drop the future without polling it again.
        {
            let recv = usr2.recv();
            let mut recv = std::pin::pin!(recv);
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            assert!(recv.as_mut().poll(&mut cx).is_pending());
            raise_to_process(libc::SIGUSR2);
            runtime::time::sleep(Duration::from_millis(20)).await;
        }
        let got = timeout(Duration::from_secs(10), usr2.recv()).await;
        assert_eq!(
            got,
            Ok(Some(())),
            "the delivery the dropped recv read was lost"
        );
    });
}

/// A test: its name and its body.
type Test = (&'static str, fn(&Runtime));

fn main() {
    for s in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGINT] {
        block(s).unwrap();
    }
    assert!(block(libc::SIGKILL).is_err());
    let rt = Runtime::new().unwrap();
    let tests: [Test; 3] = [
        (
            "stream_receives_each_signal_sent_to_the_process",
            stream_receives_each_signal_sent_to_the_process,
        ),
        ("ctrl_c_completes_at_sigint", ctrl_c_completes_at_sigint),
        (
            "dropped_recv_keeps_the_delivery_it_read",
            dropped_recv_keeps_the_delivery_it_read,
        ),
    ];
    for (name, test) in tests {
        test(&rt);
        println!("test {name} ... ok");
    }
}

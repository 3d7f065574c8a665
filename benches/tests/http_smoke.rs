//! The HTTP benchmark's smoke mode: every server, one at a time and pipelined, every
//! response verified; and a server answering the wrong body must make it fail.

use std::process::Command;

fn http(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_http"))
        .args(args)
        .output()
        .expect("run the http benchmark")
}

#[test]
fn smoke_passes_and_a_wrong_body_fails() {
    for depth in ["1", "4"] {
        let ok = http(&["--smoke", "--depth", depth]);
        let stdout = String::from_utf8_lossy(&ok.stdout);
        let stderr = String::from_utf8_lossy(&ok.stderr);
        assert!(
            ok.status.success(),
            "http --smoke failed ({}):\n{stdout}\n{stderr}",
            ok.status
        );
        for server in ["ours", "tokio-ct", "tokio-mt"] {
            assert!(stdout.contains(server), "no row for {server}:\n{stdout}");
        }
    }
    let bad = http(&[
        "--smoke",
        "--conns",
        "1",
        "--bodies",
        "hello",
        "--wrong-body",
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a wrong body went unnoticed:\n{stderr}"
    );
    assert!(stderr.contains("differs"), "{stderr}");
}

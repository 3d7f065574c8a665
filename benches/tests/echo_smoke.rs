//! The echo benchmark's smoke mode (what CI runs): every server, both generator engines,
//! ping-pong and pipelined, every echoed byte verified; and a deliberately faulty server
//! must make it fail loudly.

use std::process::Command;

fn echo(args: &[&str]) -> std::process::Output {
    let out = std::env::temp_dir().join(format!("echo-smoke-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_echo"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run the echo benchmark");
    let _ = std::fs::remove_dir_all(&out);
    output
}

#[test]
fn smoke_passes_and_a_wrong_echo_fails() {
    let ok = echo(&["--smoke"]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(
        ok.status.success(),
        "echo --smoke failed ({}):\n{stdout}\n{stderr}",
        ok.status
    );
    for server in ["epoll-lt", "epoll-et", "runtime", "runtime-rw", "tokio"] {
        assert!(stdout.contains(server), "no row for {server}:\n{stdout}");
    }
    assert!(stdout.contains("verified byte for byte"), "{stdout}");

    let bad = echo(&["--smoke", "--servers", "faulty"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a corrupted echo went unnoticed:\n{stderr}"
    );
    assert!(stderr.contains("ECHO VERIFICATION FAILED"), "{stderr}");
}

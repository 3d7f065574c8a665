//! The HTTP benchmark's smoke mode: every server, in HTTP/1.1 and HTTP/2, one request at a
//! time and several in flight per connection, every response verified; and a server
//! answering the wrong body must make it fail, in either version.

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
        let ok = http(&["--smoke", "--depth", depth, "--protos", "h1,h2"]);
        let stdout = String::from_utf8_lossy(&ok.stdout);
        let stderr = String::from_utf8_lossy(&ok.stderr);
        assert!(
            ok.status.success(),
            "http --smoke failed ({}):\n{stdout}\n{stderr}",
            ok.status
        );
        for proto in ["h1", "h2"] {
            for server in ["ours", "tokio-ct", "tokio-mt"] {
                assert!(
                    stdout
                        .lines()
                        .any(|l| l.trim_start().starts_with(proto) && l.contains(server)),
                    "no {proto} row for {server}:\n{stdout}"
                );
            }
        }
    }
    for proto in ["h1", "h2"] {
        let bad = http(&[
            "--smoke",
            "--protos",
            proto,
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
            "a wrong {proto} body went unnoticed:\n{stderr}"
        );
        assert!(stderr.contains("differs"), "{stderr}");
    }
}

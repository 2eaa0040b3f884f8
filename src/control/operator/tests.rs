//! The operator socket served by a small poll loop, with real clients.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdStream;

use super::*;

fn answer(req: &str) -> Result<serde_json::Value, String> {
    match req {
        "stats" => Ok(serde_json::json!({"forwarded": 42})),
        other => Err(format!("unknown request `{other}`")),
    }
}

fn ask(path: &Path, line: &[u8]) -> String {
    let mut conn = StdStream::connect(path).unwrap();
    conn.write_all(line).unwrap();
    // Done sending: a line without its newline then ends at the stream's end.
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut body = String::new();
    let _ = conn.read_to_string(&mut body);
    body
}

#[test]
fn one_line_in_one_json_document_out_and_bounded_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ops.sock");
    let mut socket = OperatorSocket::bind(&path).unwrap();
    let client = {
        let path = path.clone();
        std::thread::spawn(move || {
            [
                ask(&path, b"stats\n"),
                ask(&path, b"bogus\n"),
                ask(&path, &[b'x'; MAX_REQUEST + 10]),
            ]
        })
    };
    serve_connections(&mut socket, 3, &answer);
    let [stats, bogus, long] = client.join().unwrap();
    assert_eq!(stats.trim(), r#"{"ok":{"forwarded":42}}"#);
    assert!(bogus.contains("unknown request `bogus`"), "{bogus}");
    assert_eq!(long, "", "a request past the bound is closed unanswered");

    // A second daemon on the same socket is refused while the first lives.
    let second = OperatorSocket::bind(&path).err().unwrap();
    assert!(second.contains("in use"), "{second}");
    drop(socket);
    assert!(!path.exists(), "socket removed on drop");
    // A stale socket file (no listener) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let mut socket = OperatorSocket::bind(&path).unwrap();
    let client = std::thread::spawn(move || ask(&path, b"stats"));
    serve_connections(&mut socket, 1, &answer);
    assert!(
        client.join().unwrap().contains("42"),
        "a line without newline"
    );
}

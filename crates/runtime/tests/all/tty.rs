//! A container with a terminal, driven through the master of a real pty.

use std::time::Duration;

use boxwright_runtime::Container;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{busybox_rootfs, read_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sh_on_a_terminal_sees_its_tty_resizes_and_exits_with_its_code() {
    let root = busybox_rootfs();
    let mut child = Container::builder(root.path())
        .cmd(["sh"])
        .tty(true)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let mut pty = child.pty.take().expect("a pty");
    pty.resize(33, 101).unwrap();
    assert_eq!(pty.size().unwrap(), (33, 101));
    // Markers computed by the shell, so the terminal's echo of the input never matches them.
    pty.write_all(b"echo hi; tty; stty size; [ -t 0 ] && echo term$((6*7))\n")
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(&mut pty, &mut seen, "term42\r\n").await;
    // The terminal echoes the input line; the output lines follow, with \r\n.
    assert!(seen.contains("hi\r\n"), "{seen:?}");
    assert!(seen.contains("/dev/pts/0\r\n"), "{seen:?}");
    assert!(seen.contains("33 101\r\n"), "{seen:?}");
    pty.resize(40, 120).unwrap();
    pty.write_all(b"stty size; echo end$((6*7)); exit 3\n")
        .await
        .unwrap();
    read_until(&mut pty, &mut seen, "end42\r\n").await;
    assert!(seen.contains("40 120\r\n"), "{seen:?}");
    // Then EOF: the command exited and no one else holds the terminal.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), pty.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 3);
}

//! Watching an agent session's pane for a plugin (`live-sessions.watch`):
//! a tmux control-mode client of its own (`tmux -C attach -f
//! ignore-size`, so the phone never resizes the laptop's terminal), whose
//! lines [`control_mode::Reader`] turns into a snapshot (asked for once
//! tmux has attached the client), then output, then the end; a new
//! snapshot whenever the pane changes size.

use crate::session::control_mode::{self, Read};
use sinc_plugin_host::sessions::{Frame, Sink, StopWatching};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

/// Start watching session `id` (tmux's exact name) into `sink`.
pub fn watch(id: &str, scrollback: u32, sink: Sink) -> Result<StopWatching, String> {
    watch_with(Command::new("tmux"), id, scrollback, sink)
}

/// [`watch`] with `tmux` (a command for tmux, its environment set).
/// Returns once the first snapshot is on its way to `sink`, or with tmux's
/// complaint when it could not watch (no such session, a tmux older than
/// 3.2).
fn watch_with(mut tmux: Command, id: &str, scrollback: u32, mut sink: Sink) -> Result<StopWatching, String> {
    let target = format!("={id}");
    let mut child = tmux
        .args(["-u", "-C", "attach-session", "-f", "ignore-size", "-t", &target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running tmux: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("tmux has no input")?;
    let stdout = child.stdout.take().ok_or("tmux has no output")?;
    let mut stderr = child.stderr.take().ok_or("tmux has no error output")?;
    let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(Some(child)));
    let stopper = child.clone();
    let name = id.to_owned();
    let (started, first) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name(format!("watch {id}"))
        .spawn(move || {
            let mut reader = control_mode::Reader::new(&name);
            let mut lines = BufReader::new(stdout);
            let mut line = Vec::new();
            // Output read in one go is sent as one frame.
            let mut output: Vec<u8> = Vec::new();
            let mut snapshotted = false;
            loop {
                line.clear();
                if !matches!(lines.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    // tmux went: the session ended, or the watch was stopped.
                    if snapshotted {
                        if flush(&mut output, &mut sink) {
                            sink(Frame::Ended);
                        }
                    } else {
                        let mut why = String::new();
                        let _ = std::io::Read::read_to_string(&mut stderr, &mut why);
                        let why = why.trim();
                        let why = if why.is_empty() { "tmux ended before showing the session" } else { why };
                        let _ = started.send(Err(format!("watching {name}: {why}")));
                    }
                    break;
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                let keep_on = match reader.line(text) {
                    Read::Frame(Frame::Output(bytes)) => {
                        output.extend_from_slice(&bytes);
                        true
                    }
                    Read::Frame(frame) => {
                        let ended = frame == Frame::Ended;
                        let snapshot = matches!(frame, Frame::Snapshot { .. });
                        let sent = flush(&mut output, &mut sink) && sink(frame);
                        if snapshot && !snapshotted {
                            snapshotted = true;
                            let _ = started.send(Ok(()));
                        }
                        sent && !ended
                    }
                    Read::AskForSnapshot => {
                        stdin.write_all(control_mode::snapshot_commands(&name, scrollback).as_bytes()).is_ok()
                    }
                    Read::Nothing => true,
                };
                if !keep_on {
                    break;
                }
                if lines.buffer().is_empty() && !flush(&mut output, &mut sink) {
                    break;
                }
            }
            end(&child);
        })
        .map_err(|e| format!("watching {id}: {e}"))?;
    match first.recv_timeout(FIRST_SNAPSHOT) {
        Ok(Ok(())) => Ok(Box::new(move || end(&stopper))),
        Ok(Err(why)) => Err(why),
        Err(_) => {
            end(&stopper);
            Err(format!("watching {id}: tmux did not show the session within {}s", FIRST_SNAPSHOT.as_secs()))
        }
    }
}

/// Send the output gathered so far, if any; whether `sink` wants more.
fn flush(output: &mut Vec<u8>, sink: &mut Sink) -> bool {
    output.is_empty() || sink(Frame::Output(std::mem::take(output)))
}

/// How long the first snapshot may take.
const FIRST_SNAPSHOT: std::time::Duration = std::time::Duration::from_secs(10);

/// Stop the control client (detaching it; the session goes on).
fn end(child: &Mutex<Option<Child>>) {
    if let Some(mut child) = child.lock().unwrap_or_else(PoisonError::into_inner).take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn tmux(dir: &std::path::Path) -> Command {
        let mut c = Command::new("tmux");
        c.env("TMUX_TMPDIR", dir).env_remove("TMUX");
        c
    }

    /// A tmux server of the test's own, killed when the test ends, passed
    /// or failed (a counter left running would load the machine).
    struct Server(tempfile::TempDir);

    impl Server {
        fn new() -> Server {
            Server(tempfile::tempdir().unwrap())
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = tmux(self.0.path()).arg("kill-server").status();
        }
    }

    fn next(frames: &mpsc::Receiver<Frame>, what: &str, mut wanted: impl FnMut(&Frame) -> bool) -> Frame {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            let frame = frames.recv_timeout(left).unwrap_or_else(|_| panic!("no {what}"));
            if wanted(&frame) {
                return frame;
            }
        }
    }

    /// A real tmux: the first frame is the screen, typing comes as output,
    /// a resize brings a new snapshot, the session's end ends the watch.
    #[test]
    fn a_pane_is_watched_from_its_snapshot_to_its_end() {
        let server = Server::new();
        let dir = &server.0;
        let id = "sinc-watched-abc123";
        let started = tmux(dir.path())
            .args(["new-session", "-d", "-s", id, "-x", "80", "-y", "24", "printf 'hello there\\n'; exec cat"])
            .status()
            .unwrap();
        assert!(started.success());
        std::thread::sleep(Duration::from_millis(300));
        let (tx, frames) = mpsc::channel();
        let stop = watch_with(tmux(dir.path()), id, 100, Box::new(move |f| tx.send(f).is_ok())).unwrap();
        match next(&frames, "snapshot", |f| matches!(f, Frame::Snapshot { .. })) {
            Frame::Snapshot { cols, rows, text, .. } => {
                assert_eq!((cols, rows), (80, 24));
                assert!(text.contains("hello there"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        let send = |keys: &[&str]| {
            let mut args = vec!["send-keys", "-t", "=sinc-watched-abc123:"];
            args.extend(keys);
            assert!(tmux(dir.path()).args(&args).status().unwrap().success());
        };
        send(&["-l", "typed on the laptop"]);
        send(&["Enter"]);
        let mut seen = Vec::new();
        next(&frames, "the typed line", |f| {
            if let Frame::Output(bytes) = f {
                seen.extend_from_slice(bytes);
            }
            String::from_utf8_lossy(&seen).matches("typed on the laptop").count() == 2
        });
        assert!(
            tmux(dir.path())
                .args(["resize-window", "-t", "=sinc-watched-abc123:", "-x", "100", "-y", "30"])
                .status()
                .unwrap()
                .success()
        );
        next(&frames, "a new snapshot", |f| matches!(f, Frame::Snapshot { cols: 100, rows: 30, .. }));
        assert!(tmux(dir.path()).args(["kill-session", "-t", "=sinc-watched-abc123"]).status().unwrap().success());
        next(&frames, "the end", |f| *f == Frame::Ended);
        stop();
    }

    /// A counter printing as fast as it can: the snapshot and the output
    /// after it join without a missing or a repeated number.
    #[test]
    fn nothing_is_missed_or_repeated_between_the_snapshot_and_the_output() {
        let server = Server::new();
        let dir = &server.0;
        let id = "sinc-counter-abc123";
        let counter = "i=0; while :; do i=$((i+1)); echo $i; done";
        let started =
            tmux(dir.path()).args(["new-session", "-d", "-s", id, "-x", "40", "-y", "10", counter]).status().unwrap();
        assert!(started.success());
        std::thread::sleep(Duration::from_millis(200));
        for _ in 0..5 {
            let (tx, frames) = mpsc::channel();
            let stop = watch_with(tmux(dir.path()), id, 50, Box::new(move |f| tx.send(f).is_ok())).unwrap();
            let Frame::Snapshot { text, rows, y, .. } = next(&frames, "snapshot", |_| true) else {
                panic!("no snapshot first")
            };
            let mut output = Vec::new();
            let until = std::time::Instant::now() + Duration::from_millis(200);
            while let Ok(frame) = frames.recv_timeout(until.saturating_duration_since(std::time::Instant::now())) {
                if let Frame::Output(bytes) = frame {
                    output.extend(bytes);
                }
            }
            stop();
            // The screen up to the cursor's line (the text after it is
            // what comes next), then the output.
            let lines: Vec<&str> = text.split("\r\n").collect();
            let screen_top = lines.len().saturating_sub(usize::from(rows));
            let upto = &lines[..(screen_top + usize::from(y) + 1).min(lines.len())];
            let joined = format!("{}{}", upto.join("\n"), String::from_utf8_lossy(&output).replace("\r\n", "\n"));
            let numbers: Vec<u64> = joined.lines().filter_map(|l| l.trim().parse().ok()).collect();
            assert!(numbers.len() > 100, "too few numbers: {}", numbers.len());
            for pair in numbers.windows(2) {
                assert_eq!(pair[1], pair[0] + 1, "a gap or a repeat at {pair:?}");
            }
        }
    }
}

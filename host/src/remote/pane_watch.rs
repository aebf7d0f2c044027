//! Watching an agent session's pane for a plugin (`live-sessions.watch`):
//! a tmux control-mode client of its own (`tmux -C attach -f
//! ignore-size`, so the phone never resizes the laptop's terminal), whose
//! lines [`control_mode::Reader`] turns into a snapshot, then output, then
//! the end; a new snapshot whenever the pane changes size.

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
fn watch_with(mut tmux: Command, id: &str, scrollback: u32, mut sink: Sink) -> Result<StopWatching, String> {
    let target = format!("={id}");
    let mut child = tmux
        .args(["-u", "-C", "attach-session", "-f", "ignore-size", "-t", &target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("running tmux: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("tmux has no input")?;
    let stdout = child.stdout.take().ok_or("tmux has no output")?;
    let commands = control_mode::snapshot_commands(id, scrollback);
    stdin.write_all(commands.as_bytes()).map_err(|e| format!("asking tmux for the screen: {e}"))?;
    let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(Some(child)));
    let stopper = child.clone();
    let name = id.to_owned();
    std::thread::Builder::new()
        .name(format!("watch {id}"))
        .spawn(move || {
            let mut reader = control_mode::Reader::new();
            let mut lines = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match lines.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => {
                        // tmux went: the session ended, or the watch was stopped.
                        sink(Frame::Ended);
                        break;
                    }
                    Ok(_) => {}
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                let keep_on = match reader.line(text) {
                    Read::Frame(frame) => {
                        let ended = frame == Frame::Ended;
                        sink(frame) && !ended
                    }
                    Read::Resized => {
                        reader.resnapshot();
                        stdin.write_all(control_mode::snapshot_commands(&name, scrollback).as_bytes()).is_ok()
                    }
                    Read::Nothing => true,
                };
                if !keep_on {
                    break;
                }
            }
            end(&child);
        })
        .map_err(|e| format!("watching {id}: {e}"))?;
    Ok(Box::new(move || end(&stopper)))
}

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
        let dir = tempfile::tempdir().unwrap();
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
        let _ = tmux(dir.path()).arg("kill-server").status();
    }
}

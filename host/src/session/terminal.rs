//! The local terminal during an attach: raw mode on, and restored on every way
//! out (normal return, error, panic, SIGTERM/SIGHUP handled by the caller).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static RAW: AtomicBool = AtomicBool::new(false);

/// Puts the terminal in raw mode for its lifetime.
#[derive(Debug)]
pub struct RawMode(());

impl RawMode {
    /// Enter raw mode. Fails when stdin is not a terminal.
    pub fn enter() -> std::io::Result<RawMode> {
        if !std::io::stdin().is_terminal() {
            return Err(std::io::Error::other("stdin is not a terminal"));
        }
        install_panic_hook();
        crossterm::terminal::enable_raw_mode()?;
        RAW.store(true, Ordering::SeqCst);
        Ok(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Leave raw mode if it is on (idempotent).
pub fn restore() {
    if RAW.swap(false, Ordering::SeqCst) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The terminal size, or 80×24 when unknown.
pub fn size() -> super::tmux::Size {
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    super::tmux::Size { cols, rows }
}

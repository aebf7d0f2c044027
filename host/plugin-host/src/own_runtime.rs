//! The Tokio runtime a running plugin's thread drives. Its ports are
//! served there, between the plugin's calls: a request reaches the plugin,
//! and its forward leaves, without waking another thread (each such hop
//! cost 15–40 µs on a 2-core VM, most of a proxy's added latency). A host
//! function that waits for I/O during a call (a request body not read
//! yet, a WebSocket opening) drives the same runtime, so the plugin's
//! other connections keep moving meanwhile.

use std::cell::RefCell;
use std::future::Future;
use tokio::runtime::{Handle, Runtime};

thread_local! {
    static OWN: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// A runtime made for a plugin's thread before the thread starts. Dropped
/// without being adopted — a start that failed half-way, on a thread of
/// the host's runtime, where dropping a runtime the usual way panics — it
/// shuts down in the background.
pub(crate) struct Made {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Made {
    /// A current-thread runtime with I/O and timers.
    pub(crate) fn new() -> std::io::Result<Made> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(Made { handle: runtime.handle().clone(), runtime: Some(runtime) })
    }

    /// Where to spawn its tasks.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Make it this thread's own (the plugin's thread, at its start).
    pub(crate) fn adopt(mut self) {
        let runtime = self.runtime.take();
        OWN.with_borrow_mut(|own| *own = runtime);
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Drop this thread's runtime (before the thread ends: its tasks, the
/// ports' listeners and connections among them, go with it).
pub(crate) fn release() {
    drop(OWN.with_borrow_mut(Option::take));
}

/// Run `future` to completion on this thread's own runtime, serving what
/// else it carries meanwhile; on a thread without one (a test calling a
/// plugin directly), on `elsewhere`, which must then be a multi-thread
/// runtime (a current-thread one is only driven by its own `block_on`).
/// Never from inside a runtime.
pub(crate) fn block_on<F: Future>(elsewhere: &Handle, future: F) -> F::Output {
    OWN.with_borrow(|own| match own {
        Some(runtime) => runtime.block_on(future),
        None => elsewhere.block_on(future),
    })
}

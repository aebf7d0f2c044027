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

/// Make `runtime` this thread's own (the plugin's thread, at its start).
pub(crate) fn adopt(runtime: Runtime) {
    OWN.with_borrow_mut(|own| *own = Some(runtime));
}

/// Take this thread's runtime back (to drop it before the thread ends:
/// its tasks, the ports' listeners among them, go with it).
pub(crate) fn release() -> Option<Runtime> {
    OWN.with_borrow_mut(Option::take)
}

/// Run `future` to completion on this thread's own runtime, serving what
/// else it carries meanwhile; on a thread without one (a test calling a
/// plugin directly), on `elsewhere`. Never from inside a runtime.
pub(crate) fn block_on<F: Future>(elsewhere: &Handle, future: F) -> F::Output {
    OWN.with_borrow(|own| match own {
        Some(runtime) => runtime.block_on(future),
        None => elsewhere.block_on(future),
    })
}

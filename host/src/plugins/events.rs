//! Delivering session events to the installed local plugins: the `sinc`
//! process that causes an event delivers it (creating, attaching,
//! detaching, ending a session), loading each enabled local plugin for the
//! call. Remote plugins hear every event from the VPS daemon instead (see
//! `remote::plugins`), including those that happen while no `sinc` runs;
//! local plugins do not hear those yet.

use super::{Installed, Locked};
use sinc_plugin_host::manifest::RunsOn;
use sinc_plugin_host::{Event, Session};
use std::time::Duration;

/// How long one plugin may take to start and handle one event.
const LIMIT: Duration = Duration::from_secs(1);

/// A session as plugins see it.
pub fn session(spec: &crate::session::SessionSpec) -> Session {
    Session {
        id: spec.id.to_string(),
        local_path: Some(spec.local_path.to_string_lossy().into_owned()),
        remote_path: spec.remote_path.clone(),
        agent: spec.agent.to_string(),
    }
}

/// The session events plugins receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Created.
    Created,
    /// A terminal attached.
    Attached,
    /// The terminal detached.
    Detached,
    /// Ended.
    Ended,
}

/// Deliver `kind` for `session` to every enabled local plugin, on a thread
/// of its own (WASI's blocking calls need one without a Tokio runtime).
/// Failures are logged, never returned: a plugin cannot break a session.
pub fn deliver(installed: &Installed, config: &crate::config::Config, kind: Kind, session: Session) {
    let lock = match installed.lockfile() {
        Ok(lock) => lock,
        Err(e) => {
            tracing::warn!("plugins get no events: {e}");
            return;
        }
    };
    let targets: Vec<Locked> = lock.plugins.into_iter().filter(|p| p.enabled && p.runs_on == RunsOn::Local).collect();
    if targets.is_empty() {
        return;
    }
    let event = match kind {
        Kind::Created => Event::SessionCreated(session),
        Kind::Attached => Event::SessionAttached(session),
        Kind::Detached => Event::SessionDetached(session),
        Kind::Ended => Event::SessionEnded(session),
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let runtime = match installed.runtime() {
                Ok(r) => r,
                Err(e) => return tracing::warn!("plugins get no events: {e}"),
            };
            for locked in &targets {
                let outcome = installed.start(&runtime, locked, config, LIMIT).and_then(|mut plugin| {
                    let handled = plugin.on_event(&event, LIMIT)?;
                    let _ = plugin.shutdown(LIMIT);
                    Ok(handled)
                });
                match &outcome {
                    Ok(Ok(())) => tracing::debug!(plugin = %locked.name, "delivered {kind:?}"),
                    Ok(Err(reason)) => tracing::warn!(plugin = %locked.name, "{kind:?}: {reason}"),
                    Err(e) => tracing::warn!("{e}"),
                }
                let stopped = outcome.as_ref().err();
                if let Some(disabled) = installed.record(&locked.name, stopped.map_or(Ok(()), Err)) {
                    tracing::warn!("{disabled}");
                }
            }
        });
    });
}

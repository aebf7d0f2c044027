//! A plugin kept running by a long-lived host (the laptop's keeper, the
//! VPS daemon): its instance lives on a thread of its own and takes calls
//! from a queue, one at a time; between calls the thread serves its ports
//! on a Tokio runtime of its own (see [`crate::own_runtime`]); its timer
//! ticks. When it is stopped (a trap, its deadline, its
//! memory cap) it is restarted after a back-off (1 s, doubling), and after
//! [`MAX_FAILURES`] stops in a row — each within [`HEALTHY`] of the
//! restart before — it is disabled. The host and the other plugins carry on
//! either way.

use crate::bindings::sinc::plugin::http_types::{Exchange, Message, Reply, Request, Response};
use crate::bindings::sinc::plugin::types::{Command, CommandOutput, Event, Session};
use crate::manifest::{Permissions, Port};
use crate::own_runtime;
use crate::reports::Reports;
use crate::runtime::{Grants, HookAnswer, Invoked, Plugin, PluginError, Runtime};
use crate::serving::{self, Connections, Handler};
use crate::{Ended, Stage};
use crate::{Manifest, Tool, outbound::Outbound};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// Stops in a row after which a plugin is disabled.
pub const MAX_FAILURES: u32 = 3;
/// The first restart's delay; each further one doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Running this long since its last start clears a plugin's stops.
pub const HEALTHY: Duration = Duration::from_secs(60);

/// How long a subcommand or a before-start hook may run (the user waits
/// for it; events and requests get the plugin's own, shorter limit).
pub const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// What a host needs to run a plugin.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its manifest, with the permissions the user accepted.
    pub manifest: Manifest,
    /// The component.
    pub wasm: Arc<[u8]>,
    /// What it is given.
    pub grants: Grants,
}

/// How a running plugin is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Loading (or reloading) and initialising.
    Starting,
    /// Taking calls.
    Running,
    /// Stopped; it starts again after a back-off.
    Restarting {
        /// Stops in a row so far.
        failures: u32,
        /// Why it was last stopped.
        reason: String,
    },
    /// Given up on: it failed to load, refused to start, or was stopped
    /// [`MAX_FAILURES`] times in a row.
    Disabled(String),
    /// Unloaded by the host.
    Stopped,
}

enum Call {
    Event(Event),
    Commands(oneshot::Sender<Vec<Command>>),
    Command {
        name: String,
        args: Vec<String>,
        cwd: Option<String>,
        reply: oneshot::Sender<Invoked>,
    },
    EndStages(Session, oneshot::Sender<Vec<Stage>>),
    End {
        ended: Ended,
        stage: Stage,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Http {
        request: Request,
        reply: oneshot::Sender<Reply>,
    },
    BeforeStart {
        session: Session,
        continuing: bool,
        reply: oneshot::Sender<Option<HookAnswer>>,
    },
    Forwarded(Exchange),
    /// A report held back (see [`crate::reports`]), handed over now.
    Report(Exchange),
    Message(u64, Message, oneshot::Sender<()>),
    OnClose(u64, u16, String),
    Closed(u64),
    Filter {
        request: u64,
        chunk: bytes::Bytes,
        last: bool,
        reply: oneshot::Sender<Vec<u8>>,
    },
    Failed {
        request: u64,
        status: u16,
        reason: String,
        reply: oneshot::Sender<Option<Response>>,
    },
    Tools(oneshot::Sender<Vec<Tool>>),
    Tool {
        name: String,
        arguments: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Stop,
}

impl Call {
    /// Whether held reports are handed over before it: yes unless it is one
    /// or a client waits for it, so what a subcommand, an event or the
    /// shutdown sees includes every completed forward.
    fn sees_reports_first(&self) -> bool {
        !matches!(
            self,
            Call::Http { .. }
                | Call::Filter { .. }
                | Call::Failed { .. }
                | Call::Message(..)
                | Call::Forwarded(_)
                | Call::Report(_)
        )
    }
}

/// Told each time a plugin's status changes (e.g. to record a disabled
/// plugin in the lockfile).
pub type OnStatus = Arc<dyn Fn(&str, &Status) + Send + Sync>;

/// The queue into a plugin's thread.
struct Queue(mpsc::UnboundedSender<Call>);

impl Handler for Queue {
    fn handle(&self, request: Request) -> oneshot::Receiver<Reply> {
        let (reply, answer) = oneshot::channel();
        let _ = self.0.send(Call::Http { request, reply });
        answer
    }

    fn forwarded(&self, exchange: Exchange) {
        let _ = self.0.send(Call::Forwarded(exchange));
    }

    fn on_message(&self, connection: u64, message: Message) -> oneshot::Receiver<()> {
        let (handled, answer) = oneshot::channel();
        let _ = self.0.send(Call::Message(connection, message, handled));
        answer
    }

    fn on_close(&self, connection: u64, code: u16, reason: String) {
        let _ = self.0.send(Call::OnClose(connection, code, reason));
    }

    fn closed(&self, connection: u64) {
        let _ = self.0.send(Call::Closed(connection));
    }

    fn filter(&self, request: u64, chunk: bytes::Bytes, last: bool) -> oneshot::Receiver<Vec<u8>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.0.send(Call::Filter { request, chunk, last, reply });
        answer
    }

    fn failed(&self, request: u64, status: u16, reason: String) -> oneshot::Receiver<Option<Response>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.0.send(Call::Failed { request, status, reason, reply });
        answer
    }
}

/// A plugin a host keeps running. Dropping it unloads the plugin.
pub struct Running {
    name: String,
    queue: Arc<Queue>,
    status: Arc<Mutex<Status>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
    /// Its listening sockets, shared with the servers (see `Drop`).
    listeners: Vec<std::net::TcpListener>,
    /// Its connections (their WebSockets end with it).
    connections: Arc<Connections>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("name", &self.name).field("status", &self.status()).finish()
    }
}

impl Running {
    /// Bind its ports and start it. Fails only when a port cannot be
    /// bound (or the thread or its runtime cannot be made); a plugin that
    /// cannot load ends up [`Status::Disabled`].
    pub fn start(runtime: Arc<Runtime>, mut spec: Spec, on_status: Option<OnStatus>) -> Result<Running, PluginError> {
        let name = spec.manifest.name.clone();
        let failed = |reason: String| PluginError::Load { name: name.clone(), reason };
        let ports = own_runtime::Made::new().map_err(|e| failed(format!("cannot make its runtime: {e}")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue(tx));
        let (mut servers, mut listeners) = (Vec::new(), Vec::new());
        // Every running plugin may open WebSockets; those on its ports too.
        let connections = Arc::new(Connections::new(&name, ports.handle().clone()));
        spec.grants.connections = Some(connections.clone());
        spec.grants.callbacks = Some(queue.clone());
        if !spec.manifest.permissions.ports.is_empty() {
            let outbound = Outbound::of(&spec.manifest, &spec.grants.settings, None);
            let upstreams = crate::upstream::Upstreams::default();
            let _entered = ports.handle().enter();
            for declared in &spec.manifest.permissions.ports {
                let number =
                    served_port(&name, &spec.manifest.permissions, declared, &spec.grants.settings).map_err(failed)?;
                let bound = bind(&declared.bind, number)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .and_then(|l| Ok((l.try_clone()?, tokio::net::TcpListener::from_std(l)?)))
                    .map(|(shared, bound)| {
                        listeners.push(shared);
                        bound
                    })
                    .map_err(|e| failed(format!("cannot serve {}:{number}: {e}", declared.bind)))?;
                let port = serving::Port {
                    port: declared.port,
                    handler: queue.clone(),
                    connections: connections.clone(),
                    outbound: outbound.clone(),
                    upstreams: upstreams.clone(),
                };
                servers.push(ports.handle().spawn(serving::serve(bound, Arc::new(port))));
            }
        }
        let status = Arc::new(Mutex::new(Status::Starting));
        let handle = ports.handle().clone();
        let mut life =
            Life { runtime, spec, calls: rx, ports: handle, answer: None, status: status.clone(), on_status };
        std::thread::Builder::new()
            .name(format!("plugin-{name}"))
            .spawn(move || {
                ports.adopt();
                life.run();
                own_runtime::release();
            })
            .map_err(|e| failed(format!("cannot start its thread: {e}")))?;
        Ok(Running { name, queue, status, servers, listeners, connections })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How it is doing.
    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Deliver `event` (queued; errors are logged).
    pub fn event(&self, event: Event) {
        let _ = self.queue.0.send(Call::Event(event));
    }

    /// The subcommands it adds; `None` when it is not running.
    pub async fn commands(&self) -> Option<Vec<Command>> {
        self.commands_queued().await.ok()
    }

    /// Queue the question of its subcommands; the answer arrives on the
    /// receiver (closed when it is not running).
    pub fn commands_queued(&self) -> oneshot::Receiver<Vec<Command>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.queue.0.send(Call::Commands(reply));
        answer
    }

    /// Run one of its subcommands; `None` when it is not running (or was
    /// stopped running it).
    pub async fn command(&self, name: &str, args: Vec<String>) -> Option<CommandOutput> {
        self.command_queued(name, args, None).await.ok().map(|invoked| invoked.output)
    }

    /// Queue one of its subcommands, for a `sinc` run in folder `cwd`; the
    /// answer arrives on the receiver (closed when it is not running, or
    /// was stopped running it).
    pub fn command_queued(&self, name: &str, args: Vec<String>, cwd: Option<String>) -> oneshot::Receiver<Invoked> {
        let (reply, answer) = oneshot::channel();
        let _ = self.queue.0.send(Call::Command { name: name.to_owned(), args, cwd, reply });
        answer
    }

    /// Queue the question of the stages of `session`'s end it takes part
    /// in; the receiver closes when it is not running.
    pub fn end_stages_queued(&self, session: Session) -> oneshot::Receiver<Vec<Stage>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.queue.0.send(Call::EndStages(session, reply));
        answer
    }

    /// Queue its part of `stage` of a session's end; the receiver closes
    /// when it is not running (or was stopped during the call).
    pub fn end_queued(&self, ended: Ended, stage: Stage) -> oneshot::Receiver<Result<(), String>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.queue.0.send(Call::End { ended, stage, reply });
        answer
    }
}

impl Running {
    /// Ask it about a session about to start; the answer is `None` when it
    /// has no hooks, and the receiver closes when it is not running.
    pub fn before_start_queued(&self, session: Session, continuing: bool) -> oneshot::Receiver<Option<HookAnswer>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.queue.0.send(Call::BeforeStart { session, continuing, reply });
        answer
    }

    /// Queue the question of its MCP tools (none for a plugin built before
    /// SDK 1.5); the receiver closes when it is not running.
    pub fn tools_queued(&self) -> oneshot::Receiver<Vec<Tool>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.queue.0.send(Call::Tools(reply));
        answer
    }

    /// Queue a call of its tool `name`; the receiver closes when it is not
    /// running (or was stopped during the call).
    pub fn call_tool_queued(&self, name: &str, arguments: String) -> oneshot::Receiver<Result<String, String>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.queue.0.send(Call::Tool { name: name.to_owned(), arguments, reply });
        answer
    }
}

/// How long requests in flight on an unloaded plugin's ports may take to
/// finish (an LLM's answer streams for minutes)…
pub const DRAIN: Duration = Duration::from_secs(600);
/// …looked at this often.
const DRAIN_CHECK: Duration = Duration::from_millis(50);

/// How long a port still held may be waited for: a replaced build's
/// listener closes as its aborted server task is dropped, just after.
const PORT_RELEASE: Duration = Duration::from_millis(500);

/// Bind `address:port`, waiting a little for a port that is still in use.
fn bind(address: &str, port: u16) -> std::io::Result<std::net::TcpListener> {
    let until = Instant::now() + PORT_RELEASE;
    loop {
        match std::net::TcpListener::bind((address, port)) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20));
            }
            bound => return bound,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
        // The servers end when the plugin's thread next drives its runtime,
        // maybe only after a long call; shutting the shared sockets down
        // stops them listening now, so a replacement can bind the ports at
        // once (on Linux; elsewhere this fails and they close with the
        // servers).
        for listener in &self.listeners {
            let _ = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Both);
        }
        self.connections.shut();
        let _ = self.queue.0.send(Call::Stop);
    }
}

/// The port number `declared` is served on: the setting that moves it (its
/// own `setting`, or `port` for a plugin's only port), else the declared
/// number, which is what the plugin sees either way. (`sinc open` finds
/// the port the same way.)
pub fn served_port(
    name: &str,
    permissions: &Permissions,
    declared: &Port,
    settings: &toml::Table,
) -> Result<u16, String> {
    let key = declared.setting.as_deref().unwrap_or("port");
    let Some(value) = settings.get(key) else { return Ok(declared.port) };
    if declared.setting.is_none() && permissions.ports.len() != 1 {
        return Err(format!(
            "`port` under [plugins.{name}] moves the one port a plugin serves, and it declares {}",
            permissions.ports.len()
        ));
    }
    match value.as_integer().and_then(|n| u16::try_from(n).ok()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!("`{key} = {value}` under [plugins.{name}]: give a port number from 1 to 65535")),
    }
}

/// The plugin's thread.
struct Life {
    runtime: Arc<Runtime>,
    spec: Spec,
    calls: mpsc::UnboundedReceiver<Call>,
    /// The runtime its ports are served on, driven by this thread.
    ports: tokio::runtime::Handle,
    /// The answer to the last call, if a task of the ports waits for it.
    answer: Option<Box<dyn FnOnce() + Send>>,
    status: Arc<Mutex<Status>>,
    on_status: Option<OnStatus>,
}

/// How a stretch of the plugin's life ended.
enum End {
    /// The host unloaded it.
    Unloaded,
    /// It was stopped.
    Stopped(PluginError),
    /// It cannot run at all.
    Fatal(String),
}

impl Life {
    fn set(&self, status: Status) {
        match &status {
            Status::Restarting { reason, failures } => {
                tracing::warn!(plugin = %self.spec.manifest.name, "stopped ({reason}); restarting ({failures} in a row)")
            }
            Status::Disabled(why) => tracing::warn!(plugin = %self.spec.manifest.name, "disabled: {why}"),
            other => tracing::debug!(plugin = %self.spec.manifest.name, "{other:?}"),
        }
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = status.clone();
        if let Some(tell) = &self.on_status {
            tell(&self.spec.manifest.name, &status);
        }
    }

    fn run(&mut self) {
        let mut failures = 0;
        loop {
            self.set(Status::Starting);
            let started = Instant::now();
            let end = self.load().map_or_else(|end| end, |plugin| self.serve(plugin));
            // What the instance opened or accepted ends with it.
            if let Some(connections) = &self.spec.grants.connections {
                connections.close_all();
            }
            if started.elapsed() >= HEALTHY {
                failures = 0;
            }
            match end {
                End::Unloaded => {
                    self.set(Status::Stopped);
                    return self.drain();
                }
                End::Fatal(why) => return self.disabled(why),
                End::Stopped(e) => {
                    failures += 1;
                    if failures >= MAX_FAILURES {
                        return self.disabled(format!("stopped {failures} times in a row; last: {e}"));
                    }
                    self.set(Status::Restarting { failures, reason: e.to_string() });
                    if self.back_off(FIRST_BACKOFF * 2u32.pow(failures - 1)) {
                        return self.set(Status::Stopped);
                    }
                }
            }
        }
    }

    fn load(&self) -> Result<Plugin, End> {
        let spec = &self.spec;
        let limit = spec.grants.limits.call;
        let mut plugin =
            self.runtime.load(&spec.manifest, &spec.wasm, &spec.grants).map_err(|e| End::Fatal(e.to_string()))?;
        let settings = serde_json::to_string(&spec.grants.settings).unwrap_or_else(|_| "{}".into());
        match plugin.init(&settings, limit) {
            Ok(Ok(())) => Ok(plugin),
            Ok(Err(refusal)) => Err(End::Fatal(format!("it refused to start: {refusal}"))),
            Err(e) => Err(End::Stopped(e)),
        }
    }

    /// Take calls until it is unloaded or stopped.
    fn serve(&mut self, mut plugin: Plugin) -> End {
        self.set(Status::Running);
        let limit = self.spec.grants.limits.call;
        let every = self.spec.manifest.timer.map(Duration::from_secs);
        let mut tick = every.map(|e| Instant::now() + e);
        let mut reports = Reports::default();
        // Whether the last wait ended with nothing to do.
        let mut idle = false;
        loop {
            let now = Instant::now();
            let call = if idle || reports.overdue(now) {
                // Reports go once nothing else is ready.
                match self.next_ready() {
                    Some(call) => {
                        idle = false;
                        call
                    }
                    None => match reports.hand_over() {
                        Some(exchange) => Call::Report(exchange),
                        None => {
                            idle = false;
                            continue;
                        }
                    },
                }
            } else {
                match self.next(tick.into_iter().chain(reports.due(now)).min()) {
                    Some(call) => call,
                    None => match tick {
                        Some(at) if at <= Instant::now() => {
                            tick = every.map(|e| at.max(Instant::now() - e) + e);
                            Call::Event(Event::Timer(now_ms()))
                        }
                        _ => {
                            idle = true;
                            continue;
                        }
                    },
                }
            };
            if let Call::Forwarded(exchange) = call {
                for due in reports.hold(Instant::now(), exchange) {
                    if let Err(end) = self.take(&mut plugin, Call::Report(due), limit) {
                        return end;
                    }
                }
                continue;
            }
            if call.sees_reports_first() {
                while let Some(exchange) = reports.hand_over() {
                    match self.take(&mut plugin, Call::Report(exchange), limit) {
                        Ok(()) => {}
                        // Being unloaded anyway: the shutdown call follows.
                        Err(_) if matches!(call, Call::Stop) => break,
                        Err(end) => return end,
                    }
                }
            }
            if let Err(end) = self.take(&mut plugin, call, limit) {
                return end;
            }
        }
    }

    /// Make `call`; `Err` ends the instance's life.
    fn take(&mut self, plugin: &mut Plugin, call: Call, limit: Duration) -> Result<(), End> {
        let outcome = match call {
            Call::Stop => {
                let _ = plugin.shutdown(limit);
                return Err(End::Unloaded);
            }
            Call::Event(event) => plugin.on_event(&event, limit).map(|handled| {
                if let Err(why) = handled {
                    tracing::warn!(plugin = %self.spec.manifest.name, "on-event: {why}");
                }
            }),
            Call::Commands(reply) => plugin.commands(limit).map(|c| drop(reply.send(c))),
            Call::Command { name, args, cwd, reply } => plugin
                .run_command_in(&name, &args, cwd.as_deref(), limit.max(COMMAND_LIMIT))
                .map(|o| drop(reply.send(o))),
            Call::EndStages(session, reply) => plugin.end_stages(&session, limit).map(|s| drop(reply.send(s))),
            Call::End { ended, stage, reply } => {
                plugin.on_end(&ended, stage, limit.max(COMMAND_LIMIT)).map(|r| drop(reply.send(r)))
            }
            Call::Http { request, reply } => plugin.handle(&request, limit).map(|r| self.answer(reply, r)),
            Call::BeforeStart { session, continuing, reply } => {
                plugin.before_start(&session, continuing, limit.max(COMMAND_LIMIT)).map(|v| drop(reply.send(v)))
            }
            Call::Tools(reply) => plugin.tools(limit).map(|t| drop(reply.send(t))),
            Call::Tool { name, arguments, reply } => {
                plugin.call_tool(&name, &arguments, limit.max(COMMAND_LIMIT)).map(|r| drop(reply.send(r)))
            }
            Call::Forwarded(exchange) | Call::Report(exchange) => plugin.forwarded(&exchange, limit),
            Call::Message(connection, message, handled) => {
                plugin.on_message(connection, &message, limit).map(|()| self.answer(handled, ()))
            }
            Call::OnClose(connection, code, reason) => plugin.on_close(connection, code, &reason, limit),
            Call::Closed(connection) => plugin.closed(connection, limit),
            Call::Filter { request, chunk, last, reply } => {
                plugin.filter(request, &chunk, last, limit).map(|out| self.answer(reply, out))
            }
            Call::Failed { request, status, reason, reply } => {
                plugin.failed(request, status, &reason, limit).map(|out| self.answer(reply, out))
            }
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(e @ PluginError::Stopped { .. }) => Err(End::Stopped(e)),
            Err(e @ PluginError::Load { .. }) => {
                tracing::warn!("{e}");
                Ok(())
            }
        }
    }

    /// Answer a task of the ports with `value` once back on their runtime
    /// (sent from outside it, the answer would wake the runtime through
    /// its event descriptor: two system calls more per request).
    fn answer<T: Send + 'static>(&mut self, to: oneshot::Sender<T>, value: T) {
        if let Some(earlier) = self.answer.replace(Box::new(move || drop(to.send(value)))) {
            earlier();
        }
    }

    /// The next call, serving the ports until it comes; `None` once
    /// `until` has come first. (The host gone counts as [`Call::Stop`].)
    fn next(&mut self, until: Option<Instant>) -> Option<Call> {
        let (calls, answer) = (&mut self.calls, self.answer.take());
        own_runtime::block_on(&self.ports, async move {
            if let Some(answer) = answer {
                answer();
                // The answered task runs before a call already queued.
                tokio::task::yield_now().await;
            }
            match until {
                Some(at) => {
                    tokio::time::timeout_at(at.into(), calls.recv()).await.ok().map(|c| c.unwrap_or(Call::Stop))
                }
                None => Some(calls.recv().await.unwrap_or(Call::Stop)),
            }
        })
    }

    /// A call already queued once what else is ready on the ports (their
    /// connections' tasks and I/O) has run; `None` when there is none.
    fn next_ready(&mut self) -> Option<Call> {
        let (calls, answer) = (&mut self.calls, self.answer.take());
        own_runtime::block_on(&self.ports, async move {
            if let Some(answer) = answer {
                answer();
            }
            tokio::task::yield_now().await;
            match calls.try_recv() {
                Ok(call) => Some(call),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => Some(Call::Stop),
            }
        })
    }

    /// Wait `delay`, refusing calls meanwhile; true when unloaded.
    fn back_off(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            match self.next(Some(until)) {
                Some(Call::Stop) => return true,
                // Dropping a call drops its reply: the caller hears "not running".
                Some(_) => {}
                None => return false,
            }
        }
    }

    /// Unloaded: let the requests in flight on its ports finish (forwards
    /// keep streaming, as they do through a restart), refusing calls, for
    /// at most [`DRAIN`]; its listeners close at once.
    fn drain(&mut self) {
        let Some(connections) = self.spec.grants.connections.clone() else { return };
        let until = Instant::now() + DRAIN;
        while connections.in_flight() > 0 && Instant::now() < until {
            // Dropping a call drops its reply: the caller hears "not running".
            let _ = self.next(Some((Instant::now() + DRAIN_CHECK).min(until)));
        }
    }

    /// Disabled: refuse calls until unloaded.
    fn disabled(&mut self, why: String) {
        self.set(Status::Disabled(why));
        while !matches!(self.next(None), Some(Call::Stop) | None) {}
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::{PORT_RELEASE, bind, served_port};
    use crate::manifest::{Permissions, Port};
    use std::time::{Duration, Instant};

    #[test]
    fn a_port_a_replaced_build_still_holds_is_waited_for_briefly() {
        let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        assert!(bind("127.0.0.1", port).is_ok(), "bound once the old listener closed");
        releaser.join().unwrap();
        let kept = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let t0 = Instant::now();
        let refused = bind("127.0.0.1", kept.local_addr().unwrap().port());
        assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
        assert!(t0.elapsed() >= PORT_RELEASE && t0.elapsed() < PORT_RELEASE * 4, "{:?}", t0.elapsed());
    }

    #[test]
    fn a_port_setting_moves_its_port_or_is_refused() {
        let port =
            |n, setting: Option<&str>| Port { port: n, bind: "127.0.0.1".into(), setting: setting.map(Into::into) };
        let one = Permissions { ports: vec![port(7707, None)], ..Permissions::default() };
        let two = Permissions { ports: vec![port(1, None), port(2, None)], ..Permissions::default() };
        let named =
            Permissions { ports: vec![port(8081, Some("proxy_port")), port(8082, None)], ..Permissions::default() };
        let settings = |text: &str| -> toml::Table { toml::from_str(text).unwrap() };
        let only = &one.ports[0];
        assert_eq!(served_port("p", &one, only, &settings("")), Ok(7707));
        assert_eq!(served_port("p", &one, only, &settings("port = 9000")), Ok(9000));
        for bad in ["port = 0", "port = 70000", "port = \"x\""] {
            let e = served_port("p", &one, only, &settings(bad)).unwrap_err();
            assert!(e.contains("under [plugins.p]: give a port number from 1 to 65535"), "{bad}: {e}");
        }
        let e = served_port("p", &two, &two.ports[0], &settings("port = 9000")).unwrap_err();
        assert!(e.contains("moves the one port a plugin serves, and it declares 2"), "{e}");
        let moved = settings("proxy_port = 9081");
        assert_eq!(served_port("p", &named, &named.ports[0], &moved), Ok(9081));
        assert_eq!(served_port("p", &named, &named.ports[1], &moved), Ok(8082));
    }
}

//! The messages of sinc's sync protocol between the laptop's keeper and the
//! VPS daemon. Version 1. Every message is one frame; file content travels in
//! `Data` frames tagged with the id of the request it belongs to.

use crate::sync::delta::Signature;
use crate::sync::endpoint::RootState;
use crate::sync::ignore::IgnoreSpec;
use crate::sync::trash::{TrashItem, TrashLimits};
use serde::{Deserialize, Serialize};
use sinc_sync_core::{Digest, Entry, RelPath};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// The oldest version this build still understands.
pub const MIN_VERSION: u32 = 1;

/// One frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// The first message each side sends.
    Hello(Hello),
    /// A request (keeper → daemon).
    Request {
        /// Chosen by the requester, echoed in the response.
        id: u64,
        /// What is asked.
        request: Request,
    },
    /// The answer to request `id` (daemon → keeper).
    Response {
        /// The request's id.
        id: u64,
        /// The answer.
        response: Response,
    },
    /// Content belonging to request `id` (either direction).
    Data {
        /// The request's id.
        id: u64,
        /// A piece of content.
        chunk: Chunk,
    },
    /// Unsolicited news (daemon → keeper).
    Notice(Notice),
}

/// Who is talking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol version spoken.
    pub version: u32,
    /// Oldest version understood.
    pub min_version: u32,
    /// The sinc build (version and binary name), for messages.
    pub build: String,
}

/// How new content for a `Put` arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// No content: folders, links, executable-bit changes.
    None,
    /// The whole file, as `Bytes`/`Zstd` chunks.
    Full,
    /// Delta operations against the current version (`Copy` and byte chunks),
    /// made against a signature with this block size.
    Delta {
        /// Block size of the signature used.
        block_size: u32,
    },
}

/// Requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Start serving the project synced to `root` (created if missing).
    Open {
        /// The session id.
        session: String,
        /// The remote folder (`~/` allowed).
        root: String,
        /// Ignore settings.
        ignore: IgnoreSpec,
        /// Trash bounds.
        trash: TrashLimits,
        /// How often to verify by a full rescan, in seconds (0: never).
        verify_secs: u64,
    },
    /// Every entry: `Data` chunks each holding a batch of entries (postcard,
    /// possibly compressed), then `SnapshotDone`.
    Snapshot,
    /// The current entries of paths changed after a cursor.
    ChangesSince {
        /// Cursor epoch.
        epoch: u64,
        /// Cursor sequence.
        seq: u64,
    },
    /// Send a file's content (`Data` chunks, then `Sent`).
    Read {
        /// The path.
        path: RelPath,
        /// What it must be.
        entry: Entry,
    },
    /// Describe the current version of a file for a delta.
    Signature {
        /// The path.
        path: RelPath,
        /// What it must be.
        entry: Entry,
    },
    /// Send delta operations turning the keeper's version (described by
    /// `signature`) into this file (`Data` chunks, then `Sent`).
    ReadDelta {
        /// The path.
        path: RelPath,
        /// What it must be.
        entry: Entry,
        /// The keeper's version.
        signature: Signature,
    },
    /// Make `path` hold `new` (content follows in `Data` chunks per `body`).
    Put {
        /// The path.
        path: RelPath,
        /// What it must hold now.
        expected: Option<Entry>,
        /// What it will hold.
        new: Entry,
        /// How the content comes.
        body: Body,
        /// Whether the replaced version lost a conflict.
        loser: bool,
    },
    /// Remove `path`.
    Remove {
        /// The path.
        path: RelPath,
        /// What it must hold now.
        expected: Entry,
        /// Whether the removed version lost a conflict.
        loser: bool,
    },
    /// Rescan the whole tree now (flush, verify).
    Rescan,
    /// List the trash.
    TrashList,
    /// Send a kept file's content (`Data` chunks, then `Sent`).
    TrashRead {
        /// The item id.
        id: String,
    },
    /// Stop serving this project (its watcher stops; files are kept).
    Close,
    /// Stop serving a session, without opening it first (`sinc kill`).
    Forget {
        /// The session id.
        session: String,
    },
    /// Stop the daemon (an upgrade replaces it).
    Shutdown,
    /// Run exactly these remote plugins (answered by `Plugins`, naming the
    /// components the daemon still needs).
    PluginSet {
        /// The enabled remote plugins, with what the user granted each.
        plugins: Vec<PluginGrant>,
        /// The user's extra patterns for agents' states (`[states.PROGRAM]`).
        states: Vec<AgentStates>,
    },
    /// A component, as `Data` chunks (`Bytes`, then `End`); answered `Ok`
    /// once stored and checked against `sha256`.
    PluginComponent {
        /// Its sha256 (hex).
        sha256: String,
    },
    /// A session is about to be created: ask the remote plugins' hooks
    /// (answered by `Launch`, or `Refused`).
    BeforeStart {
        /// The session.
        session: SessionRef,
        /// Whether the user asked it to carry on from the last one
        /// (`sinc --continue`).
        continuing: bool,
    },
    /// Run a remote plugin's subcommand (answered by `CommandOutput`).
    PluginCommand {
        /// The plugin.
        plugin: String,
        /// The subcommand.
        command: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// Run the subcommand `command` of whichever remote plugin adds it
    /// (answered by `CommandOutput`, or `Failed` when none does): for
    /// `sinc` run on the VPS itself.
    RunCommand {
        /// The subcommand.
        command: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// The MCP tools of whichever plugin adds the subcommand `command`
    /// (answered by `Tools`).
    Tools {
        /// The plugin's subcommand.
        command: String,
    },
    /// Call one of those tools (answered by `ToolResult`).
    CallTool {
        /// The plugin's subcommand.
        command: String,
        /// The tool.
        tool: String,
        /// Its arguments: a JSON object, as text.
        arguments: String,
    },
    /// The events of one session the daemon journaled after `after` in
    /// journal `journal` (answered by `SessionEvents`). Without a cursor
    /// (or for another journal: the daemon restarted) it answers the
    /// journal's events of that session from its start, or, with no
    /// cursor at all, none and where the journal is now. With nothing new
    /// it waits up to `wait_ms` for some.
    SessionEvents {
        /// The session id.
        session: String,
        /// The journal the cursor is from.
        journal: Option<String>,
        /// The last event already heard.
        after: Option<u64>,
        /// How long to wait for news.
        wait_ms: u32,
    },
    /// A session's screen and up to `scrollback` lines above it, with
    /// colours — after it ended, its kept last output (answered by
    /// `Screen`): the `sessions.screen` of the laptop's local plugins.
    SessionScreen {
        /// The session id.
        session: String,
        /// Lines above the screen.
        scrollback: u32,
    },
    /// A laptop plugin's call to a service on the VPS's loopback (answered
    /// by `HttpReply`; see `sinc_plugin_host::vps_loopback`).
    LoopbackHttp {
        /// The call.
        call: sinc_plugin_host::vps_loopback::HttpCall,
    },
}

/// What happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionChange {
    /// It appeared.
    Created,
    /// A client attached where none was.
    Attached,
    /// Its last client detached.
    Detached,
    /// It is gone.
    Ended,
}

/// A session, as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    /// Its id.
    pub id: String,
    /// The laptop's project folder.
    pub local_path: Option<String>,
    /// Its folder on the VPS.
    pub remote_path: String,
    /// The agent's command line.
    pub agent: String,
    /// When tmux created it, in seconds since the epoch (0: not known) —
    /// what tells a session from an earlier one of the same id.
    #[serde(default)]
    pub created: u64,
}

/// One journaled session event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEvent {
    /// Its place in the journal.
    pub seq: u64,
    /// What happened.
    pub change: SessionChange,
    /// To which session.
    pub session: SessionRef,
}

/// A remote plugin the laptop's lockfile enables, as the daemon runs it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginGrant {
    /// Its name.
    pub name: String,
    /// Its component's sha256 (hex).
    pub sha256: String,
    /// The permissions the user accepted (they replace the component's own).
    pub permissions: sinc_plugin_host::manifest::Permissions,
    /// Its settings (`[plugins.NAME]`), as TOML text.
    pub settings: String,
    /// The secrets it declared and the user has, by name (kept in memory
    /// on the VPS, never written there).
    pub secrets: Vec<(String, String)>,
}

// Secrets never reach logs: only their names are shown.
impl std::fmt::Debug for PluginGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<&str> = self.secrets.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("PluginGrant")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .field("permissions", &self.permissions)
            .field("settings", &self.settings)
            .field("secrets", &secrets)
            .finish()
    }
}

/// Extra patterns for one agent program's state (`*`: every agent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStates {
    /// The agent's program name (`opencode`, `claude`) or `*`.
    pub agent: String,
    /// Patterns of a question to the user.
    pub waiting: Vec<String>,
    /// Patterns of work in progress.
    pub working: Vec<String>,
}

/// How a remote plugin is doing in the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginState {
    /// Its name.
    pub name: String,
    /// `starting`, `running`, `restarting: …`, `disabled: …`, or
    /// `missing` (the component has not arrived).
    pub state: String,
}

/// Why a step was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectKind {
    /// The path changed after it was scanned.
    Changed,
    /// The path is ignored on that side.
    Ignored,
    /// A folder still holds untracked files.
    NotEmpty,
    /// A case-only name clash.
    CaseClash,
    /// Content did not match its digest.
    Corrupt,
    /// A file-system error.
    Io,
    /// The sender stopped sending the content (it changed while being read).
    Aborted,
}

/// Responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The project is served.
    Opened {
        /// The change-log epoch.
        epoch: u64,
        /// The latest sequence.
        seq: u64,
        /// The absolute remote folder.
        root: String,
        /// Whether names differing only in case collide there.
        case_insensitive: bool,
        /// Whether the root is usable.
        root_state: RootState,
    },
    /// The snapshot was sent completely.
    SnapshotDone {
        /// How many entries it held.
        count: u64,
    },
    /// Changes since the cursor, up to (`epoch`, `seq`).
    Changes {
        /// Epoch.
        epoch: u64,
        /// Sequence now.
        seq: u64,
        /// Current entries of changed paths.
        changes: Vec<(RelPath, Option<Entry>)>,
    },
    /// The cursor is from another run: a snapshot is needed.
    EpochChanged,
    /// The content was sent completely.
    Sent {
        /// Its digest.
        digest: Digest,
    },
    /// A file's signature.
    Signature(Signature),
    /// The step was applied.
    Applied,
    /// The step was refused; nothing was changed.
    Rejected {
        /// Why.
        kind: RejectKind,
        /// A message for the user.
        message: String,
        /// The path's entry now, if known.
        current: Option<Entry>,
    },
    /// A rescan finished at this cursor.
    Rescanned {
        /// Epoch.
        epoch: u64,
        /// Sequence.
        seq: u64,
        /// Whether the root is usable.
        root_state: RootState,
    },
    /// The trash.
    TrashItems(Vec<TrashItem>),
    /// Done.
    Ok,
    /// The request failed.
    Failed {
        /// Why.
        message: String,
    },
    /// The remote plugins: components still needed, and each one's state.
    Plugins {
        /// sha256 of the components the daemon does not have.
        missing: Vec<String>,
        /// Every plugin of the set.
        states: Vec<PluginState>,
    },
    /// What the hooks add to an agent's launch.
    Launch {
        /// Environment variables, by name (the first plugin, by name, to
        /// set one wins).
        env: Vec<(String, String)>,
        /// Text to type into the agent once it starts, in plugin order.
        prompts: Vec<String>,
        /// What the hooks asked to show the user: (plugin, text).
        notices: Vec<(String, String)>,
    },
    /// A plugin refused to let the session start.
    Refused {
        /// Which.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// Journaled session events.
    SessionEvents {
        /// The journal they are from.
        journal: String,
        /// The journal's last event (the cursor to ask after next).
        last: u64,
        /// The events asked for, oldest first.
        events: Vec<SessionEvent>,
    },
    /// A session's screen (see `Request::SessionScreen`).
    Screen {
        /// Its text, lines separated by `\n`.
        text: String,
    },
    /// What a plugin's subcommand printed.
    CommandOutput {
        /// Exit status.
        status: u8,
        /// Standard output.
        stdout: String,
        /// Standard error.
        stderr: String,
    },
    /// A plugin's MCP tools.
    Tools {
        /// Each one.
        tools: Vec<ToolInfo>,
    },
    /// What a tool call gave.
    ToolResult {
        /// Whether it worked (`text` is then its result, else the error).
        ok: bool,
        /// Its result or error, as text.
        text: String,
    },
    /// The answer to a `LoopbackHttp` call.
    HttpReply {
        /// What the service answered.
        reply: sinc_plugin_host::vps_loopback::HttpReply,
    },
}

/// One MCP tool a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its arguments' JSON Schema, as JSON text.
    pub input_schema: String,
}

/// A piece of content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Chunk {
    /// Raw bytes. (Declared as bytes, which postcard writes exactly as it
    /// writes a `Vec<u8>` — a length, then the bytes — but in one copy instead
    /// of a call per byte.)
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    /// zstd-compressed bytes.
    Zstd(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Delta: copy blocks of the receiver's current version.
    Copy {
        /// First block.
        first: u32,
        /// Count.
        count: u32,
    },
    /// The content is complete.
    End,
    /// The content cannot be sent (it changed while being read).
    Abort {
        /// Why.
        reason: String,
    },
}

/// Unsolicited news from the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Notice {
    /// Paths changed on the VPS.
    Changes {
        /// Epoch.
        epoch: u64,
        /// Sequence now.
        seq: u64,
        /// Current entries of changed paths.
        changes: Vec<(RelPath, Option<Entry>)>,
    },
    /// The remote root's state changed (deleted, replaced).
    Root(RootState),
    /// Something the user should know (skipped files, watch fallback).
    Warning(String),
}

#[cfg(test)]
mod secret_tests {
    #[test]
    fn a_plugin_grant_never_shows_its_secrets() {
        let grant = super::PluginGrant {
            name: "p".into(),
            sha256: "0".into(),
            permissions: Default::default(),
            settings: String::new(),
            secrets: vec![("api_key".into(), "sk-very-secret".into())],
        };
        let shown = format!("{grant:?}");
        assert!(shown.contains("api_key") && !shown.contains("sk-very-secret"), "{shown}");
    }
}

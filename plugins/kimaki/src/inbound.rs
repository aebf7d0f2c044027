//! Messages in a session's thread: typed into its agent (with Enter), with
//! their voice messages transcribed and their files saved into the project
//! first; `!cmd` runs a shell command in the project when allowed.

use crate::attachments;
use crate::discord::Body;
use crate::multipart::{self, Field};
use crate::plugin::Bot;
use crate::text;
use serde_json::Value;
use sinc_plugin_sdk::fetch;
use sinc_plugin_sdk::prelude::*;
use sinc_plugin_sdk::terminal;
use std::time::Duration;

/// How long a download or a transcription may take.
const SLOW: Duration = Duration::from_secs(30);
/// The most of a shell command's output posted.
const MAX_SHELL_OUTPUT: usize = 6000;
/// 🚫, as a reaction in a URL.
const REFUSED: &str = "%F0%9F%9A%AB";

impl Bot {
    /// A message arrived.
    pub(crate) fn message(&mut self, d: &Value) {
        if !self.concerns_us(d) || !matches!(d["type"].as_u64(), Some(0 | 19)) {
            return;
        }
        let channel = d["channel_id"].as_str().unwrap_or_default().to_owned();
        let Some(thread) = self.links.threads.get(&channel).cloned() else { return };
        if let Err(why) = self.check(d) {
            warn!(
                "ignored a message from user {} in thread {channel}: {why}",
                d["author"]["id"].as_str().unwrap_or("?")
            );
            let message = d["id"].as_str().unwrap_or_default();
            let _ = self.api.call(
                "PUT",
                &format!("/channels/{channel}/messages/{message}/reactions/{REFUSED}/@me"),
                Body::Empty,
            );
            return;
        }
        if thread.ended {
            self.api
                .queue(&channel, "⛔ This thread's session has ended: `/new` in the project's channel starts another.");
            return;
        }
        let content = d["content"].as_str().unwrap_or_default().trim().to_owned();
        if let Some(command) = content.strip_prefix('!').map(str::trim).filter(|c| !c.is_empty()) {
            return self.shell(&channel, command);
        }
        let mut input = vec![content.replace(['\r', '\n'], " ")];
        let flags = d["flags"].as_u64().unwrap_or(0);
        let mut saved = Vec::new();
        for a in d["attachments"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let name = a["filename"].as_str().unwrap_or("attachment");
            if attachments::is_audio(flags, a["content_type"].as_str().unwrap_or_default()) {
                match self.transcribe(a) {
                    Ok(transcript) => {
                        self.api.queue(&channel, &format!("🎙️ {}", quote(&transcript)));
                        input.push(transcript.replace(['\r', '\n'], " "));
                    }
                    Err(why) => self.api.queue(&channel, &format!("❌ The voice message was not transcribed: {why}")),
                }
                continue;
            }
            match self.save(&channel, a) {
                Ok(path) => saved.push(path),
                Err(why) => {
                    self.api.queue(&channel, &format!("❌ `{}` was not saved: {why}", attachments::sanitise(name)))
                }
            }
        }
        if !saved.is_empty() {
            let list = saved.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
            self.api.queue(&channel, &format!("📎 Saved in the project: {list}"));
            input.push(format!("(attached files: {})", saved.join(", ")));
        }
        let input = input.into_iter().filter(|s| !s.trim().is_empty()).collect::<Vec<_>>().join(" ");
        if input.is_empty() {
            return;
        }
        // Its echo on the agent's screen is not news for the thread.
        self.screens.entry(thread.session.clone()).or_default().expect(&input);
        if let Err(e) = sessions::send(&thread.session, &input, true) {
            self.api.queue(&channel, &format!("❌ Could not type into session `{}`: {}", thread.session, e.reason()));
        }
    }

    /// `!command` in thread `channel`.
    fn shell(&mut self, channel: &str, command: &str) {
        if !self.settings.shell_commands {
            self.api.queue(
                channel,
                "🚫 `!` commands are off: `shell_commands = true` under [plugins.kimaki] turns them on.",
            );
            return;
        }
        let Some(project) = self.links.project_of(channel).map(str::to_owned) else { return };
        info!("running a shell command in {project} for thread {channel}");
        let report = match process::run("sh", &["-c".to_owned(), command.to_owned()], Some(&project), &[]) {
            Ok(out) => {
                let mut output = terminal::strip_ansi(&String::from_utf8_lossy(&out.stdout));
                output.push_str(&terminal::strip_ansi(&String::from_utf8_lossy(&out.stderr)));
                let (output, _) = text::tail(&output, MAX_SHELL_OUTPUT);
                let status = match out.status {
                    Some(0) => "✅ exit 0".to_owned(),
                    Some(n) => format!("❌ exit {n}"),
                    None => "❌ stopped (a signal, or the 60 s limit)".to_owned(),
                };
                format!("{}\n{status}", text::code_block(&format!("$ {command}\n{output}")))
            }
            Err(e) => format!("❌ `{command}` did not run: {}", e.reason()),
        };
        self.api.queue(channel, &report);
    }

    /// Save attachment `a` into the project of thread `channel`; its path
    /// in the project.
    fn save(&mut self, channel: &str, a: &Value) -> Result<String, String> {
        let project = self.links.project_of(channel).ok_or("this thread has no project")?.to_owned();
        let limit = self.settings.max_attachment_mb << 20;
        let size = a["size"].as_u64().unwrap_or(0);
        if size > limit {
            return Err(format!(
                "it is {:.1} MiB; the limit is {} MiB (max_attachment_mb)",
                mib(size),
                self.settings.max_attachment_mb
            ));
        }
        let bytes = download(a, limit)?;
        let folder = format!("{project}/{}", self.settings.attachments_folder);
        std::fs::create_dir_all(&folder).map_err(|e| format!("making {folder}: {e}"))?;
        // Written beside, then renamed onto a name reserved for it (created
        // new, so nothing already there — or arriving meanwhile — is ever
        // replaced): never a partial file under its name.
        let wanted = attachments::sanitise(a["filename"].as_str().unwrap_or_default());
        let partial = format!("{folder}/.{wanted}.kimaki-part");
        // A new file, never one found under that name (a link would be
        // followed).
        let _ = std::fs::remove_file(&partial);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(format!("writing it: {e}"));
        }
        let name = reserve(&folder, &wanted).inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })?;
        if let Err(e) = std::fs::rename(&partial, format!("{folder}/{name}")) {
            let _ = std::fs::remove_file(&partial);
            let _ = std::fs::remove_file(format!("{folder}/{name}"));
            return Err(format!("saving it: {e}"));
        }
        info!("saved an attachment of {} bytes in {folder}", bytes.len());
        Ok(format!("{}/{name}", self.settings.attachments_folder))
    }

    /// The transcript of audio attachment `a`.
    fn transcribe(&mut self, a: &Value) -> Result<String, String> {
        let limit = self.settings.max_attachment_mb << 20;
        let audio = download(a, limit)?;
        let filename = a["filename"].as_str().unwrap_or("voice-message.ogg");
        let content_type = a["content_type"].as_str().unwrap_or("audio/ogg");
        let model = self.settings.transcription_model.clone();
        let fields = [
            Field { name: "file", filename: Some(filename), content_type, bytes: &audio },
            Field { name: "model", filename: None, content_type: "text/plain", bytes: model.as_bytes() },
            Field { name: "response_format", filename: None, content_type: "text/plain", bytes: b"json" },
        ];
        let (body, kind) = multipart::form(&fields, crate::plugin::now_ms());
        let url = format!("{}/audio/transcriptions", self.settings.transcription_base_url);
        let auth = self.transcription_key.as_ref().map(|k| format!("Bearer {k}"));
        let mut headers = vec![("content-type", kind.as_str())];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        let answer =
            fetch::send("POST", &url, &headers, &body, SLOW).map_err(|e| format!("the transcription service: {e}"))?;
        let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        if !answer.ok() {
            let message = json["error"]["message"].as_str().map_or_else(|| answer.text(), str::to_owned);
            return Err(format!("the transcription service answered {}: {}", answer.status, message.trim()));
        }
        let transcript = json["text"].as_str().unwrap_or_default().trim().to_owned();
        if transcript.is_empty() {
            return Err("the transcript is empty".into());
        }
        Ok(transcript)
    }
}

/// A free name in `folder` for `wanted` (or one like it), created empty so
/// that no one else takes it.
fn reserve(folder: &str, wanted: &str) -> Result<String, String> {
    for _ in 0..100 {
        let name = attachments::free_name(wanted, |n| std::fs::symlink_metadata(format!("{folder}/{n}")).is_ok());
        match std::fs::OpenOptions::new().write(true).create_new(true).open(format!("{folder}/{name}")) {
            Ok(_) => return Ok(name),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("saving it: {e}")),
        }
    }
    Err("no free name for it".into())
}

/// The bytes of attachment `a` (at most `limit`).
fn download(a: &Value, limit: u64) -> Result<Vec<u8>, String> {
    let url = a["url"].as_str().ok_or("it has no URL")?;
    // Errors name the host, not the signed URL.
    let host = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    let answer =
        fetch::get(url, &[], SLOW).map_err(|e| format!("downloading it: {}", e.replace(url, &format!("{host}/…"))))?;
    if !answer.ok() {
        return Err(format!("downloading it: Discord answered {}", answer.status));
    }
    if answer.body.len() as u64 > limit {
        return Err(format!("it is larger than {} MiB", limit >> 20));
    }
    Ok(answer.body)
}

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// `text` as a Discord quote.
fn quote(text: &str) -> String {
    text.lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
}

//! The example plugin: `sinc hello [NAME…]` prints a greeting (its word is
//! the `greeting` setting under `[plugins.hello]`), and every session event
//! is counted in the plugin's key-value store, so the greeting can say how
//! many it saw.

use sinc_plugin_sdk::prelude::*;
use std::cell::RefCell;

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

thread_local! {
    static GREETING: RefCell<String> = RefCell::new("Hello".into());
}

const EVENTS: &str = "events-seen";

fn events_seen() -> u64 {
    match kv::get(EVENTS) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).parse().unwrap_or(0),
        _ => 0,
    }
}

/// The value of `"greeting"` in the settings (a JSON object), if it is a string.
fn greeting_setting(config: &str) -> Option<String> {
    let rest = config.split_once("\"greeting\"")?.1.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest.split_once('"')?.0.to_owned())
}

struct Hello;

impl Plugin for Hello {
    fn init(config: String) -> Result<(), String> {
        if let Some(word) = greeting_setting(&config) {
            GREETING.with(|g| *g.borrow_mut() = word);
        }
        info!("ready; {} events seen so far", events_seen());
        Ok(())
    }

    fn on_event(event: Event) -> Result<(), String> {
        let seen = events_seen() + 1;
        kv::set(EVENTS, seen.to_string().as_bytes()).map_err(|e| e.reason())?;
        if let Event::SessionCreated(session) = &event {
            kv::set("last-session", session.id.as_bytes()).map_err(|e| e.reason())?;
        }
        debug!("event {seen}: {event:?}");
        Ok(())
    }

    fn commands() -> Vec<Command> {
        vec![Command { name: "hello".into(), summary: "Greet someone (the hello plugin)".into() }]
    }

    fn run_command(name: String, args: Vec<String>) -> CommandOutput {
        if name != "hello" {
            return CommandOutput::usage(format!("the hello plugin has no command `{name}`"));
        }
        let who = if args.is_empty() { "world".to_owned() } else { args.join(" ") };
        let greeting = GREETING.with(|g| g.borrow().clone());
        let last = match kv::get("last-session") {
            Ok(Some(id)) => format!("; last session {}", String::from_utf8_lossy(&id)),
            _ => String::new(),
        };
        CommandOutput::ok(format!("{greeting}, {who}! ({} session events seen{last})\n", events_seen()))
    }

    fn shutdown() {}
}

sinc_plugin_sdk::export_plugin!(Hello);

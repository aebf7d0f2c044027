//! LunaRoute for sinc: the agents' AI API traffic goes through this proxy
//! on the VPS (sinc points `ANTHROPIC_BASE_URL` and `OPENAI_BASE_URL` at it
//! for every session it starts, with the session's id in the path), which
//! forwards it — streamed through sinc's host, never buffered — and, once
//! each response is complete, records the exchange: model, tokens as the
//! provider counted them, cost, timings, tool calls, the bodies (redacted).
//! `sinc lunaroute stats | sessions | show ID` and the dashboard (`sinc open
//! lunaroute`) read the recordings.

pub mod dashboard;
pub mod metrics;
pub mod prices;
pub mod provider_error;
pub mod record;
pub mod route;
pub mod settings;
pub mod stats;
pub mod store;
pub mod usage;
pub mod usage_filter;

#[cfg(target_arch = "wasm32")]
mod plugin;

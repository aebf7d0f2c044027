//! Wall-clock time as sinc records it: whole seconds since the Unix epoch
//! (session creation, last sync, trash and conflict times, link history).

/// Now, in seconds since the epoch (0 if the clock is before it).
pub fn unix_secs() -> u64 {
    since_epoch().as_secs()
}

/// Now, as the time since the epoch (zero if the clock is before it).
pub fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

/// How long before `now` the time `then` was: "3s ago", "3m ago", "2h
/// ago", "4d ago".
pub fn ago(now: u64, then: u64) -> String {
    let d = now.saturating_sub(then);
    match d {
        0..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86_400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86_400),
    }
}

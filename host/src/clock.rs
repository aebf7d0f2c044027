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

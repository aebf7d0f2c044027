//! Wall-clock time as sinc records it: whole seconds since the Unix epoch
//! (session creation, last sync, trash and conflict times, link history).

/// Now, in seconds since the epoch (0 if the clock is before it).
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

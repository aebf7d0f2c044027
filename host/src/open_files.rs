//! The number of files a long-running process may hold open. A transfer
//! keeps each received file open until it is renamed into place, and one
//! batch is applied while the next arrives: up to 512 files per connection,
//! and a daemon serves several. The usual soft limit of 1,024 is raised to
//! the hard limit (at most 65,536) at the start of the keeper and the daemon,
//! as Go's runtime does for every program; the hard limit itself is the
//! administrator's and is left alone.

/// The highest soft limit asked for.
const WANTED: u64 = 1 << 16;

/// The soft limit to ask for, given the current limits (`None`: keep it).
pub fn raised(soft: u64, hard: u64) -> Option<u64> {
    let wanted = hard.min(WANTED);
    (wanted > soft).then_some(wanted)
}

/// Raise this process's soft limit on open files (best effort: a failure
/// leaves it as it was).
pub fn raise_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let Some(new) = raised(soft, hard) else {
        return;
    };
    // macOS refuses more than its per-process maximum (often 10,240) even
    // under an unlimited hard limit.
    let fallback = raised(soft, new.min(MACOS_OPEN_MAX));
    let set = setrlimit(Resource::RLIMIT_NOFILE, new, hard)
        .or_else(|e| fallback.map_or(Err(e), |smaller| setrlimit(Resource::RLIMIT_NOFILE, smaller, hard)));
    if let Err(e) = set {
        tracing::debug!("could not raise the open-files limit from {soft}: {e}");
    }
}

/// `OPEN_MAX` on macOS.
const MACOS_OPEN_MAX: u64 = 10_240;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_rises_to_the_hard_one_within_reason() {
        assert_eq!(raised(1024, 524_288), Some(65_536));
        assert_eq!(raised(1024, 4096), Some(4096));
        assert_eq!(raised(4096, 4096), None);
        assert_eq!(raised(100_000, u64::MAX), None, "a higher limit is never lowered");
    }

    #[test]
    fn raising_keeps_the_hard_limit() {
        use nix::sys::resource::{Resource, getrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        raise_limit();
        let (soft, after) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(after, hard);
        assert!(soft >= hard.min(MACOS_OPEN_MAX), "raised to {soft} under a hard limit of {hard}");
    }
}

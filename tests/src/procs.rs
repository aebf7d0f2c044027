//! What benchmarks read of a running process: its CPU time and memory,
//! from /proc; finding it by its command line.

use std::process::Command;

/// Its user and system CPU time, in clock ticks (100 a second here).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// The whole machine's busy and total CPU time so far, in ticks summed over
/// all cores (the first line of /proc/stat); the difference of two readings
/// says how much of the machine a run used.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // user nice system idle iowait irq softirq steal (then guest times,
    // which user and nice already count).
    let f: Vec<u64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = f.iter().sum();
    // Idle, waiting for I/O, or taken by the host (steal): not busy.
    let not_busy: u64 = [3, 4, 7].iter().filter_map(|&i| f.get(i)).sum();
    (total.saturating_sub(not_busy), total)
}

/// A memory figure of /proc/PID/status (`VmRSS:`, `VmHWM:`), in MiB (NaN
/// when it is gone).
pub fn memory_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The newest process whose command line matches `pattern`.
pub fn pgrep(pattern: &str) -> Option<u32> {
    let out = Command::new("pgrep").args(["-n", "-f", pattern]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

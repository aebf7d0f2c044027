//! A deterministic project tree for benchmarks: N files in N/10 folders, sizes
//! log-normal around 3 KiB (capped at 1 MiB), content pseudo-random (so no
//! tool gains from compression). The same seed gives the same tree.

use std::path::{Path, PathBuf};

/// SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Fill a buffer with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Every file, relative to the root.
    pub files: Vec<PathBuf>,
    /// Total bytes.
    pub bytes: u64,
}

/// Generate `files` files under `root` with `seed`.
pub fn generate(root: &Path, files: usize, seed: u64) -> Tree {
    let mut rng = Rng::new(seed);
    let dirs = (files / 10).max(1);
    let mut out = Vec::with_capacity(files);
    let mut bytes = 0u64;
    let mut buf = Vec::new();
    for i in 0..files {
        let d = i % dirs;
        let dir = PathBuf::from(format!("pkg{}/mod{}/part{d}", d % 7, d % 53));
        let rel = dir.join(format!("file{i}.dat"));
        let size = ((3072f64.ln() + 1.45 * rng.normal()).exp() as usize).min(1 << 20);
        buf.resize(size, 0);
        rng.fill(&mut buf);
        let path = root.join(&rel);
        if i < dirs {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        std::fs::write(&path, &buf).unwrap();
        bytes += size as u64;
        out.push(rel);
    }
    Tree { files: out, bytes }
}

/// Percentile (0–100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

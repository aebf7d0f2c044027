//! The compiled-plugin cache: a component is compiled once by the process
//! that runs it and kept as native code in a private folder, keyed by the
//! wasm's sha256 and the engine's compatibility hash (a new sinc or wasmtime
//! misses the cache rather than loading stale code). Only files this cache
//! wrote itself are ever loaded: native code is trusted code.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled plugins are kept.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// The sha256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Cache {
    /// A cache in `dir` (created 0700 on first use).
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    fn path(&self, engine: &Engine, sha256: &str) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir.join(format!("{sha256}-{:016x}.cwasm", h.finish()))
    }

    /// The component for `wasm`: from the cache, else compiled now and
    /// kept. The second value says whether it was compiled now.
    pub fn component(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<(Component, bool)> {
        let path = self.path(engine, &sha256_hex(wasm));
        if path.exists() {
            match load(engine, &path) {
                Ok(component) => return Ok((component, false)),
                Err(e) => {
                    tracing::warn!("discarding the compiled plugin {}: {e:#}", path.display());
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let native = engine.precompile_component(wasm)?;
        if let Err(e) = self.store(&path, &native) {
            // Still usable now; it will be compiled again next time.
            tracing::warn!("cannot keep the compiled plugin in {}: {e}", self.dir.display());
        }
        // SAFETY: `native` was produced by this engine a moment ago.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &native)? };
        Ok((component, true))
    }

    fn store(&self, path: &std::path::Path, native: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        std::io::Write::write_all(&mut file, native)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

/// Load a compiled component this cache wrote.
fn load(engine: &Engine, path: &std::path::Path) -> wasmtime::Result<Component> {
    // SAFETY: the file is in sinc's private cache folder (0700), written only
    // by `Cache::store` with this engine's output, and its name carries the
    // engine's compatibility hash; wasmtime checks the header again.
    #[allow(unsafe_code)]
    unsafe {
        Component::deserialize_file(engine, path)
    }
}

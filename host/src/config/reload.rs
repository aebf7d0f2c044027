//! The configuration as a long-running process (the keeper) sees it: read
//! again from disk when asked, so a changed plugin setting or state pattern
//! reaches the plugins with the next `sinc` in the project instead of at
//! the keeper's next start. A file that no longer loads keeps the last good
//! configuration in force, with a warning.

use super::{Config, LoadRequest, load};
use crate::paths::Dirs;
use std::sync::{Arc, Mutex, PoisonError};

/// A configuration that can be read again.
#[derive(Debug, Clone)]
pub struct Reloading {
    dirs: Dirs,
    request: LoadRequest,
    last: Arc<Mutex<Config>>,
}

impl Reloading {
    /// `config`, loaded by `request`.
    pub fn new(dirs: Dirs, request: LoadRequest, config: Config) -> Reloading {
        Reloading { dirs, request, last: Arc::new(Mutex::new(config)) }
    }

    /// The configuration as the files say now (or the last good one).
    pub fn current(&self) -> Config {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match load(&self.dirs, &self.request) {
            Ok(loaded) => *last = loaded.config,
            Err(e) => tracing::warn!("the configuration no longer loads; keeping the last good one: {e}"),
        }
        last.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_setting_is_read_again_and_a_broken_file_keeps_the_last_good_one() {
        let home = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(home.path());
        std::fs::create_dir_all(&dirs.config).unwrap();
        let file = dirs.config.join("config.toml");
        std::fs::write(&file, "[plugins.hello]\ngreeting = \"Hi\"\n").unwrap();
        let request = LoadRequest { config_file: Some(file.clone()), ..LoadRequest::default() };
        let first = load(&dirs, &request).unwrap().config;
        let reloading = Reloading::new(dirs, request, first);
        let greeting = |c: &Config| c.plugins["hello"]["greeting"].as_str().unwrap().to_owned();
        assert_eq!(greeting(&reloading.current()), "Hi");
        std::fs::write(&file, "[plugins.hello]\ngreeting = \"Ahoy\"\n").unwrap();
        assert_eq!(greeting(&reloading.current()), "Ahoy");
        std::fs::write(&file, "[plugins.hello\n").unwrap();
        assert_eq!(greeting(&reloading.current()), "Ahoy");
    }
}

//! The page's files, built into the plugin (the VPS may have no internet:
//! nothing comes from a CDN). xterm.js 6.0.0 (MIT, `vendor/LICENSE-xterm`)
//! renders a session's screen: agents redraw with cursor moves and
//! colours, which only a terminal emulator shows right; it is loaded only
//! when a session is opened, so the list stays small and quick.

/// One file: its path, type and contents.
pub struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `content-type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every file.
pub const ASSETS: &[Asset] = &[
    Asset { path: "/", content_type: "text/html; charset=utf-8", body: include_bytes!("../assets/index.html") },
    Asset { path: "/app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../assets/app.js") },
    Asset { path: "/app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../assets/app.css") },
    Asset {
        path: "/vendor/xterm.mjs",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/vendor/xterm.mjs"),
    },
    Asset {
        path: "/vendor/xterm.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/vendor/xterm.css"),
    },
];

/// The file served at `path`.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_are_there() {
        assert!(std::str::from_utf8(find("/").unwrap().body).unwrap().contains("/app.js"));
        assert!(std::str::from_utf8(find("/vendor/xterm.mjs").unwrap().body).unwrap().contains("Terminal"));
        assert!(find("/etc/passwd").is_none());
        // The list needs only the small files.
        let small: usize = ["/", "/app.js", "/app.css"].iter().map(|p| find(p).unwrap().body.len()).sum();
        assert!(small < 40_000, "{small} bytes");
    }
}

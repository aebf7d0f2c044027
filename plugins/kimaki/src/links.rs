//! Which channel is which project and which thread is which session: kept
//! in the plugin's store, so a restart (of the daemon, of the VPS) finds
//! them again.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A thread's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    /// The session's id.
    pub session: String,
    /// The project channel the thread is in.
    pub channel: String,
    /// The server.
    pub guild: String,
    /// Whether the session ended (its end was posted).
    #[serde(default)]
    pub ended: bool,
}

/// Every link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// Project folders on the VPS (absolute), by channel id.
    pub projects: BTreeMap<String, String>,
    /// Sessions, by thread id.
    pub threads: BTreeMap<String, Thread>,
}

impl Links {
    /// The thread of session `id` that is still following it.
    pub fn thread_of(&self, session: &str) -> Option<&str> {
        self.threads.iter().find(|(_, t)| t.session == session && !t.ended).map(|(id, _)| id.as_str())
    }

    /// The project folder of `channel`, or of the channel `channel` is a
    /// thread in.
    pub fn project_of(&self, channel: &str) -> Option<&str> {
        let parent = self.threads.get(channel).map_or(channel, |t| t.channel.as_str());
        self.projects.get(parent).map(String::as_str)
    }

    /// The threads following a live session.
    pub fn live(&self) -> impl Iterator<Item = (&String, &Thread)> {
        self.threads.iter().filter(|(_, t)| !t.ended)
    }

    /// Channel `channel` is no longer a project: its threads stop following.
    pub fn remove_project(&mut self, channel: &str) -> bool {
        for t in self.threads.values_mut().filter(|t| t.channel == channel) {
            t.ended = true;
        }
        self.projects.remove(channel).is_some()
    }
}

/// `folder` (absolute, `~/…` or relative to the home folder) as an
/// absolute path under `home`.
pub fn project_folder(home: &str, folder: &str) -> Result<String, String> {
    let home = home.trim_end_matches('/');
    let rest = folder.strip_prefix('~').map_or(folder, |r| r);
    let path =
        if folder.starts_with('/') { folder.to_owned() } else { format!("{home}/{}", rest.trim_start_matches('/')) };
    if path.split('/').any(|c| c == "..") {
        return Err(format!("`{folder}`: give a folder without `..`"));
    }
    // Not a hidden folder (`~/.ssh`, `~/.config`): its files could then be
    // shared.
    if path.strip_prefix(home).unwrap_or(&path).split('/').any(|c| c.starts_with('.')) {
        return Err(format!("`{folder}`: not a hidden folder; give a project's folder"));
    }
    let path = path.trim_end_matches('/').to_owned();
    if path != home && !path.starts_with(&format!("{home}/")) {
        return Err(format!("`{folder}` is outside the home folder `{home}`, which is all the bot may use"));
    }
    Ok(path)
}

/// File `path` (relative, `/`-separated, without `..` or hidden names —
/// `.env`, `.git/`, keys) of `project`.
pub fn file_in(project: &str, path: &str) -> Result<String, String> {
    let clean = path.trim().trim_start_matches("./");
    if clean.is_empty() || clean.starts_with('/') || clean.split('/').any(|c| c == "..") {
        return Err(format!("`{path}`: give a path inside the project, without `..`"));
    }
    if clean.split('/').any(|c| c.starts_with('.')) {
        return Err(format!("`{path}`: hidden files and folders (`.env`, `.git`, keys) are not shared"));
    }
    Ok(format!("{project}/{clean}"))
}

/// Whether `relative` (`/`-separated) under `root` is reached through a
/// symbolic link: it could then lead anywhere.
pub fn through_link(root: &str, relative: &str) -> bool {
    let mut walked = root.trim_end_matches('/').to_owned();
    relative.split('/').filter(|p| !p.is_empty() && *p != ".").any(|part| {
        walked = format!("{walked}/{part}");
        std::fs::symlink_metadata(&walked).is_ok_and(|m| m.file_type().is_symlink())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_resolve_under_the_home_folder_only() {
        assert_eq!(project_folder("/home/u", "~/code/app/").unwrap(), "/home/u/code/app");
        assert_eq!(project_folder("/home/u", "code/app").unwrap(), "/home/u/code/app");
        assert_eq!(project_folder("/home/u/", "/home/u/code").unwrap(), "/home/u/code", "however home is written");
        assert_eq!(project_folder("/home/u", "/home/u/x").unwrap(), "/home/u/x");
        assert!(project_folder("/home/u", "/etc").is_err());
        assert!(project_folder("/home/u", "/home/user2").is_err());
        assert!(project_folder("/home/u", "~/../v").is_err());
        for hidden in ["~/.ssh", "~/.", "~/./", "~/code/.git", "/home/u/.config/x"] {
            assert!(project_folder("/home/u", hidden).is_err(), "{hidden}");
        }
    }

    #[test]
    fn shared_files_stay_in_the_project() {
        assert_eq!(file_in("/p", "./out/a.txt").unwrap(), "/p/out/a.txt");
        for bad in ["", "/etc/passwd", "../x", "a/../../x", ".env", ".ssh/id_ed25519", "a/.git/config"] {
            assert!(file_in("/p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_on_the_way_are_found() {
        let root = std::env::temp_dir().join(format!("kimaki-links-{}", std::process::id()));
        std::fs::create_dir_all(root.join("real/inner")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let root_text = root.to_string_lossy();
        assert!(!through_link(&root_text, "real/inner"));
        assert!(!through_link(&format!("{root_text}/"), "./real/missing"));
        assert!(through_link(&root_text, "link/inner"));
        assert!(through_link(&root_text, "link"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn threads_lead_to_their_projects_and_sessions() {
        let mut l = Links::default();
        l.projects.insert("c1".into(), "/home/u/app".into());
        l.threads.insert(
            "t1".into(),
            Thread { session: "s1".into(), channel: "c1".into(), guild: "g".into(), ended: false },
        );
        assert_eq!(l.project_of("t1"), Some("/home/u/app"));
        assert_eq!(l.project_of("c1"), Some("/home/u/app"));
        assert_eq!(l.thread_of("s1"), Some("t1"));
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<Links>(&json).unwrap(), l, "kept across restarts");
        assert!(l.remove_project("c1"));
        assert_eq!((l.thread_of("s1"), l.project_of("t1"), l.live().count()), (None, None, 0));
    }
}

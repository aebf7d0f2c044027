//! Where an attachment is saved: a name that is safe on any file system
//! and never replaces a file already there.

/// The most characters kept of a name.
const MAX_NAME: usize = 100;

/// `name` made safe: no folders, no control characters, no leading dots,
/// only letters, digits and `-_.+ ()`; never empty.
pub fn sanitise(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String =
        base.chars().map(|c| if c.is_alphanumeric() || "-_.+ ()".contains(c) { c } else { '_' }).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    let mut cleaned: String = cleaned.chars().take(MAX_NAME).collect();
    if cleaned.is_empty() {
        cleaned = "attachment".into();
    }
    cleaned
}

/// A name for `name` that `taken` says is free: `name`, else `stem (2).ext`,
/// `stem (3).ext`, …
pub fn free_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(name) {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    (2..).map(|n| format!("{stem} ({n}){ext}")).find(|candidate| !taken(candidate)).unwrap_or_default()
}

/// Whether an attachment is audio to transcribe: a voice message (message
/// flag 8192), or any file Discord calls audio.
pub fn is_audio(message_flags: u64, content_type: &str) -> bool {
    message_flags & (1 << 13) != 0 || content_type.starts_with("audio/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(sanitise("report.pdf"), "report.pdf");
        assert_eq!(sanitise("../../etc/passwd"), "passwd");
        assert_eq!(sanitise("..\\evil.sh"), "evil.sh");
        assert_eq!(sanitise(".bashrc"), "bashrc");
        assert_eq!(sanitise("a\u{0}b\nc;rm -rf.txt"), "a_b_c_rm -rf.txt");
        assert_eq!(sanitise("..."), "attachment");
        assert_eq!(sanitise(&"x".repeat(300)).len(), MAX_NAME);
        assert_eq!(sanitise("café.png"), "café.png");
    }

    #[test]
    fn an_existing_file_is_never_replaced() {
        let taken = ["a.png", "a (2).png", "notes"];
        assert_eq!(free_name("b.png", |n| taken.contains(&n)), "b.png");
        assert_eq!(free_name("a.png", |n| taken.contains(&n)), "a (3).png");
        assert_eq!(free_name("notes", |n| taken.contains(&n)), "notes (2)");
    }

    #[test]
    fn voice_messages_and_audio_files_are_transcribed() {
        assert!(is_audio(8192, "audio/ogg") && is_audio(0, "audio/mpeg") && is_audio(8192, ""));
        assert!(!is_audio(0, "image/png"));
    }
}

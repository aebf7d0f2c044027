//! Reading a `multipart/form-data` body: Discord's uploads (`payload_json`
//! and `files[n]`), the transcription API's audio (`file`, `model`).

/// One part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// Its form field name.
    pub name: String,
    /// Its file name (empty for a plain field).
    pub filename: String,
    /// Its content type.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The parts of `body`, whose `content-type` header is `kind`; none when it
/// is not well formed.
pub(crate) fn parse(kind: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = kind.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?.trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body.get(find(body, &delimiter)? + delimiter.len()..)?;
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, &delimiter)?;
        let part = rest[..end].strip_suffix(b"\r\n")?;
        let split = find(part, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&part[..split]).ok()?;
        let mut p = Part {
            name: String::new(),
            filename: String::new(),
            content_type: String::new(),
            bytes: part[split + 4..].to_vec(),
        };
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':')?;
            match name.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for field in value.split(';').map(str::trim) {
                        if let Some(v) = field.strip_prefix("name=") {
                            p.name = v.trim_matches('"').to_owned();
                        } else if let Some(v) = field.strip_prefix("filename=") {
                            p.filename = v.trim_matches('"').to_owned();
                        }
                    }
                }
                "content-type" => p.content_type = value.trim().to_owned(),
                _ => {}
            }
        }
        parts.push(p);
        rest = &rest[end + delimiter.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

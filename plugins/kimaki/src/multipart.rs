//! `multipart/form-data` bodies: Discord's uploads (`payload_json` and
//! `files[n]`) and the transcription API's (`file`, `model`).

/// One field.
#[derive(Debug, Clone)]
pub struct Field<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its file name, for a file.
    pub filename: Option<&'a str>,
    /// Its content type.
    pub content_type: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// The body of `fields` and its `content-type`, with a boundary that none
/// of them contains.
pub fn form(fields: &[Field<'_>], seed: u64) -> (Vec<u8>, String) {
    let mut n = seed;
    let boundary = loop {
        let candidate = format!("sinc-kimaki-{n:016x}");
        if !fields.iter().any(|f| contains(f.bytes, candidate.as_bytes())) {
            break candidate;
        }
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    };
    let mut body = Vec::new();
    for f in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let quoted = |s: &str| s.replace(['"', '\r', '\n'], "_");
        let disposition = match f.filename {
            Some(file) => format!("form-data; name=\"{}\"; filename=\"{}\"", quoted(f.name), quoted(file)),
            None => format!("form-data; name=\"{}\"", quoted(f.name)),
        };
        body.extend_from_slice(
            format!("Content-Disposition: {disposition}\r\nContent-Type: {}\r\n\r\n", f.content_type).as_bytes(),
        );
        body.extend_from_slice(f.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_files_are_framed() {
        let fields = [
            Field { name: "payload_json", filename: None, content_type: "application/json", bytes: b"{}" },
            Field { name: "files[0]", filename: Some("a\"b.txt"), content_type: "text/plain", bytes: b"hi" },
        ];
        let (body, kind) = form(&fields, 1);
        let text = String::from_utf8(body).unwrap();
        let boundary = kind.strip_prefix("multipart/form-data; boundary=").unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"")));
        assert!(text.contains("filename=\"a_b.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }

    #[test]
    fn the_boundary_is_never_in_a_field() {
        let clash = b"xx--sinc-kimaki-0000000000000001xx";
        let (_, kind) = form(&[Field { name: "f", filename: None, content_type: "text/plain", bytes: clash }], 1);
        assert!(!kind.ends_with("0000000000000001"), "{kind}");
    }
}

//! Keys written into JSON or JSONC settings: a string value of at least 8
//! characters under a key whose name says it holds a secret, unless the
//! value only points at one (`{env:NAME}`, `{file:…}`, `$NAME`, `${NAME}`).
//! A small tokenizer rather than a JSON parser: OpenCode's `opencode.jsonc`
//! has comments and trailing commas, and a file being edited may not parse
//! at all — its keys should still be found.

/// A key written into a settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The line of its value (from 1).
    pub line: usize,
    /// The key that holds it.
    pub key: String,
}

#[derive(Debug, PartialEq)]
enum Token {
    Str(String, usize),
    Colon,
    Other,
}

/// The keys written into `text`, in order.
pub fn find(text: &str) -> Vec<Finding> {
    let tokens = tokenize(text);
    tokens
        .windows(3)
        .filter_map(|w| match w {
            [Token::Str(key, _), Token::Colon, Token::Str(value, line)]
                if names_a_secret(key) && is_written_in(value) =>
            {
                Some(Finding { line: *line, key: key.clone() })
            }
            _ => None,
        })
        .collect()
}

/// Whether a key's name says its value is a secret. Keys that name where
/// a secret comes from (`apiKeyHelper`, `tokenFile`) do not.
fn names_a_secret(key: &str) -> bool {
    let k: String = key.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    if ["helper", "command", "file", "path", "env", "url"].iter().any(|s| k.ends_with(s)) {
        return false;
    }
    k.ends_with("token")
        || ["apikey", "secret", "password", "passwd", "authorization", "credential", "privatekey", "accesskey"]
            .iter()
            .any(|s| k.contains(s))
}

/// Whether a value is the secret itself rather than a pointer to one.
fn is_written_in(value: &str) -> bool {
    let v = value.trim();
    v.chars().count() >= 8
        && !v.starts_with('$')
        && !v.starts_with('<')
        && !v.contains("{env:")
        && !v.contains("{file:")
        && !v.contains("${")
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '"' => {
                let start = line;
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                s.push(escaped);
                            }
                        }
                        '\n' => {
                            line += 1;
                            s.push(c);
                        }
                        c => s.push(c),
                    }
                }
                tokens.push(Token::Str(s, start));
            }
            ':' => tokens.push(Token::Colon),
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            _ => tokens.push(Token::Other),
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<(usize, &'static str)> {
        find(text).into_iter().map(|f| (f.line, &*f.key.leak())).collect()
    }

    #[test]
    fn claude_code_settings_with_a_key_in_env() {
        let text = include_str!("../fixtures/claude/settings.json");
        assert_eq!(keys(text), [(5, "ANTHROPIC_AUTH_TOKEN")]);
    }

    #[test]
    fn opencode_config_with_comments_and_a_provider_key() {
        let text = include_str!("../fixtures/opencode/opencode.jsonc");
        assert_eq!(keys(text), [(9, "apiKey"), (20, "Authorization")]);
    }

    #[test]
    fn pointers_to_secrets_and_other_keys_are_not_secrets() {
        let text = r#"{
          "apiKeyHelper": "~/bin/anthropic-key.sh",
          "apiKey": "{env:OPENAI_API_KEY}",
          "token": "${GITHUB_TOKEN}",
          "password": "short",
          "max_tokens": 4096,
          "tokenizer": "cl100k_base",
          "Authorization": "Bearer {file:~/.secrets/key}",
          "description": "uses an apiKey: \"sk-not-a-key-here\""
        }"#;
        assert!(find(text).is_empty(), "{:?}", find(text));
    }

    #[test]
    fn broken_files_are_still_read() {
        assert_eq!(keys("{ \"secret\": \"s3cr3t-value\", \"a\": "), [(1, "secret")]);
        assert_eq!(keys("/* \"token\": \"aaaaaaaaaaaa\" */ // \"token\": \"bbbbbbbbbbbb\"\n"), []);
    }
}

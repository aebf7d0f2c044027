//! Secrets found in captured output replaced before anything is written:
//! provider API keys and tokens by their well-known shapes, bearer tokens,
//! private key blocks, JWTs, and the values of assignments whose name says
//! secret (`API_KEY=…`, `password: …`).

use regex_lite::Regex;
use std::sync::OnceLock;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The shapes of secrets, each with what replaces it.
fn patterns() -> &'static [(Regex, String)] {
    static PATTERNS: OnceLock<Vec<(Regex, String)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let whole = [
            // Private keys (the whole block).
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
            // OpenAI / Anthropic (`sk-…`, `sk-ant-…`, `sk-proj-…`).
            r"\bsk-[A-Za-z0-9_-]{16,}",
            // GitHub.
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
            // GitLab, Slack, Google, AWS access key ids, Stripe, Hugging Face.
            r"\bglpat-[A-Za-z0-9_-]{20,}",
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
            r"\bAIza[0-9A-Za-z_-]{35}",
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
            r"\b[rs]k_live_[0-9A-Za-z]{16,}",
            r"\bhf_[A-Za-z0-9]{30,}",
            // JSON Web Tokens.
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ]
        .iter()
        .map(|p| (Regex::new(p).expect("a valid pattern"), REDACTED.to_owned()));
        // Passwords in URLs (`scheme://user:password@host`): the rest stays.
        let url = Regex::new(r"(://[^/\s:@]+:)[^@\s/]+@").expect("a valid pattern");
        let whole = whole.chain([(url, format!("${{1}}{REDACTED}@"))]);
        // Bearer tokens in headers and commands: the word stays.
        let bearer = Regex::new(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{16,}").expect("a valid pattern");
        whole.chain([(bearer, format!("${{1}} {REDACTED}"))]).collect()
    })
}

fn assignment() -> &'static Regex {
    static ASSIGNMENT: OnceLock<Regex> = OnceLock::new();
    // NAME=value, NAME: value, "name": "value" — where the name says secret.
    ASSIGNMENT.get_or_init(|| {
        Regex::new(
            r#"(?i)([A-Za-z0-9_.-]*(?:api[_-]?key|secret|token|passw(?:or)?d|credential|auth)[A-Za-z0-9_.-]*["']?\s*[:=]\s*["']?)((?:bearer\s+|basic\s+)?[^\s"',;]{6,})"#,
        )
        .expect("a valid pattern")
    })
}

/// `text` with the secrets found in it replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let mut out = assignment().replace_all(text, format!("${{1}}{REDACTED}")).into_owned();
    for (pattern, replacement) in patterns() {
        out = pattern.replace_all(&out, replacement.as_str()).into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_of_every_known_shape_are_redacted() {
        let secrets = [
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
            "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "glpat-abcdefghijklmnopqrst",
            "xoxb-1234567890-abcdefghij",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "AKIAIOSFODNN7EXAMPLE",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ];
        for secret in secrets {
            let line = format!("using {secret} now");
            let clean = redact(&line);
            assert!(!clean.contains(secret), "{secret} survived: {clean}");
            assert!(clean.starts_with("using ") && clean.contains(REDACTED), "{clean}");
        }
    }

    #[test]
    fn secret_assignments_headers_and_key_blocks_lose_their_values_only() {
        let text = "export OPENAI_API_KEY=abc123def456\npassword: hunter22hunter\n\
                    {\"auth_token\": \"zzzzzzzzzzzz\"}\ncurl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz'\n\
                    -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\nafter";
        let clean = redact(text);
        for gone in
            ["abc123def456", "hunter22hunter", "zzzzzzzzzzzz", "abcdefghijklmnopqrstuvwxyz", "b3BlbnNzaC1rZXktdjEAAAAA"]
        {
            assert!(!clean.contains(gone), "{gone} survived:\n{clean}");
        }
        assert!(clean.contains("export OPENAI_API_KEY=[REDACTED]"), "{clean}");
        assert!(clean.contains("Authorization: [REDACTED]'"), "{clean}");
        assert_eq!(redact("run with Bearer abcdefghijklmnopqrstuvwxyz"), "run with Bearer [REDACTED]");
        assert!(clean.ends_with("after"), "{clean}");
        assert_eq!(
            redact("DATABASE at postgres://app:s3cr3t@db:5432/x"),
            "DATABASE at postgres://app:[REDACTED]@db:5432/x"
        );
    }

    #[test]
    fn ordinary_output_is_left_alone() {
        let text =
            "test result: ok. 12 passed; 0 failed\nwrote src/token_parser.rs\nsk-short\nthe password field is empty";
        assert_eq!(redact(text), text);
    }
}

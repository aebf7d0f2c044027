//! Who may use the page: devices paired with a one-time code that `sinc
//! mobile pair` prints (typed on the page or carried by its link), each
//! then holding a long-lived, revocable cookie. Only a hash of each
//! device's token is kept. Pure: the random bytes and the time come in.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cookie a paired device holds.
pub const COOKIE: &str = "sinc_mobile";

/// How long a pairing code may be used, in milliseconds.
pub const CODE_LIFETIME_MS: u64 = 10 * 60 * 1000;

/// The least time between two wrong codes, in milliseconds: at one a
/// second, the ten minutes a code lives allow 600 guesses of 31^8.
pub const WRONG_CODE_PAUSE_MS: u64 = 1000;

/// The letters codes are made of (none that looks like another: no 0/O,
/// 1/I/L).
const ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A code waiting to be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCode {
    /// Its hash.
    pub hash: String,
    /// When it stops working (ms since the epoch).
    pub expires: u64,
}

/// A paired device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Short id, for `sinc mobile revoke`.
    pub id: String,
    /// What the page said it is (the browser's description).
    pub name: String,
    /// Hash of its token.
    pub token_hash: String,
    /// When it was paired (ms since the epoch).
    pub paired: u64,
    /// When it was last seen (ms since the epoch).
    pub seen: u64,
}

/// What the plugin keeps about pairing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    /// Codes not yet used.
    pub codes: Vec<PendingCode>,
    /// Paired devices.
    pub devices: Vec<Device>,
    /// When the last wrong code was tried (ms since the epoch).
    #[serde(default)]
    pub last_wrong: u64,
}

/// Hex SHA-256 of `text`.
pub fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A code from 8 random bytes: `XXXX-XXXX` (40 bits).
pub fn code_from(random: [u8; 8]) -> String {
    let letters: String = random.iter().map(|b| ALPHABET[usize::from(b % 31)] as char).collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// A code as typed: upper case, without spaces or dashes.
pub fn normalized(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

/// A token from 32 random bytes (hex).
pub fn token_from(random: [u8; 32]) -> String {
    random.iter().map(|b| format!("{b:02x}")).collect()
}

impl Pairing {
    /// Keep a new `code`, usable until `now` + [`CODE_LIFETIME_MS`];
    /// expired codes go.
    pub fn add_code(&mut self, code: &str, now: u64) {
        self.codes.retain(|c| c.expires > now);
        self.codes.push(PendingCode { hash: hash(&normalized(code)), expires: now + CODE_LIFETIME_MS });
    }

    /// Use `code` to pair a device called `name` holding `token`: `Err`
    /// says why not.
    pub fn pair(&mut self, code: &str, name: &str, token: &str, now: u64) -> Result<Device, String> {
        self.codes.retain(|c| c.expires > now);
        if now.saturating_sub(self.last_wrong) < WRONG_CODE_PAUSE_MS {
            return Err("one try a second: wait a moment and enter the code again".into());
        }
        let wanted = hash(&normalized(code));
        let Some(at) = self.codes.iter().position(|c| c.hash == wanted) else {
            self.last_wrong = now;
            return Err("that code is wrong, used, or expired; `sinc mobile pair` prints a new one".into());
        };
        self.codes.remove(at);
        let token_hash = hash(token);
        let device = Device {
            id: token_hash[..8].to_owned(),
            name: name.chars().filter(|c| !c.is_control()).take(80).collect(),
            token_hash,
            paired: now,
            seen: now,
        };
        self.devices.push(device.clone());
        Ok(device)
    }

    /// The device holding `token`, noted as seen `now`.
    pub fn device(&mut self, token: &str, now: u64) -> Option<&Device> {
        let wanted = hash(token);
        let device = self.devices.iter_mut().find(|d| d.token_hash == wanted)?;
        device.seen = now;
        Some(device)
    }

    /// Forget the devices whose id starts with `id` (`None`: all); how
    /// many went.
    pub fn revoke(&mut self, id: Option<&str>) -> usize {
        let before = self.devices.len();
        self.devices.retain(|d| id.is_some_and(|id| !d.id.starts_with(id)));
        before - self.devices.len()
    }
}

/// The value of cookie `name` in a `cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('='))
}

/// Whether a request with these `origin` and `host` headers comes from the
/// page itself (a browser always sends `Origin` on WebSockets and POSTs).
pub fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
    match (origin, host) {
        (Some(origin), Some(host)) => {
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
        }
        _ => false,
    }
}

/// `Set-Cookie` for `token`: sent back only to this page's host, never
/// read by scripts, kept a year.
pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_pair_once_and_only_in_time() {
        let mut p = Pairing::default();
        let code = code_from([1, 2, 3, 4, 5, 6, 7, 200]);
        assert_eq!(code.len(), 9);
        p.add_code(&code, 1000);
        // Typed in lower case, without the dash: still it.
        let typed = code.to_lowercase().replace('-', "");
        let device = p.pair(&typed, "Pixel\u{7}", "tok", 2000).unwrap();
        let later = 2000 + WRONG_CODE_PAUSE_MS;
        assert_eq!((device.name.as_str(), device.token_hash.as_str()), ("Pixel", hash("tok").as_str()));
        assert!(p.pair(&code, "again", "tok2", later).unwrap_err().contains("wrong, used, or expired"));
        p.add_code(&code, 3000);
        assert!(p.pair(&code, "late", "t", 3000 + CODE_LIFETIME_MS + later).is_err());
        assert_eq!(p.device("tok", 5000).unwrap().seen, 5000);
        assert!(p.device("other", 5000).is_none());
    }

    #[test]
    fn guessing_is_slowed_to_one_try_a_second() {
        let mut p = Pairing::default();
        p.add_code("ABCD-EFGH", 0);
        assert!(p.pair("ZZZZ-ZZZZ", "x", "t", 5000).unwrap_err().contains("wrong"));
        // Even the right code waits out the pause after a wrong one...
        assert!(p.pair("ABCD-EFGH", "x", "t", 5500).unwrap_err().contains("one try a second"));
        // ...and then works: guesses never lock the owner out.
        assert!(p.pair("ABCD-EFGH", "x", "t", 6000).is_ok());
    }

    #[test]
    fn revoking_by_id_prefix_or_all() {
        let mut p = Pairing::default();
        for (i, t) in ["a", "b", "c"].iter().enumerate() {
            p.add_code(&format!("CODE-000{i}"), 0);
            p.pair(&format!("CODE-000{i}"), t, t, 5000).unwrap();
        }
        let first = p.devices[0].id.clone();
        assert_eq!(p.revoke(Some(&first[..4])), 1);
        assert_eq!(p.revoke(None), 2);
        assert!(p.devices.is_empty());
    }

    #[test]
    fn cookies_origins_and_look_alikes() {
        assert_eq!(cookie("a=1; sinc_mobile=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("sinc_mobile_x=1", COOKIE), None);
        assert!(same_origin(Some("http://127.0.0.1:3000"), Some("127.0.0.1:3000")));
        assert!(!same_origin(Some("http://evil.example"), Some("127.0.0.1:3000")));
        assert!(!same_origin(None, Some("127.0.0.1:3000")));
        assert_eq!(normalized("ab-c d"), "ABCD");
        assert!(set_cookie("t").contains("HttpOnly; SameSite=Strict"));
    }
}

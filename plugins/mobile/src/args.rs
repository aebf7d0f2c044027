//! `sinc mobile …`: its command line.

/// What `sinc mobile` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MobileCommand {
    /// Print a one-time pairing code, its link and a QR code.
    Pair {
        /// As JSON.
        json: bool,
    },
    /// List the paired devices.
    Devices {
        /// As JSON.
        json: bool,
    },
    /// Forget a device (by id or its start), or all.
    Revoke {
        /// Which; `None`: all.
        id: Option<String>,
    },
}

/// How to use it.
pub const USAGE: &str = "usage: sinc mobile pair [--json] | devices [--json] | revoke ID|--all\n";

/// Parse `args` (after `sinc mobile`); `Err("")` asks for the usage.
pub fn parse(args: &[String]) -> Result<MobileCommand, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["-h" | "--help" | "help"] => Err(String::new()),
        ["pair"] => Ok(MobileCommand::Pair { json: false }),
        ["pair", "--json"] => Ok(MobileCommand::Pair { json: true }),
        ["devices"] => Ok(MobileCommand::Devices { json: false }),
        ["devices", "--json"] => Ok(MobileCommand::Devices { json: true }),
        ["revoke", "--all"] => Ok(MobileCommand::Revoke { id: None }),
        ["revoke", id] if !id.starts_with('-') && id.len() >= 4 => {
            Ok(MobileCommand::Revoke { id: Some((*id).to_owned()) })
        }
        ["revoke", _] | ["revoke"] => {
            Err("give a device id (at least its first 4 characters, from `sinc mobile devices`) or --all".into())
        }
        ["pair" | "devices" | "revoke", extra, ..] => Err(format!("unexpected `{extra}`")),
        [other, ..] => Err(format!("unknown `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Result<MobileCommand, String> {
        parse(&words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn every_form() {
        assert_eq!(p(&["pair"]), Ok(MobileCommand::Pair { json: false }));
        assert_eq!(p(&["devices", "--json"]), Ok(MobileCommand::Devices { json: true }));
        assert_eq!(p(&["revoke", "ab12cd"]), Ok(MobileCommand::Revoke { id: Some("ab12cd".into()) }));
        assert_eq!(p(&["revoke", "--all"]), Ok(MobileCommand::Revoke { id: None }));
        assert!(p(&["revoke", "ab"]).is_err() && p(&["revoke", "--x"]).is_err());
        assert_eq!(p(&[]), Err(String::new()));
        assert!(p(&["pair", "extra"]).unwrap_err().contains("unexpected `extra`"));
        assert!(p(&["revoke"]).unwrap_err().contains("device id"));
        assert!(p(&["open"]).unwrap_err().contains("unknown `open`"));
    }
}

//! What tokens cost: a bundled table (US dollars per million tokens, from
//! the providers' published price lists), which the user's settings extend
//! or override. A model is priced only when its name is in the table —
//! exactly, or with a date or `-latest` after it — never by a guess. Pure.

use crate::usage::Usage;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Dollars per million tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Input tokens read from the cache.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Input tokens written to the cache.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

const fn p(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Price {
    Price { input, output, cache_read: Some(cache_read), cache_write: Some(cache_write) }
}

/// The bundled table. Anthropic: cache writes (5-minute) cost 1.25× input,
/// reads 0.1×. OpenAI: cached input at its listed price, no write charge.
const BUNDLED: &[(&str, Price)] = &[
    ("claude-opus-4-5", p(5.0, 25.0, 0.5, 6.25)),
    ("claude-opus-4-1", p(15.0, 75.0, 1.5, 18.75)),
    ("claude-opus-4", p(15.0, 75.0, 1.5, 18.75)),
    ("claude-sonnet-4-5", p(3.0, 15.0, 0.3, 3.75)),
    ("claude-sonnet-4", p(3.0, 15.0, 0.3, 3.75)),
    ("claude-3-7-sonnet", p(3.0, 15.0, 0.3, 3.75)),
    ("claude-3-5-sonnet", p(3.0, 15.0, 0.3, 3.75)),
    ("claude-haiku-4-5", p(1.0, 5.0, 0.1, 1.25)),
    ("claude-3-5-haiku", p(0.8, 4.0, 0.08, 1.0)),
    ("claude-3-haiku", p(0.25, 1.25, 0.03, 0.3)),
    ("gpt-5", p(1.25, 10.0, 0.125, 0.0)),
    ("gpt-5-mini", p(0.25, 2.0, 0.025, 0.0)),
    ("gpt-5-nano", p(0.05, 0.4, 0.005, 0.0)),
    ("gpt-4.1", p(2.0, 8.0, 0.5, 0.0)),
    ("gpt-4.1-mini", p(0.4, 1.6, 0.1, 0.0)),
    ("gpt-4.1-nano", p(0.1, 0.4, 0.025, 0.0)),
    ("gpt-4o", p(2.5, 10.0, 1.25, 0.0)),
    ("gpt-4o-mini", p(0.15, 0.6, 0.075, 0.0)),
    ("o3", p(2.0, 8.0, 0.5, 0.0)),
    ("o3-mini", p(1.1, 4.4, 0.55, 0.0)),
    ("o4-mini", p(1.1, 4.4, 0.275, 0.0)),
    ("o1", p(15.0, 60.0, 7.5, 0.0)),
];

/// The prices in effect.
#[derive(Debug, Clone, Default)]
pub struct Prices {
    own: BTreeMap<String, Price>,
}

/// Whether `rest` (what follows a known name) is a snapshot date
/// (`-2024-08-06`, `-20250929`) or `-latest`.
fn is_version_suffix(rest: &str) -> bool {
    let Some(rest) = rest.strip_prefix('-') else { return false };
    let digits = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    rest == "latest"
        || digits(rest, 8)
        || matches!(rest.split('-').collect::<Vec<_>>()[..], [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2))
}

impl Prices {
    /// The bundled table plus `own` (the user's, which wins).
    pub fn new(own: BTreeMap<String, Price>) -> Prices {
        Prices { own }
    }

    /// The price of `model`, if known.
    pub fn of(&self, model: &str) -> Option<Price> {
        let model = model.rsplit_once('/').map_or(model, |(_, m)| m);
        let matches = |name: &str| model == name || model.strip_prefix(name).is_some_and(is_version_suffix);
        self.own
            .iter()
            .find(|(name, _)| matches(name))
            .map(|(_, price)| *price)
            .or_else(|| BUNDLED.iter().find(|(name, _)| matches(name)).map(|(_, price)| *price))
    }

    /// What `usage` of `model` cost, if the model is priced.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.of(model)?;
        let per = |tokens: u64, dollars: f64| tokens as f64 * dollars / 1e6;
        Some(
            per(usage.input, price.input)
                + per(usage.output, price.output)
                + per(usage.cache_read, price.cache_read.unwrap_or(price.input))
                + per(usage.cache_write, price.cache_write.unwrap_or(price.input)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_priced_by_name_and_snapshot_only() {
        let prices = Prices::default();
        assert_eq!(prices.of("claude-sonnet-4-5-20250929").unwrap().input, 3.0);
        assert_eq!(prices.of("gpt-4o-2024-08-06").unwrap().output, 10.0);
        assert_eq!(prices.of("gpt-4o-mini").unwrap().input, 0.15);
        assert_eq!(prices.of("openai/gpt-4.1").unwrap().input, 2.0);
        for unknown in ["o3-pro", "gpt-4o-audio-preview", "llama3", "claude-sonnet-4-5-thinking"] {
            assert!(prices.of(unknown).is_none(), "{unknown} is not guessed");
        }
    }

    #[test]
    fn costs_count_each_kind_of_token_at_its_price_and_settings_win() {
        let usage =
            Usage { input: 1_000_000, output: 100_000, cache_read: 2_000_000, cache_write: 400_000, reasoning: 0 };
        let cost = Prices::default().cost("claude-sonnet-4-5", &usage).unwrap();
        assert!((cost - (3.0 + 1.5 + 0.6 + 1.5)).abs() < 1e-9, "{cost}");
        let own = Prices::new(BTreeMap::from([(
            "claude-sonnet-4-5".to_owned(),
            Price { input: 1.0, output: 1.0, cache_read: None, cache_write: None },
        )]));
        assert!((own.cost("claude-sonnet-4-5", &usage).unwrap() - 3.5).abs() < 1e-9);
        assert_eq!(Prices::default().cost("my-local-model", &usage), None);
    }
}

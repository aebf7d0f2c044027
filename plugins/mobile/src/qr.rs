//! A QR code for a terminal: two rows of modules per line with Unicode
//! half blocks, light on dark, with the quiet zone scanners need.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// `text` as a QR code drawn in text.
pub fn draw(text: &str) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("no QR code for it: {e}"))?;
    Ok(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_draws_as_half_blocks() {
        let drawn = draw("http://127.0.0.1:3000/#pair=ABCD-EFGH").unwrap();
        let lines: Vec<&str> = drawn.lines().collect();
        assert!(lines.len() > 10 && lines.iter().all(|l| l.chars().count() == lines[0].chars().count()));
        assert!(drawn.contains('▀') || drawn.contains('▄'));
    }
}

//! Terminal text made fit for Discord: long output cut into messages of at most 2,000 characters without
//! breaking a code block.

/// The most characters in one Discord message.
pub const LIMIT: usize = 2000;

/// `text` cut into messages of at most `limit` characters, at line ends
/// where it can: a code block cut in two is closed at the end of one
/// message and opened again, with its language, at the start of the next.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(20);
    let mut messages = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    // The opening line of the code block we are in, if any.
    let mut fence: Option<String> = None;
    for line in pieces(text, limit - 8) {
        let is_fence = line.trim_start().starts_with("```");
        let closing = if fence.is_some() { 4 } else { 0 };
        let needed = line.chars().count() + usize::from(current_len > 0);
        if current_len > 0 && current_len + needed + closing > limit {
            if fence.is_some() {
                current.push_str("\n```");
            }
            messages.push(std::mem::take(&mut current));
            current_len = 0;
            if let Some(open) = &fence {
                current.push_str(open);
                current_len = open.chars().count();
            }
        }
        if current_len > 0 {
            current.push('\n');
            current_len += 1;
        }
        current.push_str(&line);
        current_len += line.chars().count();
        if is_fence {
            fence = match fence {
                Some(_) => None,
                None => Some(line.trim().to_owned()),
            };
        }
    }
    if current.chars().any(|c| !c.is_whitespace()) {
        messages.push(current);
    }
    messages
}

/// The lines of `text`, each cut into parts of at most `width` characters.
fn pieces(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        for part in chars.chunks(width) {
            out.push(part.iter().collect());
        }
    }
    out
}

/// The end of `text`, at most `max` bytes of it from the start of a line,
/// and how many lines were left out.
pub fn tail(text: &str, max: usize) -> (&str, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    // From the next whole line, when there is one.
    if let Some(newline) = text[cut..].find('\n').filter(|n| cut + n + 1 < text.len()) {
        cut += newline + 1;
    }
    let skipped = text[..cut].matches('\n').count() + usize::from(!text[..cut].ends_with('\n'));
    (&text[cut..], skipped)
}

/// `text` in a code block that nothing in it can end early.
pub fn code_block(text: &str) -> String {
    format!("```\n{}\n```", text.replace("```", "`\u{200b}``").trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_message() {
        assert_eq!(split("hello\nworld", LIMIT), vec!["hello\nworld"]);
        assert!(split("\n\n", LIMIT).is_empty());
    }

    #[test]
    fn long_text_is_cut_at_line_ends_under_the_limit() {
        let text: String = (0..500).map(|i| format!("line {i:04} of the output\n")).collect();
        let messages = split(&text, LIMIT);
        assert!(messages.len() > 1);
        assert!(messages.iter().all(|m| m.chars().count() <= LIMIT));
        assert_eq!(messages.join("\n").trim_end(), text.trim_end(), "nothing lost, nothing added");
    }

    #[test]
    fn a_code_block_cut_in_two_is_closed_and_reopened_with_its_language() {
        let body: String = (0..300).map(|i| format!("let x{i} = {i}; // some code\n")).collect();
        let text = format!("before\n```rust\n{body}```\nafter");
        let messages = split(&text, LIMIT);
        assert!(messages.len() >= 3, "{}", messages.len());
        for m in &messages {
            assert!(m.chars().count() <= LIMIT, "{}", m.chars().count());
            assert_eq!(m.matches("```").count() % 2, 0, "every message closes what it opens: {m}");
        }
        assert!(messages[1].starts_with("```rust\n"), "{}", &messages[1][..20]);
        assert!(messages.last().unwrap().ends_with("after"));
    }

    #[test]
    fn a_line_longer_than_a_message_is_cut_too() {
        let text = "x".repeat(4500);
        let messages = split(&text, LIMIT);
        assert_eq!(messages.concat().replace('\n', ""), text);
        assert!(messages.iter().all(|m| m.chars().count() <= LIMIT));
        let wide = "é".repeat(2500);
        assert!(split(&wide, LIMIT).iter().all(|m| m.chars().count() <= LIMIT));
    }

    #[test]
    fn the_tail_starts_at_a_line_and_counts_what_it_left_out() {
        assert_eq!(tail("a\nb\nc", 100), ("a\nb\nc", 0));
        assert_eq!(tail("line1\nline2\nline3", 8), ("line3", 2));
        assert_eq!(tail("ééééé", 3), ("é", 1), "at a character");
    }

    #[test]
    fn code_blocks_cannot_be_closed_by_their_contents() {
        let block = code_block("a ``` b\n");
        assert_eq!(block.matches("```").count(), 2, "{block}");
    }
}

//! Terminal safety: every string that came from a capture goes through
//! [`term`] before it reaches a terminal, so an attacker who controls a
//! header cannot move the cursor, retitle the window, ring the bell or
//! reorder text with bidi overrides.

use std::borrow::Cow;

pub(crate) fn is_dangerous(c: char) -> bool {
    c.is_control() // C0, DEL, C1 (U+0080-U+009F)
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Escapes control characters and bidi overrides as visible `\x1b`,
/// `\u{202e}` sequences. Plain text passes through without allocation.
pub fn term(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) {
            let n = c as u32;
            if n < 0x100 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:04x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(term("plain"), "plain");
        assert!(matches!(term("plain"), Cow::Borrowed(_)));
        assert_eq!(term("a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(term("bell\x07"), "bell\\x07");
        assert_eq!(term("cr\rlf\n"), "cr\\x0dlf\\x0a");
        assert_eq!(term("c1\u{9b}x"), "c1\\x9bx");
        assert_eq!(term("rlo\u{202e}txt"), "rlo\\u{202e}txt");
        assert_eq!(term("iso\u{2066}"), "iso\\u{2066}");
    }
}

//! Text from users' disks (file names, paths, reasons that quote them) printed to a terminal:
//! control characters would let a file name recolour, retitle or rewrite the terminal, and
//! bidirectional overrides would make a name read as another, so both are shown escaped.

/// `text` with control and bidi-control characters replaced by `\u{…}` escapes.
pub fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(super::safe("a\u{1b}]0;owned\u{7}b.png"), "a\\u{1b}]0;owned\\u{7}b.png");
        assert_eq!(super::safe("x\u{202E}gnp.exe\nz"), "x\\u{202e}gnp.exe\\u{a}z");
        assert_eq!(super::safe("plain é 名前.jpg"), "plain é 名前.jpg");
    }
}

//! Fuzzes the redactor with hostile text and hostile secrets: it never panics, and no piece of
//! 8 characters of a secret (the whole secret when shorter) is left in its output as written.
//!
//! Input: secrets and text separated by U+0001 (the last part is the text); each U+0002 in the text
//! stands for the first secret (the first 16 of them: more only makes runs slow), so the fuzzer
//! easily puts secrets next to escapes and cuts.
#![no_main]

use std::collections::{BTreeSet, HashSet};

use libfuzzer_sys::fuzz_target;
use slack_im::fuzzing::{redactable_len, Redactor, Secret, MIN_SECRET_LEN, REDACTED};

/// Whitespace runs as one space: the redactor matches reflowed secrets, so it checks them so too.
fn collapsed(text: &str) -> String {
    let mut out = String::new();
    for ch in text.trim().chars() {
        if !ch.is_whitespace() {
            out.push(ch);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let mut parts: Vec<&str> = input.split('\u{1}').collect();
    let text = parts.pop().unwrap_or_default();
    let secrets: Vec<Secret<String>> = parts.iter().take(4).map(|s| Secret::new(s.to_string())).collect();
    let text = match secrets.first() {
        Some(first) => text.replacen('\u{2}', first.expose(), 16),
        None => text.to_string(),
    };
    let redacted = Redactor::new(&secrets).redact(&text);
    if !redacted.contains(REDACTED) {
        assert_eq!(redacted, text, "nothing redacted, so nothing changed");
    }
    // Text on either side of a marker is checked on its own: a window spelled partly by the marker
    // itself (a secret holding "[redacted") shows nothing of the text.
    let mut windows = HashSet::new();
    let mut widths = BTreeSet::new();
    for secret in &secrets {
        if redactable_len(secret.expose()) >= MIN_SECRET_LEN {
            let form: Vec<char> = collapsed(secret.expose()).chars().collect();
            let width = form.len().min(8);
            widths.insert(width);
            windows.extend(form.windows(width).map(|w| w.to_vec()));
        }
    }
    for piece in redacted.split(REDACTED) {
        let piece: Vec<char> = collapsed(piece).chars().collect();
        for &width in &widths {
            if let Some(window) = piece.windows(width).find(|w| windows.contains(*w)) {
                let window: String = window.iter().collect();
                panic!("{window:?} of a secret left in {redacted:?}");
            }
        }
    }
});

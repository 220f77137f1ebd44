//! Slack's lone surrogates: a name cut in the middle of an emoji comes as a `\uD83D` escape with
//! no pair, which serde_json rightly refuses. A pure text repair, apart from the client, fuzzed on
//! its own (`fuzz_targets/slack_users_list.rs`).

/// Replaces `\uD800`–`\uDFFF` escapes that are not a high-low pair with `\uFFFD`.
///
/// Slack can send a lone surrogate (a name cut in the middle of an emoji); serde_json rightly refuses
/// it, and one such member would fail every read of the workspace. Valid pairs and everything else
/// are left as they are; a body without such escapes is not copied.
pub fn repair_lone_surrogates(body: &str) -> std::borrow::Cow<'_, str> {
    let bytes = body.as_bytes();
    let hex_at = |i: usize| -> Option<u32> {
        let digits = bytes.get(i..i + 4)?;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let surrogate_at = |i: usize| -> Option<u32> {
        (bytes.get(i) == Some(&b'\\') && bytes.get(i + 1) == Some(&b'u'))
            .then(|| hex_at(i + 2))
            .flatten()
            .filter(|c| (0xD800..=0xDFFF).contains(c))
    };
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match surrogate_at(i) {
            // A high surrogate followed by a low one: a valid pair.
            Some(0xD800..=0xDBFF) if surrogate_at(i + 6).is_some_and(|low| low >= 0xDC00) => i += 12,
            Some(_) => {
                let o = out.get_or_insert_with(|| String::with_capacity(body.len()));
                o.push_str(&body[copied..i]);
                o.push_str("\\uFFFD");
                i += 6;
                copied = i;
            }
            // Any other escape: skip both characters, so `\\` is never read as the start of one.
            None => i += 2,
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(body),
        Some(mut o) => {
            o.push_str(&body[copied..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

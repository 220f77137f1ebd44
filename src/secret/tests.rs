//! The unit tests of `secret`, beside it so the module itself reads in one sitting.

use super::*;

fn redactor(secrets: &[&str]) -> Redactor {
    let secrets: Vec<Secret<String>> = secrets.iter().map(|s| Secret::new(s.to_string())).collect();
    Redactor::new(&secrets)
}

#[test]
fn debug_and_display_never_show_the_value() {
    let secret = Secret::new("xoxb-very-secret".to_string());
    assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    assert_eq!(format!("{secret}"), "[redacted]");
    assert_eq!(secret.expose(), "xoxb-very-secret");
    assert_eq!(format!("{:?}", redactor(&["xoxb-very-secret"])), "Redactor(1 secrets)");
}

#[test]
fn every_occurrence_is_replaced_and_overlapping_secrets_give_one_marker() {
    let r = redactor(&["hunter2", "hunter2hunter2"]);
    assert_eq!(r.redact("x hunter2hunter2 y hunter2"), "x [redacted] y [redacted]");
}

#[test]
fn values_too_short_to_redact_safely_are_ignored() {
    let r = redactor(&["1", "abcde", "  ab   cd  "]);
    assert_eq!(r.redact("password 1 abcde ab cd"), "password 1 abcde ab cd");
    assert_eq!(redactable_len("  ab \t\n cd  "), 5);
    assert_eq!(redactable_len("abcdef"), MIN_SECRET_LEN);
    assert_eq!(Redactor::default().redact("abc"), "abc");
}

#[test]
fn json_escaped_form_is_removed_whole() {
    let r = redactor(&["pw\"with\\back/slash\ttab\u{1f}"]);
    let text = r#"{"error":"bad pw\"with\\back\/slash\ttab\u001F!"}"#;
    assert_eq!(r.redact(text), r#"{"error":"bad [redacted]!"}"#);
    let text = r#"{"error":"bad pw\"with\\back/slash\ttab\u001f"}"#;
    assert_eq!(r.redact(text), r#"{"error":"bad [redacted]"}"#);
}

#[test]
fn unicode_escaped_form_is_removed_in_any_case_and_with_surrogate_pairs() {
    let r = redactor(&["Gr\u{fc}\u{df}e-\u{1F600}-Geheim"]);
    for text in [
        r"\u0047\u0072\u00fc\u00DF\u0065\u002d\ud83d\ude00\u002D\u0047\u0065\u0068\u0065\u0069\u006d",
        r"Gr\u00FC\u00dfe-\uD83D\uDE00-Geheim",
        "Gr\u{fc}\u{df}e-\u{1F600}-Geheim",
    ] {
        assert_eq!(r.redact(&format!("<{text}>")), "<[redacted]>", "{text}");
    }
    // A lone surrogate stands for nothing, so it ends the match.
    assert_eq!(r.redact(r"\ud83dGeheim"), r"\ud83dGeheim");
}

#[test]
fn percent_encoded_form_is_removed_in_any_case_and_with_plus_for_space() {
    let r = redactor(&["p@ss w\u{f6}rd/100%"]);
    for text in [
        "p%40ss+w%C3%B6rd%2F100%25",
        "%70%40%73%73%20%77%c3%b6%72%64%2f%31%30%30%25",
        "p@ss%20w\u{f6}rd/100%",
        "p@ss w%C3%b6rd/100%25",
    ] {
        assert_eq!(r.redact(&format!("password={text}&x=1")), "password=[redacted]&x=1", "{text}");
    }
}

#[test]
fn xml_and_html_escaped_form_is_removed() {
    let r = redactor(&["<a&b>\"c'd\u{1F512}"]);
    for text in ["&lt;a&amp;b&gt;&quot;c&apos;d&#128274;", "&#60;a&#x26;b&#X3E;&#34;c&#x27;d&#x1f512;"] {
        assert_eq!(r.redact(&format!("<failure message=\"{text}\"/>")), "<failure message=\"[redacted]\"/>");
    }
    // A delimiter written as is at the edge stays (see `without_delimiters`): 1 character, no window.
    assert_eq!(r.redact("m=<a&amp;b>\"c'd\u{1F512}"), "m=<[redacted]");
}

#[test]
fn reflowed_whitespace_still_matches() {
    let r = redactor(&["correct horse\t\tbattery staple"]);
    for text in [
        "correct horse battery staple",
        "correct\nhorse   battery\r\nstaple",
        r"correct\nhorse\t\tbattery%20staple",
        "correct+horse&#10;battery&nbsp;staple",
    ] {
        assert_eq!(r.redact(&format!("[{text}]")), "[[redacted]]", "{text}");
    }
    // Leading and trailing whitespace of a secret is not part of what is searched.
    let r = redactor(&["  padded-secret \n"]);
    assert_eq!(r.redact("x padded-secret y"), "x [redacted] y");
}

#[test]
fn any_cut_of_eight_characters_is_removed() {
    let r = redactor(&["TGT-SECRET-4b1d8e7f00aa"]);
    assert_eq!(r.redact("token TGT-SECRET-4b1d8e7… rejected"), "token [redacted]… rejected");
    assert_eq!(r.redact("…ECRET-4b… and …8e7f00aa"), "…[redacted]… and …[redacted]");
    assert_eq!(r.redact("…%34b1d8e7f…"), "…[redacted]…");
    // Seven characters are not a window: they stay.
    assert_eq!(r.redact("tail 7f00aa and TGT-SEC"), "tail 7f00aa and TGT-SEC");
}

#[test]
fn secrets_shorter_than_a_window_are_removed_whole_only() {
    let r = redactor(&["s3cr3t!"]);
    assert_eq!(r.redact("pw s3cr3t! / s3cr3t"), "pw [redacted] / s3cr3t");
}

#[test]
fn text_without_a_secret_is_returned_byte_for_byte() {
    let r = redactor(&["xoxb-1234-abcdefgh", "TGT-SECRET-4b1d8e7f", "Pa$$ w0rd \"quoted\""]);
    let text = "{\"a\":\"\\u00e9\\\"\\\\ %41%zz &amp;&bogus; &#x1F600; \\ud83d x\"}\n\t  \u{1F600}+ \r\n\
                xoxb-12 TGT-SEC Pa$$ w0 \\ % & + € ✓ 𝄞 \u{0}\u{7f}";
    assert_eq!(r.redact(text), text);
    assert_eq!(r.redact(""), "");
}

#[test]
fn a_redacted_json_document_still_parses() {
    for secret in [
        "\"quote-first",
        "backslash-last\\",
        "mid\"dle\\both/",
        "tab\tand\nnewline",
        "\u{1F600}\u{1F600}astral!",
    ] {
        let r = redactor(&[secret]);
        let all_but_last: String = secret.chars().take(secret.chars().count() - 1).collect();
        for value in [secret.to_string(), format!("x{secret}y"), all_but_last] {
            let all_but_first: String = value.chars().skip(1).collect();
            let json = serde_json::json!({ "error": value, "cut": all_but_first }).to_string();
            let redacted = r.redact(&json);
            let parsed: serde_json::Value =
                serde_json::from_str(&redacted).unwrap_or_else(|e| panic!("{e}: {json} -> {redacted}"));
            assert!(parsed["error"].as_str().unwrap().contains(REDACTED), "{redacted}");
        }
    }
}

#[test]
fn escapes_are_never_cut_in_half() {
    // The window `"abcdefg` is read through the plain `"` of `\"`: the `\` goes too.
    let r = redactor(&["\"abcdefg"]);
    assert_eq!(r.redact(r#"{"a":"x\"abcdefg"}"#), r#"{"a":"x[redacted]"}"#);
    // The window ends in the plain `\` of `\\`: the second `\` goes too.
    let r = redactor(&["abcdefg\\"]);
    assert_eq!(r.redact(r#"{"a":"abcdefg\\x"}"#), r#"{"a":"[redacted]x"}"#);
    // `\\"` reads as `\` then `"`, or as `\` then `\"`: either way no lone `\` is left.
    let r = redactor(&["\"abcdefg"]);
    assert_eq!(r.redact(r#"\\"abcdefg"#), r#"[redacted]"#);
    // The window read as plain text starts inside an entity.
    let r = redactor(&["amp;secret"]);
    assert_eq!(r.redact("a&amp;secret"), "a[redacted]");
}

#[test]
fn redacted_xml_attributes_stay_well_formed() {
    let secret = "<pw & \"quoted\" 'x'>";
    let r = redactor(&[secret]);
    let attr = "&lt;pw &amp; &quot;quoted&quot; &apos;x&apos;&gt;";
    let xml = format!("<testcase name=\"create a\"><failure message=\"HTTP 422: {attr}!\"/></testcase>");
    assert_eq!(
        r.redact(&xml),
        "<testcase name=\"create a\"><failure message=\"HTTP 422: [redacted]!\"/></testcase>"
    );
}

#[test]
fn long_whitespace_runs_and_escape_floods_take_linear_time() {
    let r = redactor(&["a b c d e f g h", "\\\\\\\\\\\\\\\\", "%%%%%%%%"]);
    for text in [" ".repeat(200_000), "\\n".repeat(100_000), "%25".repeat(70_000), "a\t".repeat(100_000)] {
        let started = std::time::Instant::now();
        let _ = r.redact(&text);
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    }
}

/// Measures the cost on a report-sized text: `cargo test --release -- --ignored --nocapture speed`.
#[test]
#[ignore]
fn speed_on_five_megabytes_of_report() {
    let r = redactor(&[
        "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
        "TGT-SECRET-4b1d8e7f",
        "Init-Pass w0rd!",
    ]);
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 5_000_000 {
        text.push_str(&format!(
            "    {{\"key\": \"user{i}@acme.example\", \"op\": \"create\", \"outcome\": \"failed\", \
             \"error\": \"HTTP 422 from https://target.example/api/users/user{i}: {{\\\"message\\\": \
             \\\"field name must not contain %20 or &amp;\\\", \\\"id\\\": {i}}}\"}},\n"
        ));
        i += 1;
    }
    text.push_str("TGT-SECRET-4b1d8e7f");
    let started = std::time::Instant::now();
    let redacted = r.redact(&text);
    let elapsed = started.elapsed();
    assert!(redacted.ends_with(REDACTED));
    println!("redacted {} bytes ({i} actions) in {elapsed:?}", text.len());
}

/// The property tests: the encoders write a piece of a secret the way servers do, and the
/// checkers (simple decoders written independently of the redactor's) look for what survived.
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// How a piece of a secret is written into the text. The flags choose, per character, whether
    /// an optional escape is used, and the case of hex digits.
    #[derive(Clone, Debug)]
    enum Form {
        Raw,
        Json { escape: Vec<bool>, upper: bool },
        Percent { escape: Vec<bool>, upper: bool },
        Xml { escape: Vec<bool>, hex: bool },
        Reflowed { separator: &'static str },
    }

    fn flag(flags: &[bool], i: usize) -> bool {
        flags.get(i % flags.len().max(1)).copied().unwrap_or(true)
    }

    fn hex(value: u32, width: usize, upper: bool) -> String {
        if upper {
            format!("{value:0width$X}")
        } else {
            format!("{value:0width$x}")
        }
    }

    fn encode(piece: &str, form: &Form) -> String {
        let mut out = String::new();
        match form {
            Form::Raw => out.push_str(piece),
            Form::Json { escape, upper } => {
                for (i, ch) in piece.chars().enumerate() {
                    match ch {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '/' if flag(escape, i) => out.push_str("\\/"),
                        c if (c as u32) < 0x20 || flag(escape, i) => {
                            let mut units = [0u16; 2];
                            for unit in c.encode_utf16(&mut units) {
                                out.push_str(&format!("\\u{}", hex(u32::from(*unit), 4, *upper)));
                            }
                        }
                        c => out.push(c),
                    }
                }
            }
            Form::Percent { escape, upper } => {
                for (i, ch) in piece.chars().enumerate() {
                    if ch == ' ' && flag(escape, i + 1) {
                        out.push('+');
                    } else if flag(escape, i) {
                        for byte in ch.to_string().bytes() {
                            out.push_str(&format!("%{}", hex(u32::from(byte), 2, *upper)));
                        }
                    } else {
                        out.push(ch);
                    }
                }
            }
            Form::Xml { escape, hex: in_hex } => {
                for (i, ch) in piece.chars().enumerate() {
                    match ch {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '"' => out.push_str("&quot;"),
                        '\'' => out.push_str("&apos;"),
                        c if flag(escape, i) && *in_hex => out.push_str(&format!("&#x{:X};", c as u32)),
                        c if flag(escape, i) => out.push_str(&format!("&#{};", c as u32)),
                        c => out.push(c),
                    }
                }
            }
            Form::Reflowed { separator } => {
                let mut in_run = false;
                for ch in piece.chars() {
                    if ch.is_whitespace() {
                        if !in_run {
                            out.push_str(separator);
                        }
                        in_run = true;
                    } else {
                        out.push(ch);
                        in_run = false;
                    }
                }
            }
        }
        out
    }

    /// Decodes `\X` JSON escapes left to right, as a JSON parser would; anything else as is.
    fn json_decoded(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(ch) = rest.chars().next() {
            let mut taken = ch.len_utf8();
            let mut decoded = ch;
            if ch == '\\' && rest.len() >= 2 {
                let simple = match rest.as_bytes()[1] {
                    b'"' => Some('"'),
                    b'\\' => Some('\\'),
                    b'/' => Some('/'),
                    b'b' => Some('\u{8}'),
                    b'f' => Some('\u{c}'),
                    b'n' => Some('\n'),
                    b'r' => Some('\r'),
                    b't' => Some('\t'),
                    _ => None,
                };
                let code = |at: usize| rest.get(at..at + 4).and_then(|h| u32::from_str_radix(h, 16).ok());
                if let Some(c) = simple {
                    (decoded, taken) = (c, 2);
                } else if rest[1..].starts_with('u') {
                    if let Some(high) = code(2) {
                        let low = if rest.get(6..8) == Some("\\u") { code(8) } else { None };
                        let pair = low.and_then(|low| {
                            let utf16 = [high as u16, low as u16];
                            char::decode_utf16(utf16)
                                .next()
                                .and_then(|c| c.ok())
                                .filter(|c| c.len_utf16() == 2)
                        });
                        if let Some(c) = pair {
                            (decoded, taken) = (c, 12);
                        } else if let Some(c) = char::from_u32(high) {
                            (decoded, taken) = (c, 6);
                        }
                    }
                }
            }
            out.push(decoded);
            rest = &rest[taken..];
        }
        out
    }

    /// Decodes runs of `%XX` as UTF-8 (a run that is not valid UTF-8 stays as written), `+` as space.
    fn percent_decoded(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(ch) = rest.chars().next() {
            if ch == '+' {
                out.push(' ');
                rest = &rest[1..];
                continue;
            }
            let mut bytes = Vec::new();
            let mut run = rest;
            while run.starts_with('%') {
                match run.get(1..3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) if !h_has_sign(&run[1..3]) => {
                        bytes.push(b);
                        run = &run[3..];
                    }
                    _ => break,
                }
            }
            // The longest valid UTF-8 prefix of the run is decoded; the rest is read again as text.
            let valid = match std::str::from_utf8(&bytes) {
                Ok(s) => s.len(),
                Err(e) => e.valid_up_to(),
            };
            if valid == 0 {
                out.push(ch);
                rest = &rest[ch.len_utf8()..];
            } else {
                out.push_str(std::str::from_utf8(&bytes[..valid]).unwrap());
                rest = &rest[3 * valid..];
            }
        }
        out
    }

    fn h_has_sign(hex: &str) -> bool {
        hex.starts_with('+') || hex.starts_with('-')
    }

    /// Decodes the five XML entities, `&nbsp;` and numeric references.
    fn xml_decoded(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(ch) = rest.chars().next() {
            let entity = rest.strip_prefix('&').and_then(|r| r.find(';').map(|end| (&r[..end], end + 2)));
            let decoded = entity.and_then(|(name, len)| {
                let c = match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some('\u{a0}'),
                    _ => {
                        let number = name.strip_prefix('#')?;
                        let value = match number.strip_prefix(['x', 'X']) {
                            Some(h) => u32::from_str_radix(h, 16).ok()?,
                            None => number.parse().ok()?,
                        };
                        char::from_u32(value)
                    }
                };
                c.map(|c| (c, len))
            });
            let (c, len) = decoded.unwrap_or((ch, ch.len_utf8()));
            out.push(c);
            rest = &rest[len..];
        }
        out
    }

    fn collapsed(text: &str) -> String {
        let mut out = String::new();
        for ch in text.chars() {
            if !ch.is_whitespace() {
                out.push(ch);
            } else if !out.ends_with(' ') {
                out.push(' ');
            }
        }
        out
    }

    /// The first window of `secret` that `text` still shows in some form, if any.
    fn surviving_window(secret: &str, text: &str) -> Option<String> {
        let form = searched_form(secret);
        let width = form.len().min(WINDOW);
        let readings = [text.to_string(), json_decoded(text), percent_decoded(text), xml_decoded(text)]
            .map(|t| collapsed(&t));
        form.windows(width)
            .map(|w| w.iter().collect::<String>())
            .find(|w| readings.iter().any(|r| r.contains(w)))
    }

    fn secret_char() -> impl Strategy<Value = char> {
        prop_oneof![
            3 => any::<char>().prop_filter("printable", |c| !c.is_control()),
            3 => prop::char::range('!', '~'),
            2 => prop::sample::select(vec![
                '"', '\\', ' ', ' ', '%', '&', '+', '/', '<', '>', '\'', ';', '#', '\n', '\t', '\u{a0}',
                'u', 'x', '0', '4', 'A', 'é', '€', '\u{1F600}', '\u{10FFFF}', '\u{FFFD}',
            ]),
        ]
    }

    fn secret() -> impl Strategy<Value = String> {
        prop::collection::vec(secret_char(), 6..40)
            .prop_map(|chars| chars.into_iter().collect::<String>())
            .prop_filter("long enough to redact", |s| redactable_len(s) >= MIN_SECRET_LEN)
    }

    fn surrounding() -> impl Strategy<Value = String> {
        prop::collection::vec(secret_char(), 0..16).prop_map(|chars| chars.into_iter().collect())
    }

    fn form() -> impl Strategy<Value = Form> {
        let flags = || prop::collection::vec(any::<bool>(), 1..8);
        prop_oneof![
            Just(Form::Raw),
            (flags(), any::<bool>()).prop_map(|(escape, upper)| Form::Json { escape, upper }),
            (flags(), any::<bool>()).prop_map(|(escape, upper)| Form::Percent { escape, upper }),
            (flags(), any::<bool>()).prop_map(|(escape, hex)| Form::Xml { escape, hex }),
            prop::sample::select(vec![" ", "\n", "\r\n\t "])
                .prop_map(|separator| Form::Reflowed { separator }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn no_window_of_a_secret_survives_in_any_form_at_any_cut(
            secret in secret(),
            other in secret(),
            cut in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
            form in form(),
            before in surrounding(),
            after in surrounding(),
        ) {
            let chars: Vec<char> = secret.chars().collect();
            // A piece of at least WINDOW characters (the whole secret when it is shorter).
            let len = chars.len().min(WINDOW) + cut.0.index(chars.len() - chars.len().min(WINDOW) + 1);
            let start = cut.1.index(chars.len() - len + 1);
            let piece: String = chars[start..start + len].iter().collect();
            let text = format!("{before}{}{after}", encode(&piece, &form));
            let r = redactor(&[&secret, &other]);
            let redacted = r.redact(&text);
            prop_assert_eq!(surviving_window(&secret, &redacted), None, "text {:?} -> {:?}", text, redacted);
        }

        #[test]
        fn a_redacted_json_string_still_parses(secret in secret(), before in surrounding(), after in surrounding()) {
            let json = serde_json::json!({ "error": format!("{before}{secret}{after}") }).to_string();
            let redacted = redactor(&[&secret]).redact(&json);
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&redacted);
            prop_assert!(parsed.is_ok(), "{} -> {}", json, redacted);
        }

        #[test]
        fn redacting_never_panics_and_returns_unchanged_text_when_nothing_matches(
            text in any::<String>(),
            secret in secret(),
        ) {
            let redacted = redactor(&[&secret]).redact(&text);
            if !redacted.contains(REDACTED) {
                prop_assert_eq!(redacted, text);
            }
        }
    }
}

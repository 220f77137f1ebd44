//! Secrets (tokens, passwords) wrapped so that no `Debug`, log line, error or report can print them,
//! and the redactor that finds their values in a text in whatever form a server echoed them back.

use std::fmt;

/// What replaces a secret: plain ASCII that needs no escaping in a JSON string, an XML attribute,
/// Markdown or Slack mrkdwn, so redacting a document never breaks it or hides the marker.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this, counted as the redactor searches them ([`redactable_len`]), cannot be
/// removed from a text without mangling it, so configuration refuses them.
pub const MIN_SECRET_LEN: usize = 6;

/// Any piece of a secret this many characters long is removed wherever a text cuts it: a server that
/// echoes `TGT-SECRET-4b1d8e7…` still shows at most 7 characters of it. Shorter secrets go whole.
const WINDOW: usize = 8;

/// A value that must never be printed. `Debug` and `Display` show `[redacted]`;
/// the value itself is reached only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The wrapped value. Call sites are few and easy to audit: HTTP headers and template contexts.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// How many characters of `value` the redactor searches for: leading and trailing whitespace dropped
/// and every inner run of whitespace counted as one, because servers and reports reflow text.
/// Configuration compares this with [`MIN_SECRET_LEN`].
pub fn redactable_len(value: &str) -> usize {
    searched_form(value).len()
}

/// A secret as the redactor searches for it (see [`redactable_len`]).
fn searched_form(value: &str) -> Vec<char> {
    let mut form = Vec::with_capacity(value.len());
    for ch in value.trim().chars() {
        if !ch.is_whitespace() {
            form.push(ch);
        } else if form.last() != Some(&' ') {
            form.push(' ');
        }
    }
    form
}

/// Removes every known secret value from a text before it is printed or written.
///
/// Servers echo request data back in error bodies, and a template may put a secret into a body that
/// then appears in an excerpt. Every output path (console, log of errors, report files) passes its
/// text through here, so a secret that slipped into evidence is still never shown.
///
/// A server rarely echoes a value as it was sent: it JSON-escapes it, writes characters as `\uXXXX`,
/// percent-encodes it, escapes it for XML or HTML, reflows its whitespace or cuts it. So the text is
/// read at each offset both as written and through each of those escapes, and every piece of
/// [`WINDOW`] characters of a secret read that way is replaced, together with the escape sequences
/// that spelled it, by one [`REDACTED`] marker per stretch.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: usize,
    windows: WindowTree,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret<String>>) -> Self {
        let mut redactor = Redactor::default();
        for secret in secrets {
            let form = searched_form(secret.expose());
            // Configuration refuses these; removing a 2-letter value everywhere would destroy reports.
            if form.len() < MIN_SECRET_LEN {
                continue;
            }
            redactor.secrets += 1;
            for window in form.windows(form.len().min(WINDOW)) {
                redactor.windows.insert(window);
            }
        }
        redactor
    }

    pub fn redact(&self, text: &str) -> String {
        let spans = self.secret_spans(text);
        if spans.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end) in spans {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        out.push_str(&text[copied..]);
        out
    }

    /// The byte ranges of `text` to replace: sorted, disjoint, not adjacent, and never cutting an
    /// escape sequence (half an escape left in a JSON string would make it invalid).
    fn secret_spans(&self, text: &str) -> Vec<(usize, usize)> {
        let mut spans: Vec<(usize, usize)> = Vec::new();
        if self.windows.is_empty() {
            return spans;
        }
        let mut stack = Vec::new();
        // Bit k set: some reading of the text has a whitespace character ending k bytes ahead. A
        // window that starts with whitespace there is already found from where that run began;
        // starting again inside the run would make a long run cost quadratic time.
        let mut whitespace_ends: u64 = 0;
        let mut at = 0;
        while let Some(raw) = raw_at(text, at) {
            let inside_whitespace = whitespace_ends & 1 != 0;
            // Most offsets start no window: seeing that from the first character read saves the search.
            let mut may_start = false;
            for unit in units_at(text, at).into_iter().flatten() {
                if unit.ch.is_whitespace() {
                    whitespace_ends |= 1 << (unit.end - at);
                    may_start |= !inside_whitespace && self.windows.child(ROOT, ' ').is_some();
                } else {
                    may_start |= self.windows.child(ROOT, unit.ch).is_some();
                }
            }
            if may_start {
                if let Some(end) = self.longest_window_from(text, at, inside_whitespace, &mut stack) {
                    match spans.last_mut() {
                        Some(last) if at <= last.1 => last.1 = last.1.max(end),
                        _ => spans.push((at, end)),
                    }
                }
            }
            let width = raw.end - at;
            at = raw.end;
            whitespace_ends >>= width;
        }
        for span in &mut spans {
            *span = without_delimiters(text, whole_escapes(text, *span));
        }
        // Widening may make neighbours overlap again.
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }

    /// Where the longest secret window read from byte `start` on ends, over every reading of the
    /// text (each character as written or decoded). A whitespace run reads as one space.
    fn longest_window_from(
        &self,
        text: &str,
        start: usize,
        inside_whitespace: bool,
        stack: &mut Vec<Step>,
    ) -> Option<usize> {
        let mut longest = None;
        stack.clear();
        stack.push(Step { node: ROOT, at: start, after_space: inside_whitespace });
        while let Some(step) = stack.pop() {
            for unit in units_at(text, step.at).into_iter().flatten() {
                let is_space = unit.ch.is_whitespace();
                let child = match (is_space, step.after_space) {
                    // More of the same run: read it as part of the space already matched.
                    (true, true) if step.node != ROOT => {
                        stack.push(Step { node: step.node, at: unit.end, after_space: true });
                        continue;
                    }
                    (true, true) => continue,
                    (true, false) => self.windows.child(step.node, ' '),
                    (false, _) => self.windows.child(step.node, unit.ch),
                };
                let Some(child) = child else { continue };
                let node = &self.windows.nodes[child as usize];
                if node.ends_window {
                    longest = longest.max(Some(unit.end));
                }
                if !node.children.is_empty() {
                    stack.push(Step { node: child, at: unit.end, after_space: is_space });
                }
            }
        }
        longest
    }
}

/// A point of the search: the tree node reached, the byte offset to read on from, and whether the
/// last character matched was a space (so that further whitespace belongs to it).
#[derive(Clone, Copy)]
struct Step {
    node: u32,
    at: usize,
    after_space: bool,
}

const ROOT: u32 = 0;

/// Every window of every secret as a tree of characters: a path from the root spells the start of
/// some window, and a node marked `ends_window` ends one. Small: under WINDOW nodes per character.
#[derive(Clone, Default)]
struct WindowTree {
    nodes: Vec<Node>,
    /// The root's children for ASCII characters, the common case, found without a search
    /// (0 for none: the root is nobody's child). The root's `children` holds the others.
    ascii_root: Vec<u32>,
}

#[derive(Clone, Default)]
struct Node {
    children: Vec<(char, u32)>,
    ends_window: bool,
}

impl WindowTree {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn insert(&mut self, window: &[char]) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
            self.ascii_root = vec![ROOT; 128];
        }
        let mut node = ROOT;
        for &ch in window {
            node = match self.child(node, ch) {
                Some(child) => child,
                None => {
                    let child = self.nodes.len() as u32;
                    self.nodes.push(Node::default());
                    if node == ROOT && ch.is_ascii() {
                        self.ascii_root[ch as usize] = child;
                    } else {
                        let children = &mut self.nodes[node as usize].children;
                        let at = children.partition_point(|&(c, _)| c < ch);
                        children.insert(at, (ch, child));
                    }
                    child
                }
            };
        }
        self.nodes[node as usize].ends_window = true;
    }

    fn child(&self, node: u32, ch: char) -> Option<u32> {
        if node == ROOT && ch.is_ascii() {
            return Some(self.ascii_root[ch as usize]).filter(|&child| child != ROOT);
        }
        // Sorted: a long secret of many different characters gives the root hundreds of children.
        let children = &self.nodes[node as usize].children;
        children.binary_search_by_key(&ch, |&(c, _)| c).ok().map(|i| children[i].1)
    }
}

/// One character read from a text, as written or decoded from an escape sequence, and the byte offset
/// just past what was read.
#[derive(Clone, Copy)]
struct Unit {
    ch: char,
    end: usize,
}

/// The character at byte `at` as written (`None` at the end or off a character boundary).
fn raw_at(text: &str, at: usize) -> Option<Unit> {
    let &byte = text.as_bytes().get(at)?;
    if byte.is_ascii() {
        return Some(Unit { ch: byte as char, end: at + 1 });
    }
    let ch = text.get(at..)?.chars().next()?;
    Some(Unit { ch, end: at + ch.len_utf8() })
}

/// The ways to read one character at byte `at`: as written, and decoded if an escape starts there.
fn units_at(text: &str, at: usize) -> [Option<Unit>; 2] {
    let raw = raw_at(text, at);
    let escaped = match raw {
        Some(Unit { ch: '\\' | '%' | '+' | '&', .. }) => escape_at(text.as_bytes(), at),
        _ => None,
    };
    [raw, escaped]
}

/// The longest escape sequence read: `\uD83D\uDE00`, `%F0%9F%98%80`, `&#x0001F600;`.
const MAX_ESCAPE_LEN: usize = 16;

/// The character an escape sequence starting at byte `at` stands for: JSON (`\"`, `\n`, `\u00e9`,
/// surrogate pairs), percent-encoding (UTF-8 bytes as `%XX`, `+` for a space) or an XML/HTML entity.
fn escape_at(bytes: &[u8], at: usize) -> Option<Unit> {
    match bytes.get(at)? {
        b'\\' => json_escape_at(bytes, at),
        b'%' => percent_escape_at(bytes, at),
        b'+' => Some(Unit { ch: ' ', end: at + 1 }),
        b'&' => entity_at(bytes, at),
        _ => None,
    }
}

fn json_escape_at(bytes: &[u8], at: usize) -> Option<Unit> {
    let ch = match bytes.get(at + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let first = hex_at(bytes, at + 2, 4)?;
            if !(0xD800..0xDC00).contains(&first) {
                // A lone low surrogate is no character: from_u32 refuses it.
                return char::from_u32(first).map(|ch| Unit { ch, end: at + 6 });
            }
            if bytes.get(at + 6..at + 8)? != b"\\u" {
                return None;
            }
            let second = hex_at(bytes, at + 8, 4)?;
            if !(0xDC00..0xE000).contains(&second) {
                return None;
            }
            let ch = char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))?;
            return Some(Unit { ch, end: at + 12 });
        }
        _ => return None,
    };
    Some(Unit { ch, end: at + 2 })
}

fn percent_escape_at(bytes: &[u8], at: usize) -> Option<Unit> {
    let lead = hex_at(bytes, at + 1, 2)? as u8;
    let len = match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let mut utf8 = [lead, 0, 0, 0];
    for (i, byte) in utf8.iter_mut().enumerate().take(len).skip(1) {
        let next = at + 3 * i;
        if bytes.get(next) != Some(&b'%') {
            return None;
        }
        *byte = hex_at(bytes, next + 1, 2)? as u8;
    }
    let ch = std::str::from_utf8(&utf8[..len]).ok()?.chars().next()?;
    Some(Unit { ch, end: at + 3 * len })
}

fn entity_at(bytes: &[u8], at: usize) -> Option<Unit> {
    let rest = bytes.get(at + 1..bytes.len().min(at + MAX_ESCAPE_LEN))?;
    let semicolon = rest.iter().position(|&b| b == b';')?;
    let ch = match &rest[..semicolon] {
        b"amp" => '&',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"apos" => '\'',
        b"nbsp" => '\u{a0}',
        [b'#', b'x' | b'X', hex @ ..] => char::from_u32(number(hex, 16)?)?,
        [b'#', decimal @ ..] => char::from_u32(number(decimal, 10)?)?,
        _ => return None,
    };
    Some(Unit { ch, end: at + 1 + semicolon + 1 })
}

fn hex_at(bytes: &[u8], at: usize, digits: usize) -> Option<u32> {
    number(bytes.get(at..at + digits)?, 16)
}

/// The value of ASCII digits in `radix` (`None` if empty, not digits, or too large for a u32).
fn number(digits: &[u8], radix: u32) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |value, &digit| {
        value.checked_mul(radix)?.checked_add(char::from(digit).to_digit(radix)?)
    })
}

/// Where the escape sequence that really starts at byte `at` ends. A backslash preceded by an odd
/// number of backslashes is itself escaped, so it starts nothing.
fn escape_end(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if !text.is_char_boundary(at) {
        return None;
    }
    if bytes[at] == b'\\' && bytes[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1 {
        return None;
    }
    escape_at(bytes, at).map(|unit| unit.end)
}

/// `span` widened so that neither end falls inside an escape sequence: the match may have read a
/// secret through the plain `"` of a `\"`, and a lone `\` left before the marker would escape it.
fn whole_escapes(text: &str, (mut start, mut end): (usize, usize)) -> (usize, usize) {
    let straddling = |at: usize| {
        (at.saturating_sub(MAX_ESCAPE_LEN)..at)
            .find_map(|from| escape_end(text, from).filter(|&to| to > at).map(|to| (from, to)))
    };
    while let Some((from, _)) = straddling(start) {
        start = from;
    }
    while let Some((_, to)) = straddling(end) {
        end = to;
    }
    (start, end)
}

/// Characters that delimit strings, attributes, tags or code spans in JSON, XML, Markdown and mrkdwn
/// when written as is (inside such a string they are escaped).
const DELIMITERS: [char; 6] = ['"', '\'', '<', '>', '`', '|'];

/// `span` without the delimiters written as is at its ends: a text that holds `"quote-first` right
/// after a JSON string's opening quote matches the secret `"quote-first`, but removing that quote would
/// break the document. Keeping fewer than WINDOW characters next to the marker shows no window: one
/// ending or starting in them would have been matched and merged into the span.
fn without_delimiters(text: &str, (mut start, mut end): (usize, usize)) -> (usize, usize) {
    let cuts_escape =
        |at: usize| (at.saturating_sub(MAX_ESCAPE_LEN)..at).any(|from| escape_end(text, from) > Some(at));
    for _ in 1..WINDOW {
        match text[start..end].chars().next() {
            Some(ch) if DELIMITERS.contains(&ch) && start + 1 < end && !cuts_escape(start + 1) => start += 1,
            _ => break,
        }
    }
    for _ in 1..WINDOW {
        match text[start..end].chars().next_back() {
            Some(ch) if DELIMITERS.contains(&ch) && start < end - 1 && !cuts_escape(end - 1) => end -= 1,
            _ => break,
        }
    }
    (start, end)
}

/// The redactor of this process's log lines, installed once the secrets are known.
static LOG_REDACTOR: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();

/// Makes every later log line pass through `redactor` (see [`redact_log_line`]).
pub fn install_log_redactor(redactor: Redactor) {
    let _ = LOG_REDACTOR.set(redactor);
}

/// A log line with the installed secrets removed (unchanged before installation).
pub fn redact_log_line(line: &str) -> String {
    match LOG_REDACTOR.get() {
        Some(r) => r.redact(line),
        None => line.to_string(),
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets)
    }
}

#[cfg(test)]
mod tests;

//! Secrets (tokens, passwords) wrapped so that no `Debug`, log line, error or report can print them.

use std::fmt;

/// Secrets shorter than this are refused by the configuration: a value that short could not be
/// told apart from ordinary text, so it could neither be redacted safely nor left unredacted.
pub const MIN_SECRET_LEN: usize = 6;

/// A value that must never be printed. `Debug` and `Display` show `<redacted>`;
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
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Removes every known secret value from a text before it is printed or written.
///
/// Servers echo request data back in error bodies, and a template may put a secret into a body that
/// then appears in an excerpt. Every output path (console, log of errors, report files) passes its
/// text through here, so a secret that slipped into evidence is still never shown.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// Secrets shorter than this are not searched for: replacing "1" everywhere would mangle reports
    /// without protecting anything worth protecting.
    const MIN_LEN: usize = 4;

    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret<String>>) -> Self {
        let mut values: Vec<String> = secrets
            .into_iter()
            .map(|s| s.expose().clone())
            .filter(|v| v.chars().count() >= Self::MIN_LEN)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Redactor { values }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "<redacted>");
            }
        }
        out
    }
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
        write!(f, "Redactor({} secrets)", self.values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("xoxb-very-secret".to_string());
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert_eq!(secret.expose(), "xoxb-very-secret");
    }

    #[test]
    fn redactor_replaces_every_occurrence_longest_first() {
        let a = Secret::new("hunter2hunter2".to_string());
        let b = Secret::new("hunter2".to_string());
        let r = Redactor::new([&b, &a]);
        assert_eq!(r.redact("x hunter2hunter2 y hunter2"), "x <redacted> y <redacted>");
    }

    #[test]
    fn redactor_ignores_trivially_short_values() {
        let r = Redactor::new([&Secret::new("1".to_string())]);
        assert_eq!(r.redact("password 1"), "password 1");
    }
}

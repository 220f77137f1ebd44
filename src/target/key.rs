//! Every rule about a target's keys in one place: how keys compare ([`normalize_key`]), where a
//! key is read from an account ([`key_at`]), and which keys can stand in a URL path and how they are
//! encoded there ([`encode_path_segment`]). The plan, the matching, the templates and the target
//! client all follow these.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use super::{Op, TargetError};
use crate::http;

/// Everything but RFC 3986's unreserved characters is percent-encoded in a key's path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Keys compare case-insensitively.
pub fn normalize_key(key: &str) -> String {
    key.to_lowercase()
}

/// The text at a JSON pointer, as a key: strings as they are, numbers in decimal.
pub fn key_at(value: &serde_json::Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A key that can stand as one URL path segment, or why not: empty, `.` and `..` are dot segments
/// that a server or a proxy resolves (`DELETE /api/users/..` is `DELETE /api`), and control
/// characters are no one's user name.
fn check_key(op: Op, key: &str) -> Result<(), TargetError> {
    let problem = if key.is_empty() {
        "is empty"
    } else if key == "." || key == ".." {
        "is a dot segment (. or ..)"
    } else if key.chars().any(char::is_control) {
        "holds control characters"
    } else {
        return Ok(());
    };
    Err(TargetError::Key { op, key: http::clean(key, 200), problem })
}

/// Percent-encodes a key as one path segment (everything but unreserved characters), after
/// [`check_key`].
pub fn encode_path_segment(op: Op, key: &str) -> Result<String, TargetError> {
    check_key(op, key)?;
    Ok(percent_encoding::utf8_percent_encode(key, PATH_SEGMENT).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ActionKind;
    use serde_json::json;

    #[test]
    fn keys_are_encoded_as_one_path_segment() {
        let encode = |key| encode_path_segment(Op::Write(ActionKind::Update), key).unwrap();
        assert_eq!(encode("jo.doe"), "jo.doe");
        assert_eq!(encode("a/b c@d"), "a%2Fb%20c%40d");
        assert_eq!(encode("김"), "%EA%B9%80");
        assert_eq!(encode("..."), "...");
    }

    #[test]
    fn dot_segments_empty_keys_and_control_characters_are_refused() {
        for key in ["", ".", "..", "a\u{0}b", "bell\u{7}", "line\nbreak"] {
            let err = encode_path_segment(Op::Write(ActionKind::Deactivate), key).unwrap_err();
            assert!(matches!(err, TargetError::Key { .. }), "{key:?}");
            assert!(err.to_string().contains("cannot be a URL path segment"), "{err}");
        }
    }

    #[test]
    fn keys_are_text_or_numbers_never_blank() {
        let account = json!({"a": "ann", "n": 7, "blank": " ", "obj": {}});
        assert_eq!(key_at(&account, "/a").as_deref(), Some("ann"));
        assert_eq!(key_at(&account, "/n").as_deref(), Some("7"));
        assert_eq!(key_at(&account, "/blank"), None);
        assert_eq!(key_at(&account, "/obj"), None);
    }
}

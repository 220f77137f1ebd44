//! The clock: the run's timestamps, in one format (RFC 3339, UTC, to the second), for the reports,
//! the journal and the members file. Its own module so that the writers of those files need not
//! import each other for it.

/// Now, as RFC 3339 UTC to the second (`2026-11-28T04:39:01Z`).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// Now, in seconds since the Unix epoch (Slack's `updated` is in these).
pub fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A Unix time as RFC 3339 UTC (`2026-11-28T04:39:01Z`); empty when out of range.
pub fn rfc3339_of(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_to_the_second() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-11-28T04:39:01Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert!(now.parse::<jiff::Timestamp>().is_ok(), "{now}");
        assert_eq!(rfc3339_of(1_767_225_600), "2026-01-01T00:00:00Z");
    }
}

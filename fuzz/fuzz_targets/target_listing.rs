//! Fuzzes the target listing parser: whatever a system's list endpoint sends (any bytes, any
//! shape) gives accounts or an error, never a panic; every account it returns has a non-blank key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slack_im::fuzzing::{parse_listing_page, ListSpec};

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    for (items, key) in [("/data", "/userId"), ("", "/id"), ("/a/0/b", "/k~1ey")] {
        let list = ListSpec::simple("/", items, key);
        if let Ok(accounts) = parse_listing_page(&body, &list) {
            for account in accounts {
                assert!(account.key.as_deref().map_or(true, |k| !k.trim().is_empty()));
            }
        }
    }
});

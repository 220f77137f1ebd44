//! Fuzzes the `users.list` answer parser: any bytes Slack (or a proxy in front of it) might send
//! must give members or an error, never a panic; a parsed page's cursor is never empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slack_im::fuzzing::{parse_users_list, repair_lone_surrogates};

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let repaired = repair_lone_surrogates(&body);
    // Repair only ever swaps one 6-byte escape for another.
    assert_eq!(repaired.len(), body.len());
    for keep_raw in [false, true] {
        if let Ok(page) = parse_users_list(&body, keep_raw) {
            assert_ne!(page.next_cursor.as_deref(), Some(""));
            for member in &page.members {
                assert_eq!(member.raw.is_some(), keep_raw);
            }
        }
    }
});

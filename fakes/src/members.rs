//! Slack member data for the fakes: the hand-written 21-member Acme fixture (every population the
//! job must classify) and a deterministic generator of realistic, sometimes hostile, humans at scale.

use serde_json::{json, Value};

use crate::http::splitmix64;

/// Workspace id of the Acme fixture.
pub const ACME_TEAM_ID: &str = "T0ACMEW0RK";
/// Workspace name of the Acme fixture.
pub const ACME_TEAM_NAME: &str = "Acme Test";
/// E-mail domain of Acme's employees.
pub const ACME_EMAIL_DOMAIN: &str = "acme.example";
/// Default seed of the synthetic generator.
pub const DEFAULT_SEED: u64 = 0x5eed_ac3e;

const FIXTURE: &str = include_str!("../fixtures/acme-members.json");

/// The 21 fixture members of reference §9.6, in fixture order.
pub fn acme_fixture() -> Vec<Value> {
    serde_json::from_str(FIXTURE).expect("fixtures/acme-members.json is a JSON array")
}

/// `n` synthetic humans `U1SYN00001…` generated from `seed` (same inputs, same members).
pub fn synthetic(n: usize, seed: u64) -> Vec<Value> {
    (1..=n).map(|i| synthetic_member(i, seed)).collect()
}

const LATIN: &[(&str, &str)] = &[
    ("Emma", "Schmidt"),
    ("Liam", "Johnson"),
    ("Olivia", "Martin"),
    ("Noah", "Garcia"),
    ("Sofia", "Rossi"),
    ("Lucas", "Dubois"),
    ("Mia", "Kowalski"),
    ("Mateo", "Fernandez"),
    ("Chloe", "Nguyen"),
    ("Ethan", "Brown"),
];
/// (romanised first, first, romanised last, last)
const KOREAN: &[(&str, &str, &str, &str)] = &[
    ("jiwoo", "지우", "park", "박"),
    ("seojun", "서준", "choi", "최"),
    ("hayoon", "하윤", "jung", "정"),
    ("doyun", "도윤", "kang", "강"),
    ("sua", "수아", "yoon", "윤"),
];
const JAPANESE: &[(&str, &str, &str, &str)] = &[
    ("haruto", "陽翔", "sato", "佐藤"),
    ("yui", "結衣", "suzuki", "鈴木"),
    ("sota", "蒼太", "takahashi", "高橋"),
    ("hina", "陽菜", "tanaka", "田中"),
    ("ren", "蓮", "watanabe", "渡辺"),
];
const ARABIC: &[(&str, &str, &str, &str)] = &[
    ("omar", "عمر", "haddad", "حداد"),
    ("fatima", "فاطمة", "nasser", "ناصر"),
    ("youssef", "يوسف", "khalil", "خليل"),
    ("mariam", "مريم", "saleh", "صالح"),
];
const EMOJI: &[&str] = &["🚀", "🌸", "🎉", "☕", "🦀", "👩‍💻", "🏳️‍🌈"];
/// (romanised first, romanised last, real name) — names that break naive JSON/Jinja/HTML handling.
const HOSTILE: &[(&str, &str, &str)] = &[
    ("quinn", "oconnor", "Quinn \"Q\" O'Connor"),
    ("back", "slash", "Back\\Slash \\\" Person"),
    ("new", "line", "New\nLine\r\nPerson"),
    ("tmpl", "user", "{{ user }}"),
    ("raw", "block", "{% raw %}Raw{% endraw %} {# c #}"),
    ("html", "tag", "</script><b>Bold</b> & Co"),
    ("bobby", "tables", "Robert'); DROP TABLE users;--"),
    ("tab", "stop", "Tab\tStop \u{2028}Sep"),
];

struct Name {
    email_first: String,
    email_last: String,
    real: String,
    display: String,
    first: String,
    last: String,
    tz: (&'static str, &'static str, i64),
    locale: &'static str,
}

fn pick<T>(list: &[T], r: u64) -> &T {
    &list[(r % list.len() as u64) as usize]
}

fn name_for(r: u64) -> Name {
    let kind = r % 100;
    let r2 = splitmix64(r);
    let r3 = splitmix64(r2);
    match kind {
        0..=3 => {
            let (f, l, real) = *pick(HOSTILE, r2);
            Name {
                email_first: f.into(),
                email_last: l.into(),
                real: real.into(),
                display: real.into(),
                first: real.split(' ').next().unwrap_or("").into(),
                last: l.into(),
                tz: ("America/Chicago", "Central Standard Time", -21600),
                locale: "en-US",
            }
        }
        4..=23 => {
            let (rf, f, rl, l) = *pick(KOREAN, r2);
            let (_, _, rl2, l2) = *pick(KOREAN, r3);
            let (rl, l) = if r3 % 2 == 0 { (rl, l) } else { (rl2, l2) };
            Name {
                email_first: rf.into(),
                email_last: rl.into(),
                real: format!("{l}{f}"),
                display: f.into(),
                first: f.into(),
                last: l.into(),
                tz: ("Asia/Seoul", "Korean Standard Time", 32400),
                locale: "ko-KR",
            }
        }
        24..=38 => {
            let (rf, f, _, _) = *pick(JAPANESE, r2);
            let (_, _, rl, l) = *pick(JAPANESE, r3);
            Name {
                email_first: rf.into(),
                email_last: rl.into(),
                real: format!("{l} {f}"),
                display: f.into(),
                first: f.into(),
                last: l.into(),
                tz: ("Asia/Tokyo", "Japan Standard Time", 32400),
                locale: "ja-JP",
            }
        }
        39..=48 => {
            let (rf, f, _, _) = *pick(ARABIC, r2);
            let (_, _, rl, l) = *pick(ARABIC, r3);
            Name {
                email_first: rf.into(),
                email_last: rl.into(),
                real: format!("{f} {l}"),
                display: f.into(),
                first: f.into(),
                last: l.into(),
                tz: ("Asia/Dubai", "Gulf Standard Time", 14400),
                locale: "ar-AE",
            }
        }
        _ => {
            let (f, _) = *pick(LATIN, r2);
            let (_, l) = *pick(LATIN, r3);
            let emoji = kind < 60;
            Name {
                email_first: f.to_ascii_lowercase(),
                email_last: l.to_ascii_lowercase(),
                real: format!("{f} {l}"),
                display: if emoji { format!("{f} {}", pick(EMOJI, r3 >> 7)) } else { f.to_string() },
                first: f.into(),
                last: l.into(),
                tz: ("Europe/Berlin", "Central European Time", 3600),
                locale: "en-GB",
            }
        }
    }
}

/// The `i`-th (1-based) synthetic member for `seed`: ~5% deactivated (reduced key set), ~2% guests.
pub fn synthetic_member(i: usize, seed: u64) -> Value {
    let r = splitmix64(seed ^ (i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let n = name_for(r);
    let id = format!("U1SYN{i:05}");
    let email = format!("{}.{}{i:04}@{ACME_EMAIL_DOMAIN}", n.email_first, n.email_last);
    let hash = format!("{:032x}", u128::from(splitmix64(r ^ 7)) << 64 | u128::from(r));
    let images: serde_json::Map<String, Value> = [24, 32, 48, 72, 192, 512]
        .iter()
        .map(|s| {
            (format!("image_{s}"), json!(format!("https://secure.gravatar.com/avatar/{hash}.jpg?s={s}")))
        })
        .collect();
    let mut profile = json!({
        "title": if r % 3 == 0 { "Engineer" } else { "" },
        "phone": "",
        "skype": "",
        "real_name": n.real,
        "real_name_normalized": n.real,
        "display_name": n.display,
        "display_name_normalized": n.display,
        "fields": null,
        "status_text": "",
        "status_emoji": "",
        "status_emoji_display_info": [],
        "status_expiration": 0,
        "avatar_hash": format!("g{:011x}", r & 0xfff_ffff_ffff),
        "email": email,
        "first_name": n.first,
        "last_name": n.last,
        "status_text_canonical": "",
        "team": ACME_TEAM_ID,
    });
    profile.as_object_mut().unwrap().extend(images);
    let class = (r >> 20) % 1000;
    let updated = 1_700_000_000 + (r >> 40) % 60_000_000;
    if class < 50 {
        return json!({
            "id": id,
            "name": format!("{}.{}{i:04}", n.email_first, n.email_last),
            "is_bot": false,
            "updated": updated,
            "is_app_user": false,
            "team_id": ACME_TEAM_ID,
            "deleted": true,
            "profile": profile,
        });
    }
    let guest = class < 70;
    if guest {
        profile["guest_invited_by"] = json!("U0ADMIN001");
    }
    json!({
        "id": id,
        "name": format!("{}.{}{i:04}", n.email_first, n.email_last),
        "is_bot": false,
        "updated": updated,
        "is_app_user": false,
        "team_id": ACME_TEAM_ID,
        "deleted": false,
        "color": format!("{:06x}", r & 0xff_ffff),
        "is_email_confirmed": true,
        "real_name": n.real,
        "tz": n.tz.0,
        "tz_label": n.tz.1,
        "tz_offset": n.tz.2,
        "is_admin": false,
        "is_owner": false,
        "is_primary_owner": false,
        "is_restricted": guest,
        "is_ultra_restricted": guest && class % 2 == 0,
        "has_2fa": false,
        "who_can_share_contact_card": "EVERYONE",
        "locale": n.locale,
        "profile": profile,
    })
}

/// The member as a deactivated user looks in `users.list`: only `id, name, is_bot, updated,
/// is_app_user, team_id, deleted: true` (+ `is_forgotten`) and a profile with `fields: null`.
pub fn deactivated(member: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in ["id", "name", "is_bot", "updated", "is_app_user", "team_id", "is_forgotten"] {
        if let Some(v) = member.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert("deleted".into(), json!(true));
    let mut profile = member.get("profile").cloned().unwrap_or_else(|| json!({}));
    if let Some(p) = profile.as_object_mut() {
        p.insert("fields".into(), Value::Null);
        p.insert("status_emoji_display_info".into(), json!([]));
        p.remove("huddle_state");
        p.remove("huddle_state_expiration_ts");
    }
    out.insert("profile".into(), profile);
    Value::Object(out)
}

fn flag(m: &Value, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// Active (not deleted) member.
pub fn is_active(m: &Value) -> bool {
    !flag(m, "deleted")
}

/// Whether a member should get an account: the test oracle, kept independent of slack-im's own
/// rules (`src/eligibility.rs`) so that the integration tests compare two readings of Slack's
/// data. Not eligible: Slackbot (recognised by its id only: it is not `is_bot`), deactivated
/// members, bots and workflow bots, users of an app (a non-empty profile `bot_id` or `api_app_id`:
/// Slack documents "App ID or empty string"; a true `is_app_user` alone is a human who authorised
/// an app), members of another workspace (`is_stranger`), guests (`is_restricted` or
/// `is_ultra_restricted`), invitations not accepted yet, unconfirmed e-mails, and members without
/// an e-mail.
pub fn is_eligible(m: &Value) -> bool {
    let profile_has = |k: &str| {
        m.get("profile").and_then(|p| p.get(k)).is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
    };
    m.get("id").and_then(Value::as_str) != Some("USLACKBOT")
        && is_active(m)
        && !flag(m, "is_bot")
        && !flag(m, "is_workflow_bot")
        && !profile_has("bot_id")
        && !profile_has("api_app_id")
        && !flag(m, "is_stranger")
        && !flag(m, "is_restricted")
        && !flag(m, "is_ultra_restricted")
        && !flag(m, "is_invited_user")
        && m.get("is_email_confirmed").and_then(Value::as_bool) == Some(true)
        && email(m).is_some_and(|e| e.contains('@'))
}

/// The members as a single sign-on workspace reports them: every active human who has signed in
/// carries `is_email_confirmed: false` (getsentry/eng-pipes#142; real-slack derived member
/// U0DERIV024), since the identity provider, not Slack, vouches for the address.
pub fn as_sso(members: Vec<Value>) -> Vec<Value> {
    members
        .into_iter()
        .map(|mut m| {
            if m.get("is_email_confirmed").and_then(Value::as_bool) == Some(true) {
                m["is_email_confirmed"] = json!(false);
            }
            m
        })
        .collect()
}

/// `profile.email`, if present.
pub fn email(m: &Value) -> Option<&str> {
    m.get("profile")?.get("email")?.as_str()
}

/// Lower-cased local part of `profile.email`: the target's `userId` in the dev templates
/// (`user.email_local | lower`, which lower-cases Unicode, not only ASCII).
pub fn email_local(m: &Value) -> Option<String> {
    email(m).and_then(|e| e.split('@').next().map(str::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn fixture_has_21_members_with_unique_ids() {
        let f = acme_fixture();
        assert_eq!(f.len(), 21);
        let ids: HashSet<_> = f.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 21);
        assert!(ids.contains("USLACKBOT") && ids.contains("W0GRID0001"));
    }

    #[test]
    fn the_oracle_keeps_exactly_the_confirmed_humans_of_the_fixture() {
        let eligible: Vec<String> = acme_fixture()
            .iter()
            .filter(|m| is_eligible(m))
            .map(|m| m["id"].as_str().unwrap().into())
            .collect();
        assert_eq!(
            eligible,
            [
                "U0ADMIN001",
                "U0KOR00001",
                "U0KOR00002",
                "U0JPN00001",
                "U0ACC00001",
                "U0RTL00001",
                "U0QUOTE001",
                "U0EMPTY001",
                "U0APPUSR01",
                "W0GRID0001"
            ]
        );
        let keys: Vec<String> =
            acme_fixture().iter().filter(|m| is_eligible(m)).filter_map(email_local).collect();
        assert!(keys.contains(&"seoyeon.lee".to_string()), "{keys:?}");
    }

    #[test]
    fn the_oracle_knows_app_users_by_their_profile_not_by_is_app_user() {
        let human = json!({"id": "U1", "deleted": false, "is_bot": false, "is_email_confirmed": true,
                           "is_app_user": true, "profile": {"email": "Ünal.Öz@acme.example"}});
        assert!(is_eligible(&human), "is_app_user alone is a human who authorised an app");
        assert_eq!(email_local(&human).as_deref(), Some("ünal.öz"));
        for field in ["bot_id", "api_app_id"] {
            let mut app = human.clone();
            app["profile"][field] = json!("B0APP");
            assert!(!is_eligible(&app), "profile {field} makes an app");
        }
        for email in [json!(""), json!("no-at-sign"), Value::Null] {
            let mut m = human.clone();
            m["profile"]["email"] = email.clone();
            assert!(!is_eligible(&m), "e-mail {email}");
        }
    }

    #[test]
    fn generator_is_deterministic_and_unique() {
        let a = synthetic(3000, DEFAULT_SEED);
        assert_eq!(a, synthetic(3000, DEFAULT_SEED));
        assert_ne!(a, synthetic(3000, 1));
        let mut all = acme_fixture();
        all.extend(a.iter().cloned());
        let locals: Vec<_> = all.iter().filter_map(email_local).collect();
        let unique: HashSet<_> = locals.iter().collect();
        assert_eq!(locals.len(), unique.len());
        for m in &a {
            let e = email(m).unwrap();
            let local = e.split('@').next().unwrap();
            assert!(local.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.'));
        }
        let deleted = a.iter().filter(|m| !is_active(m)).count();
        let guests = a.iter().filter(|m| flag(m, "is_restricted")).count();
        assert!((100..=200).contains(&deleted), "deleted {deleted}");
        assert!((30..=100).contains(&guests), "guests {guests}");
        let hostile = a.iter().filter(|m| m["profile"]["real_name"].as_str().unwrap().contains("{{")).count();
        assert!(hostile > 0);
        assert!(a.iter().any(|m| m["real_name"]
            .as_str()
            .is_some_and(|n| n.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)))));
        // deleted members keep the reduced key set
        let d = a.iter().find(|m| !is_active(m)).unwrap();
        assert!(d.get("real_name").is_none() && d.get("tz").is_none());
    }
}

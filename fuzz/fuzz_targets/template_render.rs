//! Fuzzes the payload templates with hostile member data: whatever a member types into Slack, the
//! shipped `dev` templates render a JSON body whose name is exactly the member's name and whose
//! other fields are exactly the template's.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use slack_im::fuzzing::{Member, Secret, SystemTemplates, UserView};

fn templates() -> &'static SystemTemplates {
    static T: OnceLock<SystemTemplates> = OnceLock::new();
    T.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let secrets = BTreeMap::from([
            ("target_token".to_string(), Secret::new("fuzz-target-token".to_string())),
            ("initial_password".to_string(), Secret::new("fuzz-password".to_string())),
        ]);
        SystemTemplates::load(&root, "dev", Some("http://127.0.0.1:9"), &BTreeMap::new(), &secrets).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let name = parts.next().unwrap_or_default().to_string();
    let title = parts.next().unwrap_or_default().to_string();
    let local = parts.next().unwrap_or_default().replace(['@', '\u{0}'], "");
    let mut member = Member { id: "U0FUZZ0001".into(), real_name: Some(name.clone()), ..Member::default() };
    member.profile.real_name = Some(name.clone());
    member.profile.title = Some(title);
    member.profile.email = Some(format!("{local}@acme.example"));
    let user = std::sync::Arc::new(UserView::from_member(&member));
    match templates().render_create(&user) {
        Ok((key, body)) => {
            assert_eq!(body["userId"].as_str(), Some(key.as_str()));
            assert_eq!(body["name"].as_str(), Some(user.name.as_str()));
            assert_eq!(body["password"], "fuzz-password");
            assert_eq!(body["roleGroupId"], "AGENT");
            assert_eq!(body["customType"], "user");
            assert_eq!(body.as_object().unwrap().len(), 7);
        }
        // The only acceptable failure: an e-mail local part that is blank gives no key.
        Err(e) => assert!(local.trim().is_empty(), "{e}"),
    }
});

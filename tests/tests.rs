//! Integration tests: the real `slack-im` binary against the local fake Slack and fake target.
//! One test binary (ripgrep's layout); each module is one area of behaviour.

mod addressing;
mod architecture_doc;
mod check;
mod check_writes;
mod common;
mod config_errors;
mod deactivation;
mod faults;
mod hardening;
mod headers;
mod identity;
mod layers;
mod lifecycle;
mod members_file;
mod notify;
mod paging;
mod saved_plan;
mod sync;
mod system_key;
mod systems;
mod target_host;
mod upsert;
mod usergroups;
mod welcome;

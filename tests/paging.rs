//! Listings of real account APIs (issue 18): offset, SCIM `startIndex`, opaque next-token and
//! 1-based paging through `list.next`, the server's own count (`list.total`) checked against what
//! was read, and a `next` that leaves the base URL or loops: a failed read, nothing written.

use slack_im_fakes::{Paging, SlackOptions, TargetOp, TargetOptions};

use crate::common::*;

/// A world of the 21 fixture members (10 eligible) and a target paging this way over `accounts`.
fn paged(paging: Paging, accounts: Vec<serde_json::Value>, tune: impl FnOnce(&mut TargetOptions)) -> World {
    let mut opts = TargetOptions { paging, accounts, ..Default::default() };
    tune(&mut opts);
    World::with(SlackOptions::acme(0), opts)
}

/// The writes of the dev folder's shape: POST a create, PUT an update, DELETE a deactivation.
const WRITES: &str = r#""create": {"method": "POST", "path": "/api/users"},
  "update": {"method": "PUT", "path": "/api/users/{key}"},
  "deactivate": {"method": "DELETE", "path": "/api/users/{key}"},"#;

/// A complete read: every account listed, the leaver at the very end deactivated, every member
/// created, and a second run that writes nothing.
#[track_caller]
fn assert_complete_read(world: &World, listed: u64, list_requests: usize) {
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let summary = run.summary.as_ref().unwrap();
    assert_eq!(summary["sources"]["target_accounts"], listed, "{}", run.stdout);
    assert_eq!(
        world.target.count(TargetOp::List),
        list_requests,
        "{:?}",
        world.target_requests("GET", "/api/users").iter().map(|r| (&r.path, &r.query)).collect::<Vec<_>>()
    );
    assert!(world.target_requests("GET", "/api/users").iter().all(|r| r.status == 200));
    assert_eq!(run.count("create"), 10);
    assert_eq!(run.count("deactivate"), 1, "the leaver on the last page is seen");
    assert!(world.target.account("leaver.last").is_none());
    assert_eq!(run.count("failed"), 0);

    let writes = world.writes();
    let again = world.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.count("unchanged"), 10);
    assert_eq!(world.writes(), writes, "a second sync writes nothing");
}

#[test]
fn offset_paging_reads_every_page_up_to_the_servers_total() {
    let mut world = paged(Paging::Offset, fillers_then_leaver(1050), |_| {});
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?limit=100&offset=0", "items": "/users", "key": "/userId",
           "next": "'/api/users?limit=100&offset=' ~ count", "total": "/total_count"}"#,
        WRITES,
    ));
    // 11 pages of 100, 100, … 50: the total reached stops the listing, no empty page is asked for.
    assert_complete_read(&world, 1050, 11);
    let offsets: Vec<String> = world
        .target_requests("GET", "/api/users")
        .iter()
        .take(11)
        .map(|r| r.args["offset"].clone())
        .collect();
    assert_eq!(offsets, (0..11).map(|i| (i * 100).to_string()).collect::<Vec<_>>());
}

#[test]
fn scim_start_index_paging_reads_everything_from_a_server_that_caps_its_pages() {
    let mut world = paged(Paging::StartIndex, fillers_then_leaver(250), |o| o.max_results = Some(100));
    // One request of 200: the server answers 100 and says it has 250. A capped listing is a failed
    // read, whatever the folder asked for.
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?startIndex=1&count=200", "items": "/Resources", "key": "/userId",
           "total": "/totalResults"}"#,
        WRITES,
    ));
    let capped = world.run(&["sync"]);
    capped.assert_code(1);
    assert_eq!(world.writes(), 0);
    let said = format!("{}{}", capped.stderr, capped.error());
    assert!(
        said.contains("the server counts 250 accounts at /totalResults but the listing gave 100"),
        "{said}"
    );

    // `next` from what was read: 1, 101, 201, whatever page size the server chose.
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?startIndex=1&count=200", "items": "/Resources", "key": "/userId",
           "next": "'/api/users?startIndex=' ~ (count + 1) ~ '&count=200'", "total": "/totalResults"}"#,
        WRITES,
    ));
    let before = world.target.count(TargetOp::List);
    let run = world.run(&["plan"]);
    run.assert_code(0);
    let starts: Vec<String> = world
        .target_requests("GET", "/api/users")
        .iter()
        .skip(before)
        .map(|r| r.args["startIndex"].clone())
        .collect();
    assert_eq!(starts, ["1", "101", "201"]);
    assert_complete_read(&world, 250, before + 3 + 3);
}

#[test]
fn an_opaque_next_token_is_followed_until_the_server_gives_none() {
    let mut world = paged(Paging::Cursor, fillers_then_leaver(250), |_| {});
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?limit=100", "items": "/data", "key": "/userId",
           "next": "'/api/users?limit=100&cursor=' ~ response.next_cursor if response.next_cursor else none"}"#,
        WRITES,
    ));
    assert_complete_read(&world, 250, 3);
}

#[test]
fn one_based_pages_are_read_from_page_one_until_an_empty_page() {
    let mut world = paged(Paging::Page1, fillers_then_leaver(250), |_| {});
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?page=1&per_page=100", "items": "/users", "key": "/userId",
           "next": "'/api/users?page=' ~ (page + 2) ~ '&per_page=100'"}"#,
        WRITES,
    ));
    // Pages 1, 2, 3 and the empty page 4 (the fake answers page 0 with a 400).
    assert_complete_read(&world, 250, 4);
    let pages: Vec<String> =
        world.target_requests("GET", "/api/users").iter().take(4).map(|r| r.args["page"].clone()).collect();
    assert_eq!(pages, ["1", "2", "3", "4"]);
}

#[test]
fn a_short_listing_is_a_failed_read_and_nothing_is_written() {
    // The server counts 30 accounts but shows 10: the 20 it hides include the members' own
    // accounts, which a trusting run would try to create again.
    let mut accounts = fillers(10);
    accounts.extend((0..20).map(|i| leaver(&format!("leaver{i}"))));
    let mut world = paged(Paging::Offset, accounts, |o| o.short_listing = Some(10));
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?limit=100&offset=0", "items": "/users", "key": "/userId",
           "next": "'/api/users?limit=100&offset=' ~ count", "total": "/total_count"}"#,
        WRITES,
    ));
    for command in ["sync", "plan"] {
        let run = world.run(&[command]);
        run.assert_code(1);
        let said = format!("{}{}", run.stderr, run.error());
        assert!(
            said.contains("the server counts 30 accounts at /total_count but the listing gave 10"),
            "{said}"
        );
        assert!(
            said.contains("GET /api/users?limit=100&offset="),
            "the failed read names its request: {said}"
        );
    }
    assert_eq!(world.writes(), 0);
    assert_eq!(world.target.accounts().len(), 30);
}

#[test]
fn a_next_path_that_does_not_start_with_a_slash_is_a_failed_read() {
    for next in [
        r#""'api/users?limit=100&offset=' ~ count""#,
        r#""'http://127.0.0.1:9/api/users?limit=100&offset=' ~ count""#,
    ] {
        let mut world = paged(Paging::Offset, fillers_then_leaver(250), |_| {});
        world.accounts_folder(&system_json(
            &format!(r#"{{"path": "/api/users?limit=100&offset=0", "items": "/users", "key": "/userId", "next": {next}}}"#),
            WRITES,
        ));
        let run = world.run(&["sync"]);
        run.assert_code(1);
        let said = format!("{}{}", run.stderr, run.error());
        assert!(
            said.contains("api/users?limit=100&offset=100"),
            "the failed read names the next path: {said}"
        );
        assert_eq!(world.writes(), 0);
        assert_eq!(world.target.count(TargetOp::List), 1, "the next path is never requested");
    }
}

#[test]
fn a_next_that_loops_is_a_failed_read() {
    let mut world = paged(Paging::Offset, fillers_then_leaver(250), |_| {});
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?limit=100&offset=0", "items": "/users", "key": "/userId",
           "next": "'/api/users?limit=100&offset=' ~ (count % 200)"}"#,
        WRITES,
    ));
    // offset 0, 100, then 0 again: a listing that never ends.
    let run = world.run(&["sync"]);
    run.assert_code(1);
    let said = format!("{}{}", run.stderr, run.error());
    assert!(
        said.contains("/api/users?limit=100&offset=0"),
        "the failed read names the repeated path: {said}"
    );
    assert_eq!(world.writes(), 0);
    assert!(world.target.count(TargetOp::List) <= 3, "{}", world.target.count(TargetOp::List));
}

#[test]
fn next_with_a_page_placeholder_is_a_configuration_error() {
    let mut world = paged(Paging::Page0, Vec::new(), |_| {});
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId",
           "next": "'/api/users?page=' ~ (page + 1)"}"#,
        WRITES,
    ));
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.stderr.contains("next") && run.stderr.contains("{page}"), "{}", run.stderr);
    assert_eq!(world.target.requests().len(), 0);
}

//! Each system's token goes only to that system's host (issue 20): an unsuffixed
//! `SLACK_IM_TARGET_URL` (a Jenkins global or job value, set for one system) may not send another
//! system's token to a host its folder does not name; `SLACK_IM_TARGET_URL__<SYSTEM>` names its
//! system and may point anywhere; a loopback URL and a folder without `url` are exempt.
//!
//! No test resolves a name: the hosts are `.invalid` ones, and the runs go through a recording
//! proxy on 127.0.0.1, so a request towards a host shows up as the proxy's `CONNECT host:443`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// Where the Jenkins global `SLACK_IM_TARGET_URL` points: dev's server, not model-office's.
const DEV_URL: &str = "https://dev.slack-im-test.invalid";
const DEV_HOST: &str = "dev.slack-im-test.invalid";
/// model-office's own server, the `url` of its folder in these tests.
const MO_HOST: &str = "model-office.slack-im-test.invalid";

/// An HTTP proxy on 127.0.0.1 that records the head of every request it gets and answers 502:
/// with `HTTPS_PROXY` set, a request to any host that is not loopback reaches it as `CONNECT`.
struct Proxy {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (heads.clone(), stop.clone());
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(120);
            while !stopped.load(Ordering::Relaxed) && Instant::now() < until {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                seen.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                let _ = stream
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        Proxy { url, heads, stop }
    }

    /// The first line of every request the proxy received.
    fn request_lines(&self) -> Vec<String> {
        self.heads.lock().unwrap().iter().map(|h| h.lines().next().unwrap_or("").to_string()).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A single-system run of model-office, its folder's `url` on [`MO_HOST`], every request to a
/// host that is not loopback through `proxy`, no retries (a refused CONNECT fails the run at once).
fn model_office(proxy: &Proxy) -> World {
    let mut world = World::new(0);
    let templates = world.own_templates();
    let spec = templates.join("model-office/system.json");
    let text = std::fs::read_to_string(&spec).unwrap();
    let text = text.replace("https://model-office.example.internal", &format!("https://{MO_HOST}"));
    std::fs::write(&spec, text).unwrap();
    world.set("SLACK_IM_SYSTEM", "model-office");
    world.set("SLACK_IM_RETRY_BUDGET", "0");
    for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"] {
        world.set(name, &proxy.url);
    }
    world
}

#[test]
fn an_unsuffixed_target_url_to_another_host_than_the_folders_is_refused_before_any_request() {
    // A Jenkins global SLACK_IM_TARGET_URL set for dev, then a run of model-office alone: its
    // token would go to dev's server.
    let proxy = Proxy::start();
    let mut world = model_office(&proxy);
    world.set("SLACK_IM_TARGET_URL", DEV_URL);
    let run = world.run(&["sync"]);
    run.assert_code(2);
    let error =
        run.stderr.lines().find(|l| l.contains("SLACK_IM_TARGET_URL is invalid")).unwrap_or_else(|| {
            panic!("a configuration error naming SLACK_IM_TARGET_URL: {}", run.stderr);
        });
    for named in [DEV_HOST, MO_HOST, "SLACK_IM_TARGET_URL__MODEL_OFFICE"] {
        assert!(error.contains(named), "names {named}: {error}");
    }
    assert_eq!(proxy.request_lines(), Vec::<String>::new(), "no request towards either host");
    assert!(world.slack.requests().is_empty(), "nothing read from Slack either");
    assert!(world.target.requests().is_empty());
    let summary = run.summary.as_ref().expect("summary.json is written on a configuration error");
    assert_eq!(summary["exit_code"], 2, "{summary}");
}

#[test]
fn an_unsuffixed_target_url_to_the_folders_own_host_is_accepted_whatever_its_case_and_port() {
    let proxy = Proxy::start();
    let mut world = model_office(&proxy);
    world.set("SLACK_IM_TARGET_URL", &format!("https://{}:443/", MO_HOST.to_ascii_uppercase()));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    let lines: Vec<String> = proxy.request_lines().iter().map(|l| l.to_ascii_lowercase()).collect();
    assert_eq!(lines, [format!("connect {MO_HOST}:443 http/1.1")], "{}", run.stderr);
}

#[test]
fn the_suffixed_target_url_names_its_system_and_may_point_at_another_host() {
    let proxy = Proxy::start();
    let mut world = model_office(&proxy);
    world.unset("SLACK_IM_TARGET_URL");
    world.set("SLACK_IM_TARGET_URL__MODEL_OFFICE", DEV_URL);
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(!run.stderr.contains("is invalid"), "{}", run.stderr);
    assert_eq!(proxy.request_lines(), [format!("CONNECT {DEV_HOST}:443 HTTP/1.1")], "{}", run.stderr);
}

#[test]
fn an_unsuffixed_target_url_on_loopback_is_accepted_for_any_folder() {
    // The fakes, the tests and tunnels run on this machine: a loopback server is the run's own.
    let proxy = Proxy::start();
    let world = model_office(&proxy);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(world.accounts().len(), world.expected_keys().len());
    assert!(proxy.request_lines().is_empty(), "loopback is never proxied");
}

#[test]
fn an_unsuffixed_target_url_is_the_url_of_a_folder_that_names_none() {
    let proxy = Proxy::start();
    let mut world = model_office(&proxy);
    let spec = std::path::Path::new(&world.env["SLACK_IM_TEMPLATES"]).join("model-office/system.json");
    let text = std::fs::read_to_string(&spec).unwrap();
    let text = text.replace(&format!("\"url\": \"https://{MO_HOST}\","), "");
    assert!(!text.contains("\"url\""), "the folder names no url: {text}");
    std::fs::write(&spec, text).unwrap();
    world.set("SLACK_IM_TARGET_URL", DEV_URL);
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(!run.stderr.contains("is invalid"), "{}", run.stderr);
    assert_eq!(proxy.request_lines(), [format!("CONNECT {DEV_HOST}:443 HTTP/1.1")], "{}", run.stderr);
}

//! The benchmark: runs the release `slack-im` binary against in-process fakes with N members and a
//! per-request target latency, and prints one row per case (first sync, steady state, 1% churn)
//! with wall time, slack-im's CPU time and the fakes' apart, peak RSS and requests by kind, for each
//! paging style of `--listings`. Figures, not assertions.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use slack_im_fakes::members::synthetic_member;
use slack_im_fakes::{FakeSlack, FakeTarget, Paging, SlackOptions, TargetOp, TargetOptions, UserGroup};

const USAGE: &str = "usage: slack-im-bench [--sizes 1000,10000,50000] [--latency-ms 10] [--concurrency 4]
                      [--listings page,offset,cursor] [--first-sync-latency-ms N]
                      [--binary target/release/slack-im] [--version-runs 200] [--systems-size 10000]";

/// How the fake target pages its listing, and the `list` of the dev folder that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// The shipped dev folder: `{page}` from 0 until an empty page.
    Page,
    /// `offset` + `limit`, `next` from `count`, `total` checked (Redmine's shape).
    Offset,
    /// An opaque next token, `next_cursor` null on the last page.
    Cursor,
}

impl Listing {
    fn parse(name: &str) -> Result<Listing, String> {
        match name {
            "page" => Ok(Listing::Page),
            "offset" => Ok(Listing::Offset),
            "cursor" => Ok(Listing::Cursor),
            other => Err(format!("--listings: {other:?} is not page, offset or cursor")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Listing::Page => "page",
            Listing::Offset => "offset",
            Listing::Cursor => "cursor",
        }
    }

    fn paging(self) -> Paging {
        match self {
            Listing::Page => Paging::Page0,
            Listing::Offset => Paging::Offset,
            Listing::Cursor => Paging::Cursor,
        }
    }

    /// The `list` object of `system.json` for this style (500 accounts a page); `None` for the
    /// shipped folder as it is.
    fn list_json(self) -> Option<&'static str> {
        match self {
            Listing::Page => None,
            Listing::Offset => Some(
                r#"{
    "path": "/api/users?limit=500&offset=0",
    "items": "/users",
    "key": "/userId",
    "next": "'/api/users?limit=500&offset=' ~ count",
    "total": "/total_count"
  }"#,
            ),
            Listing::Cursor => Some(
                r#"{
    "path": "/api/users?limit=500",
    "items": "/data",
    "key": "/userId",
    "next": "'/api/users?limit=500&cursor=' ~ response.next_cursor if response.next_cursor else none"
  }"#,
            ),
        }
    }
}

struct Args {
    sizes: Vec<usize>,
    latency: Duration,
    concurrency: usize,
    binary: String,
    version_runs: usize,
    /// Members for the three-systems rows (0: none).
    systems_size: usize,
    /// Paging styles of the target listing, each a set of rows per size.
    listings: Vec<Listing>,
    /// Target latency of the first sync (default: `latency`); 0 seeds the target quickly for
    /// the steady-state and churn rows.
    first_sync_latency: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sizes: vec![1_000, 10_000, 50_000],
        latency: Duration::from_millis(10),
        concurrency: 4,
        binary: "target/release/slack-im".into(),
        version_runs: 200,
        systems_size: 10_000,
        listings: vec![Listing::Page],
        first_sync_latency: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        let number = |v: String| v.parse::<usize>().map_err(|_| format!("{flag}: {v:?} is not a number"));
        match flag.as_str() {
            "--sizes" => {
                args.sizes =
                    value()?.split(',').map(|s| number(s.trim().to_string())).collect::<Result<_, _>>()?
            }
            "--latency-ms" => args.latency = Duration::from_millis(number(value()?)? as u64),
            "--concurrency" => args.concurrency = number(value()?)?,
            "--binary" => args.binary = value()?,
            "--version-runs" => args.version_runs = number(value()?)?,
            "--systems-size" => args.systems_size = number(value()?)?,
            "--listings" => {
                args.listings =
                    value()?.split(',').map(|s| Listing::parse(s.trim())).collect::<Result<_, _>>()?
            }
            "--first-sync-latency-ms" => {
                args.first_sync_latency = Some(Duration::from_millis(number(value()?)? as u64))
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// What one run of the binary cost.
struct Measured {
    code: i32,
    wall: Duration,
    cpu: Duration,
    peak_rss_kb: i64,
}

/// Runs the binary: CPU time from wait4(2); peak RSS from `VmHWM` in /proc, polled every 2 ms
/// (wait4's `ru_maxrss` would report this benchmark's own size: a child inherits the high-water
/// mark of the process it was forked from).
fn measure(binary: &str, args: &[&str], env: &[(String, String)]) -> Measured {
    let started = Instant::now();
    // Reaped below with wait4(2), which also returns the CPU time; `Child::wait` would not.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(binary)
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("SLACK_IM_BENCH_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e} (run `cargo build --release` first)"));
    let pid = child.id();
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 writes into the two out-pointers only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let peak_rss_kb = std::thread::scope(|s| {
        let poller = s.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(vm_hwm_kb(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        });
        // SAFETY: waits for our own child; writes only into `status` and `usage`.
        let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        assert_eq!(reaped, pid as libc::pid_t, "wait4 failed");
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        poller.join().unwrap()
    });
    let wall = started.elapsed();
    let tv =
        |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Measured {
        code: if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 },
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss_kb,
    }
}

/// The peak resident set of a live process, in kB.
fn vm_hwm_kb(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Counts {
    slack: usize,
    list: usize,
    create: usize,
    update: usize,
    delete: usize,
    /// `usergroups.list` calls (also counted in `slack`).
    groups: usize,
}

fn counts(slack: &FakeSlack, target: &FakeTarget) -> Counts {
    Counts {
        slack: slack.call_counts().values().sum(),
        groups: slack.calls("usergroups.list"),
        list: target.count(TargetOp::List),
        create: target.count(TargetOp::Create),
        update: target.count(TargetOp::Update),
        delete: target.count(TargetOp::Delete),
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    print_machine();
    println!(
        "target latency {} ms per request, SLACK_IM_CONCURRENCY={}; floor = writes x latency / concurrency + listing pages x latency\n",
        args.latency.as_millis(),
        args.concurrency
    );
    println!("| members | listing | case | exit | wall s | slack-im CPU s | fake Slack CPU s | fake target CPU s | peak RSS MB | Slack req | groups req | list | create | update | deactivate | floor s | wall/floor |");
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut single = Vec::new();
    for &n in &args.sizes {
        for &listing in &args.listings {
            let walls = bench_size(&args, n, listing);
            if listing == Listing::Page {
                single.push((n, walls));
            }
        }
    }
    if args.systems_size > 0 {
        let one = single.iter().find(|(n, _)| *n == args.systems_size).map(|(_, walls)| walls.clone());
        bench_three_systems(&args, args.systems_size, one);
    }
    bench_version(&args);
    let _ = std::fs::remove_dir_all(shipped_without_welcome());
}

/// The environment of a benchmark run of `systems` against `slack`, without target URLs.
fn base_env(args: &Args, slack: &FakeSlack, n: usize, systems: &str) -> Vec<(String, String)> {
    let templates = shipped_without_welcome();
    [
        ("SLACK_BOT_TOKEN", slack_im_fakes::slack::SANDBOX_TOKEN.to_string()),
        ("SLACK_IM_SYSTEM", systems.to_string()),
        ("SLACK_IM_SLACK_URL", slack.base_url()),
        ("SLACK_IM_TEMPLATES", templates),
        ("SLACK_IM_SECRET_TARGET_TOKEN", slack_im_fakes::target::SANDBOX_TOKEN.into()),
        ("SLACK_IM_SECRET_INITIAL_PASSWORD", "bench-password".into()),
        ("SLACK_IM_EMAIL_DOMAINS", slack_im_fakes::members::ACME_EMAIL_DOMAIN.into()),
        ("SLACK_IM_CONCURRENCY", args.concurrency.to_string()),
        ("SLACK_IM_MAX_DEACTIVATE", n.to_string()),
        // SLACK_IM_BENCH_LOG=info shows the binary's own timings (on stderr).
        ("RUST_LOG", std::env::var("SLACK_IM_BENCH_LOG").unwrap_or_else(|_| "warn".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// CPU time (user + system) the threads of the fake serving on `port` have used so far, from
/// `/proc/self/task/*/stat`: the fakes run in this process, so their time is not the child's.
/// Their worker threads are named `fake-http-PORT-i` (the kernel keeps 15 bytes of it).
fn fake_cpu(port: u16) -> Duration {
    let name = format!("fake-http-{port}-");
    let prefix = &name[..name.len().min(15)];
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // Fields 14 and 15 of stat(5), counted from the state (field 3) here.
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        total += field(11) + field(12);
    }
    Duration::from_secs_f64(total as f64 / ticks)
}

/// The shipped templates, copied once per benchmark without the folders' `welcome.txt`: the
/// benchmark measures the sync against its latency floor, and a welcome DM per create (one
/// `chat.postMessage` at a time, paced by Slack's rate limits, which the fake does not model) would
/// make the first-sync figures incomparable with docs/benchmark.md's.
fn shipped_without_welcome() -> String {
    static COPY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let shipped = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../templates"));
        let root = std::env::temp_dir().join(format!("slack-im-bench-{}-shipped", std::process::id()));
        for system in std::fs::read_dir(shipped).expect("read templates/").flatten() {
            if !system.path().is_dir() {
                continue;
            }
            let to = root.join(system.file_name());
            std::fs::create_dir_all(&to).expect("create the bench templates folder");
            for file in std::fs::read_dir(system.path()).expect("read a system folder").flatten() {
                if file.file_name() != "welcome.txt" {
                    std::fs::copy(file.path(), to.join(file.file_name())).expect("copy a template");
                }
            }
        }
        root.to_string_lossy().into_owned()
    })
    .clone()
}

/// A templates folder holding `dev` with its `list` replaced for `listing` (the shipped folder,
/// without `welcome.txt`, when `listing` is the shipped style).
fn templates_for(listing: Listing) -> String {
    let shipped = shipped_without_welcome();
    let Some(list) = listing.list_json() else { return shipped };
    let root = std::env::temp_dir().join(format!("slack-im-bench-{}-{}", std::process::id(), listing.name()));
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).expect("create the bench templates folder");
    for entry in std::fs::read_dir(format!("{shipped}/dev")).expect("read templates/dev").flatten() {
        std::fs::copy(entry.path(), dev.join(entry.file_name())).expect("copy templates/dev");
    }
    let system = std::fs::read_to_string(dev.join("system.json")).expect("read system.json");
    // Replace the shipped `list` object whole: from its `{` to the brace that closes it, braces
    // inside strings (`{page}`) aside.
    let key = system.find("\"list\": {").expect("templates/dev/system.json has a list object");
    let start = key + "\"list\": ".len();
    let (mut depth, mut in_string, mut escaped, mut end) = (0, false, false, None);
    for (i, c) in system[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string => depth += 1,
            '}' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    end = Some(start + i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let end = end.expect("the list object of templates/dev/system.json ends");
    let start = key;
    let replaced = format!("{}\"list\": {list}{}", &system[..start], &system[end..]);
    std::fs::write(dev.join("system.json"), replaced).expect("write system.json");
    root.to_string_lossy().into_owned()
}

/// The single-system rows for `n` members listed in `listing`'s style; returns the wall times of
/// the first sync and the steady state, which the three-systems rows compare with.
fn bench_size(args: &Args, n: usize, listing: Listing) -> Vec<f64> {
    let fixture = slack_im_fakes::members::acme_fixture().len();
    let slack = FakeSlack::start(SlackOptions::acme(n.saturating_sub(fixture)));
    let first_latency = args.first_sync_latency.unwrap_or(args.latency);
    let target = FakeTarget::start(TargetOptions {
        latency: first_latency,
        workers: 64,
        paging: listing.paging(),
        ..Default::default()
    });
    let templates = templates_for(listing);
    let mut env = base_env(args, &slack, n, "dev");
    env.retain(|(k, _)| k != "SLACK_IM_TEMPLATES");
    env.push(("SLACK_IM_TEMPLATES".into(), templates.clone()));
    env.push(("SLACK_IM_TARGET_URL".into(), target.base_url()));

    let case = |name: &str, env: &[(String, String)]| -> f64 {
        let latency = if name == "first sync" { first_latency } else { args.latency };
        target.set_latency(latency);
        let before = counts(&slack, &target);
        let fakes_before = (fake_cpu(slack.addr().port()), fake_cpu(target.addr().port()));
        let m = measure(&args.binary, &["sync"], env);
        let fakes = (
            fake_cpu(slack.addr().port()).saturating_sub(fakes_before.0),
            fake_cpu(target.addr().port()).saturating_sub(fakes_before.1),
        );
        let after = counts(&slack, &target);
        let (list, create, update, delete) = (
            after.list - before.list,
            after.create - before.create,
            after.update - before.update,
            after.delete - before.delete,
        );
        let writes = create + update + delete;
        let floor = latency.as_secs_f64() * (writes as f64 / args.concurrency as f64 + list as f64);
        println!(
            "| {n} | {} | {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {list} | {create} | {update} | {delete} | {floor:.2} | {} |",
            listing.name(),
            m.code,
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            fakes.0.as_secs_f64(),
            fakes.1.as_secs_f64(),
            m.peak_rss_kb as f64 / 1024.0,
            after.slack - before.slack,
            after.groups - before.groups,
            if floor > 0.0 { format!("{:.2}", m.wall.as_secs_f64() / floor) } else { "-".into() },
        );
        m.wall.as_secs_f64()
    };
    let walls = vec![case("first sync", &env), case("steady state", &env)];

    // 1% churn: a third joiners, a third leavers, a third renames.
    let k = (n / 100).max(3);
    let mut members = slack.members();
    let eligible: Vec<usize> =
        (0..members.len()).filter(|&i| slack_im_fakes::members::is_eligible(&members[i])).collect();
    for (j, &i) in eligible.iter().rev().take(k / 3).enumerate() {
        members[i]["real_name"] = json!(format!("Renamed {j}"));
        members[i]["profile"]["real_name"] = json!(format!("Renamed {j}"));
    }
    for &i in eligible.iter().take(k / 3) {
        members[i]["deleted"] = json!(true);
    }
    for j in 0..k - 2 * (k / 3) {
        members.push(synthetic_member(n + 10_000 + j, 7));
    }
    slack.set_members(members);
    case("1% churn", &env);

    if listing != Listing::Page {
        let _ = std::fs::remove_dir_all(&templates);
        return walls;
    }
    // Steady state again, scoped by a user group that holds every member: the same plan (nothing
    // to write), plus the one usergroups.list call and its member lists.
    let everyone: Vec<String> =
        slack.members().iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect();
    slack.configure(|o| {
        let ids: Vec<&str> = everyone.iter().map(String::as_str).collect();
        o.usergroups.push(UserGroup::new("S0EVERYONE", "everyone", &ids));
    });
    let mut scoped = env.clone();
    scoped.push(("SLACK_IM_USERGROUPS".into(), "everyone".into()));
    case("steady, by group", &scoped);
    walls
}

/// `SLACK_IM_SYSTEM=dev,model-office,sales-demo` against one fake Slack and three fake targets
/// (same latency): first sync and steady state, with the Slack requests (one read for all three),
/// the three targets' requests summed, and the wall time against one system's at the same size.
fn bench_three_systems(args: &Args, n: usize, one_system: Option<Vec<f64>>) {
    let fixture = slack_im_fakes::members::acme_fixture().len();
    let slack = FakeSlack::start(SlackOptions::acme(n.saturating_sub(fixture)));
    let systems = ["dev", "model-office", "sales-demo"];
    let targets: Vec<FakeTarget> = systems
        .iter()
        .map(|_| {
            FakeTarget::start(TargetOptions { latency: args.latency, workers: 64, ..Default::default() })
        })
        .collect();
    let mut env = base_env(args, &slack, n, &systems.join(","));
    for (system, target) in systems.iter().zip(&targets) {
        let suffix = system.to_ascii_uppercase().replace('-', "_");
        env.push((format!("SLACK_IM_TARGET_URL__{suffix}"), target.base_url()));
    }
    println!(
        "
| members | 3 systems | exit | wall s | CPU s | peak RSS MB | Slack req | list | create | update | deactivate | wall / one system |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, name) in ["first sync", "steady state"].iter().enumerate() {
        let total = |f: fn(&FakeTarget) -> usize| targets.iter().map(f).sum::<usize>();
        let before = (slack.call_counts().values().sum::<usize>(), total(|t| t.count(TargetOp::List)));
        let before_writes = [TargetOp::Create, TargetOp::Update, TargetOp::Delete]
            .map(|op| targets.iter().map(|t| t.count(op)).sum::<usize>());
        let m = measure(&args.binary, &["sync"], &env);
        let after_writes = [TargetOp::Create, TargetOp::Update, TargetOp::Delete]
            .map(|op| targets.iter().map(|t| t.count(op)).sum::<usize>());
        let ratio = one_system
            .as_ref()
            .map(|walls| format!("{:.2}", m.wall.as_secs_f64() / walls[i]))
            .unwrap_or_else(|| "-".into());
        println!(
            "| {n} | {name} | {} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} | {ratio} |",
            m.code,
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.peak_rss_kb as f64 / 1024.0,
            slack.call_counts().values().sum::<usize>() - before.0,
            total(|t| t.count(TargetOp::List)) - before.1,
            after_writes[0] - before_writes[0],
            after_writes[1] - before_writes[1],
            after_writes[2] - before_writes[2],
        );
    }
}

fn bench_version(args: &Args) {
    let mut times: Vec<Duration> =
        (0..args.version_runs.max(1)).map(|_| measure(&args.binary, &["--version"], &[]).wall).collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "\n`slack-im --version`: median {:.2} ms over {} runs (min {:.2} ms, max {:.2} ms)",
        median.as_secs_f64() * 1000.0,
        times.len(),
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    println!("machine: {cpu}, {cores} cores, {} GiB\n", mem_kb / 1024 / 1024);
}

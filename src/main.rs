//! The `slack-im` command: reads the command line and the environment, runs, and maps the result
//! to the contract's exit code in one place.

use std::io::Write;
use std::process::ExitCode;

use slack_im::config::{Config, VARIABLES};
use slack_im::secret::{self, Redactor};
use slack_im::{exit, Command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut plan_out, mut approved_plan) = (None, None);
    let command = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["sync"] => Command::Sync,
        ["sync", "--plan", file] => {
            approved_plan = Some(std::path::PathBuf::from(file));
            Command::Sync
        }
        ["plan"] => Command::Plan,
        ["plan", "--out", file] => {
            plan_out = Some(std::path::PathBuf::from(file));
            Command::Plan
        }
        ["check"] => Command::Check,
        ["export", file] => return export(std::path::Path::new(file)),
        ["--help" | "-h" | "help"] => return print(&help()),
        ["--version" | "-V" | "version"] => {
            return print(&format!("slack-im {}\n", env!("CARGO_PKG_VERSION")))
        }
        other => {
            eprintln!(
                "error: unknown arguments {other:?}\n\nusage: slack-im [sync [--plan FILE]|plan [--out FILE]|check|export FILE|--help|--version]"
            );
            return ExitCode::from(exit::CONFIG);
        }
    };
    init_logging();
    let mut config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            slack_im::write_config_error(command.name(), &e.to_string());
            return ExitCode::from(exit::CONFIG);
        }
    };
    (config.run.plan_out, config.run.approved_plan) = (plan_out, approved_plan);
    let report = slack_im::run(command, &config);
    let redactor = &report.redactor;
    let several = report.summaries.len() > 1;
    for summary in &report.summaries {
        let name = if several { format!("{}: ", summary.system) } else { String::new() };
        match &summary.error {
            None => {
                let heading = if several { format!("== {} ==\n", summary.system) } else { String::new() };
                let console = summary.console(command == Command::Plan || summary.dry_run);
                print(&redactor.redact(&format!("{heading}{console}")));
            }
            Some(e) => eprintln!("error: {name}{}", redactor.redact(e)),
        }
    }
    if let Some(line) = &report.saved_plan {
        print(line);
    }
    ExitCode::from(report.exit_code)
}

/// `slack-im export FILE`: only the Slack variables matter; `SLACK_IM_SYSTEM` may be left out.
fn export(path: &std::path::Path) -> ExitCode {
    init_logging();
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    if !env.iter().any(|(k, v)| k == "SLACK_IM_SYSTEM" && !v.is_empty()) {
        // Export reads no system folder; any valid name lets the Slack settings be checked alone.
        env.push(("SLACK_IM_SYSTEM".into(), "export".into()));
    }
    let config = match Config::from_vars(env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            slack_im::write_config_error("export", &e.to_string());
            return ExitCode::from(exit::CONFIG);
        }
    };
    let redactor = Redactor::new(config.all_secrets());
    match slack_im::export(&config, path) {
        Ok(done) => print(&format!(
            "slack-im export: {} members of workspace {} in {} pages, {}, written to {} (personal data: keep it private)\n",
            done.members,
            done.team_id.as_deref().unwrap_or("?"),
            done.pages,
            match done.usergroups {
                Some(n) => format!("{n} user groups"),
                None => "no user groups (see the warning above)".into(),
            },
            path.display()
        )),
        Err(e) => {
            eprintln!("error: {}", redactor.redact(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Logs on stderr, `[time level] message`, every line passed through the secret redactor and
/// stripped of control characters (no forged lines, no terminal escapes). The HTTP and TLS
/// libraries log at most at info, whatever `RUST_LOG` says: at debug and trace they dump headers
/// and bodies, tokens included.
fn init_logging() {
    let logger = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            let text = secret::redact_log_line(&record.args().to_string());
            let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            writeln!(buf, "[{} {:<5}] {line}", buf.timestamp_seconds(), record.level())
        })
        .build();
    let max_level = logger.filter();
    if log::set_boxed_logger(Box::new(OwnLogsOnly(logger))).is_ok() {
        log::set_max_level(max_level);
    }
    // A panic message goes through the same redacting log, not straight to stderr.
    std::panic::set_hook(Box::new(|info| log::error!("{info}")));
}

/// Passes slack-im's own records and the dependencies' records up to info.
struct OwnLogsOnly(env_logger::Logger);

impl OwnLogsOnly {
    fn allows(metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("slack_im") || metadata.level() <= log::Level::Info
    }
}

impl log::Log for OwnLogsOnly {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        Self::allows(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if Self::allows(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Prints to stdout; a closed pipe (`slack-im --help | head`) is not an error worth a panic.
fn print(text: &str) -> ExitCode {
    let _ = std::io::stdout().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

fn help() -> String {
    let mut text = format!(
        "slack-im {} - make a system's accounts follow the company Slack workspace\n\n\
         USAGE:\n    slack-im [COMMAND]\n\n\
         COMMANDS:\n    sync       read Slack and the target, write the difference (default)\n    \
         sync --plan F  apply only the actions of the plan saved in F (withheld ones included),\n               \
         after reading both again; actions whose inputs changed are dropped, new ones held back\n    \
         plan       read and print the plan; write nothing (dry run)\n    \
         plan --out F   also save the plan to F for review and `sync --plan F`\n    \
         check      prove a run will work: configuration, templates, the token's scopes and workspace,\n               \
         then read Slack and the target and plan; print the numbers and warnings; write nothing\n    \
         export F   read the members from Slack into the file F (for SLACK_IM_MEMBERS_FILE)\n    \
         --help     this text\n    --version  the version\n\n\
         ENVIRONMENT (all configuration):\n",
        env!("CARGO_PKG_VERSION")
    );
    for variable in VARIABLES {
        text.push_str(&format!("    {:<30} {}\n", variable.name, variable.help_line()));
    }
    text.push_str(
        "\nTEMPLATES: <SLACK_IM_TEMPLATES>/<SLACK_IM_SYSTEM>/ holds system.json, create.json and optional\n\
         update.json and deactivate.json (Jinja, JSON auto-escaped, undefined variables are errors).\n\
         system.json fields: url, headers (replace the built-in Accept/Content-Type), list (one listing\n\
         or an array; each: method, path with {page}, items, key (pointer or expression over account),\n\
         id, total, next (expression over response/page/count/path), with), create/update/deactivate\n\
         (method, path with {key} or {id}, wrap), managed, adopt, active, key. See README and docs/systems.md;\n\
         templates/scim and templates/redmine are presets for SCIM 2.0 and Redmine.\n\n\
         SKIPPED MEMBERS: Slackbot, bots, workflow bots, app users, deactivated, members of another\n\
         workspace (is_stranger), invitations not accepted, unconfirmed e-mails (unless\n\
         SLACK_IM_REQUIRE_CONFIRMED_EMAIL=false), guests, no e-mail, malformed member objects, and the\n\
         scope variables; `check`, `plan` and `sync` warn when nobody is eligible, when one reason skips\n\
         most of the people, or when a guard would withhold deactivations.\n\n\
         EXIT CODES:\n    0  done (or dry run finished)\n    1  failed before completing (Slack, target listing, network); nothing written\n    \
         2  bad configuration or template, or (check) a token without the scopes or workspace it needs\n    3  partial: some actions failed, the rest applied\n    \
         4  a guard withheld creates, deactivations or reactivations, everything else applied\n",
    );
    text
}

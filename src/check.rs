//! `slack-im check`: proves the configuration works without writing anything: the templates
//! render for a sample member with hostile characters and for a listed account, the Slack token
//! answers `auth.test`, and the target's listing reads.

use std::sync::Arc;

use crate::config::Config;
use crate::http::Budget;
use crate::report::Summary;
use crate::slack::{Member, SlackClient};
use crate::template::UserView;
use crate::{connect, slack_client, Error};

/// Runs every check for every system (the Slack token once); fills each summary's listing figures.
pub fn check(configs: &[Config], summaries: &mut [Summary]) -> Vec<Result<(), Error>> {
    let budget = Budget::new(configs[0].deadline, configs[0].retry_budget);
    let slack = slack_client(&configs[0], budget.clone()).and_then(|slack| check_slack(&slack));
    configs
        .iter()
        .zip(summaries.iter_mut())
        .map(|(config, summary)| match &slack {
            Ok(()) => check_system(config, &budget, summary),
            Err(e) => Err(e.clone()),
        })
        .collect()
}

/// The token works, and for which workspace.
fn check_slack(slack: &SlackClient) -> Result<(), Error> {
    let identity = slack.auth_test()?;
    log::info!(
        "Slack: token works for workspace {} ({})",
        identity.team.as_deref().unwrap_or("?"),
        identity.team_id.as_deref().unwrap_or("?")
    );
    Ok(())
}

/// One system: its templates render, its listing reads.
fn check_system(config: &Config, budget: &Arc<Budget>, summary: &mut Summary) -> Result<(), Error> {
    let system = connect(config, budget)?;
    let templates = &system.templates;
    let source = include_str!("check_member.json");
    let mut sample: Member = serde_json::from_str(source).expect("the built-in sample member is valid");
    if templates.uses_slack_object {
        sample.raw = serde_json::value::RawValue::from_string(source.to_string()).ok();
    }
    let user = Arc::new(UserView::from_member(&sample));
    let (key, _) = templates.render_create(&user)?;
    log::info!("templates in {}: create.json renders (sample key {key})", templates.folder().display());
    let tests = templates.account_tests()?;
    let mut managed = 0;
    let mut first = None;
    let accounts = system.target.for_each_account(|account| -> Result<(), Error> {
        managed += usize::from(tests.is_managed(&account.key, &account.value)?);
        first.get_or_insert(account);
        Ok(())
    })?;
    if let Some(first) = first {
        templates.render_update(&user, &first.value)?;
        templates.render_deactivate(&first.key, &first.value)?;
    }
    log::info!("target: listing works, {accounts} accounts, {managed} managed by slack-im");
    if templates.spec.managed.is_some() && managed == 0 && accounts > 0 {
        log::warn!("no listed account matches the \"managed\" expression of system.json: nothing will ever be deactivated");
    }
    summary.sources.target_accounts = accounts;
    summary.sources.managed_accounts = managed;
    Ok(())
}

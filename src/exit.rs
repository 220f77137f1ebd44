//! The exit codes of the contract, and the one rule for a run whose systems ended differently:
//! the vocabulary `main`, `error` and the reports share.

/// Done, or the dry run finished.
pub const OK: u8 = 0;
/// Failed before completing: Slack, the target listing, the network.
pub const FAILED: u8 = 1;
/// Bad configuration or template.
pub const CONFIG: u8 = 2;
/// Some actions failed; the rest were applied.
pub const PARTIAL: u8 = 3;
/// A guard withheld creates, deactivations or reactivations; everything else was applied.
pub const WITHHELD: u8 = 4;

/// The run's code when systems ended differently: the most severe one, in the order
/// 2 (misconfigured) > 1 (failed) > 3 (partial) > 4 (withheld) > 0, so a failed system never
/// hides behind another's success.
pub fn most_severe(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |code: u8| match code {
        CONFIG => 4,
        FAILED => 3,
        PARTIAL => 2,
        WITHHELD => 1,
        _ => 0,
    };
    codes.into_iter().max_by_key(|c| rank(*c)).unwrap_or(OK)
}

//! Reports: the terminal view, JSON for scripts. All formats read one
//! [`Report`] built from the analysis.

pub mod json;
pub mod sanitize;
pub mod text;

use crate::analysis::Analysis;
use crate::correlate::{AuthExchange, Outcome};
use crate::rules::{Finding, Severity};
use std::collections::BTreeMap;

/// One row of the per-account table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AccountRow {
    pub user: String,
    pub auth_user: String,
    pub realm: String,
    pub client: String,
    pub server: String,
    pub exchanges: usize,
    pub rounds: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub last_outcome: Outcome,
    /// The most severe finding's rule, if any.
    pub worst_rule: Option<&'static str>,
}

pub use crate::correlate::endpoint;

/// Groups exchanges by account: user, auth user, realm, client host,
/// server.
pub fn accounts(exchanges: &[AuthExchange], findings: &[Finding]) -> Vec<AccountRow> {
    let mut rows: BTreeMap<(String, String, String, String, String), AccountRow> = BTreeMap::new();
    for ex in exchanges {
        let user = ex.user().unwrap_or_else(|| "?".into());
        let auth_user = ex.auth_user().unwrap_or_else(|| "-".into());
        let realm = ex.realm().unwrap_or_else(|| "-".into());
        let client = ex
            .client
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "?".into());
        let server = endpoint(ex.server);
        let key = (
            user.clone(),
            auth_user.clone(),
            realm.clone(),
            client.clone(),
            server.clone(),
        );
        let row = rows.entry(key).or_insert_with(|| AccountRow {
            user,
            auth_user,
            realm,
            client,
            server,
            exchanges: 0,
            rounds: 0,
            succeeded: 0,
            failed: 0,
            last_outcome: ex.outcome,
            worst_rule: None,
        });
        row.exchanges += 1;
        row.rounds += ex.rounds.len();
        match ex.outcome {
            Outcome::Succeeded => row.succeeded += 1,
            Outcome::Failed | Outcome::Unanswered => row.failed += 1,
            Outcome::Incomplete => {}
        }
        row.last_outcome = ex.outcome;
        let worst = findings
            .iter()
            .filter(|f| f.exchange == Some(ex.id) && f.severity >= Severity::Warning)
            .max_by_key(|f| f.severity);
        if let Some(f) = worst {
            row.worst_rule = Some(f.rule);
        }
    }
    rows.into_values().collect()
}

/// Counts by outcome, rule and severity.
pub struct Summary {
    pub by_outcome: BTreeMap<&'static str, usize>,
    pub by_rule: BTreeMap<&'static str, usize>,
    pub by_severity: BTreeMap<&'static str, usize>,
}

pub fn summary(a: &Analysis) -> Summary {
    let mut by_outcome = BTreeMap::new();
    for ex in &a.exchanges {
        *by_outcome.entry(ex.outcome.as_str()).or_insert(0) += 1;
    }
    let mut by_rule = BTreeMap::new();
    let mut by_severity = BTreeMap::new();
    for f in &a.findings {
        *by_rule.entry(f.rule).or_insert(0) += 1;
        *by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
    }
    Summary {
        by_outcome,
        by_rule,
        by_severity,
    }
}

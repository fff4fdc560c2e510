//! Who the request is for versus who authenticates.

use super::{answered, q, Evidence, Finding, RuleConfig, Severity};
use crate::correlate::AuthExchange;

/// The device field names for the two identities (DOMAIN.md §4).
pub const DEVICE_FIELDS: &[(&str, &str, &str)] = &[
    ("Yealink", "User Name", "Register Name"),
    ("Grandstream", "SIP User ID", "Authentication ID"),
    ("Snom", "Account", "Authentication Username"),
    ("MicroSIP", "Username", "Login"),
    ("Asterisk (chan_sip)", "defaultuser / peer name", "username"),
    ("Asterisk (PJSIP)", "endpoint / aor", "auth username"),
    ("FreeSWITCH", "user id", "auth-username (number-alias)"),
];

pub fn field_table() -> String {
    DEVICE_FIELDS
        .iter()
        .map(|(d, u, a)| format!("{d}: {u} = extension, {a} = digest username"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The From user (extension) differs from the digest username.
pub fn auth_user_split(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    let Some(user) = ex.user_ref() else { return };
    // The last credentials sent on this hop speak for the exchange.
    let Some((r, sc)) = ex
        .rounds
        .iter()
        .rev()
        .find_map(|r| answered(r).next().map(|(sc, _)| (r, sc)))
    else {
        return;
    };
    let Some(digest_user) = sc.credentials.username.as_deref() else {
        return;
    };
    let digest_part = sc.credentials.user_part().unwrap_or(digest_user);
    if digest_part == user {
        return;
    }
    let failed = ex.auth_failed();
    let severity = if failed {
        Severity::Warning
    } else {
        Severity::Info
    };
    let message = if failed {
        format!(
            "the extension {} authenticates as {} and authentication failed: the two fields may be swapped or wrong on the device",
            q(&user),
            q(digest_user)
        )
    } else {
        format!(
            "the extension {} authenticates with a different digest username {}",
            q(&user),
            q(digest_user)
        )
    };
    let fix = if failed {
        format!(
            "Check which of the two the server expects as the authentication name and set the device fields accordingly ({}).",
            field_table()
        )
    } else {
        "Normal on many PBXs; nothing to change while authentication succeeds.".to_string()
    };
    out.push(Finding {
        rule: "auth-user-split",
        severity,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames: vec![r.request.frame],
        message,
        evidence: Evidence::new()
            .add("From user", user.as_ref())
            .add("To user", ex.to_user_ref().unwrap_or_default())
            .add("digest username", digest_user),
        fix: fix.into(),
    });
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::*;
    use crate::rules::Severity;

    #[test]
    fn split_is_info_on_success_and_warning_on_failure() {
        let ok = one_retry(WWW_QOP, &auth_qop("mario_rossi"), 200, "OK");
        let f = crate::rules::evaluate(&ok, &Default::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "auth-user-split");
        assert_eq!(f[0].severity, Severity::Info);

        let bad = one_retry(WWW_QOP, &auth_qop("mario_rossi"), 403, "Forbidden");
        let f = crate::rules::evaluate(&bad, &Default::default());
        let split = f.iter().find(|f| f.rule == "auth-user-split").unwrap();
        assert_eq!(split.severity, Severity::Warning);
        assert!(split.fix.contains("Register Name"));
    }

    #[test]
    fn user_at_domain_is_not_a_split() {
        let exs = one_retry(WWW_QOP, &auth_qop("alice@lab.example"), 200, "OK");
        assert!(rules_fired(&exs).is_empty());
        let exs = one_retry(WWW_QOP, &auth_qop("alice@"), 200, "OK");
        assert!(rules_fired(&exs).is_empty());
    }
}

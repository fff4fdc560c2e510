//! Known passwords, for checking captured digest responses.
//!
//! The file (`--credentials FILE`, or the file named by the
//! `SIPAUTH_CREDENTIALS` environment variable) has one account a line:
//!
//! ```text
//! # comment
//! user:password              any realm
//! user@realm:password        only that realm
//! alice@example.com@sip.example.com:password
//! ```
//!
//! The account part ends at the first `:`; everything after it, to the end
//! of the line (a trailing CR removed), is the password, so passwords may
//! contain `:`, `@`, `#` and spaces. In the account part the realm follows
//! the *last* `@`: usernames may contain `@` (`alice@example.com`), realms
//! may not; `user@:password` or `user@*:password` mean any realm (for a
//! username with `@` and any realm). Lines whose first non-blank character
//! is `#` are comments.
//!
//! Passwords live in [`Password`], whose `Debug` is redacted and whose bytes
//! are overwritten when dropped; errors name line numbers, never content.

use crate::sip::digest_math::{ha1_base, Algorithm};
use rustc_hash::FxHashMap;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

/// The environment variable that may name the credentials file.
pub const ENV_VAR: &str = "SIPAUTH_CREDENTIALS";

/// Larger files are refused: a credentials file is typed by a person.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Cached HA1 values before the cache is emptied (bounded memory).
const MAX_CACHED: usize = 65_536;

/// A password. Never printed: `Debug` says `<redacted>`.
pub struct Password(Vec<u8>);

impl Password {
    pub fn new(bytes: Vec<u8>) -> Password {
        Password(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference; the
            // volatile write keeps the compiler from dropping the wipe.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// One line of the file.
#[derive(Debug)]
pub struct Account {
    pub user: String,
    /// `None`: any realm.
    pub realm: Option<String>,
    pub password: Password,
    /// Line number in the file, for messages.
    pub line: usize,
}

impl Account {
    /// `user@realm`, or `user` for any realm: for reports (no password).
    pub fn label(&self) -> String {
        match &self.realm {
            Some(r) => format!("{}@{}", self.user, r),
            None => self.user.clone(),
        }
    }
    pub fn realm_matches(&self, realm: &str) -> bool {
        self.realm
            .as_deref()
            .is_none_or(|r| r.eq_ignore_ascii_case(realm))
    }
    /// The user part: the username up to its first `@`.
    pub fn user_part(&self) -> &str {
        user_part(&self.user)
    }
}

/// A username up to its first `@` (the whole name when it has none).
pub fn user_part(name: &str) -> &str {
    name.split_once('@').map(|(u, _)| u).unwrap_or(name)
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the credentials file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the credentials file {path} is larger than {max} bytes")]
    TooLarge { path: String, max: u64 },
    #[error("credentials file line {line}: {what}")]
    Syntax { line: usize, what: &'static str },
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Ha1Key {
    account: usize,
    username: String,
    realm: String,
    algorithm: Algorithm,
}

/// The accounts of a credentials file, with a cache of HA1 values per
/// (account, username, realm, algorithm): HA1 depends on nothing else, and
/// a loop or an attack answers the same account many times.
pub struct CredentialStore {
    accounts: Vec<Account>,
    cache: Mutex<FxHashMap<Ha1Key, String>>,
    /// Account indexes (ascending) by username, by user part, and by
    /// realm (lower case); accounts for any realm in `any_realm`. Every
    /// credentials header looks its accounts up: a scan of a file of
    /// thousands of accounts per message was most of a run.
    by_user: FxHashMap<String, Vec<usize>>,
    by_user_part: FxHashMap<String, Vec<usize>>,
    by_realm: FxHashMap<String, Vec<usize>>,
    any_realm: Vec<usize>,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // HA1 values are password equivalents: only labels are shown.
        let labels: Vec<String> = self.accounts.iter().map(Account::label).collect();
        f.debug_struct("CredentialStore")
            .field("accounts", &labels)
            .finish_non_exhaustive()
    }
}

impl CredentialStore {
    /// Reads a credentials file. The second value holds warnings for
    /// standard error (e.g. a file readable by others).
    pub fn load(path: &Path) -> Result<(CredentialStore, Vec<String>), LoadError> {
        let shown = crate::report::sanitize::term(&path.display().to_string()).into_owned();
        let io = |source| LoadError::Io {
            path: shown.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(io(std::io::Error::other("it is a directory")));
        }
        let mut warnings = Vec::new();
        if let Some(w) = permission_warning(&meta, &shown) {
            warnings.push(w);
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            wipe(&mut bytes);
            return Err(LoadError::TooLarge {
                path: shown,
                max: MAX_FILE_BYTES,
            });
        }
        let parsed = CredentialStore::parse(&bytes);
        wipe(&mut bytes);
        Ok((parsed?, warnings))
    }

    /// Parses the file's content.
    pub fn parse(text: &[u8]) -> Result<CredentialStore, LoadError> {
        let mut accounts = Vec::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let lead = raw
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(raw.len());
            let body = &raw[lead..];
            if body.is_empty() || body[0] == b'#' {
                continue;
            }
            let Some(colon) = body.iter().position(|&b| b == b':') else {
                return Err(LoadError::Syntax {
                    line,
                    what: "no ':' between the account and the password",
                });
            };
            let Ok(account) = std::str::from_utf8(&body[..colon]) else {
                return Err(LoadError::Syntax {
                    line,
                    what: "the account part is not UTF-8",
                });
            };
            let (user, realm) = match account.rsplit_once('@') {
                Some((u, r)) if r.is_empty() || r == "*" => (u, None),
                Some((u, r)) => (u, Some(r.to_string())),
                None => (account, None),
            };
            if user.is_empty() {
                return Err(LoadError::Syntax {
                    line,
                    what: "empty user name",
                });
            }
            if user
                .chars()
                .chain(realm.iter().flat_map(|r| r.chars()))
                .any(char::is_control)
            {
                return Err(LoadError::Syntax {
                    line,
                    what: "control characters in the account part",
                });
            }
            accounts.push(Account {
                user: user.to_string(),
                realm,
                password: Password::new(body[colon + 1..].to_vec()),
                line,
            });
        }
        Ok(CredentialStore::new(accounts))
    }

    pub fn new(accounts: Vec<Account>) -> CredentialStore {
        let mut by_user: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        let mut by_user_part: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        let mut by_realm: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        let mut any_realm = Vec::new();
        for (i, a) in accounts.iter().enumerate() {
            by_user.entry(a.user.clone()).or_default().push(i);
            by_user_part
                .entry(a.user_part().to_string())
                .or_default()
                .push(i);
            match &a.realm {
                Some(r) => by_realm.entry(r.to_ascii_lowercase()).or_default().push(i),
                None => any_realm.push(i),
            }
        }
        CredentialStore {
            accounts,
            cache: Mutex::new(FxHashMap::default()),
            by_user,
            by_user_part,
            by_realm,
            any_realm,
        }
    }

    /// Indexes of the accounts whose username is `user`, ascending.
    pub fn named(&self, user: &str) -> &[usize] {
        self.by_user.get(user).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Indexes of the accounts whose user part is `part`, ascending.
    pub fn with_user_part(&self, part: &str) -> &[usize] {
        self.by_user_part
            .get(part)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Indexes of the first `limit` accounts that match any of `realms`
    /// (theirs, or any realm), ascending: a merge of the sorted lists.
    pub fn in_realms(&self, realms: &[&str], limit: usize) -> Vec<usize> {
        let mut lists: Vec<&[usize]> = vec![&self.any_realm];
        for r in realms {
            if let Some(ids) = self.by_realm.get(&r.to_ascii_lowercase()) {
                lists.push(ids);
            }
        }
        let mut out: Vec<usize> = Vec::new();
        while out.len() < limit {
            let Some(next) = lists.iter().filter_map(|l| l.first()).min().copied() else {
                break;
            };
            for l in lists.iter_mut() {
                if l.first() == Some(&next) {
                    *l = &l[1..];
                }
            }
            out.push(next);
        }
        out
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// `H(username ":" realm ":" password)` of account `index` (the base
    /// HA1, before `-sess`), cached.
    pub fn ha1_base(
        &self,
        index: usize,
        username: &str,
        realm: &str,
        algorithm: Algorithm,
    ) -> String {
        let algorithm = algorithm.base();
        let key = Ha1Key {
            account: index,
            username: username.to_string(),
            realm: realm.to_string(),
            algorithm,
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(&key) {
            return v.clone();
        }
        let Some(account) = self.accounts.get(index) else {
            return String::new();
        };
        let v = ha1_base(algorithm.hash(), username, realm, account.password.expose());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, v.clone());
        v
    }

    /// Number of HA1 values computed and cached (for tests).
    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }
}

fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: valid exclusive reference; volatile so the wipe stays.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

#[cfg(unix)]
fn permission_warning(meta: &std::fs::Metadata, shown: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then(|| {
        format!(
            "the credentials file {shown} can be read by other users (mode {mode:03o}); restrict it with: chmod 600 {shown}"
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_: &std::fs::Metadata, _: &str) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_users_realms_and_passwords_with_separators() {
        let s = CredentialStore::parse(
            b"# lab accounts\n\n  # indented comment\nalice@lab.example:Wonder1and\r\n1001@lab.example:Zq8#vv!long:and@x \nbob:any realm pw\nalice@example.com@sip.example.com:p\ncarol@example.com@*:q\n",
        )
        .unwrap();
        let a = s.accounts();
        assert_eq!(a.len(), 5);
        assert_eq!(
            (a[0].user.as_str(), a[0].realm.as_deref()),
            ("alice", Some("lab.example"))
        );
        assert_eq!(a[0].password.expose(), b"Wonder1and");
        assert_eq!(a[1].password.expose(), b"Zq8#vv!long:and@x ");
        assert_eq!(a[1].line, 5);
        assert_eq!((a[2].user.as_str(), a[2].realm.as_deref()), ("bob", None));
        assert!(a[2].realm_matches("anything"));
        assert_eq!(a[3].user, "alice@example.com");
        assert_eq!(a[3].realm.as_deref(), Some("sip.example.com"));
        assert_eq!(a[3].user_part(), "alice");
        assert_eq!(
            (a[4].user.as_str(), a[4].realm.as_deref()),
            ("carol@example.com", None)
        );
        assert!(a[0].realm_matches("LAB.example"));
        assert!(!a[0].realm_matches("other"));
    }

    #[test]
    fn accounts_are_found_by_name_user_part_and_realm() {
        let s = CredentialStore::parse(
            b"alice@pbx.example:a\n1001@pbx.example:b\nalice@other.example:c\nalice@x.example@PBX.example:d\nany:e\n",
        )
        .unwrap();
        assert_eq!(s.named("alice"), &[0, 2]);
        assert_eq!(s.named("bob"), &[] as &[usize]);
        // "alice@x.example" (user part "alice") in realm PBX.example.
        assert_eq!(s.named("alice@x.example"), &[3]);
        assert_eq!(s.with_user_part("alice"), &[0, 2, 3]);
        // Realms compare without case; accounts for any realm always match.
        assert_eq!(s.in_realms(&["pbx.EXAMPLE"], 10), vec![0, 1, 3, 4]);
        assert_eq!(
            s.in_realms(&["other.example", "pbx.example", "PBX.example"], 10),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(
            s.in_realms(&["other.example", "pbx.example"], 3),
            vec![0, 1, 2]
        );
        assert_eq!(s.in_realms(&["nowhere"], 10), vec![4]);
    }

    #[test]
    fn errors_name_the_line_not_the_content() {
        let e = CredentialStore::parse(b"alice:ok\nSecretWithoutColon\n")
            .err()
            .unwrap();
        let msg = e.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(!msg.contains("SecretWithoutColon"), "{msg}");
        assert!(CredentialStore::parse(b":pw\n").is_err());
    }

    #[test]
    fn debug_never_shows_a_password() {
        let s = CredentialStore::parse(b"alice@lab.example:Wonder1and\n").unwrap();
        let _ = s.ha1_base(0, "alice", "lab.example", Algorithm::Md5);
        let d = format!("{s:?} {:?}", s.accounts()[0]);
        assert!(!d.contains("Wonder1and"), "{d}");
        // The cached HA1 (a password equivalent) is not shown either.
        let ha1 = s.ha1_base(0, "alice", "lab.example", Algorithm::Md5);
        assert!(!d.contains(&ha1), "{d}");
        assert!(d.contains("alice@lab.example"));
        assert!(d.contains("<redacted>"));
    }

    #[test]
    fn ha1_is_cached_per_user_realm_algorithm() {
        let s = CredentialStore::parse(b"alice@lab.example:Wonder1and\n").unwrap();
        let a = s.ha1_base(0, "alice", "lab.example", Algorithm::Md5);
        let b = s.ha1_base(0, "alice", "lab.example", Algorithm::Md5Sess);
        assert_eq!(a, b);
        assert_eq!(s.cached(), 1);
        s.ha1_base(0, "alice@", "lab.example", Algorithm::Md5);
        s.ha1_base(0, "alice", "lab.example", Algorithm::Sha256);
        assert_eq!(s.cached(), 3);
        // H("alice:lab.example:Wonder1and"), python hashlib.md5
        assert_eq!(a.len(), 32);
        assert_eq!(s.ha1_base(7, "x", "y", Algorithm::Md5), "");
    }

    #[cfg(unix)]
    #[test]
    fn load_warns_when_others_can_read() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"alice:pw\n").unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let (s, w) = CredentialStore::load(f.path()).unwrap();
        assert_eq!(s.accounts().len(), 1);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("chmod 600"));
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        let (_, w) = CredentialStore::load(f.path()).unwrap();
        assert!(w.is_empty());
        assert!(matches!(
            CredentialStore::load(Path::new("/nonexistent/creds")),
            Err(LoadError::Io { .. })
        ));
    }
}

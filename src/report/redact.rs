//! Redaction, applied once to the report model before any format sees it.
//!
//! [`Level::Secrets`] masks digest nonces, cnonces, responses and opaque
//! values wherever they appear (structured fields, evidence, messages):
//! each distinct value gets a stable label such as `[nonce-2]`, so a reader
//! can still see that an answer reused the challenge's nonce.
//! [`Level::All`] also replaces user names with `user-N` and IP addresses
//! with documentation-style pseudonyms (`10.255.0.N`, `2001:db8::N`): the
//! same value always gets the same pseudonym within one report.

use crate::analysis::Analysis;
use crate::correlate::AuthExchange;
use crate::rules::Finding;
use crate::sip::message::UriParts;
use crate::sip::{Challenge, Credentials};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    None,
    /// Nonce, cnonce, response and opaque values.
    Secrets,
    /// Secrets, user names and IP addresses.
    All,
}

/// How a string is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    /// A digest secret parameter of this kind.
    Secret(&'static str),
    /// A user name field (From user, digest username).
    User,
    /// Free text a vendor wrote (User-Agent, Server): IP addresses in it are
    /// replaced only when already known, so version numbers stay.
    Agent,
    /// Anything else derived from the capture.
    Text,
}

/// Visits every capture-derived string of the analysis.
fn walk(a: &mut Analysis, v: &mut dyn FnMut(&mut String, Field)) {
    for i in &mut a.inputs {
        // File names can carry a customer's name or an address.
        v(&mut i.name, Field::Text);
        for w in &mut i.warnings {
            v(w, Field::Text);
        }
    }
    for ex in &mut a.exchanges {
        walk_exchange(ex, v);
    }
    for f in &mut a.findings {
        walk_finding(f, v);
    }
}

fn opt(s: &mut Option<String>, field: Field, v: &mut dyn FnMut(&mut String, Field)) {
    if let Some(s) = s {
        v(s, field);
    }
}

/// [`opt`] for a digest parameter.
fn opt_text<T: std::ops::Deref<Target = str> + From<String>>(
    s: &mut Option<T>,
    field: Field,
    v: &mut dyn FnMut(&mut String, Field),
) {
    if let Some(t) = s {
        text_field(t, field, v);
    }
}

/// The visitor over a [`crate::sip::Text`] (or [`crate::sip::WideText`]) field.
fn text_field<T: std::ops::Deref<Target = str> + From<String>>(
    t: &mut T,
    field: Field,
    v: &mut dyn FnMut(&mut String, Field),
) {
    let mut owned = t.to_string();
    v(&mut owned, field);
    *t = T::from(owned);
}

fn walk_challenge(c: &mut Challenge, v: &mut dyn FnMut(&mut String, Field)) {
    opt_text(&mut c.nonce, Field::Secret("nonce"), v);
    opt_text(&mut c.opaque, Field::Secret("opaque"), v);
    opt_text(&mut c.realm, Field::Text, v);
    opt_text(&mut c.domain, Field::Text, v);
    for (name, val) in &mut c.other {
        v(val, other_field(name));
    }
    for p in &mut c.problems {
        v(&mut p.what, Field::Text);
    }
}

fn other_field(name: &str) -> Field {
    if name.eq_ignore_ascii_case("nextnonce") {
        Field::Secret("nonce")
    } else if name.eq_ignore_ascii_case("rspauth") {
        Field::Secret("response")
    } else {
        Field::Text
    }
}

fn walk_credentials(c: &mut Credentials, v: &mut dyn FnMut(&mut String, Field)) {
    opt_text(&mut c.nonce, Field::Secret("nonce"), v);
    opt_text(&mut c.cnonce, Field::Secret("cnonce"), v);
    opt_text(&mut c.response, Field::Secret("response"), v);
    opt_text(&mut c.opaque, Field::Secret("opaque"), v);
    opt_text(&mut c.username, Field::User, v);
    opt_text(&mut c.realm, Field::Text, v);
    opt_text(&mut c.uri, Field::Text, v);
    for (name, val) in &mut c.other {
        v(val, other_field(name));
    }
    for p in &mut c.problems {
        v(&mut p.what, Field::Text);
    }
}

fn walk_exchange(ex: &mut AuthExchange, v: &mut dyn FnMut(&mut String, Field)) {
    for c in &mut ex.call_ids {
        text_field(c, Field::Text, v);
    }
    text_field(&mut ex.from_uri, Field::Text, v);
    text_field(&mut ex.to_uri, Field::Text, v);
    opt(&mut ex.user_agent, Field::Agent, v);
    opt(&mut ex.server_agent, Field::Agent, v);
    opt(&mut ex.failure, Field::Text, v);
    for r in &mut ex.rounds {
        text_field(&mut r.request.request_uri, Field::Text, v);
        text_field(&mut r.request.call_id, Field::Text, v);
        for sc in &mut r.request.credentials {
            walk_credentials(&mut sc.credentials, v);
        }
        if let Some(resp) = &mut r.response {
            text_field(&mut resp.reason, Field::Text, v);
            opt(&mut resp.warning, Field::Text, v);
            for c in &mut resp.challenges {
                walk_challenge(&mut c.challenge, v);
            }
        }
        for ans in r.answers.iter_mut().flatten() {
            walk_challenge(&mut ans.challenge, v);
        }
    }
}

fn walk_finding(f: &mut Finding, v: &mut dyn FnMut(&mut String, Field)) {
    v(&mut f.message, Field::Text);
    for (k, val) in &mut f.evidence.0 {
        let key = k.to_ascii_lowercase();
        let field = if key.contains("agent") {
            Field::Agent
        } else {
            Field::Text
        };
        v(val, field);
    }
    let mut fix = f.fix.to_string();
    v(&mut fix, Field::Text);
    f.fix = fix.into();
}

/// Labels for secret values, numbered per kind in the order met.
#[derive(Default)]
struct Secrets {
    labels: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
}

impl Secrets {
    fn label(&mut self, value: &str, kind: &'static str) -> String {
        if let Some(l) = self.labels.get(value) {
            return l.clone();
        }
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        let l = format!("[{kind}-{n}]");
        self.labels.insert(value.to_string(), l.clone());
        l
    }
}

/// Values shorter than this are masked only where they are the whole
/// field: inside free text they would match unrelated words.
const MIN_TEXT_MATCH: usize = 4;

/// Values to mask and their labels, searched all at once: one pass of an
/// Aho-Corasick automaton per string, whatever the number of values (a
/// pass per value over every string was quadratic on large captures).
struct Replacer {
    search: Option<aho_corasick::AhoCorasick>,
    labels: Vec<String>,
}

impl Replacer {
    /// Keys of at least `min_len` bytes; where matches overlap, the
    /// leftmost, then the longest, wins.
    fn new(map: &HashMap<String, String>, min_len: usize) -> Replacer {
        let mut pairs: Vec<(&String, &String)> =
            map.iter().filter(|(k, _)| k.len() >= min_len).collect();
        pairs.sort();
        let keys: Vec<String> = pairs.iter().map(|(k, _)| (*k).clone()).collect();
        let labels: Vec<String> = pairs.iter().map(|(_, v)| (*v).clone()).collect();
        let search = if keys.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&keys)
                .ok()
        };
        Replacer { search, labels }
    }

    /// Replaces every key in `s`; with `word`, only where the match is not
    /// part of a longer word.
    fn replace_all(&self, s: &mut String, word: bool) {
        let Some(search) = &self.search else {
            return;
        };
        let mut out: Option<String> = None;
        let mut done = 0;
        for m in search.find_iter(s.as_str()) {
            let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if word
                && (is_word(s[..m.start()].chars().next_back())
                    || is_word(s[m.end()..].chars().next()))
            {
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
            o.push_str(&s[done..m.start()]);
            o.push_str(&self.labels[m.pattern().as_usize()]);
            done = m.end();
        }
        if let Some(mut o) = out {
            o.push_str(&s[done..]);
            *s = o;
        }
    }
}

/// Stable IP pseudonyms.
#[derive(Default)]
struct Ips {
    map: HashMap<IpAddr, IpAddr>,
    v4: u32,
    v6: u16,
}

impl Ips {
    fn pseudonym(&mut self, ip: IpAddr) -> IpAddr {
        if let Some(p) = self.map.get(&ip) {
            return *p;
        }
        let p = match ip {
            IpAddr::V4(_) => {
                self.v4 += 1;
                let n = self.v4.min(0xffff);
                IpAddr::V4(Ipv4Addr::new(10, 255, (n >> 8) as u8, (n & 0xff) as u8))
            }
            IpAddr::V6(_) => {
                self.v6 = self.v6.saturating_add(1);
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, self.v6))
            }
        };
        self.map.insert(ip, p);
        p
    }

    fn sock(&mut self, a: &mut Option<SocketAddr>) {
        if let Some(a) = a {
            a.set_ip(self.pseudonym(a.ip()));
        }
    }

    /// Replaces IP addresses in free text; with `known_only`, only those
    /// already given a pseudonym.
    fn text(&mut self, s: &mut String, known_only: bool) {
        let is_run = |c: char| c.is_ascii_hexdigit() || c == '.' || c == ':';
        if !s.bytes().any(|b| b == b'.' || b == b':') {
            return;
        }
        let mut out = String::with_capacity(s.len());
        let mut rest: &str = s;
        let mut prev: Option<char> = None;
        while let Some(start) = rest.find(is_run) {
            if rest[start..].starts_with(':') && !rest[start..].starts_with("::") {
                // "sip:10.0.0.1": the colon separates, it does not start
                // an IPv6 address.
                out.push_str(&rest[..=start]);
                prev = Some(':');
                rest = &rest[start + 1..];
                continue;
            }
            let before = rest[..start].chars().next_back().or(prev);
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let len = tail.find(|c: char| !is_run(c)).unwrap_or(tail.len());
            let run = &tail[..len];
            let glued = before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
            let next = tail[len..].chars().next();
            let glued = glued || next.is_some_and(|c| c.is_alphanumeric() || c == '_');
            out.push_str(&if glued {
                run.to_string()
            } else {
                self.run(run, known_only)
            });
            prev = run.chars().next_back();
            rest = &tail[len..];
        }
        out.push_str(rest);
        *s = out;
    }

    /// One run of hex digits, dots and colons: an address, an address
    /// with a port, or something else left alone.
    fn run(&mut self, run: &str, known_only: bool) -> String {
        let map = |ip: IpAddr, this: &mut Ips| -> Option<IpAddr> {
            if known_only && !this.map.contains_key(&ip) {
                None
            } else {
                Some(this.pseudonym(ip))
            }
        };
        let trimmed = run.trim_end_matches(['.', ':']);
        let trail = &run[trimmed.len()..];
        if let Ok(ip) = trimmed.parse::<IpAddr>() {
            if let Some(p) = map(ip, self) {
                return format!("{p}{trail}");
            }
        } else if let Some((host, port)) = trimmed.split_once(':') {
            if let Ok(ip) = host.parse::<Ipv4Addr>() {
                if let Some(p) = map(IpAddr::V4(ip), self) {
                    return format!("{p}:{port}{trail}");
                }
            }
        }
        run.to_string()
    }
}

/// One line for the report header saying what was masked.
pub fn notice(level: Level) -> &'static str {
    match level {
        Level::None => "",
        Level::Secrets => "Redacted: nonce, cnonce, response and opaque values are replaced by labels.",
        Level::All => "Redacted: nonce, cnonce, response and opaque values, user names (user-N) and IP addresses (10.255.x.y, 2001:db8::N) are replaced by stable pseudonyms.",
    }
}

/// Applies the redaction level to the whole analysis.
pub fn apply(a: &mut Analysis, level: Level) {
    if level == Level::None {
        return;
    }
    // 1. Secrets: label the structured fields, then mask the same values
    //    wherever else they appear.
    let mut secrets = Secrets::default();
    walk(a, &mut |s, field| {
        if let Field::Secret(kind) = field {
            if !s.is_empty() {
                *s = secrets.label(s, kind);
            }
        }
    });
    let table = Replacer::new(&secrets.labels, MIN_TEXT_MATCH);
    walk(a, &mut |s, field| {
        if !matches!(field, Field::Secret(_)) {
            table.replace_all(s, false);
        }
    });
    if level != Level::All {
        return;
    }
    // 2. User names: the user part of From/To URIs and digest usernames.
    let mut users: HashMap<String, String> = HashMap::new();
    let add_user = |u: &str, users: &mut HashMap<String, String>| {
        let u = u.split_once('@').map(|(a, _)| a).unwrap_or(u);
        if !u.is_empty() && !users.contains_key(u) {
            let n = users.len() + 1;
            users.insert(u.to_string(), format!("user-{n}"));
        }
    };
    for ex in &a.exchanges {
        for uri in [&ex.from_uri, &ex.to_uri] {
            if let Some(u) = UriParts::parse(uri.as_bytes()).user {
                add_user(&String::from_utf8_lossy(u), &mut users);
            }
        }
        for (_, c) in ex.all_credentials() {
            if let Some(u) = &c.credentials.username {
                add_user(u, &mut users);
            }
        }
    }
    let table = Replacer::new(&users, 1);
    walk(a, &mut |s, field| {
        if !matches!(field, Field::Secret(_)) {
            table.replace_all(s, true);
        }
    });
    // 3. IP addresses: packet addresses first (the numbering follows the
    //    exchanges), then any address written in the text.
    let mut ips = Ips::default();
    for ex in &mut a.exchanges {
        ips.sock(&mut ex.client);
        ips.sock(&mut ex.server);
    }
    walk(a, &mut |s, field| match field {
        Field::Secret(_) => {}
        Field::Agent => ips.text(s, true),
        Field::User | Field::Text => ips.text(s, false),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_whole_words_when_asked() {
        let map: HashMap<String, String> = [("300".to_string(), "user-1".to_string())].into();
        let t = Replacer::new(&map, 1);
        let mut s = "user 300 at sip:300@x, frame 1300".to_string();
        t.replace_all(&mut s, true);
        assert_eq!(s, "user user-1 at sip:user-1@x, frame 1300");
        let mut s = "frame 1300".to_string();
        t.replace_all(&mut s, false);
        assert_eq!(s, "frame 1user-1", "inside words when not asked");
    }

    #[test]
    fn labels_are_never_masked_again() {
        // A user named "1" must not turn alice's label "user-1" into
        // "user-user-2" (one pass over the text, not one per value).
        let map: HashMap<String, String> = [
            ("alice".to_string(), "user-1".to_string()),
            ("1".to_string(), "user-2".to_string()),
        ]
        .into();
        let t = Replacer::new(&map, 1);
        let mut s = "alice and 1".to_string();
        t.replace_all(&mut s, true);
        assert_eq!(s, "user-1 and user-2");
    }

    #[test]
    fn the_longest_of_overlapping_values_is_masked() {
        let map: HashMap<String, String> = [
            ("abcd".to_string(), "[nonce-1]".to_string()),
            ("abcdef01".to_string(), "[nonce-2]".to_string()),
            ("short".to_string(), "[cnonce-1]".to_string()),
        ]
        .into();
        let t = Replacer::new(&map, 5);
        let mut s = "nonce abcdef01, and abcd alone, short".to_string();
        t.replace_all(&mut s, false);
        assert_eq!(
            s, "nonce [nonce-2], and abcd alone, [cnonce-1]",
            "abcd is below the minimum length"
        );
        let t = Replacer::new(&map, 4);
        let mut s = "nonce abcdef01, and abcd alone".to_string();
        t.replace_all(&mut s, false);
        assert_eq!(s, "nonce [nonce-2], and [nonce-1] alone");
        let empty = Replacer::new(&HashMap::new(), 1);
        let mut s = "untouched".to_string();
        empty.replace_all(&mut s, true);
        assert_eq!(s, "untouched");
    }

    #[test]
    fn ip_pseudonyms_are_stable_and_keep_ports() {
        let mut ips = Ips::default();
        let mut s =
            "from sip:192.168.1.2:5060 to [2001:db8:1::7]:5061, again 192.168.1.2; v 2.0.51.16"
                .to_string();
        let mut agent = "Phone 2.0.51.16 at 192.168.1.2".to_string();
        ips.text(&mut agent, true);
        assert_eq!(agent, "Phone 2.0.51.16 at 192.168.1.2", "nothing known yet");
        ips.text(&mut s, false);
        assert_eq!(
            s,
            "from sip:10.255.0.1:5060 to [2001:db8::1]:5061, again 10.255.0.1; v 10.255.0.2"
        );
        let mut agent = "Phone at 192.168.1.2.".to_string();
        ips.text(&mut agent, true);
        assert_eq!(agent, "Phone at 10.255.0.1.");
        let mut clock = "at 01:33:37, nonce deadbeef:1".to_string();
        ips.text(&mut clock, false);
        assert_eq!(clock, "at 01:33:37, nonce deadbeef:1");
    }

    #[test]
    fn secret_labels_are_stable_per_value() {
        let mut s = Secrets::default();
        assert_eq!(s.label("abc", "nonce"), "[nonce-1]");
        assert_eq!(s.label("def", "nonce"), "[nonce-2]");
        assert_eq!(s.label("abc", "nonce"), "[nonce-1]");
        assert_eq!(s.label("0a0a", "cnonce"), "[cnonce-1]");
    }
}

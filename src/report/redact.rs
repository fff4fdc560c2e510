//! Redaction, applied to the report model before any format sees it.
//!
//! [`Level::Secrets`] masks digest nonces, cnonces, responses and opaque
//! values wherever they appear (structured fields, evidence, messages):
//! each distinct value gets a stable label such as `[nonce-2]`, so a reader
//! can still see that an answer reused the challenge's nonce.
//! [`Level::All`] also replaces user names with `user-N` and IP addresses
//! with documentation-style pseudonyms (`10.255.0.N`, `2001:db8::N`): the
//! same value always gets the same pseudonym within one report.
//!
//! A [`Redactor`] works in two steps so that a report can be masked while
//! it streams: it first *learns* every value to mask, from the exchanges,
//! then the findings, then the inputs (which numbers the labels and
//! pseudonyms), and then *masks* each exchange, finding and input with the
//! whole tables. [`apply`] does both over an analysis in memory; a streamed
//! report of files reads the capture twice. Either way a value is masked
//! wherever it appears, also before the exchange that first shows it in a
//! structured field.

use crate::analysis::{Analysis, InputSummary};
use crate::correlate::AuthExchange;
use crate::rules::Finding;
use crate::sip::message::UriParts;
use crate::sip::{Challenge, Credentials, Shared};
use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
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

/// The kinds of secret, in label order: `[nonce-1]`, `[cnonce-1]`, ...
const KINDS: [&str; 4] = ["nonce", "cnonce", "response", "opaque"];
const NONCE: u8 = 0;
const CNONCE: u8 = 1;
const RESPONSE: u8 = 2;
const OPAQUE: u8 = 3;

/// How a string is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    /// A digest secret parameter of this kind (an index into [`KINDS`]).
    Secret(u8),
    /// A user name field (From user, digest username).
    User,
    /// Free text a vendor wrote (User-Agent, Server): IP addresses in it are
    /// replaced only when known from elsewhere, so version numbers stay.
    Agent,
    /// Anything else derived from the capture.
    Text,
}

/// Sees each capture-derived string with how it is treated and returns
/// its replacement, if it changes. One walk serves learning (which never
/// changes anything) and masking.
type Visitor<'v> = dyn FnMut(&str, Field) -> Option<String> + 'v;

fn visit<T: std::ops::Deref<Target = str> + From<String>>(
    t: &mut T,
    field: Field,
    v: &mut Visitor<'_>,
) {
    if let Some(new) = v(t, field) {
        *t = T::from(new);
    }
}

fn visit_opt<T: std::ops::Deref<Target = str> + From<String>>(
    t: &mut Option<T>,
    field: Field,
    v: &mut Visitor<'_>,
) {
    if let Some(t) = t {
        visit(t, field, v);
    }
}

fn other_field(name: &str) -> Field {
    if name.eq_ignore_ascii_case("nextnonce") {
        Field::Secret(NONCE)
    } else if name.eq_ignore_ascii_case("rspauth") {
        Field::Secret(RESPONSE)
    } else {
        Field::Text
    }
}

fn visit_other(other: &mut [(String, String)], v: &mut Visitor<'_>) {
    for (name, val) in other {
        let field = other_field(name);
        visit(val, field, v);
    }
}

/// A challenge is shared with the answers to it: it is copied (by
/// [`Shared`]'s `DerefMut`) only when something in it changes, so learning
/// copies nothing.
fn walk_challenge(c: &mut Shared<Challenge>, v: &mut Visitor<'_>) {
    let r: &Challenge = c;
    let nonce = r.nonce.as_deref().and_then(|s| v(s, Field::Secret(NONCE)));
    let opaque = r
        .opaque
        .as_deref()
        .and_then(|s| v(s, Field::Secret(OPAQUE)));
    let realm = r.realm.as_deref().and_then(|s| v(s, Field::Text));
    let domain = r.domain.as_deref().and_then(|s| v(s, Field::Text));
    let other: Vec<(usize, String)> = (r.other.iter().enumerate())
        .filter_map(|(i, (name, val))| v(val, other_field(name)).map(|s| (i, s)))
        .collect();
    let problems: Vec<(usize, String)> = (r.problems.iter().enumerate())
        .filter_map(|(i, p)| v(&p.what, Field::Text).map(|s| (i, s)))
        .collect();
    let changed = nonce.is_some()
        || opaque.is_some()
        || realm.is_some()
        || domain.is_some()
        || !other.is_empty()
        || !problems.is_empty();
    if !changed {
        return;
    }
    let m: &mut Challenge = c;
    fn set<T: From<String>>(slot: &mut Option<T>, new: Option<String>) {
        if let Some(s) = new {
            *slot = Some(s.into());
        }
    }
    set(&mut m.nonce, nonce);
    set(&mut m.opaque, opaque);
    set(&mut m.realm, realm);
    set(&mut m.domain, domain);
    for (i, s) in other {
        m.other[i].1 = s;
    }
    for (i, s) in problems {
        m.problems[i].what = s;
    }
}

fn walk_credentials(c: &mut Credentials, v: &mut Visitor<'_>) {
    visit_opt(&mut c.nonce, Field::Secret(NONCE), v);
    visit_opt(&mut c.cnonce, Field::Secret(CNONCE), v);
    visit_opt(&mut c.response, Field::Secret(RESPONSE), v);
    visit_opt(&mut c.opaque, Field::Secret(OPAQUE), v);
    visit_opt(&mut c.username, Field::User, v);
    visit_opt(&mut c.realm, Field::Text, v);
    visit_opt(&mut c.uri, Field::Text, v);
    visit_other(&mut c.other, v);
    for p in &mut c.problems {
        visit(&mut p.what, Field::Text, v);
    }
}

fn walk_exchange(ex: &mut AuthExchange, v: &mut Visitor<'_>) {
    for c in &mut ex.call_ids {
        visit(c, Field::Text, v);
    }
    visit(&mut ex.from_uri, Field::Text, v);
    visit(&mut ex.to_uri, Field::Text, v);
    visit_opt(&mut ex.user_agent, Field::Agent, v);
    visit_opt(&mut ex.server_agent, Field::Agent, v);
    visit_opt(&mut ex.failure, Field::Text, v);
    for r in &mut ex.rounds {
        visit(&mut r.request.request_uri, Field::Text, v);
        visit(&mut r.request.call_id, Field::Text, v);
        for sc in &mut r.request.credentials {
            walk_credentials(&mut sc.credentials, v);
        }
        if let Some(resp) = &mut r.response {
            visit(&mut resp.reason, Field::Text, v);
            visit_opt(&mut resp.warning, Field::Text, v);
            for c in &mut resp.challenges {
                walk_challenge(&mut c.challenge, v);
            }
        }
        for ans in r.answers.iter_mut().flatten() {
            walk_challenge(&mut ans.challenge, v);
        }
    }
}

fn walk_finding(f: &mut Finding, v: &mut Visitor<'_>) {
    visit(&mut f.message, Field::Text, v);
    for (k, val) in &mut f.evidence.0 {
        let field = if k.to_ascii_lowercase().contains("agent") {
            Field::Agent
        } else {
            Field::Text
        };
        visit(val, field, v);
    }
    // Constant advice is ours, not the capture's: only a fix written from
    // the capture's values is masked.
    if let Cow::Owned(fix) = &f.fix {
        if let Some(new) = v(fix, Field::Text) {
            f.fix = Cow::Owned(new);
        }
    }
}

fn walk_input(i: &mut InputSummary, v: &mut Visitor<'_>) {
    // File names can carry a customer's name or an address.
    visit(&mut i.name, Field::Text, v);
    for w in &mut i.warnings {
        visit(w, Field::Text, v);
    }
}

/// Values shorter than this are masked only where they are the whole
/// field: inside free text they would match unrelated words.
const MIN_TEXT_MATCH: usize = 4;

/// A secret value as its 64-bit hash, and its label (kind in the top two
/// bits, number in the rest).
#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    label: u32,
}

impl Entry {
    fn kind(self) -> u8 {
        (self.label >> 30) as u8
    }
    fn number(self) -> u32 {
        self.label & ((1 << 30) - 1)
    }
}

/// The hash a value is known by: the standard library's keyed hash
/// (SipHash-1-3) with its fixed keys, so that two different values of one
/// capture share a hash with a probability of about n^2 / 2^65 (10^-7 for
/// the 2.2 million values of a 2 GB capture).
fn value_hash(v: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(v);
    h.finish()
}

/// Every distinct secret value with its label, numbered per kind in the
/// order learned, found by hash. Only the hash is kept (16 bytes a value
/// in a table 44 to 88 % full): a capture has about one nonce, response
/// and cnonce per exchange, an automaton over all of them (the first
/// design) needed several times the analysis' own memory, and the values
/// themselves (the second) twice this.
#[derive(Default)]
struct SecretBook {
    table: hashbrown::HashTable<Entry>,
    counts: [u32; KINDS.len()],
    search: TextSearch,
}

/// Filters that let the search in free text skip almost every position
/// with one bit test: bits for the first [`MIN_TEXT_MATCH`] bytes of each
/// value, and for those bytes with the value's length; set as values are
/// learned.
#[derive(Default)]
struct TextSearch {
    prefixes: Bits,
    prefix_lengths: Bits,
    /// Distinct value lengths of at least [`MIN_TEXT_MATCH`], longest first.
    lengths: Vec<u32>,
}

/// 2^24 bits (2 MiB, its pages touched only where bits are set): about
/// one bit in eight set by the 2.2 million values of a 2 GB capture.
const FILTER_BITS: u32 = 24;

/// Allocated at the first bit set.
#[derive(Default)]
struct Bits {
    words: Vec<u64>,
}

impl Bits {
    fn slot(key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FILTER_BITS)) as usize
    }
    fn set(&mut self, key: u64) {
        if self.words.is_empty() {
            self.words = vec![0; (1 << FILTER_BITS) / 64];
        }
        let i = Bits::slot(key);
        self.words[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, key: u64) -> bool {
        let i = Bits::slot(key);
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

fn prefix_key(b: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn prefix_length_key(prefix: u64, len: usize) -> u64 {
    prefix ^ ((len as u64) << 32) ^ 0x5bd1_e995_0000_0000
}

/// A string whose search would cost more than this many hashed bytes per
/// byte of text (a capture built to have thousands of value lengths
/// sharing a prefix) is masked whole rather than searched.
const SEARCH_BUDGET_PER_BYTE: usize = 64;
const SEARCH_BUDGET_MIN: usize = 1 << 16;

/// What such a string becomes.
const MASKED_WHOLE: &str = "[redacted]";

impl SecretBook {
    fn find(&self, v: &[u8]) -> Option<Entry> {
        let h = value_hash(v);
        self.table.find(h, |e| e.hash == h).copied()
    }

    /// The entry of `v`, numbered as the next of `kind` when new.
    fn learn(&mut self, v: &str, kind: u8) -> Entry {
        if let Some(e) = self.find(v.as_bytes()) {
            return e;
        }
        let n = &mut self.counts[kind as usize];
        *n = (*n + 1).min((1 << 30) - 1);
        let e = Entry {
            hash: value_hash(v.as_bytes()),
            label: (u32::from(kind) << 30) | *n,
        };
        self.table.insert_unique(e.hash, e, |e| e.hash);
        self.search.add(v.as_bytes());
        e
    }

    /// `[nonce-12]`; written by hand, as it is made for every secret
    /// field of every exchange (`format!` was a tenth of the masking).
    fn label(e: Entry) -> String {
        let kind = KINDS[e.kind() as usize];
        let mut digits = [0u8; 10];
        let mut n = e.number();
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut l = String::with_capacity(kind.len() + 3 + digits.len() - at);
        l.push('[');
        l.push_str(kind);
        l.push('-');
        l.extend(digits[at..].iter().map(|&d| char::from(d)));
        l.push(']');
        l
    }

    /// `s` with every value of at least [`MIN_TEXT_MATCH`] bytes in it
    /// replaced by its label; where values overlap, the leftmost, then the
    /// longest, wins. `None` when nothing changes.
    fn mask_text(&self, s: &str) -> Option<String> {
        let search = &self.search;
        let b = s.as_bytes();
        if search.lengths.is_empty() || b.len() < MIN_TEXT_MATCH {
            return None;
        }
        let mut budget = b
            .len()
            .saturating_mul(SEARCH_BUDGET_PER_BYTE)
            .max(SEARCH_BUDGET_MIN);
        let mut out: Option<String> = None;
        let mut done = 0;
        let mut i = 0;
        while i + MIN_TEXT_MATCH <= b.len() {
            let prefix = prefix_key(&b[i..]);
            if !search.prefixes.has(prefix) {
                i += 1;
                continue;
            }
            let mut found = None;
            for &len in &search.lengths {
                let len = len as usize;
                if i + len > b.len() || !search.prefix_lengths.has(prefix_length_key(prefix, len)) {
                    continue;
                }
                let Some(spent) = budget.checked_sub(len) else {
                    return Some(MASKED_WHOLE.to_string());
                };
                budget = spent;
                if let Some(e) = self.find(&b[i..i + len]) {
                    found = Some((len, e));
                    break;
                }
            }
            match found {
                // A learned value is whole UTF-8, so a match starts and
                // ends on character boundaries; checked all the same.
                Some((len, e)) if s.is_char_boundary(i) && s.is_char_boundary(i + len) => {
                    let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
                    o.push_str(&s[done..i]);
                    o.push_str(&SecretBook::label(e));
                    i += len;
                    done = i;
                }
                _ => i += 1,
            }
        }
        out.map(|mut o| {
            o.push_str(&s[done..]);
            o
        })
    }
}

impl TextSearch {
    fn add(&mut self, v: &[u8]) {
        if v.len() < MIN_TEXT_MATCH {
            return;
        }
        let prefix = prefix_key(v);
        self.prefixes.set(prefix);
        self.prefix_lengths.set(prefix_length_key(prefix, v.len()));
        let len = v.len() as u32;
        if let Err(at) = self.lengths.binary_search_by(|l| len.cmp(l)) {
            self.lengths.insert(at, len);
        }
    }
}

/// Whole-word replacement of user names: one pass of an Aho-Corasick
/// automaton per string, whatever the number of names (a pass per name
/// over every string was quadratic on large captures).
struct Replacer {
    search: Option<aho_corasick::AhoCorasick>,
    labels: Vec<String>,
}

impl Replacer {
    /// Where matches overlap, the leftmost, then the longest, wins.
    fn new(pairs: Vec<(&str, String)>) -> Replacer {
        let search = if pairs.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(pairs.iter().map(|(k, _)| k))
                .ok()
        };
        Replacer {
            search,
            labels: pairs.into_iter().map(|(_, l)| l).collect(),
        }
    }

    /// `s` with every key replaced where the match is not part of a longer
    /// word; `None` when nothing changes.
    fn replace_words(&self, s: &str) -> Option<String> {
        let search = self.search.as_ref()?;
        let mut out: Option<String> = None;
        let mut done = 0;
        let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        for m in search.find_iter(s) {
            if is_word(s[..m.start()].chars().next_back()) || is_word(s[m.end()..].chars().next()) {
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
            o.push_str(&s[done..m.start()]);
            o.push_str(&self.labels[m.pattern().as_usize()]);
            done = m.end();
        }
        out.map(|mut o| {
            o.push_str(&s[done..]);
            o
        })
    }
}

/// Where an address was first learned: pseudonyms are numbered packet
/// addresses first, then those written in exchanges, in findings and in
/// the inputs' names and warnings, each in the order met.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Met {
    Packet,
    Exchange,
    Finding,
    Input,
}

/// Stable IP pseudonyms.
#[derive(Default)]
struct Ips {
    learned: HashMap<IpAddr, (Met, u32)>,
    /// Order of learning, across kinds of place.
    seq: u32,
    map: HashMap<IpAddr, IpAddr>,
    v4: u32,
    v6: u16,
}

impl Ips {
    fn learn(&mut self, ip: IpAddr, met: Met) {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let e = self.learned.entry(ip).or_insert((met, seq));
        if met < e.0 {
            *e = (met, seq);
        }
    }

    fn seal(&mut self) {
        let mut order: Vec<(Met, u32, IpAddr)> = self
            .learned
            .drain()
            .map(|(ip, (m, s))| (m, s, ip))
            .collect();
        order.sort_unstable();
        for (_, _, ip) in order {
            self.pseudonym(ip);
        }
        self.learned = HashMap::default();
    }

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

    /// Calls `each` with every IP address written in `s` (an address, or
    /// an IPv4 address with a port, that is not glued to a word) and
    /// replaces it by what `each` returns; `None` when nothing changes.
    fn scan(s: &str, each: &mut dyn FnMut(IpAddr) -> Option<IpAddr>) -> Option<String> {
        let b = s.as_bytes();
        let is_run = |c: u8| c.is_ascii_hexdigit() || c == b'.' || c == b':';
        // Neither dots nor colons: no address.
        memchr::memchr2(b'.', b':', b)?;
        let mut out: Option<String> = None;
        let mut done = 0;
        let mut i = 0;
        while i < b.len() {
            if !is_run(b[i]) || (b[i] == b':' && b.get(i + 1) != Some(&b':')) {
                // A single colon separates ("sip:10.0.0.1"), it does not
                // start an IPv6 address.
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && is_run(b[i]) {
                i += 1;
            }
            let run = &b[start..i];
            if memchr::memchr2(b'.', b':', run).is_none() {
                continue;
            }
            let word = |c: char| c.is_alphanumeric() || c == '_';
            let before = s[..start].chars().next_back();
            let glued = before.is_some_and(|c| word(c) || c == '-')
                || s[i..].chars().next().is_some_and(word);
            if glued {
                continue;
            }
            if let Some(new) = Ips::run(&s[start..i], each) {
                let o = out.get_or_insert_with(|| String::with_capacity(s.len() + 8));
                o.push_str(&s[done..start]);
                o.push_str(&new);
                done = i;
            }
        }
        out.map(|mut o| {
            o.push_str(&s[done..]);
            o
        })
    }

    /// One run of hex digits, dots and colons: an address, an address
    /// with a port, or something else left alone (`None`).
    fn run(run: &str, each: &mut dyn FnMut(IpAddr) -> Option<IpAddr>) -> Option<String> {
        let trimmed = run.trim_end_matches(['.', ':']);
        let trail = &run[trimmed.len()..];
        if let Ok(ip) = trimmed.parse::<IpAddr>() {
            return each(ip).map(|p| format!("{p}{trail}"));
        }
        let (host, port) = trimmed.split_once(':')?;
        let ip = host.parse::<Ipv4Addr>().ok()?;
        each(IpAddr::V4(ip)).map(|p| format!("{p}:{port}{trail}"))
    }

    /// Learns the addresses written in `s`.
    fn learn_text(&mut self, s: &str, met: Met) {
        Ips::scan(s, &mut |ip| {
            self.learn(ip, met);
            None
        });
    }

    /// Replaces the addresses written in `s`; with `known_only`, only
    /// those that already have a pseudonym.
    fn text(&mut self, s: &str, known_only: bool) -> Option<String> {
        Ips::scan(s, &mut |ip| {
            if known_only {
                self.map.get(&ip).copied()
            } else {
                Some(self.pseudonym(ip))
            }
        })
    }
}

/// Learns what to mask, then masks: see the module documentation.
pub struct Redactor {
    level: Level,
    secrets: SecretBook,
    /// User names and their numbers, in the order learned.
    users: HashMap<String, u32>,
    user_words: Option<Replacer>,
    ips: Ips,
}

impl Redactor {
    pub fn new(level: Level) -> Redactor {
        Redactor {
            level,
            secrets: SecretBook::default(),
            users: HashMap::default(),
            user_words: None,
            ips: Ips::default(),
        }
    }

    pub fn level(&self) -> Level {
        self.level
    }

    fn all(&self) -> bool {
        self.level == Level::All
    }

    fn learn_user(&mut self, u: &str) {
        let u = u.split_once('@').map(|(a, _)| a).unwrap_or(u);
        if !u.is_empty() && !self.users.contains_key(u) {
            let n = self.users.len() as u32 + 1;
            self.users.insert(u.to_string(), n);
        }
    }

    /// First step, for each exchange in the order they finish. Nothing in
    /// the exchange changes (`&mut` because one walk serves both steps).
    pub fn learn_exchange(&mut self, ex: &mut AuthExchange) {
        if self.level == Level::None {
            return;
        }
        if self.all() {
            for uri in [&ex.from_uri, &ex.to_uri] {
                if let Some(u) = UriParts::user_of(uri.as_bytes()) {
                    self.learn_user(&String::from_utf8_lossy(u));
                }
            }
            for (_, c) in ex.all_credentials() {
                if let Some(u) = &c.credentials.username {
                    self.learn_user(u);
                }
            }
            for a in [ex.client, ex.server].into_iter().flatten() {
                self.ips.learn(a.ip(), Met::Packet);
            }
        }
        let all = self.all();
        let (secrets, ips) = (&mut self.secrets, &mut self.ips);
        walk_exchange(ex, &mut |s, field| {
            match field {
                Field::Secret(kind) if !s.is_empty() => {
                    secrets.learn(s, kind);
                }
                Field::User | Field::Text if all => ips.learn_text(s, Met::Exchange),
                _ => {}
            }
            None
        });
    }

    /// First step, for findings: those of each exchange as it finishes,
    /// then those about the capture as a whole.
    pub fn learn_findings(&mut self, findings: &mut [Finding]) {
        if !self.all() {
            return;
        }
        let ips = &mut self.ips;
        for f in findings {
            walk_finding(f, &mut |s, field| {
                if field == Field::Text {
                    ips.learn_text(s, Met::Finding);
                }
                None
            });
        }
    }

    /// First step, last: the inputs' names and warnings.
    pub fn learn_inputs(&mut self, inputs: &mut [InputSummary]) {
        if !self.all() {
            return;
        }
        let ips = &mut self.ips;
        for i in inputs {
            walk_input(i, &mut |s, _| {
                ips.learn_text(s, Met::Input);
                None
            });
        }
    }

    /// Ends the first step: numbers the addresses and builds the searches.
    pub fn seal(&mut self) {
        if self.all() {
            let mut pairs: Vec<(&str, String)> = (self.users.iter())
                .map(|(u, n)| (u.as_str(), format!("user-{n}")))
                .collect();
            pairs.sort_unstable();
            self.user_words = Some(Replacer::new(pairs));
            self.ips.seal();
        }
    }

    /// The masked form of one string, `None` when it does not change.
    fn mask(&mut self, s: &str, field: Field) -> Option<String> {
        if let Field::Secret(kind) = field {
            if s.is_empty() {
                return None;
            }
            return Some(SecretBook::label(self.secrets.learn(s, kind)));
        }
        let texts = self.secrets.mask_text(s);
        if !self.all() {
            return texts;
        }
        let cur = texts.as_deref().unwrap_or(s);
        let words = self.user_words.as_ref().and_then(|r| r.replace_words(cur));
        let cur = words.as_deref().unwrap_or(cur);
        let ips = self.ips.text(cur, field == Field::Agent);
        ips.or(words).or(texts)
    }

    /// Second step: masks one exchange.
    pub fn exchange(&mut self, ex: &mut AuthExchange) {
        if self.level == Level::None {
            return;
        }
        if self.all() {
            self.ips.sock(&mut ex.client);
            self.ips.sock(&mut ex.server);
        }
        walk_exchange(ex, &mut |s, field| self.mask(s, field));
    }

    /// Second step: masks findings.
    pub fn findings(&mut self, findings: &mut [Finding]) {
        if self.level == Level::None {
            return;
        }
        for f in findings {
            walk_finding(f, &mut |s, field| self.mask(s, field));
        }
    }

    /// Second step: masks the inputs' names and warnings.
    pub fn inputs(&mut self, inputs: &mut [InputSummary]) {
        if self.level == Level::None {
            return;
        }
        for i in inputs {
            walk_input(i, &mut |s, field| self.mask(s, field));
        }
    }

    /// Distinct secret values, user names and addresses learned (for the
    /// memory notes and tests).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.secrets.table.len(),
            self.users.len(),
            self.ips.map.len(),
        )
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

/// Applies the redaction level to a whole analysis: both steps, in the
/// order a streamed report takes them.
pub fn apply(a: &mut Analysis, level: Level) {
    if level == Level::None {
        return;
    }
    let mut r = Redactor::new(level);
    for ex in &mut a.exchanges {
        r.learn_exchange(ex);
    }
    r.learn_findings(&mut a.findings);
    r.learn_inputs(&mut a.inputs);
    r.seal();
    for ex in &mut a.exchanges {
        r.exchange(ex);
    }
    r.findings(&mut a.findings);
    r.inputs(&mut a.inputs);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(pairs: &[(&'static str, &str)]) -> Replacer {
        let mut p: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        p.sort_unstable();
        Replacer::new(p)
    }

    #[test]
    fn replaces_only_whole_words() {
        let t = words(&[("300", "user-1")]);
        assert_eq!(
            t.replace_words("user 300 at sip:300@x, frame 1300")
                .as_deref(),
            Some("user user-1 at sip:user-1@x, frame 1300")
        );
        assert_eq!(t.replace_words("frame 1300"), None, "inside a word");
        assert_eq!(words(&[]).replace_words("untouched"), None);
    }

    #[test]
    fn labels_are_never_masked_again() {
        // A user named "1" must not turn alice's label "user-1" into
        // "user-user-2" (one pass over the text, not one per value).
        let t = words(&[("alice", "user-1"), ("1", "user-2")]);
        assert_eq!(
            t.replace_words("alice and 1").as_deref(),
            Some("user-1 and user-2")
        );
    }

    fn book(values: &[(&str, u8)]) -> SecretBook {
        let mut b = SecretBook::default();
        for (v, k) in values {
            b.learn(v, *k);
        }
        b
    }

    #[test]
    fn secrets_in_text_leftmost_then_longest() {
        let b = book(&[
            ("abcd", NONCE),
            ("abcdef01", NONCE),
            ("short", CNONCE),
            ("ab", NONCE),
        ]);
        assert_eq!(
            b.mask_text("nonce abcdef01, and abcd alone, short, ab")
                .as_deref(),
            Some("nonce [nonce-2], and [nonce-1] alone, [cnonce-1], ab"),
            "values under four bytes are left in text"
        );
        // Overlapping values: the one starting first wins, even when a
        // longer one starts inside it.
        let b = book(&[("xyzw", OPAQUE), ("zw0123456", RESPONSE)]);
        assert_eq!(
            b.mask_text("xyzw0123456").as_deref(),
            Some("[opaque-1]0123456")
        );
        assert_eq!(
            b.mask_text("__zw0123456__").as_deref(),
            Some("__[response-1]__")
        );
        assert_eq!(b.mask_text("nothing here"), None);
        assert_eq!(b.mask_text("xyz"), None, "shorter than any value");
    }

    #[test]
    fn secret_text_search_keeps_characters_whole() {
        let b = book(&[("é1234", NONCE), ("1234", CNONCE)]);
        assert_eq!(b.mask_text("aé1234é").as_deref(), Some("a[nonce-1]é"));
        assert_eq!(b.mask_text("ü1234").as_deref(), Some("ü[cnonce-1]"));
        assert_eq!(b.mask_text("ééé"), None);
    }

    #[test]
    fn secret_labels_are_stable_per_value_and_numbered_per_kind() {
        let mut b = SecretBook::default();
        let l = |b: &mut SecretBook, v, k| SecretBook::label(b.learn(v, k));
        assert_eq!(l(&mut b, "abc", NONCE), "[nonce-1]");
        assert_eq!(l(&mut b, "def", NONCE), "[nonce-2]");
        assert_eq!(l(&mut b, "abc", NONCE), "[nonce-1]");
        assert_eq!(l(&mut b, "0a0a", CNONCE), "[cnonce-1]");
        assert_eq!(
            l(&mut b, "abc", OPAQUE),
            "[nonce-1]",
            "the first kind met names a value"
        );
        for i in 3..=1234 {
            b.learn(&format!("v{i}"), NONCE);
        }
        assert_eq!(l(&mut b, "v1234", NONCE), "[nonce-1234]");
        assert_eq!(l(&mut b, "v40", NONCE), "[nonce-40]");
        assert_eq!(l(&mut b, "late value", RESPONSE), "[response-1]");
        assert_eq!(
            b.mask_text("a late value").as_deref(),
            Some("a [response-1]"),
            "searchable once learned"
        );
    }

    #[test]
    fn a_search_that_would_not_end_masks_the_whole_text() {
        // Thousands of lengths under one prefix: every position of a text
        // made of that prefix would hash them all.
        let values: Vec<String> = (4..3000)
            .map(|n| format!("aaaa{}", "b".repeat(n)))
            .collect();
        let mut b = SecretBook::default();
        for v in &values {
            b.learn(v, NONCE);
        }
        let text = "aaaa".repeat(4000);
        assert_eq!(b.mask_text(&text).as_deref(), Some(MASKED_WHOLE));
        assert_eq!(
            b.mask_text(&format!("x{}y", values[10])).as_deref(),
            Some("x[nonce-11]y"),
            "an ordinary text is still searched"
        );
    }

    #[test]
    fn ip_pseudonyms_are_stable_and_keep_ports() {
        let mut ips = Ips::default();
        let s = "from sip:192.168.1.2:5060 to [2001:db8:1::7]:5061, again 192.168.1.2; v 2.0.51.16";
        let agent = "Phone 2.0.51.16 at 192.168.1.2";
        assert_eq!(ips.text(agent, true), None, "nothing known yet");
        assert_eq!(
            ips.text(s, false).as_deref(),
            Some("from sip:10.255.0.1:5060 to [2001:db8::1]:5061, again 10.255.0.1; v 10.255.0.2")
        );
        assert_eq!(
            ips.text("Phone at 192.168.1.2.", true).as_deref(),
            Some("Phone at 10.255.0.1.")
        );
        assert_eq!(ips.text("at 01:33:37, nonce deadbeef:1", false), None);
    }

    #[test]
    fn packet_addresses_are_numbered_before_written_ones() {
        let mut ips = Ips::default();
        ips.learn_text("see 192.0.2.9 and 192.0.2.8", Met::Finding);
        ips.learn_text("input 198.51.100.1", Met::Input);
        ips.learn_text("written 192.0.2.7", Met::Exchange);
        ips.learn("192.0.2.8".parse().unwrap(), Met::Packet);
        ips.learn("192.0.2.7".parse().unwrap(), Met::Packet);
        ips.seal();
        let p = |ips: &mut Ips, a: &str| ips.pseudonym(a.parse().unwrap()).to_string();
        assert_eq!(p(&mut ips, "192.0.2.8"), "10.255.0.1");
        assert_eq!(p(&mut ips, "192.0.2.7"), "10.255.0.2");
        assert_eq!(p(&mut ips, "192.0.2.9"), "10.255.0.3");
        assert_eq!(p(&mut ips, "198.51.100.1"), "10.255.0.4");
        assert_eq!(
            p(&mut ips, "203.0.113.5"),
            "10.255.0.5",
            "met only while masking"
        );
    }
}

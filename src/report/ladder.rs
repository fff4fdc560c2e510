//! Ladders: the messages of one exchange as arrows between hosts, with the
//! digest parameters that matter beside each arrow and the parameter a
//! finding is about marked. One model ([`Ladder`]) feeds the ASCII ladder
//! of the text and Markdown reports and the SVG ladder of the HTML report.

use super::sanitize::term;
use crate::capture::Ts;
use crate::correlate::{endpoint, AuthExchange};
use crate::rules::{Finding, Severity};

/// Most arrows drawn per exchange; the rest are counted.
pub const MAX_STEPS: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Request,
    Provisional,
    Response,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: &'static str,
    pub value: String,
    /// A finding is about this parameter in this message.
    pub highlight: bool,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub from: usize,
    pub to: usize,
    pub frame: u64,
    /// `None` when the capture did not time it (provisional answers).
    pub ts: Option<Ts>,
    pub kind: StepKind,
    /// "REGISTER (CSeq 2)", "401 Unauthorized".
    pub label: String,
    /// The credentials or challenge header carried, if any.
    pub header: Option<&'static str>,
    pub params: Vec<Param>,
    pub retransmissions: u32,
}

#[derive(Clone, Debug)]
pub struct Ladder {
    pub exchange: usize,
    pub hosts: Vec<String>,
    pub steps: Vec<Step>,
    /// Messages not drawn because of [`MAX_STEPS`].
    pub omitted: usize,
}

/// Parameters a finding can be about, as named in rule IDs and evidence.
const PARAMS: &[&str] = &[
    "realm",
    "nonce",
    "qop",
    "algorithm",
    "username",
    "uri",
    "cnonce",
    "nc",
    "opaque",
];

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn param_word(w: &str) -> Option<&'static str> {
    let w = w.to_ascii_lowercase();
    if w == "user" {
        return Some("username");
    }
    PARAMS.iter().copied().find(|p| *p == w)
}

/// The parameters a finding is about: named in its rule ID, or compared in
/// its evidence with differing values ("challenge realm" vs "credentials
/// realm"). Read generically, so new rules are covered when they follow the
/// same naming.
pub fn finding_params(f: &Finding) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = words(f.rule).filter_map(param_word).collect();
    let mut seen: Vec<(&'static str, &str)> = Vec::new();
    for (k, v) in &f.evidence.0 {
        for p in words(k).filter_map(param_word) {
            let v = v.trim_matches(['"', '\'']);
            // "(absent)", "(none offered)": nothing to compare.
            if v.starts_with('(') && v.ends_with(')') {
                continue;
            }
            if seen.iter().any(|(q, w)| *q == p && *w != v) && !out.contains(&p) {
                out.push(p);
            }
            seen.push((p, v));
        }
    }
    out.dedup();
    out
}

/// Shortens a nonce-like value to its head and tail: nonces of one
/// server often share a timestamp prefix, so the tail tells them apart.
pub fn abbrev(s: &str) -> String {
    let n = s.chars().count();
    if n <= 14 {
        return s.to_string();
    }
    let head: String = s.chars().take(6).collect();
    let tail: String = s.chars().skip(n - 5).collect();
    format!("{head}..{tail}")
}

/// Shortens long opaque values (nonces) to keep arrows readable.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max.saturating_sub(2)).collect();
    format!("{head}..")
}

fn push(params: &mut Vec<Param>, name: &'static str, value: Option<impl Into<String>>) {
    if let Some(value) = value {
        params.push(Param {
            name,
            value: value.into(),
            highlight: false,
        });
    }
}

/// Builds the ladder of one exchange; `findings` are the report's findings
/// (those about other exchanges are ignored).
pub fn build(ex: &AuthExchange, findings: &[Finding]) -> Ladder {
    let mut l = unmarked(ex);
    mark(&mut l, findings);
    l
}

/// The ladder of one exchange with no parameter marked yet: [`mark`] marks
/// them. `mark(unmarked(ex), f)` is `build(ex, f)`, and marking twice is
/// marking once with both lists (a streamed report marks an exchange's own
/// findings as it finishes, and those of the capture-wide rules at the end).
pub fn unmarked(ex: &AuthExchange) -> Ladder {
    let client = match ex.client {
        Some(_) => endpoint(ex.client),
        None => "client".into(),
    };
    let server = match ex.server {
        Some(_) => endpoint(ex.server),
        None => "server".into(),
    };
    let hosts = vec![client, server];
    let mut steps = Vec::new();
    for r in &ex.rounds {
        let q = &r.request;
        let mut params = Vec::new();
        let mut header = None;
        if let Some(sc) = q.credentials.first() {
            let c = &sc.credentials;
            header = Some(sc.header.name());
            push(&mut params, "username", c.username.clone());
            push(&mut params, "realm", c.realm.clone());
            push(&mut params, "nonce", c.nonce.as_deref().map(abbrev));
            push(&mut params, "uri", c.uri.clone());
            push(&mut params, "qop", c.qop.clone());
            push(&mut params, "nc", c.nc.clone());
            push(&mut params, "cnonce", c.cnonce.as_deref().map(abbrev));
            push(&mut params, "algorithm", c.algorithm.clone());
        }
        steps.push(Step {
            from: 0,
            to: 1,
            frame: q.frame,
            ts: Some(q.ts),
            kind: StepKind::Request,
            label: format!("{} (CSeq {})", ex.method, q.cseq),
            header,
            params,
            retransmissions: q.retransmissions,
        });
        if let Some((frame, status)) = r.provisional {
            steps.push(Step {
                from: 1,
                to: 0,
                frame,
                ts: None,
                kind: StepKind::Provisional,
                label: status.to_string(),
                header: None,
                params: Vec::new(),
                retransmissions: 0,
            });
        }
        if let Some(resp) = &r.response {
            let mut params = Vec::new();
            let mut header = None;
            if let Some(ic) = resp.digest_challenges().next().or(resp.challenges.first()) {
                let c = &ic.challenge;
                header = Some(ic.header.name());
                push(&mut params, "realm", c.realm.clone());
                push(&mut params, "nonce", c.nonce.as_deref().map(abbrev));
                if !c.qop.is_empty() {
                    push(&mut params, "qop", Some(c.qop.to_string()));
                }
                push(&mut params, "algorithm", c.algorithm.clone());
                if c.stale {
                    push(&mut params, "stale", Some("true"));
                }
            }
            steps.push(Step {
                from: 1,
                to: 0,
                frame: resp.frame,
                ts: Some(resp.ts),
                kind: StepKind::Response,
                label: format!("{} {}", resp.status, resp.reason),
                header,
                params,
                retransmissions: resp.retransmissions,
            });
        }
    }
    let omitted = steps.len().saturating_sub(MAX_STEPS);
    steps.truncate(MAX_STEPS);
    Ladder {
        exchange: ex.id,
        hosts,
        steps,
        omitted,
    }
}

/// Marks the parameters the findings about the ladder's exchange (warning
/// or worse) are about, in the messages they name.
pub fn mark<'f>(l: &mut Ladder, findings: impl IntoIterator<Item = &'f Finding>) {
    let marks: Vec<(&[u64], Vec<&'static str>)> = findings
        .into_iter()
        .filter(|f| f.exchange == Some(l.exchange) && f.severity >= Severity::Warning)
        .map(|f| (f.frames.as_slice(), finding_params(f)))
        .collect();
    if marks.is_empty() {
        return;
    }
    for s in &mut l.steps {
        for (frames, ps) in &marks {
            if !frames.is_empty() && !frames.contains(&s.frame) {
                continue;
            }
            for p in ps {
                match s.params.iter_mut().find(|x| x.name == *p) {
                    Some(x) => x.highlight = true,
                    // A parameter the answer should have carried.
                    None if s.kind == StepKind::Request
                        && s.header.is_some()
                        && matches!(*p, "qop" | "nc" | "cnonce") =>
                    {
                        s.params.push(Param {
                            name: p,
                            value: "(absent)".into(),
                            highlight: true,
                        })
                    }
                    None => {}
                }
            }
        }
    }
}

/// The names a step's header and parameters can have, each encoded by its
/// place here ([`Ladder::encode`]).
fn names() -> impl Iterator<Item = &'static str> {
    use crate::sip::digest::AuthHeader;
    PARAMS.iter().copied().chain(["stale"]).chain(
        [
            AuthHeader::WwwAuthenticate,
            AuthHeader::ProxyAuthenticate,
            AuthHeader::Authorization,
            AuthHeader::ProxyAuthorization,
        ]
        .map(AuthHeader::name),
    )
}

fn name_code(name: &str) -> Option<u8> {
    names()
        .position(|n| n == name)
        .and_then(|i| u8::try_from(i).ok())
}

fn name_at(code: u8) -> Option<&'static str> {
    names().nth(usize::from(code))
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

/// Reads back what [`Ladder::encode`] wrote.
struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    fn string(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.bytes(n)?.to_vec()).ok()
    }

    fn name(&mut self) -> Option<&'static str> {
        name_at(self.u8()?)
    }
}

impl Ladder {
    /// Appends the ladder to `out` in a compact binary form, for a streamed
    /// report that draws it later ([`Ladder::decode`]). `None` (and `out`
    /// unchanged) if a header or parameter has a name `names()` does not
    /// list.
    pub fn encode(&self, out: &mut Vec<u8>) -> Option<()> {
        let start = out.len();
        let done = self.encode_into(out);
        if done.is_none() {
            out.truncate(start);
        }
        done
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Option<()> {
        put_len(out, self.exchange);
        put_len(out, self.omitted);
        put_len(out, self.hosts.len());
        for h in &self.hosts {
            put_str(out, h);
        }
        put_len(out, self.steps.len());
        for s in &self.steps {
            put_len(out, s.from);
            put_len(out, s.to);
            out.extend_from_slice(&s.frame.to_le_bytes());
            match s.ts {
                Some(t) => {
                    out.push(1);
                    out.extend_from_slice(&t.0.to_le_bytes());
                }
                None => out.push(0),
            }
            out.push(match s.kind {
                StepKind::Request => 0,
                StepKind::Provisional => 1,
                StepKind::Response => 2,
            });
            put_str(out, &s.label);
            match s.header {
                Some(h) => {
                    out.push(1);
                    out.push(name_code(h)?);
                }
                None => out.push(0),
            }
            out.extend_from_slice(&s.retransmissions.to_le_bytes());
            put_len(out, s.params.len());
            for p in &s.params {
                out.push(name_code(p.name)?);
                out.push(u8::from(p.highlight));
                put_str(out, &p.value);
            }
        }
        Some(())
    }

    /// The ladder [`Ladder::encode`] wrote to `bytes`; `None` if they are
    /// not one.
    pub fn decode(bytes: &[u8]) -> Option<Ladder> {
        let mut d = Decoder(bytes);
        let exchange = d.len()?;
        let omitted = d.len()?;
        let hosts = (0..d.len()?)
            .map(|_| d.string())
            .collect::<Option<Vec<String>>>()?;
        let n = d.len()?;
        let mut steps = Vec::with_capacity(n.min(MAX_STEPS));
        for _ in 0..n {
            let from = d.len()?;
            let to = d.len()?;
            let frame = d.u64()?;
            let ts = match d.u8()? {
                0 => None,
                _ => Some(Ts(i64::from_le_bytes(d.bytes(8)?.try_into().ok()?))),
            };
            let kind = match d.u8()? {
                0 => StepKind::Request,
                1 => StepKind::Provisional,
                _ => StepKind::Response,
            };
            let label = d.string()?;
            let header = match d.u8()? {
                0 => None,
                _ => Some(d.name()?),
            };
            let retransmissions = u32::from_le_bytes(d.bytes(4)?.try_into().ok()?);
            let params = (0..d.len()?)
                .map(|_| {
                    let name = d.name()?;
                    let highlight = d.u8()? != 0;
                    let value = d.string()?;
                    Some(Param {
                        name,
                        value,
                        highlight,
                    })
                })
                .collect::<Option<Vec<Param>>>()?;
            steps.push(Step {
                from,
                to,
                frame,
                ts,
                kind,
                label,
                header,
                params,
                retransmissions,
            });
        }
        d.0.is_empty().then_some(Ladder {
            exchange,
            hosts,
            steps,
            omitted,
        })
    }
}

impl Param {
    /// `name=value`, quoted when the value has spaces or is empty.
    pub fn text(&self) -> String {
        if self.value.is_empty() || self.value.contains([' ', ',']) && self.name != "qop" {
            format!("{}=\"{}\"", self.name, self.value)
        } else {
            format!("{}={}", self.name, self.value)
        }
    }
}

impl Step {
    /// Clock time with milliseconds, or blanks when untimed.
    pub fn clock(&self) -> String {
        match self.ts {
            Some(t) => t.clock()[..12].to_string(),
            None => " ".repeat(12),
        }
    }
}

/// How the ASCII ladder marks a highlighted parameter.
pub struct AsciiStyle {
    /// Wrap marked parameters in these (e.g. colour codes); always
    /// followed by a visible "(!)" so the mark survives without colour.
    pub mark_on: &'static str,
    pub mark_off: &'static str,
}

/// One wrapped line of parameters: text, its width, and the (start,
/// length) of each marked parameter in it.
type WrappedLine = (String, usize, Vec<(usize, usize)>);

/// Pads or cuts `s` to exactly `w` display columns (chars).
fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        format!("{s}{}", " ".repeat(w - n))
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(2)).collect();
        t.push_str("..");
        t
    }
}

/// Renders the ladder as fixed-width text lines, every capture-derived
/// string sanitised for the terminal, at most `width` columns (at least
/// 60) plus any colour codes.
pub fn ascii(l: &Ladder, width: usize, style: &AsciiStyle) -> Vec<String> {
    let width = width.clamp(60, 160);
    let margin = 22; // "HH:MM:SS.mmm  #12345  "
    let n = l.hosts.len().max(2);
    let lane = ((width - margin - 2) / (n - 1)).clamp(16, 72);
    let col = |i: usize| margin + i * lane;
    let total = col(n - 1) + 1;
    let blank_row = || {
        let mut row: Vec<char> = vec![' '; total];
        for i in 0..n {
            row[col(i)] = '|';
        }
        row
    };
    let mut out = Vec::new();
    // Host names centred over their columns.
    let mut head: Vec<char> = vec![' '; width.max(total)];
    for (i, h) in l.hosts.iter().enumerate() {
        let name: String = fit(&term(h), lane - 2).trim_end().to_string();
        let len = name.chars().count();
        let start = (col(i) + 1)
            .saturating_sub(len.div_ceil(2))
            .max(if i == 0 { margin / 2 } else { 0 })
            .min(width.saturating_sub(len));
        for (k, c) in name.chars().enumerate() {
            if let Some(slot) = head.get_mut(start + k) {
                *slot = c;
            }
        }
    }
    out.push(head.iter().collect::<String>().trim_end().to_string());
    out.push(blank_row().iter().collect::<String>());
    for s in &l.steps {
        let (a, b) = (col(s.from.min(n - 1)), col(s.to.min(n - 1)));
        let (lo, hi) = (a.min(b), a.max(b));
        let mut row = blank_row();
        for c in row.iter_mut().take(hi).skip(lo + 1) {
            *c = if s.kind == StepKind::Provisional {
                '.'
            } else {
                '-'
            };
        }
        if b > a {
            row[hi - 1] = '>';
        } else {
            row[lo + 1] = '<';
        }
        let mut label = term(&s.label).into_owned();
        if s.retransmissions > 0 {
            label.push_str(&format!(" x{}", s.retransmissions + 1));
        }
        let label = format!(" {} ", fit(&label, hi - lo - 6).trim_end());
        let start = lo + 1 + (hi - lo - 1).saturating_sub(label.chars().count()) / 2;
        for (k, c) in label.chars().enumerate() {
            row[start + k] = c;
        }
        let prefix = format!("{}  #{:<6}", s.clock(), s.frame);
        let line: String = row.iter().collect();
        out.push(format!(
            "{}{}",
            fit(&prefix, margin),
            &line[margin.min(line.len())..]
        ));
        // Parameters, wrapped inside the arrow's lane.
        let room = hi - lo - 3;
        let mut lines: Vec<WrappedLine> = Vec::new();
        let mut items: Vec<(String, bool)> = Vec::new();
        if let Some(h) = s.header {
            items.push((format!("{h}:"), false));
        }
        for p in &s.params {
            let t = term(&p.text()).into_owned();
            let t = if p.highlight { format!("{t}(!)") } else { t };
            items.push((shorten(&t, room), p.highlight));
        }
        for (t, hl) in items {
            let len = t.chars().count();
            match lines.last_mut() {
                Some((cur, used, marks)) if *used + 1 + len <= room => {
                    cur.push(' ');
                    if hl {
                        marks.push((*used + 1, len));
                    }
                    cur.push_str(&t);
                    *used += 1 + len;
                }
                _ => lines.push((t, len, if hl { vec![(0, len)] } else { vec![] })),
            }
        }
        for (text, used, marks) in lines {
            let row = blank_row();
            let left: String = row[..lo + 2].iter().collect();
            let right: String = row[(lo + 2 + used).min(total)..].iter().collect();
            let mut body = String::new();
            let chars: Vec<char> = text.chars().collect();
            let mut k = 0;
            for (at, len) in marks {
                body.extend(&chars[k..at]);
                body.push_str(style.mark_on);
                body.extend(&chars[at..at + len]);
                body.push_str(style.mark_off);
                k = at + len;
            }
            body.extend(&chars[k..]);
            out.push(format!("{left}{body}{right}").trim_end().to_string());
        }
        out.push(blank_row().iter().collect::<String>());
    }
    if l.omitted > 0 {
        out.push(format!("  ... {} more messages not drawn", l.omitted));
    }
    for line in &mut out {
        let trimmed = line.trim_end().len();
        line.truncate(trimmed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;

    fn ladder_of(auth: &str) -> Ladder {
        let exs = one_retry(WWW_QOP, auth, 401, "Unauthorized");
        let findings = crate::rules::evaluate(&exs, &Default::default());
        build(&exs[0], &findings)
    }

    fn marked(l: &Ladder) -> Vec<(u64, &'static str, String)> {
        l.steps
            .iter()
            .flat_map(|s| {
                s.params
                    .iter()
                    .filter(|p| p.highlight)
                    .map(move |p| (s.frame, p.name, p.value.clone()))
            })
            .collect()
    }

    #[test]
    fn realm_mismatch_marks_the_realm_on_both_sides() {
        let auth = auth_qop("alice").replace("realm=\"lab.example\"", "realm=\"asterisk\"");
        let l = ladder_of(&auth);
        assert_eq!(l.hosts, vec![PHONE.to_string(), PBX.to_string()]);
        let m = marked(&l);
        assert!(m.contains(&(2, "realm", "lab.example".into())), "{m:?}");
        assert!(m.contains(&(3, "realm", "asterisk".into())), "{m:?}");
        assert!(m.iter().all(|(_, name, _)| *name == "realm"), "{m:?}");
        // Arrows alternate phone -> PBX, PBX -> phone.
        let dirs: Vec<(usize, usize)> = l.steps.iter().map(|s| (s.from, s.to)).collect();
        assert_eq!(dirs, vec![(0, 1), (1, 0), (0, 1), (1, 0)]);
    }

    #[test]
    fn an_accepted_answer_marks_nothing() {
        let l = ladder_of(&auth_qop("alice"));
        let m = marked(&l);
        // Rejected with 401 (no challenge in the final answer), but no
        // parameter differs: no mark.
        assert!(m.is_empty(), "{m:?}");
    }

    #[test]
    fn missing_cnonce_is_shown_as_absent() {
        let auth = "Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\"";
        let l = ladder_of(auth);
        let m = marked(&l);
        assert!(m.contains(&(3, "cnonce", "(absent)".into())), "{m:?}");
    }

    #[test]
    fn ascii_ladder_fits_and_is_sanitised() {
        let auth = auth_qop("al\x1b[2Jice").replace("realm=\"lab.example\"", "realm=\"asterisk\"");
        let l = ladder_of(&auth);
        let style = AsciiStyle {
            mark_on: "",
            mark_off: "",
        };
        let lines = ascii(&l, 100, &style);
        assert!(lines.iter().all(|x| x.chars().count() <= 100), "{lines:#?}");
        assert!(lines.iter().all(|x| !x.contains('\x1b')));
        let text = lines.join("\n");
        assert!(text.contains("username=al\\x1b[2Jice"), "{text}");
        assert!(text.contains("realm=asterisk(!)"), "{text}");
        assert!(text.contains("REGISTER (CSeq 2)"), "{text}");
        assert!(text.contains("|<") && text.contains(">|"), "{text}");
    }

    #[test]
    fn ladders_come_back_from_their_encoding() {
        let cases = [
            auth_qop("alice").replace("realm=\"lab.example\"", "realm=\"asterisk\""),
            "Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\"".to_string(),
            auth_qop("al\u{9b}ice"),
        ];
        let style = AsciiStyle {
            mark_on: "<",
            mark_off: ">",
        };
        for auth in cases {
            let mut l = ladder_of(&auth);
            l.steps[1].ts = None;
            l.steps[0].retransmissions = 3;
            l.omitted = 2;
            let mut bytes = vec![7];
            l.encode(&mut bytes).expect("every name is listed");
            let back = Ladder::decode(&bytes[1..]).expect("decodes");
            assert_eq!(format!("{back:?}"), format!("{l:?}"));
            assert_eq!(ascii(&back, 100, &style), ascii(&l, 100, &style));
            assert!(Ladder::decode(&bytes[1..bytes.len() - 1]).is_none());
        }
        // Every name a step can carry has a code.
        for name in names() {
            assert_eq!(name_code(name).and_then(name_at), Some(name));
        }
        let mut l = ladder_of(&auth_qop("alice"));
        l.steps[2].params[0].name = "not-a-parameter";
        let mut bytes = vec![1, 2];
        assert!(l.encode(&mut bytes).is_none());
        assert_eq!(bytes, [1, 2], "nothing left of a failed encoding");
    }

    #[test]
    fn abbreviations_keep_head_and_tail() {
        assert_eq!(abbrev("short"), "short");
        assert_eq!(abbrev("1701af0123456789706bb"), "1701af..706bb");
    }
}

//! Text inputs: sngrep's text save, console logs (Asterisk `pjsip set
//! logger on`, FreeSWITCH `sofia global siptrace on`, Snom traces) and plain
//! SIP messages separated by blank lines.
//!
//! Formats are recognised from content only ([`detect`]). sngrep saves are
//! grouped by dialog and must be sorted by time, so they (and plain SIP,
//! pasted text) are read whole into one buffer, at most [`MAX_TEXT_INPUT`]
//! bytes; what lies beyond the cap is skipped with a warning. Logs are in
//! time order and are streamed through a window of [`READ_CHUNK`] bytes plus
//! at most one pending message. Messages are indexed (offsets into the
//! buffer plus what the format says about time, addresses and transport) and
//! lent out one by one as [`TextMessage`]s; nothing is copied except
//! FreeSWITCH's indented lines, which are de-indented in place. A single
//! message is cut at [`MAX_MESSAGE`] bytes, with a warning.
//!
//! Frame numbers: the message's 1-based ordinal in the order it is handed
//! out, i.e. time order for sngrep saves (stable sort; the file is grouped by
//! dialog) and file order for logs and plain SIP.
//!
//! Times in these formats are the writer's local time without a zone: they
//! are read in the zone given by `--tz` (UTC by default) and the input's
//! warnings say which zone was assumed. Missing date parts (Asterisk's
//! `[Nov 22 10:00:01]` has no year, FreeSWITCH's siptrace has only a time of
//! day) are taken from the nearest full date in the log, else from today's
//! date, and the warnings say so. The byte counts the logs print are never
//! used as sizes: message ends come from the text and Content-Length.

use super::{
    days_from_civil, CaptureReader, Format, InputWarning, Peek, Record, TextMessage, Transport, Ts,
};
use crate::sip::message::looks_like_sip;
use crate::sip::{Framing, HeaderKind, Message, Status};
use memchr::{memchr, memchr_iter, memmem};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};

/// Most bytes of one text input read into memory (128 MiB).
pub const MAX_TEXT_INPUT: usize = 128 * 1024 * 1024;
/// Most bytes of one message; longer messages are cut to this with a warning.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Bytes looked at to recognise a text format.
pub const DETECT_BYTES: usize = 64 * 1024;
/// Bytes read at a time from a log (the window is this plus one message).
pub const READ_CHUNK: usize = 1024 * 1024;
/// Most per-message warnings listed; the rest are counted.
const MAX_LISTED: usize = 20;

/// How text inputs are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// UTC offset, in seconds, of the zone the text's times were written
    /// in; `None` means UTC was assumed because nothing was said.
    pub tz_offset_secs: Option<i32>,
}

/// Parses a `--tz` value: `UTC`, `Z`, `+02:00`, `-0530`, `+2`.
pub fn parse_tz(s: &str) -> Result<i32, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("gmt")
    {
        return Ok(0);
    }
    let t = t
        .strip_prefix("UTC")
        .or_else(|| t.strip_prefix("GMT"))
        .unwrap_or(t);
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => {
            return Err(format!(
                "'{s}' is not a UTC offset (use e.g. UTC, +02:00, -05:30)"
            ))
        }
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let bad = || format!("'{s}' is not a UTC offset (use e.g. UTC, +02:00, -05:30)");
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) || (h == 14 && m > 0) {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// The zone as people write it: `UTC` or `UTC+02:00`.
fn tz_name(offset: i32) -> String {
    if offset == 0 {
        return "UTC".into();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, (a / 60) % 60)
}

/// Recognises a text format from the first bytes of an input.
pub fn detect(head: &[u8]) -> Option<Format> {
    // Binary data is not text: a NUL in the first bytes rules it out.
    let probe = &head[..head.len().min(DETECT_BYTES)];
    if memchr(0, probe).is_some() {
        return None;
    }
    let mut first_line: Option<&[u8]> = None;
    let mut second_line: Option<&[u8]> = None;
    let mut found = None;
    for (_, line) in lines(probe) {
        let line = strip_cr(line);
        if first_line.is_none() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            first_line = Some(line);
        } else if second_line.is_none() {
            second_line = Some(line);
        }
        if found.is_none() {
            if freeswitch_header(line).is_some() {
                found = Some(Format::FreeswitchLog);
            } else if asterisk_header(line).is_some() {
                found = Some(Format::AsteriskLog);
            } else if snom_header(line).is_some() {
                found = Some(Format::SnomLog);
            }
        }
    }
    if let (Some(first), Some(second)) = (first_line, second_line) {
        if sngrep_header(first).is_some() && looks_like_sip(second) {
            return Some(Format::SngrepText);
        }
    }
    if found.is_some() {
        return found;
    }
    match first_line {
        Some(first) if looks_like_sip(first) => Some(Format::PlainSip),
        _ => None,
    }
}

/// Lines of `b` as (offset, line without its LF).
fn lines(b: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= b.len() {
            return None;
        }
        let start = pos;
        let end = memchr(b'\n', &b[pos..]).map_or(b.len(), |i| pos + i);
        pos = end + 1;
        Some((start, &b[start..end]))
    })
}

fn strip_cr(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r'] => rest,
        _ => line,
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|c| c.is_ascii_whitespace())
}

// ----- small field parsers ---------------------------------------------

/// Digits at the front of `b`: (value, count). At most 9 digits.
fn digits(b: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    let mut n = 0;
    while n < b.len() && n < 9 && b[n].is_ascii_digit() {
        v = v * 10 + u64::from(b[n] - b'0');
        n += 1;
    }
    (v, n)
}

/// Exactly `n` digits at `b[at..]`.
fn fixed(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits(s).0 as u32)
}

/// A wall-clock time in some zone, before the zone is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Civil {
    date: Option<(i64, u32, u32)>,
    /// Month and day without a year (Asterisk's default format).
    month_day: Option<(u32, u32)>,
    secs_of_day: u32,
    nanos: u32,
}

fn valid_date(y: i64, m: u32, d: u32) -> bool {
    (1970..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// `HH:MM:SS` then an optional fraction after `.` or `:` (any number of
/// digits up to 9). Returns the time and the bytes used.
fn time_of_day(b: &[u8]) -> Option<(u32, u32, usize)> {
    let h = fixed(b, 0, 2)?;
    let m = fixed(b, 3, 2)?;
    let s = fixed(b, 6, 2)?;
    if b[2] != b':' || b[5] != b':' || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut used = 8;
    let mut nanos = 0;
    if let Some(&sep) = b.get(8) {
        if sep == b'.' || sep == b':' || sep == b',' {
            let (v, n) = digits(&b[9..]);
            if n > 0 {
                nanos = (v * 10u64.pow(9 - n as u32)) as u32;
                used = 9 + n;
            }
        }
    }
    Some((h * 3600 + m * 60 + s.min(59), nanos, used))
}

/// `YYYY-MM-DD HH:MM:SS[.frac]` or `YYYY/MM/DD ...`.
fn iso_datetime(b: &[u8]) -> Option<(Civil, usize)> {
    let y = fixed(b, 0, 4)?;
    let sep = *b.get(4)?;
    if (sep != b'-' && sep != b'/') || b.get(7) != Some(&sep) {
        return None;
    }
    let m = fixed(b, 5, 2)?;
    let d = fixed(b, 8, 2)?;
    if !matches!(b.get(10), Some(b' ') | Some(b'T')) || !valid_date(i64::from(y), m, d) {
        return None;
    }
    let (sod, nanos, used) = time_of_day(&b[11..])?;
    Some((
        Civil {
            date: Some((i64::from(y), m, d)),
            month_day: None,
            secs_of_day: sod,
            nanos,
        },
        11 + used,
    ))
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Nov 22 10:00:01[.frac]` (Asterisk's default; day may be space-padded).
fn month_day_time(b: &[u8]) -> Option<(Civil, usize)> {
    let mon = b.get(..3)?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let mut at = 3;
    while b.get(at) == Some(&b' ') {
        at += 1;
    }
    let (d, n) = digits(b.get(at..)?);
    if n == 0 || n > 2 || !(1..=31).contains(&d) || b.get(at + n) != Some(&b' ') {
        return None;
    }
    at += n + 1;
    let (sod, nanos, used) = time_of_day(b.get(at..)?)?;
    Some((
        Civil {
            date: None,
            month_day: Some((m, d as u32)),
            secs_of_day: sod,
            nanos,
        },
        at + used,
    ))
}

/// Snom and other traces: `D/M/YYYY HH:MM:SS[:mmm]`, `YYYY-MM-DD ...`,
/// `DD.MM.YYYY ...`, or a bare time of day.
fn loose_datetime(b: &[u8]) -> Option<Civil> {
    if let Some((c, _)) = iso_datetime(b) {
        return Some(c);
    }
    if let Some((sod, nanos, _)) = time_of_day(b) {
        return Some(Civil {
            date: None,
            month_day: None,
            secs_of_day: sod,
            nanos,
        });
    }
    let (a, na) = digits(b);
    let sep = *b.get(na)?;
    if na == 0 || na > 2 || !(sep == b'/' || sep == b'.' || sep == b'-') {
        return None;
    }
    let (m, nm) = digits(&b[na + 1..]);
    if nm == 0 || nm > 2 || b.get(na + 1 + nm) != Some(&sep) {
        return None;
    }
    let ys = na + 2 + nm;
    let (y, ny) = digits(&b[ys..]);
    if ny != 4 || b.get(ys + 4) != Some(&b' ') {
        return None;
    }
    // Day first (European order) unless that cannot be a date.
    let (d, m) = if m > 12 && a <= 12 { (m, a) } else { (a, m) };
    let (d, m) = (d as u32, m as u32);
    if !valid_date(y as i64, m, d) {
        return None;
    }
    let (sod, nanos, _) = time_of_day(&b[ys + 5..])?;
    Some(Civil {
        date: Some((y as i64, m, d)),
        month_day: None,
        secs_of_day: sod,
        nanos,
    })
}

/// `1.2.3.4:5060` or `[2001:db8::1]:5060`; also a bare address (port 0
/// would be wrong, so a missing port gives the SIP default 5060).
fn socket_addr(s: &[u8]) -> Option<SocketAddr> {
    let s = std::str::from_utf8(s).ok()?.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    // FreeSWITCH brackets IPv4 too: `[1.2.3.4]:5060`.
    if let Some(inner) = s.strip_prefix('[') {
        let (ip, rest) = inner.split_once(']')?;
        let ip: IpAddr = ip.parse().ok()?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if rest.is_empty() => 5060,
            None => return None,
        };
        return Some(SocketAddr::new(ip, port));
    }
    s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 5060))
}

fn transport_word(w: &[u8]) -> Option<Transport> {
    let t = match w.to_ascii_lowercase().as_slice() {
        b"udp" => Transport::Udp,
        b"tcp" => Transport::Tcp,
        b"tls" => Transport::Tls,
        b"ws" => Transport::Ws,
        b"wss" => Transport::Wss,
        b"sctp" => Transport::Sctp,
        _ => return None,
    };
    Some(t)
}

// ----- header lines ------------------------------------------------------

/// What a header line says about the message after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    time: Option<Civil>,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    transport: Transport,
}

/// `YYYY/MM/DD HH:MM:SS.uuuuuu SRC -> DST`
fn sngrep_header(line: &[u8]) -> Option<Header> {
    let (civil, used) = iso_datetime(line)?;
    let rest = line.get(used..)?.strip_prefix(b" ")?;
    let arrow = memmem::find(rest, b" -> ")?;
    let src = socket_addr(&rest[..arrow])?;
    let dst = socket_addr(&rest[arrow + 4..])?;
    Some(Header {
        time: Some(civil),
        src: Some(src),
        dst: Some(dst),
        transport: Transport::Unknown,
    })
}

/// `<--- Received SIP request (N bytes) from UDP:1.2.3.4:5060 --->` and
/// `<--- Transmitting SIP response (N bytes) to UDP:... --->` (PJSIP), or
/// chan_sip's `<--- SIP read from UDP:1.2.3.4:5060 --->` and
/// `<--- Transmitting (no NAT) to 1.2.3.4:5060 --->`, possibly after a log
/// prefix such as `[Nov 22 10:00:01] VERBOSE[123] ...: `.
fn asterisk_header(line: &[u8]) -> Option<Header> {
    let at = memmem::find(line, b"<--- ")?;
    let body = &line[at + 5..];
    let end = memmem::find(body, b" --->")?;
    let body = &body[..end];
    let (received, target) = if body.starts_with(b"Received SIP ") {
        (true, after(body, b") from ")?)
    } else if body.starts_with(b"Transmitting SIP ") {
        (false, after(body, b") to ")?)
    } else if let Some(t) = body.strip_prefix(b"SIP read from ") {
        (true, t)
    } else if body.starts_with(b"Transmitting (") || body.starts_with(b"Reliably Transmitting (") {
        (false, after(body, b") to ")?)
    } else {
        return None;
    };
    // `UDP:1.2.3.4:5060`, or chan_sip's transmit lines without transport.
    let (transport, addr) = match memchr(b':', target) {
        Some(colon) => match transport_word(&target[..colon]) {
            Some(t) => (t, socket_addr(&target[colon + 1..])),
            None => (Transport::Unknown, socket_addr(target)),
        },
        None => (Transport::Unknown, socket_addr(target)),
    };
    let time = line
        .strip_prefix(b"[")
        .and_then(|p| month_day_time(p).or_else(|| iso_datetime(p)))
        .map(|(c, _)| c);
    Some(Header {
        time,
        src: if received { addr } else { None },
        dst: if received { None } else { addr },
        transport,
    })
}

/// The bytes after the first `word` in `b`.
fn after<'a>(b: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    memmem::find(b, word).map(|i| &b[i + word.len()..])
}

/// A line that is only an Asterisk timestamp, or starts with one:
/// `[Nov 22 10:00:01]`, `[2026-11-22 10:00:01.123]`.
fn asterisk_stamp(line: &[u8]) -> Option<Civil> {
    let p = line.strip_prefix(b"[")?;
    let (c, used) = month_day_time(p).or_else(|| iso_datetime(p))?;
    (p.get(used) == Some(&b']')).then_some(c)
}

/// `recv N bytes from udp/[1.2.3.4]:5060 at HH:MM:SS.uuuuuu:` and
/// `send N bytes to tcp/[...]:5060 at ...:`.
fn freeswitch_header(line: &[u8]) -> Option<Header> {
    let line = trim_ascii(line);
    let (received, rest) = if let Some(r) = line.strip_prefix(b"recv ") {
        (true, r)
    } else if let Some(r) = line.strip_prefix(b"send ") {
        (false, r)
    } else {
        return None;
    };
    let (_, n) = digits(rest);
    if n == 0 {
        return None;
    }
    let rest = rest[n..].strip_prefix(b" bytes ")?;
    let rest = if received {
        rest.strip_prefix(b"from ")?
    } else {
        rest.strip_prefix(b"to ")?
    };
    let at = memmem::rfind(rest, b" at ")?;
    let target = &rest[..at];
    let slash = memchr(b'/', target)?;
    let transport = transport_word(&target[..slash]).unwrap_or(Transport::Unknown);
    let addr = socket_addr(&target[slash + 1..]);
    let when = &rest[at + 4..];
    let when = when.strip_suffix(b":").unwrap_or(when);
    let (sod, nanos, _) = time_of_day(when)?;
    Some(Header {
        time: Some(Civil {
            date: None,
            month_day: None,
            secs_of_day: sod,
            nanos,
        }),
        src: if received { addr } else { None },
        dst: if received { None } else { addr },
        transport,
    })
}

/// `Received from udp:IP:PORT at DATE (N bytes):` and
/// `Sent to udp:IP:PORT at DATE (N bytes):`.
fn snom_header(line: &[u8]) -> Option<Header> {
    let line = trim_ascii(line);
    let (received, rest) = if let Some(r) = line.strip_prefix(b"Received from ") {
        (true, r)
    } else if let Some(r) = line.strip_prefix(b"Sent to ") {
        (false, r)
    } else {
        return None;
    };
    if !rest.ends_with(b"bytes):") {
        return None;
    }
    let colon = memchr(b':', rest)?;
    let transport = transport_word(&rest[..colon])?;
    let rest = &rest[colon + 1..];
    let (addr, when) = match memmem::find(rest, b" at ") {
        Some(at) => (&rest[..at], Some(&rest[at + 4..])),
        None => (&rest[..memmem::find(rest, b" (")?], None),
    };
    let addr = socket_addr(addr);
    let time = when.and_then(loose_datetime);
    Some(Header {
        time,
        src: if received { addr } else { None },
        dst: if received { None } else { addr },
        transport,
    })
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    crate::sip::message::trim(b)
}

/// A FreeSWITCH separator line (`   ------...`) or chan_sip's trailer.
fn is_separator(line: &[u8]) -> bool {
    let t = trim_ascii(line);
    // chan_sip closes a message with `<------------->`.
    let t = t
        .strip_prefix(b"<")
        .and_then(|t| t.strip_suffix(b">"))
        .unwrap_or(t);
    t.len() >= 10 && t.iter().all(|&c| c == b'-')
}

/// A full date in a FreeSWITCH log line: `2026-11-22 10:00:01.123456 [...`.
fn log_date(line: &[u8]) -> Option<(i64, u32, u32)> {
    iso_datetime(line).and_then(|(c, _)| c.date)
}

// ----- the reader ----------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Entry {
    start: usize,
    end: usize,
    ts: Option<Ts>,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    transport: Transport,
}

/// One text input; messages are lent from `buf`.
pub struct TextReader {
    format: Format,
    buf: Vec<u8>,
    source: Option<Box<dyn Read + Send>>,
    eof: bool,
    /// Messages ready in `buf`, in the order they are handed out.
    entries: Vec<Entry>,
    next: usize,
    frame: u64,
    done: bool,
    opts: TextOptions,
    warnings: Vec<InputWarning>,
    scan: Scan,
}

/// Resolves local civil times to [`Ts`], filling in missing date parts.
struct Clock {
    tz: i32,
    /// Date for times that carry none: the last full date seen in the log.
    last_date: Option<(i64, u32, u32)>,
    today: (i64, u32, u32),
    /// Day added after a time of day went backwards (midnight passed).
    prev: Option<(i64, u32)>,
    used_today_date: bool,
    used_today_year: bool,
}

impl Clock {
    fn new(tz: i32) -> Clock {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Clock {
            tz,
            last_date: None,
            today: super::civil_from_days(now.div_euclid(86_400)),
            prev: None,
            used_today_date: false,
            used_today_year: false,
        }
    }

    fn resolve(&mut self, c: Civil) -> Ts {
        let days = if let Some((y, m, d)) = c.date {
            days_from_civil(y, m, d)
        } else if let Some((m, d)) = c.month_day {
            self.used_today_year = self.last_date.is_none();
            let y = self.last_date.map_or(self.today.0, |d| d.0);
            days_from_civil(y, m, d)
        } else {
            // Time of day only: keep a running day so that midnight moves on.
            let base = match self.last_date {
                Some((y, m, d)) => days_from_civil(y, m, d),
                None => {
                    self.used_today_date = true;
                    days_from_civil(self.today.0, self.today.1, self.today.2)
                }
            };
            let mut day = base;
            if let Some((prev_day, prev_sod)) = self.prev {
                if prev_day >= base {
                    day = prev_day;
                    if c.secs_of_day + 12 * 3600 < prev_sod {
                        day += 1;
                    }
                }
            }
            self.prev = Some((day, c.secs_of_day));
            day
        };
        let secs = days * 86_400 + i64::from(c.secs_of_day) - i64::from(self.tz);
        Ts::from_secs_nanos(secs, i64::from(c.nanos))
    }
}

/// Reads the rest of `source` after `head`, up to [`MAX_TEXT_INPUT`].
fn read_all(mut head: Vec<u8>, source: &mut dyn Read, warnings: &mut Vec<InputWarning>) -> Vec<u8> {
    let room = MAX_TEXT_INPUT.saturating_sub(head.len()) as u64;
    let mut limited = source.take(room + 1);
    if let Err(e) = limited.read_to_end(&mut head) {
        warnings.push(InputWarning {
            what: format!("read error after {} bytes: {e}", head.len()),
        });
    }
    if head.len() > MAX_TEXT_INPUT {
        head.truncate(MAX_TEXT_INPUT);
        // Cut at a line end so no half line is read as a message.
        if let Some(nl) = memchr::memrchr(b'\n', &head) {
            head.truncate(nl + 1);
        }
        warnings.push(InputWarning {
            what: format!(
                "text input is larger than {} MiB: only the first {} bytes were read (split the file to analyse the rest)",
                MAX_TEXT_INPUT >> 20,
                head.len()
            ),
        });
    }
    head
}

/// A header line found, waiting for its message's end to be known.
#[derive(Clone, Copy, Debug)]
struct Head {
    line_start: usize,
    msg_start: usize,
    header: Header,
    ts: Option<Ts>,
}

/// Line scanning state, carried from one window of a log to the next.
struct Scan {
    clock: Clock,
    notes: Notes,
    last_stamp: Option<Civil>,
    prev_blank: bool,
    /// Where the next unscanned line starts.
    pos: usize,
    pending: Vec<Head>,
    /// End of the last message taken (plain SIP: start lines inside it are
    /// part of its body).
    covered: usize,
    /// Lines in the bytes already dropped from the window, for warnings.
    lines_dropped: u64,
}

impl TextReader {
    /// Opens a text input of a known format (see [`detect`]). sngrep saves
    /// and plain SIP are read whole (at most [`MAX_TEXT_INPUT`]); logs are
    /// streamed through a window of about [`READ_CHUNK`] plus one message.
    pub fn open(
        format: Format,
        head: Vec<u8>,
        mut source: Box<dyn Read + Send>,
        opts: &TextOptions,
    ) -> TextReader {
        if streams(format) {
            Self::new(format, head, Some(source), opts, Vec::new())
        } else {
            let mut warnings = Vec::new();
            let buf = read_all(head, &mut source, &mut warnings);
            Self::new(format, buf, None, opts, warnings)
        }
    }

    /// A reader over a text input already in memory (tests, fuzzing).
    pub fn from_bytes(format: Format, bytes: &[u8], opts: &TextOptions) -> TextReader {
        Self::new(format, bytes.to_vec(), None, opts, Vec::new())
    }

    fn new(
        format: Format,
        buf: Vec<u8>,
        source: Option<Box<dyn Read + Send>>,
        opts: &TextOptions,
        warnings: Vec<InputWarning>,
    ) -> TextReader {
        TextReader {
            format,
            eof: source.is_none(),
            source,
            buf,
            entries: Vec::new(),
            next: 0,
            frame: 0,
            done: false,
            opts: *opts,
            warnings,
            scan: Scan {
                clock: Clock::new(opts.tz_offset_secs.unwrap_or(0)),
                notes: Notes::default(),
                last_stamp: None,
                prev_blank: true,
                pos: 0,
                pending: Vec::new(),
                covered: 0,
                lines_dropped: 0,
            },
        }
    }

    /// Makes more messages ready once every lent one is consumed. Returns
    /// false at the end of the input.
    fn advance(&mut self) -> bool {
        while self.next >= self.entries.len() {
            if self.done {
                return false;
            }
            self.entries.clear();
            self.next = 0;
            if !self.eof {
                self.compact();
                self.read_chunk();
            }
            self.scan_lines();
            self.take_messages();
            if self.eof && self.scan.pending.is_empty() {
                self.done = true;
                self.finish_notes();
            }
        }
        true
    }

    /// Drops what was lent and scanned; keeps a pending message.
    fn compact(&mut self) {
        let keep = self
            .scan
            .pending
            .first()
            .map_or(self.scan.pos, |h| h.line_start)
            .min(self.buf.len());
        if keep == 0 {
            return;
        }
        self.scan.lines_dropped += memchr_iter(b'\n', &self.buf[..keep]).count() as u64;
        self.buf.drain(..keep);
        for h in &mut self.scan.pending {
            h.line_start -= keep;
            h.msg_start -= keep;
        }
        self.scan.pos -= keep;
        self.scan.covered = self.scan.covered.saturating_sub(keep);
    }

    fn read_chunk(&mut self) {
        let Some(src) = self.source.as_mut() else {
            self.eof = true;
            return;
        };
        let want = self.buf.len() + READ_CHUNK;
        let mut limited = src.take(READ_CHUNK as u64);
        match limited.read_to_end(&mut self.buf) {
            Ok(_) => {}
            Err(e) => {
                self.warnings.push(InputWarning {
                    what: format!("read error: {e}; the rest of the input is skipped"),
                });
                self.eof = true;
            }
        }
        if self.buf.len() < want {
            self.eof = true;
        }
    }

    /// Scans the complete lines not yet scanned for header lines.
    fn scan_lines(&mut self) {
        let mut end = if self.eof {
            self.buf.len()
        } else {
            memchr::memrchr(b'\n', &self.buf[self.scan.pos..])
                .map_or(self.scan.pos, |i| self.scan.pos + i + 1)
        };
        if !self.eof && self.buf.len() - end > MAX_MESSAGE {
            // One endless line: scan it as it is rather than hold it.
            end = self.buf.len();
        }
        let from = self.scan.pos;
        let s = &mut self.scan;
        for (rel, raw) in lines(&self.buf[from..end]) {
            let off = from + rel;
            let line = strip_cr(raw);
            let after = (off + raw.len() + 1).min(end);
            let header = match self.format {
                Format::SngrepText if s.prev_blank => sngrep_header(line),
                Format::AsteriskLog => {
                    if let Some(c) = asterisk_stamp(line) {
                        // Stamps on their own or on other lines date the
                        // messages after them.
                        s.last_stamp = Some(c);
                    }
                    asterisk_header(line).map(|mut h| {
                        if h.time.is_none() {
                            h.time = s.last_stamp;
                        }
                        h
                    })
                }
                Format::FreeswitchLog => {
                    if let Some(d) = log_date(line) {
                        s.clock.last_date = Some(d);
                    }
                    freeswitch_header(line)
                }
                Format::SnomLog => snom_header(line),
                Format::PlainSip if s.prev_blank && looks_like_sip(line) => {
                    s.pending.push(Head {
                        line_start: off,
                        msg_start: off,
                        header: Header {
                            time: None,
                            src: None,
                            dst: None,
                            transport: Transport::Unknown,
                        },
                        ts: None,
                    });
                    None
                }
                _ => None,
            };
            if let Some(h) = header {
                // Resolved in file order so that a date seen earlier in the
                // log, or midnight passing, is applied.
                let ts = h.time.map(|c| s.clock.resolve(c));
                s.pending.push(Head {
                    line_start: off,
                    msg_start: after,
                    header: h,
                    ts,
                });
            }
            s.prev_blank = is_blank(line);
        }
        s.pos = end;
    }

    /// Turns pending header lines whose message end is known into entries.
    fn take_messages(&mut self) {
        let pending = std::mem::take(&mut self.scan.pending);
        let n = pending.len();
        let mut take = if self.eof { n } else { n.saturating_sub(1) };
        if let Some(last) = pending.last() {
            if !self.eof && self.buf.len() - last.msg_start > MAX_MESSAGE {
                // Longer than any message may be: cut it now.
                take = n;
            }
        }
        for i in 0..take {
            let h = pending[i];
            if h.line_start < self.scan.covered {
                // Inside the previous message (e.g. a message/sipfrag body).
                continue;
            }
            let limit = if self.format == Format::PlainSip {
                self.buf.len()
            } else {
                pending.get(i + 1).map_or(self.buf.len(), |n| n.line_start)
            };
            if let Some(e) = self.message(h.msg_start, limit, h.ts, &h.header) {
                self.scan.covered = e.end;
                self.scan.notes.messages += 1;
                self.scan.notes.timed |= e.ts.is_some();
                self.entries.push(e);
            }
        }
        self.scan.pending = pending[take..].to_vec();
        if self.format == Format::SngrepText {
            self.entries.sort_by_key(|e| e.ts);
        }
    }

    /// Finds the message in `buf[start..limit]`; cleans it in place.
    fn message(&mut self, start: usize, limit: usize, ts: Option<Ts>, h: &Header) -> Option<Entry> {
        let mut start = start.min(self.buf.len());
        let mut limit = limit.clamp(start, self.buf.len());
        if self.format == Format::FreeswitchLog {
            limit = self.deindent(start, limit);
        }
        // Leading blank and separator lines.
        loop {
            let rest = &self.buf[start..limit];
            let Some((_, line)) = lines(rest).next() else {
                break;
            };
            if is_blank(line) || is_separator(line) {
                start += (line.len() + 1).min(rest.len());
            } else {
                break;
            }
        }
        if start >= limit {
            return None;
        }
        let mut end = limit;
        if end - start > MAX_MESSAGE {
            end = start + MAX_MESSAGE;
            self.scan.notes.cut += 1;
            if self.scan.notes.cut_at.is_none() {
                self.scan.notes.cut_at = Some(self.line_of(start));
            }
        }
        let region = &self.buf[start..end];
        if !looks_like_sip(region) {
            self.scan.notes.not_sip += 1;
            if self.scan.notes.not_sip_at.is_none() {
                self.scan.notes.not_sip_at = Some(self.line_of(start));
            }
            return None;
        }
        let mut transport = h.transport;
        match Message::parse(region, Framing::Datagram) {
            Ok(Status::Complete(m)) => {
                if !m.notes.no_content_length && !m.notes.body_truncated {
                    end = start + m.raw.len();
                } else {
                    end = start + trim_trailer(region);
                }
                if transport == Transport::Unknown {
                    transport = m
                        .header(HeaderKind::Via)
                        .and_then(via_transport)
                        .unwrap_or(Transport::Unknown);
                    if transport != Transport::Unknown {
                        self.scan.notes.via_transport += 1;
                    }
                }
            }
            // Damaged: hand it on as it is, the SIP stage reports it.
            _ => end = start + trim_trailer(region),
        }
        Some(Entry {
            start,
            end,
            ts,
            src: h.src,
            dst: h.dst,
            transport,
        })
    }

    /// Removes FreeSWITCH's three-space indent from every line of
    /// `buf[start..limit]` in place; returns the new end.
    fn deindent(&mut self, start: usize, limit: usize) -> usize {
        let mut w = start;
        let mut r = start;
        while r < limit {
            let line_end = memchr(b'\n', &self.buf[r..limit]).map_or(limit, |i| r + i + 1);
            let mut s = r;
            let mut n = 0;
            while n < 3 && s < line_end && self.buf[s] == b' ' {
                s += 1;
                n += 1;
            }
            self.buf.copy_within(s..line_end, w);
            w += line_end - s;
            r = line_end;
        }
        w
    }

    /// The input's notes, once it has been read to the end.
    fn finish_notes(&mut self) {
        let notes = &self.scan.notes;
        let clock = &self.scan.clock;
        let what = match self.format {
            Format::SngrepText => "sngrep text save",
            Format::AsteriskLog => "Asterisk log",
            Format::FreeswitchLog => "FreeSWITCH siptrace",
            Format::SnomLog => "Snom trace",
            _ => "plain SIP text",
        };
        let mut w = Vec::new();
        if notes.timed {
            let zone = tz_name(clock.tz);
            w.push(match self.opts.tz_offset_secs {
                Some(_) => format!("{what}: times have no zone; read as {zone} (--tz)"),
                None => format!(
                    "{what}: times have no zone; read as {zone} (give the saver's zone with --tz, e.g. --tz +02:00)"
                ),
            });
        } else if notes.messages > 0 && self.format != Format::PlainSip {
            w.push(format!("{what}: no timestamps found"));
        }
        if clock.used_today_year && self.format == Format::AsteriskLog {
            w.push(format!(
                "{what}: timestamps have no year; {} assumed",
                clock.today.0
            ));
        }
        if clock.used_today_date {
            let (y, m, d) = clock.today;
            w.push(format!(
                "{what}: times have no date; {y:04}-{m:02}-{d:02} (today) assumed"
            ));
        }
        if matches!(self.format, Format::SngrepText | Format::PlainSip) {
            let via = if notes.via_transport > 0 {
                "; the transport was taken from the top Via header"
            } else {
                ""
            };
            w.push(format!("{what}: the format has no transport marker{via}"));
        }
        match self.format {
            Format::AsteriskLog | Format::FreeswitchLog | Format::SnomLog => w.push(format!(
                "{what}: only the far side's address is logged; the local address is unknown"
            )),
            Format::PlainSip => w.push(format!(
                "{what}: no times or addresses given; messages are linked by SIP headers only"
            )),
            _ => {}
        }
        if notes.cut > 0 {
            w.push(format!(
                "{} message(s) longer than {} KiB were cut to that size (first at line {})",
                notes.cut,
                MAX_MESSAGE >> 10,
                notes.cut_at.unwrap_or(0)
            ));
        }
        if notes.not_sip > 0 {
            w.push(format!(
                "{} logged message(s) did not start with a SIP start line and were skipped (first at line {})",
                notes.not_sip,
                notes.not_sip_at.unwrap_or(0)
            ));
        }
        if notes.messages == 0 {
            w.push(format!("{what}: no SIP messages found"));
        }
        w.truncate(MAX_LISTED);
        self.warnings
            .extend(w.into_iter().map(|what| InputWarning { what }));
    }

    /// 1-based line number in the input of a byte offset in the window.
    fn line_of(&self, off: usize) -> u64 {
        self.scan.lines_dropped
            + memchr_iter(b'\n', &self.buf[..off.min(self.buf.len())]).count() as u64
            + 1
    }
}

/// Formats read through a window rather than whole: logs, already in time
/// order. sngrep saves must be sorted, and plain SIP is small pasted text.
fn streams(format: Format) -> bool {
    matches!(
        format,
        Format::AsteriskLog | Format::FreeswitchLog | Format::SnomLog
    )
}

#[derive(Default)]
struct Notes {
    messages: u64,
    timed: bool,
    cut: u64,
    cut_at: Option<u64>,
    not_sip: u64,
    not_sip_at: Option<u64>,
    via_transport: u64,
}

/// Length of `region` without trailing blank and separator lines (the
/// writer's framing); the last kept line keeps its line end.
fn trim_trailer(region: &[u8]) -> usize {
    let mut end = region.len();
    while end > 0 {
        let body = region[..end].strip_suffix(b"\n").unwrap_or(&region[..end]);
        let line_start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
        let line = &body[line_start..];
        if line_start > 0 && (is_blank(line) || is_separator(line)) {
            end = line_start;
        } else {
            break;
        }
    }
    end
}

/// The transport in a Via value: `SIP/2.0/UDP host;...`.
fn via_transport(via: &[u8]) -> Option<Transport> {
    let v = trim_ascii(via);
    let slash2 = memchr_iter(b'/', v).nth(1)?;
    let rest = trim_ascii(&v[slash2 + 1..]);
    let end = rest
        .iter()
        .position(|c| c.is_ascii_whitespace() || *c == b',')
        .unwrap_or(rest.len());
    transport_word(&rest[..end])
}

impl CaptureReader for TextReader {
    fn format(&self) -> Format {
        self.format
    }

    fn next(&mut self) -> Option<Record<'_>> {
        if !self.advance() {
            return None;
        }
        let e = self.entries[self.next];
        self.next += 1;
        self.frame += 1;
        Some(Record::Message(TextMessage {
            frame: self.frame,
            ts: e.ts,
            src: e.src,
            dst: e.dst,
            transport: e.transport,
            data: &self.buf[e.start..e.end],
        }))
    }

    fn peek(&mut self) -> Peek {
        if !self.advance() {
            return Peek::End;
        }
        match self.entries.get(self.next) {
            None => Peek::End,
            Some(Entry { ts: Some(ts), .. }) => Peek::At(*ts),
            Some(_) => Peek::Untimed,
        }
    }

    fn warnings(&self) -> &[InputWarning] {
        &self.warnings
    }

    fn linktypes(&self) -> Vec<u32> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:example.org SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@example.org>;tag=1\r\nTo: <sip:a@example.org>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
    const UNAUTHORIZED: &str = "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@example.org>;tag=1\r\nTo: <sip:a@example.org>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"example.org\", nonce=\"n1\"\r\nContent-Length: 0\r\n\r\n";

    struct Got {
        frame: u64,
        ts: Option<Ts>,
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
        transport: Transport,
        data: Vec<u8>,
    }

    fn read(format: Format, text: &str, tz: Option<i32>) -> (Vec<Got>, Vec<String>) {
        assert_eq!(detect(text.as_bytes()), Some(format), "detected format");
        let mut r =
            TextReader::from_bytes(format, text.as_bytes(), &TextOptions { tz_offset_secs: tz });
        let mut out = Vec::new();
        loop {
            let peeked = r.peek();
            let Some(Record::Message(m)) = r.next() else {
                assert_eq!(peeked, Peek::End);
                break;
            };
            assert_eq!(peeked, m.ts.map_or(Peek::Untimed, Peek::At));
            out.push(Got {
                frame: m.frame,
                ts: m.ts,
                src: m.src,
                dst: m.dst,
                transport: m.transport,
                data: m.data.to_vec(),
            });
        }
        let w = r.warnings().iter().map(|w| w.what.clone()).collect();
        (out, w)
    }

    fn utc(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64, micros: i64) -> Ts {
        Ts::from_secs_nanos(
            days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s,
            micros * 1000,
        )
    }

    #[test]
    fn sngrep_save_is_sorted_by_time_with_ordinals_as_frames() {
        // Grouped by dialog: the later message comes first in the file.
        let text = format!(
            "2026/11/22 10:00:02.000500 10.0.0.2:5060 -> [2001:db8::1]:5062\n{UNAUTHORIZED}\n\n\
             2026/11/22 10:00:01.250000 [2001:db8::1]:5062 -> 10.0.0.2:5060\n{REGISTER}\n\n"
        );
        let (msgs, warnings) = read(Format::SngrepText, &text, Some(3600));
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].data.starts_with(b"REGISTER "));
        assert_eq!(msgs[0].data, REGISTER.as_bytes(), "exact message bytes");
        assert_eq!(msgs[1].data, UNAUTHORIZED.as_bytes());
        assert_eq!((msgs[0].frame, msgs[1].frame), (1, 2));
        // Read as UTC+01:00, so one hour earlier in UTC.
        assert_eq!(msgs[0].ts, Some(utc(2026, 11, 22, 9, 0, 1, 250_000)));
        assert_eq!(msgs[0].src, Some("[2001:db8::1]:5062".parse().unwrap()));
        assert_eq!(msgs[1].dst, Some("[2001:db8::1]:5062".parse().unwrap()));
        assert_eq!(msgs[0].transport, Transport::Tcp, "from the top Via");
        assert!(warnings.iter().any(|w| w.contains("UTC+01:00")));
        assert!(warnings.iter().any(|w| w.contains("no transport marker")));
    }

    #[test]
    fn asterisk_logger_with_timestamp_lines_and_noise() {
        let text = format!(
            "[Nov 22 10:00:01] NOTICE[1]: something unrelated\n\
             <--- Received SIP request (999999 bytes) from TCP:10.0.0.1:5060 --->\n{REGISTER}\n\
             [Nov 22 10:00:02] VERBOSE[7] res_pjsip_logger.c: <--- Transmitting SIP response (12 bytes) to TCP:[2001:db8::5]:5060 --->\n{UNAUTHORIZED}\
                 -- Registered SIP 'a' at 10.0.0.1\n"
        );
        let (msgs, warnings) = read(Format::AsteriskLog, &text, None);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].data, REGISTER.as_bytes());
        // Content-Length ends the message: the trailing noise is not in it.
        assert_eq!(msgs[1].data, UNAUTHORIZED.as_bytes());
        assert_eq!(msgs[0].src, Some("10.0.0.1:5060".parse().unwrap()));
        assert_eq!(msgs[0].dst, None);
        assert_eq!(msgs[1].src, None);
        assert_eq!(msgs[1].dst, Some("[2001:db8::5]:5060".parse().unwrap()));
        assert_eq!(msgs[0].transport, Transport::Tcp);
        let (t0, t1) = (msgs[0].ts.unwrap(), msgs[1].ts.unwrap());
        assert_eq!(t1.0 - t0.0, 1_000_000_000);
        assert_eq!(t0.rfc3339()[5..19], *"11-22T10:00:01");
        assert!(warnings.iter().any(|w| w.contains("no year")));
        assert!(warnings
            .iter()
            .any(|w| w.contains("local address is unknown")));
    }

    #[test]
    fn asterisk_chan_sip_debug() {
        let text = format!(
            "[2026-11-22 10:00:01.125] VERBOSE[42] chan_sip.c: \n<--- SIP read from UDP:10.0.0.1:5060 --->\n{REGISTER}\n<------------->\n\
             [2026-11-22 10:00:01.130] VERBOSE[42] chan_sip.c: \n<--- Transmitting (no NAT) to 10.0.0.1:5060 --->\n{UNAUTHORIZED}\n<------------>\n"
        );
        let (msgs, _) = read(Format::AsteriskLog, &text, None);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].data, REGISTER.as_bytes());
        assert_eq!(msgs[1].data, UNAUTHORIZED.as_bytes());
        assert_eq!(msgs[0].src, Some("10.0.0.1:5060".parse().unwrap()));
        assert_eq!(msgs[1].dst, Some("10.0.0.1:5060".parse().unwrap()));
        assert_eq!(msgs[0].transport, Transport::Udp);
        assert_eq!(msgs[1].transport, Transport::Tcp, "from the top Via");
        assert_eq!(msgs[1].ts, Some(utc(2026, 11, 22, 10, 0, 1, 130_000)));
    }

    #[test]
    fn freeswitch_siptrace_is_deindented_and_dated_from_the_log() {
        let indent =
            |m: &str| -> String { m.split_inclusive('\n').map(|l| format!("   {l}")).collect() };
        let sep = format!("   {}\n", "-".repeat(72));
        let text = format!(
            "2026-11-21 23:59:59.000000 [INFO] mod_sofia.c:1 trace on\n\
             recv 10 bytes from udp/[10.0.0.1]:5060 at 23:59:59.900000:\n{sep}{}{sep}\
             send 10 bytes to udp/[10.0.0.1]:5060 at 00:00:00.100000:\n{sep}{}{sep}",
            indent(REGISTER),
            indent(UNAUTHORIZED)
        );
        let (msgs, warnings) = read(Format::FreeswitchLog, &text, None);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].data, REGISTER.as_bytes());
        assert_eq!(msgs[1].data, UNAUTHORIZED.as_bytes());
        assert_eq!(msgs[0].src, Some("10.0.0.1:5060".parse().unwrap()));
        assert_eq!(msgs[1].dst, Some("10.0.0.1:5060".parse().unwrap()));
        assert_eq!(msgs[0].transport, Transport::Udp);
        // Midnight passed between the two.
        assert_eq!(msgs[0].ts, Some(utc(2026, 11, 21, 23, 59, 59, 900_000)));
        assert_eq!(msgs[1].ts, Some(utc(2026, 11, 22, 0, 0, 0, 100_000)));
        assert!(!warnings.iter().any(|w| w.contains("no date")));
    }

    #[test]
    fn snom_trace_with_dates() {
        let text = format!(
            "Sent to tls:192.0.2.1:5061 at 22/11/2026 10:00:03:118 (5 bytes):\n\n{REGISTER}\n\
             Received from tls:192.0.2.1:5061 at 22/11/2026 10:00:03:164 (5 bytes):\n\n{UNAUTHORIZED}\n"
        );
        let (msgs, _) = read(Format::SnomLog, &text, None);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].data, REGISTER.as_bytes());
        assert_eq!(msgs[0].dst, Some("192.0.2.1:5061".parse().unwrap()));
        assert_eq!(msgs[1].src, Some("192.0.2.1:5061".parse().unwrap()));
        assert_eq!(msgs[0].transport, Transport::Tls);
        assert_eq!(msgs[0].ts, Some(utc(2026, 11, 22, 10, 0, 3, 118_000)));
    }

    #[test]
    fn plain_sip_keeps_sipfrag_bodies_inside_their_message() {
        let notify = "NOTIFY sip:a@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK9\nCall-ID: c9\nCSeq: 2 NOTIFY\nContent-Type: message/sipfrag\nContent-Length: 16\n\nSIP/2.0 200 OK\n\n";
        let text = format!("\n{REGISTER}\n{notify}\n{UNAUTHORIZED}");
        let (msgs, warnings) = read(Format::PlainSip, &text, None);
        assert_eq!(msgs.len(), 3, "the sipfrag body is not a message");
        assert_eq!(
            msgs[1].data,
            notify.as_bytes(),
            "Content-Length decides the end"
        );
        assert!(msgs.iter().all(|m| m.ts.is_none() && m.src.is_none()));
        assert_eq!(msgs[2].frame, 3);
        assert!(warnings.iter().any(|w| w.contains("no times or addresses")));
    }

    #[test]
    fn detection_needs_content_not_names() {
        assert_eq!(detect(b"hello world\nnothing here\n"), None);
        assert_eq!(detect(b"\x00\x01REGISTER sip:a SIP/2.0\r\n"), None);
        assert_eq!(detect(b""), None);
        // An sngrep header line not followed by SIP is not a save.
        assert_eq!(
            detect(b"2026/11/22 10:00:01.000000 1.2.3.4:1 -> 1.2.3.4:2\nhello\n"),
            None
        );
    }

    #[test]
    fn hostile_text_never_panics() {
        let seeds: [&[u8]; 8] = [
            b"<--- Received SIP request (18446744073709551615 bytes) from UDP:[::1 --->\n",
            b"recv 99999999999999999999 bytes from udp/[ at 99:99:99.9999999999:\n",
            b"Received from udp:1.2.3.4:5060 at 99/99/9999 25:61:61:999 (1 bytes):\n",
            b"2026/13/45 10:00:01.000000 1.2.3.4:1 -> 1.2.3.4:2\nREGISTER sip:a SIP/2.0\n",
            b"REGISTER sip:a SIP/2.0\nContent-Length: 99999999999999999999\n\nx",
            b"[Nov 99 10:00:01] <--- Transmitting SIP response (1 bytes) to UDP:1.2.3.4:5 --->",
            b"recv 1 bytes from udp/[1.2.3.4]:5 at 10:00:00.1:\n   ----------\n   ",
            b"INVITE sip:a SIP/2.0\n\n\n\nINVITE",
        ];
        for seed in seeds {
            for cut in 0..=seed.len() {
                let b = &seed[..cut];
                for f in [
                    Format::SngrepText,
                    Format::AsteriskLog,
                    Format::FreeswitchLog,
                    Format::SnomLog,
                    Format::PlainSip,
                ] {
                    let mut r = TextReader::from_bytes(f, b, &TextOptions::default());
                    let _ = detect(b);
                    while let Some(Record::Message(m)) = r.next() {
                        assert!(m.data.len() <= MAX_MESSAGE);
                    }
                }
            }
        }
    }

    #[test]
    fn damaged_fixtures_never_panic() {
        // Cuts and byte flips over every log fixture, read as every format.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/logs");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            seen += 1;
            let mut state = 0x2545_f491_u32;
            for round in 0..200 {
                let mut b = bytes.clone();
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let at = state as usize % b.len();
                if round % 2 == 0 {
                    b.truncate(at);
                } else {
                    for k in 0..8 {
                        let i = (at + k * 31) % b.len();
                        b[i] = (state >> (k % 4 * 8)) as u8;
                    }
                }
                let _ = detect(&b);
                for f in [
                    Format::SngrepText,
                    Format::AsteriskLog,
                    Format::FreeswitchLog,
                    Format::SnomLog,
                    Format::PlainSip,
                ] {
                    let split = b.len().min(100);
                    let mut r = if round % 4 < 2 {
                        TextReader::from_bytes(f, &b, &TextOptions::default())
                    } else {
                        let rest = std::io::Cursor::new(b[split..].to_vec());
                        TextReader::open(
                            f,
                            b[..split].to_vec(),
                            Box::new(rest),
                            &TextOptions::default(),
                        )
                    };
                    let mut frames = 0;
                    while let Some(Record::Message(m)) = r.next() {
                        frames += 1;
                        assert_eq!(m.frame, frames);
                        assert!(m.data.len() <= MAX_MESSAGE);
                    }
                    assert_eq!(r.peek(), Peek::End);
                }
            }
        }
        assert!(seen >= 4);
    }

    #[test]
    fn logs_stream_through_a_bounded_window() {
        // Several windows' worth of messages, with noise between them.
        let mut text = String::new();
        let mut n = 0;
        while text.len() < 3 * READ_CHUNK + 12_345 {
            n += 1;
            text.push_str(&format!(
                "[Nov 22 10:00:01] <--- Received SIP request (1 bytes) from UDP:10.0.0.1:5060 --->\n{REGISTER}\n    -- noise line {n}\n"
            ));
        }
        let head = text.as_bytes()[..4096].to_vec();
        let rest = std::io::Cursor::new(text.as_bytes()[4096..].to_vec());
        let mut r = TextReader::open(
            Format::AsteriskLog,
            head,
            Box::new(rest),
            &TextOptions::default(),
        );
        let mut frames = 0;
        let mut widest = 0;
        while let Some(Record::Message(m)) = r.next() {
            frames += 1;
            assert_eq!(m.frame, frames);
            assert_eq!(m.data, REGISTER.as_bytes(), "message {frames}");
            widest = widest.max(r.buf.len());
        }
        assert_eq!(frames, n);
        assert!(widest <= READ_CHUNK + 2 * MAX_MESSAGE, "window {widest}");
        assert_eq!(r.peek(), Peek::End);
    }

    #[test]
    fn long_messages_are_cut_with_a_warning() {
        let body = "a".repeat(MAX_MESSAGE * 2);
        let text = format!(
            "REGISTER sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (msgs, warnings) = read(Format::PlainSip, &text, None);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data.len(), MAX_MESSAGE);
        assert!(warnings.iter().any(|w| w.contains("cut to that size")));
    }

    #[test]
    fn tz_values() {
        assert_eq!(parse_tz("UTC"), Ok(0));
        assert_eq!(parse_tz("+02:00"), Ok(7200));
        assert_eq!(parse_tz("-05:30"), Ok(-19_800));
        assert_eq!(parse_tz("+0545"), Ok(20_700));
        assert_eq!(parse_tz("UTC+1"), Ok(3600));
        assert!(parse_tz("Europe/Berlin").is_err());
        assert!(parse_tz("+15:00").is_err());
        assert!(parse_tz("+02:75").is_err());
        assert_eq!(tz_name(-19_800), "UTC-05:30");
    }
}

//! A zero-copy, lenient, bounded SIP message parser.
//!
//! Like httparse it is a push parser over borrowed bytes: the start line,
//! header names and values and the body are slices of the input, nothing is
//! allocated, and on a stream it answers [`Status::Partial`] until a whole
//! message is there. It accepts what real stacks send (LF-only line ends,
//! folded lines, compact header names, odd spacing) and caps what hostile
//! input could inflate (header count, header section size, body size).

use super::header::HeaderKind;
use memchr::memchr;
use std::mem::MaybeUninit;

/// Most headers one message may carry; the rest are counted, not kept.
pub const MAX_HEADERS: usize = 96;
/// How many [`HeaderKind`]s there are (`Other` is the last).
const KINDS: usize = HeaderKind::Other as usize + 1;
const _: () = assert!(MAX_HEADERS <= u8::MAX as usize, "slots are kept as u8");
/// Largest header section (start line and headers) accepted on a stream.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// On a stream, how far into a body that is shorter than its
/// Content-Length the next start line is looked for.
pub const BODY_RESYNC_WINDOW: usize = 4096;
/// Largest body a stream message may announce; beyond it the message is
/// treated as broken instead of buffering an attacker-chosen length.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request { method: &'a [u8], uri: &'a [u8] },
    Response { status: u16, reason: &'a [u8] },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a [u8],
    /// Raw value, trimmed; may contain CR/LF + whitespace where the line was
    /// folded. Consumers treat those as linear white space.
    pub value: &'a [u8],
    pub kind: HeaderKind,
}

/// How the message is framed by its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One datagram: a missing Content-Length means "the rest", a too-large
    /// one is cut to what exists (with a note).
    Datagram,
    /// A byte stream (TCP, WebSocket reassembled): Content-Length is needed
    /// to know where the message ends; incomplete input is `Partial`.
    Stream,
}

/// Oddities seen while parsing that do not stop the analysis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseNotes {
    pub lf_only: bool,
    pub folded: bool,
    pub headers_dropped: u32,
    /// Content-Length announced more than the datagram holds.
    pub body_truncated: bool,
    pub no_content_length: bool,
    pub bad_content_length: bool,
}

#[derive(Clone)]
pub struct Message<'a> {
    pub start: StartLine<'a>,
    /// Only `headers[..header_count]` is initialised. Filling all
    /// MAX_HEADERS slots up front cost more than parsing the message; a
    /// `Header` is `Copy`, so nothing needs dropping either.
    headers: [MaybeUninit<Header<'a>>; MAX_HEADERS],
    header_count: usize,
    /// Per kind, 1 + the slot of its first header (0: none), so that
    /// [`Message::header`] is a lookup, not a walk over every header (a
    /// request is asked for about ten kinds).
    first_of_kind: [u8; KINDS],
    pub body: &'a [u8],
    /// The whole message as it stood in the input.
    pub raw: &'a [u8],
    pub notes: ParseNotes,
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("start", &self.start)
            .field("headers", &self.headers())
            .field("body", &self.body)
            .field("notes", &self.notes)
            .finish()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Status<T> {
    Complete(T),
    /// More bytes are needed (streams only).
    Partial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a SIP message")]
    NotSip,
    #[error("malformed start line")]
    BadStartLine,
    #[error("header section larger than {MAX_HEADER_BYTES} bytes")]
    HeadersTooLarge,
    #[error("Content-Length larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    #[error("header section not terminated")]
    Unterminated,
}

/// RFC 3261 token characters, as a table: checked for every byte of every
/// header name.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        c += 1;
    }
    t
};

fn is_token(c: u8) -> bool {
    TOKEN[usize::from(c)]
}

pub(crate) fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Name and value of a header line: the name is the (non-empty) token
/// before the first colon, white space around it allowed, the value what
/// follows the colon, trimmed. `None` when the line has no colon or the
/// part before it is not one token.
///
/// One pass over the name: a colon is neither a token character nor white
/// space, so the first byte after the token and its trailing white space
/// is the line's first colon exactly when the line is a header.
fn split_header_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = trim_start(line);
    let name_len = line
        .iter()
        .position(|&c| !is_token(c))
        .unwrap_or(line.len());
    let (name, after_name) = line.split_at(name_len);
    match trim_start(after_name) {
        [b':', value @ ..] if !name.is_empty() => Some((name, trim(value))),
        _ => None,
    }
}

/// Longest name [`plain_name_len`] looks for, well past any real one;
/// a longer one takes the general way ([`split_header_line`]).
const MAX_PLAIN_NAME: usize = 64;

/// Length of the header name that starts `line` when the colon follows it
/// directly (no white space around the name): the usual `Name: value`.
fn plain_name_len(line: &[u8]) -> Option<usize> {
    let head = &line[..line.len().min(MAX_PLAIN_NAME + 1)];
    let n = head.iter().position(|&c| !is_token(c))?;
    (n > 0 && head.get(n) == Some(&b':')).then_some(n)
}

/// `plain_name_len(&rest[..line_len])` and the name's kind, with the
/// name's bytes checked 16 at a time when 16 bytes are there (the line's
/// end or later bytes of the buffer may be among them). Every known name,
/// and most others, is letters, digits and '-' up to the colon; anything
/// else is looked at byte by byte.
#[inline(always)]
fn plain_name_in(rest: &[u8], line_len: usize) -> Option<(usize, HeaderKind)> {
    let line = rest.get(..line_len).unwrap_or(rest);
    if let Some(block) = rest.first_chunk::<16>() {
        // First byte that is not a letter, digit or '-' (16 if none).
        let n = (!name_byte_mask(block)).trailing_zeros() as usize;
        if n >= line.len() {
            // The line is all token bytes: no colon.
            return None;
        }
        match block.get(n) {
            // Not a token byte either: the name ends here.
            Some(&b':') if n > 0 => return Some((n, HeaderKind::classify_block(block, n))),
            Some(&c) if !is_token(c) => return None,
            Some(_) => {}
            // A long name (WWW-Authenticate, Proxy-Authorization): the
            // next 16 bytes the same way.
            None => {
                if let Some(next) = rest.get(16..).and_then(<[u8]>::first_chunk::<16>) {
                    let n = 16 + (!name_byte_mask(next)).trailing_zeros() as usize;
                    if n >= line.len() {
                        return None;
                    }
                    match next.get(n - 16) {
                        Some(&b':') => return Some((n, HeaderKind::classify(&line[..n]))),
                        Some(&c) if !is_token(c) => return None,
                        _ => {}
                    }
                }
            }
        }
    }
    let n = plain_name_len(line)?;
    Some((n, HeaderKind::classify(&line[..n])))
}

/// Bit `i` set where `block[i]` is an ASCII letter, digit or '-' (the
/// bytes of header names, all of them token characters).
///
/// SSE2 (part of every x86_64 CPU): range checks as signed compares after
/// shifting the range to the bottom of the signed bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn name_byte_mask(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: the load reads exactly the array's 16 bytes and needs no
    // alignment; the intrinsics are SSE2, always enabled on x86_64.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        // OR 0x20 makes 'A'..='Z' lower case and no other byte a letter;
        // adding 0x1f takes 'a'..='z' to -128..=-103.
        let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
        let letter = _mm_cmplt_epi8(
            _mm_add_epi8(lower, _mm_set1_epi8(0x1f)),
            _mm_set1_epi8(-102),
        );
        // Adding 0x50 takes '0'..='9' to -128..=-119.
        let digit = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(0x50)), _mm_set1_epi8(-118));
        let dash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8));
        let ok = _mm_or_si128(_mm_or_si128(letter, digit), dash);
        // movemask gives the 16 byte signs in the low 16 bits.
        _mm_movemask_epi8(ok) as u32
    }
}

/// [`name_byte_mask`] without SIMD, for other targets.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn name_byte_mask(block: &[u8; 16]) -> u32 {
    block.iter().enumerate().fold(0, |m, (i, &c)| {
        m | u32::from(c.is_ascii_alphanumeric() || c == b'-') << i
    })
}

/// [`split_header_line`] for a line whose first `name_len` bytes are the
/// name and the next one the colon (see [`plain_name_len`]).
fn split_at_colon(line: &[u8], name_len: usize) -> Option<(&[u8], &[u8])> {
    let (name, colon_value) = line.split_at_checked(name_len)?;
    let value = colon_value.get(1..)?;
    Some((
        name,
        match value {
            // The usual one space before the value.
            [b' ', c, ..] if *c > b' ' => trim_end(&value[1..]),
            _ => trim(value),
        },
    ))
}

/// Finds one byte value, like `memchr`. That goes to its AVX2 code through
/// a function pointer on every call, which costs more than searching a
/// ~40-byte header line or a Via; SSE2 is part of every x86_64 CPU, so its
/// searcher is made once and inlined.
#[derive(Clone, Copy)]
pub(crate) struct ByteFinder {
    needle: u8,
    #[cfg(target_arch = "x86_64")]
    sse2: Option<memchr::arch::x86_64::sse2::memchr::One>,
}

impl ByteFinder {
    #[inline(always)]
    pub(crate) fn new(needle: u8) -> ByteFinder {
        ByteFinder {
            needle,
            #[cfg(target_arch = "x86_64")]
            sse2: memchr::arch::x86_64::sse2::memchr::One::new(needle),
        }
    }

    #[inline(always)]
    pub(crate) fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(sse2) = &self.sse2 {
            return sse2.find(haystack);
        }
        memchr(self.needle, haystack)
    }
}

/// [`ByteFinder`] for either of two bytes, like `memchr2`: the digest
/// scanner looks for the end of every quoted value (a quote, or a
/// backslash that escapes the next byte), each a few dozen bytes.
#[derive(Clone, Copy)]
pub(crate) struct TwoByteFinder {
    needles: (u8, u8),
    #[cfg(target_arch = "x86_64")]
    sse2: Option<memchr::arch::x86_64::sse2::memchr::Two>,
}

impl TwoByteFinder {
    #[inline(always)]
    pub(crate) fn new(a: u8, b: u8) -> TwoByteFinder {
        TwoByteFinder {
            needles: (a, b),
            #[cfg(target_arch = "x86_64")]
            sse2: memchr::arch::x86_64::sse2::memchr::Two::new(a, b),
        }
    }

    #[inline(always)]
    pub(crate) fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(sse2) = &self.sse2 {
            return sse2.find(haystack);
        }
        memchr::memchr2(self.needles.0, self.needles.1, haystack)
    }
}

/// Bit `i` set where `block[i]` is '\n'.
///
/// Four SSE2 compares of 16 bytes (SSE2 is part of every x86_64 CPU, so
/// no runtime check is needed) and their byte masks joined into one word.
/// With [`name_byte_mask`] the only `unsafe` in the parser: the loads read
/// exactly the 64 bytes the array reference guarantees.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lf_mask(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let p = block.as_ptr().cast::<__m128i>();
    // SAFETY: `p.add(k)` for k < 4 points at 16 of the array's 64 bytes;
    // `_mm_loadu_si128` has no alignment requirement; the intrinsics are
    // SSE2, which the x86_64 target always enables.
    unsafe {
        let lf = _mm_set1_epi8(b'\n' as i8);
        let m = |k: usize| -> u64 {
            // movemask gives 16 bits, as a non-negative i32.
            u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p.add(k)), lf)) as u16)
        };
        m(0) | m(1) << 16 | m(2) << 32 | m(3) << 48
    }
}

/// [`lf_mask`] without SIMD, for other targets.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn lf_mask(block: &[u8; 64]) -> u64 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &c)| m | u64::from(c == b'\n') << i)
}

/// The line ends ('\n') of a buffer, found 64 bytes at a time: a header
/// section is read as one pass over bit masks instead of a search set up
/// per line. Positions must be asked for in increasing order (a smaller
/// one is still answered, by reloading).
struct LineEnds<'a> {
    buf: &'a [u8],
    /// `mask` covers `buf[base..base + 64]` (bits past the end are clear).
    base: usize,
    mask: u64,
}

impl<'a> LineEnds<'a> {
    fn new(buf: &'a [u8]) -> LineEnds<'a> {
        let mut ends = LineEnds {
            buf,
            base: 0,
            mask: 0,
        };
        ends.load(0);
        ends
    }

    /// Points the mask at the 64 bytes from `from` (fewer at the end).
    #[inline(always)]
    fn load(&mut self, from: usize) {
        self.base = from;
        let len = self.buf.len();
        let rest = self.buf.get(from..).unwrap_or_default();
        self.mask = if let Some(block) = rest.first_chunk::<64>() {
            lf_mask(block)
        } else if let Some(tail) = self.buf.last_chunk::<64>() {
            // The last 64 bytes, shifted so that bit 0 is `from`: past
            // `len - 64` here (else the first branch was taken) and before
            // `len` (`find` loads no further), so the shift is below 64.
            // (`checked_shr` cost 1% of the parse, in the loop's layout.)
            lf_mask(tail) >> (from - (len - 64))
        } else {
            // A buffer shorter than one block.
            rest.iter()
                .enumerate()
                .fold(0, |m, (i, &c)| m | u64::from(c == b'\n') << i)
        };
    }

    /// The first '\n' at or after `from` and before `end`, like
    /// `memchr(b'\n', &buf[from..end])` but as an index into the whole
    /// buffer (`end` past the buffer means its end).
    #[inline(always)]
    fn next_before(&mut self, from: usize, end: usize) -> Option<usize> {
        self.find::<true>(from, end)
    }

    /// The first '\n' at or after `from`.
    #[inline(always)]
    fn next(&mut self, from: usize) -> Option<usize> {
        self.find::<false>(from, usize::MAX)
    }

    #[inline(always)]
    fn find<const BOUNDED: bool>(&mut self, mut from: usize, end: usize) -> Option<usize> {
        loop {
            let offset = from.wrapping_sub(self.base);
            if offset < 64 {
                let m = self.mask & (!0u64 << offset);
                if m != 0 {
                    let at = self.base + m.trailing_zeros() as usize;
                    return (!BOUNDED || at < end).then_some(at);
                }
                from = self.base + 64;
            }
            if from >= self.buf.len().min(end) {
                return None;
            }
            self.load(from);
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r'] => rest,
        _ => line,
    }
}

/// How far [`looks_like_sip`] looks for the end of the start line.
pub const START_LINE_WINDOW: usize = 2048;

/// Does this look like the start of a SIP message? Cheap enough to run on
/// every UDP payload and to resynchronise a TCP stream.
pub fn looks_like_sip(buf: &[u8]) -> bool {
    let window = buf.len().min(START_LINE_WINDOW);
    let line_end = memchr(b'\n', &buf[..window]).unwrap_or(window);
    parse_start_line(strip_cr(&buf[..line_end])).is_ok()
}

/// `prefix` is "SIP/" in any case: the letters compared with their case
/// bit set, the '/' exactly (as `eq_ignore_ascii_case`).
fn is_sip_slash(prefix: &[u8; 4]) -> bool {
    u32::from_le_bytes(*prefix) | 0x0020_2020 == u32::from_le_bytes(*b"sip/")
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    if let Some(head) = line
        .first_chunk::<8>()
        .filter(|h| h.first_chunk::<4>().is_some_and(is_sip_slash))
    {
        // SIP/2.0 SP Status-Code SP Reason-Phrase. The first space is
        // after "SIP/2.0" but in odd messages.
        let sp = if head[4..] == *b"2.0 " {
            7
        } else {
            line.iter()
                .position(|&c| c == b' ')
                .ok_or(ParseError::BadStartLine)?
        };
        let rest = match &line[sp..] {
            // One space before a status code (no leading space to trim).
            [_, c, ..] if *c > b' ' => trim_end(&line[sp + 1..]),
            after => trim(after),
        };
        if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
            return Err(ParseError::BadStartLine);
        }
        if rest.len() > 3 && !rest[3].is_ascii_whitespace() {
            return Err(ParseError::BadStartLine);
        }
        let status = rest[..3]
            .iter()
            .fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&status) {
            return Err(ParseError::BadStartLine);
        }
        return Ok(StartLine::Response {
            status,
            reason: trim(&rest[3..]),
        });
    }
    // Method SP Request-URI SP SIP-Version. The method is a token ending at
    // the first space: one scan finds and checks it. The spaces are a few
    // bytes from either end, too close for a memchr call to pay.
    let method_len = method_len(line);
    if method_len == 0 || line.get(method_len) != Some(&b' ') {
        return Err(ParseError::NotSip);
    }
    let (method, sp_rest) = line.split_at(method_len);
    let rest = &sp_rest[1..];
    let sp2 = if rest.ends_with(b" SIP/2.0") {
        // The usual version: its space is the last one, and it passes the
        // checks below.
        rest.len() - 8
    } else {
        let sp2 = rest
            .iter()
            .rposition(|&c| c == b' ')
            .ok_or(ParseError::NotSip)?;
        let version = trim(&rest[sp2 + 1..]);
        if version.len() < 5 || !version[..4].eq_ignore_ascii_case(b"SIP/") {
            return Err(ParseError::NotSip);
        }
        sp2
    };
    let uri = trim(&rest[..sp2]);
    if uri.is_empty() {
        return Err(ParseError::BadStartLine);
    }
    Ok(StartLine::Request { method, uri })
}

/// Length of the token that starts `line` (a request's method): with 16
/// bytes there, letters, digits and '-' are found at once, and only
/// another token byte is looked at byte by byte.
#[inline(always)]
fn method_len(line: &[u8]) -> usize {
    if let Some(block) = line.first_chunk::<16>() {
        let n = (!name_byte_mask(block)).trailing_zeros() as usize;
        match block.get(n) {
            Some(&c) if !is_token(c) => return n,
            _ => {}
        }
    }
    line.iter()
        .position(|&c| !is_token(c))
        .unwrap_or(line.len())
}

impl<'a> Message<'a> {
    /// An empty message for [`Message::parse_into`]: costs nothing to make
    /// (the header slots stay uninitialised).
    pub fn blank() -> Message<'a> {
        Message {
            start: StartLine::Response {
                status: 0,
                reason: b"",
            },
            headers: [const { MaybeUninit::uninit() }; MAX_HEADERS],
            header_count: 0,
            first_of_kind: [0; KINDS],
            body: b"",
            raw: b"",
            notes: ParseNotes::default(),
        }
    }

    /// Parses one message from the front of `buf`. On success the message's
    /// `raw.len()` says how many bytes it took.
    pub fn parse(buf: &'a [u8], framing: Framing) -> Result<Status<Message<'a>>, ParseError> {
        let mut msg = Message::blank();
        Ok(match msg.parse_into(buf, framing)? {
            Status::Complete(()) => Status::Complete(msg),
            Status::Partial => Status::Partial,
        })
    }

    /// [`Message::parse`] into `self` (whatever it held is replaced): the
    /// hot path parses into a message on its own stack, because returning
    /// one by value copies its few KiB of header slots.
    pub fn parse_into(
        &mut self,
        buf: &'a [u8],
        framing: Framing,
    ) -> Result<Status<()>, ParseError> {
        let mut ends = LineEnds::new(buf);
        let first_nl = match ends.next_before(0, MAX_HEADER_BYTES) {
            Some(i) => i,
            None => {
                if framing == Framing::Stream && buf.len() < MAX_HEADER_BYTES {
                    // Decide early whether this can become SIP at all.
                    return if buf.is_empty() || could_start_sip(buf) {
                        Ok(Status::Partial)
                    } else {
                        Err(ParseError::NotSip)
                    };
                }
                // A datagram with one line and no line end.
                parse_start_line(strip_cr(buf))?;
                return Err(ParseError::Unterminated);
            }
        };
        let start = parse_start_line(strip_cr(&buf[..first_nl]))?;
        let msg = self;
        msg.start = start;
        msg.header_count = 0;
        msg.first_of_kind = [0; KINDS];
        msg.body = b"";
        msg.raw = b"";
        msg.notes = ParseNotes::default();
        if first_nl == 0 || buf[first_nl - 1] != b'\r' {
            msg.notes.lf_only = true;
        }
        let mut pos = first_nl + 1;
        let mut content_length: Option<usize> = None;
        let body_start;
        // A header line ends at LF; it continues while the next line starts
        // with SP/HT (folding). An empty line ends the section.
        loop {
            if pos > MAX_HEADER_BYTES {
                return Err(ParseError::HeadersTooLarge);
            }
            let Some(mut line_end) = ends.next(pos) else {
                if framing == Framing::Stream {
                    return if buf.len() > MAX_HEADER_BYTES {
                        Err(ParseError::HeadersTooLarge)
                    } else {
                        Ok(Status::Partial)
                    };
                }
                // A datagram whose header section is not terminated: take the
                // last line if any and treat the message as having no body.
                let line = strip_cr(&buf[pos..]);
                if !line.is_empty() {
                    msg.push_header_line(line);
                }
                body_start = buf.len();
                break;
            };
            let line = strip_cr(&buf[pos..line_end]);
            if line.is_empty() {
                body_start = line_end + 1;
                break;
            }
            let first_end = line_end;
            // Folding: extend over continuation lines.
            loop {
                let next = line_end + 1;
                match buf.get(next) {
                    Some(b' ') | Some(b'\t') => {
                        msg.notes.folded = true;
                        match ends.next(next) {
                            Some(r) => line_end = r,
                            None => {
                                if framing == Framing::Stream {
                                    return Ok(Status::Partial);
                                }
                                line_end = buf.len();
                                break;
                            }
                        }
                    }
                    None if framing == Framing::Stream => {
                        // Past the cap already: more bytes cannot help.
                        return if next > MAX_HEADER_BYTES {
                            Err(ParseError::HeadersTooLarge)
                        } else {
                            Ok(Status::Partial)
                        };
                    }
                    _ => break,
                }
            }
            let full = if line_end == first_end {
                line
            } else {
                strip_cr(&buf[pos..line_end.min(buf.len())])
            };
            // Most lines are `Name: value`: their name is scanned once, here.
            let header = match plain_name_in(&buf[pos..], full.len()) {
                Some((n, kind)) => split_at_colon(full, n).map(|(name, value)| (name, value, kind)),
                None => split_header_line(full)
                    .map(|(name, value)| (name, value, HeaderKind::classify(name))),
            };
            if let Some((name, value, kind)) = header {
                let h = msg.push_header(name, value, kind);
                if h.kind == HeaderKind::ContentLength {
                    match parse_usize(trim(h.value)) {
                        Some(n) => content_length = Some(n),
                        None => msg.notes.bad_content_length = true,
                    }
                }
            }
            pos = line_end + 1;
            if pos >= buf.len() {
                if framing == Framing::Stream {
                    // Past the cap already: more bytes cannot help.
                    return if pos > MAX_HEADER_BYTES {
                        Err(ParseError::HeadersTooLarge)
                    } else {
                        Ok(Status::Partial)
                    };
                }
                body_start = buf.len();
                break;
            }
        }
        let available = buf.len().saturating_sub(body_start);
        let body_len = match (content_length, framing) {
            (Some(n), Framing::Stream) => {
                if n > MAX_BODY_BYTES {
                    return Err(ParseError::BodyTooLarge);
                }
                if n > available {
                    // A Content-Length larger than what follows: when the
                    // bytes that did arrive already start the next message,
                    // the length is wrong, and waiting for it would swallow
                    // the messages after it. Frame to what exists.
                    match next_start_line(&buf[body_start..], msg) {
                        Some(k) => {
                            msg.notes.body_truncated = true;
                            k
                        }
                        None => return Ok(Status::Partial),
                    }
                } else {
                    n
                }
            }
            (None, Framing::Stream) => {
                msg.notes.no_content_length = true;
                0
            }
            (Some(n), Framing::Datagram) => {
                if n > available {
                    msg.notes.body_truncated = true;
                    available
                } else {
                    n
                }
            }
            (None, Framing::Datagram) => {
                msg.notes.no_content_length = true;
                available
            }
        };
        let end = body_start.min(buf.len()) + body_len;
        msg.body = &buf[body_start.min(buf.len())..end];
        msg.raw = &buf[..end];
        Ok(Status::Complete(()))
    }

    fn push_header_line(&mut self, line: &'a [u8]) -> Option<Header<'a>> {
        let (name, value) = split_header_line(line)?;
        Some(self.push_header(name, value, HeaderKind::classify(name)))
    }

    /// Keeps a header, or only counts it once the slots are full.
    fn push_header(&mut self, name: &'a [u8], value: &'a [u8], kind: HeaderKind) -> Header<'a> {
        let h = Header { name, value, kind };
        match self.headers.get_mut(self.header_count) {
            Some(slot) => {
                slot.write(h);
                self.header_count += 1;
                let first = &mut self.first_of_kind[kind as usize];
                if *first == 0 {
                    // At most MAX_HEADERS (96): fits.
                    *first = self.header_count as u8;
                }
            }
            None => self.notes.headers_dropped += 1,
        }
        h
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn headers(&self) -> &[Header<'a>] {
        let init = &self.headers[..self.header_count];
        // SAFETY: the first `header_count` slots were written by
        // `push_header_line` and are never un-initialised again;
        // `MaybeUninit<T>` has the layout of `T`.
        unsafe { std::slice::from_raw_parts(init.as_ptr().cast::<Header<'a>>(), init.len()) }
    }

    /// The first header of `kind`.
    pub fn header(&self, kind: HeaderKind) -> Option<&'a [u8]> {
        let first = usize::from(self.first_of_kind[kind as usize]);
        self.headers().get(first.checked_sub(1)?).map(|h| h.value)
    }

    /// Every header of `kind`, in order.
    pub fn headers_of(&self, kind: HeaderKind) -> impl Iterator<Item = &'a [u8]> + '_ {
        let first = usize::from(self.first_of_kind[kind as usize]);
        let from = first.checked_sub(1).unwrap_or(self.header_count);
        self.headers()[from..]
            .iter()
            .filter(move |h| h.kind == kind)
            .map(|h| h.value)
    }

    /// A header by name (case-insensitive), for headers without a kind.
    pub fn header_named(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value)
    }

    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.header(HeaderKind::CallId)
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &'a [u8])> {
        cseq_of(self.header(HeaderKind::CSeq)?)
    }

    /// The top Via value (first header, first comma-separated entry).
    pub fn top_via(&self) -> Option<&'a [u8]> {
        let v = self.header(HeaderKind::Via)?;
        let comma = ByteFinder::new(b',').find(v);
        Some(trim(&v[..comma.unwrap_or(v.len())]))
    }

    /// The branch parameter of the top Via.
    pub fn via_branch(&self) -> Option<&'a [u8]> {
        known_param(self.top_via()?, b"branch")
    }
}

/// Where, in the bytes after a header section, a complete SIP start line
/// begins (at the start or after a line end), unless the body is meant to
/// hold SIP (message/sipfrag, message/sip, multipart).
fn next_start_line(body: &[u8], msg: &Message<'_>) -> Option<usize> {
    if let Some(ct) = msg.header(HeaderKind::ContentType) {
        let ct = trim(ct);
        let is = |p: &[u8]| ct.len() >= p.len() && ct[..p.len()].eq_ignore_ascii_case(p);
        if is(b"message/") || is(b"multipart/") {
            return None;
        }
    }
    // Only the first bytes are searched: a stream re-parses its pending
    // message on every segment, so a whole-body search would make a body
    // sent in many small segments quadratic. Real bodies that lie about
    // their length are short (SDP).
    let window = &body[..body.len().min(BODY_RESYNC_WINDOW)];
    let mut pos = 0;
    loop {
        let line_end = memchr(b'\n', &window[pos..])?;
        if looks_like_sip(&body[pos..]) {
            return Some(pos);
        }
        pos += line_end + 1;
    }
}

/// Could these bytes (without a line end yet) grow into a SIP start line?
fn could_start_sip(buf: &[u8]) -> bool {
    let n = buf.len().min(16);
    let head = &buf[..n];
    if head.len() >= 4 && head[..4].eq_ignore_ascii_case(b"SIP/") {
        return true;
    }
    if b"SIP/"[..head.len().min(4)].eq_ignore_ascii_case(&head[..head.len().min(4)]) {
        return true;
    }
    match memchr(b' ', head) {
        Some(sp) => sp > 0 && head[..sp].iter().all(|&c| is_token(c)),
        None => head.iter().all(|&c| is_token(c)),
    }
}

/// A CSeq value's number and method: digits (at most 12, as
/// [`parse_usize`] takes them), white space, then a method. Read in one
/// pass (it is asked for twice per message); the same answers as
/// splitting the trimmed value at its first white space.
fn cseq_of(value: &[u8]) -> Option<(u32, &[u8])> {
    let v = trim_start(value);
    let digits = v.iter().take(13).take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 12 || !v.get(digits)?.is_ascii_whitespace() {
        return None;
    }
    let n = v[..digits]
        .iter()
        .fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
    let method = trim(&v[digits..]);
    if method.is_empty() {
        return None;
    }
    Some((u32::try_from(n).ok()?, method))
}

pub(crate) fn parse_usize(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 12 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0usize, |a, d| a * 10 + usize::from(d - b'0')))
}

/// A `;name=value` parameter of a header value (Via, From, To, Contact).
pub fn param<'a>(value: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    param_where(value, name.len(), |n| n.eq_ignore_ascii_case(name))
}

/// [`param`] for a name of lower-case letters known when compiling (the
/// Via's branch, a From's tag: asked for every message), compared the
/// way header names are ([`super::header::eq_known_name`]: without a
/// branch per byte, where `eq_ignore_ascii_case` folds and compares byte
/// by byte).
pub(crate) fn known_param<'a, const N: usize>(value: &'a [u8], name: &[u8; N]) -> Option<&'a [u8]> {
    param_where(value, N, |n| {
        <&[u8; N]>::try_from(n).is_ok_and(|n| super::header::eq_known_name(n, name))
    })
}

/// The parameter whose name is the `name_len` bytes `is_name` accepts.
#[inline(always)]
fn param_where(
    value: &[u8],
    name_len: usize,
    is_name: impl Fn(&[u8]) -> bool + Copy,
) -> Option<&[u8]> {
    if value.len() <= SHORT_VALUE {
        return param_in_short(value, name_len, is_name);
    }
    param_in_long(value, name_len, is_name)
}

/// Values up to this long (nearly every Via, From and To) are searched as
/// bit masks, like the header section ([`LineEnds`]).
const SHORT_VALUE: usize = 128;

/// Bit `i` set where `block[i] == b`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn eq_mask(block: &[u8; 16], b: u8) -> u16 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    // SAFETY: the load reads exactly the array's 16 bytes and needs no
    // alignment; the intrinsics are SSE2, always enabled on x86_64.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))) as u16
    }
}

/// [`eq_mask`] without SIMD, for other targets.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn eq_mask(block: &[u8; 16], b: u8) -> u16 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &c)| m | u16::from(c == b) << i)
}

/// [`param`] of a value of at most [`SHORT_VALUE`] bytes: the '>' and ';'
/// of the whole value in two 128-bit masks, made a 16-byte block at a time
/// from a zero-padded copy (zeros match neither), then the pieces walked
/// bit by bit.
fn param_in_short(
    value: &[u8],
    name_len: usize,
    is_name: impl Fn(&[u8]) -> bool + Copy,
) -> Option<&[u8]> {
    let mut padded = [0u8; SHORT_VALUE];
    padded[..value.len()].copy_from_slice(value);
    let (mut gt, mut semi) = (0u128, 0u128);
    for (k, block) in padded.chunks_exact(16).enumerate() {
        if k * 16 >= value.len() {
            break;
        }
        let block: &[u8; 16] = block.try_into().unwrap_or(&[0; 16]);
        gt |= u128::from(eq_mask(block, b'>')) << (k * 16);
        semi |= u128::from(eq_mask(block, b';')) << (k * 16);
    }
    // Parameters after a name-addr's '>' or anywhere in a Via: only the
    // semicolons after the first '>' count.
    if gt != 0 {
        // The bits above the first '>' (none when it is the last byte).
        semi &= u128::MAX.checked_shl(gt.trailing_zeros() + 1).unwrap_or(0);
    }
    // The first ';' begins the parameters: the piece before it is the
    // value itself (`split(';').skip(1)`).
    if semi == 0 {
        return None;
    }
    let mut from = semi.trailing_zeros() as usize + 1;
    semi &= semi - 1;
    loop {
        let end = if semi == 0 {
            value.len()
        } else {
            semi.trailing_zeros() as usize
        };
        if let Some(v) = value_if_named(&value[from..end], name_len, is_name) {
            return Some(v);
        }
        if semi == 0 {
            return None;
        }
        semi &= semi - 1;
        from = end + 1;
    }
}

/// [`param`] of a longer value.
fn param_in_long(
    value: &[u8],
    name_len: usize,
    is_name: impl Fn(&[u8]) -> bool + Copy,
) -> Option<&[u8]> {
    // Parameters after a name-addr's '>' or anywhere in a Via.
    let start = ByteFinder::new(b'>').find(value).map_or(0, |i| i + 1);
    let rest = &value[start..];
    // The ';'-separated pieces after the first one (as `split(';').skip(1)`
    // would give them, found a vector at a time instead of byte by byte).
    let semicolon = ByteFinder::new(b';');
    let mut from = semicolon.find(rest)? + 1;
    loop {
        let end = semicolon
            .find(&rest[from..])
            .map_or(rest.len(), |i| from + i);
        if let Some(v) = value_if_named(&rest[from..end], name_len, is_name) {
            return Some(v);
        }
        if end == rest.len() {
            return None;
        }
        from = end + 1;
    }
}

/// The value of one `name=value` (or bare `name`) parameter when it is
/// called `name`. Most pieces are some other parameter: they are turned
/// down on their first bytes, before any search for the '='.
#[inline(always)]
fn value_if_named(piece: &[u8], name_len: usize, is_name: impl Fn(&[u8]) -> bool) -> Option<&[u8]> {
    let p = trim_start(piece);
    if !is_name(p.get(..name_len)?) {
        return None;
    }
    // `name` has no '=' or white space: what follows it decides.
    match trim_start(&p[name_len..]).split_first() {
        None => Some(b""),
        Some((b'=', value)) => Some(trim(value)),
        Some(_) => None,
    }
}

/// The parts of a From/To/Contact value the analysis needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    pub uri: &'a [u8],
    pub tag: Option<&'a [u8]>,
}

impl<'a> NameAddr<'a> {
    pub fn parse(value: &'a [u8]) -> NameAddr<'a> {
        NameAddr {
            uri: NameAddr::uri_of(value),
            tag: known_param(trim(value), b"tag"),
        }
    }

    /// Only the URI of [`NameAddr::parse`], without looking for the tag.
    pub fn uri_of(value: &'a [u8]) -> &'a [u8] {
        let value = trim(value);
        if let Some(lt) = ByteFinder::new(b'<').find(value) {
            let gt = ByteFinder::new(b'>').find(&value[lt..]).map(|g| lt + g);
            let uri = match gt {
                Some(g) => &value[lt + 1..g],
                None => &value[lt + 1..],
            };
            return trim(uri);
        }
        // addr-spec form: the URI ends at the first ';' (header params).
        let end = ByteFinder::new(b';').find(value).unwrap_or(value.len());
        trim(&value[..end])
    }
}

/// User and host of a SIP/SIPS/TEL URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UriParts<'a> {
    pub scheme: &'a [u8],
    pub user: Option<&'a [u8]>,
    pub host: &'a [u8],
    pub port: Option<u16>,
}

impl<'a> UriParts<'a> {
    /// `UriParts::parse(uri).user`, in one pass over the bytes (reports
    /// and rules ask for the user of every exchange).
    pub fn user_of(uri: &'a [u8]) -> Option<&'a [u8]> {
        let uri = trim(uri);
        // The scheme: letters before the first ':' (none: no scheme).
        let letters = uri.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let (tel, rest) = match uri.get(letters) {
            Some(b':') if letters > 0 => (
                uri[..letters].eq_ignore_ascii_case(b"tel"),
                &uri[letters + 1..],
            ),
            // Not letters alone before the first ':': no scheme.
            _ => (false, uri),
        };
        // The user ends at the last '@' before parameters or headers.
        let mut end = rest.len();
        let mut at = None;
        for (i, &b) in rest.iter().enumerate() {
            match b {
                b';' | b'?' | b'>' => {
                    end = i;
                    break;
                }
                b'@' => at = Some(i),
                _ => {}
            }
        }
        let user = match at {
            Some(at) => &rest[..at],
            None if tel => &rest[..end],
            None => return None,
        };
        // The user may carry ":password"; only the user is kept.
        Some(match user.iter().position(|&b| b == b':') {
            Some(c) => &user[..c],
            None => user,
        })
    }

    pub fn parse(uri: &'a [u8]) -> UriParts<'a> {
        let uri = trim(uri);
        let (scheme, rest) = match memchr(b':', uri) {
            Some(c) if uri[..c].iter().all(|b| b.is_ascii_alphabetic()) && c > 0 => {
                (&uri[..c], &uri[c + 1..])
            }
            _ => (&b""[..], uri),
        };
        // Parameters and headers end the hostport.
        let end = rest
            .iter()
            .position(|&c| c == b';' || c == b'?' || c == b'>')
            .unwrap_or(rest.len());
        let rest = &rest[..end];
        let (user, hostport) = match memchr::memrchr(b'@', rest) {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None if scheme.eq_ignore_ascii_case(b"tel") => (Some(rest), &b""[..]),
            None => (None, rest),
        };
        // user may carry ":password"; keep only the user.
        let user = user.map(|u| match memchr(b':', u) {
            Some(c) => &u[..c],
            None => u,
        });
        let (host, port) = if hostport.first() == Some(&b'[') {
            match memchr(b']', hostport) {
                Some(rb) => {
                    let port = hostport
                        .get(rb + 2..)
                        .filter(|_| hostport.get(rb + 1) == Some(&b':'))
                        .and_then(parse_usize)
                        .and_then(|p| u16::try_from(p).ok());
                    (&hostport[..=rb], port)
                }
                None => (hostport, None),
            }
        } else {
            match memchr(b':', hostport) {
                Some(c) => (
                    &hostport[..c],
                    parse_usize(&hostport[c + 1..]).and_then(|p| u16::try_from(p).ok()),
                ),
                None => (hostport, None),
            }
        };
        UriParts {
            scheme,
            user,
            host,
            port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_of_is_the_parsed_user() {
        for uri in [
            &b"sip:30060@pbx.example"[..],
            b"sips:alice:secret@h:5061;transport=tls",
            b"tel:+4930123",
            b"TEL:+49;phone-context=x",
            b"<sip:bob@b>",
            b"alice@host",
            b"1sip:a@b",
            b":a@b",
            b"sip:",
            b"",
            b"  sip:a@b@c ",
            b"sip:a;x@b",
            b"sip:host",
        ] {
            assert_eq!(UriParts::user_of(uri), UriParts::parse(uri).user, "{uri:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn user_of_finds_what_parse_finds(
            uri in proptest::collection::vec(
                proptest::sample::select(b"sip:tel@;?>:[]aZ1 .".to_vec()), 0..16),
        ) {
            proptest::prop_assert_eq!(UriParts::user_of(&uri), UriParts::parse(&uri).user);
        }
    }

    /// `param` as it was written first (split byte by byte).
    fn param_by_split<'a>(value: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        let start = memchr(b'>', value).map(|i| i + 1).unwrap_or(0);
        for p in value[start..].split(|&c| c == b';').skip(1) {
            let p = trim(p);
            let (n, v) = match memchr(b'=', p) {
                Some(eq) => (trim(&p[..eq]), trim(&p[eq + 1..])),
                None => (p, &b""[..]),
            };
            if n.eq_ignore_ascii_case(name) {
                return Some(v);
            }
        }
        None
    }

    #[test]
    fn param_at_the_edges_of_the_short_value_masks() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for len in [15, 16, 17, 63, 64, 65, 127, 128, 129] {
            for gt_at in [None, Some(0), Some(len / 2), Some(len - 1)] {
                for semi_at in [0, len / 3, len - 1] {
                    let mut v = vec![b'a'; len];
                    v[semi_at] = b';';
                    if let Some(g) = gt_at {
                        v[g] = b'>';
                    }
                    cases.push(v);
                }
            }
        }
        cases.push(b";a;".repeat(43)); // 129 bytes
        cases.push(b"<sip:a@b>;tag=x".to_vec());
        cases.push([&b"x>"[..], &[b';'; 126]].concat());
        for v in &cases {
            for name in [&b"a"[..], b"", b"aaaa"] {
                assert_eq!(param(v, name), param_by_split(v, name), "{v:?} {name:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn param_finds_what_a_split_finds(
            value in proptest::collection::vec(
                proptest::sample::select(b"ab;=> \tTAG,".to_vec()), 0..24),
            name in proptest::sample::select(vec![&b"tag"[..], b"a", b"", b"branch", b"b"]),
        ) {
            proptest::prop_assert_eq!(param(&value, name), param_by_split(&value, name));
        }

        /// The branch and tag as the correlator asks for them: the same
        /// answers, in any case, around and past the short-value limit.
        #[test]
        fn known_names_find_what_param_finds(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"tag"[..], b"TAG", b"Tag", b"tAg", b"ta", b"tagg", b"branch",
                    b"BRANCH", b"Branch", b"brancH", b"branc", b"branchx", b"z9hG4bK",
                    b";", b"=", b" ", b"\t", b">", b"<", b"-", b"sip:a@b",
                ]),
                0..40),
        ) {
            let value = pieces.concat();
            proptest::prop_assert_eq!(known_param(&value, b"tag"), param(&value, b"tag"));
            proptest::prop_assert_eq!(known_param(&value, b"branch"), param(&value, b"branch"));
            proptest::prop_assert_eq!(known_param(&value, b"tag"), param_by_split(&value, b"tag"));
        }

        /// Around and past the short-value limit, and with the bytes the
        /// masks look for in every block.
        #[test]
        fn param_finds_what_a_split_finds_in_long_values(
            value in proptest::collection::vec(
                proptest::sample::select(b"aab;;=>  TAG\0".to_vec()), 100..180),
            name in proptest::sample::select(vec![&b"tag"[..], b"a", b"", b"b", b"ab"]),
        ) {
            proptest::prop_assert_eq!(param(&value, name), param_by_split(&value, name));
        }
    }

    #[test]
    fn param_edge_cases() {
        for v in [
            &b""[..],
            b";",
            b";;",
            b"a;",
            b"a;b",
            b"a; tag = x ;",
            b"<s:a;tag=1>;tag=2",
            b"<s:a;tag=1>",
            b"x;TAG",
            b"x;tag",
            b"x;b=1;tag=2;",
            b"SIP/2.0/UDP h;branch=z;rport",
        ] {
            for n in [&b"tag"[..], b"branch", b"", b"b"] {
                assert_eq!(param(v, n), param_by_split(v, n), "{:?} {:?}", v, n);
            }
        }
    }

    /// What `HeaderKind::classify` must answer, said plainly: a one-letter
    /// compact form, or a known name in any case, else `Other`.
    fn spec_classify(name: &[u8]) -> HeaderKind {
        if let [letter] = name {
            return crate::sip::header::compact_form(letter.to_ascii_lowercase());
        }
        HeaderKind::KNOWN
            .into_iter()
            .find(|k| k.canonical().as_bytes().eq_ignore_ascii_case(name))
            .unwrap_or(HeaderKind::Other)
    }

    /// The parser as it was before the single-pass header lines (commit
    /// b906b91), kept but for `self` becoming `msg` and header names
    /// classified by [`spec_classify`]: the differential tests below hold
    /// the new shortcuts to its exact answers.
    mod reference {
        use super::super::*;
        use memchr::memchr;

        pub fn parse_into<'a>(
            msg: &mut Message<'a>,
            buf: &'a [u8],
            framing: Framing,
        ) -> Result<Status<()>, ParseError> {
            let first_nl = match memchr(b'\n', &buf[..buf.len().min(MAX_HEADER_BYTES)]) {
                Some(i) => i,
                None => {
                    if framing == Framing::Stream && buf.len() < MAX_HEADER_BYTES {
                        // Decide early whether this can become SIP at all.
                        return if buf.is_empty() || could_start_sip(buf) {
                            Ok(Status::Partial)
                        } else {
                            Err(ParseError::NotSip)
                        };
                    }
                    // A datagram with one line and no line end.
                    parse_start_line(strip_cr(buf))?;
                    return Err(ParseError::Unterminated);
                }
            };
            let start = parse_start_line(strip_cr(&buf[..first_nl]))?;
            msg.start = start;
            msg.header_count = 0;
            msg.body = b"";
            msg.raw = b"";
            msg.notes = ParseNotes::default();
            if first_nl == 0 || buf[first_nl - 1] != b'\r' {
                msg.notes.lf_only = true;
            }
            let mut pos = first_nl + 1;
            let mut content_length: Option<usize> = None;
            let body_start;
            // A header line ends at LF; it continues while the next line starts
            // with SP/HT (folding). An empty line ends the section.
            loop {
                if pos > MAX_HEADER_BYTES {
                    return Err(ParseError::HeadersTooLarge);
                }
                let Some(rel) = memchr(b'\n', &buf[pos..]) else {
                    if framing == Framing::Stream {
                        return if buf.len() > MAX_HEADER_BYTES {
                            Err(ParseError::HeadersTooLarge)
                        } else {
                            Ok(Status::Partial)
                        };
                    }
                    // A datagram whose header section is not terminated: take the
                    // last line if any and treat the message as having no body.
                    let line = strip_cr(&buf[pos..]);
                    if !line.is_empty() {
                        push_header_line(msg, line);
                    }
                    body_start = buf.len();
                    break;
                };
                let mut line_end = pos + rel; // index of '\n'
                let line = strip_cr(&buf[pos..line_end]);
                if line.is_empty() {
                    body_start = line_end + 1;
                    break;
                }
                // Folding: extend over continuation lines.
                loop {
                    let next = line_end + 1;
                    match buf.get(next) {
                        Some(b' ') | Some(b'\t') => {
                            msg.notes.folded = true;
                            match memchr(b'\n', &buf[next..]) {
                                Some(r) => line_end = next + r,
                                None => {
                                    if framing == Framing::Stream {
                                        return Ok(Status::Partial);
                                    }
                                    line_end = buf.len();
                                    break;
                                }
                            }
                        }
                        None if framing == Framing::Stream => {
                            // Past the cap already: more bytes cannot help.
                            return if next > MAX_HEADER_BYTES {
                                Err(ParseError::HeadersTooLarge)
                            } else {
                                Ok(Status::Partial)
                            };
                        }
                        _ => break,
                    }
                }
                let full = strip_cr(&buf[pos..line_end.min(buf.len())]);
                if let Some(h) = push_header_line(msg, full) {
                    if h.kind == HeaderKind::ContentLength {
                        match parse_usize(trim(h.value)) {
                            Some(n) => content_length = Some(n),
                            None => msg.notes.bad_content_length = true,
                        }
                    }
                }
                pos = line_end + 1;
                if pos >= buf.len() {
                    if framing == Framing::Stream {
                        // Past the cap already: more bytes cannot help.
                        return if pos > MAX_HEADER_BYTES {
                            Err(ParseError::HeadersTooLarge)
                        } else {
                            Ok(Status::Partial)
                        };
                    }
                    body_start = buf.len();
                    break;
                }
            }
            let available = buf.len().saturating_sub(body_start);
            let body_len = match (content_length, framing) {
                (Some(n), Framing::Stream) => {
                    if n > MAX_BODY_BYTES {
                        return Err(ParseError::BodyTooLarge);
                    }
                    if n > available {
                        // A Content-Length larger than what follows: when the
                        // bytes that did arrive already start the next message,
                        // the length is wrong, and waiting for it would swallow
                        // the messages after it. Frame to what exists.
                        match next_start_line(&buf[body_start..], msg) {
                            Some(k) => {
                                msg.notes.body_truncated = true;
                                k
                            }
                            None => return Ok(Status::Partial),
                        }
                    } else {
                        n
                    }
                }
                (None, Framing::Stream) => {
                    msg.notes.no_content_length = true;
                    0
                }
                (Some(n), Framing::Datagram) => {
                    if n > available {
                        msg.notes.body_truncated = true;
                        available
                    } else {
                        n
                    }
                }
                (None, Framing::Datagram) => {
                    msg.notes.no_content_length = true;
                    available
                }
            };
            let end = body_start.min(buf.len()) + body_len;
            msg.body = &buf[body_start.min(buf.len())..end];
            msg.raw = &buf[..end];
            Ok(Status::Complete(()))
        }

        fn push_header_line<'a>(msg: &mut Message<'a>, line: &'a [u8]) -> Option<Header<'a>> {
            let colon = memchr(b':', line)?;
            let name = trim(&line[..colon]);
            if name.is_empty() || !name.iter().all(|&c| is_token(c)) {
                return None;
            }
            let h = Header {
                name,
                value: trim(&line[colon + 1..]),
                kind: super::spec_classify(name),
            };
            match msg.headers.get_mut(msg.header_count) {
                Some(slot) => {
                    slot.write(h);
                    msg.header_count += 1;
                }
                None => msg.notes.headers_dropped += 1,
            }
            Some(h)
        }

        pub fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
            if line.len() >= 8 && line[..4].eq_ignore_ascii_case(b"SIP/") {
                // SIP/2.0 SP Status-Code SP Reason-Phrase
                let sp = memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
                let rest = trim(&line[sp..]);
                if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
                    return Err(ParseError::BadStartLine);
                }
                if rest.len() > 3 && !rest[3].is_ascii_whitespace() {
                    return Err(ParseError::BadStartLine);
                }
                let status = rest[..3]
                    .iter()
                    .fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
                if !(100..=699).contains(&status) {
                    return Err(ParseError::BadStartLine);
                }
                return Ok(StartLine::Response {
                    status,
                    reason: trim(&rest[3..]),
                });
            }
            // Method SP Request-URI SP SIP-Version
            let sp1 = memchr(b' ', line).ok_or(ParseError::NotSip)?;
            let method = &line[..sp1];
            if method.is_empty() || !method.iter().all(|&c| is_token(c)) {
                return Err(ParseError::NotSip);
            }
            let rest = &line[sp1 + 1..];
            let sp2 = memchr::memrchr(b' ', rest).ok_or(ParseError::NotSip)?;
            let version = trim(&rest[sp2 + 1..]);
            if version.len() < 5 || !version[..4].eq_ignore_ascii_case(b"SIP/") {
                return Err(ParseError::NotSip);
            }
            let uri = trim(&rest[..sp2]);
            if uri.is_empty() {
                return Err(ParseError::BadStartLine);
            }
            Ok(StartLine::Request { method, uri })
        }

        fn trim(mut s: &[u8]) -> &[u8] {
            while let [first, rest @ ..] = s {
                if first.is_ascii_whitespace() {
                    s = rest;
                } else {
                    break;
                }
            }
            while let [rest @ .., last] = s {
                if last.is_ascii_whitespace() {
                    s = rest;
                } else {
                    break;
                }
            }
            s
        }

        /// Does this look like the start of a SIP message? Cheap enough to run on
        /// every UDP payload and to resynchronise a TCP stream.
        fn looks_like_sip(buf: &[u8]) -> bool {
            let line_end =
                memchr(b'\n', &buf[..buf.len().min(2048)]).unwrap_or(buf.len().min(2048));
            parse_start_line(strip_cr(&buf[..line_end])).is_ok()
        }

        /// Where, in the bytes after a header section, a complete SIP start line
        /// begins (at the start or after a line end), unless the body is meant to
        /// hold SIP (message/sipfrag, message/sip, multipart).
        fn next_start_line(body: &[u8], msg: &Message<'_>) -> Option<usize> {
            if let Some(ct) = msg.header(HeaderKind::ContentType) {
                let ct = trim(ct);
                let is = |p: &[u8]| ct.len() >= p.len() && ct[..p.len()].eq_ignore_ascii_case(p);
                if is(b"message/") || is(b"multipart/") {
                    return None;
                }
            }
            // Only the first bytes are searched: a stream re-parses its pending
            // message on every segment, so a whole-body search would make a body
            // sent in many small segments quadratic. Real bodies that lie about
            // their length are short (SDP).
            let window = &body[..body.len().min(BODY_RESYNC_WINDOW)];
            let mut pos = 0;
            loop {
                let line_end = memchr(b'\n', &window[pos..])?;
                if looks_like_sip(&body[pos..]) {
                    return Some(pos);
                }
                pos += line_end + 1;
            }
        }
    }

    /// How [`cseq_of`] was defined before it was one pass.
    fn cseq_by_split(v: &[u8]) -> Option<(u32, &[u8])> {
        let v = trim(v);
        let sp = v.iter().position(|c| c.is_ascii_whitespace())?;
        let n = parse_usize(&v[..sp]).and_then(|n| u32::try_from(n).ok())?;
        Some((n, trim(&v[sp..])))
    }

    proptest::proptest! {
        #[test]
        fn cseq_in_one_pass_is_cseq_by_split(
            v in proptest::collection::vec(
                proptest::sample::select(b"0123456789 \t\r\n\x0c\x0bINVITE9-".to_vec()),
                0..24,
            )
        ) {
            proptest::prop_assert_eq!(cseq_of(&v), cseq_by_split(&v));
        }
    }

    #[test]
    fn cseq_edges() {
        for v in [
            &b"1 REGISTER"[..],
            b"  42\tINVITE  ",
            b"123",
            b"123   ",
            b"12a INVITE",
            b"4294967295 X",
            b"4294967296 X",
            b"999999999999 X",
            b"1000000000000 X",
            b"0000000000001 X",
            b"",
            b" ",
            b"1  \r\n X",
        ] {
            assert_eq!(
                cseq_of(v),
                cseq_by_split(v),
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
        assert_eq!(cseq_of(b" 7 ACK "), Some((7, &b"ACK"[..])));
    }

    /// Everything a parse tells: the result, and for a complete message its
    /// start line, headers (name, value, kind), body, notes and length.
    fn outcome(buf: &[u8], framing: Framing, by_reference: bool) -> String {
        let mut msg = Message::blank();
        let result = if by_reference {
            reference::parse_into(&mut msg, buf, framing)
        } else {
            msg.parse_into(buf, framing)
        };
        match result {
            Ok(Status::Complete(())) => {
                // The headers of each kind: through the accessors (which
                // look up the first of a kind), and by walking every
                // header, their definition, for the reference.
                let kinds = HeaderKind::KNOWN.into_iter().chain([HeaderKind::Other]);
                /// The first header of a kind and all of them.
                type OfKind<'m> = (Option<&'m [u8]>, Vec<&'m [u8]>);
                let of_kind: Vec<OfKind<'_>> = kinds
                    .map(|k| {
                        if by_reference {
                            let mut all = msg.headers().iter().filter(|h| h.kind == k);
                            (
                                all.clone().next().map(|h| h.value),
                                all.by_ref().map(|h| h.value).collect(),
                            )
                        } else {
                            (msg.header(k), msg.headers_of(k).collect())
                        }
                    })
                    .collect();
                format!("{msg:?} raw {} by kind {of_kind:?}", msg.raw.len())
            }
            other => format!("{other:?}"),
        }
    }

    fn assert_parses_like_reference(buf: &[u8]) {
        for framing in [Framing::Datagram, Framing::Stream] {
            assert_eq!(
                outcome(buf, framing, false),
                outcome(buf, framing, true),
                "{framing:?} {:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    /// Lines that reach every shortcut and its way around: compact, mixed
    /// case and unknown names, white space around a name, non-token bytes,
    /// no colon, folding, LF-only ends, names at and past the plain-name cap.
    fn tricky_lines() -> Vec<Vec<u8>> {
        let long = |n: usize| [vec![b'a'; n], b": v\r\n".to_vec()].concat();
        let mut lines: Vec<Vec<u8>> = [
            &b"REGISTER sip:a SIP/2.0\r\n"[..],
            b"SIP/2.0 401 Unauthorized\r\n",
            b"INVITE  sip:x  SIP/2.0\n",
            b"in-vite sip:x sip/2.0\r\n",
            b"BAD@ sip:x SIP/2.0\r\n",
            b" REGISTER sip:a SIP/2.0\r\n",
            b"SIP/2.0 99 x\r\n",
            b"Via: SIP/2.0/UDP h;branch=z9hG4bKa;rport\r\n",
            b"v: SIP/2.0/TCP h ; BRANCH = b2 , SIP/2.0/UDP g\r\n",
            b"CONTENT-length: 3\r\n",
            b"Content-Length:3\n",
            b"l: 0\r\n",
            b"Content-Length: x\r\n",
            b"Content-Length : 4\r\n",
            b"Call-ID : spaced\r\n",
            b" Call-ID: lead\r\n",
            b"\x0cCall-ID: ff\r\n",
            b"Call\rID: cr\r\n",
            b"Call-ID\r\n : folded colon\r\n",
            b"Bad@Name: v\r\n",
            b"NoColon\r\n",
            b": empty name\r\n",
            b"cOnTaCt: <sip:a>;expires=1\r\n",
            b"Content-Type: message/sipfrag\r\n",
            b"Proxy-Authorization: Digest a=b\r\n",
            b"WWW-Authenticate: Digest realm=\"r\",\r\n nonce=\"n\"\r\n",
            b" folded continuation\r\n",
            b"\tfolded\n",
            b"Name:\r\n",
            b"Name:",
            b"Name",
            b"\r\n",
            b"\n",
            b"\r",
            b"body",
        ]
        .iter()
        .map(|l| l.to_vec())
        .collect();
        for n in [
            19,
            20,
            MAX_PLAIN_NAME - 1,
            MAX_PLAIN_NAME,
            MAX_PLAIN_NAME + 1,
            200,
        ] {
            lines.push(long(n));
        }
        lines
    }

    fn sipish_message() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let line = prop_oneof![
            4 => proptest::sample::select(tricky_lines()),
            1 => proptest::collection::vec(
                proptest::sample::select(b"aZ-_:; \t\r\n@.,<>=\x0c\x80".to_vec()),
                0..12
            ),
        ];
        proptest::collection::vec(line, 0..14).prop_map(|lines| lines.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn parses_like_the_reference(buf in sipish_message()) {
            assert_parses_like_reference(&buf);
        }

        #[test]
        fn classifies_as_specified(
            name in proptest::collection::vec(
                proptest::sample::select(b"aceilnortvwxyACDILTV-_\r\x0d@\xe1".to_vec()), 0..21),
        ) {
            proptest::prop_assert_eq!(HeaderKind::classify(&name), spec_classify(&name));
        }
    }

    #[test]
    fn every_tricky_line_parses_like_the_reference() {
        let lines = tricky_lines();
        for start in &lines[..7] {
            for line in &lines {
                for end in [&b""[..], b"\r\n", b"\n", b"Via: a;branch=b\r\n\r\nxyz"] {
                    assert_parses_like_reference(&[&start[..], line, end].concat());
                }
            }
        }
    }

    /// Every known name, and each of them with any one byte changed,
    /// classifies as specified: catches a compare that lets a near miss
    /// through (CR for '-', a letter's case bit on a non-letter).
    #[test]
    fn known_names_and_near_misses_classify_as_specified() {
        let names = HeaderKind::KNOWN.map(|k| k.canonical().as_bytes());
        for name in names {
            assert_ne!(HeaderKind::classify(name), HeaderKind::Other);
            for i in 0..name.len() {
                for b in 0..=255u8 {
                    let mut near = name.to_vec();
                    near[i] = b;
                    assert_eq!(
                        HeaderKind::classify(&near),
                        spec_classify(&near),
                        "{:?}",
                        String::from_utf8_lossy(&near)
                    );
                }
            }
        }
        for b in 0..=255u8 {
            assert_eq!(HeaderKind::classify(&[b]), spec_classify(&[b]));
        }
    }

    /// Each line with any one byte changed parses as the reference does.
    fn near_misses_parse_like_the_reference(lines: &[&[u8]]) {
        for line in lines {
            for i in 0..line.len() {
                for b in 0..=255u8 {
                    let mut near = line.to_vec();
                    near[i] = b;
                    assert_eq!(
                        parse_start_line(&near),
                        reference::parse_start_line(&near),
                        "{:?}",
                        String::from_utf8_lossy(&near)
                    );
                }
            }
        }
    }

    /// Start lines with any one byte changed parse as before.
    #[test]
    fn start_line_near_misses_parse_like_the_reference() {
        near_misses_parse_like_the_reference(&[
            b"REGISTER sip:a@b SIP/2.0",
            b"SIP/2.0 401 Unauthorized",
            b"A b SIP/2",
        ]);
    }

    /// More start lines with any one byte changed, for the shortcuts of
    /// the usual forms ("SIP/2.0 " at the start of a response, " SIP/2.0"
    /// at the end of a request, a method of letters before 16 bytes).
    #[test]
    fn more_start_line_near_misses_parse_like_the_reference() {
        near_misses_parse_like_the_reference(&[
            b"INVITE sip:bob@example.com SIP/2.0",
            b"SIP/2.0 200 OK",
            b"SIP/2.0 407 Proxy Authentication Required",
            b"sip/2.0 100 ",
            b"A SIP/2.0",
            b"A  SIP/2.0",
            b"A b SIP/2.0",
            b"SUBSCRIBE-X.Y_Z sip:a SIP/2.0",
            b"ABCDEFGHIJKLMNOP sip:a SIP/2.0",
            b"ABCDEFGHIJKLMNO sip:a SIP/2.0",
            b"SIP/2.0  200",
        ]);
    }

    /// Names around one and two 16-byte blocks, with a byte that is not a
    /// letter, digit or '-' (token or not) at the edges of the blocks.
    #[test]
    fn names_across_the_blocks_parse_like_the_reference() {
        for n in 1..36 {
            for at in [0, 1, 14, 15, 16, 17, 30, 31, 32, 33] {
                for odd in [b'_', b'.', b' ', b'@', b':', b'\r', b'-', b'Z'] {
                    let mut name = vec![b'a'; n];
                    if let Some(c) = name.get_mut(at) {
                        *c = odd;
                    }
                    for end in [&b": v\r\nl: 1\r\n\r\nxy"[..], b":", b""] {
                        let buf = [&b"OPTIONS sip:a SIP/2.0\r\n"[..], &name, end].concat();
                        assert_parses_like_reference(&buf);
                    }
                }
            }
        }
    }

    #[test]
    fn name_byte_mask_marks_letters_digits_and_dash() {
        for b in 0..=255u8 {
            for i in 0..16 {
                let mut block = [b'a'; 16];
                block[i] = b;
                let want = b.is_ascii_alphanumeric() || b == b'-';
                assert_eq!(name_byte_mask(&block) >> i & 1 == 1, want, "{b:#x} at {i}");
                assert_eq!(name_byte_mask(&block) | 1 << i, 0xffff);
            }
        }
    }

    #[test]
    fn sip_slash_in_any_case_only() {
        for i in 0..4 {
            for b in 0..=255u8 {
                let mut prefix = *b"SIP/";
                prefix[i] = b;
                assert_eq!(
                    is_sip_slash(&prefix),
                    prefix.eq_ignore_ascii_case(b"SIP/"),
                    "{prefix:?}"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Line ends found block by block are memchr's, from any start
        /// (in increasing order, as the parser asks) and with any bound.
        #[test]
        fn line_ends_are_memchrs(
            buf in proptest::collection::vec(
                proptest::sample::select(b"\n\n\r a:".to_vec()), 0..300),
            steps in proptest::collection::vec(0usize..90, 1..12),
            bound in 0usize..320,
        ) {
            let mut ends = LineEnds::new(&buf);
            let mut from = 0;
            for step in steps {
                from += step;
                let want = memchr(b'\n', buf.get(from..).unwrap_or_default()).map(|i| from + i);
                proptest::prop_assert_eq!(ends.next(from), want, "from {}", from);
            }
            let mut ends = LineEnds::new(&buf);
            let want = memchr(b'\n', &buf[..buf.len().min(bound)]);
            proptest::prop_assert_eq!(ends.next_before(0, bound), want);
        }
    }

    fn parsed(buf: &[u8]) -> Vec<(&[u8], &[u8], HeaderKind)> {
        let m = complete(buf, Framing::Datagram);
        let headers = m
            .headers()
            .iter()
            .map(|h| (h.name, h.value, h.kind))
            .collect();
        headers
    }

    #[test]
    fn header_lines_the_shortcut_does_not_take_still_parse() {
        // A leading space on the first header line is not folding (there
        // is nothing to fold into); a form feed is white space, not folding.
        let buf = b"OPTIONS sip:a SIP/2.0\r\n\
\x20To: <sip:lead>\r\n\
Call-ID : spaced\r\n\
\x0cFrom:\tff \r\n\
Bad@Name: dropped\r\n\
NoColon\r\n\
: no name\r\n\
l : 4\r\n\r\nbody";
        let m = complete(buf, Framing::Datagram);
        assert_eq!(
            parsed(buf),
            [
                (&b"To"[..], &b"<sip:lead>"[..], HeaderKind::To),
                (b"Call-ID", b"spaced", HeaderKind::CallId),
                (b"From", b"ff", HeaderKind::From),
                (b"l", b"4", HeaderKind::ContentLength),
            ]
        );
        assert_eq!(m.body, b"body");
    }

    #[test]
    fn compact_mixed_case_and_unknown_names() {
        let buf = b"OPTIONS sip:a SIP/2.0\n\
I: cid\n\
cAlL-iD: again\n\
CONTENT-LENGTH: 0\n\
X-Content-Length: 9\n\
Contact-X: not contact\n\n";
        let m = complete(buf, Framing::Datagram);
        assert!(m.notes.lf_only);
        assert_eq!(
            parsed(buf),
            [
                (&b"I"[..], &b"cid"[..], HeaderKind::CallId),
                (b"cAlL-iD", b"again", HeaderKind::CallId),
                (b"CONTENT-LENGTH", b"0", HeaderKind::ContentLength),
                (b"X-Content-Length", b"9", HeaderKind::Other),
                (b"Contact-X", b"not contact", HeaderKind::Other),
            ]
        );
        assert_eq!(m.body, b"");
    }

    #[test]
    fn names_longer_than_any_known_one() {
        for n in [20, MAX_PLAIN_NAME, MAX_PLAIN_NAME + 1, 1000] {
            let name = vec![b'n'; n];
            let buf = [
                &b"OPTIONS sip:a SIP/2.0\r\n"[..],
                &name,
                b": v\r\nContent-Length: 2\r\n\r\nab",
            ]
            .concat();
            assert_eq!(
                parsed(&buf),
                [
                    (&name[..], &b"v"[..], HeaderKind::Other),
                    (b"Content-Length", b"2", HeaderKind::ContentLength),
                ],
                "name of {n} bytes"
            );
        }
    }

    #[test]
    fn folded_value_and_a_colon_on_the_continuation() {
        let buf = b"OPTIONS sip:a SIP/2.0\r\n\
Via: SIP/2.0/UDP h\r\n ;branch=z9hG4bKf\r\n\
Warning\r\n\t: 399 x\r\n\r\n";
        let m = complete(buf, Framing::Datagram);
        assert!(m.notes.folded);
        assert_eq!(m.via_branch(), Some(&b"z9hG4bKf"[..]));
        assert_eq!(m.header(HeaderKind::Warning), Some(&b"399 x"[..]));
        assert_eq!(m.headers()[1].name, b"Warning");
    }

    #[test]
    fn content_length_through_both_paths_and_bad_values() {
        for (line, body, bad) in [
            (&b"Content-Length: 3"[..], &b"abc"[..], false),
            (b" Content-Length : 3 ", b"abc", false),
            (b"Content-Length: x", b"abcde", true),
            (b"l:", b"abcde", true),
        ] {
            let buf = [&b"MESSAGE sip:a SIP/2.0\r\n"[..], line, b"\r\n\r\nabcde"].concat();
            let m = complete(&buf, Framing::Datagram);
            assert_eq!(m.body, body, "{:?}", String::from_utf8_lossy(line));
            assert_eq!(m.notes.bad_content_length, bad);
        }
    }

    #[test]
    fn stream_line_ends_found_after_the_colon_or_waited_for() {
        let whole = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n";
        for cut in 1..whole.len() {
            assert!(
                matches!(
                    Message::parse(&whole[..cut], Framing::Stream),
                    Ok(Status::Partial)
                ),
                "cut at {cut}"
            );
        }
        // A run of token bytes with no line end: still only a partial
        // message until the header section cap.
        let mut run = b"OPTIONS sip:a SIP/2.0\r\n".to_vec();
        run.resize(MAX_HEADER_BYTES, b'a');
        assert!(matches!(
            Message::parse(&run, Framing::Stream),
            Ok(Status::Partial)
        ));
        run.resize(MAX_HEADER_BYTES + 2, b'a');
        assert_eq!(
            Message::parse(&run, Framing::Stream).err(),
            Some(ParseError::HeadersTooLarge)
        );
    }

    fn complete(buf: &[u8], framing: Framing) -> Message<'_> {
        match Message::parse(buf, framing).expect("parses") {
            Status::Complete(m) => m,
            Status::Partial => panic!("partial"),
        }
    }

    const REG: &[u8] = b"REGISTER sip:lab.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
From: \"Alice\" <sip:alice@lab.example>;tag=1928301774\r\n\
To: <sip:alice@lab.example>\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 REGISTER\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn request_with_crlf() {
        let m = complete(REG, Framing::Datagram);
        assert_eq!(m.method(), Some(&b"REGISTER"[..]));
        assert_eq!(m.request_uri(), Some(&b"sip:lab.example"[..]));
        assert_eq!(m.call_id(), Some(&b"a84b4c76e66710"[..]));
        assert_eq!(m.cseq(), Some((314159, &b"REGISTER"[..])));
        assert_eq!(m.via_branch(), Some(&b"z9hG4bK776asdhds"[..]));
        let from = NameAddr::parse(m.header(HeaderKind::From).unwrap());
        assert_eq!(from.uri, b"sip:alice@lab.example");
        assert_eq!(from.tag, Some(&b"1928301774"[..]));
        assert_eq!(m.raw.len(), REG.len());
        assert!(!m.notes.lf_only);
    }

    #[test]
    fn compact_forms_and_lf_only() {
        let buf = b"SIP/2.0 401 Unauthorized\n\
v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\n\
f: <sip:a@b>;tag=1\n\
t: <sip:a@b>;tag=2\n\
i: cid@host\n\
CSeq: 2 REGISTER\n\
WWW-Authenticate: Digest realm=\"b\", nonce=\"n\"\n\
l: 0\n\n";
        let m = complete(buf, Framing::Datagram);
        assert_eq!(m.status(), Some(401));
        assert!(m.notes.lf_only);
        assert_eq!(m.call_id(), Some(&b"cid@host"[..]));
        assert_eq!(m.via_branch(), Some(&b"z9hG4bKx"[..]));
        assert_eq!(
            NameAddr::parse(m.header(HeaderKind::To).unwrap()).tag,
            Some(&b"2"[..])
        );
        assert_eq!(m.headers_of(HeaderKind::WwwAuthenticate).count(), 1);
    }

    #[test]
    fn folded_header_keeps_continuation() {
        let buf = b"REGISTER sip:b SIP/2.0\r\n\
Authorization: Digest username=\"a\",\r\n  realm=\"b\"\r\n\
Call-ID: x\r\n\r\n";
        let m = complete(buf, Framing::Datagram);
        assert!(m.notes.folded);
        let v = m.header(HeaderKind::Authorization).unwrap();
        assert!(v.starts_with(b"Digest username"));
        assert!(v.ends_with(b"realm=\"b\""));
        assert_eq!(m.call_id(), Some(&b"x"[..]));
    }

    #[test]
    fn stream_framing_partial_then_complete_and_pipelined() {
        let mut two = REG.to_vec();
        two.extend_from_slice(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 4\r\n\r\nabcd");
        // Every proper prefix of the first message is Partial.
        for cut in 1..REG.len() {
            assert!(
                matches!(
                    Message::parse(&two[..cut], Framing::Stream),
                    Ok(Status::Partial)
                ),
                "cut at {cut}"
            );
        }
        let first = complete(&two, Framing::Stream);
        assert_eq!(first.raw.len(), REG.len());
        let second = complete(&two[REG.len()..], Framing::Stream);
        assert_eq!(second.body, b"abcd");
        assert!(matches!(
            Message::parse(&two[REG.len()..two.len() - 1], Framing::Stream),
            Ok(Status::Partial)
        ));
    }

    #[test]
    fn datagram_content_length_too_large_is_cut_with_note() {
        let buf = b"MESSAGE sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\nhello";
        let m = complete(buf, Framing::Datagram);
        assert_eq!(m.body, b"hello");
        assert!(m.notes.body_truncated);
        // On a stream an absurd length is refused rather than buffered.
        assert_eq!(
            Message::parse(buf, Framing::Stream).unwrap_err(),
            ParseError::BodyTooLarge
        );
    }

    #[test]
    fn stream_content_length_too_large_is_framed_to_the_next_message() {
        let buf = b"MESSAGE sip:b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 500\r\n\r\nhi\r\nOPTIONS sip:b SIP/2.0\r\nCall-ID: 2\r\nContent-Length: 0\r\n\r\n";
        let Ok(Status::Complete(m)) = Message::parse(buf, Framing::Stream) else {
            panic!("not complete")
        };
        assert!(m.notes.body_truncated);
        assert_eq!(m.body, b"hi\r\n");
        let rest = &buf[m.raw.len()..];
        let Ok(Status::Complete(m2)) = Message::parse(rest, Framing::Stream) else {
            panic!("second not complete")
        };
        assert_eq!(m2.call_id(), Some(&b"2"[..]));
        // No next start line yet: wait for the announced body.
        let partial = b"MESSAGE sip:b SIP/2.0\r\nContent-Length: 500\r\n\r\nhi\r\n";
        assert!(matches!(
            Message::parse(partial, Framing::Stream),
            Ok(Status::Partial)
        ));
        // A sipfrag body may hold a start line; it is not cut.
        let frag = b"NOTIFY sip:b SIP/2.0\r\nContent-Type: message/sipfrag\r\nContent-Length: 500\r\n\r\nSIP/2.0 200 OK\r\n";
        assert!(matches!(
            Message::parse(frag, Framing::Stream),
            Ok(Status::Partial)
        ));
    }

    #[test]
    fn stream_header_section_over_the_cap_is_refused_without_waiting() {
        let mut big = b"OPTIONS sip:a SIP/2.0\r\n".to_vec();
        while big.len() <= MAX_HEADER_BYTES {
            big.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            Message::parse(&big, Framing::Stream).err(),
            Some(ParseError::HeadersTooLarge)
        );
    }

    #[test]
    fn not_sip() {
        assert_eq!(
            Message::parse(b"GET / HTTP/1.1\r\n\r\n", Framing::Datagram).unwrap_err(),
            ParseError::NotSip
        );
        assert_eq!(
            Message::parse(b"\x16\x03\x01\x02\x00", Framing::Stream).unwrap_err(),
            ParseError::NotSip
        );
        assert!(!looks_like_sip(b"\x00\x01binary"));
        assert!(looks_like_sip(REG));
    }

    #[test]
    fn many_headers_are_counted_not_kept() {
        let mut buf = b"OPTIONS sip:a SIP/2.0\r\n".to_vec();
        for i in 0..(MAX_HEADERS + 10) {
            buf.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        let m = complete(&buf, Framing::Datagram);
        assert_eq!(m.headers().len(), MAX_HEADERS);
        assert_eq!(m.notes.headers_dropped, 10);
    }

    #[test]
    fn uri_parts() {
        let u = UriParts::parse(b"sip:alice@lab.example:5061;transport=tcp");
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.host, b"lab.example");
        assert_eq!(u.port, Some(5061));
        let u = UriParts::parse(b"sip:[::1]:5060");
        assert_eq!(u.user, None);
        assert_eq!(u.host, b"[::1]");
        assert_eq!(u.port, Some(5060));
        let u = UriParts::parse(b"sips:bob:secret@host");
        assert_eq!(u.user, Some(&b"bob"[..]));
        let na = NameAddr::parse(b"sip:300@127.0.0.1;tag=abc");
        assert_eq!(na.uri, b"sip:300@127.0.0.1");
        assert_eq!(na.tag, Some(&b"abc"[..]));
    }
}

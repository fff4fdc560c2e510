//! A JSON serializer that appends to a byte buffer: the same bytes as
//! serde_json with the report's layout (pretty, first line already some
//! levels in, or compact) and its terminal-safe escaping, for a fraction
//! of the work. serde_json writes token by token through `io::Write` and
//! scans every string byte by byte before a formatter sees it; here tokens
//! are pushed onto a `Vec`, and a string with nothing to escape (almost
//! all of them) is checked eight bytes at a time and copied whole.

use crate::report::sanitize::is_dangerous;
use serde::ser::{self, Impossible, Serialize};
use serde_json::Error;

type Result<T = ()> = std::result::Result<T, Error>;

/// Appends `v` as pretty JSON (two spaces a level, as serde_json's pretty
/// printer) whose first line is already `depth` levels in.
pub(crate) fn write_pretty<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    depth: usize,
    v: &T,
) -> Result {
    v.serialize(&mut JsonWriter {
        out,
        pretty: true,
        depth,
    })
}

/// Appends `v` as compact JSON (one line, no spaces).
pub(crate) fn write_compact<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result {
    v.serialize(&mut JsonWriter {
        out,
        pretty: false,
        depth: 0,
    })
}

/// Appends `s` as a JSON string: serde_json's escapes (quote, backslash,
/// C0 controls), plus `\uXXXX` for DEL, C1 controls and bidi controls so
/// that the output is safe to print to a terminal.
/// Inlined where strings are written (the call cost as much as the rest
/// for the short strings reports are made of); the escaping is not.
#[inline(always)]
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    if is_plain(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        write_escaped_string(out, s);
    }
}

#[cold]
#[inline(never)]
fn write_escaped_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether a byte of `x` is below `n` (exact for `n <= 128`: a borrow
/// only crosses into the next byte from a byte that was below `n`).
fn has_byte_below(x: u64, n: u8) -> bool {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH_BITS != 0
}

/// Whether a byte of `x` equals `b`.
fn has_byte(x: u64, b: u8) -> bool {
    has_byte_below(x ^ (ONES * u64::from(b)), 1)
}

/// Whether eight bytes are all printable ASCII other than `"` and `\`.
#[inline]
fn word_is_plain(word: &[u8; 8]) -> bool {
    let x = u64::from_le_bytes(*word);
    !(has_byte_below(x, 0x20)
        || x & HIGH_BITS != 0
        || has_byte(x, b'"')
        || has_byte(x, b'\\')
        || has_byte(x, 0x7f))
}

/// Bytes that go into a JSON string as they are.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    t
};

fn byte_is_plain(b: u8) -> bool {
    PLAIN[b as usize]
}

/// Whether `s` goes into a JSON string as is: no byte to escape, no
/// non-ASCII character (which might be a C1 or bidi control). Sixteen
/// bytes at a time (eight below that); the last partial block is checked
/// as the last sixteen bytes, overlapping the block before it.
#[inline]
fn is_plain(s: &[u8]) -> bool {
    let Some(last) = s.last_chunk::<16>() else {
        return is_plain_short(s);
    };
    // Every block is looked at (no early exit): strings are nearly
    // always plain, and the loop stays branch-free.
    s.chunks_exact(16).fold(block_is_plain(last), |plain, b| {
        plain & b.first_chunk::<16>().is_some_and(block_is_plain)
    })
}

/// [`is_plain`] of fewer than sixteen bytes.
#[inline]
fn is_plain_short(s: &[u8]) -> bool {
    let Some(last) = s.last_chunk::<8>() else {
        return s.iter().all(|&b| byte_is_plain(b));
    };
    s.first_chunk::<8>().is_some_and(word_is_plain) && word_is_plain(last)
}

/// Whether sixteen bytes are all printable ASCII other than `"` and `\`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_is_plain(block: &[u8; 16]) -> bool {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: the load reads exactly the array's 16 bytes and needs no
    // alignment; the intrinsics are SSE2, always enabled on x86_64.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        // A signed compare: below 0x20, and 0x80 and above (negative).
        let control_or_high = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        let delete = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
        let escape = _mm_or_si128(
            _mm_or_si128(control_or_high, quote),
            _mm_or_si128(backslash, delete),
        );
        _mm_movemask_epi8(escape) == 0
    }
}

/// [`block_is_plain`] without SIMD, for other targets.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block_is_plain(block: &[u8; 16]) -> bool {
    let (a, b) = block.split_at(8);
    a.first_chunk::<8>().is_some_and(word_is_plain)
        && b.first_chunk::<8>().is_some_and(word_is_plain)
}

/// The slow path of [`write_string`]: what serde_json escapes as
/// serde_json does, then the characters that are dangerous on a terminal
/// as `\u` and at least four hex digits. Plain ASCII bytes pass a byte at
/// a time; only the other characters are decoded.
fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if byte_is_plain(bytes[i]) {
            i += 1;
            continue;
        }
        // `i` is on a character boundary: only ASCII bytes and whole
        // characters were stepped over.
        let Some(c) = s.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let escape: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\u{8}' => b"\\b",
            '\t' => b"\\t",
            '\n' => b"\\n",
            '\u{c}' => b"\\f",
            '\r' => b"\\r",
            c if is_dangerous(c) => b"",
            _ => {
                i += c.len_utf8();
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            write_unicode_escape(out, c);
        } else {
            out.extend_from_slice(escape);
        }
        i += c.len_utf8();
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `\u` and the code point in lower-case hex, at least four digits (as
/// `format!("\\u{:04x}")`).
fn write_unicode_escape(out: &mut Vec<u8>, c: char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = c as u32;
    out.extend_from_slice(b"\\u");
    let digits = (8 - n.leading_zeros() as usize / 4).max(4);
    for k in (0..digits).rev() {
        out.push(HEX[(n >> (4 * k)) as usize & 0xf]);
    }
}

/// Decimal digits, as serde_json (itoa) writes integers; two at a time.
pub(super) fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    while v >= 100 {
        let pair = 2 * (v % 100) as usize;
        v /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = 2 * v as usize;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + v as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Rare numbers (128 bits) through `Display`, which writes the same
/// digits as itoa.
fn write_display(out: &mut Vec<u8>, v: impl std::fmt::Display) -> Result {
    use std::io::Write;
    write!(out, "{v}").map_err(Error::io)
}

/// Floats exactly as serde_json writes them (shortest round-trip, `null`
/// when not finite): by serde_json itself.
fn write_float<T: Serialize>(out: &mut Vec<u8>, v: T) -> Result {
    serde_json::to_writer(out, &v)
}

struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    pretty: bool,
    /// Levels of indentation of the current line (pretty only).
    depth: usize,
}

impl JsonWriter<'_> {
    fn open(&mut self, bracket: u8) {
        self.depth += 1;
        self.out.push(bracket);
    }

    fn close(&mut self, bracket: u8, empty: bool) {
        self.depth -= 1;
        if self.pretty && !empty {
            self.newline();
        }
        self.out.push(bracket);
    }

    /// A new line and the indentation of the current depth.
    fn newline(&mut self) {
        const INDENTED: &[u8; 33] = b"\n                                ";
        let len = 1 + 2 * self.depth;
        if len <= INDENTED.len() {
            // A copy of constant size (a few stores, where one of variable
            // size is a call), cut to length.
            let at = self.out.len();
            self.out.extend_from_slice(INDENTED);
            self.out.truncate(at + len);
        } else {
            self.out.push(b'\n');
            let at = self.out.len();
            self.out.resize(at + 2 * self.depth, b' ');
        }
    }

    /// Before an element of an array or a key of an object.
    fn item(&mut self, first: bool) {
        if !first {
            self.out.push(b',');
        }
        if self.pretty {
            self.newline();
        }
    }

    fn colon(&mut self) {
        if self.pretty {
            self.out.extend_from_slice(b": ");
        } else {
            self.out.push(b':');
        }
    }

    /// `{"variant": ` of an enum variant with data (serde_json's
    /// externally tagged layout); the data follows.
    fn open_variant(&mut self, variant: &str) {
        self.open(b'{');
        self.item(true);
        write_string(self.out, variant);
        self.colon();
    }
}

/// An array or object being written.
struct Compound<'w, 'a> {
    w: &'w mut JsonWriter<'a>,
    bracket: u8,
    first: bool,
    /// Inside `{"variant": ...}`, to close after the data.
    in_variant: bool,
}

impl<'w, 'a> Compound<'w, 'a> {
    fn open(w: &'w mut JsonWriter<'a>, open: u8, close: u8, in_variant: bool) -> Self {
        w.open(open);
        Compound {
            w,
            bracket: close,
            first: true,
            in_variant,
        }
    }

    fn next_item(&mut self) {
        self.w.item(self.first);
        self.first = false;
    }

    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        self.next_item();
        v.serialize(&mut *self.w)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) -> Result {
        self.next_item();
        write_string(self.w.out, key);
        self.w.colon();
        v.serialize(&mut *self.w)
    }

    fn end(self) -> Result {
        self.w.close(self.bracket, self.first);
        if self.in_variant {
            self.w.close(b'}', false);
        }
        Ok(())
    }
}

impl<'w, 'a> ser::Serializer for &'w mut JsonWriter<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result {
        write_i64(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result {
        write_display(self.out, v)
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result {
        write_u64(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result {
        write_display(self.out, v)
    }
    fn serialize_f32(self, v: f32) -> Result {
        write_float(self.out, v)
    }
    fn serialize_f64(self, v: f64) -> Result {
        write_float(self.out, v)
    }
    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        write_string(self.out, v);
        Ok(())
    }
    /// An array of numbers, as serde_json writes bytes.
    fn serialize_bytes(self, v: &[u8]) -> Result {
        let mut seq = Compound::open(self, b'[', b']', false);
        for b in v {
            seq.element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result {
        self.open_variant(variant);
        v.serialize(&mut *self)?;
        self.close(b'}', false);
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'w, 'a>> {
        Ok(Compound::open(self, b'[', b']', false))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'w, 'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'a>> {
        self.open_variant(variant);
        Ok(Compound::open(self, b'[', b']', true))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'w, 'a>> {
        Ok(Compound::open(self, b'{', b'}', false))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'w, 'a>> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'a>> {
        self.open_variant(variant);
        Ok(Compound::open(self, b'{', b'}', true))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        self.element(v)
    }
    fn end(self) -> Result {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        self.element(v)
    }
    fn end(self) -> Result {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        self.element(v)
    }
    fn end(self) -> Result {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        self.element(v)
    }
    fn end(self) -> Result {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.next_item();
        key.serialize(MapKey(self.w.out))?;
        self.w.colon();
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result {
        self.field(key, v)
    }
    fn end(self) -> Result {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result {
        self.field(key, v)
    }
    fn end(self) -> Result {
        Compound::end(self)
    }
}

/// A map key: a string, or what serde_json turns into one (a number or a
/// bool, quoted; a unit variant's name). Other keys are refused, as
/// serde_json refuses them (float keys, which serde_json quotes, are
/// refused too: no report has them).
struct MapKey<'a>(&'a mut Vec<u8>);

fn key_must_be_a_string() -> Error {
    ser::Error::custom("key must be a string")
}

impl MapKey<'_> {
    fn quoted(self, write: impl FnOnce(&mut Vec<u8>)) -> Result {
        self.0.push(b'"');
        write(self.0);
        self.0.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result {
        write_string(self.0, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_bool(self, v: bool) -> Result {
        self.quoted(|out| out.extend_from_slice(if v { b"true" } else { b"false" }))
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.quoted(|out| write_i64(out, v))
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.quoted(|out| write_u64(out, v))
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.0.push(b'"');
        write_display(self.0, v)?;
        self.0.push(b'"');
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.0.push(b'"');
        write_display(self.0, v)?;
        self.0.push(b'"');
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_f64(self, _: f64) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Impossible<(), Error>> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> Result<Impossible<(), Error>> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Impossible<(), Error>> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Impossible<(), Error>> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Impossible<(), Error>> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Impossible<(), Error>> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Impossible<(), Error>> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};
    use std::io::{self, Write};

    /// The reference: serde_json with the escaping the reports had before
    /// this writer (C1 controls, bidi controls and DEL as `\uXXXX` in the
    /// pieces serde_json had not escaped already).
    struct SafeFormatter<F>(F);

    fn write_safe_fragment<W: ?Sized + Write>(w: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_dangerous(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    impl<F: Formatter> Formatter for SafeFormatter<F> {
        fn write_string_fragment<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            f: &str,
        ) -> io::Result<()> {
            write_safe_fragment(w, f)
        }
        fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.0.begin_array(w)
        }
        fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.0.end_array(w)
        }
        fn begin_array_value<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            self.0.begin_array_value(w, first)
        }
        fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.0.end_array_value(w)
        }
        fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.0.begin_object(w)
        }
        fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.0.end_object(w)
        }
        fn begin_object_key<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            self.0.begin_object_key(w, first)
        }
        fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.0.begin_object_value(w)
        }
        fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.0.end_object_value(w)
        }
    }

    fn reference<F: Formatter>(f: F, v: &(impl Serialize + ?Sized)) -> String {
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, SafeFormatter(f));
        v.serialize(&mut ser).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn pretty(depth: usize, v: &(impl Serialize + ?Sized)) -> String {
        let mut buf = Vec::new();
        write_pretty(&mut buf, depth, v).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn compact(v: &(impl Serialize + ?Sized)) -> String {
        let mut buf = Vec::new();
        write_compact(&mut buf, v).unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// Same bytes as the reference, compact and pretty at several depths
    /// (strings hold no raw newline, so a level in is two spaces after
    /// every newline).
    fn assert_as_reference(v: &(impl Serialize + ?Sized)) {
        assert_eq!(compact(v), reference(CompactFormatter, v));
        let flat = reference(PrettyFormatter::new(), v);
        for depth in [0, 1, 2] {
            let want = flat.replace('\n', &format!("\n{}", "  ".repeat(depth)));
            assert_eq!(pretty(depth, v), want, "depth {depth}");
        }
    }

    #[test]
    fn layout_is_serde_jsons() {
        assert_as_reference(&serde_json::json!({
            "a": [1, {"b": [], "c": {}}, [[]], "x\u{9b}", -7, 1.5, 1e300, 0.1, true, null],
            "d": {"e": null, "f": [true, false], "": ""},
            "g": [],
            "h": {},
            "i": u64::MAX,
            "j": i64::MIN,
        }));
        assert_as_reference(&Vec::<u8>::new());
        let numbers: Vec<u64> = (0..20)
            .flat_map(|k| {
                [
                    10u64.pow(k) - 1,
                    10u64.pow(k),
                    10u64.pow(k) + 1,
                    10u64.pow(k) / 7 * 5,
                ]
            })
            .chain([u64::MAX, 0])
            .collect();
        assert_as_reference(&numbers);
        assert_as_reference(
            &numbers
                .iter()
                .map(|&n| (n as i64).wrapping_neg())
                .collect::<Vec<_>>(),
        );
        assert_as_reference(&[[0u8; 0]; 2]);
        assert_as_reference("top-level string");
        assert_eq!(
            pretty(2, &serde_json::json!({"k": [1]})),
            "{\n      \"k\": [\n        1\n      ]\n    }"
        );
    }

    #[derive(serde::Serialize)]
    enum Shapes {
        Unit,
        Newtype(u32),
        Tuple(i8, &'static str),
        EmptyTuple(),
        Struct { a: Option<u16>, b: (f32, char) },
        EmptyStruct {},
    }

    #[derive(serde::Serialize)]
    struct Wrapper(#[serde(with = "serde_bytes_as_seq")] Vec<u8>);

    mod serde_bytes_as_seq {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn every_kind_of_value_is_written_as_serde_json_writes_it() {
        assert_as_reference(&[
            Shapes::Unit,
            Shapes::Newtype(7),
            Shapes::Tuple(-3, "t"),
            Shapes::EmptyTuple(),
            Shapes::Struct {
                a: None,
                b: (f32::NAN, 'é'),
            },
            Shapes::Struct {
                a: Some(9),
                b: (-0.0, '\u{202e}'),
            },
            Shapes::EmptyStruct {},
        ]);
        assert_as_reference(&(
            Wrapper(vec![0, 255]),
            Wrapper(Vec::new()),
            u128::MAX,
            i128::MIN,
        ));
        assert_as_reference(&std::collections::BTreeMap::from([(3u8, 'a'), (200, 'b')]));
        assert_as_reference(&std::collections::BTreeMap::from([(-3i64, ()), (5, ())]));
        assert_as_reference(&std::collections::BTreeMap::from([(true, 1), (false, 2)]));
        assert_as_reference(&std::collections::BTreeMap::from([('"', 1)]));
        let mut buf = Vec::new();
        let array_keys = std::collections::BTreeMap::from([(vec![1], 1)]);
        assert!(
            write_compact(&mut buf, &array_keys).is_err(),
            "no panic, an error"
        );
    }

    /// Strings that must be escaped, with their characters at every place
    /// of an eight-byte word.
    const HOSTILE: &[&str] = &[
        "\"",
        "\\",
        "\u{0}",
        "\u{1}",
        "\u{8}",
        "\t",
        "\n",
        "\u{b}",
        "\u{c}",
        "\r",
        "\u{1b}",
        "\u{1f}",
        "\u{7f}",
        "\u{80}",
        "\u{85}",
        "\u{9b}",
        "\u{9f}",
        "\u{a0}",
        "é",
        "中",
        "\u{1F600}",
        "\u{61c}",
        "\u{200e}",
        "\u{200f}",
        "\u{202a}",
        "\u{202e}",
        "\u{2066}",
        "\u{2069}",
        "\u{2028}",
        "\u{feff}",
        "\u{fffd}",
    ];

    #[test]
    fn hostile_strings_are_escaped_as_before() {
        for bad in HOSTILE {
            for before in 0..17 {
                for after in [0, 1, 7, 8, 9] {
                    let s = format!("{}{bad}{}", "a".repeat(before), "b".repeat(after));
                    assert_as_reference(&s);
                    assert_as_reference(&serde_json::json!({ &s: [&s] }));
                }
            }
        }
        // What the escapes are, spelled out.
        assert_eq!(
            compact(
                "q\"b\\c\u{1}\u{8}\t\n\u{c}\r\u{1b}d\u{7f}\u{85}\u{9b}\u{202e}\u{2066}\u{61c}é中"
            ),
            r#""q\"b\\c\u0001\b\t\n\f\r\u001bd\u007f\u0085\u009b\u202e\u2066\u061cé中""#
        );
        assert_eq!(
            compact("plain ascii, 8+ bytes ~!"),
            r#""plain ascii, 8+ bytes ~!""#
        );
    }

    #[test]
    fn the_word_and_block_tests_agree_with_the_byte_test() {
        for b in 0..=255u8 {
            for at in 0..16 {
                let mut block = *b"abcdefghijklmnop";
                block[at] = b;
                let word = block.first_chunk::<8>().expect("16 bytes");
                let want = byte_is_plain(b);
                assert_eq!(block_is_plain(&block), want, "byte {b:#x} at {at}");
                assert_eq!(word_is_plain(word), at >= 8 || want, "byte {b:#x} at {at}");
            }
        }
        // Neighbouring bytes that could borrow or carry into each other.
        for (a, b) in [
            (0x20, 0x1f),
            (0x00, 0x80),
            (0x21, 0x22),
            (0x7e, 0x7f),
            (0x5b, 0x5c),
        ] {
            let mut word = [b' '; 8];
            word[3] = a;
            word[4] = b;
            let want = word.iter().all(|&c| byte_is_plain(c));
            assert_eq!(word_is_plain(&word), want, "{a:#x} {b:#x}");
        }
    }

    proptest::proptest! {
        /// Strings of every length around the 8- and 16-byte steps, plain
        /// or with one byte to escape anywhere.
        #[test]
        fn is_plain_is_every_byte_plain(
            len in 0..70usize,
            odd in proptest::option::of((0..70usize, proptest::sample::select(vec![0u8, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xc3, 0xff]))),
        ) {
            let mut s: Vec<u8> = (0..len).map(|i| b"abcdefghijklmnopqrstuvwxyz 0123456789~!#"[i % 40]).collect();
            if let Some((at, b)) = odd {
                if let Some(c) = s.get_mut(at) {
                    *c = b;
                }
            }
            proptest::prop_assert_eq!(is_plain(&s), s.iter().all(|&b| byte_is_plain(b)));
        }

        #[test]
        fn any_string_is_escaped_as_before(
            chars in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(
                        HOSTILE.iter().flat_map(|s| s.chars()).chain("az ~\"\\".chars()).collect::<Vec<_>>()
                    ),
                    proptest::char::any(),
                    proptest::char::range(' ', '~'),
                ],
                0..40,
            )
        ) {
            let s: String = chars.into_iter().collect();
            proptest::prop_assert_eq!(compact(&s), reference(CompactFormatter, &s));
        }
    }
}

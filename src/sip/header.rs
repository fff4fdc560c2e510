//! Header names: the ones the analysis reads, with their compact forms
//! (RFC 3261 §7.3.3 and the registrations that followed it).

/// Headers the analysis looks at. Everything else is `Other` and stays
/// reachable by name through [`crate::sip::Message::headers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderKind {
    Via,
    From,
    To,
    CallId,
    CSeq,
    ContentLength,
    ContentType,
    ContentEncoding,
    Contact,
    WwwAuthenticate,
    ProxyAuthenticate,
    Authorization,
    ProxyAuthorization,
    UserAgent,
    Server,
    Expires,
    Event,
    Warning,
    Reason,
    Other,
}

impl HeaderKind {
    /// Every kind but `Other` (tests walk them).
    #[cfg(test)]
    pub(crate) const KNOWN: [HeaderKind; 19] = {
        use HeaderKind::*;
        [
            Via,
            From,
            To,
            CallId,
            CSeq,
            ContentLength,
            ContentType,
            ContentEncoding,
            Contact,
            WwwAuthenticate,
            ProxyAuthenticate,
            Authorization,
            ProxyAuthorization,
            UserAgent,
            Server,
            Expires,
            Event,
            Warning,
            Reason,
        ]
    };

    /// Classifies a header name, case-insensitively, long or compact form.
    pub fn classify(name: &[u8]) -> HeaderKind {
        use HeaderKind::*;
        let Some(first) = name.first().map(u8::to_ascii_lowercase) else {
            return Other;
        };
        if name.len() == 1 {
            return compact_form(first);
        }
        // This runs for every header of every message. Length and first
        // letter leave at most one known name (two for 7 and 'c', told
        // apart by the second letter), so one case-insensitive compare
        // decides, without a lower-case copy; with the length a constant
        // that compare is a few word operations.
        match (name.len(), first) {
            (2, b't') => named(name, b"to", To),
            (3, b'v') => named(name, b"via", Via),
            (4, b'f') => named(name, b"from", From),
            (4, b'c') => named(name, b"cseq", CSeq),
            (5, b'e') => named(name, b"event", Event),
            (6, b's') => named(name, b"server", Server),
            (6, b'r') => named(name, b"reason", Reason),
            (7, b'c') if name[1].eq_ignore_ascii_case(&b'a') => named(name, b"call-id", CallId),
            (7, b'c') => named(name, b"contact", Contact),
            (7, b'e') => named(name, b"expires", Expires),
            (7, b'w') => named(name, b"warning", Warning),
            (10, b'u') => named(name, b"user-agent", UserAgent),
            (12, b'c') => named(name, b"content-type", ContentType),
            (13, b'a') => named(name, b"authorization", Authorization),
            (14, b'c') => named(name, b"content-length", ContentLength),
            (16, b'c') => named(name, b"content-encoding", ContentEncoding),
            (16, b'w') => named(name, b"www-authenticate", WwwAuthenticate),
            (18, b'p') => named(name, b"proxy-authenticate", ProxyAuthenticate),
            (19, b'p') => named(name, b"proxy-authorization", ProxyAuthorization),
            _ => Other,
        }
    }

    /// The canonical long name, for reports.
    pub fn canonical(self) -> &'static str {
        use HeaderKind::*;
        match self {
            Via => "Via",
            From => "From",
            To => "To",
            CallId => "Call-ID",
            CSeq => "CSeq",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            ContentEncoding => "Content-Encoding",
            Contact => "Contact",
            WwwAuthenticate => "WWW-Authenticate",
            ProxyAuthenticate => "Proxy-Authenticate",
            Authorization => "Authorization",
            ProxyAuthorization => "Proxy-Authorization",
            UserAgent => "User-Agent",
            Server => "Server",
            Expires => "Expires",
            Event => "Event",
            Warning => "Warning",
            Reason => "Reason",
            Other => "",
        }
    }
}

impl HeaderKind {
    /// [`HeaderKind::classify`] of `block[..len]`, for a name of 1 to 15
    /// bytes read as the start of 16 bytes of the message (what follows
    /// the name does not matter; a `len` of 16 or more is classified as
    /// `block`). Two word compares against the one or two known names of
    /// that length and first letter, inlined in the header loop: cheaper
    /// than the general match and its call.
    #[inline(always)]
    pub(crate) fn classify_block(block: &[u8; 16], len: usize) -> HeaderKind {
        let Some(slots) = SHORT_NAME_SLOTS.get(len) else {
            return HeaderKind::classify(block.get(..len).unwrap_or(block));
        };
        let (lo, hi) = block.split_at(8);
        let lo = u64::from_le_bytes(lo.try_into().unwrap_or_default());
        let hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
        // A byte that is no letter may share a letter's slot: the compare
        // turns it down.
        let mut slot = slots[usize::from(block[0] & 0x1f)];
        while let Some(name) = SHORT_NAMES.get(usize::from(slot).wrapping_sub(1)) {
            if name.matches(lo, hi) {
                return name.kind;
            }
            slot = name.alt;
        }
        HeaderKind::Other
    }
}

/// A known name of at most 15 bytes as words: `(word | case) ^ lower`,
/// masked to the name's length, is zero exactly when [`eq_known_name`]
/// (or, for one letter, [`compact_form`]) would accept the bytes.
#[derive(Clone, Copy)]
struct ShortName {
    lower: [u64; 2],
    case: [u64; 2],
    mask: [u64; 2],
    kind: HeaderKind,
    /// 1 + index of the other name of the same length and first letter
    /// (Call-ID and Contact), or 0.
    alt: u8,
}

impl ShortName {
    #[inline(always)]
    fn matches(&self, lo: u64, hi: u64) -> bool {
        (((lo | self.case[0]) ^ self.lower[0]) & self.mask[0])
            | (((hi | self.case[1]) ^ self.lower[1]) & self.mask[1])
            == 0
    }

    const fn new(name: &str, kind: HeaderKind) -> ShortName {
        let name = name.as_bytes();
        let mut bytes = [[0u8; 8]; 2];
        let mut case = [[0u8; 8]; 2];
        let mut mask = [[0u8; 8]; 2];
        let mut i = 0;
        while i < name.len() {
            let k = name[i].to_ascii_lowercase();
            bytes[i / 8][i % 8] = k;
            case[i / 8][i % 8] = (k & 0x40) >> 1; // as in eq_known_name
            mask[i / 8][i % 8] = 0xff;
            i += 1;
        }
        ShortName {
            lower: [u64::from_le_bytes(bytes[0]), u64::from_le_bytes(bytes[1])],
            case: [u64::from_le_bytes(case[0]), u64::from_le_bytes(case[1])],
            mask: [u64::from_le_bytes(mask[0]), u64::from_le_bytes(mask[1])],
            kind,
            alt: 0,
        }
    }
}

/// Every known name [`HeaderKind::classify_block`] can see: the long
/// forms of up to 15 bytes and the compact forms.
const SHORT_NAME_COUNT: usize = 24;
static SHORT_NAMES: [ShortName; SHORT_NAME_COUNT] = short_names().0;
/// By length and the first byte's low five bits: 1 + the index in
/// [`SHORT_NAMES`] of the first candidate, or 0.
static SHORT_NAME_SLOTS: [[u8; 32]; 16] = short_names().1;

const fn short_names() -> ([ShortName; SHORT_NAME_COUNT], [[u8; 32]; 16]) {
    use HeaderKind::*;
    let list: [(&str, HeaderKind); SHORT_NAME_COUNT] = [
        ("via", Via),
        ("from", From),
        ("to", To),
        ("call-id", CallId),
        ("cseq", CSeq),
        ("content-length", ContentLength),
        ("content-type", ContentType),
        ("contact", Contact),
        ("authorization", Authorization),
        ("user-agent", UserAgent),
        ("server", Server),
        ("expires", Expires),
        ("event", Event),
        ("warning", Warning),
        ("reason", Reason),
        ("v", Via),
        ("f", From),
        ("t", To),
        ("i", CallId),
        ("l", ContentLength),
        ("c", ContentType),
        ("e", ContentEncoding),
        ("m", Contact),
        ("o", Event),
    ];
    let mut names = [ShortName::new("", Other); SHORT_NAME_COUNT];
    let mut slots = [[0u8; 32]; 16];
    let mut i = 0;
    while i < SHORT_NAME_COUNT {
        let (name, kind) = list[i];
        names[i] = ShortName::new(name, kind);
        let len = name.len();
        let first = (name.as_bytes()[0] & 0x1f) as usize;
        let mut link = &mut slots[len][first];
        while *link != 0 {
            link = &mut names[*link as usize - 1].alt;
        }
        *link = i as u8 + 1;
        i += 1;
    }
    (names, slots)
}

/// `kind` when `name` is `known` (a lower-case header name) in any case.
#[inline(always)]
fn named<const N: usize>(name: &[u8], known: &[u8; N], kind: HeaderKind) -> HeaderKind {
    match <&[u8; N]>::try_from(name) {
        Ok(name) if eq_known_name(name, known) => kind,
        _ => HeaderKind::Other,
    }
}

/// `name == known` ignoring ASCII case, where `known` is a lower-case
/// name (letters and '-': header names, digest parameters, schemes).
/// OR-ing 0x20 lower-cases a letter and makes no other byte one, so
/// letters compare that way and '-' exactly; no branch per byte
/// (`eq_ignore_ascii_case` cost twice as much).
#[inline(always)]
pub(crate) fn eq_known_name<const N: usize>(name: &[u8; N], known: &[u8; N]) -> bool {
    let case_bit = |k: u8| (k & 0x40) >> 1; // 0x20 for a letter, 0 for '-'
    name.iter()
        .zip(known)
        .fold(0, |diff, (&c, &k)| diff | ((c | case_bit(k)) ^ k))
        == 0
}

/// The one-letter forms (RFC 3261 §7.3.3 and later registrations), given
/// the letter in lower case.
pub(crate) fn compact_form(letter: u8) -> HeaderKind {
    use HeaderKind::*;
    match letter {
        b'v' => Via,
        b'f' => From,
        b't' => To,
        b'i' => CallId,
        b'l' => ContentLength,
        b'c' => ContentType,
        b'e' => ContentEncoding,
        b'm' => Contact,
        b'o' => Event,
        _ => Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_forms() {
        assert_eq!(HeaderKind::classify(b"i"), HeaderKind::CallId);
        assert_eq!(HeaderKind::classify(b"I"), HeaderKind::CallId);
        assert_eq!(HeaderKind::classify(b"v"), HeaderKind::Via);
        assert_eq!(HeaderKind::classify(b"f"), HeaderKind::From);
        assert_eq!(HeaderKind::classify(b"t"), HeaderKind::To);
        assert_eq!(HeaderKind::classify(b"l"), HeaderKind::ContentLength);
        assert_eq!(HeaderKind::classify(b"m"), HeaderKind::Contact);
        assert_eq!(HeaderKind::classify(b"CALL-ID"), HeaderKind::CallId);
        assert_eq!(
            HeaderKind::classify(b"Proxy-Authorization"),
            HeaderKind::ProxyAuthorization
        );
        assert_eq!(
            HeaderKind::classify(b"www-authenticate"),
            HeaderKind::WwwAuthenticate
        );
        assert_eq!(HeaderKind::classify(b"X-Foo"), HeaderKind::Other);
        assert_eq!(HeaderKind::classify(b"k"), HeaderKind::Other);
    }

    #[test]
    fn every_case_of_every_long_name() {
        for kind in HeaderKind::KNOWN {
            let name = kind.canonical();
            for variant in [
                name.to_string(),
                name.to_ascii_lowercase(),
                name.to_ascii_uppercase(),
                // Alternating case.
                name.chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i % 2 == 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect(),
            ] {
                assert_eq!(HeaderKind::classify(variant.as_bytes()), kind, "{variant}");
            }
        }
    }

    /// [`HeaderKind::classify_block`] answers as [`HeaderKind::classify`]
    /// for every known name and compact letter, each with any one byte
    /// changed, at every length a block can hold, whatever follows.
    #[test]
    fn classify_block_agrees_with_classify() {
        let mut names: Vec<Vec<u8>> = HeaderKind::KNOWN
            .iter()
            .map(|k| k.canonical().as_bytes().to_vec())
            .collect();
        names.extend((0..=255u8).map(|b| vec![b]));
        for name in names.iter().filter(|n| n.len() <= 16) {
            for i in 0..name.len() {
                for b in 0..=255u8 {
                    let mut near = name.clone();
                    near[i] = b;
                    for tail in [0u8, b':', b'a', 0xff] {
                        let mut block = [tail; 16];
                        block[..near.len()].copy_from_slice(&near);
                        for len in [near.len().saturating_sub(1), near.len()] {
                            assert_eq!(
                                HeaderKind::classify_block(&block, len),
                                HeaderKind::classify(&block[..len]),
                                "{:?} {len}",
                                String::from_utf8_lossy(&block)
                            );
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn classify_block_agrees_on_any_bytes(
            block in proptest::array::uniform16(proptest::sample::select(
                b"aceilnortvwxyACDILTV-_:\r@\xe1\x0d".to_vec())),
            len in 0usize..=16,
        ) {
            proptest::prop_assert_eq!(
                HeaderKind::classify_block(&block, len),
                HeaderKind::classify(&block[..len])
            );
        }
    }

    #[test]
    fn near_misses_are_other() {
        for name in [
            &b""[..],
            b"Vi",
            b"Vias",
            b"Via-",
            b"Viz",
            b"Call-IDs",
            b"Call_ID",
            // CR is '-' with the case bit off: must not pass for '-'.
            b"Call\rID",
            b"Content\rLength",
            b"Content-Lengt\x08",
            b"Contacts",
            b"Contac\x14",
            b"Cxntact",
            b"WWW-Authenticat\xc5",
            b"Proxy-Authorizatio",
            b"T\x0f",
            b"q",
            b"\xd6",
        ] {
            assert_eq!(
                HeaderKind::classify(name),
                HeaderKind::Other,
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }
}

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

/// `kind` when `name` is `known` (a lower-case header name) in any case.
#[inline(always)]
fn named<const N: usize>(name: &[u8], known: &[u8; N], kind: HeaderKind) -> HeaderKind {
    match <&[u8; N]>::try_from(name) {
        Ok(name) if eq_known_name(name, known) => kind,
        _ => HeaderKind::Other,
    }
}

/// `name == known` ignoring ASCII case, where `known` is a lower-case
/// header name (letters and '-'). OR-ing 0x20 lower-cases a letter and
/// makes no other byte one, so letters compare that way and '-' exactly;
/// no branch per byte (`eq_ignore_ascii_case` cost twice as much).
#[inline(always)]
fn eq_known_name<const N: usize>(name: &[u8; N], known: &[u8; N]) -> bool {
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

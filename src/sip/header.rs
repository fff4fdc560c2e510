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
    /// Classifies a header name, case-insensitively, long or compact form.
    pub fn classify(name: &[u8]) -> HeaderKind {
        use HeaderKind::*;
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
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
            };
        }
        // Lower-case into a stack buffer and let the compiler switch on
        // length and bytes: this runs for every header of every message.
        let mut buf = [0u8; 19];
        let Some(dst) = buf.get_mut(..name.len()) else {
            return Other;
        };
        for (d, c) in dst.iter_mut().zip(name) {
            *d = c.to_ascii_lowercase();
        }
        match &*dst {
            b"via" => Via,
            b"from" => From,
            b"to" => To,
            b"call-id" => CallId,
            b"cseq" => CSeq,
            b"content-length" => ContentLength,
            b"content-type" => ContentType,
            b"content-encoding" => ContentEncoding,
            b"contact" => Contact,
            b"www-authenticate" => WwwAuthenticate,
            b"proxy-authenticate" => ProxyAuthenticate,
            b"authorization" => Authorization,
            b"proxy-authorization" => ProxyAuthorization,
            b"user-agent" => UserAgent,
            b"server" => Server,
            b"expires" => Expires,
            b"event" => Event,
            b"warning" => Warning,
            b"reason" => Reason,
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
}

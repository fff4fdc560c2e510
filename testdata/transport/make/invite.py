# Writes invite.sip: an INVITE large enough (3.9 KB) to be fragmented at a
# 1280-byte MTU.
body = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 9 18 101\r\n"
for i in range(60):
    body += f"a=candidate:{i} 1 UDP 2130706431 127.0.0.1 {40000+i} typ host\r\n"
msg = ("INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-frag-1;rport\r\n"
       "From: <sip:alice@127.0.0.1>;tag=frag1\r\n"
       "To: <sip:bob@127.0.0.1>\r\n"
       "Call-ID: frag-invite-1@127.0.0.1\r\n"
       "CSeq: 1 INVITE\r\n"
       "Contact: <sip:alice@127.0.0.1:5070>\r\n"
       "Max-Forwards: 70\r\n"
       "Content-Type: application/sdp\r\n"
       f"Content-Length: {len(body)}\r\n\r\n" + body)
open("invite.sip", "w").write(msg)

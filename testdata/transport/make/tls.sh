ip link set lo up
openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 1 -subj /CN=sip.test 2>/dev/null
tcpdump -i lo -s 0 -w /tmp/mk/tls_5061_openssl.pcap tcp 2>/dev/null &
TD=$!
sleep 1
openssl s_server -accept 5061 -cert c.pem -key k.pem -quiet > /dev/null 2>&1 &
S=$!
sleep 1
printf 'OPTIONS sip:probe@sip.test SIP/2.0\r\nContent-Length: 0\r\n\r\n' | timeout 3 openssl s_client -connect 127.0.0.1:5061 -quiet >/dev/null 2>&1
sleep 1
kill $S; sleep 0.5; kill $TD; wait $TD

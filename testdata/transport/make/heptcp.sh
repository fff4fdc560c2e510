ip link set lo up
python3 -c "
import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',9060)); s.listen(5); s.settimeout(8)
try:
  c,_=s.accept(); c.settimeout(6)
  while c.recv(65535): pass
except Exception: pass" &
P=$!
tcpdump -i lo -s 0 -w /tmp/mk/hep3_tcp_siptrace_kamailio.pcap tcp port 9060 2>/dev/null &
TD=$!
sleep 1
kamailio -DD -E -f /tmp/mk/heptcp.cfg > /tmp/mk/kamheptcp.log 2>&1 &
K=$!
sleep 2
sipsak -f /tmp/mk/reg.sip -s sip:alice@127.0.0.1 -u alice -a wrongpass -l 5070 >/dev/null 2>&1
sipsak -f /tmp/mk/reg.sip -s sip:alice@127.0.0.1 -u alice -a secret -l 5070 >/dev/null 2>&1
sleep 1
kill $K; sleep 0.5; kill $TD; wait $TD; kill $P

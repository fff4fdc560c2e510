ip link set lo up
python3 -c "
import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.1',9060)); s.settimeout(8)
try:
  while True: s.recv(65535)
except Exception: pass" &
P=$!
tcpdump -i lo -s 0 -w /tmp/mk/$1 udp port 9060 2>/dev/null &
TD=$!
sleep 1
kamailio -DD -E -f /tmp/mk/hep.cfg $2 > /tmp/mk/kamhep.log 2>&1 &
K=$!
sleep 2
sipsak -f /tmp/mk/reg.sip -s sip:alice@127.0.0.1 -u alice -a wrongpass -l 5070 >/dev/null 2>&1
sipsak -f /tmp/mk/reg.sip -s sip:alice@127.0.0.1 -u alice -a secret -l 5070 >/dev/null 2>&1
sleep 1
kill $K; sleep 0.5; kill $TD; wait $TD; kill $P

set -x
ip link set lo mtu 1280 up
tcpdump -i lo -s 0 -w /tmp/mk/udp_fragmented_invite_sipsak_kamailio.pcap udp 2>/tmp/mk/td.log &
TD=$!
sleep 1
kamailio -DD -E -f /tmp/mk/kam.cfg > /tmp/mk/kam.log 2>&1 &
K=$!
sleep 2
sipsak -f /tmp/mk/invite.sip -s sip:bob@127.0.0.1 -u alice -a secret -l 5070 -vv
sleep 1
kill $K; sleep 0.5; kill $TD; wait $TD

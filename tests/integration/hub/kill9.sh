#!/usr/bin/env bash
# kill -9 of the hub while a sensor streams a large stdin; after a restart
# the store opens and every committed frame is intact: the stored payloads,
# in order, are exactly a prefix of the bytes sent (no gap, no corruption).
source "$(dirname "$0")/../lib.sh"

t_conf
hub_start
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY

# 48 MiB of deterministic, incompressible bytes
IN=$T_DIR/input.bin
openssl enc -aes-128-ctr -pass pass:d4hub -nosalt -pbkdf2 </dev/zero 2>/dev/null | head -c $((48 << 20)) >"$IN" || true
[ "$(stat -c %s "$IN")" -eq $((48 << 20)) ] || fail "could not make the input"

# fed in 256 KiB pieces so that ingest is still running when the hub dies
mkfifo "$T_DIR/fifo"
(
	exec >"$T_DIR/fifo"
	for i in $(seq 0 191); do
		dd if="$IN" bs=256K skip="$i" count=1 status=none || exit 0
		sleep 0.03
	done
) &
T_BG+=("$!")
SENSOR_IN=$T_DIR/fifo sensor_bg -u "$U" -k "$K" -t 1

# kill once a few MiB are committed
bytes_ge() { [ "$(ctl --json status | json "d['bytes']")" -ge "$1" ]; }
wait_until 30 bytes_ge $((4 << 20)) || fail "ingest did not reach 4 MiB"
hub_kill9
log "hub killed with SIGKILL after $(ctl --json status | json "d['bytes']") committed bytes"
# the sensor must not reach the restarted hub: its frames would open a second session
kill -KILL "$SENSOR_PID" 2>/dev/null || true
_wait_pid "$SENSOR_PID" 30 || fail "d4-sensor did not die on SIGKILL"

# the store must open, with LMDB's own tool and through d4hubctl
mdb_stat -e "$T_DIR/store" >"$T_DIR/mdb_stat.out" 2>&1 || {
	cat "$T_DIR/mdb_stat.out"
	fail "mdb_stat failed"
}
ctl status >/dev/null || fail "d4hubctl status failed after kill -9"
hub_start
log "hub restarted"
ctl status >/dev/null || fail "d4hubctl status failed after restart"

# every committed frame intact and in order: a prefix of the input
ctl --json frames >"$T_DIR/frames.json" || fail "frames --json"
S=$(json "d[0]['session']" <"$T_DIR/frames.json")
ctl frames --session "$S" --payload >"$T_DIR/got" || fail "frames --payload"
"$PY" - "$T_DIR/frames.json" "$T_DIR/got" "$IN" "$U" <<'PYEOF' || fail "stored frames are not an intact prefix of the input"
import json, sys
frames = json.load(open(sys.argv[1]))
got = open(sys.argv[2], 'rb').read()
inp = open(sys.argv[3], 'rb').read()
mine = [f for f in frames if f['uuid'] == sys.argv[4]]
if not mine: sys.exit('no frame survived')
if len(set(f['session'] for f in mine)) != 1: sys.exit('more than one session')
seqs = [f['seq'] for f in mine]
if seqs != sorted(seqs) or len(set(seqs)) != len(seqs): sys.exit('frame log out of order')
if sum(f['size'] for f in mine) != len(got): sys.exit('sizes %d != payload bytes %d' % (sum(f['size'] for f in mine), len(got)))
if got != inp[:len(got)]:
    i = next(i for i in range(len(got)) if got[i] != inp[i])
    sys.exit('payload differs from the input at byte %d' % i)
print('# %d frames, %d bytes: an intact prefix of the %d bytes sent' % (len(mine), len(got), len(inp)))
PYEOF

# the restarted hub keeps ingesting into the same store
craft >"$T_DIR/craft.out" 2>&1 <<EOF || fail "d4-craft after restart: $(cat "$T_DIR/craft.out")"
set uuid=$U key=$K
frame payload=text:after-restart
EOF
after_restart() { ctl frames --payload | grep -q after-restart; }
wait_until 30 after_restart || fail "frame sent after the restart not stored"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass

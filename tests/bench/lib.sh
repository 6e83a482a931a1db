# Shell helpers shared by the benchmarks (tests/bench/*/run.sh); sourced, not run.
# shellcheck shell=bash

# findbin NAME: the executable NAME under the build folder $build (die when missing).
findbin() {
	local p
	p=$(find "$build" -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1)
	[ -n "$p" ] || die "$1 not found under $build"
	echo "$p"
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }
uuidhex() { tr -d '-' </proc/sys/kernel/random/uuid; }
now() { date +%s.%N; }
# calc EXPR: floating point through awk (no bc on a minimal Debian).
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, v }'; }

free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# wait_listen PORT: until something listens on 127.0.0.1:PORT (no connection made: a probe
# would use up one of s_server's accepts).
wait_listen() {
	local hex i
	hex=$(printf '0100007F:%04X' "$1")
	for i in $(seq 1 100); do
		awk -v a="$hex" '$2 == a && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp && return 0
		sleep 0.1
	done
	return 1
}

# utime+stime of a process and all its threads, in seconds.
cpu_s() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	rest=${stat##*) }
	# after "pid (comm) ": state=1 ... utime=12 stime=13
	echo "$rest" | awk -v tck="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / tck }'
}

json_num() { # json_num KEY < json  -> first numeric value of "KEY"
	grep -o "\"$1\"[[:space:]]*:[[:space:]]*[0-9][0-9]*" | head -n 1 | sed 's/.*:[[:space:]]*//'
}

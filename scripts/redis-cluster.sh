#!/usr/bin/env bash
# redis-cluster.sh: a throwaway local Redis Cluster on loopback, for the
# tests, the benchmarks and the failover run. Nothing is kept on disk
# beyond DIR; no Docker needed, only Debian's redis-server and redis-cli.
#
#   scripts/redis-cluster.sh start DIR [MASTERS [REPLICAS]]
#       starts MASTERS (3) masters with REPLICAS (1) replicas each on free
#       loopback ports, joins them with `redis-cli --cluster create`, waits
#       until every node says cluster_state:ok and every replica is in
#       sync, then prints the cluster's URL in go-redis's form
#       (redis://host1:port1?addr=host2:port2&addr=host3:port3)
#   scripts/redis-cluster.sh url DIR     prints that URL again
#   scripts/redis-cluster.sh nodes DIR   prints "port pid role" per node
#   scripts/redis-cluster.sh stop DIR    stops every node and removes DIR
#
# The nodes run as a managed cluster is advised to (docs/cache.md, "Redis Cluster"):
# cluster-require-full-coverage no, so that the slots of the surviving
# masters keep answering while one is down. CLUSTER_NODE_TIMEOUT (ms,
# default 2000, Redis's own is 15000) is how long a master may be silent
# before its replica takes over: short here, so a failover run takes
# seconds.
set -euo pipefail

die() { echo "redis-cluster: $*" >&2; exit 1; }

# free PORT: whether nothing listens on 127.0.0.1:PORT.
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick: a port such that it and its cluster bus port (+10000) are free,
# and that no node of this cluster already has.
pick() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 20000))
		if free "$p" && free $((p + 10000)) && ! grep -qx "$p" "$dir/ports" 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port pair found"
}

info() { # port command field, e.g. info 7000 'cluster info' cluster_state
	# shellcheck disable=SC2086 # the command is words
	redis-cli -h 127.0.0.1 -p "$1" $2 2>/dev/null | tr -d '\r' | sed -n "s/^$3://p"
}

start_node() { # port: starts one node, returns 1 if it does not come up
	local p=$1 d="$dir/$1"
	mkdir -p "$d"
	redis-server --port "$p" --cluster-port $((p + 10000)) --bind 127.0.0.1 \
		--cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
		--cluster-node-timeout "${CLUSTER_NODE_TIMEOUT:-2000}" \
		--cluster-require-full-coverage no \
		--save "" --appendonly no --dir "$d" \
		--daemonize yes --pidfile "$d/redis.pid" --logfile "$d/redis.log"
	for _ in $(seq 50); do
		redis-cli -h 127.0.0.1 -p "$p" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	return 1
}

# alive PID: whether the process runs (a zombie does not: a daemonized
# node is reaped by whoever adopted it, perhaps only later).
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

url() {
	[ -s "$dir/ports" ] || die "no cluster in $dir"
	local first rest
	first=$(head -1 "$dir/ports")
	rest=$(head -"$(cat "$dir/masters")" "$dir/ports" | tail -n +2 | sed 's/^/addr=127.0.0.1:/' | paste -sd'&')
	echo "redis://127.0.0.1:$first${rest:+?$rest}"
}

stop() {
	[ -d "$dir" ] || return 0
	local f p pids=()
	for f in "$dir"/*/redis.pid; do
		[ -f "$f" ] && pids+=("$(cat "$f" 2>/dev/null)")
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
	done
	rm -rf "$dir"
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|url|nodes|stop DIR [MASTERS [REPLICAS]]"

case "$cmd" in
start)
	masters=${3:-3}
	replicas=${4:-1}
	[ "$masters" -ge 3 ] || die "a cluster needs at least 3 masters"
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
		die "redis-server and redis-cli are needed (Debian: apt-get install redis-server)"
	mkdir -p "$dir"
	: >"$dir/ports"
	echo "$masters" >"$dir/masters"
	total=$((masters * (1 + replicas)))
	for _ in $(seq "$total"); do
		ok=
		for _ in 1 2 3; do # another program may take the port between pick and bind
			p=$(pick)
			if start_node "$p"; then ok=1; break; fi
			rm -rf "${dir:?}/$p"
		done
		[ -n "$ok" ] || { stop; die "a node did not start"; }
		echo "$p" >>"$dir/ports"
	done
	# redis-cli makes the first MASTERS addresses masters and gives each
	# the next REPLICAS as replicas (on one host it warns, and goes on).
	mapfile -t ports <"$dir/ports"
	if ! redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas "$replicas" \
		--cluster-yes >"$dir/create.log" 2>&1; then
		cat "$dir/create.log" >&2
		stop
		die "redis-cli --cluster create failed"
	fi
	for _ in $(seq 300); do
		ready=1
		for p in "${ports[@]}"; do
			[ "$(info "$p" 'cluster info' cluster_state)" = ok ] &&
				[ "$(info "$p" 'cluster info' cluster_known_nodes)" = "$total" ] || { ready=; break; }
			if [ "$(info "$p" 'info replication' role)" = slave ]; then
				[ "$(info "$p" 'info replication' master_link_status)" = up ] || { ready=; break; }
			fi
		done
		[ -n "$ready" ] && break
		sleep 0.1
	done
	[ -n "$ready" ] || { stop; die "the cluster did not reach cluster_state:ok within 30 s"; }
	url
	;;
url) url ;;
nodes)
	while read -r p; do
		echo "$p $(cat "$dir/$p/redis.pid" 2>/dev/null || echo -) $(info "$p" 'info replication' role)"
	done <"$dir/ports"
	;;
stop) stop ;;
*) die "unknown command $cmd" ;;
esac

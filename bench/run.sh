#!/usr/bin/env bash
# bench/run.sh: the cache figures of issue 4, side by side in one run, as
# one table. Needs go, redis-server, wrk, nginx and curl
# (Debian: apt-get install -y redis-server wrk nginx curl).
#
#   bench/run.sh                 # wrk -t2 -c64 -d10s, 250 customers
#   DURATION=30s bench/run.sh    # longer
#
# It starts, on loopback ports BASE_PORT (19100) and up, all of its own:
# a throwaway redis-server (no persistence), the simulated Extend Commerce
# with CUSTOMERS generated customers (bench/benchtool erp), two gateway
# replicas built with `go build` sharing that Redis, a static origin
# serving one of the gateway's own answers (~2 KB), and nginx with
# proxy_cache (and proxy_cache_lock) in front of it. Everything is stopped
# at the end. The gateway runs with every default setting, its ERP budget
# included: Extend's standard 300 calls a minute per rate-limit group
# warms 250 customers' answers (one call each) within one window, so the
# hits measured are hits, and the cold burst's one call finds budget.
#
# Rows:
#  hit:  wrk over one answer per customer (their latest order, 1-2 KB;
#        nginx's origin serves the first customer's), warm caches. nginx serves
#        from proxy_cache; the gateway from its in-process tier (API key
#        check, routing, request log at info level to /dev/null included).
#  cold: 200 concurrent requests for one key nobody has cached, the origin
#        (nginx) or the ERP (gateway) answering in 50 ms; the gateway's 200
#        are spread over both replicas. "origin calls" counts the fetches.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
CUSTOMERS=${CUSTOMERS:-250} # more than ~290 cannot be warmed within one window of the default budget
P=${BASE_PORT:-19100}
KEY=bench-key-0123456789
REDIS_PORT=$P ERP=127.0.0.1:$((P + 1)) GW_A=127.0.0.1:$((P + 2)) GW_B=127.0.0.1:$((P + 3))
ORIGIN=127.0.0.1:$((P + 4)) NGINX=127.0.0.1:$((P + 5))

work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

wait_port() { # host:port
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}

echo "building..." >&2
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/benchtool" ./bench/benchtool

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
"$work/benchtool" erp -addr "$ERP" -customers "$CUSTOMERS" -paths "$work/paths.txt" -cold "$work/cold.txt" &
pids+=($!)
wait_port "127.0.0.1:$REDIS_PORT"
wait_port "$ERP"

for gw in "$GW_A" "$GW_B"; do
	REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" EXTEND_BASE_URL="http://$ERP" PUBLIC_BASE_URL=https://gateway.bench.test \
		EXTEND_CLIENT_ID=bench EXTEND_CLIENT_SECRET=bench-secret VENDRE_API_KEYS=$KEY \
		DOCUMENT_SECRET=bench-document-secret \
		LISTEN_ADDR="$gw" LOG_LEVEL=${GW_LOG_LEVEL:-info} "$work/gateway" 2>/dev/null &
	pids+=($!)
done
wait_port "$GW_A"
wait_port "$GW_B"

# The origin serves one of the gateway's own answers.
first=$(head -1 "$work/paths.txt")
curl -sf -H "X-Api-Key: $KEY" "http://$GW_A$first" >"$work/answer.json"
bytes=$(wc -c <"$work/answer.json")
"$work/benchtool" origin -addr "$ORIGIN" -body "$work/answer.json" &
pids+=($!)
wait_port "$ORIGIN"

mkdir -p "$work/nginx-cache" "$work/logs"
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log $work/logs/access.log combined buffer=64k;
	client_body_temp_path $work/tmp-body;
	proxy_temp_path $work/tmp-proxy;
	fastcgi_temp_path $work/tmp-fcgi;
	uwsgi_temp_path $work/tmp-uwsgi;
	scgi_temp_path $work/tmp-scgi;
	proxy_cache_path $work/nginx-cache levels=1:2 keys_zone=gw:16m max_size=256m inactive=60m use_temp_path=off;
	upstream origin { server $ORIGIN; keepalive 64; }
	server {
		listen $NGINX;
		location = /healthz { return 200 "ok"; }
		location / {
			proxy_pass http://origin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache gw;
			proxy_cache_key \$request_uri;
			proxy_cache_valid 200 10m;
			proxy_cache_lock on;
			proxy_cache_lock_timeout 10s;
			add_header X-Cache \$upstream_cache_status;
		}
	}
}
CONF
nginx -p "$work" -c "$work/nginx.conf" -g 'user root;' 2>/dev/null || nginx -p "$work" -c "$work/nginx.conf"
wait_port "$NGINX"

# wrk_run NAME URL: prints "req/s p99_ms non2xx".
wrk_run() {
	PATHS="$work/paths.txt" API_KEY=$KEY wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
		-s bench/paths.lua "$2" >"$work/wrk-$1.txt"
	local rps p99
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$1.txt")
	p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$work/wrk-$1.txt")
	local bad
	bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$work/wrk-$1.txt")
	echo "$rps $p99 ${bad:-0}"
}

echo "warming both caches over $(wc -l <"$work/paths.txt") customers..." >&2
PATHS="$work/paths.txt" API_KEY=$KEY wrk -t"$THREADS" -c"$CONNS" -d3s -s bench/paths.lua "http://$NGINX" >/dev/null
PATHS="$work/paths.txt" API_KEY=$KEY wrk -t"$THREADS" -c"$CONNS" -d5s -s bench/paths.lua "http://$GW_A" >/dev/null
hits=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Api-Key: $KEY" "http://$GW_A$first")

echo "measuring nginx proxy_cache..." >&2
read -r nginx_rps nginx_p99 nginx_bad < <(wrk_run nginx "http://$NGINX")
echo "measuring the gateway's cache hits..." >&2
read -r gw_rps gw_p99 gw_bad < <(wrk_run gateway "http://$GW_A")

echo "cold bursts..." >&2
cold=$(head -1 "$work/cold.txt")
# Each replica's OAuth token first, then a 50 ms ERP.
curl -sf -o /dev/null -H "X-Api-Key: $KEY" "http://$GW_B$first"
curl -sf -X POST "http://$ERP/_latency?d=50ms"
calls() { curl -sf "http://$ERP/_calls" | sed 's/.*"order":\([0-9]*\).*/\1/'; }
gw_one=$("$work/benchtool" burst -n 1 -header "X-Api-Key: $KEY" "http://$GW_A$(sed -n 2p "$work/cold.txt")")
before=$(calls)
gw_cold=$("$work/benchtool" burst -n 200 -header "X-Api-Key: $KEY" "http://$GW_A$cold" "http://$GW_B$cold")
gw_calls=$(($(calls) - before))

curl -sf -X POST "http://$ORIGIN/_latency?d=50ms"
ocalls() { curl -sf "http://$ORIGIN/_calls" | sed 's/.*"calls":\([0-9]*\).*/\1/'; }
before=$(ocalls)
ng_cold=$("$work/benchtool" burst -n 200 "http://$NGINX/cold/never-seen")
ng_calls=$(($(ocalls) - before))

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
echo
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "answer: $bytes bytes; customers: $(wc -l <"$work/paths.txt"); wrk -t$THREADS -c$CONNS -d$DURATION"
echo
printf '%-34s %12s %10s %10s %12s\n' "case" "req/s" "p50 ms" "p99 ms" "origin calls"
printf '%-34s %12s %10s %10s %12s\n' "hit: nginx proxy_cache" "$nginx_rps" "-" "$nginx_p99" "-"
printf '%-34s %12s %10s %10s %12s\n' "hit: gateway (in-process tier)" "$gw_rps" "-" "$gw_p99" "-"
printf '%-34s %12s\n' "hit: gateway / nginx" "$(awk -v a="$gw_rps" -v b="$nginx_rps" 'BEGIN {printf "%.2fx", a/b}')"
printf '%-34s %12s\n' "p99: gateway / nginx" "$(awk -v a="$gw_p99" -v b="$nginx_p99" 'BEGIN {printf "%.2fx", a/b}')"
printf '%-34s %12s %10s %10s %12s\n' "cold x200: nginx proxy_cache_lock" "-" "$(field p50_ms "$ng_cold")" "$(field p99_ms "$ng_cold")" "$ng_calls"
printf '%-34s %12s %10s %10s %12s\n' "cold x1: gateway (the floor)" "-" "$(field p50_ms "$gw_one")" "-" "1"
printf '%-34s %12s %10s %10s %12s\n' "cold x200: gateway, 2 replicas" "-" "$(field p50_ms "$gw_cold")" "$(field p99_ms "$gw_cold")" "$gw_calls"
echo
echo "hit runs' answers other than 2xx: nginx $nginx_bad, gateway $gw_bad"
echo "cold statuses: nginx $(sed 's/.*statuses=//' <<<"$ng_cold"); gateway $(sed 's/.*statuses=//' <<<"$gw_cold")"
[ "$hits" = 200 ] || echo "warning: a warm gateway request answered $hits" >&2

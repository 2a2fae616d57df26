#!/usr/bin/env bash
# with-redis.sh CMD...: runs CMD with REDIS_TEST_URL pointing at a Redis the
# tests may use. It uses $REDIS_TEST_URL or $REDIS_URL when set, else a Redis
# answering on 127.0.0.1:6379, else a throwaway redis-server on a free port
# (stopped afterwards). With none to be had, tests that need Redis skip,
# unless REQUIRE_REDIS=1, which makes this script fail instead.
set -euo pipefail

ping() { # url
	command -v redis-cli >/dev/null 2>&1 || return 1
	redis-cli -u "$1" ping 2>/dev/null | grep -q PONG
}

url="${REDIS_TEST_URL:-${REDIS_URL:-}}"
if [ -z "$url" ] && ping redis://127.0.0.1:6379/0; then
	url=redis://127.0.0.1:6379/0
fi
if [ -z "$url" ] && command -v redis-server >/dev/null 2>&1; then
	dir=$(mktemp -d)
	port=$(( 20000 + RANDOM % 20000 ))
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
	trap 'kill "$(cat "$dir/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir"' EXIT
	for _ in $(seq 50); do ping "redis://127.0.0.1:$port/0" && break; sleep 0.1; done
	url="redis://127.0.0.1:$port/0"
	echo "with-redis: started a throwaway redis-server on 127.0.0.1:$port" >&2
fi
if [ -z "$url" ]; then
	if [ "${REQUIRE_REDIS:-}" = 1 ]; then
		echo "with-redis: no Redis reachable and no redis-server installed, and REQUIRE_REDIS=1" >&2
		exit 1
	fi
	echo "with-redis: no Redis: tests that need it will skip (set REQUIRE_REDIS=1 to fail instead)" >&2
else
	export REDIS_TEST_URL="$url"
fi
"$@"

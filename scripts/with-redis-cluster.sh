#!/usr/bin/env bash
# with-redis-cluster.sh CMD...: runs CMD with REDIS_TEST_URL naming a Redis
# Cluster the tests may use: $REDIS_TEST_CLUSTER_URL when set (go-redis's
# form, redis://host1:port1?addr=host2:port2&addr=host3:port3), else a
# throwaway local cluster of 3 masters with a replica each
# (scripts/redis-cluster.sh), stopped afterwards. Without redis-server,
# tests that need Redis skip, unless REQUIRE_REDIS=1, which makes this
# script fail instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

url="${REDIS_TEST_CLUSTER_URL:-}"
if [ -z "$url" ] && command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
	dir=$(mktemp -d)
	trap '"$here/redis-cluster.sh" stop "$dir"' EXIT
	url=$("$here/redis-cluster.sh" start "$dir")
	echo "with-redis-cluster: started a throwaway Redis Cluster at $url" >&2
fi
if [ -z "$url" ]; then
	if [ "${REQUIRE_REDIS:-}" = 1 ]; then
		echo "with-redis-cluster: no REDIS_TEST_CLUSTER_URL and no redis-server to start one, and REQUIRE_REDIS=1" >&2
		exit 1
	fi
	echo "with-redis-cluster: no Redis Cluster: tests that need Redis will skip (set REQUIRE_REDIS=1 to fail instead)" >&2
	unset REDIS_TEST_URL REDIS_URL
else
	export REDIS_TEST_URL="$url"
fi
"$@"

#!/usr/bin/env bash
# The OpenAPI document is the contract: schemathesis (pinned, from PyPI, in a
# virtualenv under target/) fuzzes the real server against /openapi.json,
# once with a tenant token and once with the admin token: every check (set
# in .ci/schemathesis.toml, with the few documented exceptions), every phase
# (examples, coverage, fuzzing, stateful), bounded in examples and time. Any
# finding fails the run.
#
# Uses the debug binary that `cargo test` built (builds it if missing).
# Environment: STRATA_BIN (binary), ST_MAX_EXAMPLES (per operation and
# phase, default 30), ST_MAX_TIME (seconds per run, default 100).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
bin="${STRATA_BIN:-target/debug/strata}"
max_examples="${ST_MAX_EXAMPLES:-30}"
max_time="${ST_MAX_TIME:-100}"
admin_token="schemathesis-admin-token-0123456789abcdef"

if [ ! -x "$bin" ]; then
  cargo build -q -p strata-cli --bin strata
fi

venv="target/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$venv/bin/st" ]; then
  echo "Installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

ci="$PWD/.ci"
st="$PWD/$venv/bin/st"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A seeded data directory: two tenants, a token each, a few artifacts (one
# of them warm, so restores have something to do) and a hold.
export STRATA_DATA_DIR="$work/data" STRATA_ADMIN_TOKEN="$admin_token"
unset STRATA_CONFIG
strata() { "$bin" "$@"; }
strata tenant add acme --plan pro >/dev/null
strata tenant add globex >/dev/null
acme_token="$(strata tenant token create acme | tail -n 1 | tr -d '[:space:]')"
strata tenant token create globex >/dev/null
printf 'first artifact\n' >"$work/a.txt"
head -c 4096 /dev/zero >"$work/b.bin"
strata put acme/nightly/report.txt "$work/a.txt" --tag branch=main >/dev/null
strata put acme/nightly/blob.bin "$work/b.bin" >/dev/null
strata put globex/ci/log.txt "$work/a.txt" >/dev/null
strata lifecycle run --as-of +10d --wait >/dev/null
strata put acme/nightly/fresh.txt "$work/a.txt" >/dev/null
strata put acme/archive/kept.txt "$work/a.txt" >/dev/null
strata retention hold acme/archive --reason "schemathesis seed" >/dev/null

# The API alone: queued jobs stay queued, which the API reports as pending.
# The binary itself in the background (not a function's subshell), so the
# pid is the server's and the cleanup stops it.
"$bin" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^Listening on http://' "$work/serve.out" 2>/dev/null && break
  sleep 0.1
done
base="$(sed -n 's/^Listening on //p' "$work/serve.out" | head -n 1)"
[ -n "$base" ] || { echo "strata serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }

fuzz() {
  local who="$1" token="$2"
  echo "== schemathesis $SCHEMATHESIS_VERSION as $who against $base"
  # From the scratch directory, so schemathesis keeps its own files there.
  (cd "$work" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ci" \
    timeout --kill-after=10 $((max_time + 60)) "$st" --config-file "$ci/schemathesis.toml" run "$base/openapi.json" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$max_examples" \
    --max-time "$max_time" \
    --seed 20261130 \
    --request-timeout 10 \
    --workers 1 \
    --no-color \
    --header "Authorization: Bearer $token")
}

# The tenant first: the admin run's stateful phase may revoke its token.
status=0
fuzz "acme's token" "$acme_token" || status=1
fuzz "the admin token" "$admin_token" || status=1
if [ "$status" -ne 0 ]; then
  echo "schemathesis found the server and its OpenAPI document disagreeing (see above)" >&2
  tail -n 50 "$work/serve.log" >&2
fi
exit "$status"

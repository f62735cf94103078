#!/bin/bash
# upstream-head-interop.sh: the agent against upstream nodelink's real
# server (today's, StreamCommunication), built here from its source with
# Debian's Go packages.  Not part of `make check': it needs upstream's
# source, which the tarball does not carry.
#
#   tools/upstream-head-interop.sh UPSTREAM [AGENT]
#
# UPSTREAM is a checkout of upstream nodelink (commit 87d9092: its server/
# and proto/); AGENT the agent to try (./nodelink-agent).  As root on
# Debian 12: it installs Debian's Go 1.19 and Go packages, builds the
# server in a temporary directory (upstream's generated protobuf code is
# generated again by Debian's protoc-gen-go and protoc-gen-go-grpc: the
# shipped one needs newer libraries than Debian's; nothing else of
# upstream's changes), starts it, starts the agent (--wire-dialect auto),
# and checks through the server's HTTP API that the agent is online, that
# commands, a terminal session (its close ending a background child) and
# the metrics stream work, and that it stays online through a 60 s
# command.  Each check prints ok or FAIL; the exit status is the number
# of failures.
set -u
src=${1:?usage: $0 UPSTREAM [AGENT]}
agent=$(realpath "${2:-./nodelink-agent}")
work=$(mktemp -d /tmp/nodelink-interop.XXXXXX)
grpc_port=${GRPC_PORT:-19090}
http_port=${HTTP_PORT:-18080}
api=http://127.0.0.1:$http_port
failures=0

check() {	# check WHAT COMMAND...: ok, or FAIL and a count
  local what=$1
  shift
  if "$@"; then echo "ok - $what"; else echo "FAIL - $what"; failures=$((failures + 1)); fi
}

# golang-github-golang-protobuf-1-5-dev by name: with the 1.3 that apt
# picks for golang-google-grpc-dev by default, the server panics at its
# first message to an agent.
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q golang-go protobuf-compiler protoc-gen-go \
  protoc-gen-go-grpc golang-google-protobuf-dev \
  golang-github-golang-protobuf-1-5-dev golang-google-grpc-dev \
  golang-github-gin-gonic-gin-dev golang-github-gin-contrib-cors-dev \
  golang-github-google-uuid-dev curl >/dev/null || exit 1

pkg=$work/gopath/src/github.com/mooncorn/nodelink
mkdir -p "$pkg"
cp -a "$src/server" "$pkg/server"
rm -f "$pkg"/server/internal/proto/agent*.pb.go
protoc -I "$src/proto" \
  --go_out="$pkg/server/internal/proto" --go_opt=paths=source_relative \
  --go-grpc_out="$pkg/server/internal/proto" \
  --go-grpc_opt=paths=source_relative "$src/proto/agent.proto" || exit 1
(cd "$pkg/server" && GO111MODULE=off GOPROXY=off \
  GOPATH=$work/gopath:/usr/share/gocode GOCACHE=$work/gocache \
  go build -o "$work/server" ./cmd/server) || exit 1

GRPC_PORT=$grpc_port PORT=$http_port "$work/server" >"$work/server.log" 2>&1 &
server=$!
"$agent" --server "127.0.0.1:$grpc_port" --agent-id agent1 \
  --agent-token secret_token1 --state-dir "$work/state" \
  >"$work/agent.log" 2>&1 &
agent_pid=$!
trap 'kill $agent_pid $server 2>/dev/null; wait 2>/dev/null' EXIT

online() { curl -s "$api/agents" | grep -q '"agent_id":"agent1","status":"online"'; }
for _ in $(seq 1 100); do online && break; sleep 0.1; done
check "the agent is online" online

post() { curl -s -X POST "$api$1" -H 'Content-Type: application/json' -H 'X-User-ID: u1' -d "$2"; }
out=$(post /commands '{"agent_id":"agent1","command":"echo hello; exit 3","timeout_seconds":10}')
check "a shell command: $out" grep -q '"exit_code":3,"stdout":"hello"' <<<"$out"
out=$(post /commands '{"agent_id":"agent1","command":"printf","args":["%s|","a b"],"timeout_seconds":10}')
check "a command with arguments: $out" grep -q '"stdout":"a b|"' <<<"$out"
out=$(curl -s "$api/metrics/agent1")
check "system info: $out" grep -q '"platform":' <<<"$out"

sid=$(post /terminals '{"agent_id":"agent1"}' | sed -n 's/.*"session_id":"\([^"]*\)".*/\1/p')
timeout 6 curl -s -N "$api/terminals/$sid/stream?user_id=u1" >"$work/term.sse" &
sleep 1
post "/terminals/$sid/command" '{"command":"cd /tmp; X=42"}' >/dev/null
post "/terminals/$sid/command" '{"command":"echo X=$X in $PWD; (sleep 987771 &); echo bg"}' >/dev/null
sleep 2
curl -s -X DELETE "$api/terminals/$sid" -H 'X-User-ID: u1' >/dev/null
wait $! 2>/dev/null
check "a terminal session keeps its state" grep -q '"output":"X=42 in /tmp"' "$work/term.sse"
check "closing it ends the session" grep -q 'Session ended with exit code' "$work/term.sse"
check "and what it left running" sh -c '! pgrep -f "slee[p] 987771" >/dev/null'

timeout 12 curl -s -N "$api/metrics/agent1/stream" >"$work/metrics.sse"
check "the metrics stream (2 or more in 12 s)" \
  test "$(grep -c '"cpu_usage_percent"' "$work/metrics.sse")" -ge 2

post /commands '{"agent_id":"agent1","command":"sleep 60; echo done","timeout_seconds":90}' >"$work/long.json" &
long=$!
offline=0
for _ in $(seq 1 12); do sleep 5; online || offline=1; done
wait $long
check "online through a 60 s command" test $offline = 0
check "the 60 s command's answer" grep -q '"stdout":"done"' "$work/long.json"
echo "logs in $work"
exit $failures

#!/usr/bin/env bash
# `npm run test:localstack`: the e2e suite against real LocalStack. Deploys the
# dev stage with cdklocal and runs the same suite body as the local target, plus
# the checks only this target makes (localstack/vitest.config.ts).
#
# Two modes:
# - container: Docker answers and LOCALSTACK_AUTH_TOKEN is set: LocalStack's
#   image, which runs Lambda in Docker itself (LOCALSTACK_MODE=container forces it);
# - host (otherwise; these machines and CI): community localstack-core in its
#   own Python 3.13 venv (localstack/setup.sh), Lambda through the project's
#   runtime executor (localstack/executor), every server on 127.0.0.1 on a free
#   port, nothing downloaded at run time but packages from the registries.
#
# Everything it starts is stopped at the end, also on failure and Ctrl-C: each
# server runs in its own process group, and the EXIT trap ends every group.
# KEEP_LOCALSTACK=1 leaves LocalStack running for a look around (it says where).
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything runs inside main, so bash has read the whole file before it starts:
# editing the script while a run is going cannot change that run.
main() {

say() { echo "test:localstack: $*"; }
fail() { echo "test:localstack: error: $*" >&2; exit 2; }

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_DEFAULT_REGION=$AWS_REGION
export E2E_STACK=${E2E_STACK:-Outbox-dev}
started_at=$(date +%s)

mode=${LOCALSTACK_MODE:-}
if [ -z "$mode" ]; then
  mode=host
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && [ -n "${LOCALSTACK_AUTH_TOKEN:-}" ]; then
    mode=container
  fi
fi
[ "$mode" = host ] || [ "$mode" = container ] || fail "LOCALSTACK_MODE must be host or container, got $mode"

mkdir -p .localstack
run_dir=$(mktemp -d "$PWD/.localstack/run.XXXXXX")
groups=()
group_names=()
container=""
status_file="$run_dir/status"

# Ends every process group this script started (TERM, then KILL after 15 s), and
# anything still running from this run's folder (DynamoDB Local is started by
# LocalStack in a session of its own; it also exits by itself when LocalStack goes).
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [ "${KEEP_LOCALSTACK:-}" = 1 ] && [ "$code" = 0 ]; then
    local stop=""
    for group in "${groups[@]}"; do stop="$stop -$group"; done
    say "KEEP_LOCALSTACK=1: LocalStack stays up at $AWS_ENDPOINT_URL (logs in $run_dir); stop everything with: kill --$stop"
    exit "$code"
  fi
  local index
  for group in "${groups[@]}"; do kill -TERM -- "-$group" 2>/dev/null || true; done
  local deadline=$((SECONDS + 15))
  for index in "${!groups[@]}"; do
    group=${groups[$index]}
    while kill -0 -- "-$group" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 -- "-$group" 2>/dev/null; then
      say "${group_names[$index]} did not stop within 15 s of SIGTERM; killing it"
      kill -KILL -- "-$group" 2>/dev/null || true
    fi
    wait "$group" 2>/dev/null || true
  done
  local left
  left=$(pgrep -f -- "$run_dir" 2>/dev/null || true)
  deadline=$((SECONDS + 5))
  while [ -n "$left" ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.2
    left=$(pgrep -f -- "$run_dir" 2>/dev/null || true)
  done
  # Only processes whose command line names this run's unique folder: ours, by id.
  for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ -n "$container" ]; then docker rm -f "$container" >/dev/null 2>&1 || true; fi
  if [ "$code" != 0 ] && [ -f "$run_dir/localstack.log" ]; then
    echo "--- last lines of the LocalStack log ($run_dir/localstack.log) ---" >&2
    tail -n 40 "$run_dir/localstack.log" >&2 || true
  else
    rm -rf "$run_dir"
  fi
  say "finished in $(($(date +%s) - started_at)) s with exit code $code"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# Starts "$@" in a process group of its own, output to $run_dir/<name>.log; sets $last_pid.
start_group() {
  local name=$1
  shift
  setsid "$@" >"$run_dir/$name.log" 2>&1 </dev/null &
  last_pid=$!
  groups+=("$last_pid")
  group_names+=("$name")
}

# Waits until "$2" answers (curl), while process $1 lives; $3 seconds at most.
wait_for() {
  local pid=$1 url=$2 seconds=$3 name=$4
  local deadline=$((SECONDS + seconds))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$run_dir/$name.log" >&2; fail "$name exited before it answered"; }
    [ $SECONDS -lt $deadline ] || { tail -n 30 "$run_dir/$name.log" >&2; fail "$name did not answer within $seconds s"; }
    sleep 0.2
  done
}

vitest_env=()
if [ "$mode" = host ]; then
  setup_started=$SECONDS
  bash localstack/setup.sh
  say "set-up took $((SECONDS - setup_started)) s"
  venv=.localstack/venv
  [ -x .venv/bin/python ] || fail "the project's .venv with moto is missing; run npm run setup"

  say "runtime executor tests (pytest)"
  (cd localstack/executor && "../../$venv/bin/python" -m pytest -q -p no:cacheprovider tests)

  # moto's SES v2 for the notifications consumer: community LocalStack answers 501 for sesv2.
  moto_port=$(free_port)
  start_group moto .venv/bin/python -m moto.server -H 127.0.0.1 -p "$moto_port"
  moto_pid=$last_pid
  export E2E_MOTO_ENDPOINT="http://127.0.0.1:$moto_port"

  gateway_port=$(free_port)
  export AWS_ENDPOINT_URL="http://127.0.0.1:$gateway_port"

  # The relay reaches EventBridge through a fault proxy, so the relay test can refuse one
  # batch's PutEvents the way IAM would (test/e2e/localstack-fault-proxy.ts).
  start_group fault-proxy node_modules/.bin/tsx test/e2e/localstack-fault-proxy.ts \
    --target "$AWS_ENDPOINT_URL" --port-file "$run_dir/fault-proxy.port"
  proxy_pid=$last_pid
  for _ in $(seq 1 100); do [ -s "$run_dir/fault-proxy.port" ] && break; kill -0 "$proxy_pid" || break; sleep 0.1; done
  [ -s "$run_dir/fault-proxy.port" ] || { cat "$run_dir/fault-proxy.log" >&2; fail "the fault proxy did not start"; }
  export E2E_FAULT_PROXY="http://127.0.0.1:$(cat "$run_dir/fault-proxy.port")"
  export E2E_EXECUTOR_JOURNAL="$run_dir/invocations.jsonl"
  wait_for "$moto_pid" "$E2E_MOTO_ENDPOINT/moto-api/data.json" 60 moto

  say "starting LocalStack (host mode) on $AWS_ENDPOINT_URL"
  # State and temporary files are this run's own; the packages (.localstack/fs) are shared
  # by a link, and every path LocalStack passes to its servers names this run's folder.
  mkdir -p "$run_dir/tmp" "$run_dir/fs/var/lib/localstack"
  ln -s "$PWD/.localstack/fs/var/lib/localstack/lib" "$run_dir/fs/var/lib/localstack/lib"
  start_group localstack env \
    OVERRIDE_IN_DOCKER=0 \
    FILESYSTEM_ROOT="$run_dir/fs" \
    TMPDIR="$run_dir/tmp" \
    GATEWAY_LISTEN="127.0.0.1:$gateway_port" GATEWAY_SERVER=hypercorn \
    DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 \
    PROVIDER_OVERRIDE_DYNAMODB=v2 PROVIDER_OVERRIDE_DYNAMODBSTREAMS=v2 \
    LAMBDA_RUNTIME_EXECUTOR=outbox-process \
    OUTBOX_EXECUTOR_NODE="$PWD/node_modules/.bin/node" \
    OUTBOX_EXECUTOR_JOURNAL="$E2E_EXECUTOR_JOURNAL" \
    OUTBOX_EXECUTOR_ENV_AWS_ENDPOINT_URL_SESV2="$E2E_MOTO_ENDPOINT" \
    OUTBOX_EXECUTOR_ENV_EVENTBRIDGE_ENDPOINT="$E2E_FAULT_PROXY" \
    "$venv/bin/python" -m localstack.runtime.main
  localstack_started=$SECONDS
  wait_for "$last_pid" "$AWS_ENDPOINT_URL/_localstack/health" 120 localstack
  say "LocalStack answers after $((SECONDS - localstack_started)) s"
  vitest_env=(E2E_LOCALSTACK_MODE=host)
else
  export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost.localstack.cloud:4566}
  if ! curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null 2>&1; then
    say "starting LocalStack (container mode)"
    container=outbox-localstack-$$
    docker run -d --rm --name "$container" -p 127.0.0.1:4566:4566 \
      -e LOCALSTACK_AUTH_TOKEN -v /var/run/docker.sock:/var/run/docker.sock \
      localstack/localstack-pro:latest >/dev/null
    deadline=$((SECONDS + 180))
    until curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || fail "LocalStack did not become healthy within 3 minutes."
      sleep 2
    done
  fi
  vitest_env=(E2E_LOCALSTACK_MODE=container)
fi

# cdklocal refuses without an S3 endpoint; localhost.localstack.cloud does not resolve everywhere.
export AWS_ENDPOINT_URL_S3=$AWS_ENDPOINT_URL AWS_S3_FORCE_PATH_STYLE=1
say "bootstrap and deploy of $E2E_STACK with cdklocal"
deploy_started=$(date +%s)
# The environment named, so bootstrap does not synthesize (and bundle) the app first;
# one cloud assembly folder for all runs, so an unchanged function is not bundled again.
# LocalStack puts the access key "test" in account 000000000000.
npx cdklocal bootstrap "aws://000000000000/$AWS_REGION" >"$run_dir/bootstrap.log" 2>&1 ||
  { tail -n 40 "$run_dir/bootstrap.log" >&2; fail "cdklocal bootstrap failed"; }
npx cdklocal deploy "$E2E_STACK" -c stage=dev --require-approval never --output .localstack/cdk.out \
  --outputs-file "$run_dir/outputs.json" >"$run_dir/deploy.log" 2>&1 ||
  { tail -n 60 "$run_dir/deploy.log" >&2; fail "cdklocal deploy failed"; }
say "deployed in $(($(date +%s) - deploy_started)) s"

tests_started=$SECONDS
env "${vitest_env[@]}" E2E_TARGET=localstack npx vitest run --config localstack/vitest.config.ts
say "the suite took $((SECONDS - tests_started)) s"
}

main "$@"; exit

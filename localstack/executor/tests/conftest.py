"""Fixtures: LocalStack's own edge router served on a loopback port, and function versions on disk.

The executor talks to LocalStack only through ``ExecutorEndpoint`` and the
edge ``ROUTER`` it registers on; serving that router with werkzeug gives the
runtime the same callback routes as a running LocalStack, without starting
one.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

from localstack import config
from localstack.services.edge import ROUTER
from localstack.services.lambda_.invocation.executor_endpoint import executor_router

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session", autouse=True)
def node_for_functions() -> Iterator[None]:
    """Functions run on the repository's Node 24 when installed, else on the node on PATH."""
    repo_node = REPO_ROOT / "node_modules" / ".bin" / "node"
    node = str(repo_node) if repo_node.exists() else shutil.which("node")
    if node is None:
        pytest.fail("no Node.js found: run npm run setup")
    previous = os.environ.get("OUTBOX_EXECUTOR_NODE")
    os.environ["OUTBOX_EXECUTOR_NODE"] = node
    yield
    if previous is None:
        os.environ.pop("OUTBOX_EXECUTOR_NODE", None)
    else:
        os.environ["OUTBOX_EXECUTOR_NODE"] = previous


@pytest.fixture(scope="session")
def gateway() -> Iterator[int]:
    """LocalStack's edge router on 127.0.0.1:<free port>; GATEWAY_LISTEN points at it."""
    executor_router()  # registers the executor routes on ROUTER, as LocalStack's Lambda provider does
    server = make_server("127.0.0.1", 0, ROUTER.wsgi(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-gateway", daemon=True)
    thread.start()
    previous = config.GATEWAY_LISTEN
    config.GATEWAY_LISTEN = [SimpleNamespace(host="127.0.0.1", port=server.server_port)]
    yield server.server_port
    config.GATEWAY_LISTEN = previous
    server.shutdown()
    thread.join(5)


class DiskCode:
    """A function's code already unzipped in a folder (LocalStack's S3Code after prepare_for_execution)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.prepared = 0

    def get_unzipped_code_location(self) -> Path:
        return self.path

    def prepare_for_execution(self) -> None:
        self.prepared += 1


def function_version(code_dir: Path, timeout: int = 3, handler: str = "index.handler") -> SimpleNamespace:
    """The parts of a LocalStack FunctionVersion the executor reads."""
    return SimpleNamespace(
        id=SimpleNamespace(function_name=f"fn-{uuid.uuid4().hex[:8]}", qualifier="$LATEST"),
        config=SimpleNamespace(timeout=timeout, handler=handler, code=DiskCode(code_dir)),
    )


def runtime_env(executor, version: SimpleNamespace) -> dict[str, str]:
    """The variables LocalStack's ExecutionEnvironment hands to start()."""
    return {
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": version.id.function_name,
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(version.config.timeout),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "LOCALSTACK_RUNTIME_ID": executor.id,
        "LOCALSTACK_RUNTIME_ENDPOINT": executor.get_runtime_endpoint(),
        "_HANDLER": version.config.handler,
        "LAMBDA_TASK_ROOT": "/var/task",
        "FUNCTION_SETTING": "from-the-function",
    }


@pytest.fixture
def write_function(tmp_path: Path):
    """Writes ``index.mjs`` with the given source into a fresh code folder and returns the folder."""

    def write(source: str, name: str = "index.mjs") -> Path:
        folder = tmp_path / f"code-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        (folder / name).write_text(source, encoding="utf-8")
        return folder

    return write


@pytest.fixture
def start_executor(gateway: int):
    """Starts executors for function versions and stops every one after the test."""
    from outbox_localstack_executor.executor import ProcessRuntimeExecutor

    started: list[ProcessRuntimeExecutor] = []

    def start(version: SimpleNamespace, env: dict[str, str] | None = None) -> ProcessRuntimeExecutor:
        executor = ProcessRuntimeExecutor(f"env{uuid.uuid4().hex[:12]}", version)
        started.append(executor)
        executor.start({**runtime_env(executor, version), **(env or {})})
        return executor

    yield start
    for executor in started:
        executor.stop()

"""Registration with LocalStack: a plux plugin in the ``localstack.lambda.runtime_executor`` namespace.

LocalStack picks the executor named by ``LAMBDA_RUNTIME_EXECUTOR`` (an unknown
name silently falls back to ``docker``); this one is ``outbox-process``.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class ProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """Loads :class:`outbox_localstack_executor.executor.ProcessRuntimeExecutor`."""

    name = "outbox-process"

    def load(self, *args, **kwargs):
        from outbox_localstack_executor.executor import ProcessRuntimeExecutor, check_localstack_version

        # Fail at LocalStack's start, not at the first invocation, when the release does not match.
        check_localstack_version()
        return ProcessRuntimeExecutor

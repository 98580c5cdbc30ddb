"""The outbox project's LocalStack Lambda runtime executor: Node.js functions as local processes."""

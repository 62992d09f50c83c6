"""Background delivery: bounded queues drained by worker threads, with reports."""

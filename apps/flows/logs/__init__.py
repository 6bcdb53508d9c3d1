"""Run logs: lines logged inside flow and task runs, kept per run and shown on its page.

    buffer   a run's lines in memory, bounded, written in batches (bulk inserts)
    capture  the run logger (``get_run_logger``), the logging handler and ``log_prints``
    echo     the console echo of run logger lines, written on a thread of its own
    browse   a run's lines for the page and the API: filters and keyset pages

A line costs the run one list append (and a queue put for its console echo): the flow's thread
writes buffered lines with its task runs (every ``LOG_FLUSH_EVERY`` lines or ``LOG_FLUSH_SECONDS``
seconds, and at the run's end).
"""

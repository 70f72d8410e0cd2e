"""Background work yields the CPU to scrapes.

The poller thread parses Azure's pages and renders the exposition (seconds of CPU at 10,000 items)
in the same process that answers /metrics. On a small machine a render competing at equal
priority doubled the scrapes' p99; at the lowest priority it costs them little
(bench/RESULTS.md). Linux keeps a nice value per thread, and threads inherit it from the thread
that starts them, so the poller's worker threads follow it.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

BACKGROUND_NICE = 19  # the lowest CPU priority: background work runs on the cycles scrapes leave


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> bool:
    """Give the calling thread (not the process) the nice value `nice`, never a higher priority.

    Returns False where the platform has no per-thread nice value or refuses it.
    """
    try:
        thread_id = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, thread_id) < nice:
            os.setpriority(os.PRIO_PROCESS, thread_id, nice)
    except (OSError, AttributeError) as exc:  # not Linux, or a sandbox that forbids it
        log.debug("cannot lower the poller thread's priority: %s", exc)
        return False
    return True

"""The poller's thread runs at the lowest CPU priority; the rest of the process keeps its own."""

from __future__ import annotations

import os
import threading

from exporter.polling.background import BACKGROUND_NICE, lower_thread_priority
from exporter.polling.job_poller import PUBLISH_EVERY_SECONDS, publish_gap_after


def test_only_the_calling_thread_and_threads_it_starts_are_lowered() -> None:
    seen: dict[str, int] = {}

    def background() -> None:
        seen["ok"] = int(lower_thread_priority())
        seen["self"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        child = threading.Thread(
            target=lambda: seen.__setitem__("child", os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        )
        child.start()
        child.join()

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen == {"ok": 1, "self": BACKGROUND_NICE, "child": BACKGROUND_NICE}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_never_raises_a_priority() -> None:
    result: list[int] = []

    def background() -> None:
        lower_thread_priority()
        lower_thread_priority(5)  # lower than 19 would be a raise: refused silently
        result.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert result == [BACKGROUND_NICE]


def test_mid_poll_publishes_keep_rendering_to_a_tenth_of_the_time() -> None:
    assert publish_gap_after(0.05) == PUBLISH_EVERY_SECONDS  # small estates: every 5 s as before
    assert publish_gap_after(2.0) == 20.0  # 10,000 items: a 2 s render, then 18 s for the scrapes

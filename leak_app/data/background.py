"""Threads for work that can wait: they yield the cores to the served app's event loop.

On the server's two cores an upload's DuckDB pass (two threads of its own) took both while ten
pages clicked: each click's few hundred milliseconds on the event loop waited behind it. Threads
made here, and the threads DuckDB starts from them, run at a lower priority (Linux nice 10, about a
tenth of a core's share against the loop when both want it; all of it when the loop is idle).
"""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

#: The nice value of a background thread (the loop's is the process's, usually 0).
NICE = 10


def background_executor(name: str) -> ThreadPoolExecutor:
    """One thread, in the background, running what it is given in order."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=_lowered)


def _lowered() -> None:
    # Linux keeps a nice value per thread (and threads a thread starts inherit it); elsewhere
    # setpriority would lower the whole process, the event loop with it, so nothing changes there.
    if sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)

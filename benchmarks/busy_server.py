"""Many pages clicking while another loads a large file: does the server keep answering?

    python benchmarks/busy_server.py --sessions 1000000 --pages 10 --upload-mb 140

Serves N demo sessions as people do (``python -m leak_app serve``) and opens ``--pages`` pages in
headless Chromium, each a browser session of its own. In rounds, each page in turn clicks a
device button (``--gap-ms`` apart), and each measures, in its own clock, from the press to the
frame painted after the server's first changed text (the KPI cards): the page has its answer; and
to that text applied in the page, before it paints (the server's answer received: on this
two-core machine the pages' painting shares the cores with the server).
Rounds run first on an idle server (the baseline, same run), then while one more page uploads a
``--upload-mb`` CSV of other sessions, until that page says the file is loaded. Prints the
clicks' median and 90th percentile in both phases against the 500 ms target, how long the upload
took, and the CPU seconds of the server and of the browsers (counted apart: here they share two
cores), with a machine-readable last line.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "ui")]

from browser import HOOKS
from interaction import demo_file
from ui_serving import serving

from leak_app.data.demo import generate_sessions
from leak_app.ui.browser import chromium

TARGET_MS = 500
UNANSWERED_MS = 60_000
BUTTONS = ("mobile", "tablet", "desktop")
#: Resolves to ms from the press to the first changed text applied in the page (the server's
#: answer received) and to that change painted (null after a minute).
ANSWERED = """() => new Promise((resolve) => {
    const deadline = performance.now() + 60000;
    const first = (list) => list.find(([time, text]) => text && time > window.__pressed);
    const check = () => {
        const applied = first(window.__applied), paint = first(window.__paints);
        if (paint) resolve([applied[0] - window.__pressed, paint[0] - window.__pressed]);
        else if (performance.now() > deadline) resolve([null, null]);
        else setTimeout(check, 5);
    };
    check();
})"""


def upload_file(folder: str, megabytes: int) -> Path:
    """A CSV of canonical demo sessions of about ``megabytes`` MB (another seed than the served data)."""
    sample = generate_sessions(20_000, seed=7).to_csv(index=False).encode()
    rows = int(megabytes * 2**20 / (len(sample) / 20_000))
    path = Path(folder) / "upload.csv"
    generate_sessions(rows, seed=7).to_csv(path, index=False)
    return path


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of these processes so far (from /proc; gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def processes(match) -> list[int]:
    """Pids whose command line passes ``match``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if match(command):
                found.append(int(entry.name))
    return found


def round_of_clicks(pages: list, round_number: int, gap_ms: int) -> list[list[float | None]]:
    """Each page in turn presses a device button, ``gap_ms`` after the one before (as people click,
    not all in the same millisecond); ms from each press to its answer received and painted."""
    button = BUTTONS[round_number % len(BUTTONS)]
    for page in pages:  # each press is sent at once; the answers are collected after
        page.evaluate("() => { window.__paints = []; window.__applied = []; }")
        page.get_by_role("button", name=button, exact=True).click(no_wait_after=True)
        time.sleep(gap_ms / 1000)
    return [page.evaluate(ANSWERED) for page in pages]  # None: no answer within a minute


def summary(latencies: list[float | None]) -> tuple[float, float, float]:
    """Median, 90th percentile and slowest; a click with no answer within a minute counts as a minute."""
    ordered = sorted(UNANSWERED_MS if ms is None else ms for ms in latencies)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))], ordered[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=1_000_000, help="sessions served")
    parser.add_argument("--pages", type=int, default=10, help="pages clicking")
    parser.add_argument("--upload-mb", type=int, default=140, help="size of the uploaded CSV")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of clicks on the idle server")
    parser.add_argument("--gap-ms", type=int, default=300, help="between two pages' presses")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as folder,
        demo_file(args.sessions) as path,
        serving("--data", str(path), "--max-upload-mb", str(2 * args.upload_mb)) as url,
        chromium() as browser,
    ):
        upload = upload_file(folder, args.upload_mb)
        megabytes = upload.stat().st_size / 2**20
        port = url.rstrip("/").rsplit(":", 1)[1]
        server = processes(lambda c: "leak_app serve" in c and f"--port {port}" in c)
        pages = [
            browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            for _ in range(args.pages + 1)
        ]
        started = time.perf_counter()
        for page in pages:
            page.goto(url)
        for page in pages:
            page.locator('[data-kpi="Sessions"] .kpi-value').wait_for(timeout=600_000)
        opened = time.perf_counter() - started
        uploader, clickers = pages[0], pages[1:]
        for page in clickers:
            page.wait_for_timeout(500)
            page.evaluate(HOOKS)
        idle = [ms for i in range(args.rounds) for ms in round_of_clicks(clickers, i, args.gap_ms)]

        browsers = processes(lambda c: "chromium" in c.split(" ", 1)[0])
        cpu = cpu_seconds(server), cpu_seconds(browsers)
        started = time.perf_counter()
        uploader.locator("input[type=file]").set_input_files(str(upload))
        loaded = uploader.get_by_text(re.compile(r"^Loaded [\d,]+ sessions from "))
        refused = uploader.get_by_text(re.compile(r"^Could not load it"))
        busy, i = [], 0
        while not loaded.is_visible():
            if refused.is_visible():
                raise RuntimeError(f"the upload failed: {refused.inner_text()}")
            busy += round_of_clicks(clickers, i, args.gap_ms)
            i += 1
            if time.perf_counter() - started > 900:
                raise TimeoutError("the upload was not loaded within 15 minutes")
        took = time.perf_counter() - started
        server_cpu, browser_cpu = cpu_seconds(server) - cpu[0], cpu_seconds(browsers) - cpu[1]
        said = loaded.inner_text().strip()
    received = [summary([ms for ms, _ in clicks]) for clicks in (idle, busy)]
    (idle_median, idle_p90, _), (median, p90, worst) = (summary([ms for _, ms in c]) for c in (idle, busy))
    print(f"{args.pages} pages over {args.sessions:,} sessions, opened together in {opened:.1f} s")
    print(
        f"{'idle server: click (ms)':<34}{idle_median:>8.0f} median {idle_p90:>8.0f} p90   "
        f"({len(idle)} clicks)"
    )
    print(
        f"{'during the upload: click (ms)':<34}{median:>8.0f} median {p90:>8.0f} p90   ({len(busy)} clicks, "
        f"slowest {worst:.0f}, {sum(ms is None for _, ms in busy)} unanswered within a minute); "
        f"target: median ≤ {TARGET_MS} ms"
    )
    print(f"{'ratio to the idle server':<34}{median / idle_median:>8.2f} median {p90 / idle_p90:>8.2f} p90")
    for phase, (at_median, at_p90, _) in zip(("idle server", "during the upload"), received, strict=True):
        print(f"{phase + ': answer received (ms)':<34}{at_median:>8.0f} median {at_p90:>8.0f} p90   "
              "(before the page paints it)")
    print(f'upload of {megabytes:,.0f} MB: {took:.1f} s to "{said}"')
    print(
        f"CPU seconds meanwhile: server {server_cpu:.1f}, browsers {browser_cpu:.1f} "
        f"(on {os.cpu_count()} cores: {os.cpu_count() * took:.0f} available)"
    )
    print(f"{'target met':<34}{'yes' if median <= TARGET_MS else 'no':>8}")
    print(
        f"pages={args.pages} sessions={args.sessions} idle_median_ms={idle_median:.0f} "
        f"median_ms={median:.0f} p90_ms={p90:.0f} received_median_ms={received[1][0]:.0f} "
        f"upload_s={took:.1f} server_cpu_s={server_cpu:.1f} "
        f"browser_cpu_s={browser_cpu:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

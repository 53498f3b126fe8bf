"""What a new page costs: from the request to every view drawn in Chromium, and the server's CPU.

    python benchmarks/new_page.py --sessions 1000000 --pages 6

Serves N demo sessions as people do (``python -m leak_app serve``) and opens ``--pages`` pages in
headless Chromium one after another, each a browser session of its own, as colleagues opening the
link. For each: seconds from the request to the last of the page's plots drawn (its canvases all
there, the KPI cards shown), and the server's CPU seconds for it (from /proc, until the page is
drawn and a second has passed). The first page also loads the data: the figures are those of the
pages after it, against targets of 1.5 s to the page and 0.3 s of server CPU per page; its first
paint (Chromium's first contentful paint: the template's header and frame) is printed too. Then one
more page is left open, alone, for ten seconds: the share of a core its browser spends idle.

Each page alternates with a page of ``floor_page.py`` (``panel serve``): the same template with as
many plots, one line each and nothing else. What that bare page costs here is the least any Panel
page of that many plots can: the dashboard's figures are also given as multiples of it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "ui")]

from busy_server import cpu_seconds, processes
from interaction import demo_file
from ui_serving import serving

from leak_app.ui.browser import chromium

PAGE_S, CPU_S = 1.5, 0.3
#: A dashboard page's Bokeh figures (the map, the funnel, the duration's rates and volume, sources ×
#: device, the two leak charts): the bare page draws as many.
FIGURES = 7
#: How long an open page is left alone to measure what it costs idle.
IDLE_S = 10


#: Records in the page when its document arrives: the text frame after the header of Bokeh's
#: PULL-DOC-REPLY (a listener of the page's websockets, added before BokehJS adds its own).
DOCUMENT_ARRIVAL = """(() => {
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            let next = false;
            this.addEventListener("message", (event) => {
                if (typeof event.data !== "string") return;
                if (next && window.__documentAt === undefined) window.__documentAt = performance.now();
                next = event.data.includes('"PULL-DOC-REPLY"');
            });
        }
    };
})()"""
#: Seconds from the request to each of a page's stages, read in the page (the last, drawn, is
#: measured from the script's own clock by :func:`drawn`).
STAGES = """() => {
    const navigation = performance.getEntriesByType("navigation")[0];
    return [navigation.responseEnd, navigation.domContentLoadedEventEnd, window.__documentAt]
        .map((ms) => ms / 1000);
}"""
STAGE_NAMES = ("HTML arrived", "scripts run", "document arrived", "every view drawn")
#: Seconds from the request to the page's first paint (Chromium's first contentful paint: the
#: template's header and frame, before any view), which the issue's "done when" names.
FIRST_PAINT = """() => performance.getEntriesByName("first-contentful-paint")[0].startTime / 1000"""


def drawn(page, canvases: int | None, started: float) -> tuple[float, int]:
    """Seconds from ``started`` until the page shows its KPI cards and ``canvases`` canvases (when not
    known: until their count has held for a second), and how many there are."""
    page.locator('[data-kpi="Sessions"] .kpi-value').wait_for(timeout=600_000)
    count, since = -1, time.perf_counter()
    while time.perf_counter() - started < 600:
        now = page.locator("canvas").count()
        if now != count:
            count, since = now, time.perf_counter()
        if count >= canvases if canvases is not None else time.perf_counter() - since > 1:
            return since - started, count
        time.sleep(0.05)
    raise TimeoutError(f"the page had {count} canvases after ten minutes")


def idle_share(browser, url: str, canvases: int) -> float:
    """The share of a core the browser spends on one open page of the dashboard left alone (over
    IDLE_S seconds, from 3 s after it is drawn): what each open tab costs its reader's machine."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(url)
    drawn(page, canvases, time.perf_counter())
    page.wait_for_timeout(3000)
    chromium_processes = processes(lambda c: "chromium" in c.split(" ", 1)[0])
    before = cpu_seconds(chromium_processes)
    page.wait_for_timeout(IDLE_S * 1000)
    share = (cpu_seconds(chromium_processes) - before) / IDLE_S
    context.close()
    return share


def opened(browser, url: str, server: list[int], canvases: int | None
           ) -> tuple[float, float, int, list[float]]:
    """A new page of ``url`` in a browser session of its own: seconds from the request to every
    view drawn, the server's CPU seconds until a second after, how many canvases it has, and the
    seconds from the request to each of its STAGE_NAMES, then to its first paint."""
    context = browser.new_context(viewport={"width": 1440, "height": 2600})
    context.add_init_script(DOCUMENT_ARRIVAL)
    page = context.new_page()
    before, started = cpu_seconds(server), time.perf_counter()
    page.goto(url)
    took, canvases = drawn(page, canvases, started)
    stages = [*page.evaluate(STAGES), took, page.evaluate(FIRST_PAINT)]
    page.wait_for_timeout(1000)
    cpu = cpu_seconds(server) - before
    context.close()
    return took, cpu, canvases, stages


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=6)
    args = parser.parse_args(argv)
    floor_app = str(Path(__file__).with_name("floor_page.py"))
    with demo_file(args.sessions) as path, serving("--data", str(path)) as url, \
            serving(str(FIGURES), panel_serve=True, app=floor_app) as floor_url, chromium() as browser:
        port = url.rstrip("/").rsplit(":", 1)[1]
        servers = {"app": (url, processes(lambda c: "leak_app serve" in c and f"--port {port}" in c)),
                   "floor": (floor_url, processes(lambda c: "floor_page.py" in c and "panel" in c))}
        seconds, cpu, stages = ({name: [] for name in servers} for _ in range(3))
        canvases = dict.fromkeys(servers)  # each page's, once its first has shown them
        for _ in range(args.pages):
            for name, (address, server) in servers.items():
                took, used, canvases[name], at = opened(browser, address, server, canvases[name])
                seconds[name].append(took)
                stages[name].append(at)
                cpu[name].append(used)
        idle = idle_share(browser, url, canvases["app"])
    print(
        "request to every view drawn (s): "
        + ", ".join(f"{s:.2f}" for s in seconds["app"])
        + "  (the first loads the data)"
    )
    print("server CPU per page (s):          " + ", ".join(f"{s:.2f}" for s in cpu["app"]))
    print(f"bare page of {FIGURES} plots (s):       " + ", ".join(f"{s:.2f}" for s in seconds["floor"]))
    print("its server CPU (s):               " + ", ".join(f"{s:.2f}" for s in cpu["floor"]))
    page_s, cpu_s, floor_s, floor_cpu_s = (statistics.median(values[1:]) for values in (
        seconds["app"], cpu["app"], seconds["floor"], cpu["floor"]))
    print(f"{'a new page (s)':<30}{page_s:>8.2f}   median after the first; target ≤ {PAGE_S} s; "
          f"{page_s / floor_s:.2f} × the bare page's {floor_s:.2f} s")
    print(f"{'server CPU per new page (s)':<30}{cpu_s:>8.2f}   median after the first; target ≤ {CPU_S} s; "
          f"{cpu_s / floor_cpu_s:.2f} × the bare page's {floor_cpu_s:.2f} s")
    print(f"where the time goes (s from the request, median after the first; its part): "
          f"{'dashboard':>17}{'bare page':>17}")
    at = {name: [statistics.median(page[i] for page in stages[name][1:]) for i in range(len(STAGE_NAMES))]
          for name in servers}
    for i, stage in enumerate(STAGE_NAMES):
        part = {name: at[name][i] - (at[name][i - 1] if i else 0) for name in servers}
        print(f"  {stage:<28}" + "".join(f"{at[name][i]:>9.2f} ({part[name]:.2f})" for name in servers))
    paint = {name: statistics.median(page[-1] for page in stages[name][1:]) for name in servers}
    print(f"  {'first paint (header, frame)':<28}" + "".join(f"{paint[name]:>9.2f}{'':7}" for name in servers)
          + f"   target ≤ {PAGE_S} s (the issue's \"done when\")")
    print(f"{'an open page, idle (% core)':<30}{100 * idle:>8.1f}   its browser's CPU over {IDLE_S} s alone")
    print(f"{'targets met':<30}{'yes' if page_s <= PAGE_S and cpu_s <= CPU_S else 'no':>8}")
    print(
        f"sessions={args.sessions} pages={args.pages} page_s={page_s:.2f} cpu_s={cpu_s:.2f} "
        f"floor_page_s={floor_s:.2f} floor_cpu_s={floor_cpu_s:.2f} canvases={canvases['app']} "
        f"idle_core_pct={100 * idle:.1f} first_paint_s={paint['app']:.2f} "
        f"floor_first_paint_s={paint['floor']:.2f} "
        + " ".join(f"{name}_{stage.replace(' ', '_')}_s={at[name][i]:.2f}"
                   for name in servers for i, stage in enumerate(STAGE_NAMES))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

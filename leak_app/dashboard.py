"""The dashboard as a Panel app file, for ``panel serve leak_app/dashboard.py``.

Panel's server options then apply as to any Panel app (``--port``, ``--address``, ``--num-procs``,
OAuth: ``--oauth-provider``...; ``--warm`` draws the figures every page copies before the first
visitor comes, as ``serve`` does); what the page shows is given after ``--args`` with the options of
``python -m leak_app serve`` (``--data FILE``, ``--mapping``, ``--connect URL --table NAME``,
``--max-upload-mb``), or in ``$LEAK_APP_DATA``. ``python -m leak_app serve`` remains the
one-command way, with the options that matter for sharing.
"""
import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file (``panel serve`` puts this folder on the path, not the project)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import panel as pn

from leak_app.analysis.text import escape_markdown
from leak_app.cli import data_options, served_data
from leak_app.data.schema import LoadError
from leak_app.ui.actions import PAGE_CONFIG, failure_reason
from leak_app.ui.page import serve_page, start_serving


def page(argv: list[str]) -> None:
    """This browser session's page, on the data ``argv`` names; options or data that cannot be
    used are said in the page (and, for options, by argparse in the server's log)."""
    parser = argparse.ArgumentParser(prog="panel serve leak_app/dashboard.py --args")
    data_options(parser)
    pn.config.param.update(**PAGE_CONFIG)
    try:
        args = parser.parse_args(argv)
        data = served_data(args)
        start_serving(*data)  # (once a process)
        serve_page(*data, args.max_upload_mb)
    except SystemExit:  # argparse exits on options it cannot use: the server must not
        _cannot_start(f"options after --args not understood: {' '.join(argv)}")
    except LoadError as exc:
        _cannot_start(failure_reason(exc))


def _cannot_start(reason: str) -> None:
    pn.pane.Alert(escape_markdown(f"The dashboard cannot start: {reason}"), alert_type="danger").servable()


if __name__.startswith("bokeh_app"):  # run by the server, once per browser session
    page(sys.argv[1:])

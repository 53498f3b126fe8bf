"""Write the bundled demo file: ``python -m leak_app.data.make_demo [--sessions N] [--seed S] [PATH]``."""
from __future__ import annotations

import argparse
from pathlib import Path

from .demo import write_sessions
from .sources import DEFAULT_DATA


def main(argv=None) -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("path", nargs="?", default=str(DEFAULT_DATA))
    args.add_argument("--sessions", type=int, default=100_000)
    args.add_argument("--seed", type=int, default=7)
    opts = args.parse_args(argv)
    Path(opts.path).parent.mkdir(parents=True, exist_ok=True)
    write_sessions(opts.path, opts.sessions, seed=opts.seed)
    print(opts.path)


if __name__ == "__main__":
    main()

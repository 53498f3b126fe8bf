import sys
import traceback

try:
    from .cli import main
except Exception as exc:  # noqa: BLE001 - a broken install: Python's 1 would read as check's "found"
    traceback.print_exc()
    print(f"error: leak_app cannot start: {type(exc).__name__}: {exc} "
          "(pip install -r requirements.txt installs what it needs)", file=sys.stderr)
    sys.exit(2)  # (cli.UNEXPECTED, which could not be imported)

sys.exit(main())

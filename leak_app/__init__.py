"""Silent Leak Detector: find where web sessions leak out between traffic source and conversion.

The names below are imported when first used (PEP 562), so that ``python -m leak_app`` reaches
its command line before anything else: an install whose import fails then exits 2, "cannot
check", not Python's 1, which ``check`` means as "found".
"""
from importlib import import_module

_WHERE = {"SessionModel": ".analysis.model", "load_sessions": ".data.loaders",
          "LoadError": ".data.schema", "LoadReport": ".data.schema"}

__all__ = ["LoadError", "LoadReport", "SessionModel", "load_sessions"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)

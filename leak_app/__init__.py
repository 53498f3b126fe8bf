"""Silent Leak Detector: find where web sessions leak out between traffic source and conversion."""
from .loaders import load_sessions
from .model import SessionModel
from .schema import LoadError, LoadReport

__all__ = ["LoadError", "LoadReport", "SessionModel", "load_sessions"]

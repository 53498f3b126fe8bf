"""Silent Leak Detector: find where web sessions leak out between traffic source and conversion."""
from .analysis.model import SessionModel
from .data.loaders import load_sessions
from .data.schema import LoadError, LoadReport

__all__ = ["LoadError", "LoadReport", "SessionModel", "load_sessions"]

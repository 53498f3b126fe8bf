"""The business takeaways: sentences the model writes from its tables."""
from __future__ import annotations

from .. import texts
from .base import TextView


class Takeaways(TextView):
    shows = ("takeaways",)
    text = texts.takeaways_html

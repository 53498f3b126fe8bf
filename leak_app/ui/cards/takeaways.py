"""The business takeaways: sentences the model writes from its tables."""
from __future__ import annotations

from .. import views
from .base import TextView


class Takeaways(TextView):
    shows = ("takeaways",)
    text = views.takeaways_html

"""The hot store: series windows that rules measure, and the trace index for correlation."""

from __future__ import annotations

from collector.store.hub import Store, TraceSink
from collector.store.windows import Exemplar, ServiceStats, WindowStats

__all__ = ["Exemplar", "ServiceStats", "Store", "TraceSink", "WindowStats"]

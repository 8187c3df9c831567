"""aiohttp AppKey constants, one per shared object; only handlers and app.py read them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from collector.settings import Settings

if TYPE_CHECKING:
    from collector.evaluate.evaluator import Evaluator
    from collector.notify import Notifier
    from collector.notify.silence import SilenceStore
    from collector.reload import Reloader
    from collector.store.db import Database
    from collector.store.hub import Store
    from collector.store.traces import TraceIndex
    from collector.web.health import Readiness

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
STORE: web.AppKey[Store] = web.AppKey("store")
TRACES: web.AppKey[TraceIndex] = web.AppKey("traces")
READINESS: web.AppKey[Readiness] = web.AppKey("readiness")
DATABASE: web.AppKey[Database] = web.AppKey("database")
EVALUATOR: web.AppKey[Evaluator] = web.AppKey("evaluator")
RELOADER: web.AppKey[Reloader] = web.AppKey("reloader")
EXTERNAL_URL = web.AppKey("external_url", str)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
NOTIFIER: web.AppKey[Notifier] = web.AppKey("notifier")
SILENCES: web.AppKey[SilenceStore] = web.AppKey("silences")

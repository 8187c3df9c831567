"""aiohttp AppKey constants, one per shared object; only handlers and app.py read them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from collector.settings import Settings

if TYPE_CHECKING:
    from collector.store.hub import Store

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
STORE: web.AppKey[Store] = web.AppKey("store")
READINESS = web.AppKey("readiness", dict[str, Any])

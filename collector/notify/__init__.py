"""Notification stage: route, group, inhibit, silence, render, and deliver alert events through a durable outbox."""

from __future__ import annotations

from collector.notify.notifier import Notifier, now_utc
from collector.notify.render import check_templates

__all__ = ["Notifier", "check_templates", "now_utc"]

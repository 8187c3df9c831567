"""Where the templates that ship with Vigil live (webhook bodies and dashboard pages)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader

BUNDLED_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def template_loader(configured: Path) -> BaseLoader:
    """The configured folder first, then the bundled one: a config overrides only the files it provides."""
    loaders: list[BaseLoader] = [FileSystemLoader(str(configured))]
    if not configured.exists() or BUNDLED_TEMPLATES.resolve() != configured.resolve():
        loaders.append(FileSystemLoader(str(BUNDLED_TEMPLATES)))
    return ChoiceLoader(loaders)

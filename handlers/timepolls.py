"""Placeholder: filled in by the timepolls work in progress."""

from __future__ import annotations

from handlers.common import App, Deps


def register(app: App, deps: Deps) -> None:
    return None

"""Domain errors: each carries a text-catalog key so handlers can answer in the user's language."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A use case refused: `key` names the message in bot.texts, `params` fill it in."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class NotFound(DomainError):
    pass


class Denied(DomainError):
    pass


class Invalid(DomainError):
    pass

"""A local Telegram Bot API for tests and demos (see server.BotApiSandbox)."""

from bot.sandbox.formatting import EntityParseError, parse_html, strip_html
from bot.sandbox.httpapp import SANDBOX_KEY
from bot.sandbox.inprocess import SandboxBotApi, SandboxRequest
from bot.sandbox.models import (
    ApiCall,
    ButtonNotFound,
    SentMessage,
    StoredFile,
    button_data,
    button_texts,
    sent_message_json,
)
from bot.sandbox.server import SECRET_HEADER, ApiError, BotApiSandbox, run_sandbox

__all__ = [
    "SANDBOX_KEY",
    "SECRET_HEADER",
    "ApiCall",
    "ApiError",
    "BotApiSandbox",
    "ButtonNotFound",
    "EntityParseError",
    "SandboxBotApi",
    "SandboxRequest",
    "SentMessage",
    "StoredFile",
    "button_data",
    "button_texts",
    "parse_html",
    "run_sandbox",
    "sent_message_json",
    "strip_html",
]

"""telegram.proxy: every Bot API request, python-telegram-bot's and the sender's, goes through an
HTTP or SOCKS5 proxy, here real ones on loopback in front of the sandbox Bot API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import re
import shutil
import ssl
import struct
import subprocess
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import aiohttp.connector
import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError

from bot.app import running
from bot.delivery import Outgoing, enqueue
from bot.sandbox import BotApiSandbox
from bot.telegram_http import AiohttpRequest, HttpBotApi
from storage.models import utcnow
from tests.e2e.conftest import e2e_config

USER = "branch"
PASSWORD = "p@ss:w0rd"
# As it sits in a URL: user:password@ with the password's reserved characters escaped.
CREDENTIALS = "branch:p%40ss%3Aw0rd@"
# What the sender's client calls itself (aiohttp's default); PTB's says python-telegram-bot.
PTB_AGENT = "python-telegram-bot"


@dataclass
class Seen:
    """One request that passed through a proxy: its method, path and User-Agent."""

    method: str
    path: str
    agent: str


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, into: bytearray | None):
    try:
        while chunk := await reader.read(65536):
            if into is not None:
                into.extend(chunk)
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class HttpProxy:
    """A forward proxy: absolute-form requests (http:// targets) and CONNECT tunnels, with
    Basic proxy authentication when `credentials` are given."""

    credentials: tuple[str, str] | None = None
    seen: list[Seen] = field(default_factory=list)
    tunnels: list[str] = field(default_factory=list)
    refused: int = 0

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return headers.get("proxy-authorization") == f"Basic {expected}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if not self._authorized(headers):
            self.refused += 1
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            writer.close()
            return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            self.tunnels.append(target)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer, None), _pipe(up_reader, writer, None))
            return
        match = re.fullmatch(r"http://([^/:]+):(\d+)(/.*)", target)
        assert match, f"not an absolute-form request: {lines[0]}"
        host, path = match[1], match[3]
        self.seen.append(Seen(method, path, headers.get("user-agent", "")))
        # One request a connection: forwarded with Connection: close, so the answer ends the
        # exchange and the client opens a new connection (through the proxy) for the next.
        kept = [
            line
            for line in lines[1:]
            if line
            and line.split(":", 1)[0].strip().lower()
            not in ("proxy-authorization", "proxy-connection", "connection", "keep-alive")
        ]
        forwarded = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
        up_reader, up_writer = await asyncio.open_connection(host, int(match[2]))
        up_writer.write(forwarded.encode("latin-1"))
        await up_writer.drain()
        await asyncio.gather(_pipe(reader, up_writer, None), _pipe(up_reader, writer, None))


@dataclass
class Socks5Proxy:
    """A SOCKS5 proxy (RFC 1928) with username/password authentication (RFC 1929) when
    `credentials` are given. It records where each connection went and the requests (as
    text: the sandbox speaks plain HTTP) that went through it."""

    credentials: tuple[str, str] | None = None
    targets: list[str] = field(default_factory=list)
    streams: list[bytearray] = field(default_factory=list)

    @property
    def seen(self) -> list[Seen]:
        found = []
        for stream in self.streams:
            text = stream.decode("latin-1")
            for m in re.finditer(r"(GET|POST) (\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n", text, re.S):
                agent = re.search(r"(?im)^user-agent: (.*)$", m[3])
                found.append(Seen(m[1], m[2], agent[1].strip() if agent else ""))
        return found

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            version, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            assert version == 5
            if self.credentials is None:
                writer.write(b"\x05\x00")
            else:
                assert 2 in methods, "the client offered no username/password authentication"
                writer.write(b"\x05\x02")
                await writer.drain()
                (_, ulen) = await reader.readexactly(2)
                user = (await reader.readexactly(ulen)).decode()
                (plen,) = await reader.readexactly(1)
                password = (await reader.readexactly(plen)).decode()
                if (user, password) != self.credentials:
                    writer.write(b"\x01\x01")
                    await writer.drain()
                    writer.close()
                    return
                writer.write(b"\x01\x00")
            await writer.drain()
            _, command, _, kind = await reader.readexactly(4)
            assert command == 1, "only CONNECT"
            if kind == 1:
                host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
            elif kind == 3:
                (length,) = await reader.readexactly(1)
                host = (await reader.readexactly(length)).decode()
            else:
                host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
            (port,) = struct.unpack("!H", await reader.readexactly(2))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        self.targets.append(f"{host}:{port}")
        up_reader, up_writer = await asyncio.open_connection(host, port)
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + bytes(2))
        await writer.drain()
        sent = bytearray()
        self.streams.append(sent)
        await asyncio.gather(_pipe(reader, up_writer, sent), _pipe(up_reader, writer, None))


@contextlib.asynccontextmanager
async def serving(proxy: HttpProxy | Socks5Proxy) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await proxy.handle(reader, writer)
        except asyncio.CancelledError:
            # Stopped with the test: asyncio's server would log a cancelled handler as an error.
            writer.close()
        finally:
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def proxy_url(kind: str, port: int, credentials: bool = True) -> str:
    scheme = "http" if kind == "http" else "socks5"
    return f"{scheme}://{CREDENTIALS if credentials else ''}127.0.0.1:{port}"


def make_proxy(kind: str) -> HttpProxy | Socks5Proxy:
    return HttpProxy((USER, PASSWORD)) if kind == "http" else Socks5Proxy((USER, PASSWORD))


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_python_telegram_bot_requests_go_through_the_proxy(
    sandbox: tuple[BotApiSandbox, str], kind: str
) -> None:
    sb, base = sandbox
    proxy = make_proxy(kind)
    async with serving(proxy) as port:
        request = AiohttpRequest(proxy=proxy_url(kind, port))
        bot = Bot(sb.token, base_url=f"{base}/bot", request=request, get_updates_request=request)
        async with bot:
            sent = await bot.send_message(5, "经代理发送")
    assert sent.text == "经代理发送"
    assert [m.text for m in sb.messages_to(5)] == ["经代理发送"]
    seen = [(s.method, s.path.rsplit("/", 1)[-1]) for s in proxy.seen]
    assert ("POST", "getMe") in seen and ("POST", "sendMessage") in seen
    assert all(PTB_AGENT in s.agent for s in proxy.seen)


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_the_senders_requests_go_through_the_proxy(
    sandbox: tuple[BotApiSandbox, str], kind: str
) -> None:
    sb, base = sandbox
    proxy = make_proxy(kind)
    async with serving(proxy) as port:
        api = HttpBotApi(f"{base}/bot", sb.token, proxy=proxy_url(kind, port))
        try:
            result = await api.call("sendMessage", {"chat_id": 6, "text": "推送"})
        finally:
            await api.close()
    assert result["text"] == "推送"
    assert [m.text for m in sb.messages_to(6)] == ["推送"]
    assert [(s.method, s.path.rsplit("/", 1)[-1]) for s in proxy.seen] == [("POST", "sendMessage")]


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_wrong_proxy_credentials_are_a_network_error_without_the_password(
    sandbox: tuple[BotApiSandbox, str], kind: str
) -> None:
    sb, base = sandbox
    proxy = make_proxy(kind)
    async with serving(proxy) as port:
        wrong = proxy_url(kind, port).replace("p%40ss", "wrong")
        api = HttpBotApi(f"{base}/bot", sb.token, proxy=wrong)
        try:
            with pytest.raises(NetworkError) as info:
                await api.call("sendMessage", {"chat_id": 6, "text": "x"})
        finally:
            await api.close()
    assert "wrong" not in str(info.value) and "w0rd" not in str(info.value)
    assert sb.messages_to(6) == []


async def test_a_tunnel_refused_for_its_credentials_names_the_proxy_without_the_password() -> None:
    """To an https:// Bot API (api.telegram.org) the proxy is asked for a tunnel: aiohttp's error
    for a refused CONNECT quotes the proxy's URL, credentials and all. Neither the message nor
    the traceback a log line would print carries the password (or the token)."""
    proxy = HttpProxy((USER, PASSWORD))
    token = "123456:SECRET-token_part"
    async with serving(proxy) as port:
        wrong = f"http://{USER}:wr%40ng-pass@127.0.0.1:{port}"
        api = HttpBotApi("https://localhost:9/bot", token, proxy=wrong)
        request = AiohttpRequest(proxy=wrong)
        errors: list[NetworkError] = []
        try:
            with pytest.raises(NetworkError) as info:
                await api.call("sendMessage", {"chat_id": 6, "text": "x"})
            errors.append(info.value)
            await request.initialize()
            with pytest.raises(NetworkError) as info:
                await request.do_request(f"https://localhost:9/bot{token}/getMe", "POST")
            errors.append(info.value)
        finally:
            await api.close()
            await request.shutdown()
    assert proxy.refused == 2
    for error in errors:
        assert "407" in error.message and f"127.0.0.1:{port}" in error.message
        shown = "".join(traceback.format_exception(error))
        assert "wr%40ng" not in shown and "wr@ng" not in shown and "SECRET" not in shown


async def test_an_unreachable_socks_proxy_is_a_network_error(
    sandbox: tuple[BotApiSandbox, str],
) -> None:
    sb, base = sandbox
    async with serving(Socks5Proxy()) as port:
        pass  # closed again: nothing listens on the port now
    api = HttpBotApi(f"{base}/bot", sb.token, proxy=f"socks5://127.0.0.1:{port}")
    try:
        with pytest.raises(NetworkError):
            await api.call("sendMessage", {"chat_id": 6, "text": "x"})
    finally:
        await api.close()


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_the_running_bot_polls_answers_and_sends_through_telegram_proxy(
    sandbox: tuple[BotApiSandbox, str], bot_database_url: str, kind: str
) -> None:
    """The whole bot: getUpdates and replies (python-telegram-bot), and an outbox message (the
    sender), all through the proxy named by telegram.proxy."""
    sb, base = sandbox
    proxy = make_proxy(kind)
    async with serving(proxy) as port:
        config = e2e_config(base, sb.token, bot_database_url, mode="polling")
        config = replace(config, telegram=replace(config.telegram, proxy=proxy_url(kind, port)))
        async with running(config) as (_, deps):
            await sb.user_message(77, "/start")
            reply = await sb.wait_for_message(77, timeout=10)
            assert reply.text
            async with deps.db.write() as session:
                await enqueue(
                    session,
                    [Outgoing(78, None, "来自发件箱", "notice", urgent=True)],
                    now=utcnow() - timedelta(seconds=1),
                    quiet=deps.push.quiet,
                )
                await session.commit()
            deps.outbox_ready.set()
            pushed = await sb.wait_for_message(78, timeout=10)
            assert pushed.text == "来自发件箱"
    methods = {(s.method, s.path.rsplit("/", 1)[-1], PTB_AGENT in s.agent) for s in proxy.seen}
    assert ("POST", "getUpdates", True) in methods
    assert ("POST", "sendMessage", True) in methods  # the reply to /start
    assert ("POST", "sendMessage", False) in methods  # the sender's push
    # Nothing reached the Bot API around the proxy.
    api_calls = [c for c in sb.calls if c.method != "getUpdates"]
    through = [s for s in proxy.seen if not s.path.endswith("getUpdates")]
    assert len(through) == len(api_calls)


@contextlib.asynccontextmanager
async def sandbox_over_tls(sb: BotApiSandbox, cert: Path, key: Path) -> AsyncIterator[str]:
    """The sandbox served over https:// on loopback, as api.telegram.org is served."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sb.reopen()
    runner = web.AppRunner(sb.make_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        yield f"https://localhost:{runner.addresses[0][1]}"
    finally:
        sb.release_waiters()
        await runner.cleanup()
        await sb.aclose()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    new = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]
    subprocess.run(
        ["openssl", *new, *subject, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_an_https_bot_api_is_reached_through_a_connect_tunnel(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The way to api.telegram.org: the proxy opens a tunnel (CONNECT) and TLS runs inside it,
    so the proxy sees where, never what."""
    if not hasattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED"):
        pytest.skip("this aiohttp keeps its verified TLS context elsewhere")
    cert, key = certificate
    # The clients verify certificates as they would Telegram's; here they trust this one.
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", trusting)
    sb = BotApiSandbox()
    proxy = HttpProxy((USER, PASSWORD))
    async with sandbox_over_tls(sb, cert, key) as base, serving(proxy) as port:
        request = AiohttpRequest(proxy=proxy_url("http", port))
        async with Bot(sb.token, base_url=f"{base}/bot", request=request) as bot:
            await bot.send_message(5, "隧道")
        api = HttpBotApi(f"{base}/bot", sb.token, proxy=proxy_url("http", port))
        try:
            await api.call("sendMessage", {"chat_id": 5, "text": "隧道二"})
        finally:
            await api.close()
    assert [m.text for m in sb.messages_to(5)] == ["隧道", "隧道二"]
    assert proxy.seen == []
    assert proxy.tunnels and set(proxy.tunnels) == {base.removeprefix("https://")}

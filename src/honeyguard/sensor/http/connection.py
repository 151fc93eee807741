"""One HTTP connection: parse what arrives, answer as the persona, record every request.

An asyncio.Protocol rather than streams: no task per connection and no copies, which is what
lets one core answer tens of thousands of requests a second. Every cap of the runtime is
enforced here: buffered head bytes, body bytes, requests per connection, idle and session time.
Nothing the client sends may raise out of this class.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from typing import cast

from honeyguard.model import Connect, HttpRequest, RawData
from honeyguard.sensor.http import dynamic
from honeyguard.sensor.http.parser import Garbage, Item, Request, RequestParser
from honeyguard.sensor.http.persona import Reply
from honeyguard.sensor.http.responder import (
    DateLine,
    Prepared,
    Router,
    fill_template,
    prepare,
)
from honeyguard.sensor.http.shellhost import ConnectionShells, random_hex
from honeyguard.sensor.http.tls import TlsLayer
from honeyguard.sensor.runtime import BoundedProtocol, IdleTimer, ServiceContext, SessionRecorder

log = logging.getLogger(__name__)

_FLUSH_EVERY = 16  # pipelined answers gathered into one write
_CLOSE_LINE = b"Connection: close\r\n"


@dataclass
class Site:
    """What every connection of one listener shares."""

    ctx: ServiceContext
    router: Router
    port: int  # the port attackers reach (dst_port, and the port error pages name)
    ssl_context: ssl.SSLContext | None  # an HTTPS listener
    date_line: DateLine
    keep_line: bytes  # "Connection: keep-alive" as the persona writes it
    keep_alive_header: bool
    keep_alive_timeout: int
    max_requests: int  # the persona's own keep-alive limit
    max_commands: int  # the runtime's cap on requests a connection
    _keep_alive_lines: dict[int, bytes] = field(default_factory=dict)

    def keep_alive_line(self, left: int) -> bytes:
        """``Keep-Alive: timeout=5, max=N`` as Apache counts it down (cached: N is small)."""
        if not self.keep_alive_header:
            return b""
        line = self._keep_alive_lines.get(left)
        if line is None:
            line = b"Keep-Alive: timeout=%d, max=%d\r\n" % (self.keep_alive_timeout, left)
            if len(self._keep_alive_lines) < 10_000:
                self._keep_alive_lines[left] = line
        return line

    @property
    def protocol(self) -> str:
        return "https" if self.ssl_context is not None else "http"


def _path_of(target: str) -> str:
    """The path of a target in origin or absolute form, without query or fragment."""
    if "?" not in target and "#" not in target and target[:1] == "/":
        return target
    if target.startswith(("http://", "https://")):
        slash = target.find("/", target.find("//") + 2)
        target = target[slash:] if slash >= 0 else "/"
    end = len(target)
    for mark in ("?", "#"):
        found = target.find(mark)
        if 0 <= found < end:
            end = found
    return target[:end]


class HttpConnection(BoundedProtocol):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.transport: asyncio.Transport | None = None
        self.rec: SessionRecorder | None = None
        self.finished = False
        self.paused = False
        self.served = 0
        self.tls: TlsLayer | None = None
        self.plain_on_tls = False  # plain HTTP sent to an HTTPS listener
        self._host = ("", 0)  # our own address, for pages asked for without a Host header
        self._shells: ConnectionShells | None = None  # built when a reply first runs a command

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        ctx = self.site.ctx
        if not ctx.gate.try_acquire():  # over the process-wide cap: refuse at once
            self.finished = True
            transport.abort()
            return
        self.transport = transport
        limits = ctx.limits
        try:
            peer = transport.get_extra_info("peername") or ("", 0)
            local = transport.get_extra_info("sockname") or ("", 0)
            self.rec = ctx.recorder(protocol=self.site.protocol, persona=self.site.router.persona.id,
                                    peer=(peer[0], peer[1]), local=(local[0], local[1]), dst_port=self.site.port)
            self.parser = RequestParser(max_head=limits.max_buffer_bytes, max_body=limits.max_request_bytes,
                                        keep_body=limits.keep_body_bytes)
            if self.site.ssl_context is not None:
                self.tls = TlsLayer(self.site.ssl_context)
            loop = asyncio.get_running_loop()
            self.idle = IdleTimer(loop, limits.idle_timeout, self._on_idle)
            self.session_timer = loop.call_later(limits.session_timeout, self._finish, "session-timeout")
            ctx.sessions.add(self)
            self.rec.record(Connect())
        except Exception:
            log.exception("http connection setup failed")
            self.finished = True
            for timer in (getattr(self, "idle", None), getattr(self, "session_timer", None)):
                if timer is not None:
                    timer.cancel()
            ctx.sessions.discard(self)
            ctx.gate.release()
            transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.finished:
            return
        rec = self.rec
        assert rec is not None
        rec.bytes_in += len(data)
        self.idle.touch()
        if self.tls is not None:
            data = self._decrypt(data)
            if not data:
                return
        self.parser.feed(data)
        self._drain()

    def _decrypt(self, data: bytes) -> bytes:
        """TLS records in, plain bytes out; the first byte tells TLS from plain HTTP on this port."""
        layer = self.tls
        assert layer is not None
        if self.rec is not None and self.rec.bytes_in == len(data) and data[:1] != b"\x16":
            self.tls, self.plain_on_tls = None, True  # the very first bytes are not a TLS record
            return data
        try:
            plain = layer.receive(data)
        except ssl.SSLError:  # not a handshake we can complete: send the alert and hang up
            self._send_tls()
            self._finish("server-closed")
            return b""
        self._send_tls()
        return plain

    def _send_tls(self) -> None:
        assert self.tls is not None and self.transport is not None and self.rec is not None
        wire = self.tls.outgoing()
        if wire:
            self.rec.bytes_out += len(wire)
            self.transport.write(wire)

    def _on_resume(self) -> None:
        self._drain()

    def shutdown(self) -> None:
        self._finish("shutdown", abort=True)

    # -- requests ------------------------------------------------------------------------------

    def _drain(self) -> None:
        parser = self.parser
        reason: str | None = None
        out: list[bytes] = []  # heads and bodies, written together
        try:
            while not self.paused and parser.pending:
                item = parser.next()
                if item is None:
                    break
                reason = self._handle(item, out)
                if reason is not None:
                    break
                if len(out) >= _FLUSH_EVERY:
                    self._write(out)
        except Exception:
            log.exception("http request handling failed")
            reason = "error"
        if out:
            self._write(out)
        if reason is not None:
            self._finish(reason)

    def _write(self, out: list[bytes]) -> None:
        transport, rec = self.transport, self.rec
        assert transport is not None and rec is not None
        if self.tls is not None:
            self.tls.send(b"".join(out))
            out.clear()
            self._send_tls()
            return
        # One buffer: uvloop sends a single buffer at once (writelines would queue a vectored write).
        payload = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        rec.bytes_out += len(payload)
        transport.write(payload)

    def _handle(self, item: Item, out: list[bytes]) -> str | None:
        """Answer and record one item; return why the connection must end, if it must."""
        if isinstance(item, Garbage):
            return self._handle_garbage(item, out)
        self.served += 1
        site = self.site
        if self.plain_on_tls:
            prepared = site.router.errors["plain-http"]
        elif item.problem == "too-large":
            prepared = site.router.errors["payload-too-large"]
        elif item.problem is not None:
            prepared = site.router.errors["bad-request"]
        else:
            prepared = (self._honeytoken(item)
                        or site.router.find(item.method, _path_of(item.target), item.target, 0, item))
        max_commands = site.max_commands
        left = site.max_requests - (self.served - 1)
        keep = (item.keep_alive and item.problem is None and not prepared.close and not self.plain_on_tls
                and left > 0 and self.served < max_commands)
        rec = self.rec
        assert rec is not None
        if prepared.persona is rec.persona or not prepared.persona:
            self._render(out, prepared, item, keep, left)
            self._record(item, prepared.status)
        else:  # a path handed to a product persona: its events (downloads too) name that product
            listener_persona, rec.persona = rec.persona, prepared.persona
            try:
                self._render(out, prepared, item, keep, left)
                self._record(item, prepared.status)
            finally:
                rec.persona = listener_persona
        if keep:
            return None
        if item.problem == "too-large":
            return "cap-bytes"
        if self.served >= max_commands:
            return "cap-requests"
        return "client-closed" if not item.keep_alive else "server-closed"

    def _honeytoken(self, item: Request) -> Prepared | None:
        """A bait credential file (/.env, /.git/config...) with a fresh honeytoken key, when the
        sensor serves them (creds/honeytokens.py); the key is stamped on this request's event."""
        issuer = self.site.ctx.honeytokens
        if issuer is None or self.rec is None or item.method not in ("GET", "HEAD"):
            return None
        served = issuer.content_for(_path_of(item.target), session=self.rec.session, src_ip=self.rec.src_ip)
        if served is None:
            return None
        return prepare(self.site.router.persona, Reply(content_type=served.content_type), served.body)

    def _handle_garbage(self, item: Garbage, out: list[bytes]) -> str:
        assert self.rec is not None
        self.rec.record(RawData(reason=item.reason, data=item.data, size=item.size, sha256=item.sha256))
        kind = "header-too-large" if item.reason == "oversized-head" else "bad-request"
        prepared = self.site.router.errors[kind]
        self._render(out, prepared, None, False, 0)
        return "cap-bytes" if item.reason == "oversized-head" else "server-closed"

    def _render(self, out: list[bytes], prepared: Prepared, request: Request | None, keep: bool,
                left: int) -> None:
        """Append the response's head and body to ``out``."""
        site = self.site
        body = prepared.body
        length = b""
        if prepared.template is not None:
            if prepared.dynamic is not None:
                self._render_dynamic(out, prepared.dynamic, request, keep, left)
                return
            host, port = self._host_and_port(request)
            body = fill_template(prepared.template, host=host, port=port,
                                 method=request.method if request else "",
                                 path=_path_of(request.target) if request else "")
            length = b"Content-Length: %d\r\n" % len(body)
        if request is not None and request.version == "":
            out.append(body)  # HTTP/0.9: no status line, no headers
            return
        if keep:
            slots = (site.date_line.get(), site.keep_alive_line(left), site.keep_line, length)
        else:
            slots = (site.date_line.get(), b"", _CLOSE_LINE, length)
        head = prepared.head
        if prepared.head10 is not None and request is not None and request.version == "HTTP/1.0":
            head = prepared.head10
            if not keep:  # Go and Netty end an HTTP/1.0 exchange without a Connection line
                slots = (slots[0], b"", b"", length)
        out.append(b"".join([piece if piece.__class__ is bytes else slots[piece]  # type: ignore[index]
                             for piece in head]))
        if body and (request is None or request.method != "HEAD"):
            out.append(body)

    def _render_dynamic(self, out: list[bytes], dyn: dynamic.DynamicReply, request: Request | None, keep: bool,
                        left: int) -> None:
        """A reply filled in per request: the injected command's output, random values."""
        site = self.site
        host, port = self._host_and_port(request)
        if keep:
            slots = (site.date_line.get(), site.keep_alive_line(left), site.keep_line, b"")
        elif dyn.head10 is not None and request is not None and request.version == "HTTP/1.0":
            slots = (site.date_line.get(), b"", b"", b"")  # as in _render: no Connection line
        else:
            slots = (site.date_line.get(), b"", _CLOSE_LINE, b"")
        head, body = dynamic.render(dyn, request, host=host, port=port, slots=slots, runner=self._run_command,
                                    random_hex=random_hex(site.ctx.entropy),
                                    client=self.rec.src_ip if self.rec is not None else "")
        if request is not None and request.version == "":
            out.append(body)
            return
        out.append(head)
        if body and (request is None or request.method != "HEAD"):
            out.append(body)

    def _run_command(self, profile: dynamic.ShellProfile, command: str) -> str:
        if self._shells is None:
            assert self.rec is not None
            self._shells = ConnectionShells(self.rec, self.site.ctx.clock.now)
        return self._shells.run(profile, command)

    def _host_and_port(self, request: Request | None) -> tuple[str, int]:
        """The host and port Apache-like servers name in their pages: the client's Host, else ours."""
        site = self.site
        if request is not None:
            for name, value in request.headers:
                if name.lower() == "host" and value:
                    if value.startswith("["):
                        host, _, rest = value.partition("]")
                        host, port_text = host + "]", rest.removeprefix(":")
                    else:
                        host, _, port_text = value.rpartition(":") if ":" in value else (value, "", "")
                    port = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else site.port
                    return host, port
        return site.router.persona.server_name, site.port

    def _record(self, request: Request, status: int) -> None:
        assert self.rec is not None
        self.rec.record(HttpRequest(
            method=request.method, target=request.target, version=request.version, headers=request.headers,
            body=request.body, body_size=request.body_size, body_sha256=request.body_sha256,
            body_truncated=request.body_truncated, header_size=request.header_size, tls=self.tls is not None,
            status=status,
        ))

    # -- the end -------------------------------------------------------------------------------

    def _on_idle(self) -> None:
        self._finish("idle-timeout")

    def _finish(self, reason: str, *, abort: bool = False) -> None:
        """End the session once: record what was left unfinished, then session.closed, then close."""
        if self.finished:
            return
        self.finished = True
        rec, transport = self.rec, self.transport
        ctx = self.site.ctx
        try:
            leftover = self.parser.finish(stopped=reason == "cap-requests")
            if isinstance(leftover, Request):
                self._record(leftover, 0)  # never answered: the client stopped sending
            elif leftover is not None and rec is not None:
                rec.record(RawData(reason=leftover.reason, data=leftover.data, size=leftover.size,
                                   sha256=leftover.sha256))
            if rec is not None:
                rec.close(reason)
        except Exception:
            log.exception("recording the end of an http session failed")
        finally:
            self.idle.cancel()
            self.session_timer.cancel()
            ctx.sessions.discard(self)
            ctx.gate.release()
            if transport is not None:
                self._close_transport(transport, abort)

    def _close_transport(self, transport: asyncio.Transport, abort: bool) -> None:
        if abort:
            transport.abort()
            return
        if self.tls is not None and not transport.is_closing():
            try:
                self.tls.close()
                self._send_tls()  # close_notify, so TLS clients see a clean end
            except Exception:
                log.exception("tls close failed")
        transport.close()

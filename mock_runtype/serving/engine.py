"""The HTTP/1.1 engine: one asyncio event loop parses requests with httptools and calls the WSGI
app inline, on the loop's own thread. (uvloop was tried: with our handlers dominating, it added
nothing measurable: 4,221-4,458 creates/s with either loop.)

Why not a threaded server: on two cores a Python server's threads fight over the GIL, and the
hand-off from an I/O thread to a worker costs more than our handlers. Calling the app inline is
what makes the sandbox fast; the two things that must not hold the loop are told to the engine by
a `schedule(environ) -> Schedule` it asks before each call of the app, so the app is called once:

- `Schedule.delay_s`: the engine waits that long without holding any thread (a scenario's delay);
- `Schedule.off_loop`: the app is called on one of the `threads` workers (long work such as an
  upload or a streamed export, whose chunks are written as they come) while the loop answers
  everyone else.

Raising `ConnectionDropped` from the app closes the connection without a byte of answer,
abortively (an RST) when `reset`. Only the serving adapter (`mock_runtype.serving.adapter`) puts an
app on the engine: it is the one place that knows this protocol.

The engine guards the host the way the settings say: a request still arriving after
`request_timeout_s` is dropped (its clock starts at its first byte, the empty lines a parser skips
included; after a second read of nothing but empty lines the connection is not read until then),
an idle connection closes after `idle_timeout_s`, at most `max_connections` are open, a body
declared or grown past the limit `body_limit(method, path)` gives for its endpoint gets a JSON
413 before it is read, and headers over 256 KiB a 431. After a refusal the engine writes its
answer, stops sending and discards what the client still sends for up to `LINGER_S` (read and
dropped, never kept), so that the client reads the answer rather than a reset. A client's bytes
are parsed only as its requests are answered: at most `MAX_PIPELINED` wait parsed; the rest stays
unparsed (one read at most) and the socket unread. A client's socket buffers at most `SEND_BUFFER`
(twice that, as the kernel counts) of answers it has not read, not the megabytes autotuning would
let it grow to: a client pipelining without reading gets a few answers made for it, not dozens.

Turns: a connection answers the first request of what it has read at once; the requests it has
pipelined behind it wait in the engine's round of turns, which answers one request of each in
turn, for at most `TURN_S` a turn of the loop, the new requests of every other connection answered
in between. However many clients pipeline, and whatever they ask, a request just arrived waits
for at most one such turn.

At the cap, a newcomer takes the place of the connection that least deserves it, so that clients
holding connections without requests (`\\r\\n` every few seconds) keep nobody waiting for their
timeout: first one that has completed no request (silent, or its first request still arriving), the
longest open first; else an idle keep-alive one (nothing being received, answered or written), the
longest idle first, whose client sees the close and reconnects (as after the idle timeout). A
connection with a request being answered or waiting to be, or an answer still being written, is
never evicted: when every one is, newcomers wait in the listen backlog until a place is free (looked
for again at each sweep). One newcomer is let in a turn of the loop, its victim's socket closed on
the next, so a flood of newcomers neither exceeds the cap nor evicts a request in progress.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import struct
import sys
import threading
from collections import deque
from email.utils import formatdate
from io import BytesIO
from typing import Any, Callable, Iterable, NamedTuple
from urllib.parse import unquote_to_bytes

import httptools

log = logging.getLogger("mock_runtype")

MAX_HEADER_BYTES = 256 * 1024  # as waitress had it: a long query (a 100 KB cursor) reaches the app
MAX_PIPELINED = 16  # parsed requests waiting on one connection before it stops being parsed and read
FEED_SLICE = 4 * 1024  # bytes parsed at a time outside a body of known length: the most parsed past MAX_PIPELINED
TURN_S = 0.002  # the round of turns of pipelined requests: at most this long a turn of the loop
LINGER_S = 5.0  # after a refusal, how long what the client still sends is read and dropped
LINGER_READ_EVERY_S = 0.05  # while lingering, one read at most this often: flow control paces the sender
STREAM_CHUNK = 64 * 1024
SEND_BUFFER = 128 * 1024  # SO_SNDBUF of a client's socket (the kernel doubles it): what answers it holds unread
SWEEP_INTERVAL_S = 1.0
SWEEP_BATCH = 100  # connections the sweep closes in one turn of the loop
NO_BODY_STATUSES = {204, 304}


class Schedule(NamedTuple):
    """How to answer one request: after holding it `delay_s` seconds (no thread held), then on a
    worker thread when `off_loop`, else inline on the loop."""

    delay_s: float = 0.0
    off_loop: bool = False


INLINE = Schedule()


def inline(environ: dict[str, Any]) -> Schedule:
    """The schedule of an app that never asks for anything else."""
    return INLINE


class ConnectionDropped(Exception):
    """Raised by the app to close the connection without answering; with `reset`, abortively."""

    def __init__(self, reason: str, *, reset: bool) -> None:
        super().__init__(reason)
        self.reset = reset


class Refused(Exception):
    """A request the engine answers itself, before the app sees it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Request:
    """One request as parsed, until its answer is written."""

    __slots__ = ("method", "target", "headers", "body", "keep_alive", "version")

    def __init__(self) -> None:
        self.method = ""  # set once the headers are complete
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []


STATUS_TEXT = {400: "Bad Request", 413: "Payload Too Large",
               431: "Request Header Fields Too Large", 500: "Internal Server Error"}


def request_head(request: Request) -> bytes:
    """The request line and headers of `request` again, without its Upgrade."""
    fields = b"".join(b"%s: %s\r\n" % field for field in request.headers if field[0].lower() != b"upgrade")
    return b"%s %s HTTP/%s\r\n%s\r\n" % (request.method.encode(), request.target, request.version.encode(), fields)


def body_too_large(limit: int) -> str:
    """The message of a 413, worded as the app words its own."""
    return f"Request body too large: the limit is {limit} bytes"


def unlimited(limit: int) -> Callable[[str, str], int]:
    """A `body_limit` that gives every endpoint the same `limit`."""
    return lambda method, path: limit


def path_of(target: bytes) -> bytes:
    """The path of a request target, percent-decoded (as PATH_INFO has it, before its latin-1 text)."""
    path = target.partition(b"?")[0].partition(b"#")[0]
    return unquote_to_bytes(path) if b"%" in path else path


def error_answer(status: int, message: str) -> bytes:
    """A whole answer the engine writes itself: JSON like every other error, then the connection closes."""
    body = ('{"error": "%s"}' % message).encode()
    return (f"HTTP/1.1 {status} {STATUS_TEXT[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class Connection(asyncio.Protocol):
    """One client connection: parses its requests and answers them one at a time, in order."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.loop = engine.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.peer = ("", 0)
        self.parsing: Request | None = None
        self.header_bytes = 0
        self.body_bytes = 0
        self.body_limit = 0  # of the request being parsed, once its headers are complete
        self.body_remaining = 0  # bytes of a body of declared length still to parse
        self.unparsed: memoryview | None = None  # bytes read, held back while MAX_PIPELINED wait
        self.feeding = False  # the parser is being fed (its callbacks must not feed it again)
        self.lingering_since: float | None = None  # refused: what arrives is dropped, until LINGER_S
        self.linger_paused = False  # lingering, and not reading until the next LINGER_READ_EVERY_S
        self.pending: deque[Request] = deque()
        self.busy = False  # an answer is being made off the loop's current turn (deferred)
        self.owes_continue = False  # a `100 Continue` to send once the answers ahead are written
        self.upgrading: Request | None = None  # a request with an Upgrade not offered, to parse again without it
        self.eof = False  # the client has half-closed: answer what it sent, then close
        self.refusal: Refused | None = None  # to answer once the requests before it are answered
        self.closed = False
        self.reading = True
        self.last_activity = self.loop.time()
        self.receiving_since: float | None = None  # the first byte of a request not yet complete
        self.blank_reads = 0  # reads of nothing but empty lines since the last request began
        self.write_waiters: list[asyncio.Future] | None = None  # set while the transport's buffer is full
        self.write_paused_since: float | None = None

    # asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.peer = transport.get_extra_info("peername") or ("", 0)

    def idle(self) -> bool:
        """Between requests, as a keep-alive connection waits: nothing received, answered or written."""
        return (self.transport is not None and not self.closed and not self.busy and not self.pending
                and not self.unparsed and self.receiving_since is None and self.lingering_since is None
                and self.refusal is None and not self.transport.get_write_buffer_size())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pending.clear()
        self.engine.connection_ended(self)
        self._wake_writers(ConnectionResetError("the client went away"))

    def data_received(self, data: bytes) -> None:
        now = self.last_activity = self.loop.time()
        if self.lingering_since is not None:
            self.pace_linger()
            return  # the rest of a refused request: dropped unread
        if self.refusal is not None:
            return
        if self.receiving_since is None:
            self.receiving_since = now  # any byte begins a request, the empty lines the parser skips too
        if self.parsing is None and self.upgrading is None and not self.unparsed and not data.strip(b"\r\n"):
            # Only the empty lines a parser skips between requests: noted by the clock alone, cheaply.
            # A second such read is no client's stray CRLF: the connection is no longer read (each
            # read is a wake-up of the loop for nothing) until the request timeout drops it.
            self.blank_reads += 1
            if self.blank_reads > 1:
                self.flow()
            return
        self.unparsed = memoryview(bytes(self.unparsed) + data if self.unparsed else data)
        self.parse()

    def parse(self) -> None:
        """Feed the parser one slice of what was read (a body of known length whole) while fewer than
        MAX_PIPELINED requests wait for their answers; the rest is parsed on later turns of the loop,
        other connections served in between, or once those requests are answered."""
        if self.feeding:
            return  # called back from the parser: the slice being fed goes on
        if self.unparsed and len(self.pending) < MAX_PIPELINED and self.refusal is None and not self.closed:
            size = max(FEED_SLICE, self.body_remaining)  # a body of known length holds no request
            piece, rest = self.unparsed[:size], self.unparsed[size:]
            self.unparsed = rest if rest else None
            self.feeding = True
            try:
                self.feed(piece)
            finally:
                self.feeding = False
        self.answer_pending()

    def feed(self, data: memoryview | bytes) -> None:
        while data:
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as upgrade:
                # Not offered: the parser stopped at what it took for another protocol. Go on with a
                # fresh one, from the request again without its Upgrade (h2c, websocket), as plain
                # HTTP/1.1. (After a CONNECT, which is never answered 2xx, the connection stays HTTP too.)
                self.parser = httptools.HttpRequestParser(self)
                request, self.upgrading = self.upgrading, None
                data = (request_head(request) if request else b"") + bytes(data[upgrade.args[0]:])
            except httptools.HttpParserCallbackError as error:
                refused = error.__context__ if isinstance(error.__context__, Refused) else Refused(400, "Malformed HTTP request")
                self.refuse_after_pending(refused)
                return
            except httptools.HttpParserError:
                self.refuse_after_pending(Refused(400, "Malformed HTTP request"))
                return

    def flow(self) -> None:
        """Read the socket while what was read is parsed and few requests wait (always while lingering,
        to drop what comes); else leave the client's bytes in its socket."""
        if self.closed:
            return
        if self.lingering_since is not None:
            wanted = not self.linger_paused
        elif self.refusal is not None:
            wanted = True
        elif self.blank_reads > 1:
            wanted = False  # sends only empty lines: left to the request timeout (see data_received)
        elif self.reading:
            wanted = not self.unparsed and len(self.pending) < MAX_PIPELINED
        else:
            wanted = not self.unparsed and len(self.pending) < MAX_PIPELINED // 2
        if wanted and not self.reading:
            self.transport.resume_reading()
        elif not wanted and self.reading:
            self.transport.pause_reading()
        self.reading = wanted

    def pace_linger(self) -> None:
        """After a read while lingering, stop reading for LINGER_READ_EVERY_S: a client sending a
        large refused body at full speed is slowed by TCP's flow control to a read per interval,
        instead of having the loop (and the cores) copy and drop it as fast as it comes."""
        if not self.linger_paused and not self.closed:
            self.linger_paused = True
            self.flow()
            self.loop.call_later(LINGER_READ_EVERY_S, self._resume_linger)

    def _resume_linger(self) -> None:
        self.linger_paused = False
        self.flow()

    def eof_received(self) -> bool:
        self.eof = True
        if self.lingering_since is not None:
            return False  # the client has read its refusal, or gave up: the transport closes
        return self.busy or bool(self.pending) or bool(self.unparsed)  # True: stays open to answer those

    def pause_writing(self) -> None:
        self.write_waiters = []
        self.write_paused_since = self.loop.time()

    def resume_writing(self) -> None:
        self._wake_writers(None)
        if not self.busy:
            self.answer_pending()

    def _wake_writers(self, error: Exception | None) -> None:
        waiters, self.write_waiters, self.write_paused_since = self.write_waiters or [], None, None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error) if error else waiter.set_result(None)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.parsing = Request()
        self.blank_reads = 0
        self.header_bytes = self.body_bytes = self.body_remaining = 0
        self.receiving_since = self.loop.time()

    def on_url(self, url: bytes) -> None:
        self.parsing.target += url
        self.header_bytes += len(url)
        if self.header_bytes > MAX_HEADER_BYTES:
            raise Refused(431, "Request line and headers exceed 256 KiB")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > MAX_HEADER_BYTES:
            raise Refused(431, "Request line and headers exceed 256 KiB")
        if not self.parsing.method:  # else a trailer after a chunked body: dropped, as waitress did
            self.parsing.headers.append((name, value))

    def on_headers_complete(self) -> None:
        request = self.parsing
        request.method = self.parser.get_method().decode("ascii")
        request.version = self.parser.get_http_version()
        request.keep_alive = self.parser.should_keep_alive()
        length, expects_continue, has_body = 0, False, False
        for name, value in request.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = int(value) if value.strip().isdigit() else 0
                has_body = True
            elif lowered == b"transfer-encoding":
                has_body = True
            elif lowered == b"expect" and value.lower() == b"100-continue":
                expects_continue = True
        if has_body:
            self.body_limit = self.engine.body_limit(request.method, path_of(request.target).decode("latin-1"))
            if length > self.body_limit:
                raise Refused(413, body_too_large(self.body_limit))
            self.body_remaining = length
        if not request.target.startswith(b"/") and b"://" in request.target:  # absolute form (a proxy's)
            try:
                parsed = httptools.parse_url(request.target)
            except httptools.HttpParserInvalidURLError:
                raise Refused(400, "Malformed request target") from None
            request.target = (parsed.path or b"/") + (b"?" + parsed.query if parsed.query else b"")
        if expects_continue and request.version == "1.1" and not self.parser.should_upgrade():  # (sent on its replay)
            self.owes_continue = True  # sent at once, unless answers ahead of it are still being written
            self.send_continue()

    def on_body(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)
        if self.body_bytes > self.body_limit:  # a chunked body growing past it
            raise Refused(413, body_too_large(self.body_limit))
        self.body_remaining = max(0, self.body_remaining - len(chunk))
        self.parsing.body.append(chunk)

    def on_message_complete(self) -> None:
        self.engine.requestless.pop(self, None)
        request, self.parsing = self.parsing, None
        self.receiving_since = None
        self.owes_continue = False
        if self.parser.should_upgrade() and request.method != "CONNECT":
            self.upgrading = request  # parsed again without its Upgrade (see data_received)
            return
        self.body_remaining = 0
        self.pending.append(request)  # answered once the slice is fed (see parse)

    # answering

    def refuse_after_pending(self, refused: Refused) -> None:
        """Refuse a request the parser stopped at, once the requests before it are answered (what
        the client sends meanwhile is dropped unread)."""
        self.refusal = refused
        self.unparsed = None
        self.receiving_since = None
        if not self.busy:
            self.answer_pending()

    def refuse(self, refused: Refused) -> None:
        """Answer the request at hand with an error of the engine's, and close (the requests after it
        are dropped, the rest of its bytes read and dropped while the client may still send them)."""
        self.pending.clear()
        self.unparsed = None
        self.owes_continue = False  # the refused request's, if it had one: nothing may follow the refusal
        if self.closed or self.lingering_since is not None:
            return
        self.transport.write(error_answer(refused.status, str(refused)))
        if not self.transport.can_write_eof():
            self.close()
            return
        self.transport.write_eof()
        self.lingering_since = self.loop.time()
        self.receiving_since = None
        self.flow()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()

    def answer_pending(self) -> None:
        """Answer the first queued request inline, unless it is deferred, the client stops reading
        (the transport's buffer is full) or none is left; what is left (queued, or still to parse)
        waits for this connection's next turn in the engine's round (see the module's docstring)."""
        if self.pending and not self.busy and not self.closed and self.write_waiters is None:
            request = self.pending.popleft()
            environ = self.engine.environ(request, self.peer)
            try:
                schedule = self.engine.schedule(environ)
            except Exception:
                log.exception("scheduling %s %s failed", request.method, environ.get("PATH_INFO"))
                self.refuse(Refused(500, "Internal server error"))
                return
            if schedule.delay_s > 0 or schedule.off_loop:
                self.defer(request, environ, schedule)
            else:
                self.call_inline(request, environ)
        if not self.busy and not self.closed and self.write_waiters is None and (
                self.pending or (self.unparsed and not self.feeding and self.refusal is None)):
            self.engine.take_turn_later(self)
        self.flow()
        if self.busy or self.pending or self.unparsed:
            return
        if self.refusal is not None:
            refusal, self.refusal = self.refusal, None
            self.refuse(refusal)
            return
        self.send_continue()
        if self.eof:
            self.close()

    def send_continue(self) -> None:
        if self.owes_continue and not self.busy and not self.pending and not self.closed:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.owes_continue = False
            self.receiving_since = self.loop.time()  # the body is sent from now on

    def call_inline(self, request: Request, environ: dict[str, Any]) -> None:
        """Call the app on the loop and write its answer."""
        answer = Answer(request)
        try:
            body = self.engine.app(environ, answer.start_response)
            try:
                data = b"".join(body)
            finally:
                close_body(body)
            head = answer.head(data_length=len(data), closing=self.engine.stopping)
        except ConnectionDropped as dropped:
            self.drop(dropped.reset)
            return
        except Exception:
            log.exception("the app failed answering %s %s", request.method, environ.get("PATH_INFO"))
            self.refuse(Refused(500, "Internal server error"))
            return
        if self.closed:
            return  # the client went away (during a delay, say): the app has answered, nobody listens
        self.transport.write(head + (b"" if answer.bodiless else data))
        if not answer.keep_alive:
            self.close()
        self.last_activity = self.loop.time()

    def defer(self, request: Request, environ: dict[str, Any], schedule: Schedule) -> None:
        self.busy = True
        task = self.loop.create_task(self._deferred(request, environ, schedule))
        self.engine.tasks.add(task)
        task.add_done_callback(self.engine.tasks.discard)

    async def _deferred(self, request: Request, environ: dict[str, Any], schedule: Schedule) -> None:
        if schedule.delay_s > 0:
            await asyncio.sleep(schedule.delay_s)
        if schedule.off_loop:
            done = self.loop.create_future()
            self.engine.workers.put((self.answer_in_thread, request, environ, done))
            await done
            self.busy = False
        else:
            self.busy = False
            self.call_inline(request, environ)
        self.last_activity = self.loop.time()
        self.answer_pending()

    def answer_in_thread(self, request: Request, environ: dict[str, Any]) -> None:
        """On a worker thread: call the app and write its answer chunk by chunk as it comes."""
        answer = Answer(request)
        sent_head = False
        try:
            body = self.engine.app(environ, answer.start_response)
            try:
                if isinstance(body, (list, tuple)):
                    data = b"".join(body)
                    head = answer.head(data_length=len(data), closing=self.engine.stopping)
                    self.write_from_thread(head + (b"" if answer.bodiless else data))
                    sent_head = True
                else:
                    for chunk in answer.framed(body, self.engine):
                        self.write_from_thread(chunk)
                        sent_head = True
            finally:
                close_body(body)
        except ConnectionDropped as dropped:
            self.loop.call_soon_threadsafe(self.drop, dropped.reset)
            return
        except ConnectionResetError:
            return  # the client went away while its answer was being written
        except Exception:
            log.exception("the app failed answering %s %s", request.method, environ.get("PATH_INFO"))
            failed = self.abort if sent_head else lambda: self.refuse(Refused(500, "Internal server error"))
            self.loop.call_soon_threadsafe(failed)
            return
        if not answer.keep_alive:
            self.loop.call_soon_threadsafe(self.close)

    def write_from_thread(self, data: bytes) -> None:
        """Write from a worker thread, waiting while the client is slower than the answer."""
        writing = self._write_drained(data)
        try:
            done = asyncio.run_coroutine_threadsafe(writing, self.loop)
        except RuntimeError:  # the loop has closed: the engine stopped, closing every connection
            writing.close()
            raise ConnectionResetError("the engine stopped") from None
        done.result()

    async def _write_drained(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the client went away")
        self.transport.write(data)
        self.last_activity = self.loop.time()
        if self.write_waiters is not None:
            waiter = self.loop.create_future()
            self.write_waiters.append(waiter)
            await waiter

    def drop(self, reset: bool) -> None:
        """Close without answering: abortively (SO_LINGER 0: the client sees a reset) or orderly."""
        if self.closed:
            return
        if reset:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.abort()
        else:
            self.close()


def close_body(body: Iterable[bytes]) -> None:
    """PEP 3333: a body with a `close()` is closed once served, or abandoned."""
    close = getattr(body, "close", None)
    if close is not None:
        close()


class Answer:
    """The status and headers an app gave `start_response`, and the head they make."""

    __slots__ = ("request", "status", "headers", "keep_alive", "bodiless", "sent", "chunked")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = request.keep_alive
        self.bodiless = request.method == "HEAD"
        self.sent = False
        self.chunked = False  # set by head(): the body goes chunk-encoded

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        if exc_info is not None and self.sent:  # too late to answer otherwise (PEP 3333)
            raise exc_info[1].with_traceback(exc_info[2])
        self.status, self.headers = status, headers
        return self._no_write

    @staticmethod
    def _no_write(data: bytes) -> None:
        raise NotImplementedError("the write() callable of WSGI is not supported: return the body")

    def head(self, *, data_length: int | None, closing: bool) -> bytes:
        """The status line and headers; Content-Length from the app, else `data_length`, else chunked."""
        if self.status is None:
            raise RuntimeError("the app returned a body without calling start_response")
        code = int(self.status[:3])
        self.sent = True
        lines = [f"HTTP/1.1 {self.status}\r\n"]
        has_length = False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == "content-length":
                has_length = True
            elif lowered in ("connection", "transfer-encoding"):
                continue  # hop-by-hop: the engine decides these
            lines.append(f"{name}: {value}\r\n")
        if code in NO_BODY_STATUSES or code < 200:
            self.bodiless = True
        elif not has_length:
            if data_length is not None:
                lines.append(f"Content-Length: {data_length}\r\n")
            elif self.request.version == "1.1":
                lines.append("Transfer-Encoding: chunked\r\n")
                self.chunked = True
            else:
                self.keep_alive = False  # HTTP/1.0 without a length: the close ends the body
        if closing:
            self.keep_alive = False
        if not self.keep_alive:
            lines.append("Connection: close\r\n")
        elif self.request.version == "1.0":
            lines.append("Connection: keep-alive\r\n")
        lines.append(DATE_AND_SERVER[0])
        return "".join(lines).encode("latin-1")

    def framed(self, body: Iterable[bytes], engine: AsyncEngine) -> Iterable[bytes]:
        """A streamed body as writes: the head with the first chunk, then ~64 KiB pieces,
        chunk-encoded when the app gave no length on HTTP/1.1."""
        head: bytes | None = None
        buffered: list[bytes] = []
        size = 0
        for chunk in body:
            if head is None:
                head = self.head(data_length=None, closing=engine.stopping)
                if self.bodiless:
                    yield head
                    return
                buffered.append(head)
            if not chunk:
                continue
            buffered.append(b"%x\r\n%s\r\n" % (len(chunk), chunk) if self.chunked else chunk)
            size += len(chunk)
            if size >= STREAM_CHUNK:
                yield b"".join(buffered)
                buffered, size = [], 0
        if head is None:  # an empty body (or a HEAD: its length is unknown)
            head = self.head(data_length=None if self.bodiless else 0, closing=engine.stopping)
            yield head
            return
        if self.chunked:
            buffered.append(b"0\r\n\r\n")
        yield b"".join(buffered)


DATE_AND_SERVER = [""]  # "Date: ...\r\nServer: mock-runtype\r\n\r\n", refreshed every second


def refresh_date() -> None:
    DATE_AND_SERVER[0] = f"Date: {formatdate(usegmt=True)}\r\nServer: mock-runtype\r\n\r\n"


class AsyncEngine:
    """The engine on a bound socket: `start()` runs the loop on a thread until `close()`."""

    name = "asyncio"

    def __init__(self, app: Callable, sock: socket.socket, threads: int, *, body_limit: Callable[[str, str], int],
                 idle_timeout_s: float,
                 request_timeout_s: float, max_connections: int,
                 schedule: Callable[[dict[str, Any]], Schedule] = inline) -> None:
        self.app = app
        self.schedule = schedule
        self.listener = sock
        self.listener.setblocking(False)
        self.port = sock.getsockname()[1]
        self.body_limit = body_limit  # (method, path) -> the largest body that endpoint takes
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self.loop = asyncio.new_event_loop()
        self.connections: set[Connection] = set()
        self.requestless: dict[Connection, None] = {}  # those yet to complete a request, the longest open first
        self.turns: dict[Connection, None] = {}  # those with pipelined requests left, in the order of their turns
        self.turns_scheduled = False
        self.tasks: set[asyncio.Task] = set()
        self.workers: queue.SimpleQueue = queue.SimpleQueue()
        self.worker_count = threads
        self.accepting = False
        self.stopping = False
        self.thread: threading.Thread | None = None
        host, port = sock.getsockname()[:2]
        self.base_environ = {
            "SCRIPT_NAME": "", "SERVER_NAME": host, "SERVER_PORT": str(port), "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.input_terminated": True,
        }

    def start(self) -> None:
        refresh_date()
        for number in range(self.worker_count):
            threading.Thread(target=self._work, name=f"mock-runtype-worker-{number}", daemon=True).start()
        self.thread = threading.Thread(target=self._run, name="mock-runtype-engine", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._resume_accepting()
        self.loop.call_later(SWEEP_INTERVAL_S, self._sweep)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def _work(self) -> None:
        while (job := self.workers.get()) is not None:
            function, request, environ, done = job
            try:
                function(request, environ)
                self.loop.call_soon_threadsafe(_resolve, done)
            except RuntimeError:
                if self.loop.is_closed():
                    return  # the engine stopped while this answer was being made
                raise

    # accepting

    def _resume_accepting(self) -> None:
        if not self.accepting and not self.stopping:
            self.loop.add_reader(self.listener.fileno(), self._accept)
            self.accepting = True

    def _pause_accepting(self) -> None:
        if self.accepting:
            self.loop.remove_reader(self.listener.fileno())
            self.accepting = False

    def _accept(self) -> None:
        for accepted in range(64):
            victim = None
            if len(self.connections) >= self.max_connections:
                if accepted:
                    return  # whether another newcomer waits, the listener's next readiness tells
                victim = self._victim()
                if victim is None:
                    self._pause_accepting()  # the rest wait in the backlog until a place is free
                    return
            try:
                client, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of descriptors, say: try again shortly rather than spin
                log.warning("cannot accept a connection: %s", error)
                self._pause_accepting()
                self.loop.call_later(0.1, self._resume_accepting)
                return
            if victim is not None:
                self._evict(victim)
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            self._connect(client)

    def _victim(self) -> Connection | None:
        """The connection whose place a newcomer takes at the cap (see the module's docstring), if any."""
        for connection in self.requestless:
            if (connection.transport is not None and not connection.closed and connection.lingering_since is None
                    and connection.refusal is None):  # (a refused one is being answered)
                return connection
        return min((connection for connection in self.connections if connection.idle()),
                   key=lambda connection: connection.last_activity, default=None)

    def _evict(self, victim: Connection) -> None:
        victim.abort()  # closed at once: it has no answer to finish writing
        self.connection_ended(victim)  # its place is the newcomer's already

    def _connect(self, client: socket.socket) -> None:
        connection = Connection(self)
        self.connections.add(connection)  # counted at once: its transport is made on a later turn
        self.requestless[connection] = None
        connecting = self.loop.create_task(self.loop.connect_accepted_socket(lambda: connection, client))
        connecting.add_done_callback(lambda task: self._connected(task, connection, client))

    def _connected(self, task: asyncio.Task, connection: Connection, client: socket.socket) -> None:
        if task.cancelled() or task.exception() is not None:  # a client gone before it was set up
            client.close()
            self.connection_ended(connection)

    def connection_ended(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self.requestless.pop(connection, None)
        self.turns.pop(connection, None)
        if not self.accepting and len(self.connections) < self.max_connections:
            self._resume_accepting()

    # turns

    def take_turn_later(self, connection: Connection) -> None:
        """Queue `connection` for a turn: one more of its requests answered (its next slice parsed)."""
        self.turns[connection] = None
        if not self.turns_scheduled:
            self.turns_scheduled = True
            self.loop.call_soon(self._take_turns)

    def _take_turns(self) -> None:
        """One request of each queued connection in turn, for at most TURN_S; the rest at the loop's
        next turn, after what has arrived meanwhile."""
        self.turns_scheduled = False
        turn_ends = self.loop.time() + TURN_S
        try:
            while self.turns and self.loop.time() <= turn_ends:
                connection = next(iter(self.turns))
                del self.turns[connection]
                if not connection.closed:
                    connection.parse()  # queues it again when more is left
        finally:  # (an error in one turn is the loop's to log: the others' turns go on)
            if self.turns and not self.turns_scheduled:
                self.turns_scheduled = True
                self.loop.call_soon(self._take_turns)

    # per request

    def environ(self, request: Request, peer: tuple) -> dict[str, Any]:
        """The WSGI environ of `request` (PEP 3333: the path decoded to bytes, held as latin-1)."""
        environ = self.base_environ.copy()
        environ["PATH_INFO"] = path_of(request.target).decode("latin-1")
        environ["QUERY_STRING"] = request.target.partition(b"?")[2].partition(b"#")[0].decode("latin-1")
        environ["RAW_URI"] = request.target.decode("latin-1")  # as gunicorn: the target before decoding
        environ["REQUEST_METHOD"] = request.method
        environ["SERVER_PROTOCOL"] = "HTTP/" + request.version
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = peer[0], str(peer[1])
        for name, value in request.headers:
            if b"_" in name:
                continue  # would pose as a dashed header in the environ (as waitress and others drop them)
            key = name.decode("latin-1").upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            text = value.decode("latin-1")
            environ[key] = environ[key] + "," + text if key in environ else text
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        body = request.body[0] if len(request.body) == 1 else b"".join(request.body)
        environ["CONTENT_LENGTH"] = str(len(body)) if body else environ.get("CONTENT_LENGTH", "")
        environ["wsgi.input"] = BytesIO(body)
        return environ

    # upkeep

    def _sweep(self) -> None:
        """Once a second: the Date header, the connections over their time, and (at the cap) whether
        a newcomer waiting can now take the place of one that has since become idle or stalled."""
        refresh_date()
        now = self.loop.time()
        self._end_some([connection for connection in self.connections if self._overdue(connection, now)])
        self._resume_accepting()
        self.loop.call_later(SWEEP_INTERVAL_S, self._sweep)

    def _overdue(self, connection: Connection, now: float) -> Callable[[], None] | None:
        """How to end `connection` if it is over one of its times (closing or aborting it), else None."""
        if connection.transport is None:
            return None
        if connection.closed:  # its close waits for the rest of an answer to be written
            if now - connection.last_activity > self.idle_timeout_s:
                return connection.abort  # to a client that reads none of it
        elif connection.lingering_since is not None:
            if now - connection.lingering_since > LINGER_S:
                return connection.close
        elif (connection.receiving_since is not None and not connection.busy and not connection.unparsed
                and now - connection.receiving_since > self.request_timeout_s):
            return connection.abort  # a slow or stalled client (not one waiting for the answer ahead)
        elif connection.write_paused_since is not None and now - connection.write_paused_since > self.idle_timeout_s:
            return connection.abort  # a client that stopped reading its answer
        elif (not connection.busy and not connection.pending and connection.receiving_since is None
              and now - connection.last_activity > self.idle_timeout_s):
            return connection.close
        return None

    def _end_some(self, ending: list[Connection]) -> None:
        """End SWEEP_BATCH of the connections the sweep found over their time, the rest at the loop's
        next turns: a thousand timing out at once (opened at once) do not hold up everyone else.
        Each is looked at again when its batch comes: a request read meanwhile is answered, and one
        already gone is left alone."""
        now = self.loop.time()
        for connection in ending[:SWEEP_BATCH]:
            end = self._overdue(connection, now) if connection in self.connections else None
            if end is not None:
                end()
        if len(ending) > SWEEP_BATCH:
            self.loop.call_soon(self._end_some, ending[SWEEP_BATCH:])

    # stopping

    def close(self, grace: float = 0.0) -> None:
        """Stop accepting, give requests being answered `grace` seconds, then close everything."""
        if self.thread is None or not self.thread.is_alive():
            self.listener.close()
            return
        stopped = asyncio.run_coroutine_threadsafe(self._stop(grace), self.loop)
        try:
            stopped.result(timeout=grace + 2)
        except Exception:  # noqa: BLE001 (a loop that cannot stop in time is left to the process exit)
            log.warning("the engine did not stop in time")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=1)
        for _ in range(self.worker_count):
            self.workers.put(None)

    async def _stop(self, grace: float) -> None:
        self.stopping = True
        self._pause_accepting()
        self.listener.close()
        deadline = self.loop.time() + grace
        while True:
            for connection in list(self.connections):
                if not connection.busy and not connection.pending and connection.transport is not None:
                    connection.close()
            if not self.connections or self.loop.time() >= deadline:
                break
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.abort()
        for task in list(self.tasks):
            task.cancel()


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)

"""`mock-runtype serve`: the sandbox's app on the server (`mock_runtype.serving.adapter`), in one
process, as the state is in memory; plus logging, signals and the errors a user sees."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from mock_runtype import __version__
from mock_runtype.cli import counted
from mock_runtype.http.app import create_app
from mock_runtype.sandbox.core import Sandbox
from mock_runtype.serving import logs
from mock_runtype.serving.adapter import ServerSettings, bind

log = logging.getLogger("mock_runtype")
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@dataclass(frozen=True)
class Loaded:
    """What `mock-runtype serve` loaded before listening, for the start-up line."""

    files: int
    tenants: int
    records: int
    seconds: float

    def __str__(self) -> str:
        return (f"loaded {counted(self.files, 'fixture file')} ({counted(self.tenants, 'tenant')}, "
                f"{counted(self.records, 'record')}) in {self.seconds:.1f} s")


def serve(sandbox: Sandbox, settings: ServerSettings | None = None, loaded: Loaded | None = None,
          state: StateFile | None = None) -> int:
    """Serve `sandbox` until SIGTERM or SIGINT (exit 0); 1 if it cannot listen. The start-up line
    names the URL (with `--quiet` too when the port was 0: the only way to learn it) and `loaded`.
    With a `state` file (already loaded into `sandbox`), the state is written to it while serving
    and on stop.

    The server runs in threads; the main thread only waits for a stop signal with `sigwait`,
    the signals blocked everywhere else, so no handler ever interrupts code holding a lock.
    """
    settings = settings or ServerSettings()
    logs.configure(settings.log_format, settings.quiet, log_health=settings.log_health)
    app = create_app(sandbox)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # inherited by every thread started below
    try:
        try:
            server = bind(app, settings, access_log=not settings.quiet)
        except OSError as error:
            print(f"mock-runtype: cannot listen on {settings.host}:{settings.port}: {_reason(error)}",
                  file=sys.stderr)
            return 1
        server.start()
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        url = f"http://{host}:{server.port}"
        fields = {"url": url, "version": __version__, "engine": server.name, "threads": settings.threads}
        message = "mock-runtype %s listening on %s (%s, %d threads)"
        arguments: tuple = (__version__, url, server.name, settings.threads)
        if loaded is not None:
            message += "; %s"
            arguments += (loaded,)
            fields.update(files=loaded.files, tenants=loaded.tenants, records=loaded.records,
                          loadSeconds=round(loaded.seconds, 3))
        if log.isEnabledFor(logging.INFO):
            log.info(message, *arguments, extra={"fields": fields})
        elif settings.port == 0:  # --quiet, but the port it got is known only from this line
            log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, message, arguments, None,
                                      extra={"fields": fields}))
        log.info("web console at %s/__admin/ui", url, extra={"fields": {"console": f"{url}/__admin/ui"}})
        if not sandbox.settings.admin_token and beyond_loopback(settings.host):
            log.warning("the control API (/__admin) is open to anyone who can reach %s: it can read every API key "
                        "and rewrite every record; set a token with --admin-token (or MOCK_RUNTYPE_ADMIN_TOKEN, "
                        "--admin-token-file)", url, extra={"fields": {"url": url, "flag": "--admin-token"}})
        stop = threading.Event()
        if state is not None:
            threading.Thread(target=state.keep, args=(stop, settings.state_interval_s), name="state-file",
                             daemon=True).start()
        name = signal.Signals(signal.sigwait(STOP_SIGNALS)).name
        logs.flush()  # the access lines of what was answered come before the line that says it stops
        log.info("stopping on %s", name, extra={"fields": {"signal": name}})
        stop.set()
        server.close()
        if state is not None:
            state.save()  # after the last request: nothing answered is left out
        logs.flush()
        return 0
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class StateFile:
    """The state kept in a file across restarts, as `/__admin/state` exports it (a fixture document
    in JSON). Written whole to a temporary file beside it, flushed to disk, then renamed over it:
    the file is always the old state or the new one, never half of one."""

    def __init__(self, path: str, sandbox: Sandbox) -> None:
        self.path = Path(path)
        self.sandbox = sandbox
        self.saved_changes: int | None = None  # the sandbox's change count when last written
        self._writing = threading.Lock()

    def load(self) -> dict[str, int] | None:
        """Make the file's state the sandbox's (None: there is no file yet). Raises ValueError with
        one message for a user when it cannot be read or does not load; the file is left as it is."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read the state file {self.path}: {getattr(error, 'strerror', None) or error}")
        from mock_runtype.sandbox.fixtures import FixtureError

        try:
            loaded = self.sandbox.restore(text, str(self.path))
        except FixtureError as error:
            raise ValueError(f"the state file {self.path} does not load (it is left as it is: fix it, or move it "
                             f"away to start empty):\n{error}") from None
        self.saved_changes = self.sandbox.changes
        return loaded

    def save(self) -> None:
        """Write the state if it changed since it was last written (or there is no file yet)."""
        changes = self.sandbox.changes
        if changes == self.saved_changes and self.path.exists():
            return
        with self._writing:
            self._write(changes)

    def _write(self, changes: int) -> None:
        """One write at a time (the periodic one may still run when the stop's starts), each to a
        temporary file of its own: `mkstemp` makes it new (never a file or symlink planted at a
        guessable name) and readable by its owner alone, as the state holds every API key."""
        data = json.dumps(self.sandbox.export_state(), ensure_ascii=False, separators=(",", ":")).encode()
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            with open(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            log.error("cannot write the state file %s: %s", self.path, _reason(error),
                      extra={"fields": {"path": str(self.path)}})
            return
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself reaches the disk
        finally:
            os.close(directory)
        self.saved_changes = changes

    def keep(self, stop: threading.Event, interval_s: float) -> None:
        """Write the state every `interval_s` seconds when it changed, until `stop` is set."""
        while not stop.wait(interval_s):
            self.save()


def beyond_loopback(host: str) -> bool:
    """Whether a server bound on `host` (its first address, as `bind` takes it) is reachable from
    other machines: `0.0.0.0`, `::` or an interface's address, not 127.x or ::1."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:  # a name: the address it resolves to
        try:
            resolved = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
            address = ipaddress.ip_address(resolved.partition("%")[0])
        except OSError:
            return True  # cannot tell: warn rather than stay silent
    return not address.is_loopback


def _reason(error: OSError) -> str:
    """`Address already in use`, `Name or service not known`, ...: the cause without the details."""
    if isinstance(error.errno, int) and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or str(error)

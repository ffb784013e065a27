"""`mock-runtype serve`: the sandbox's app on the server (`mock_runtype.serving.adapter`), in one
process, as the state is in memory; plus logging, signals and the errors a user sees."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass

from mock_runtype import __version__
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


def counted(number: int, noun: str) -> str:
    """`1 tenant`, `10,000 records`: the number, and the noun in the plural unless it is one."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def serve(sandbox: Sandbox, settings: ServerSettings | None = None, loaded: Loaded | None = None) -> int:
    """Serve `sandbox` until SIGTERM or SIGINT (exit 0); 1 if it cannot listen. The start-up line
    names the URL (with `--quiet` too when the port was 0: the only way to learn it) and `loaded`.

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
        name = signal.Signals(signal.sigwait(STOP_SIGNALS)).name
        log.info("stopping on %s", name, extra={"fields": {"signal": name}})
        server.close()
        logs.flush()
        return 0
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


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

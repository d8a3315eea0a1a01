"""The simulator's console from the command line: ``console ACTION ...`` and ``report``.

Contract:
- ``console (--endpoints-file PATH | --url URL) ACTION ...`` calls the console API (`reconciler.sim.console`).
  Credentials come from the endpoints file or SEPM_SIM_USERNAME / SEPM_SIM_PASSWORD, and keystore
  passwords from the variable named by ``--password-env``: never from argv. Exit 0 on success; 1 with
  one line on stderr otherwise. Reads print JSON on stdout. ``copy-msl`` and ``delete-msl`` are
  idempotent, as a site script must be.
- ``report (--endpoints-file PATH | --url URL)`` prints the site's report (cut-off and orphaned
  clients, insecure windows).
- Served two ways with the same argv after the program: ``sepm-reconciler sim console ...`` and
  ``python -m reconciler.sim.console_cli console ...``. The second imports the standard library and
  this package's console client only, so it starts in milliseconds: what a rehearsal's command
  actuators run at every step.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.sim.console_client import ConsoleClient, ConsoleClientError, quote_segment
from reconciler.sim.fault_kinds import FAULT_KINDS
from reconciler.sim.views import TLS_PORT_KINDS

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----\s*", re.DOTALL)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``console`` and ``report`` to a parser's subcommands."""
    console = commands.add_parser("console", help="call the simulator's console API")
    _add_target(console)
    actions = console.add_subparsers(dest="action", metavar="ACTION", required=True)
    _register_actions(actions)
    report = commands.add_parser("report", help="print the simulator's report")
    _add_target(report)
    report.set_defaults(handler=_console_handler(lambda c, _a: _print(c.call("GET", "report"))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconciler.sim.console_cli")
    register(parser.add_subparsers(dest="sim_command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def _add_target(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--endpoints-file", type=Path, help="endpoints file written by `simulate`")
    target.add_argument("--url", help="console URL (credentials from SEPM_SIM_USERNAME / SEPM_SIM_PASSWORD)")


def _register_actions(actions: argparse._SubParsersAction[Any]) -> None:
    def action(name: str, help_text: str, run: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        parser.set_defaults(handler=_console_handler(run))
        return parser

    action("list-msls", "print the Management Server Lists", lambda c, _a: _print(c.call("GET", "msls")))
    action(
        "servers", "print the servers and their certificates", lambda c, _a: _print(c.call("GET", "servers"))
    )
    copy = action("copy-msl", "copy an MSL (HTTP by default, as the single-server method needs)", _copy_msl)
    copy.add_argument("--source", required=True)
    copy.add_argument("--name", required=True)
    copy.add_argument("--protocol", choices=("http", "https"), default="http")
    copy.add_argument("--http-port", action="append", default=[], metavar="SERVER=PORT[,SERVER=PORT]")
    delete = action("delete-msl", "delete an MSL that is no longer assigned", _delete_msl)
    delete.add_argument("--name", required=True)
    update = action("update-certificate", "replace a server's certificate", _update_certificate)
    update.add_argument("--server", required=True)
    update.add_argument("--keystore", type=Path, required=True, help="PKCS#12 or PEM (certificate + key)")
    update.add_argument("--password-env", help="environment variable holding the keystore password")
    action("break-replication", "break replication", lambda c, _a: _done(c.call("POST", "replication/break")))
    action(
        "restore-replication",
        "restore replication",
        lambda c, _a: _done(c.call("POST", "replication/restore")),
    )
    action("report", "print the report", lambda c, _a: _print(c.call("GET", "report")))
    clock = action("clock", "print (or advance) the simulated clock", _clock)
    clock.add_argument("--advance-ms", type=int, help="jump the simulated clock forward")
    fault = action("fault", "switch faults on or off", _fault)
    fault.add_argument("kind", choices=_fault_choices())
    fault.add_argument("--share", type=float, help="errors: share of REST requests that fail (0..1)")
    fault.add_argument("--status", type=int, help="errors: 500|503; page: the error status")
    fault.add_argument("--count", type=int, help="too-many-requests: how many requests answer 429")
    fault.add_argument("--retry-after", type=int, help="too-many-requests: Retry-After seconds")
    fault.add_argument("--seconds", type=float, help="delay: real seconds per REST response")
    fault.add_argument("--page-index", type=int, help="page: the 1-based page that fails")
    fault.add_argument("--path", help="page: the REST resource (default computers)")
    fault.add_argument("--per-minute", type=int, help="throttle: REST calls per real minute (0 = off)")
    fault.add_argument("--server", help="server-down|up, corrupt-|repair-certificate: the server")
    fault.add_argument("--port", choices=TLS_PORT_KINDS, help="corrupt-certificate: the port")


def _fault_choices() -> tuple[str, ...]:
    """list, clear and the simulator's fault kinds, with server-up (server-down, down false) after
    server-down."""
    kinds = list(FAULT_KINDS)
    kinds.insert(kinds.index("server-down") + 1, "server-up")
    return ("list", "clear", *kinds)


def _console_handler(run: Any) -> Any:
    def handler(args: argparse.Namespace) -> int:
        try:
            if args.endpoints_file is not None:
                client = ConsoleClient.from_endpoints(args.endpoints_file)
            else:
                client = ConsoleClient.from_url(args.url)
            run(client, args)
        except (ConsoleClientError, ValueError, OSError) as exc:
            print(f"sepm-reconciler sim: {exc}", file=sys.stderr)
            return 1
        return 0

    return handler


def _print(payload: Any) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True))


def _done(_payload: Any) -> None:
    print("ok")


def _copy_msl(client: ConsoleClient, args: argparse.Namespace) -> None:
    ports: dict[str, int] = {}
    # Repeated flags or one comma-separated list (what a desired state's {http_ports} expands to).
    for item in (part for value in args.http_port for part in value.split(",") if part):
        server, sep, port = item.partition("=")
        if not sep or not server or not port.isdigit():
            raise ValueError(f"--http-port takes SERVER=PORT, got {item!r}")
        ports[server] = int(port)
    body: dict[str, Any] = {"source": args.source, "name": args.name, "protocol": args.protocol}
    if ports:
        body["httpPorts"] = ports
    # Idempotent, as a site script must be: a controller that crashed after the copy and before
    # journaling it runs the command again, and the copy it made then is what it asked for.
    existing = _msl_named(client, args.name)
    if existing is not None and existing.get("protocol") == args.protocol:
        have = {e["server"]: e["port"] for e in existing.get("servers", [])}
        if all(have.get(server) == port for server, port in ports.items()):
            _print(existing)
            return
    _print(client.call("POST", "msls/copy", body))


def _delete_msl(client: ConsoleClient, args: argparse.Namespace) -> None:
    if _msl_named(client, args.name) is None:  # already gone: deleting twice is not an error
        _done(None)
        return
    _done(client.call("DELETE", f"msls/{quote_segment(args.name)}"))


def _msl_named(client: ConsoleClient, name: str) -> dict[str, Any] | None:
    listed: list[dict[str, Any]] = client.call("GET", "msls")
    return next((m for m in listed if m.get("name") == name), None)


def _update_certificate(client: ConsoleClient, args: argparse.Namespace) -> None:
    password: str | None = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise ValueError(f"the environment variable {args.password_env} is not set")
    data = args.keystore.read_bytes()
    body: dict[str, Any]
    if b"-----BEGIN" in data:
        blocks = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
        keys = [b for b in blocks if b"PRIVATE KEY-----" in b]
        certificates = [b for b in blocks if b"CERTIFICATE-----" in b]
        if not keys or not certificates:
            raise ValueError(f"{args.keystore} must hold a certificate and a private key (PEM)")
        body = {"certificate": certificates[0].decode("ascii"), "privateKey": keys[0].decode("ascii")}
    else:
        body = {"pkcs12": base64.b64encode(data).decode("ascii")}
    if password is not None:
        body["password"] = password
    answer = client.call("POST", f"servers/{quote_segment(args.server)}/certificate", body)
    print(f"{answer['server']}: {answer['sha256']}")


def _clock(client: ConsoleClient, args: argparse.Namespace) -> None:
    if args.advance_ms is not None:
        _print(client.call("POST", "clock/advance", {"ms": args.advance_ms}))
    else:
        _print(client.call("GET", "clock"))


def _fault(client: ConsoleClient, args: argparse.Namespace) -> None:
    kind = args.kind
    if kind == "list":
        _print(client.call("GET", "faults"))
        return
    if kind == "clear":
        _done(client.call("DELETE", "faults"))
        return
    spec: dict[str, Any] = {"kind": "server-down" if kind == "server-up" else kind}
    options = {
        "errors": {"share": args.share, "status": args.status},
        "too-many-requests": {"count": args.count, "retryAfter": args.retry_after},
        "delay": {"seconds": args.seconds},
        "page": {"pageIndex": args.page_index, "path": args.path, "status": args.status},
        "throttle": {"perMinute": args.per_minute or None},
        "server-down": {"server": args.server, "down": True},
        "server-up": {"server": args.server, "down": False},
        "corrupt-certificate": {"server": args.server, "port": args.port},
        "repair-certificate": {"server": args.server},
    }.get(kind, {})
    spec.update({k: v for k, v in options.items() if v is not None or k == "perMinute"})
    _done(client.call("POST", "faults", spec))


if __name__ == "__main__":
    sys.exit(main())

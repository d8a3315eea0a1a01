"""``run``, ``status``, ``ack``, ``proceed``, ``abort``, ``suspend``, ``resume`` and ``demo``.

``run`` is the long-running controller. The others talk to it through the journal (requests it reads at
its next reconcile) and the status files it writes, so they work whether or not a controller runs, and
from another container sharing the state volume.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.cli import logs
from reconciler.cli.desired_cmds import secret_dir_option, use_secret_dirs
from reconciler.controller.runner import Controller
from reconciler.desired.loader import load_folder
from reconciler.desired.schema import DesiredSite
from reconciler.desired.secrets import SecretError, resolve_secret
from reconciler.journal.errors import JournalError
from reconciler.journal.paths import default_journal_path
from reconciler.journal.schema import probe
from reconciler.journal.store import Journal
from reconciler.model import step_ids
from reconciler.model.observed import Observed
from reconciler.sepm.client import SepmClient
from reconciler.sepm.errors import SepmError
from reconciler.sepm.observer import Observer
from reconciler.telemetry.status import SiteStatus
from reconciler.telemetry.status_store import read_statuses, status_folder


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the controller's subcommands."""
    run = commands.add_parser("run", help="run the controller on a desired-state folder")
    run.add_argument("folder", type=Path, help="the desired-state folder (one YAML file per site)")
    _journal_option(run)
    run.add_argument("--resync", type=float, default=300.0, help="seconds between full resyncs")
    run.add_argument(
        "--lease-ttl", type=float, default=60.0, help="seconds a site's lease outlives a crashed controller"
    )
    run.add_argument(
        "--metrics-address", default="127.0.0.1", help="where /metrics, /healthz, /readyz listen"
    )
    run.add_argument("--metrics-port", type=int, default=9808, help="0 picks a free port; -1 turns them off")
    run.add_argument("--log-level", default="INFO")
    run.add_argument(
        "--log-format",
        choices=("auto", "json", "human"),
        default="auto",
        help="JSON lines, or lines for people; auto: human on a terminal, JSON otherwise",
    )
    secret_dir_option(run)
    run.set_defaults(handler=_run)

    observe = commands.add_parser(
        "observe", help="read a site once and print its snapshot as JSON (for `plan --observed`)"
    )
    observe.add_argument("folder", type=Path, help="the desired-state folder")
    observe.add_argument("--site", help="the site to read (needed when the folder holds several)")
    secret_dir_option(observe)
    observe.set_defaults(handler=_observe)

    status = commands.add_parser("status", help="show each site's phase, step, gate progress and tasks")
    _journal_option(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    ack = commands.add_parser("ack", help="acknowledge an operator task the controller cannot observe")
    ack.add_argument("site")
    ack.add_argument("step", help="the step id shown by `status`")
    ack.add_argument("--note", default="")
    _journal_option(ack)
    ack.set_defaults(handler=_request(_ack))

    proceed = commands.add_parser("proceed", help="break-glass: open a stalled gate without its evidence")
    proceed.add_argument("site")
    proceed.add_argument("gate", help="the gate step id shown by `status`")
    proceed.add_argument("--reason", required=True, help="why (recorded in the journal)")
    _journal_option(proceed)
    proceed.set_defaults(handler=_request(_proceed))

    adopt = commands.add_parser(
        "adopt", help="take over a rotation SEPM shows under way but the journal lost (continue or --restore)"
    )
    adopt.add_argument("site")
    adopt.add_argument(
        "--restore", action="store_true", help="restore the rotation's originals instead of continuing it"
    )
    adopt.add_argument("--reason", default="", help="why (recorded in the journal)")
    _journal_option(adopt)
    adopt.set_defaults(handler=_request(_adopt))

    abort = commands.add_parser("abort", help="restore the secure original settings of a rotation")
    abort.add_argument("site")
    abort.add_argument("--reason", default="aborted from the command line")
    _journal_option(abort)
    abort.set_defaults(handler=_request(_abort))

    for name, value in (("suspend", True), ("resume", False)):
        parser = commands.add_parser(
            name, help=f"{name} a site (a suspended site is observed, never acted on)"
        )
        parser.add_argument("site")
        parser.add_argument("--reason", default="")
        _journal_option(parser)
        parser.set_defaults(handler=_request(_suspend), suspend=value)

    demo = commands.add_parser("demo", help="rotate a simulated two-server site end to end, live")
    demo.add_argument("--speed", type=float, default=600.0, help="simulated seconds per real second")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--keep", type=Path, default=None, help="keep the demo's files in this folder")
    demo.set_defaults(handler=_demo)


def _journal_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="journal file (default: $SEPM_RECONCILER_STATE_DIR/journal.db, /var/lib/sepm-reconciler "
        "as root, else ~/.local/state/sepm-reconciler)",
    )


def _journal_path(args: argparse.Namespace) -> Path:
    return Path(args.journal) if args.journal else default_journal_path()


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _run(args: argparse.Namespace) -> int:
    logs.configure(level=args.log_level, log_format=args.log_format)
    use_secret_dirs(args)
    folder: Path = args.folder
    if not folder.exists():
        print(f"sepm-reconciler run: {folder}: no such folder", file=sys.stderr)
        return 1
    controller = Controller(
        folder=folder,
        journal_path=_journal_path(args),
        resync_seconds=args.resync,
        lease_ttl=args.lease_ttl,
        metrics_address=args.metrics_address,
        metrics_port=None if args.metrics_port < 0 else args.metrics_port,
    )
    try:
        return asyncio.run(_run_until_signal(controller))
    except JournalError as error:  # unreadable, or written by a newer release: one line, no traceback
        print(f"sepm-reconciler run: {error}", file=sys.stderr)
        return 1


async def _run_until_signal(controller: Controller) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await controller.run(stop)


def _observe(args: argparse.Namespace) -> int:
    use_secret_dirs(args)
    loaded = load_folder(args.folder)
    if not loaded.ok:
        for error in loaded.errors:
            print(error, file=sys.stderr)
        return 1
    names = [args.site] if args.site else list(loaded.sites)
    if len(names) != 1 or names[0] not in loaded.sites:
        known = ", ".join(sorted(loaded.sites))
        print(f"sepm-reconciler observe: name one site with --site ({known})", file=sys.stderr)
        return 1
    desired = loaded.sites[names[0]]
    try:
        password = resolve_secret(desired.api.password, base=loaded.files[desired.site].parent)
        observed = asyncio.run(_observe_once(desired, password))
    except (SepmError, SecretError) as error:
        print(f"sepm-reconciler observe: {error}", file=sys.stderr)
        return 1
    print(observed.model_dump_json(indent=2))
    return 0


async def _observe_once(desired: DesiredSite, password: str) -> Observed:
    async with SepmClient.for_site(desired, password=password) as client:
        return await Observer(desired, client).observe()


def _status(args: argparse.Namespace) -> int:
    journal_path = _journal_path(args)
    statuses = read_statuses(status_folder(journal_path))
    unreadable = _unreadable(journal_path)
    if unreadable is not None:
        print(f"sepm-reconciler status: {unreadable} (the statuses below may be stale)", file=sys.stderr)
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in statuses], indent=2))
    elif not statuses:
        print("no site status yet (is `sepm-reconciler run` running with this journal?)")
    for status in [] if args.json else statuses:
        print(format_status(status))
    return 1 if unreadable is not None else 0


def _unreadable(journal_path: Path) -> JournalError | None:
    """Why the journal cannot be used, or None (also when there is none yet: nothing has run)."""
    if not journal_path.exists():
        return None
    try:
        probe(journal_path)
    except JournalError as error:
        return error
    return None


def format_status(status: SiteStatus) -> str:
    """The human view of one site, as `status` prints it."""
    lines = [f"{status.site}: {status.phase} ({status.reason}) {status.message}"]
    if status.rotation_id:
        lines.append(f"  rotation {status.rotation_id} ({status.procedure}): step {status.steps_done + 1} "
                     f"of {status.steps_total}: {status.current_step or '-'}")  # fmt: skip
    if status.gate is not None:
        can_open = f"; can open {_sepm_time(status.gate.eta)}" if status.gate.eta else ""
        lines.append(
            f"  gate: {status.gate.summary()}{can_open}; deadline {_sepm_time(status.gate.deadline)}"
        )
        if status.gate.lagging:
            lines.append(f"  lagging: {', '.join(status.gate.lagging)}")
    if status.eta is not None and status.rotation_id:
        lines.append(f"  earliest completion: {_sepm_time(status.eta)} (every client's check-ins, chained)")
    if status.revision.commit:
        subject = f" ({status.revision.subject})" if status.revision.subject else ""
        lines.append(f"  desired state at revision {status.revision.commit[:12]}{subject}")
    if status.dormant:
        shown = ", ".join(status.dormant[:10]) + (" ..." if len(status.dormant) > 10 else "")
        lines.append(f"  dormant clients ({len(status.dormant)}), will need a manual fix: {shown}")
    for task in status.operator_tasks:
        lines.append(f"  operator task {task.step}:")
        lines.extend(f"    - {line}" for line in task.instructions)
    for error in status.desired_errors:
        lines.append(f"  invalid desired state (last valid one stays in force): {error}")
    if status.queued_change:
        lines.append("  a newer desired state is queued until this rotation completes")
    return "\n".join(lines)


def _sepm_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _request(action: Callable[[Journal, argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    """A handler that writes one request for the controller into the journal, with one error path."""

    def handler(args: argparse.Namespace) -> int:
        try:
            with Journal(_journal_path(args)) as journal:
                action(journal, args)
        except (JournalError, ValueError) as error:
            print(f"sepm-reconciler {args.command}: {error}", file=sys.stderr)
            return 1
        print(f"{args.command}: recorded for {args.site}; the controller applies it at its next reconcile")
        return 0

    return handler


def _ack(journal: Journal, args: argparse.Namespace) -> None:
    """An acknowledgement must name a step the controller started and has not done: an operator task, or
    (under abort) a certificate update whose outcome is in doubt."""
    rotation = journal.active_rotation(args.site)
    if rotation is None:
        raise ValueError(f"{args.site} has no rotation in progress")
    open_steps = journal.progress(rotation["id"]).attempted
    if args.step not in open_steps:
        waiting = ", ".join(open_steps) or "none"
        raise ValueError(f"{args.step} is not an open step of {args.site} (open: {waiting})")
    journal.request_ack(args.site, args.step, who=_who(), note=args.note)


def _proceed(journal: Journal, args: argparse.Namespace) -> None:
    if not step_ids.is_gate(args.gate):
        raise ValueError(f"{args.gate} is not a gate; `sepm-reconciler status` names the gate")
    journal.request_proceed(args.site, args.gate, reason=args.reason, who=_who())


def _adopt(journal: Journal, args: argparse.Namespace) -> None:
    journal.request_adopt(args.site, restore=args.restore, who=_who(), reason=args.reason)


def _abort(journal: Journal, args: argparse.Namespace) -> None:
    journal.request_abort(args.site, who=_who(), reason=args.reason)


def _suspend(journal: Journal, args: argparse.Namespace) -> None:
    if not journal.set_suspended(args.site, args.suspend, who=_who(), reason=args.reason):
        print(f"{args.site} already {'suspended' if args.suspend else 'running'}")


def _demo(args: argparse.Namespace) -> int:
    # Imported here: the demo pulls in the simulator, which `run` in production never needs.
    from reconciler.cli.demo import run_demo  # noqa: PLC0415

    return run_demo(speed=args.speed, seed=args.seed, keep=args.keep)

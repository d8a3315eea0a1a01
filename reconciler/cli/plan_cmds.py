"""``sepm-reconciler plan DIR --observed SNAPSHOT.json [--progress PROGRESS.json] [--json] [--site NAME]``.

Plans offline what the controller would do, from a desired-state folder and a saved observation,
with the very planner the controller runs. Nothing is contacted and nothing is written.

- ``SNAPSHOT.json`` is one ``Observed`` (``Observed.model_dump_json()``), or a JSON object mapping
  site names to ``Observed`` for several sites.
- ``PROGRESS.json`` (optional: without it the plan is the one that would start a rotation) is one
  ``Progress`` for the single site planned, or an object mapping site names to ``Progress``.
- Each site is planned at its snapshot's ``server_time`` (SEPM's clock, never this machine's).
- ``--site NAME`` plans that site only; otherwise every site of the snapshot is planned, and each must
  be valid in DIR.
- Output: a table per site (step, state, target, detail), or with ``--json`` the plan as
  ``Plan.model_dump(mode="json")`` for one site, or an object of them by site name for several.
- Exit codes (``reconciler.cli.main``): 0 nothing to do for any site, 2 steps pending (blocked ones
  included), 1 on an error (one clear message per problem on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.desired.loader import load_folder
from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed
from reconciler.model.plan import Plan, Step, StepState
from reconciler.model.progress import Progress
from reconciler.plan import plan
from reconciler.plan.gates import sepm_time

M = TypeVar("M", bound=BaseModel)


class _Refused(Exception):
    """A problem with the command's input, already phrased for stderr."""


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``plan`` to the top-level parser."""
    parser = commands.add_parser(
        "plan",
        help="show what the controller would do for a saved observation (exit 0 nothing, 2 pending)",
        description=(
            "Plan a rotation offline from a desired-state folder and a saved observation. "
            "Exit 0 when nothing is to be done, 2 when steps are pending, 1 on an error."
        ),
    )
    parser.add_argument("folder", metavar="DIR", type=Path, help="the desired-state folder")
    parser.add_argument(
        "--observed",
        metavar="SNAPSHOT.json",
        type=Path,
        required=True,
        help="a saved observation: one site, or an object {site: observation}",
    )
    parser.add_argument(
        "--progress",
        metavar="PROGRESS.json",
        type=Path,
        help="a rotation's progress: for the one site planned, or an object {site: progress}",
    )
    parser.add_argument("--site", metavar="NAME", help="plan this site only")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    try:
        plans = _plans(args.folder, args.observed, args.progress, args.site)
    except _Refused as refused:
        print(f"sepm-reconciler plan: {refused}", file=sys.stderr)
        return 1
    if args.json:
        dumped = {site: p.model_dump(mode="json") for site, p in plans.items()}
        only = next(iter(dumped.values())) if len(dumped) == 1 else dumped
        print(json.dumps(only, indent=2))
    else:
        print("\n\n".join(render(p) for p in plans.values()))
    return 0 if all(p.converged for p in plans.values()) else 2


def _plans(
    folder: Path, observed_file: Path, progress_file: Path | None, only: str | None
) -> dict[str, Plan]:
    snapshots = _read_by_site(observed_file, Observed, single_key="server_time", what="observation")
    if only is not None:
        if only not in snapshots:
            raise _Refused(f"{observed_file}: holds no observation of site {only!r} ({_names(snapshots)})")
        snapshots = {only: snapshots[only]}
    progresses: dict[str, Progress] = {}
    if progress_file is not None:
        progresses = _read_by_site(
            progress_file, Progress, single_key="rotation_id", what="progress", planned=snapshots
        )
    desired = _desired(folder, list(snapshots))
    return {
        site: plan(desired[site], observed, progresses.get(site), observed.server_time)
        for site, observed in snapshots.items()
    }


def _desired(folder: Path, sites: list[str]) -> dict[str, DesiredSite]:
    result = load_folder(folder)
    missing = [site for site in sites if site not in result.sites]
    if not missing:
        return {site: result.sites[site] for site in sites}
    # Every error of the folder: a site can be invalid because of another file (declared twice).
    problems = [str(error) for error in result.errors]
    for site in missing:
        file = result.files.get(site)
        if file is not None:
            problems.append(f"site {site!r} is not valid in {file}: fix it first (sepm-reconciler validate)")
        else:
            problems.append(f"site {site!r} has no desired-state file in {folder}")
    raise _Refused("\n".join(problems))


def _read_by_site(
    path: Path,
    model: type[M],
    *,
    single_key: str,
    what: str,
    planned: Mapping[str, Observed] | None = None,
) -> dict[str, M]:
    """One model, or an object of them by site name. A single observation is keyed by its own site; a
    single progress by the one site planned (``planned``)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise _Refused(f"{path}: cannot read the {what}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Refused(f"{path}: not JSON: {error}") from None
    if not isinstance(document, dict):
        raise _Refused(f"{path}: expected a JSON object (one {what}, or {{site: {what}}})")
    single = single_key in document
    items: dict[str, Any] = {"": document} if single else document
    parsed: dict[str, M] = {}
    for key, value in items.items():
        try:
            parsed[key] = model.model_validate(value)
        except ValidationError as error:
            where = f"{path}" + (f" [{key}]" if key else "")
            raise _Refused(f"{where}: not a valid {what}: {_first_problem(error)}") from None
    if not single:
        return parsed
    if isinstance(parsed[""], Observed):
        return {parsed[""].site: parsed[""]}
    if planned is None or len(planned) != 1:
        raise _Refused(f"{path}: one {what} given for several sites; give an object {{site: {what}}}")
    return {next(iter(planned)): parsed[""]}


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = error.error_count() - 1
    return f"{field}: {first['msg']}" + (f" (and {more} more)" if more else "")


def _names(items: Mapping[str, object]) -> str:
    return ", ".join(sorted(items)) or "none"


# --- the table -----------------------------------------------------------------------------------------


def render(result: Plan) -> str:
    """A plan as a header line and a table: step, state, target, detail."""
    if not result.steps:
        return f"{result.site}: nothing to do: every server presents its desired certificate"
    if result.converged:
        header = f"{result.site}: rotation complete, {len(result.steps)} steps done"
    else:
        header = (
            f"{result.site}: {result.procedure or 'no'} procedure, "
            f"{len(result.pending)} of {len(result.steps)} steps pending"
        )
    notes = []
    if result.dormant:
        notes.append(
            f"{len(result.dormant)} dormant client(s) will be orphaned: {', '.join(result.dormant[:10])}"
        )
    if result.no_failover is not None and result.no_failover.clients:
        rule = result.no_failover
        notes.append(
            f"{rule.clients} client(s) match noFailoverVersions ({', '.join(rule.patterns)}) and cannot fail "
            f"over: single-server treatment for {', '.join(rule.groups)}"
        )
    if result.eta is not None and result.evidence_lower_bound:
        notes.append(
            f"earliest completion {sepm_time(result.eta)}: the remaining gates need at least "
            f"{_duration(result.evidence_lower_bound)} of SEPM time (each client's check-ins, chained)"
        )
    rows = [("STEP", "STATE", "TARGET", "DETAIL")] + [
        (step.id, _state(step), _target(step), _detail(step)) for step in result.steps
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip()
        for row in rows
    ]
    return "\n".join([header, *notes, *lines])


def _state(step: Step) -> str:
    if step.state is StepState.READY and step.satisfied:
        return "ready (seen)"
    return step.state.value


def _target(step: Step) -> str:
    if step.group_path is not None:
        return f"{step.group_path} / {step.location_name}"
    if step.server is not None:
        return step.server
    return step.source_management_server_list or step.management_server_list or ""


def _detail(step: Step) -> str:
    if step.state is StepState.BLOCKED:
        return f"{step.reason}: {step.message}"
    if step.gate is not None:
        gate = step.gate
        text = f"{gate.summary()} since {sepm_time(gate.since)}; can open {sepm_time(gate.eta)}"
        text += f"; deadline {sepm_time(gate.deadline)}"
        if gate.lagging:
            text += f"; lagging: {', '.join(gate.lagging)}"
        return text
    if step.eta is not None and step.state is StepState.WAITING:
        return f"{step.description}; can open {sepm_time(step.eta)} at the earliest"
    if step.state is StepState.READY and step.satisfied:
        return f"{step.description} (already observed: record it)"
    return step.description


def _duration(ms: int) -> str:
    minutes = ms // 60_000
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return "".join(parts) or f"{ms // 1000}s"

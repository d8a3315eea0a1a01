"""Run the controller image against a simulated SEPM site on the host, for one rotation, and check it.

Used by ``scripts/image.sh`` once the image is built; it can be run by hand too:

    .venv/bin/python scripts/image_e2e.py --image localhost/sepm-reconciler:dev [--engine podman]

What it does, and what must hold for exit 0:
1. starts the simulator on the host (loopback, real HTTPS) and prepares a desired state for it with the
   rehearsal helpers: new keystores, and ``command`` actuators that call ``sepm-reconciler sim console``
   (present in the image) for the MSL copy, the certificate updates and the MSL deletion;
2. rewrites it the way a site runs the image: the desired-state folder is a Git repository mounted
   read-only at ``/desired-state``; the SEPM password, the keystore password, the keystores and the
   simulator's endpoints file are files under ``/run/secrets`` (read-only); the journal is on a named
   volume at ``/var/lib/sepm-reconciler``; the root filesystem is read-only; the network is the host's;
3. starts the image with its default command (``run /desired-state --metrics-address 0.0.0.0``);
4. from outside the container, scrapes ``/healthz``, ``/readyz``, ``/metrics`` (and ``promtool check
   metrics`` on it when promtool is installed) and ``/status`` until the rotation is done; runs the
   image's HEALTHCHECK; checks the process runs as a non-root user and reads the checkout's commit with
   git (another user owns the mount);
5. stops it with SIGTERM (exit code 0 expected), then reads the journal from the volume: the rotation is
   ``completed``; and the simulator's report: zero clients orphaned or cut off, every location's
   original settings restored.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from reconciler.cli.rehearsal import KEYSTORE_VARIABLE, Rehearsal, prepare
from reconciler.journal.store import Journal
from reconciler.sim.app import Simulator

IMAGE_UID = 10001
METRICS_PORT = 9808
SECRETS = "/run/secrets"


class CheckFailed(Exception):
    """One of the checks above did not hold; the message says which and what was seen."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--engine", default="podman", help="podman or docker")
    parser.add_argument("--run-option", action="append", default=[], help="extra option for `ENGINE run`")
    parser.add_argument("--scenario", default="single-server")
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--timeout", type=float, default=240.0, help="real seconds the rotation may take")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        summary = run(args)
    except CheckFailed as failed:
        print(f"image e2e: FAILED: {failed}", file=sys.stderr)
        return 1
    for line in summary:
        print(f"  {line}")
    print(f"image e2e: passed in {time.monotonic() - started:.1f} s")
    return 0


def run(args: argparse.Namespace) -> list[str]:
    if not _port_free(METRICS_PORT):
        raise CheckFailed(f"port {METRICS_PORT} is taken on this host; the image's metrics port needs it")
    with (
        tempfile.TemporaryDirectory(prefix="sepm-image-e2e-") as scratch,
        Simulator(args.scenario, speed=args.speed, seed=5) as sim,
    ):
        workdir = Path(scratch)
        rehearsal = prepare(sim, workdir / "rehearsal")
        before = rehearsal.location_settings()
        desired_dir, secrets_dir, revision = _as_mounted(rehearsal, workdir)
        volume = f"sepm-image-e2e-{secrets.token_hex(4)}"
        name = f"sepm-image-e2e-{secrets.token_hex(4)}"
        _engine(args, "volume", "create", volume)
        try:
            with _container(args, name, volume, desired_dir, secrets_dir):
                seen = _watch_rotation(args, name, rehearsal.site, revision)
                exit_code = _stop(args, name)
            journal_file = _volume_path(args, volume) / "journal.db"
            rotation = _last_rotation(journal_file, rehearsal.site)
        finally:
            _engine(args, "volume", "rm", "-f", volume, check=False)
        report = rehearsal.report()
        after = rehearsal.location_settings()
    changed = sorted(str(k) for k in before if before[k] != after.get(k))
    problems = []
    if exit_code != 0:
        problems.append(f"the controller exited {exit_code} on SIGTERM (expected 0)")
    if rotation is None or rotation["outcome"] != "completed":
        problems.append(f"the journal's last rotation is {rotation and rotation['outcome']!r}, not completed")
    if report.get("orphaned"):
        problems.append(f"{len(report['orphaned'])} clients orphaned")
    if report.get("cutOff"):
        problems.append(f"{len(report['cutOff'])} clients cut off")
    if changed:
        problems.append(f"original settings not restored: {', '.join(changed)}")
    if problems:
        raise CheckFailed("; ".join(problems))
    assert rotation is not None
    return [
        *seen,
        f"controller stopped on SIGTERM with exit code {exit_code}",
        f"journal (on the volume): rotation {rotation['id']} {rotation['outcome']}",
        f"simulator report: {len(report.get('orphaned', []))} orphaned, "
        f"{len(report.get('cutOff', []))} cut off, {len(before)} locations back to their original settings",
    ]


def _as_mounted(rehearsal: Rehearsal, workdir: Path) -> tuple[Path, Path, str]:
    """The desired state and secrets as the container sees them; returns (folder, secrets, commit)."""
    secrets_dir = workdir / "secrets"
    (secrets_dir / "keystores").mkdir(parents=True)
    _write(secrets_dir / "sepm-password", str(rehearsal.sim.endpoints["password"]) + "\n")
    _write(secrets_dir / "keystore-password", os.environ[KEYSTORE_VARIABLE] + "\n")
    shutil.copy(rehearsal.endpoints_file, secrets_dir / "endpoints.json")
    desired: dict[str, Any] = json.loads(json.dumps(rehearsal.desired))
    desired["api"]["password"] = {"file": f"{SECRETS}/sepm-password"}
    for server in desired["servers"]:
        keystore = server["certificate"]["keystore"]
        source = (rehearsal.folder / keystore["path"]).resolve()
        shutil.copy(source, secrets_dir / "keystores" / source.name)
        keystore["path"] = f"{SECRETS}/keystores/{source.name}"
        keystore["password"] = {"file": f"{SECRETS}/keystore-password"}
    console = ["sepm-reconciler", "sim", "console", "--endpoints-file", f"{SECRETS}/endpoints.json"]
    for choice in desired["actuators"].values():
        command = choice.get("command")
        if command is None:
            continue
        action = command["argv"][command["argv"].index("--endpoints-file") + 2 :]
        command["argv"] = [*console, *action]
        if "KEYSTORE_PASSWORD" in command.get("env", {}):
            command["env"]["KEYSTORE_PASSWORD"] = {"file": f"{SECRETS}/keystore-password"}
    folder = workdir / "checkout"
    folder.mkdir()
    (folder / f"{rehearsal.site}.yaml").write_text(yaml.safe_dump(desired, sort_keys=False), encoding="utf-8")
    revision = _git_commit(folder, f"Rotate {rehearsal.site} to new certificates")
    if os.geteuid() == 0:
        # The image's user must read the secrets: give them to it, as a Kubernetes Secret volume with
        # fsGroup would. Everything else stays root's, so git's ownership check has to be off in the image.
        for path in [secrets_dir, *secrets_dir.rglob("*")]:
            os.chown(path, IMAGE_UID, IMAGE_UID)
    else:
        for path in [secrets_dir, *secrets_dir.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    workdir.chmod(0o755)
    return folder, secrets_dir, revision


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def _git_commit(folder: Path, message: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "image e2e", "GIT_AUTHOR_EMAIL": "e2e@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "image e2e", "GIT_COMMITTER_EMAIL": "e2e@example.invalid"}
    for argv in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(folder), *argv], check=True, env=env)  # noqa: S603, S607
    done = subprocess.run(  # noqa: S603 (fixed argv)
        ["git", "-C", str(folder), "rev-parse", "HEAD"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@contextlib.contextmanager
def _container(
    args: argparse.Namespace, name: str, volume: str, desired: Path, secrets_dir: Path
) -> Iterator[None]:
    _engine(
        args,
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        *args.run_option,
        "--volume",
        f"{desired}:/desired-state:ro",
        "--volume",
        f"{secrets_dir}:{SECRETS}:ro",
        "--volume",
        f"{volume}:/var/lib/sepm-reconciler",
        args.image,
    )
    try:
        yield
    except BaseException:
        logs = _engine(args, "logs", "--tail", "40", name, check=False)
        print(f"--- last lines of the controller's log ---\n{logs}", file=sys.stderr)
        raise
    finally:
        _engine(args, "rm", "--force", "--volumes", name, check=False)


def _watch_rotation(args: argparse.Namespace, name: str, site: str, revision: str) -> list[str]:
    base = f"http://127.0.0.1:{METRICS_PORT}"
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while _get(f"{base}/healthz")[0] != 200:
        if time.monotonic() > deadline or not _running(args, name):
            raise CheckFailed(f"/healthz did not answer 200 within 30 s ({_get(base + '/healthz')})")
        time.sleep(0.5)
    seen.append("/healthz answered 200 from outside the container")
    user = _engine(args, "exec", name, "id", "-u").strip()
    if user == "0":
        raise CheckFailed("the controller runs as root in the container")
    seen.append(f"the controller runs as uid {user}")
    head = _engine(args, "exec", name, "git", "-C", "/desired-state", "rev-parse", "HEAD").strip()
    if head != revision:
        raise CheckFailed(f"git in the image reads {head!r} from the mounted checkout, expected {revision}")
    seen.append(
        f"git in the image reads the checkout's commit {revision[:12]} "
        "(mounted read-only, owned by another user)"
    )
    rotation_seen = False
    scraped = False
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _running(args, name):
            raise CheckFailed("the container stopped before the rotation was done")
        code, body = _get(f"{base}/status")
        statuses = {s["site"]: s for s in json.loads(body)} if code == 200 else {}
        status = statuses.get(site)
        if status is not None and status.get("rotation_id"):
            rotation_seen = True
            if not scraped:
                seen.append(_check_metrics(base, site))
                scraped = True
        if (
            rotation_seen
            and status is not None
            and status["phase"] == "Ready"
            and not status.get("rotation_id")
        ):
            break
        time.sleep(0.5)
    else:
        raise CheckFailed(f"the rotation was not done within {args.timeout:.0f} s; last status: {status}")
    seen.append(f"/status: {site} went through a rotation and is Ready")
    code, _ = _get(f"{base}/readyz")
    if code != 200:
        raise CheckFailed(f"/readyz answered {code} once the site was reconciled")
    seen.append("/readyz answered 200")
    health = (
        subprocess.run(  # noqa: S603
            [args.engine, "healthcheck", "run", name], capture_output=True, text=True, check=False
        )
        if args.engine == "podman"
        else None
    )
    if health is not None:
        if health.returncode != 0:
            raise CheckFailed(f"the image's HEALTHCHECK failed: {health.stdout}{health.stderr}")
        seen.append("the image's HEALTHCHECK passed (podman healthcheck run)")
    return seen


def _check_metrics(base: str, site: str) -> str:
    code, body = _get(f"{base}/metrics")
    if code != 200:
        raise CheckFailed(f"/metrics answered {code}")
    wanted = f'sepm_reconciler_site_phase{{phase="Reconciling",site="{site}"}} 1.0'
    if wanted not in body:
        raise CheckFailed(f"/metrics does not show {wanted} mid-rotation")
    promtool = shutil.which("promtool")
    if promtool is None:
        return f"/metrics scraped mid-rotation ({len(body.splitlines())} lines; promtool not installed)"
    lint = subprocess.run(  # noqa: S603
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    if lint.returncode != 0:
        raise CheckFailed(f"promtool check metrics on the live scrape: {lint.stdout}{lint.stderr}")
    return f"/metrics scraped mid-rotation ({len(body.splitlines())} lines), `promtool check metrics` clean"


def _stop(args: argparse.Namespace, name: str) -> int:
    _engine(args, "stop", "--time", "40", name)
    return int(_engine(args, "inspect", "--format", "{{.State.ExitCode}}", name).strip())


def _volume_path(args: argparse.Namespace, volume: str) -> Path:
    return Path(_engine(args, "volume", "inspect", "--format", "{{.Mountpoint}}", volume).strip())


def _last_rotation(journal_file: Path, site: str) -> Any:
    if not journal_file.exists():
        raise CheckFailed(f"no journal on the state volume ({journal_file})")
    with Journal(journal_file) as journal:
        rotations = journal.rotations(site, limit=1)
    return rotations[0] if rotations else None


def _running(args: argparse.Namespace, name: str) -> bool:
    state = _engine(args, "inspect", "--format", "{{.State.Running}}", name, check=False)
    return state.strip() == "true"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback, fixed scheme)
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _engine(args: argparse.Namespace, *argv: str, check: bool = True) -> str:
    done = subprocess.run([args.engine, *argv], capture_output=True, text=True, check=False)  # noqa: S603
    if check and done.returncode != 0:
        raise CheckFailed(
            f"`{args.engine} {' '.join(argv[:3])} ...` exited {done.returncode}: {done.stderr.strip()}"
        )
    return done.stdout + (done.stderr if argv[0] == "logs" else "")


if __name__ == "__main__":
    sys.exit(main())

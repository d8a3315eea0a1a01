"""Rotations and the originals captured before their first change.

Contract:
- At most one rotation per site is in progress (no outcome yet); the schema enforces it as well.
- A rotation carries its own desired state (JSON, digest, Git revision): the controller plans an
  in-progress rotation from it, so a desired change mid-rotation cannot re-target it.
- The originals (every location's MSL and secure-communications flag, every server's certificate) are
  written once, before any step of the rotation is recorded; writing them again, or after a step, is
  ``OriginalsAlreadyRecorded``. Schema triggers make the rows immutable. They are what abort and the
  final restore put back, so they must be exactly what was observed before anything changed.
- A rotation is finished once: repeating the outcome it has is a no-op (a restart after the first
  finish), another outcome is ``RotationFinished``.
- Writes take a ``Fenced`` (the caller's transaction, after the lease passed the fence) and, but for
  ``start`` and ``finish``, the rotation ``for_write`` loaded in it; reads take a connection.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from reconciler.journal import rows
from reconciler.journal.errors import (
    OriginalsAlreadyRecorded,
    RotationActive,
    RotationFinished,
    UnknownRotation,
)
from reconciler.journal.hygiene import contains_private_key
from reconciler.journal.locks import Fenced
from reconciler.journal.records import Outcome, RotationId, RotationRow
from reconciler.model.fingerprint import normalize_fingerprint
from reconciler.model.progress import LocationOriginal, Procedure


def _select(conn: sqlite3.Connection, sql: str, params: tuple[rows.Parameter, ...]) -> list[RotationRow]:
    found = rows.select(
        conn, RotationRow, sql, params, originals_recorded="originals_recorded_wall IS NOT NULL"
    )
    for rotation in found:
        rotation["originals_recorded"] = bool(rotation["originals_recorded"])  # SQLite has no bool
    return found


def get(conn: sqlite3.Connection, rotation_id: str) -> RotationRow | None:
    return rows.first(_select(conn, "FROM rotations WHERE id = ?", (rotation_id,)))


def active(conn: sqlite3.Connection, site: str) -> RotationRow | None:
    """The site's rotation in progress, if any."""
    return rows.first(_select(conn, "FROM rotations WHERE site = ? AND outcome IS NULL", (site,)))


def recent(conn: sqlite3.Connection, site: str, *, limit: int) -> list[RotationRow]:
    """The site's rotations, newest first."""
    return _select(
        conn, "FROM rotations WHERE site = ? ORDER BY created_wall DESC, rowid DESC LIMIT ?", (site, limit)
    )


def for_write(w: Fenced, rotation_id: str) -> RotationRow:
    """The rotation a fenced write is about: it must exist, be the lease's site's, and be in progress."""
    rotation = get(w.conn, rotation_id)
    if rotation is None or rotation["site"] != w.lease.site:
        raise UnknownRotation(rotation_id, site=w.lease.site)
    if rotation["outcome"] is not None:
        raise RotationFinished(rotation_id=rotation_id, outcome=rotation["outcome"])
    return rotation


def _new_id(now: float) -> RotationId:
    # Sortable and readable in `status` output; the random tail keeps ids unique across sites and hosts.
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    return RotationId(f"r-{stamp}-{uuid.uuid4().hex[:8]}")


def start(
    w: Fenced,
    *,
    desired_json: str,
    desired_digest: str,
    git_revision: str,
    git_subject: str = "",
    procedure: Procedure,
    started_at: int,
    originals: Mapping[str, LocationOriginal] | None,
    original_certificates: Mapping[str, str] | None,
) -> RotationId:
    """Insert a rotation in progress for the lease's site (``RotationActive`` if one already is); with
    originals given, record them too."""
    json.loads(desired_json)  # a rotation that cannot be re-planned from its own desired state is useless
    if contains_private_key(desired_json):
        raise ValueError(
            "desired state handed to the journal embeds a private key; it must only reference one"
        )
    existing = active(w.conn, w.lease.site)
    if existing is not None:
        raise RotationActive(site=w.lease.site, rotation_id=existing["id"])
    rotation_id = _new_id(w.now)
    w.conn.execute(
        "INSERT INTO rotations (id, site, desired_digest, git_revision, git_subject, desired_json, "
        "procedure, started_at, created_wall, token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rotation_id,
            w.lease.site,
            desired_digest,
            git_revision,
            git_subject,
            desired_json,
            procedure,
            started_at,
            w.now,
            w.lease.token,
        ),
    )
    revision = f" at {git_revision}" if git_revision else ""
    revision += f" ({git_subject})" if git_revision and git_subject else ""
    w.event(
        "rotation_started",
        rotation_id=rotation_id,
        message=f"{procedure} rotation to desired state {desired_digest}{revision}",
    )
    if originals is not None or original_certificates is not None:
        record_originals(
            w,
            for_write(w, rotation_id),
            originals=originals or {},
            original_certificates=original_certificates or {},
        )
    return rotation_id


def record_originals(
    w: Fenced,
    rotation: RotationRow,
    *,
    originals: Mapping[str, LocationOriginal],
    original_certificates: Mapping[str, str],
) -> None:
    """Write the rotation's originals, once and before any step (see the module contract)."""
    rotation_id = rotation["id"]
    if rotation["originals_recorded"]:
        raise OriginalsAlreadyRecorded(rotation_id=rotation_id, why="they were recorded already")
    if w.conn.execute("SELECT 1 FROM steps WHERE rotation_id = ? LIMIT 1", (rotation_id,)).fetchone():
        raise OriginalsAlreadyRecorded(rotation_id=rotation_id, why="steps were recorded before them")
    for key, original in originals.items():
        if key != original.key:
            raise ValueError(f"original keyed {key!r} describes location {original.key!r}")
    w.conn.executemany(
        "INSERT INTO original_locations (rotation_id, key, group_id, group_path, location_id, "
        "location_name, management_server_list, secure_communications) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                rotation_id,
                key,
                o.group_id,
                o.group_path,
                o.location_id,
                o.location_name,
                o.management_server_list,
                int(o.secure_communications),
            )
            for key, o in originals.items()
        ],
    )
    w.conn.executemany(
        "INSERT INTO original_certificates (rotation_id, server, sha256) VALUES (?, ?, ?)",
        [(rotation_id, server, normalize_fingerprint(fp)) for server, fp in original_certificates.items()],
    )
    w.conn.execute("UPDATE rotations SET originals_recorded_wall = ? WHERE id = ?", (w.now, rotation_id))
    w.event(
        "originals_recorded",
        rotation_id=rotation_id,
        message=f"{len(originals)} locations, {len(original_certificates)} server certificates",
    )


def originals(
    conn: sqlite3.Connection, rotation_id: str
) -> tuple[dict[str, LocationOriginal], dict[str, str]]:
    """The recorded originals: locations by target key, certificate fingerprints by server name."""
    locations = {
        row["key"]: LocationOriginal(
            group_id=row["group_id"],
            group_path=row["group_path"],
            location_id=row["location_id"],
            location_name=row["location_name"],
            management_server_list=row["management_server_list"],
            secure_communications=bool(row["secure_communications"]),
        )
        for row in conn.execute(
            "SELECT * FROM original_locations WHERE rotation_id = ? ORDER BY key", (rotation_id,)
        )
    }
    certificates = {
        row["server"]: row["sha256"]
        for row in conn.execute(
            "SELECT server, sha256 FROM original_certificates WHERE rotation_id = ? ORDER BY server",
            (rotation_id,),
        )
    }
    return locations, certificates


def finish(w: Fenced, *, rotation_id: str, outcome: Outcome) -> None:
    """Give a rotation its outcome; the site may then start another (see the module contract)."""
    finished = get(w.conn, rotation_id)
    if finished is not None and finished["outcome"] is not None:
        if finished["site"] == w.lease.site and finished["outcome"] == outcome:
            return
        raise RotationFinished(rotation_id=rotation_id, outcome=finished["outcome"])
    rotation = for_write(w, rotation_id)
    w.conn.execute(
        "UPDATE rotations SET outcome = ?, finished_wall = ? WHERE id = ?", (outcome, w.now, rotation["id"])
    )
    w.event("rotation_finished", rotation_id=rotation["id"], message=outcome)

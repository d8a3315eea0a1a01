"""What can go wrong when reading or writing the journal.

The tree::

    JournalError                      base of everything raised on purpose here
    ├── SchemaTooNew                  the file was written by a newer release; nothing is written to it
    ├── JournalUnreadable             the file cannot be opened or used: not SQLite, damaged, unwritable,
    │                                 its disk full; nothing is acted on without it
    ├── SiteLocked                    another owner's lease on the site is still live
    ├── LockLost                      the lease's fencing token is not the site's current one
    ├── UnknownRotation               no rotation with that id (or not at the lease's site)
    ├── RotationActive                start_rotation while the site already has one in progress
    ├── NoActiveRotation              an operator request for a site with no rotation in progress
    ├── RotationFinished              a write to a rotation that already completed or was aborted
    ├── OriginalsAlreadyRecorded      the originals are written once, before the first change
    └── StepAlreadyDone               intent or failure for a step whose effect was already recorded

Messages name the site, rotation or step and never carry the free text the caller passed in (which
may have come from a failing command's output), so an exception is always safe to log.
"""

from __future__ import annotations

from datetime import UTC, datetime


class JournalError(Exception):
    """Base class of every error the journal raises on purpose."""


class JournalUnreadable(JournalError):
    """The journal file cannot be opened or used (one line, for the operator; the cause is chained)."""

    def __init__(self, *, path: str, why: str) -> None:
        self.path = path
        super().__init__(
            f"journal {path} cannot be used: {why}; restore it from a backup, or move it aside so that an "
            "empty one is made (sites whose rotation it held then stall until adopted)"
        )


class SchemaTooNew(JournalError):
    """The journal file has a schema version this release does not know."""

    def __init__(self, *, path: str, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"journal {path} has schema version {found}, this release understands up to {supported}: "
            "run a release at least as new as the one that wrote it"
        )


class SiteLocked(JournalError):
    """Another controller holds a live lease on the site."""

    def __init__(self, *, site: str, owner: str, expires: float) -> None:
        self.site = site
        self.owner = owner
        self.expires = expires
        until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
        super().__init__(f"site {site!r} is locked by {owner!r} until {until}")


class LockLost(JournalError):
    """The lease was released, or taken over after it expired: its holder must stop acting."""

    def __init__(self, *, site: str, token: int, current: int | None) -> None:
        self.site = site
        self.token = token
        self.current = current
        held = "released" if current is None else f"now held with token {current}"
        super().__init__(f"lease token {token} on site {site!r} is no longer valid (lock {held})")


class UnknownRotation(JournalError):
    """No rotation with this id, or it belongs to another site than the lease."""

    def __init__(self, rotation_id: str, *, site: str | None = None) -> None:
        self.rotation_id = rotation_id
        where = f" at site {site!r}" if site is not None else ""
        super().__init__(f"no rotation {rotation_id!r}{where} in the journal")


class RotationActive(JournalError):
    """The site already has a rotation in progress: finish or abort it first."""

    def __init__(self, *, site: str, rotation_id: str) -> None:
        self.site = site
        self.rotation_id = rotation_id
        super().__init__(f"site {site!r} already has rotation {rotation_id!r} in progress")


class NoActiveRotation(JournalError):
    """An operator request names a site with no rotation in progress."""

    def __init__(self, *, site: str) -> None:
        self.site = site
        super().__init__(f"site {site!r} has no rotation in progress")


class RotationFinished(JournalError):
    """The rotation already has an outcome; it takes no more steps."""

    def __init__(self, *, rotation_id: str, outcome: str) -> None:
        self.rotation_id = rotation_id
        self.outcome = outcome
        super().__init__(f"rotation {rotation_id!r} is already {outcome}")


class OriginalsAlreadyRecorded(JournalError):
    """The originals of a rotation are written once, before its first change, and never again."""

    def __init__(self, *, rotation_id: str, why: str) -> None:
        self.rotation_id = rotation_id
        super().__init__(f"originals of rotation {rotation_id!r} cannot be written: {why}")


class StepAlreadyDone(JournalError):
    """The step's effect was already recorded; acting on it again would be a planner bug."""

    def __init__(self, *, rotation_id: str, step_id: str) -> None:
        self.rotation_id = rotation_id
        self.step_id = step_id
        super().__init__(f"step {step_id!r} of rotation {rotation_id!r} is already done")

"""Helpers shared by the journal tests (imported by name: this directory is on sys.path under pytest)."""

from __future__ import annotations

from reconciler.journal import Journal, Lease, RotationId
from reconciler.model.progress import LocationOriginal

SITE = "hq"
CERT_A = "11" * 32
CERT_B = "22" * 32


class FakeClock:
    """Wall clock for lease expiry and ``*_wall`` fields that moves only when told."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def original(group: str, location: str, *, msl: str = "Default MSL", secure: bool = True) -> LocationOriginal:
    return LocationOriginal(
        group_id=group,
        group_path=f"My Company\\{group}",
        location_id=location,
        location_name=f"loc {location}",
        management_server_list=msl,
        secure_communications=secure,
    )


def originals_of(*items: LocationOriginal) -> dict[str, LocationOriginal]:
    return {o.key: o for o in items}


def start(journal: Journal, lease: Lease, **overrides: object) -> RotationId:
    """Start a rotation with plausible values; keyword overrides replace any of them."""
    arguments: dict[str, object] = {
        "desired_json": '{"site": "hq"}',
        "desired_digest": "sha256:abc",
        "git_revision": "0123abcd",
        "procedure": "single-server",
        "started_at": 1_000_000,
    }
    arguments.update(overrides)
    return journal.start_rotation(lease, **arguments)  # type: ignore[arg-type]

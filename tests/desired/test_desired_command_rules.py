"""Rules tying command actuators to the rest of a site's desired state."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.desired.schema import DesiredSite

FP = ":".join(["AB"] * 32)


def site(*, keystore: bool) -> dict:
    certificate: dict = {"sha256": FP}
    if keystore:
        certificate["keystore"] = {"path": "k.p12", "password": {"env": "K"}}
    return {
        "site": "hq",
        "api": {"url": "https://127.0.0.1:8446", "username": "admin", "password": {"env": "X"}},
        "servers": [{"name": "sepm01", "address": "127.0.0.1", "certificate": certificate}],
        "managementServerLists": [{"name": "Default", "servers": ["sepm01"]}],
        "actuators": {"certificateUpdate": {"command": {"argv": ["import-cert", "{server}", "{keystore}"]}}},
    }


def test_keystore_placeholder_needs_a_keystore_on_every_server():
    """A certificateUpdate command using {keystore} is refused when a server declares no keystore."""
    with pytest.raises(
        ValidationError, match=r"uses \{keystore\}, but server 'sepm01' declares no certificate\.keystore"
    ):
        DesiredSite.model_validate(site(keystore=False))
    assert DesiredSite.model_validate(site(keystore=True)).actuators.certificate_update.command is not None


def test_settle_defaults_to_ten_minutes():
    """A command's change is given ten minutes to show before the command may run again."""
    assert DesiredSite.model_validate(site(keystore=True)).actuators.certificate_update.command.settle == 600

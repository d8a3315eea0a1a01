"""Step and gate ids keep their exact form: the journal keys rows by them and operators type them."""

from __future__ import annotations

import pytest

from reconciler.model import step_ids
from reconciler.model.step_ids import ParsedId

TARGET = step_ids.target_key("G1", "L9")


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        pytest.param(TARGET, "G1/L9", id="target-key"),
        pytest.param(step_ids.copy_msl("Default MSL"), "copy_msl:Default MSL", id="copy"),
        pytest.param(step_ids.assign_msl(TARGET), "assign_msl:G1/L9", id="assign"),
        pytest.param(
            step_ids.secure_communications(TARGET, on=False), "disable_secure_communications:G1/L9", id="off"
        ),
        pytest.param(step_ids.PREPARED_GATE, "gate:prepared", id="prepared"),
        pytest.param(step_ids.update_certificate("sepm01"), "update_certificate:sepm01", id="update"),
        pytest.param(step_ids.certificate_gate("sepm01"), "gate:certificate:sepm01", id="server-gate"),
        pytest.param(step_ids.CERTIFICATES_GATE, "gate:certificates", id="certificates-gate"),
        pytest.param(
            step_ids.secure_communications(TARGET, on=True), "enable_secure_communications:G1/L9", id="on"
        ),
        pytest.param(step_ids.restore_msl(TARGET), "restore_msl:G1/L9", id="restore"),
        pytest.param(step_ids.RESTORED_GATE, "gate:restored", id="restored"),
        pytest.param(step_ids.delete_msl_copy("Default MSL"), "delete_msl_copy:Default MSL", id="delete"),
        pytest.param(step_ids.check("CorruptedCertificate"), "check:CorruptedCertificate", id="check"),
    ],
)
def test_every_id_form_is_pinned(made, expected):
    """Each id is built in exactly the form journals already hold; changing one orphans their rows."""
    assert made == expected


@pytest.mark.parametrize(
    ("step_id", "parsed", "server"),
    [
        pytest.param("assign_msl:G1/L9", ParsedId("assign_msl", "G1/L9"), None, id="assign"),
        pytest.param(
            "update_certificate:sepm02", ParsedId("update_certificate", "sepm02"), "sepm02", id="upd"
        ),
        pytest.param("gate:certificate:sepm02", ParsedId("gate", "certificate:sepm02"), "sepm02", id="gate"),
        pytest.param("gate:certificates", ParsedId("gate", "certificates"), None, id="all-certificates"),
        pytest.param("copy_msl:a:b", ParsedId("copy_msl", "a:b"), None, id="colon-in-msl-name"),
    ],
)
def test_ids_read_back_into_kind_and_subject(step_id, parsed, server):
    """parse() gives back the kind and what the id names, and the server of updates and their gates."""
    assert step_ids.parse(step_id) == parsed
    assert step_ids.parse(step_id).server == server


@pytest.mark.parametrize("step_id", ["", "gate", "gate:", "frobnicate:x", "assign_msl", "G1/L9"])
def test_anything_else_is_not_a_step_id(step_id):
    """A string this module does not make is refused, naming it."""
    with pytest.raises(ValueError, match="not a step id"):
        step_ids.parse(step_id)


def test_gates_are_told_apart_from_actions():
    """Every gate starts with gate:, the certificate gates (both forms) are recognised as such."""
    assert step_ids.is_gate(step_ids.PREPARED_GATE)
    assert not step_ids.is_gate(step_ids.update_certificate("gate"))
    assert step_ids.is_certificate_gate(step_ids.certificate_gate("s"))
    assert step_ids.is_certificate_gate(step_ids.CERTIFICATES_GATE)
    assert not step_ids.is_certificate_gate(step_ids.PREPARED_GATE)
    assert not step_ids.is_certificate_gate(step_ids.update_certificate("s"))

"""`ack` and `proceed` check what they name before writing a request for the controller."""

from __future__ import annotations

from reconciler.cli.main import main
from reconciler.journal.store import Journal


def start_rotation_with_task(journal_path, step_id: str) -> None:
    with Journal(journal_path) as journal:
        lease = journal.acquire_lock("hq", owner="controller", ttl_seconds=60)
        rotation = journal.start_rotation(
            lease,
            desired_json="{}",
            desired_digest="d",
            git_revision="",
            procedure="single-server",
            started_at=0,
        )
        journal.record_intent(lease, rotation_id=rotation, step_id=step_id, kind="copy_msl", target="Default")


def test_ack_names_an_open_operator_task(tmp_path, capsys):
    """`ack` of a step that is not an open operator task is refused and lists the open ones."""
    journal_path = tmp_path / "journal.db"
    start_rotation_with_task(journal_path, "copy_msl:Default")
    assert main(["ack", "hq", "copy_msl:Other", "--journal", str(journal_path)]) == 1
    assert "open: copy_msl:Default" in capsys.readouterr().err
    assert main(["ack", "hq", "copy_msl:Default", "--journal", str(journal_path)]) == 0
    with Journal(journal_path) as journal:
        rotation = journal.active_rotation("hq")
        assert journal.progress(rotation["id"]).acknowledged["copy_msl:Default"]


def test_ack_without_a_rotation_is_refused(tmp_path, capsys):
    """There is nothing to acknowledge when no rotation runs."""
    assert main(["ack", "hq", "copy_msl:Default", "--journal", str(tmp_path / "journal.db")]) == 1
    assert "no rotation in progress" in capsys.readouterr().err


def test_proceed_names_a_gate_and_needs_a_reason(tmp_path, capsys):
    """`proceed` refuses a step that is not a gate, and a blank reason."""
    journal_path = tmp_path / "journal.db"
    start_rotation_with_task(journal_path, "copy_msl:Default")
    assert main(["proceed", "hq", "copy_msl:Default", "--reason", "x", "--journal", str(journal_path)]) == 1
    assert "is not a gate" in capsys.readouterr().err
    assert main(["proceed", "hq", "gate:prepared", "--reason", "  ", "--journal", str(journal_path)]) == 1
    assert main(["proceed", "hq", "gate:prepared", "--reason", "CAB-1", "--journal", str(journal_path)]) == 0


def test_ack_accepts_a_step_whose_attempt_failed(tmp_path):
    """Under abort, a certificate update whose command failed is still in doubt and can be acknowledged
    as not applied."""
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path) as journal:
        lease = journal.acquire_lock("hq", owner="controller", ttl_seconds=60)
        rotation = journal.start_rotation(
            lease,
            desired_json="{}",
            desired_digest="d",
            git_revision="",
            procedure="multi-server",
            started_at=0,
        )
        step = "update_certificate:sepm01"
        journal.record_intent(
            lease, rotation_id=rotation, step_id=step, kind="update_certificate", target="sepm01"
        )
        journal.record_failed(lease, rotation_id=rotation, step_id=step, message="exited 1")
    assert main(["ack", "hq", "update_certificate:sepm01", "--journal", str(journal_path)]) == 0

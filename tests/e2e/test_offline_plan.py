"""`observe` saves a live snapshot; `plan --observed` plans it offline."""

from __future__ import annotations

import json

from reconciler.cli.main import main
from reconciler.model.observed import Observed


def test_observe_then_plan_offline(rehearse, tmp_path, capsys):
    """A snapshot read from the simulated site round-trips through JSON and plans to the single-server
    procedure's first step, with exit code 2 (changes pending)."""
    rehearsal = rehearse("single-server")
    capsys.readouterr()
    assert main(["observe", str(rehearsal.folder)]) == 0
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(capsys.readouterr().out)
    observed = Observed.model_validate_json(snapshot.read_text())
    assert observed.site == rehearsal.site
    assert len(observed.clients) == len(rehearsal.sim.site.computers())
    assert {s.name for s in observed.servers} == set(rehearsal.new_fingerprints)

    assert main(["plan", str(rehearsal.folder), "--observed", str(snapshot), "--json"]) == 2
    plan = json.loads(capsys.readouterr().out)
    assert plan["procedure"] == "single-server"
    assert plan["steps"][0]["kind"] == "copy_msl"
    assert plan["steps"][0]["state"] == "ready"


def test_observe_refuses_an_ambiguous_folder(tmp_path, capsys):
    """With several sites and no --site, observe says which sites there are instead of guessing."""
    assert main(["observe", "desired-state"]) == 1
    assert "--site" in capsys.readouterr().err

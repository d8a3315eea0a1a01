"""``sepm-reconciler plan``: exit codes (0 nothing to do, 2 pending, 1 error), the table and the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reconciler.cli.main import main
from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed
from reconciler.model.plan import Plan
from reconciler.plan import plan

from .builders import ROOT, client, desired_site, group, new, observed, server
from .world import World


def _write_site(folder: Path, desired: DesiredSite) -> Path:
    folder.mkdir(exist_ok=True)
    document = desired.model_dump(mode="json", by_alias=True, exclude_none=True)
    path = folder / f"{desired.site}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def _snapshot(site: str = "hq", *, converged: bool = False) -> Observed:
    return observed(
        site=site,
        servers=[server("sepm01", new("sepm01") if converged else None)],
        groups=[group("g1", ROOT)],
        clients=[client("c1", "g1")],
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    desired = tmp_path / "desired-state"
    _write_site(desired, desired_site(site="hq"))
    _write_site(desired, desired_site(site="osaka"))
    return desired


def _plan_cli(*args: str | Path) -> int:
    return main(["plan", *(str(a) for a in args)])


def test_converged_site_exits_0(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every server on its desired certificate and no rotation: exit 0, 'nothing to do'."""
    snapshot = _write_json(tmp_path / "hq.json", _snapshot(converged=True).model_dump(mode="json"))

    code = _plan_cli(folder, "--observed", snapshot)

    out = capsys.readouterr()
    assert code == 0
    assert "hq: nothing to do" in out.out
    assert out.err == ""


def test_pending_steps_exit_2_with_a_table(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A site to rotate: exit 2 and one table row per step, the preparation run ready, the rest waiting."""
    snapshot = _write_json(tmp_path / "hq.json", _snapshot().model_dump(mode="json"))

    code = _plan_cli(folder, "--observed", snapshot)

    lines = capsys.readouterr().out.splitlines()
    assert code == 2
    assert lines[0].startswith("hq: single-server procedure")
    header = next(i for i, line in enumerate(lines) if line.startswith("STEP"))
    rows = lines[header + 1 :]
    assert rows[0].split()[:2] == ["copy_msl:Default", "Management"]
    assert all(" ready " in row for row in rows[:3])  # copy, assign, disable: one pass
    assert rows[3].startswith("gate:prepared")
    assert all(" waiting " in row for row in rows[3:])
    assert len(rows) == len(plan(desired_site(), _snapshot(), None, _snapshot().server_time).steps)


def test_json_output_is_the_plan(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints Plan.model_dump(mode='json'), equal to what the planner returns."""
    site = _snapshot()
    snapshot = _write_json(tmp_path / "hq.json", site.model_dump(mode="json"))

    code = _plan_cli(folder, "--observed", snapshot, "--json")

    printed = Plan.model_validate(json.loads(capsys.readouterr().out))
    assert code == 2
    assert printed == plan(desired_site(site="hq"), site, None, site.server_time)


def test_several_sites_and_site_filter(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A snapshot of several sites plans each; --site plans one; exit 2 if any site has pending steps."""
    snapshots = {"hq": _snapshot("hq", converged=True), "osaka": _snapshot("osaka")}
    path = _write_json(tmp_path / "all.json", {k: v.model_dump(mode="json") for k, v in snapshots.items()})

    both = _plan_cli(folder, "--observed", path, "--json")
    both_out = json.loads(capsys.readouterr().out)
    only_hq = _plan_cli(folder, "--observed", path, "--site", "hq")
    only_hq_out = capsys.readouterr().out

    assert both == 2
    assert sorted(both_out) == ["hq", "osaka"]
    assert both_out["hq"]["steps"] == []
    assert both_out["osaka"]["steps"]
    assert only_hq == 0
    assert "osaka" not in only_hq_out


def test_completed_rotation_from_progress_exits_0(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the progress of a finished rotation the plan lists every step done and exits 0."""
    world = World(desired_site(site="hq"), _snapshot())
    world.run()
    assert world.progress is not None
    snapshot = _write_json(tmp_path / "hq.json", world.observed.model_dump(mode="json"))
    progress = _write_json(tmp_path / "progress.json", world.progress.model_dump(mode="json"))

    code = _plan_cli(folder, "--observed", snapshot, "--progress", progress)

    out = capsys.readouterr().out
    assert code == 0
    assert "hq: rotation complete" in out
    assert "waiting" not in out


def test_blocked_site_exits_2_and_shows_the_reason(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A blocked site is pending work for a human: exit 2, the reason and message in the table."""
    corrupt = observed(
        servers=[server("sepm01", per_port={"rest": new("sepm01")})], groups=[group("g1", ROOT)]
    )
    snapshot = _write_json(tmp_path / "hq.json", corrupt.model_dump(mode="json"))

    code = _plan_cli(folder, "--observed", snapshot)

    out = capsys.readouterr().out
    assert code == 2
    assert "CorruptedCertificate: server sepm01 presents different certificates" in out


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        pytest.param("missing-snapshot", "cannot read the observation", id="missing-snapshot"),
        pytest.param("not-json", "not JSON", id="not-json"),
        pytest.param("not-an-observation", "not a valid observation", id="not-an-observation"),
        pytest.param(
            "unknown-site", "site 'kyoto' has no desired-state file", id="site-without-desired-state"
        ),
        pytest.param("invalid-desired", "site 'hq' is not valid", id="invalid-desired-state"),
        pytest.param("site-filter", "holds no observation of site 'nagoya'", id="site-not-in-snapshot"),
        pytest.param(
            "one-progress-many-sites", "one progress given for several sites", id="ambiguous-progress"
        ),
        pytest.param("bad-progress", "not a valid progress", id="not-a-progress"),
    ],
)
def test_errors_exit_1_with_a_message(
    setup: str, expected: str, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input exits 1 with one clear message on stderr and nothing on stdout."""
    snapshot = _write_json(tmp_path / "hq.json", _snapshot().model_dump(mode="json"))
    args: list[str | Path] = [folder, "--observed", snapshot]
    if setup == "missing-snapshot":
        args[2] = tmp_path / "absent.json"
    elif setup == "not-json":
        snapshot.write_text("{not json", encoding="utf-8")
    elif setup == "not-an-observation":
        _write_json(snapshot, {"site": "hq", "server_time": "soon"})
    elif setup == "unknown-site":
        _write_json(snapshot, _snapshot("kyoto").model_dump(mode="json"))
    elif setup == "invalid-desired":
        (folder / "hq.yaml").write_text("site: hq\nservers: []\n", encoding="utf-8")
    elif setup == "site-filter":
        args += ["--site", "nagoya"]
    elif setup == "one-progress-many-sites":
        both = {
            "hq": _snapshot("hq").model_dump(mode="json"),
            "osaka": _snapshot("osaka").model_dump(mode="json"),
        }
        _write_json(snapshot, both)
        progress = {"rotation_id": "r1", "desired_digest": "0", "procedure": "single-server", "started_at": 0}
        args += ["--progress", _write_json(tmp_path / "p.json", progress)]
    elif setup == "bad-progress":
        args += ["--progress", _write_json(tmp_path / "p.json", {"rotation_id": "r1"})]

    code = _plan_cli(*args)

    out = capsys.readouterr()
    assert code == 1
    assert out.out == ""
    assert expected in out.err
    assert "Traceback" not in out.err


def test_invalid_desired_state_errors_name_file_and_line(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loader's file:line errors for the planned site reach stderr."""
    snapshot = _write_json(tmp_path / "hq.json", _snapshot().model_dump(mode="json"))
    (folder / "hq.yaml").write_text("site: hq\nprocedure: sideways\n", encoding="utf-8")

    code = _plan_cli(folder, "--observed", snapshot)

    err = capsys.readouterr().err
    assert code == 1
    assert f"{folder / 'hq.yaml'}:2: procedure:" in err


def test_the_14_2_rule_and_whom_it_caught_are_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan` names the noFailoverVersions patterns, how many clients match and which groups are treated."""
    folder = tmp_path / "desired-state"
    _write_site(folder, desired_site(site="hq", servers=["sepm01", "sepm02"]))
    snapshot = observed(
        site="hq",
        servers=[server("sepm01"), server("sepm02")],
        groups=[group("g1", ROOT), group("g2", ROOT + "\\Factory")],
        clients=[client("c1", "g1"), client("k1", "g2", version="14.2.3332.1000")],
    )
    path = _write_json(tmp_path / "hq.json", snapshot.model_dump(mode="json"))

    assert _plan_cli(folder, "--observed", path) == 2

    out = capsys.readouterr().out
    assert "1 client(s) match noFailoverVersions (14.2.*)" in out
    assert "single-server treatment for My Company\\Factory" in out

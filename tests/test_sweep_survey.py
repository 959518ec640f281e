"""The library survey (iastm_tools.sweep.survey, ``iastm survey``): tools x sites x forces
ranked per site and force, on the flat-slab case of sweep_factory (fixed pose, half-space)."""

from __future__ import annotations

import csv
import math

import pytest

from iastm_tools.cli import main
from iastm_tools.errors import IastmError
from iastm_tools.profile import load_profile
from iastm_tools.sweep import profile_toml
from iastm_tools.sweep.survey import run_survey
from sweep_factory import make_case, without_seconds

#: The cheap fit of the sweep tests: one fixed pose on the half-space.
FAST = {"model": "halfspace", "angle_range_deg": (45.0, 45.0), "rotation_range_deg": (0.0, 0.0)}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """small-fr.toml plus a stiffer-edged variant (thinner plate: narrower full round)."""
    folder = make_case(tmp_path_factory.mktemp("survey"))
    thin = load_profile(folder / "small-fr.toml").with_(thickness_mm=3.0, name="small-thin")
    (folder / "small-thin.toml").write_text(profile_toml(thin), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def serial(case):
    return run_survey([case / "small-fr.toml", case / "small-thin.toml"], str(case / "flat.ply"),
                      ["calf", "forearm_flexor"], [5.0, 8.0], workers=1, fit_options=FAST)


def test_every_tool_site_force_is_a_row_ranked_per_site_and_force(serial):
    rows = serial.rows
    assert len(rows) == 2 * 2 * 2 and serial.failed == 0
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["site"], r["force_n"]), []).append(r)
    assert len(groups) == 4
    for group in groups.values():
        assert sorted(r["rank"] for r in group) == [1, 2]
        best = min(group, key=lambda r: r["rank"])
        # objective "area": rank 1 has the largest contact area (objective = -area)
        assert best["contact_area_mm2"] == max(r["contact_area_mm2"] for r in group)
        assert best["objective_value"] == pytest.approx(-best["contact_area_mm2"], rel=1e-12)
    # load balance of every row: the pressure field carries the applied force (1 %)
    for r in rows:
        assert r["solved_force_n"] == pytest.approx(r["force_n"], rel=0.01)
    assert {r["tool"] for r in serial.best()} <= {"small-fr", "small-thin"}
    assert len(serial.best()) == 4


def test_row_equals_a_direct_fit_of_that_tool(case, serial):
    from iastm_tools import Body, Tool, fit

    body = Body.load(case / "flat.ply")
    res = fit(Tool.from_profile(case / "small-thin.toml"), body, "calf", 8.0, **FAST)
    row = next(r for r in serial.rows
               if r["tool"] == "small-thin" and r["site"] == "calf" and r["force_n"] == 8.0)
    assert row["contour"] == res.best.contour
    assert row["contact_area_mm2"] == pytest.approx(res.best.contact_area_mm2, rel=1e-9)
    assert row["peak_pressure_kpa"] == pytest.approx(res.best.peak_pressure_kpa, rel=1e-9)


def test_two_local_workers_give_the_serial_rows(case, serial):
    par = run_survey([case / "small-fr.toml", case / "small-thin.toml"], str(case / "flat.ply"),
                     ["calf", "forearm_flexor"], [5.0, 8.0], workers=2, fit_options=FAST)
    assert without_seconds(par.rows) == without_seconds(serial.rows)
    assert "2 processes" in par.executor


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"forces_n": [0.0]}, "forces_n must be"),
    ({"forces_n": [250.0]}, "forces_n must be"),
    ({"sites": ["elbow"]}, "elbow"),
    ({"objective": "comfort"}, "objective must be one of"),
])
def test_bad_input_is_one_line(case, kwargs, message):
    args = {"sites": ["calf"], "forces_n": [8.0], **kwargs}
    with pytest.raises(IastmError, match=message) as err:
        run_survey([case / "small-fr.toml"], str(case / "flat.ply"), workers=1,
                   fit_options=FAST, **args)
    assert "\n" not in str(err.value)


def test_cli_survey_table_csv_and_no_overwrite(case, tmp_path, capsys, monkeypatch):
    import iastm_tools.sweep.survey as survey

    # the CLI runs the preview preset; the test keeps the fixed-pose half-space fit
    monkeypatch.setattr(survey, "PREVIEW_FIT", {**survey.PREVIEW_FIT, **FAST})
    out = tmp_path / "survey.csv"
    args = ["survey", str(case / "small-fr.toml"), str(case / "small-thin.toml"), "--body",
            str(case / "flat.ply"), "--sites", "calf", "--forces", "8", "--workers", "1",
            "--csv", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "best tool" in text and "survey: 2 fits (0 failed)" in text
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["rank"] for r in sorted(rows, key=lambda r: r["rank"])] == ["1", "2"]
    assert all(math.isclose(float(r["force_n"]), 8.0) for r in rows)
    before = out.read_bytes()
    assert main(args) == 2  # exists, no --force
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main([*args, "--force"]) == 0
    assert main(["survey", "--sites", "calf"]) == 2
    assert "--library" in capsys.readouterr().err
    assert main(["survey", "small-fr", "--forces", "8,x"]) == 2

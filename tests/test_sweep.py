"""Design sweeps (issue 7): spec validation, sampling, row hashes, the durable store and
resuming, local execution, plots and the edge optimiser.

Fits run on a synthetic flat slab with a small full-round blade at one fixed pose
(``sweep_factory``), about 0.1 s a row. The Dask executor is tested in test_sweep_dask.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from conftest import PROFILE_PATHS
from iastm_tools.cli import main
from iastm_tools.errors import OutputExistsError
from iastm_tools.profile import load_profile
from iastm_tools.sweep import SpecError, load_spec, optimize_design, run_sweep
from iastm_tools.sweep import rows as rows_mod
from iastm_tools.sweep.optimize import FAILED, INFEASIBLE, profile_toml, score_candidate
from iastm_tools.sweep.plots import pareto_mask, worst_case_by_variant
from iastm_tools.sweep.rows import evaluate_row, line_load_stats, make_tasks
from iastm_tools.sweep.run import LocalProcessExecutor, SerialExecutor, make_executor
from iastm_tools.sweep.sample import grid, latin_hypercube
from iastm_tools.sweep.spec import OptimizeSettings
from iastm_tools.sweep.store import RowStore, StoreBusyError, read_table
from sweep_factory import GRID_SPEC, make_case, without_seconds, write_spec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    folder = make_case(tmp_path_factory.mktemp("sweepcase"))
    write_spec(folder, GRID_SPEC, "ref.toml")
    return folder


@pytest.fixture(scope="module")
def reference(case) -> list[dict]:
    """The uninterrupted in-process run of GRID_SPEC: its results table."""
    spec = load_spec(case / "ref.toml")
    out = run_sweep(spec, case / "ref-out", workers=1, plots=False)
    assert (out.rows, out.computed, out.reused) == (12, 12, 0)
    return read_table(out.tables["parquet"])


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------
# spec


def test_spec_parses_with_defaults_and_preview_preset(case):
    spec = load_spec(write_spec(case, GRID_SPEC.replace('model = "halfspace"\n', "")
                                + "preview = true\n"))
    assert spec.n_variants == 6 and spec.n_rows == 12
    assert spec.parameters[0].grid_values() == (40.0, 60.0, 15.0)
    assert spec.parameters[1].grid_values() == (3.0, 5.0)
    f = spec.fit
    assert (f.model, f.coarse_tilts, f.coarse_rotations, f.refine_evals) == ("winkler", 3, 6, 0)
    assert f.bodies == (str((case / "flat.ply").resolve()),) and f.body_labels == ("flat.ply",)
    # explicit keys override the preset; the spec hash follows the fit settings
    spec2 = load_spec(write_spec(case, GRID_SPEC + "preview = true\ncoarse_tilts = 5\n"))
    assert (spec2.fit.model, spec2.fit.coarse_tilts) == ("halfspace", 5)
    assert spec2.spec_hash() != spec.spec_hash()
    assert load_spec(case / "spec.toml").spec_hash() == spec2.spec_hash()


BAD_SPECS = [
    ("[sweep]\nprofil = 'x'\n", "sweep.profil: unknown key"),
    ("[sweep]\nprofile = 'no-such-tool'\n", "sweep.profile: no such profile"),
    (GRID_SPEC.replace('path = "thickness_mm"', 'path = "segments[1].edge.angle"'),
     "parameters[1].path: no such field in the base profile"),
    (GRID_SPEC.replace("range = [3.0, 5.0]", "range = [5.0, 3.0]"),
     "parameters[1].range: must have lo < hi"),
    (GRID_SPEC.replace('model = "halfspace"', 'model = "fem"'), "fit.model: invalid choice"),
    (GRID_SPEC.replace("forces_n = [8.0]", "forces_n = [0.0]"), "fit.forces_n[0]: out of range"),
    (GRID_SPEC.replace('"flat.ply"', '"nope.ply"'), "fit.bodies[0]: not a built-in body"),
    (GRID_SPEC.replace("values = [40.0, 60.0, 15.0]", "values = [40.0, 40]"),
     "parameters[0].values: has duplicate values"),
    (GRID_SPEC.replace('name = "concave_radius_mm"', 'name = "peak_pressure_kpa"'),
     "parameters: a parameter name clashes"),
    (GRID_SPEC + "\n[[plots]]\nkind = 'pareto'\nx = 'contact_area_mm2'\ny = 'thickness'\n",
     "plots[0].y: not a column"),
    (GRID_SPEC + "\n[optimize]\nobjective = 'comfort'\n", "optimize.objective: invalid choice"),
    ("[sweep\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPECS)
def test_bad_spec_is_one_line_naming_the_field(case, text, message):
    path = write_spec(case, text, "bad.toml")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    msg = str(info.value)
    assert message in msg and "\n" not in msg and msg.startswith(str(path))


@pytest.mark.parametrize(("text", "message"), [
    (GRID_SPEC.replace("steps = 2\n", ""),
     "parameters[1].steps: required with a range in a grid sweep"),
    (GRID_SPEC.replace("steps = 2\n", "").replace('sampling = "grid"', 'sampling = "lhs"'),
     "sweep.samples: required for lhs sampling"),
])
def test_sweep_needs_steps_or_samples_optimize_does_not(case, text, message):
    spec = load_spec(write_spec(case, text, "s.toml"))  # loads: optimize needs neither
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_sweep(spec, case / "never", workers=1)
    assert not (case / "never").exists()


def test_cli_bad_spec_exit_2(case, capsys):
    path = write_spec(case, GRID_SPEC.replace('model = "halfspace"', 'model = "fem"'), "b.toml")
    code, out, err = run(capsys, "sweep", str(path), "--out", str(case / "never"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "fit.model: invalid choice" in err
    assert not (case / "never").exists()


# --------------------------------------------------------------------------------------
# sampling and row hashes


def test_grid_is_the_full_product_last_parameter_fastest(case):
    spec = load_spec(case / "ref.toml")
    vs = grid(spec.parameters)
    assert vs == [{"concave_radius_mm": r, "thickness_mm": t}
                  for r in (40.0, 60.0, 15.0) for t in (3.0, 5.0)]


def test_latin_hypercube_is_seeded_and_stratified(case):
    text = GRID_SPEC.replace('sampling = "grid"', 'sampling = "lhs"\nsamples = 8\nseed = 5') \
        .replace("steps = 2\n", "").replace("values = [40.0, 60.0, 15.0]",
                                            "values = [40.0, 60.0]")
    spec = load_spec(write_spec(case, text, "lhs.toml"))
    a = latin_hypercube(spec.parameters, 8, 5)
    assert a == latin_hypercube(spec.parameters, 8, 5)  # same seed, same variants
    assert a != latin_hypercube(spec.parameters, 8, 6)
    t = np.array([v["thickness_mm"] for v in a])
    assert np.all((t >= 3.0) & (t <= 5.0))
    # one sample in each of the 8 strata of the range (rounded to 1e-4 mm: strata are 0.25)
    assert sorted(np.floor((t - 3.0) / 2.0 * 8).astype(int)) == list(range(8))
    # categorical values get equal shares
    assert sorted(v["concave_radius_mm"] for v in a) == [40.0] * 4 + [60.0] * 4
    assert all(t_ == round(t_, 4) for t_ in t)


def test_row_hash_covers_every_input_and_not_the_row_position(case, monkeypatch):
    spec = load_spec(case / "ref.toml")
    h = [t.hash for t in make_tasks(spec)]
    assert len(set(h)) == 12 and h == [t.hash for t in make_tasks(spec)]
    # a longer grid keeps the hashes of the rows it shares with the shorter one
    longer = load_spec(write_spec(case, GRID_SPEC.replace("15.0]", "15.0, 80.0]"), "l.toml"))
    assert set(h) <= {t.hash for t in make_tasks(longer)}
    changed = [
        GRID_SPEC.replace("forces_n = [8.0]", "forces_n = [8.5]"),
        GRID_SPEC.replace("[45.0, 45.0]", "[44.0, 44.0]"),
        GRID_SPEC.replace('edges = ["concave"]', "edges = [1]"),
    ]
    for text in changed:
        other = load_spec(write_spec(case, text, "c.toml"))
        assert not set(h) & {t.hash for t in make_tasks(other)}
    # the base profile's content (not only its name) is hashed
    prof = (case / "small-fr.toml").read_text()
    (case / "small-fr2.toml").write_text(prof.replace('description = ""',
                                                      'description = "other"'))
    other = load_spec(write_spec(case, GRID_SPEC.replace("small-fr.toml", "small-fr2.toml"),
                                 "p.toml"))
    assert not set(h) & {t.hash for t in make_tasks(other)}
    # the fitting code's version is hashed
    monkeypatch.setattr(rows_mod, "fit_code_version", lambda: "9.9.9+other")
    assert not set(h) & {t.hash for t in make_tasks(spec)}


def test_row_hash_covers_the_body_file_content(case, tmp_path):
    import shutil

    for name in ("small-fr.toml", "flat.ply", "flat.ply.sites.json"):
        shutil.copy(case / name, tmp_path / name)
    spec_a = load_spec(write_spec(tmp_path, GRID_SPEC))
    ha = {t.hash for t in make_tasks(spec_a)}
    assert ha == {t.hash for t in make_tasks(load_spec(case / "ref.toml"))}  # moved: same
    side = tmp_path / "flat.ply.sites.json"
    side.write_text(side.read_text().replace('"name": "flat"', '"name": "flat2"'))
    rows_mod.body_identity.cache_clear()
    spec_b = load_spec(write_spec(tmp_path, GRID_SPEC))
    assert not ha & {t.hash for t in make_tasks(spec_b)}


# --------------------------------------------------------------------------------------
# rows


def test_invalid_variant_and_unknown_site_are_failed_rows_with_a_reason(case):
    spec = load_spec(case / "ref.toml")
    tasks = make_tasks(spec)
    bad = next(t for t in tasks if dict(t.params)["concave_radius_mm"] == 15.0)
    rec = evaluate_row(bad)
    assert rec["status"] == "failed" and rec["contact_area_mm2"] is None
    assert "segments[1].radius_mm" in rec["reason"] and "\n" not in rec["reason"]
    other = load_spec(write_spec(case, GRID_SPEC.replace('"forearm_flexor"', '"neck"'), "s.toml"))
    rec = evaluate_row(next(t for t in make_tasks(other) if t.site == "neck"))
    assert rec["status"] == "failed" and "unknown site 'neck'" in rec["reason"]


def test_line_load_stats_even_and_concentrated():
    mean, peak, cv = line_load_stats(np.full(11, 0.2))
    assert mean == pytest.approx(0.2) and peak == pytest.approx(0.2) and cv == pytest.approx(0)
    q = np.zeros(11)
    q[5] = 1.0
    assert line_load_stats(q)[2] == pytest.approx(np.sqrt(10.0 - 1.0), rel=1e-9)  # 1/10 load


# --------------------------------------------------------------------------------------
# running, the store and resuming


def test_sweep_table_has_every_input_and_output_and_records_failures(reference, case):
    assert [r["row"] for r in reference] == list(range(12))
    failed = [r for r in reference if r["status"] == "failed"]
    assert len(failed) == 4 and all(r["concave_radius_mm"] == 15.0 for r in failed)
    ok = [r for r in reference if r["status"] == "ok"]
    for r in ok:
        assert r["contour"] == "concave" and r["contact_area_mm2"] > 0
        assert r["solved_force_n"] == pytest.approx(8.0, rel=1e-6)
        assert r["tilt_deg"] == 45.0 and r["body"] == "flat.ply" and r["force_n"] == 8.0
        assert r["model"] == "halfspace" and r["mass_g"] > 0
    # the parameter columns hold the values the variant was built with
    assert {(r["concave_radius_mm"], r["thickness_mm"]) for r in ok} == {
        (40.0, 3.0), (40.0, 5.0), (60.0, 3.0), (60.0, 5.0)}
    for v in {r["variant"] for r in ok}:  # one tool per variant: the same edge on each site
        assert len({r["edge_length_mm"] for r in ok if r["variant"] == v}) == 1
    csv_text = (case / "ref-out" / "results.csv").read_text().splitlines()
    assert len(csv_text) == 13 and csv_text[0].startswith("row,row_hash,variant,"
                                                          "concave_radius_mm,thickness_mm")


def test_interrupted_sweep_loses_no_row_and_resumes_only_the_missing(case, reference):
    spec = load_spec(case / "ref.toml")
    out = case / "interrupted"
    seen = []

    def stop_after_5(task, rec):
        seen.append(task.hash)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, workers=1, plots=False, on_record=stop_after_5)
    lines = (out / "rows.jsonl").read_text().splitlines()
    assert [json.loads(x)["hash"] for x in lines] == seen
    assert not (out / "results.parquet").exists()
    res = run_sweep(spec, out, workers=1, plots=False)
    assert (res.state, res.computed, res.reused) == ("resumed", 7, 5)
    assert without_seconds(read_table(res.tables["parquet"])) == without_seconds(reference)
    # a third run computes nothing
    again = run_sweep(spec, out, workers=1, plots=False)
    assert (again.computed, again.reused) == (0, 12)


def test_torn_last_line_is_dropped_and_that_row_recomputed(case, reference):
    spec = load_spec(case / "ref.toml")
    out = case / "torn"
    run_sweep(spec, out, workers=1, plots=False)
    data = (out / "rows.jsonl").read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    (out / "rows.jsonl").write_bytes(data[:last + 40])  # a kill in the middle of a write
    res = run_sweep(spec, out, workers=1, plots=False)
    assert (res.computed, res.reused) == (1, 11)
    assert without_seconds(read_table(res.tables["parquet"])) == without_seconds(reference)
    assert all(json.loads(x) for x in (out / "rows.jsonl").read_text().splitlines())


def test_killed_process_loses_no_finished_row(case, reference):
    """A sweep process killed with SIGKILL mid-run: every line in the store is a whole row,
    and the rerun computes exactly the rows that are missing."""
    text = GRID_SPEC.replace("values = [40.0, 60.0, 15.0]", "values = [40.0, 50.0, 60.0]") \
        .replace("steps = 2", "steps = 4")
    spec_path = write_spec(case, text, "kill.toml")
    out = case / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "iastm_tools.cli", "sweep", str(spec_path),
                             "--out", str(out), "--workers", "1", "--no-plots"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    store = out / "rows.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists() and store.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()[-500:]  # still running
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {json.loads(x)["hash"] for x in store.read_text().splitlines() if x.endswith("}")}
    assert 3 <= len(done) < 24
    res = run_sweep(load_spec(spec_path), out, workers=1, plots=False)
    assert res.reused >= len(done) and res.computed + res.reused == 24
    table = read_table(res.tables["parquet"])
    assert len(table) == 24 and all(r["status"] == "ok" for r in table)


def test_folder_rules_resume_force_and_lock(case, capsys):
    spec = load_spec(case / "ref.toml")
    out = case / "ref-out"  # made by the reference run
    changed = load_spec(write_spec(case, GRID_SPEC.replace("15.0]", "15.0, 80.0]"), "x.toml"))
    with pytest.raises(OutputExistsError, match="holds a different sweep"):
        run_sweep(changed, out, workers=1, plots=False)
    # --resume reuses the rows of the old spec that the new one still has
    res = run_sweep(changed, out, workers=1, plots=False, resume=True)
    assert (res.state, res.computed, res.reused) == ("reused", 4, 12)
    with pytest.raises(OutputExistsError, match="--no-resume"):
        run_sweep(changed, out, workers=1, plots=False, resume=False)
    res = run_sweep(spec, out, workers=1, plots=False, force=True)
    assert (res.state, res.computed) == ("restarted", 12)
    # a folder that is not a sweep is never used, even with force
    (case / "other").mkdir()
    (case / "other" / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not a sweep folder"):
        run_sweep(spec, case / "other", workers=1, force=True)
    assert (case / "other" / "keep.txt").read_text() == "mine"
    # one writer per folder
    store, _ = RowStore.open(out, {"spec_hash": spec.spec_hash()})
    try:
        with pytest.raises(StoreBusyError):
            RowStore.open(out, {"spec_hash": spec.spec_hash()})
    finally:
        store.close()
    # the CLI: a different spec into the folder is exit 2 with one line
    code, _out, err = run(capsys, "sweep", str(case / "x.toml"), "--out", str(out),
                          "--workers", "1")
    assert code == 2 and err.count("\n") == 1 and "--resume" in err


def test_local_process_pool_gives_the_serial_table(case, reference):
    assert isinstance(make_executor(1), SerialExecutor)
    ex = make_executor(None)
    assert isinstance(ex, LocalProcessExecutor if (os.cpu_count() or 1) > 1 else SerialExecutor)
    ex.close()
    spec = load_spec(case / "ref.toml")
    res = run_sweep(spec, case / "pool", workers=2, plots=False)
    assert res.workers == 2 and res.computed == 12
    assert without_seconds(read_table(res.tables["parquet"])) == without_seconds(reference)


def test_cli_sweep_writes_table_and_plots_and_resumes(case, capsys):
    out = case / "cli-out"
    code, text, err = run(capsys, "sweep", str(case / "ref.toml"), "--out", str(out),
                          "--workers", "1")
    assert code == 0, err
    assert "12 rows (12 computed, 0 reused, 4 failed)" in text
    assert "4 failed: segments[1].radius_mm" in err
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert len(plots) == 5 and any(p.startswith("pareto-") for p in plots)
    code, text, _ = run(capsys, "sweep", str(case / "ref.toml"), "--out", str(out),
                        "--json")
    assert code == 0 and json.loads(text)["reused"] == 12
    spec_copy = tomllib.loads((out / "spec.toml").read_text())
    assert spec_copy["sweep"]["profile"] == "small-fr.toml"


# --------------------------------------------------------------------------------------
# plots (pure parts)


def test_pareto_mask_min_and_max():
    pts = np.array([[1.0, 5.0], [2.0, 3.0], [3.0, 4.0], [4.0, 1.0], [2.0, 3.0]])
    assert pareto_mask(pts, ("min", "min")).tolist() == [True, True, False, True, True]
    # area maximised, pressure minimised
    assert pareto_mask(pts, ("max", "min")).tolist() == [False, False, False, True, False]


def test_worst_case_by_variant_skips_failed_variants():
    rows = [{"variant": 0, "status": "ok", "a": 10.0, "p": 5.0},
            {"variant": 0, "status": "ok", "a": 8.0, "p": 7.0},
            {"variant": 1, "status": "ok", "a": 9.0, "p": 1.0},
            {"variant": 1, "status": "failed", "a": None, "p": None}]
    assert worst_case_by_variant(rows, ("a", "p"), ("max", "min")) == [
        {"variant": 0, "a": 8.0, "p": 7.0}]


# --------------------------------------------------------------------------------------
# optimisation


def test_score_candidate_orders_feasible_infeasible_failed():
    s = OptimizeSettings(objective="peak", aggregate="max", min_contact_area_mm2=10.0)
    ok = [{"status": "ok", "peak_pressure_kpa": 100.0, "contact_area_mm2": 12.0},
          {"status": "ok", "peak_pressure_kpa": 300.0, "contact_area_mm2": 20.0}]
    a = score_candidate(ok, s)
    assert a.feasible and a.value == 300.0
    from dataclasses import replace

    assert score_candidate(ok, replace(s, aggregate="mean")).value == 200.0
    low = [{**ok[0], "contact_area_mm2": 5.0}, ok[1]]
    lower = [{**ok[0], "contact_area_mm2": 2.0}, ok[1]]
    b, c = score_candidate(low, s), score_candidate(lower, s)
    assert not b.feasible and b.violation == pytest.approx(0.5)
    assert a.value < INFEASIBLE < b.value < c.value < FAILED
    assert score_candidate([ok[0], {"status": "failed"}], s).value == FAILED


def test_profile_toml_round_trips_every_library_profile(tmp_path):
    for path in PROFILE_PATHS:
        p = load_profile(path)
        q_path = tmp_path / f"{p.name}.toml"
        q_path.write_text(profile_toml(p, "round trip"), encoding="utf-8")
        assert load_profile(q_path) == p


OPT_SPEC = GRID_SPEC.replace('sampling = "grid"', 'sampling = "lhs"\nsamples = 4') \
    .replace("steps = 2\n", "").replace("""[[parameters]]
name = "concave_radius_mm"
path = "segments[1].radius_mm"
values = [40.0, 60.0, 15.0]
""", "") + """
[optimize]
objective = "peak"
aggregate = "max"
min_contact_area_mm2 = 5.0
generations = 1
population = 4
seed = 2
formats = ["dxf", "json"]
"""


def test_optimize_finds_the_best_candidate_and_writes_profile_and_bundle(case):
    spec = load_spec(write_spec(case, OPT_SPEC, "opt.toml"))
    out = case / "opt"
    res = optimize_design(spec, out, workers=1)
    cands = read_table(out / "candidates.parquet")
    assert res.candidates == len(cands) == 10  # 5 initial (scipy minimum) + 1 generation
    best = min(cands, key=lambda c: c["score"])
    assert res.best_candidate == best["candidate"] and res.feasible
    assert res.best_parameters["thickness_mm"] == best["thickness_mm"]
    # the score is the worst (max) peak pressure over the two sites, from the stored rows
    hist = [r for r in read_table(out / "history.parquet") if r["variant"] == best["candidate"]]
    assert best["score"] == max(r["peak_pressure_kpa"] for r in hist) and len(hist) == 2
    prof = load_profile(res.profile_path)
    assert prof.thickness_mm == res.best_parameters["thickness_mm"]
    assert prof.name == "small-fr-opt"
    assert sorted(p.name for p in res.bundle_dir.iterdir()) == [
        "README.txt", "SHA256SUMS", "params.json", "small-fr-opt.dxf"]
    assert len(res.per_target) == 2 and {t["site"] for t in res.per_target} == {
        "calf", "forearm_flexor"}
    summary = json.loads((out / "optimize.json").read_text())
    assert summary["best_candidate"] == res.best_candidate and summary["feasible"]
    assert (out / "plots" / "convergence.png").stat().st_size > 1000
    # deterministic and resumable: the rerun proposes the same candidates, all stored
    again = optimize_design(spec, out, workers=1, bundle=False, plots=False)
    assert (again.rows_computed, again.best_parameters) == (0, res.best_parameters)


def test_optimize_infeasible_writes_no_bundle_and_cli_objective(case, capsys):
    text = OPT_SPEC.replace("min_contact_area_mm2 = 5.0", "min_contact_area_mm2 = 5000.0") \
        .replace("generations = 1", "generations = 0")
    spec_path = write_spec(case, text, "opt-inf.toml")
    code, out, err = run(capsys, "optimize", str(spec_path), "--out", str(case / "inf"),
                         "--workers", "1", "--objective", "area")
    assert code == 0, err
    assert "objective area" in out and "NO candidate met the constraints" in out
    assert "no machining bundle" in err
    assert not (case / "inf" / "bundle").exists() and (case / "inf" / "best").is_dir()
    code, _, err = run(capsys, "optimize", str(spec_path), "--out", str(case / "inf2"),
                       "--objective", "comfort")
    assert code == 2 and "--objective" in err
    code, _, err = run(capsys, "optimize", str(case / "ref.toml"), "--out", str(case / "inf3"))
    assert code == 2 and "parameters[0]: optimize varies only continuous" in err

"""CLI exit paths: 0 ok, 2 bad input (one line, no traceback), 1 unexpected error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROFILE_PATHS
from iastm_tools.cli import main

PROFILE = str(PROFILE_PATHS[0])


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_everywhere(capsys):
    for args in ([], ["list"], ["info"], ["export"], ["demo"], ["body"]):
        code, out, _err = run(capsys, *args, "--help")
        assert code == 0, args
        assert "Usage" in out


def test_info_text_and_json(capsys):
    code, out, _ = run(capsys, "info", PROFILE)
    assert code == 0
    assert "working contours" in out
    code, out, _ = run(capsys, "info", PROFILE, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["mass_g"] > 0 and data["contours"]


def test_list_json_covers_the_library(capsys):
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["name"] for r in rows} == {p.stem for p in PROFILE_PATHS}
    assert all(r["mass_g"] > 0 for r in rows)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["info", "no-such-tool"], "no such profile"),
        (["info", "/no/such/file.toml"], "not found"),
        (["export", PROFILE, "--formats", "step,gif"], "unknown format gif"),
        (["list", "--dir", "/no/such/dir"], "not found"),
        (["bogus-command"], "No such command"),
        (["info", PROFILE, "--bogus"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(capsys, args, fragment):
    code, _out, err = run(capsys, *args)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err


def test_bad_profile_file_names_field(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    text = Path(PROFILE).read_text().replace("thickness_mm = ", "thickness_mm = -", 1)
    bad.write_text(text)
    code, _, err = run(capsys, "info", str(bad))
    assert code == 2
    assert "thickness_mm" in err and "out of range" in err
    assert len(err.strip().splitlines()) == 1


def test_unexpected_error_exits_1_without_traceback(capsys, monkeypatch):
    import iastm_tools.tool as tool_mod

    def boom(self):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(tool_mod.Tool, "summary", boom)
    code, _, err = run(capsys, "info", PROFILE)
    assert code == 1
    assert "internal error" in err and "Traceback" not in err


def test_real_entry_point_exit_code(tmp_path):
    """The installed console script: exit 2 and a single line on stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "iastm_tools.cli", "info", "nope"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_fft_backend_is_one_line(tmp_path):
    """A bad IASTM_FFT_BACKEND: exit 2 and one line naming the choices, no traceback."""
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "iastm_tools.cli", "fit", "knob-tip", "--site", "calf",
         "--force", "8", "--model", "winkler"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
        env={**os.environ, "IASTM_FFT_BACKEND": "fftw"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: IASTM_FFT_BACKEND must be one of ducc0, scipy "
                                   "(got 'fftw')")


def test_body_tissue_override_and_bad_path(capsys):
    code, out, _ = run(capsys, "body", "tissue", "calf", "--tissue", "calf.ppt_kpa=400", "--json")
    assert code == 0
    values = {v["path"]: v for v in json.loads(out)[0]["values"]}
    assert values["calf.ppt_kpa"]["value"] == pytest.approx(400.0)
    assert values["calf.ppt_kpa"]["source"].startswith("override")
    code, _, err = run(capsys, "body", "tissue", "calf", "--tissue", "calf.bogus=1")
    assert code == 2 and "unknown override path" in err


def test_export_refuses_overwrite_and_leaves_nothing_half_written(capsys, tmp_path, monkeypatch):
    out = tmp_path / "bundles"
    code, _, err = run(capsys, "export", PROFILE, "--out", str(out), "--formats", "step,dxf,json")
    assert code == 0, err
    name = Path(PROFILE).stem
    bundle = out / name
    before = {p.name: p.stat().st_mtime_ns for p in bundle.iterdir()}
    code, _, err = run(capsys, "export", PROFILE, "--out", str(out), "--formats", "step")
    assert code == 2 and "--force" in err
    assert {p.name: p.stat().st_mtime_ns for p in bundle.iterdir()} == before

    import iastm_tools.export as export_mod

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export_mod, "write_dxf", broken)
    code, _, err = run(
        capsys, "export", PROFILE, "--out", str(out), "--formats", "step,dxf", "--force"
    )
    assert code == 1 and "disk on fire" in err
    # the old bundle is intact and no temporary folder is left behind
    assert {p.name: p.stat().st_mtime_ns for p in bundle.iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_cli_format_list_matches_the_exporter():
    from iastm_tools.cli_tool import ALL_FORMATS
    from iastm_tools.export import FORMATS

    assert ALL_FORMATS == FORMATS

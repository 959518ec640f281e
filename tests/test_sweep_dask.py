"""The sweep on a real Dask cluster (``distributed.LocalCluster``, 2 worker processes on
the loopback interface) gives the same table as the local in-process run.

Starting the cluster and importing the fitting code in its workers takes a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iastm_tools.cli import main
from iastm_tools.errors import IastmError
from iastm_tools.sweep import load_spec, run_sweep
from iastm_tools.sweep.run import DaskExecutor
from iastm_tools.sweep.store import read_table
from sweep_factory import GRID_SPEC, make_case, without_seconds, write_spec

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=40) as c:
        yield c


def test_dask_sweep_equals_local_sweep(tmp_path: Path, cluster, capsys):
    make_case(tmp_path)
    spec_path = write_spec(tmp_path, GRID_SPEC)
    spec = load_spec(spec_path)
    local = run_sweep(spec, tmp_path / "local", workers=1, plots=False)
    on_dask = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address,
                        plots=False)
    assert on_dask.executor.startswith("dask") and on_dask.workers == 2
    assert (on_dask.computed, on_dask.failed) == (12, 4)
    a = without_seconds(read_table(local.tables["parquet"]))
    b = without_seconds(read_table(on_dask.tables["parquet"]))
    assert a == b
    # the CLI, unchanged but for --scheduler; resumes from the store like a local run
    code = main(["sweep", str(spec_path), "--out", str(tmp_path / "dask"), "--scheduler",
                 cluster.scheduler_address, "--no-plots"])
    out, _err = capsys.readouterr()
    assert code == 0 and "0 computed, 12 reused" in out


def test_unreachable_scheduler_is_one_line_input_error(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(DaskExecutor, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(IastmError, match="cannot connect to a Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9")
    make_case(tmp_path)
    spec_path = write_spec(tmp_path, GRID_SPEC)
    code = main(["sweep", str(spec_path), "--out", str(tmp_path / "out"), "--scheduler",
                 "tcp://127.0.0.1:9"])
    _out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "--scheduler tcp://127.0.0.1:9" in err
    assert not (tmp_path / "out").exists()  # nothing written before the cluster answers
    code = main(["sweep", str(spec_path), "--workers", "2", "--scheduler", "tcp://x:1"])
    assert code == 2 and "--workers" in capsys.readouterr().err

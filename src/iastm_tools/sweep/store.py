"""Durable row store of a sweep folder, and the results table written from it.

The folder ``OUT/`` of a sweep holds:

* ``rows.jsonl``: the store. One JSON line per finished row (``{"hash": ..., "record":
  {...}}``), appended by the one coordinating process, flushed and fsynced before the next
  row is taken, so an interrupt or a crash loses no finished row. A torn last line (a kill
  in the middle of a write) is dropped when the store is opened again.
* ``sweep.json``: what the store belongs to (the spec hash, spec name, rows planned,
  code version), written atomically when the folder is created.
* ``spec.toml``: a copy of the spec the folder was created with.
* ``results.parquet`` / ``results.csv``: the table of every planned row in plan order
  (inputs and outputs), rebuilt from the store and written atomically (temporary file,
  then rename) at the end of every run.
* ``.lock``: held (``flock``) while a sweep writes to the folder, so two runs cannot.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IastmError, OutputExistsError
from ..fileio import write_atomic, write_text_atomic
from .rows import INPUT_COLUMNS, METRIC_COLUMNS, RowTask

STORE_FILE = "rows.jsonl"
META_FILE = "sweep.json"
SPEC_COPY = "spec.toml"
LOCK_FILE = ".lock"
TABLE_STEM = "results"
#: Format of ``sweep.json`` (bump on an incompatible change of the folder layout).
META_FORMAT = "iastm_tools sweep folder, version 1"


class StoreBusyError(IastmError):
    """Another process is writing to the sweep folder."""


@dataclass(frozen=True)
class OpenMode:
    """How :meth:`RowStore.open` treats an existing folder.

    resume: None = resume only when the folder's spec hash equals this spec's (else error);
    True = reuse every stored row whose hash matches a planned row, even if the spec changed;
    False = refuse an existing store. force: discard an existing store and start over.
    """

    resume: bool | None = None
    force: bool = False


class RowStore:
    """Append-only, fsynced JSON-lines store of finished rows (one writer per folder)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / STORE_FILE
        self.records: dict[str, dict[str, Any]] = {}
        self._fh: Any = None
        self._lock_fh: Any = None

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, folder: Path, meta: Mapping[str, Any], spec_text: str | None = None,
             mode: OpenMode = OpenMode()) -> tuple[RowStore, str]:
        """Open (or create) the store in ``folder`` for a sweep described by ``meta``
        (must hold ``spec_hash``); returns the store and what happened: "new",
        "resumed", "reused" (changed spec, ``resume=True``) or "restarted" (``force``).

        Raises OutputExistsError (exit 2) when the folder exists and may not be used.
        """
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise OutputExistsError(f"{folder}: exists and is not a folder")
        state = "new"
        meta_path = folder / META_FILE
        existing = folder.exists() and any(p.name != LOCK_FILE for p in folder.iterdir())
        store = cls(folder)
        folder.mkdir(parents=True, exist_ok=True)
        store._acquire_lock()
        try:
            if existing:
                old = _read_meta(meta_path)
                if mode.force:
                    if old is None and not (folder / STORE_FILE).exists():
                        raise OutputExistsError(
                            f"{folder}: exists and is not a sweep folder; refusing to clear "
                            "it even with --force (choose another --out)")
                    store._clear()
                    state = "restarted"
                elif old is None:
                    raise OutputExistsError(
                        f"{folder}: exists and is not a sweep folder (no {META_FILE}); "
                        "choose another --out")
                elif mode.resume is False:
                    raise OutputExistsError(
                        f"{folder}: holds a sweep already; rerun without --no-resume to "
                        "continue it, or pass --force to start over")
                elif old.get("spec_hash") == meta.get("spec_hash"):
                    state = "resumed"
                elif mode.resume:
                    state = "reused"
                else:
                    raise OutputExistsError(
                        f"{folder}: holds a different sweep (spec {old.get('name')!r} "
                        f"changed since); pass --resume to reuse its matching rows, --force "
                        "to start over, or choose another --out")
            if state in ("new", "restarted", "reused"):
                write_text_atomic(meta_path, json.dumps(
                    {"format": META_FORMAT, **meta}, indent=1, sort_keys=True) + "\n",
                    force=True)
                if spec_text is not None:
                    write_text_atomic(folder / SPEC_COPY, spec_text, force=True)
            store._load()
        except BaseException:
            store.close()
            raise
        return store, state

    def _acquire_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        fh = open(self.folder / LOCK_FILE, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise StoreBusyError(f"{self.folder}: another sweep is writing to this folder "
                                 "(wait for it, or choose another --out)") from None
        self._lock_fh = fh

    def _clear(self) -> None:
        for name in (STORE_FILE, META_FILE, SPEC_COPY, f"{TABLE_STEM}.parquet",
                     f"{TABLE_STEM}.csv"):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()
        for sub in ("plots",):
            shutil.rmtree(self.folder / sub, ignore_errors=True)

    def _load(self) -> None:
        """Read every complete line; drop a torn last line (truncate the file there)."""
        if not self.path.exists():
            self.path.touch()
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                self.records[str(item["hash"])] = dict(item["record"])
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line is a row to compute again, not a fatal error
        self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open for appends

    # ---------------------------------------------------------------- use
    def __contains__(self, row_hash: str) -> bool:
        return row_hash in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, row_hash: str) -> dict[str, Any] | None:
        return self.records.get(row_hash)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one finished row durably (flush + fsync) before returning."""
        rec = dict(record)
        line = json.dumps({"hash": rec["hash"], "record": rec}, sort_keys=True,
                          separators=(",", ":")) + "\n"
        self._fh.write(line.encode())
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records[str(rec["hash"])] = rec

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> RowStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == META_FORMAT else None


# --------------------------------------------------------------------------------------
# the table


def table_columns(param_names: Iterable[str]) -> list[str]:
    """Column order: row, row_hash, variant, parameters..., body, site, force_n, model,
    fit_objective, then the outputs of :data:`METRIC_COLUMNS`."""
    inputs = [c for c, _ in INPUT_COLUMNS]
    return [*inputs[:3], *param_names, *inputs[3:], *(c for c, _ in METRIC_COLUMNS)]


def table_rows(tasks: Iterable[RowTask], store: RowStore) -> list[dict[str, Any]]:
    """One dict per planned row that is in the store (plan order): inputs from the plan,
    outputs from the store."""
    out = []
    for t in tasks:
        rec = store.get(t.hash)
        if rec is None:
            continue
        row = t.inputs()
        row.update({c: rec.get(c) for c, _ in METRIC_COLUMNS})
        out.append(row)
    return out


def _arrow_table(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    import pyarrow as pa

    arrow = {"string": pa.string, "float64": pa.float64, "int64": pa.int64, "bool": pa.bool_}
    types = {c: t for c, t in (*INPUT_COLUMNS, *METRIC_COLUMNS)}
    arrays = []
    for c in columns:
        vals = [r.get(c) for r in rows]
        if c in types:
            arrays.append(pa.array(vals, type=arrow[types[c]]()))
        else:  # a parameter column: numbers, strings or booleans as given in the spec
            kinds = {type(v) for v in vals if v is not None}
            if kinds == {int}:
                arrays.append(pa.array(vals, type=pa.int64()))
            elif kinds <= {int, float}:
                arrays.append(pa.array([None if v is None else float(v) for v in vals],
                                       type=pa.float64()))
            elif kinds <= {bool}:
                arrays.append(pa.array(vals, type=pa.bool_()))
            else:
                arrays.append(pa.array([None if v is None else str(v) for v in vals],
                                       type=pa.string()))
    return pa.Table.from_arrays(arrays, names=columns)


def _csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else
                    ("true" if r[c] is True else "false" if r[c] is False else r[c])
                    for c in columns])
    return buf.getvalue()


def write_table(folder: Path, rows: list[dict[str, Any]], columns: list[str],
                stem: str = TABLE_STEM) -> dict[str, Path]:
    """Write ``<stem>.parquet`` and ``<stem>.csv`` atomically (each replaces the previous
    table of this folder, which is always rebuilt from the store)."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    table = _arrow_table(rows, columns)
    pq_path = write_atomic(folder / f"{stem}.parquet",
                           lambda p: pq.write_table(table, p), force=True)
    csv_path = write_text_atomic(folder / f"{stem}.csv", _csv_text(rows, columns), force=True)
    return {"parquet": pq_path, "csv": csv_path}


def read_table(path: Path) -> list[dict[str, Any]]:
    """A results table (Parquet) as a list of row dicts."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()

"""``iastm sweep`` and ``iastm optimize``: design sweeps and edge optimisation (argument
parsing and printing only; the work is in :mod:`iastm_tools.sweep`).

Register with ``register(app)`` on the root Typer app; heavy imports happen inside the
commands so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import IastmError

_TARGET_COLUMNS = [
    ("body", "body"),
    ("site", "site"),
    ("force_n", "force N"),
    ("contour", "edge"),
    ("tilt_deg", "tilt deg"),
    ("rotation_deg", "rot deg"),
    ("contact_area_mm2", "area mm2"),
    ("edge_contact_fraction", "edge frac"),
    ("peak_pressure_kpa", "peak kPa"),
    ("window_mean_pressure_kpa", "1cm2 kPa"),
    ("ppt_ratio", "1cm2/PPT"),
    ("line_load_cv", "load CV"),
    ("status", "status"),
]


class _Reporter:
    """Progress with ETA: a rich bar on a terminal, else a line on stderr every 10 %."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._next = 0.1
        self._t0: float | None = None  # when the first row finished (workers started)
        self._n0 = 0

    def __enter__(self) -> _Reporter:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failed"),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.__enter__()
        return self

    def __call__(self, done: int, total: int, failed: int) -> None:
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task("rows", total=total, failed=0)
            self._bar.update(self._task, completed=done, total=total, failed=failed)
            return
        now = time.perf_counter()
        if self._t0 is None and done:
            self._t0, self._n0 = now, done
        if total and (done / total >= self._next or done == total) and done:
            rate = (done - self._n0) / (now - self._t0) if now > self._t0 else 0.0  # type: ignore[operator]
            eta = f"ETA {(total - done) / rate:.0f} s" if rate > 0 else "ETA -"
            typer.echo(f"{self.label}: {done}/{total} rows, {failed} failed, {eta}", err=True)
            while self._next <= done / total:
                self._next += 0.1

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def _workers_option(workers: int | None) -> int | None:
    if workers is not None and workers < 1:
        raise IastmError(f"--workers: must be >= 1 (got {workers})")
    return workers


def _interrupted(out: Path) -> typer.Abort:
    """Ctrl-C: say where the finished rows are; the CLI then prints "aborted" (exit 1)."""
    typer.echo(f"interrupted: every finished row is kept in {out / 'rows.jsonl'}; rerun the "
               "same command to resume", err=True)
    return typer.Abort()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and ``optimize`` to the root ``iastm`` app."""

    @app.command("sweep")
    def sweep_cmd(
        spec: Annotated[Path, typer.Argument(help="Sweep spec (TOML), see docs/sweep.md.")],
        out: Annotated[Path | None, typer.Option(
            "--out", help="Sweep folder (default exports/sweep-<name>).")] = None,
        workers: Annotated[int | None, typer.Option(
            "--workers", help="Local worker processes (default: number of cores; 1 = in "
            "this process).")] = None,
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="Run on a Dask cluster: scheduler ADDRESS "
            "(tcp://host:8786).")] = None,
        resume: Annotated[bool | None, typer.Option(
            "--resume/--no-resume", help="Default: resume when the folder holds this same "
            "spec. --resume: also reuse matching rows after a spec change. --no-resume: "
            "refuse an existing sweep.")] = None,
        force: Annotated[bool, typer.Option(
            "--force", help="Discard the folder's stored rows and start over.")] = False,
        retry_failed: Annotated[bool, typer.Option(
            "--retry-failed", help="Compute stored failed rows again.")] = False,
        no_plots: Annotated[bool, typer.Option("--no-plots", help="Skip the plots.")] =
        False,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] =
        False,
    ) -> None:
        """Fit every profile variant of SPEC on every body site and force: a resumable
        results table (Parquet + CSV) and plots in the sweep folder."""
        from .sweep import load_spec, run_sweep
        from .sweep.store import read_table

        sp = load_spec(spec)
        folder = out or Path("exports") / f"sweep-{sp.name}"
        try:
            with _Reporter(f"sweep {sp.name}") as rep:
                res = run_sweep(sp, folder, workers=_workers_option(workers),
                                scheduler=scheduler, resume=resume, force=force,
                                retry_failed=retry_failed, progress=rep, plots=not no_plots)
        except KeyboardInterrupt:
            raise _interrupted(folder) from None
        rows = read_table(res.tables["parquet"])
        if as_json:
            typer.echo(json.dumps(res.summary(), indent=1))
            return
        typer.echo(f"sweep {sp.name}: {res.rows} rows ({res.computed} computed, "
                   f"{res.reused} reused, {res.failed} failed) in {res.seconds:.1f} s, "
                   f"{res.executor}"
                   + (f" ({res.throughput_rows_per_s:.2f} rows/s)" if res.computed else ""))
        typer.echo(f"wrote {res.tables['parquet']} and {res.tables['csv'].name}"
                   + (f", {len(res.plots)} plots in {res.plots[0].parent}" if res.plots
                      else ""))
        reasons = Counter(r["reason"] for r in rows if r["status"] != "ok")
        for reason, n in reasons.most_common(5):
            typer.echo(f"  {n} failed: {reason}", err=True)

    @app.command("optimize")
    def optimize_cmd(
        spec: Annotated[Path, typer.Argument(help="Sweep spec (TOML) with continuous "
                                                  "parameters and [optimize].")],
        objective: Annotated[str | None, typer.Option(
            "--objective", help="peak | ppt | window | area | evenness (default: the "
            "spec's [optimize] objective).")] = None,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Folder (default exports/optimize-<name>).")] = None,
        workers: Annotated[int | None, typer.Option(
            "--workers", help="Local worker processes (default: number of cores).")] = None,
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="Run on a Dask cluster: scheduler ADDRESS.")] = None,
        resume: Annotated[bool | None, typer.Option(
            "--resume/--no-resume", help="As for iastm sweep.")] = None,
        force: Annotated[bool, typer.Option(
            "--force", help="Discard the folder's stored rows and start over.")] = False,
        formats: Annotated[str | None, typer.Option(
            "--formats", help="Bundle formats, comma-separated (default all).")] = None,
        no_bundle: Annotated[bool, typer.Option(
            "--no-bundle", help="Do not write the machining bundle.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] =
        False,
    ) -> None:
        """Optimise the continuous edge parameters of SPEC for a design objective over every
        body site and force; write the best profile and its machining bundle."""
        from .cli_tool import _table
        from .sweep import load_spec, optimize_design

        sp = load_spec(spec)
        fmts = None
        if formats:
            from .export import ExportOptions

            fmts = ExportOptions(formats=tuple(formats.split(","))).formats  # checks them
        folder = out or Path("exports") / f"optimize-{sp.name}"
        try:
            with _Reporter(f"optimize {sp.name}") as rep:
                res = optimize_design(sp, folder, objective=objective,
                                      workers=_workers_option(workers), scheduler=scheduler,
                                      resume=resume, force=force, progress=rep,
                                      bundle=not no_bundle, formats=fmts)
        except KeyboardInterrupt:
            raise _interrupted(folder) from None
        if as_json:
            typer.echo(json.dumps(json.loads(
                (folder / "optimize.json").read_text(encoding="utf-8")), indent=1))
            return
        s = res.best_score
        typer.echo(f"optimize {sp.name}: objective {res.objective} ({res.aggregate} over "
                   f"{sp.fit.n_targets} targets), {res.candidates} candidates "
                   f"({res.rows_computed} rows computed, {res.rows_reused} reused) in "
                   f"{res.seconds:.1f} s, {res.executor}")
        params = ", ".join(f"{k} = {_fmt(v)}" for k, v in res.best_parameters.items())
        state = "feasible" if s.feasible else (
            "NO candidate met the constraints; least infeasible" if s.objective is not None
            else "every candidate failed")
        value = f"{s.objective:.6g}" if s.objective is not None else "-"
        typer.echo(f"best: candidate {res.best_candidate} ({state}), objective {value}: "
                   f"{params}")
        rows = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                for r in res.per_target]
        typer.echo(_table(rows, _TARGET_COLUMNS))
        if res.profile_path:
            typer.echo(f"wrote {res.profile_path}")
        if res.bundle_dir:
            typer.echo(f"wrote {res.bundle_dir}/")
        if not s.feasible:
            typer.echo("warning: no feasible variant; no machining bundle written", err=True)

    @app.command("survey")
    def survey_cmd(
        profiles: Annotated[list[str] | None, typer.Argument(
            help="Profiles (library names or TOML paths); or --library.")] = None,
        library: Annotated[bool, typer.Option(
            "--library", help="Every profile of the library.")] = False,
        body: Annotated[str, typer.Option("--body", help="Built-in body name or scan file.")] =
        "default",
        sites: Annotated[str, typer.Option(
            "--sites", help="Comma-separated site names, or 'all'.")] = "all",
        forces: Annotated[str, typer.Option(
            "--forces", help="Comma-separated normal forces (N).")] = "5,8,12",
        objective: Annotated[str, typer.Option("--objective", help="area | peak | ppt")] =
        "area",
        full: Annotated[bool, typer.Option(
            "--full", help="The layered model instead of the fast preview (slow).")] = False,
        workers: Annotated[int | None, typer.Option(
            "--workers", help="Local worker processes (default: number of cores).")] = None,
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="Run on a Dask cluster: scheduler ADDRESS.")] = None,
        csv_out: Annotated[Path | None, typer.Option(
            "--csv", help="Write every row (tool x site x force) to this CSV file.")] = None,
        force: Annotated[bool, typer.Option("--force", help="Overwrite --csv.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print every row as JSON.")] =
        False,
    ) -> None:
        """Fit several tools (or the whole library) on many sites at several forces and
        rank them per site and force: the best tool and edge for each."""
        from .cli_tool import _table
        from .library import library_paths
        from .sweep.survey import run_survey

        names = list(profiles or [])
        if library:
            names += [str(p) for p in library_paths()]
        if not names:
            raise IastmError("survey: give profiles, or --library for every library tool")
        if csv_out is not None and csv_out.exists() and not force:
            raise IastmError(f"{csv_out}: exists; use --force to overwrite")
        try:
            force_list = [float(f) for f in forces.split(",") if f.strip()]
        except ValueError:
            raise IastmError(f"--forces: comma-separated numbers in N (got {forces!r})") from None
        site_list = None if sites.strip() == "all" else [
            s.strip() for s in sites.split(",") if s.strip()]
        with _Reporter("survey") as rep:
            out = run_survey(names, body, site_list, force_list, preview=not full,
                             objective=objective, workers=_workers_option(workers),
                             scheduler=scheduler, progress=rep)
        if csv_out is not None:
            from .fileio import write_text_atomic

            write_text_atomic(csv_out, _csv(out.rows), force=force)
        if as_json:
            typer.echo(json.dumps(out.rows, indent=1))
            return
        best = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                for r in out.best()]
        typer.echo(_table(best, [("site", "site"), ("force_n", "force N"), ("tool", "best tool"),
                                 *_TARGET_COLUMNS[3:-1]]))
        wins = Counter(r["tool"] for r in out.best())
        typer.echo("best at most targets: " + ", ".join(
            f"{t} ({n})" for t, n in wins.most_common(5)))
        typer.echo(f"survey: {len(out.rows)} fits ({out.failed} failed) in {out.seconds:.1f} s, "
                   f"{out.executor}")
        for r in out.rows:
            if r["status"] != "ok":
                typer.echo(f"  {r['tool']} on {r['site']} at {r['force_n']:g} N: "
                           f"{r['reason']}", err=True)
        if csv_out is not None:
            typer.echo(f"wrote {csv_out}")


def _csv(rows: list[dict[str, Any]]) -> str:
    """The survey rows as CSV text (columns in the rows' order)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()

"""Print the cost of the runtime large-deformation correction (table look-up).

Usage: python benchmarks/bench_large_deformation.py
"""

from __future__ import annotations

import time

import numpy as np

from iastm_tools.contact import large_deformation as ld


def main() -> None:
    t0 = time.perf_counter()
    ld.load_calibration()
    ld.correction("sphere", 0.5, 0.1)
    print(f"first call (load + validate table): {1e3 * (time.perf_counter() - t0):.2f} ms")
    rng = np.random.default_rng(0)
    queries = [(str(rng.choice(ld.SHAPES)), float(rng.uniform(0, 2)), float(rng.uniform(0, 1)))
               for _ in range(20000)]
    t0 = time.perf_counter()
    n_none = sum(ld.correction(*q) is None for q in queries)
    dt = time.perf_counter() - t0
    print(f"correction(): {1e6 * dt / len(queries):.1f} us per call over {len(queries)} random "
          f"queries ({n_none} outside the calibrated range -> None)")


if __name__ == "__main__":
    main()

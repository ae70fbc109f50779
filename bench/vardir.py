"""The benchmarks' own folders for embedded servers: never the development var/, and only
ever wiped when a benchmark made them (a marker file says which)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def prepare_var_dir(var_dir: Path, *, marker: str, made_by: str, reuse: bool = False) -> None:
    """Start from empty servers: stop and wipe a folder this benchmark made earlier, or (reuse)
    keep it as it is."""
    from fraudcase import embedded

    if var_dir.resolve() == (BASE_DIR / "var").resolve():
        sys.exit(f"refusing to use the development var dir {var_dir} for the benchmark")
    if var_dir.exists() and any(var_dir.iterdir()):
        if not (var_dir / marker).exists():
            sys.exit(f"{var_dir} holds something this benchmark did not make; pick another")
        if reuse:
            return
        embedded.stop_all(var_dir)
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / marker).write_text(f"made by {made_by}; its next run wipes it (unless --reuse)\n")

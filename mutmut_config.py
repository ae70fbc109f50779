"""mutmut 2 hooks for the by-hand mutation runs described in docs/testing.md (not CI: slow).

Each mutated file is checked by the tests of its own area (TESTS), not the whole suite, and
MUTMUT_SAMPLE (0 to 1, default 1) checks a fixed share of the mutants: a mutant is in the sample
by a hash of its file, line and index, so a rerun checks the same ones. MUTMUT_PYTEST is how
pytest is started (in a git worktree: the wrapper that keeps imports in the worktree);
MUTMUT_TESTS replaces the test files of TESTS (to try a survivor against other tests).
"""

from __future__ import annotations

import hashlib
import os

TESTS = {
    "cases/audit/trail.py": "cases/tests/test_audit.py",
    "cases/ingest/validation.py": "cases/tests/test_validation.py cases/tests/test_contract_edges.py",
    "cases/ingest/contract.py": "cases/tests/test_validation.py cases/tests/test_contract_edges.py",
    "cases/workflow/services/": (
        "cases/tests/test_workflow.py cases/tests/test_claim_next_locks.py "
        "cases/tests/test_service_audit_events.py -k 'not test_the_events_roll_back'"
    ),
}
PYTEST = os.environ.get("MUTMUT_PYTEST", "python -m pytest")


def in_sample(filename: str, line: str, index: int, share: float) -> bool:
    digest = hashlib.sha256(f"{filename}\0{line.strip()}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def pre_mutation(context) -> None:
    share = float(os.environ.get("MUTMUT_SAMPLE", "1"))
    mutant = context.mutation_id
    if not in_sample(context.filename, mutant.line, mutant.index, share):
        context.skip = True
        return
    tests = os.environ.get("MUTMUT_TESTS") or next(
        (tests for prefix, tests in TESTS.items() if context.filename.startswith(prefix)), None
    )
    if tests is None:
        raise RuntimeError(f"no tests named for {context.filename} in mutmut_config.TESTS")
    context.config.test_command = f"{PYTEST} -x -q --reuse-db -p no:cacheprovider {tests}"

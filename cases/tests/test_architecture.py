"""The shape of the code, so it cannot rot: no import circles, writes and reads in their
layers, background work queued by name, modules small enough to read in one go.

Counted from the code's own imports (grimp), the way `farm-studio look` draws them.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cases", "analytics", "fraudcase")
# Tests, migrations, the demo generator and commands may reach anywhere; they are not the house.
OUTSIDE = (".tests", ".migrations", ".management", ".demo")
LONGEST_MODULE = 410  # lines: "about 400", past which a module becomes a package
# Configuration, one entry per variable: splitting it would hide where a variable is read.
LONG_BY_NATURE = {"fraudcase/settings.py"}
# Celery's retry_backoff_max when a task with retry_backoff sets none.
CELERY_DEFAULT_BACKOFF_MAX = 600


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES)


def house(graph) -> set[str]:
    return {m for m in graph.modules if not any(part in f".{m}" for part in OUTSIDE)}


def imports_of(graph, module: str) -> set[str]:
    return graph.find_modules_directly_imported_by(module)


def is_layer(module: str, layer: str) -> bool:
    """cases.labels.services, cases.labels.services.export, cases.workflow.services..."""
    parts = module.split(".")
    return layer in parts[1:]


def test_no_import_circles(graph):
    """Tarjan's strongly connected components over the house's direct imports: each alone."""
    modules = house(graph)
    index, low, on_stack, stack, circles = {}, {}, set(), [], []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports_of(graph, module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    assert circles == []


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("services", ("views", "actions", "urls", "tasks", "api", "admin")),
        ("selectors", ("services", "views", "actions", "urls", "tasks", "api", "admin")),
        ("models", ("services", "selectors", "views", "actions", "tasks", "api", "admin")),
    ],
)
def test_layers_import_only_downwards(graph, layer, forbidden):
    """Services write and queue work by name (cases.dispatch); selectors read and never write."""
    wrong = sorted(
        f"{module} -> {imported}"
        for module in house(graph)
        if is_layer(module, layer)
        for imported in imports_of(graph, module)
        if any(is_layer(imported, name) for name in forbidden)
        and not is_layer(imported, "models")  # a feature's models (cases.api.models) are data
        and imported.startswith(PACKAGES)
    )
    assert wrong == []


def test_no_module_is_too_long_to_read_in_one_go():
    long = sorted(
        f"{path.relative_to(ROOT)}: {lines} lines"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if not any(part in path.parts for part in ("tests", "migrations"))
        and str(path.relative_to(ROOT)) not in LONG_BY_NATURE
        and (lines := len(path.read_text().splitlines())) > LONGEST_MODULE
    )
    assert long == []


def test_the_problem_page_is_rendered_in_one_place():
    renders = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "tests" not in path.parts and "cases/case/problem.html" in path.read_text()
    )
    assert renders == ["cases/http.py"]


def test_no_template_tag_library_reads_the_database():
    """Pages get their data from views; a template tag that queries hides a read (and its
    permission) from them. No app of ours defines template tags at all."""
    assert not [path for package in PACKAGES for path in (ROOT / package).rglob("templatetags")]


# Celery's Django fixup runs the system checks when it imports the task modules, and one
# of them (fraudcase.E001) reads the embedding column's size from the database.
@pytest.mark.django_db
def test_every_task_services_queue_by_name_is_registered():
    from cases import dispatch
    from fraudcase.celery import app

    app.loader.import_default_modules()
    assert set(dispatch.TASK_NAMES) <= set(app.tasks), set(dispatch.TASK_NAMES) - set(app.tasks)
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} <= set(app.tasks)


# Celery's Django fixup runs the system checks when it imports the task modules, and one
# of them (fraudcase.E001) reads the embedding column's size from the database.
@pytest.mark.django_db
def test_no_task_outlives_the_brokers_visibility_timeout():
    """Redis hands a task still unacknowledged after the visibility timeout to a second
    worker, whether or not the first is still at it: every task's hard time limit, and every
    retry delay, must end before it (docs/architecture.md, "Time limits")."""
    from django.conf import settings

    from cases.ingest.tasks import ingest_object
    from fraudcase.celery import app, tasks_outliving_visibility

    app.loader.import_default_modules()
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    limits = {name: task.time_limit or app.conf.task_time_limit for name, task in ours.items()}
    assert len(ours) >= 10
    assert {name: limit for name, limit in limits.items() if not limit or limit >= timeout} == {}
    backoffs = {
        name: getattr(task, "retry_backoff_max", CELERY_DEFAULT_BACKOFF_MAX)
        for name, task in ours.items()
        if getattr(task, "retry_backoff", False)
    }
    assert {name: delay for name, delay in backoffs.items() if delay >= timeout} == {}
    # A redelivered ingest task waits for the dead holder's lease at most this long.
    assert timeout > settings.FRAUDCASE_INGEST_STALE_SECONDS + 1
    assert ingest_object.name in limits
    assert tasks_outliving_visibility(app) == []


@pytest.mark.django_db
def test_the_models_match_the_migrations():
    """Models moved between modules keep their tables: no migration is missing."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:  # --check exits 1 when a migration would be made
        pytest.fail(f"models and migrations disagree (exit {exit_.code}):\n{out.getvalue()}")

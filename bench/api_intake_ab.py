"""A/B of API intake: another version of the code against this one, on the same embedded
servers, in alternating rounds, so both see the same machine load (by hand, not in tests).

    git archive <commit> | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    AB_ROUNDS=3 AB_SINGLES=60 AB_BATCHES=3 python bench/api_intake_ab.py /tmp/base

Each round runs each version in a child process of its own (its code first on sys.path):
AB_SINGLES single flags and AB_BATCHES 1,000-row batches POSTed to /api/v1/flags/ in-process
(DRF's test client, token auth), as bench/api_intake.py does, with fresh ids. It prints per
version and round: single p50/p95 wall ms and CPU ms per POST of the web process and of its
PostgreSQL backend; per batch the median wall, web CPU and backend CPU ms. CPU per request
is the figure to compare on a shared machine. Servers under var/bench-ab, wiped at the start.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

WT = Path(__file__).resolve().parent.parent
BASE = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 and sys.argv[1] != "child" else None


def child() -> None:
    root, tag, singles, batches = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    sys.path.insert(0, str(root / "bench"))
    sys.path.insert(0, str(root))
    import django

    django.setup()
    import statistics

    import psutil
    from api_clients import percentile
    from api_intake import json_lines, post
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from ingest import RowFactory
    from rest_framework.test import APIClient

    from cases.accounts.tokens import api_token_create

    users = get_user_model().objects
    admin = users.create_user(f"adm-{tag}", password="a-long-bench-password")
    admin.groups.add(Group.objects.get(name="admin"))
    bot = users.create_user(f"bot-{tag}", password="a-long-bench-password")
    bot.groups.add(Group.objects.get(name="service"))
    issued = api_token_create(
        actor=users.get(pk=admin.pk), user_id=bot.pk, name="ab", scope="write"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plain}")
    factory = RowFactory(total_rows=15000)
    for line in json_lines(factory.part(0, 10, f"w{tag}")):
        post(client, line)
    with connection.cursor() as c:
        c.execute("select pg_backend_pid()")
        backend = psutil.Process(c.fetchone()[0])

    def db_cpu():
        t = backend.cpu_times()
        return t.user + t.system

    out = {}
    lines = json_lines(factory.part(10, singles, f"s{tag}"))
    wall, cpu0, db0 = [], time.process_time(), db_cpu()
    for line in lines:
        s, _ = post(client, line)
        wall.append(s * 1000)
    out["single"] = dict(
        p50=percentile(wall, 0.5),
        p95=percentile(wall, 0.95),
        cpu=(time.process_time() - cpu0) * 1000 / singles,
        db=(db_cpu() - db0) * 1000 / singles,
    )
    bw, bc, bd = [], [], []
    for n in range(batches):
        rows = factory.part(1000 + n * 1000, 1000, f"b{tag}")
        body = b"[" + b",".join(json_lines(rows)) + b"]"
        c0, d0 = time.process_time(), db_cpu()
        s, r = post(client, body)
        bw.append(s * 1000)
        bc.append((time.process_time() - c0) * 1000)
        bd.append((db_cpu() - d0) * 1000)
        assert r["totals"]["rows_loaded"] == 1000
    out["batch"] = dict(
        wall=statistics.median(bw), cpu=statistics.median(bc), db=statistics.median(bd)
    )
    print("RESULT " + json.dumps(out))


def main() -> None:
    sys.path.insert(0, str(WT / "bench"))
    sys.path.insert(0, str(WT))
    from vardir import prepare_var_dir, use_own_servers

    var = WT / "var" / "bench-ab"
    prepare_var_dir(var, marker=".ab", made_by="ab")
    use_own_servers(var)
    os.environ["FRAUDCASE_API_RATE_PER_TOKEN"] = "10000000/minute"
    os.environ["FRAUDCASE_API_RATE_PER_IP"] = "10000000/minute"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from fraudcase import embedded

    try:
        call_command("migrate", verbosity=0)
        from cases.models import Queue

        Queue.objects.create(name="General", is_default=True)
        connections.close_all()
        rounds = int(os.environ.get("AB_ROUNDS", "3"))
        for r in range(rounds):
            for name, root in (("base", BASE), ("branch", WT)):
                load = os.getloadavg()[0]
                env = dict(os.environ, PYTHONPATH=str(root))
                p = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "child",
                        str(root),
                        ("x" if name == "base" else "y") + str(r),
                        os.environ.get("AB_SINGLES", "60"),
                        os.environ.get("AB_BATCHES", "2"),
                    ],
                    env=env,
                    cwd=root,
                    capture_output=True,
                    text=True,
                )
                res = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
                if not res:
                    print(name, "FAILED", p.stderr[-3000:])
                    continue
                print(f"round {r} {name} load {load:.1f} {res[0][7:]}", flush=True)
    finally:
        connections.close_all()
        embedded.stop_all(var)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child()
    else:
        main()

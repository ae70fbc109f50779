"""Other cases sharing a pivot (account, source IP, device) with a case."""

from django.db.models import Q

from cases.models import Case, CaseStatus, Transaction


def related_cases(case: Case, *, limit: int = 50) -> list[dict]:
    """Other cases sharing a pivot with this one: the same account, source IP or device.

    Each entry: the case and the pivots it shares (e.g. {"source_ip": ["81.2.69.1"]}),
    most shared pivots first, then highest priority. Merged cases are left out.
    """
    mine = Transaction.objects.filter(case=case)
    ips = set(mine.exclude(source_ip=None).values_list("source_ip", flat=True))
    devices = set(mine.exclude(device_id="").values_list("device_id", flat=True))
    shared: dict[int, dict[str, set[str]]] = {}
    pivots = (
        ("source_ip", Q(source_ip__in=ips), ips),
        ("device_id", Q(device_id__in=devices), devices),
        ("account_id", Q(account_id=case.account_id), {case.account_id}),
    )
    for pivot, condition, values in pivots:
        if not values:
            continue
        rows = (
            Transaction.objects.filter(condition)
            .exclude(case=case)
            .exclude(case__status=CaseStatus.MERGED)
            .values_list("case_id", pivot)
            .distinct()[: limit * 20]
        )
        for case_id, value in rows:
            shared.setdefault(case_id, {}).setdefault(pivot, set()).add(str(value))
    cases = Case.objects.in_bulk(list(shared))
    ranked = sorted(
        shared.items(),
        key=lambda item: (
            -sum(len(v) for v in item[1].values()),
            -cases[item[0]].priority,
            item[0],
        ),
    )
    return [
        {
            "case": cases[case_id],
            "shared": {pivot: sorted(values) for pivot, values in pivots_.items()},
        }
        for case_id, pivots_ in ranked[:limit]
    ]

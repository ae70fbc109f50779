"""Streaming: peak memory of an ingest does not grow with the file (checked, not timed)."""

import subprocess
import sys

import pytest

from cases.fileformats import encode_rows
from cases.models import IngestRun, Transaction
from conftest import BASE_DIR, contract_row, put_file, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# VmHWM, not ru_maxrss: on Linux ru_maxrss can carry the parent's (pytest's) peak across
# fork/exec, which would make both measurements equal and the test unable to fail.
MEASURE = """
import re, sys, django
django.setup()
from django.core.management import call_command
call_command("ingest", sys.argv[1], "--no-progress")
status = open("/proc/self/status").read()
print("PEAK_KB", re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
"""


def peak_rss_kb_of_ingest(uri: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, uri],
        cwd=BASE_DIR, env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.split("PEAK_KB")[1].split()[0])


def test_a_100k_row_file_ingests_with_the_memory_of_a_10k_one(s3, bucket):
    small = [contract_row(i, embedding=...) for i in range(10_000)]
    put_file(s3, bucket, "small/part.csv.gz", encode_rows(small, "csv.gz"))
    large = [contract_row(i, embedding=...) for i in range(10_000, 110_000)]
    put_file(s3, bucket, "large/part.csv.gz", encode_rows(large, "csv.gz"))
    del small, large

    small_peak = peak_rss_kb_of_ingest(f"s3://{bucket}/small/")
    large_peak = peak_rss_kb_of_ingest(f"s3://{bucket}/large/")

    assert Transaction.objects.count() == 110_000
    assert IngestRun.objects.get(key="large/part.csv.gz").rows_loaded == 100_000
    # Ten times the rows may cost a little more (allocator arenas), never ten times the memory.
    assert large_peak - small_peak < 40 * 1024, (small_peak, large_peak)

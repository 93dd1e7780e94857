"""The long tail's pure parts (bench/longtail.py): the Zipf sampler lua/longtail.lua mirrors,
the spread of ranks over creators, handles derivable from a number, the flags, and the
memory readings from /proc."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from dataclasses import replace

import pytest

from bench.dataset import build_dataset, handle_of, iter_creators
from bench.longtail import (
    ZipfSampler,
    best_hit_ratio,
    coprime_stride,
    creator_of_rank,
    expected_top_share,
    harmonic,
    page_cache_entry_bytes,
    process_tree,
    rss_mb,
)
from bench.run import parse_args


@pytest.mark.parametrize("s", [1.0, 1.1])
def test_the_sampler_draws_ranks_as_often_as_zipf_says(s):
    n, draws = 1000, 200_000
    sampler = ZipfSampler(n, s, random.Random(1))
    counts = Counter(sampler.rank() for _ in range(draws))
    assert min(counts) >= 1 and max(counts) <= n
    total = harmonic(n, s)
    for rank in (1, 2, 3, 10, 100):
        expected = draws * rank**-s / total
        # A binomial count: within 5 standard deviations of its mean, whatever the seed.
        assert abs(counts[rank] - expected) < 5 * expected**0.5 + 1, rank
    tail = sum(c for k, c in counts.items() if k > 500)
    expected_tail = draws * (total - harmonic(500, s)) / total
    assert abs(tail - expected_tail) < 5 * expected_tail**0.5


def test_the_expected_shares_are_the_harmonic_numbers_ratios():
    assert harmonic(1_000_000, 1.0) == pytest.approx(14.392727, abs=1e-5)
    assert expected_top_share(1_000_000, 1.0) == pytest.approx(1 / 14.392727, rel=1e-6)
    # A cache of 10,000 pages over a million at s = 1: about two thirds of the requests.
    assert best_hit_ratio(1_000_000, 1.0, 10_000) == pytest.approx(0.680, abs=0.001)
    assert best_hit_ratio(100, 1.0, 10_000) == 1.0


@pytest.mark.parametrize("n", [1000, 20_000, 1_000_000])
def test_ranks_are_spread_over_every_creator_once(n):
    stride = coprime_stride(n)
    assert 1 < stride < n
    if n <= 20_000:
        assert sorted(creator_of_rank(k, n, stride) for k in range(1, n + 1)) == list(
            range(1, n + 1)
        )
    # The most popular pages are not the first creators.
    assert [creator_of_rank(k, n, stride) for k in (1, 2, 3)][1:] != [2, 3]


def test_a_handle_is_derived_from_its_creators_number_alone():
    data = build_dataset(
        random.Random(6),
        creators=90,
        links_per_creator=12,
        completed_unlocks=5,
        pending_unlocks=5,
        fee_for=lambda cents: max(50, cents // 10),
    )
    assert [c.handle for c in data.creators] == [handle_of(n) for n in range(1, 91)]
    # What lua/longtail.lua builds from the number: FIRST[n % 30] "." TOPIC[(n // 30) % 15] n
    assert [handle_of(n) for n in (1, 30, 1_000_000)] == [
        "ava.cooks1",
        "maya.draws30",
        "amir.lifts1000000",
    ]
    streamed = list(iter_creators(random.Random(6), creators=90, links_per_creator=12))
    assert [c for c, _ in streamed] == data.creators

    def undated(link):  # the schedules are relative to the moment each set was built
        return replace(link, starts_at=link.starts_at is None, ends_at=link.ends_at is None)

    assert [undated(k) for _, links in streamed for k in links] == list(map(undated, data.links))


def test_the_long_tail_flags_change_only_the_long_tail_run():
    default = parse_args([])
    assert not default.long_tail and default.creators == 1000
    tail = parse_args(["--long-tail"])
    assert tail.long_tail and tail.creators == 1_000_000
    assert tail.mix_duration == 300 and tail.zipf_exponent == 1.0 and not tail.keep_data
    smaller = parse_args(["--long-tail", "--creators", "5000", "--mix-duration", "20"])
    assert smaller.creators == 5000 and smaller.mix_duration == 20


def test_a_process_tree_and_its_resident_memory_come_from_proc():
    # A child that starts a grandchild; the grandchild says "ready" once its interpreter is
    # loaded (a process counted before then may still be a bare fork or exec with almost no
    # resident memory), and both wait for the child's stdin to close.
    child = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import sys; print(\\'ready\\', flush=True); sys.stdin.read()'], stdin=sys.stdin)",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout.readline() == b"ready\n"
        tree = process_tree(child.pid)
        assert tree[0] == child.pid and len(tree) == 2
        assert all((rss_mb(pid) or 0) > 1 for pid in tree)
    finally:
        child.communicate(b"")
    assert rss_mb(child.pid) is None


def test_a_page_cache_entry_holds_the_page_and_its_compressed_variants():
    rng = random.Random(3)
    pages = [
        (
            "<!doctype html><title>x</title>"
            + "".join(
                f"<a href='https://example.com/{rng.random()}'>link {i}</a>" for i in range(40)
            )
        ).encode()
        for _ in range(20)
    ]
    size, counted = page_cache_entry_bytes(pages)
    body = sum(map(len, pages)) / len(pages)
    assert body < counted < size < 3 * body

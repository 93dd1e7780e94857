"""The page cache's byte budget (app/profiles/cache.py): what bounds a process's memory is
the bytes its pages keep, not their number."""

from __future__ import annotations

import os

from app.profiles.cache import PageCache


def live_cache(**kwargs) -> PageCache:
    cache = PageCache(**kwargs)
    cache.set_live(True)
    return cache


def page(cache: PageCache, creator_id: int, size: int) -> None:
    body = os.urandom(size)  # incompressible: kept as identity only, `size` bytes
    cache.put(f"h{creator_id}", cache.page(creator_id, body, None), cache.generation)


def test_pages_beyond_the_byte_budget_push_out_the_least_recently_used():
    cache = live_cache(max_entries=100, max_bytes=10_000)
    for n in range(1, 5):
        page(cache, n, 3_000)
    assert len(cache) == 3 and cache.bytes == 9_000  # the fourth pushed out the first
    assert cache.get("h1") is None and cache.get("h2") is not None
    page(cache, 5, 3_000)  # h2 was just used: h3 goes
    assert cache.get("h3") is None and cache.get("h2") is not None
    assert cache.bytes <= cache.max_bytes


def test_the_bytes_follow_replacements_invalidations_and_clearing():
    cache = live_cache(max_entries=100, max_bytes=100_000)
    page(cache, 1, 1_000)
    page(cache, 1, 2_500)  # the same handle, rendered again
    page(cache, 2, 4_000)
    assert len(cache) == 2 and cache.bytes == 6_500
    cache.invalidate("2")
    assert cache.bytes == 2_500
    cache.invalidate("*")
    assert cache.bytes == 0 and len(cache) == 0


def test_a_page_larger_than_the_budget_is_still_kept_alone():
    cache = live_cache(max_bytes=1_000)
    page(cache, 1, 500)
    page(cache, 2, 5_000)
    assert len(cache) == 1 and cache.get("h2") is not None


def test_compressed_copies_count_towards_the_budget_once_asked_for():
    cache = live_cache()
    body = b"<li><a href='https://example.com/x'>a link</a></li>" * 200
    cache.put("a", cache.page(1, body, None), cache.generation)
    entry = cache.get("a")
    assert entry is not None and set(entry.variants) == {"identity"}  # none asked for yet
    assert cache.bytes == len(body)
    br = cache.variant(entry, "gzip, br")
    assert br.coding == "br" and set(entry.variants) == {"identity", "br"}
    assert cache.variant(entry, "br") is br  # made once
    cache.variant(entry, "gzip")
    assert cache.bytes == sum(len(v.body) for v in entry.variants.values()) > len(body)


def test_a_coding_that_saves_nothing_is_answered_with_the_identity_and_not_counted_twice():
    cache = live_cache()
    body = os.urandom(2_000)
    cache.put("a", cache.page(1, body, None), cache.generation)
    entry = cache.get("a")
    assert cache.variant(entry, "br").coding == "identity"
    assert cache.bytes == 2_000


def test_a_compressed_copy_made_later_can_push_out_the_least_recently_used():
    cache = live_cache(max_entries=100, max_bytes=10_000)
    page(cache, 1, 6_000)
    body = os.urandom(1_800).hex().encode()  # 3,600 bytes that brotli halves
    cache.put("a", cache.page(2, body, None), cache.generation)
    assert len(cache) == 2
    cache.variant(cache.get("a"), "br")  # 6,000 + 3,600 + its brotli copy > 10,000
    assert cache.get("h1") is None and cache.get("a") is not None
    assert cache.bytes == 3_600 + len(cache.get("a").variants["br"].body)


def test_a_copy_made_for_a_page_no_longer_held_is_not_counted():
    cache = live_cache()
    body = b"<p>a paragraph of a page</p>" * 130
    entry = cache.page(1, body, None)
    cache.put("a", entry, cache.generation)
    cache.invalidate("1")
    assert cache.bytes == 0
    cache.variant(entry, "br")  # a request that had it in hand still gets it compressed
    assert cache.bytes == 0

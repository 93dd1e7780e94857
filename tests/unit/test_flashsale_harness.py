"""The flash-sale harness's own HTTP client reads answers as HTTP/1.1 frames them."""

from __future__ import annotations

import asyncio

from bench.flashsale import _quantile, _read_answer


async def answer_of(raw: bytes):
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    return await _read_answer(reader, await reader.readline())


async def test_an_answer_with_a_length_is_read_to_its_end_and_no_further():
    answer = await answer_of(
        b"HTTP/1.1 286 OK\r\nContent-Length: 5\r\nHX-Redirect: /x\r\n\r\nhelloHTTP/1.1 ..."
    )
    assert (answer.status, answer.body, answer.headers["hx-redirect"]) == (286, b"hello", "/x")


async def test_a_chunked_answer_is_put_together():
    answer = await answer_of(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n6;ext=1\r\npedia!\r\n0\r\n\r\n"
    )
    assert (answer.status, answer.body) == (200, b"Wikipedia!")


async def test_an_answer_without_a_body_is_empty():
    answer = await answer_of(b"HTTP/1.1 204 No Content\r\nCache-Control: private\r\n\r\n")
    assert (answer.status, answer.body) == (204, b"")


def test_quantiles_of_the_waits():
    waits = [float(n) for n in range(1, 101)]
    assert (_quantile(waits, 0.5), _quantile(waits, 0.99), _quantile([], 0.5)) == (
        51.0,
        100.0,
        None,
    )

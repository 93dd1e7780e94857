"""Reading back the modules of the QR codes the studio serves, without any QR library: the
SVG's path and the PNG's pixels, as a grid of booleans (True: dark) with the quiet zone."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"


def svg_modules(svg: bytes) -> list[list[bool]]:
    """segno's SVG: a light square over the whole code, then one path of horizontal runs
    ("M4 4.5h7m1 0h1…": move, draw n modules, move on) stroked dark, in module units."""
    root = ET.fromstring(svg)
    background, runs = root.iter(f"{SVG}path")
    size = int(re.fullmatch(r"M0 0h(\d+)v\1h-\1z", background.get("d", ""))[1])
    assert background.get("fill") == "#fff" and runs.get("stroke") == "#000"
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", runs.get("d", "")):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            for column in range(int(x), int(x) + int(a)):
                grid[int(y)][column] = True
            x += int(a)
    return grid


def png_modules(png: bytes, scale: int) -> list[list[bool]]:
    """A 1-bit greyscale PNG (what segno writes), sampled at the centre of each module."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, header = 8, b"", b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert (depth, colour) == (1, 0), "expected 1-bit greyscale"
    stride = (width + 7) // 8
    raw = zlib.decompress(chunks)
    rows, previous = [], bytes(stride)
    for r in range(height):
        line = raw[r * (stride + 1) : (r + 1) * (stride + 1)]
        method, data = line[0], bytearray(line[1:])
        if method == 2:  # "up": each byte is added to the one above
            data = bytearray((d + p) & 0xFF for d, p in zip(data, previous, strict=True))
        else:
            assert method == 0, f"unhandled PNG filter {method}"
        rows.append(bytes(data))
        previous = bytes(data)

    def dark(x: int, y: int) -> bool:
        return not rows[y][x // 8] >> (7 - x % 8) & 1  # 0 is black

    size = width // scale
    assert width == height == size * scale
    return [
        [dark(c * scale + scale // 2, r * scale + scale // 2) for c in range(size)]
        for r in range(size)
    ]

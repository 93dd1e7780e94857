"""Static text assets, kept compressed: CSS, JavaScript and SVG under static/.

Pages link every asset with a content fingerprint (`asset()`, app/web/templating.py), and
the static files router sends them with a one-year cache. The text ones shrink three- to
fourfold compressed (the payout island bundle: 234 kB, 62 kB as brotli), so they are read
into memory when the app is built and compressed once, at brotli's best quality, by a
thread started with the app: about a second of CPU, mostly that bundle, and brotli and zlib
let go of the GIL meanwhile, so the app serves from the start (identity until the variants
are ready).

`StaticAssets.middleware` sits on the static files router and answers those files itself,
the variant the request accepts (app/web/compression.py), each with its own strong ETag and
`Vary: Accept-Encoding`, 304 to a matching If-None-Match, HEAD without the body. Anything
else under static/ (an image, a file added after start-up) goes on to the router as before.
"""

from __future__ import annotations

import mimetypes
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from litestar import Litestar
from litestar.types import ASGIApp, Receive, Scope, Send

from app.web.compression import BEST_BROTLI_QUALITY, IDENTITY, Encoded, etag_of, negotiate, variants
from app.web.fastlane import send_whole

TEXT_TYPES = {
    "text/css",
    "text/javascript",
    "application/javascript",
    "image/svg+xml",
}

# What pages link to, by extension; everything else under static/ (the payout island's
# package.json, lock file, build script and sources, the vendoring script and its hash list,
# the package marker) is part of the build, not of the site, and answers 404.
SERVED_SUFFIXES = frozenset({".css", ".js", ".svg", ".png", ".ico", ".webp", ".woff2"})
BUILD_FOLDERS = frozenset({"src", "node_modules"})


def servable(name: str) -> bool:
    """Whether the file at `name` (relative to static/, POSIX) is one the site serves."""
    folders, _, file = name.rpartition("/")
    if BUILD_FOLDERS.intersection(folders.split("/")) or file.startswith("."):
        return False
    return Path(file).suffix.lower() in SERVED_SUFFIXES


# Compressed variants by the identity's ETag, shared by every app built in this process; one
# thread compresses at a time, so apps started together (a test client per test) wait for the
# first one's work instead of repeating it.
_compressed: dict[str, dict[str, Encoded]] = {}
_compressing = threading.Lock()


@dataclass(slots=True)
class Asset:
    content_type: str
    variants: dict[str, Encoded]  # identity, then gzip and br once compressed


class StaticAssets:
    def __init__(self, directory: Path, prefix: str, cache_control: str) -> None:
        """The text assets under `directory`, served below `prefix` (the router's path with
        a trailing slash) with this Cache-Control."""
        self.prefix = prefix
        self.cache_control = cache_control.encode()
        self.files: dict[str, Asset] = {}
        for path in _files(directory):
            name = path.relative_to(directory).as_posix()
            media_type = mimetypes.guess_type(name)[0]
            if media_type not in TEXT_TYPES or not servable(name):
                continue
            body = path.read_bytes()
            identity = Encoded(IDENTITY, body, etag_of(body))
            if media_type.startswith("text/"):
                media_type += "; charset=utf-8"
            self.files[name] = Asset(
                media_type, _compressed.get(identity.etag, {IDENTITY: identity})
            )

    def compress(self) -> None:
        with _compressing:
            for asset in self.files.values():
                identity = asset.variants[IDENTITY]
                if identity.etag not in _compressed:
                    _compressed[identity.etag] = variants(
                        identity.body, brotli_quality=BEST_BROTLI_QUALITY, etag=identity.etag
                    )
                asset.variants = _compressed[identity.etag]

    def lifespan(self) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
        @asynccontextmanager
        async def compressing(_app: Litestar) -> AsyncIterator[None]:
            threading.Thread(target=self.compress, name="compress-assets", daemon=True).start()
            yield

        return compressing

    def middleware(self) -> Callable[[ASGIApp], ASGIApp]:
        """For the static files router: its text assets answered from memory, the rest by
        the router. A function, not a bound method: Litestar deep-copies a router when it is
        registered, and a copied bound method would carry a copy of these assets, one the
        compressing thread never fills."""

        def answering(app: ASGIApp) -> ASGIApp:
            return partial(self._answer, app)

        return answering

    async def _answer(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method = scope.get("method")  # (an HTTP scope's; this router takes no WebSocket)
        asset = None
        if path.startswith(self.prefix):
            name = path.removeprefix(self.prefix)
            if not servable(name):
                await _not_found(send)
                return
            if method in ("GET", "HEAD"):
                asset = self.files.get(name)
        if asset is None:
            await app(scope, receive, send)
            return
        status, head, body = self.response(asset, dict(scope["headers"]))
        await send_whole(send, status, head, b"" if method == "HEAD" else body)

    def response(
        self, asset: Asset, request: dict[bytes, bytes]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        accept = request.get(b"accept-encoding", b"").decode("latin-1")
        variant = asset.variants[negotiate(accept, asset.variants)]
        head = [
            (b"cache-control", self.cache_control),
            (b"etag", variant.etag.encode()),
            (b"vary", b"accept-encoding"),
        ]
        if variant.matches(request.get(b"if-none-match", b"").decode("latin-1")):
            return 304, head, b""
        head += [
            (b"content-type", asset.content_type.encode()),
            (b"content-length", str(len(variant.body)).encode()),
        ]
        if variant.coding != IDENTITY:
            head.append((b"content-encoding", variant.coding.encode()))
        return 200, head, variant.body


async def _not_found(send: Send) -> None:
    body = b"Not Found"
    head = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"9")]
    await send_whole(send, 404, head, body)


def _files(directory: Path) -> Iterator[Path]:
    """Every file below `directory`, but not in an npm install (the payout island's build)."""
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = [name for name in subfolders if name != "node_modules"]
        yield from (Path(folder, name) for name in names)

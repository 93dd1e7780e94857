"""Public page weight: the HTML plus every same-origin asset it makes the browser load.

Counted: stylesheets, icons, preloads, scripts, images, frames, and what same-origin
stylesheets pull in (`@import`, `url(...)`). Not counted: navigation links (`<a href>`,
`rel=canonical`) and metadata (`og:image` is for crawlers). A resource on another origin is
a third-party request and is listed; the target page has none.

Sizes are gzip bytes: what the server sent when it compressed, otherwise the body gzipped at
level 6 (what a reverse proxy in front would send); each part says which (`sent_gzip`).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

LOADING_RELS = {
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "preload",
    "modulepreload",
    "manifest",
    "mask-icon",
}
CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)([^'")\s]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""")


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (kind, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if rels & LOADING_RELS and a.get("href"):
                kind = "stylesheet" if "stylesheet" in rels else sorted(rels & LOADING_RELS)[0]
                self.found.append((kind, a["href"]))
        elif tag == "script" and a.get("src"):
            self.found.append(("script", a["src"]))
        elif tag in ("img", "iframe", "embed", "video", "audio", "source") and a.get("src"):
            self.found.append((tag, a["src"]))
        if tag in ("img", "source") and a.get("srcset"):
            for candidate in a["srcset"].split(","):
                if candidate.strip():
                    self.found.append((tag, candidate.strip().split()[0]))


def html_resources(html: str, page_url: str) -> list[tuple[str, str]]:
    """(kind, absolute URL) of everything the page loads, in document order, once each."""
    parser = _Resources()
    parser.feed(html)
    seen: set[str] = set()
    out = []
    for kind, url in parser.found:
        absolute = urljoin(page_url, url)
        if absolute not in seen:
            seen.add(absolute)
            out.append((kind, absolute))
    return out


def css_resources(css: str, css_url: str) -> list[str]:
    out = []
    for match in CSS_URL_RE.finditer(css):
        url = match.group(2) or match.group(4)
        if url and not url.startswith("data:"):
            out.append(urljoin(css_url, url))
    return out


def same_origin(url: str, origin: str) -> bool:
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


@dataclass(slots=True)
class PageWeight:
    url: str
    items: list[dict] = field(default_factory=list)  # url, kind, raw, gzip, status
    third_party: list[str] = field(default_factory=list)
    server_compresses: bool = False

    @property
    def total_gzip(self) -> int:
        return sum(item["gzip"] for item in self.items)

    @property
    def htmx_loaded(self) -> bool:
        return any(item["kind"] == "script" and "htmx" in item["url"] for item in self.items)

    def as_dict(self) -> dict:
        return {
            "url": self.url,
            "total_gzip_bytes": self.total_gzip,
            "requests": len(self.items),
            "htmx_loaded": self.htmx_loaded,
            "third_party": self.third_party,
            "server_compresses": self.server_compresses,
            "items": self.items,
        }


def _fetch(client: httpx.Client, url: str) -> tuple[int, bytes, int, bool]:
    """(status, decoded body, gzip bytes, whether the server compressed)."""
    with client.stream("GET", url, headers={"accept-encoding": "gzip"}) as response:
        wire = b"".join(response.iter_raw())
        compressed = response.headers.get("content-encoding", "") == "gzip"
        body = gzip.decompress(wire) if compressed else wire
        size = len(wire) if compressed else len(gzip.compress(body, compresslevel=6, mtime=0))
        return response.status_code, body, size, compressed


def measure(base_url: str, path: str) -> PageWeight:
    page_url = base_url.rstrip("/") + path
    weight = PageWeight(url=path)
    with httpx.Client(timeout=10) as client:
        status, body, size, compressed = _fetch(client, page_url)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        weight.server_compresses = compressed
        weight.items.append(
            {
                "url": path,
                "kind": "html",
                "raw": len(body),
                "gzip": size,
                "status": status,
                "sent_gzip": compressed,
            }
        )
        queue = html_resources(body.decode("utf-8", "replace"), page_url)
        seen = {page_url}
        while queue:
            kind, url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            if not same_origin(url, base_url):
                weight.third_party.append(url)
                continue
            status, asset, size, compressed = _fetch(client, url)
            weight.server_compresses = weight.server_compresses and compressed
            shown = url.removeprefix(base_url.rstrip("/"))
            weight.items.append(
                {
                    "url": shown,
                    "kind": kind,
                    "raw": len(asset),
                    "gzip": size,
                    "status": status,
                    "sent_gzip": compressed,
                }
            )
            if kind == "stylesheet" and status == 200:
                text = asset.decode("utf-8", "replace")
                queue.extend(("css-asset", u) for u in css_resources(text, url))
    return weight

"""The last pass over an email's HTML: safe links, tracked links, attributes escaped again.

Runs after CSS inlining, on what the inliner serialised:
- an `href` (or `action`, `formaction`, `xlink:href`) keeps only http, https, mailto and
  tel URLs (and in-page `#anchors`); anything else (`javascript:`, `data:`, `vbscript:`,
  however it is spelt, or a relative URL, which means nothing in an email) is removed,
  so a link from recipient data can never run script;
- `src`, `background` and `poster` keep http, https, `cid:` and `data:image/...`;
- every http(s) URL is encoded (IDNA host, percent-encoded path) and every link of
  `<a>` and `<area>` gets the channel's UTM parameters;
- `<script>` elements and `on...` event handler attributes are dropped;
- every attribute value is escaped again (`&`, `<`, `>`, quotes): the inliner writes a
  value such as `&lt;script&gt;` back as a raw `<script>`, which is valid HTML but
  what a naive filter downstream may mistake for a tag.
"""

from __future__ import annotations

import functools
import html
import re
from html.parser import HTMLParser
from typing import Final, NamedTuple

from brandcast.orchestrator.rendering._links import SIMPLE_HTTP_URL, Utm, encode_url

_LINK_ATTRIBUTES = frozenset({"href", "action", "formaction", "xlink:href"})
_MEDIA_ATTRIBUTES = frozenset({"src", "background", "poster"})
_LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_MEDIA_SCHEMES = frozenset({"http", "https", "cid"})
_TRACKED_TAGS = frozenset({"a", "area"})
_DROPPED_ELEMENTS = frozenset({"script"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers ignore ASCII control characters and spaces inside a URL's scheme.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20]")
#: Email layouts whose parse is kept: one per locale of the campaigns sent lately.
LAYOUT_CACHE: Final = 64


def safe_url(attribute: str, value: str, *, tag: str, utm: Utm | None) -> str | None:
    """The value an URL attribute may keep (encoded, maybe tracked), or None to drop it."""
    if utm is None and SIMPLE_HTTP_URL.fullmatch(value):
        return value  # the common case, per recipient (unsubscribe links)
    compact = _IGNORED_IN_SCHEME.sub("", value)
    match = _SCHEME.match(compact)
    if match is None:
        # An in-page anchor; a relative path means nothing in an email (no base URL).
        return value if compact.startswith("#") else None
    scheme = match.group(1).lower()
    if attribute in _LINK_ATTRIBUTES:
        allowed = scheme in _LINK_SCHEMES
    else:
        allowed = scheme in _MEDIA_SCHEMES or compact.lower().startswith("data:image/")
    if not allowed:
        return None
    if scheme not in ("http", "https"):
        return value.strip()
    try:
        url = value.strip()
        if utm is not None and tag in _TRACKED_TAGS and attribute == "href":
            return utm.apply(url)
        return encode_url(url)
    except ValueError:
        return None  # a malformed URL (an unclosed IPv6 bracket, ...) is no link


class _UrlAttribute(NamedTuple):
    """A URL attribute of the parsed document, written out once the UTM is known."""

    tag: str
    name: str
    raw: str

    def written(self, utm: Utm | None) -> str:
        value = safe_url(self.name, self.raw, tag=self.tag, utm=utm)
        return "" if value is None else f' {self.name}="{html.escape(value, quote=True)}"'


_Piece = str | _UrlAttribute


class _LinkRewriter(HTMLParser):
    """The document as text with its URL attributes set apart: parsing is most of the
    cost, and what a URL becomes depends on the channel's UTM alone."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self._out: list[_Piece] = []
        self._dropping: str | None = None

    def pieces(self) -> tuple[_Piece, ...]:
        self.close()
        merged: list[_Piece] = []
        text: list[str] = []
        for piece in self._out:
            if isinstance(piece, str):
                text.append(piece)
                continue
            if text:
                merged.append("".join(text))
                text = []
            merged.append(piece)
        if text:
            merged.append("".join(text))
        return tuple(merged)

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], end: str) -> None:
        out = self._out
        out.append(f"<{tag}")
        for name, raw in attrs:
            if name.startswith("on"):
                continue
            if raw is None:
                out.append(f" {name}")
            elif name in _LINK_ATTRIBUTES or name in _MEDIA_ATTRIBUTES:
                out.append(_UrlAttribute(tag, name, raw))
            else:
                out.append(f' {name}="{html.escape(raw, quote=True)}"')
        out.append(end)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_ELEMENTS:
            self._dropping = tag
            return
        if self._dropping is None:
            self._tag(tag, attrs, ">")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._dropping is None and tag not in _DROPPED_ELEMENTS:
            self._tag(tag, attrs, "/>")

    def handle_endtag(self, tag: str) -> None:
        if self._dropping is not None:
            if tag == self._dropping:
                self._dropping = None
            return
        self._out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._dropping is None:
            self._out.append(data)

    def handle_entityref(self, name: str) -> None:
        if self._dropping is None:
            self._out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if self._dropping is None:
            self._out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        if self._dropping is None:
            self._out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self._out.append(f"<!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self._out.append(f"<![{data}]>")

    def handle_pi(self, data: str) -> None:
        pass  # processing instructions have no place in an email


def _parsed(document: str) -> tuple[_Piece, ...]:
    rewriter = _LinkRewriter()
    rewriter.feed(document)
    return rewriter.pieces()


#: A campaign's layout is the same for every recipient of a locale, and often for
#: the campaigns after it (the same message sent again, to other people), with only
#: the UTM's campaign name changed: the parse is kept, the links written per call.
_parsed_layout = functools.lru_cache(maxsize=LAYOUT_CACHE)(_parsed)


def _written(pieces: tuple[_Piece, ...], utm: Utm | None) -> str:
    return "".join(p if isinstance(p, str) else p.written(utm) for p in pieces)


def rewrite_links(document: str, utm: Utm | None) -> str:
    """`document` (inlined HTML) with safe, encoded, tracked links and escaped attributes."""
    return _written(_parsed(document), utm)


def rewrite_layout_links(document: str, utm: Utm | None) -> str:
    """`rewrite_links` for a campaign's shared layout: its parse is cached."""
    return _written(_parsed_layout(document), utm)

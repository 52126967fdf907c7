"""Inbound mail HTML made safe to show in the web app, with nh3 (the ammonia sanitiser).

What is kept, and why:
- The formatting mail clients write: paragraphs, lists, tables (mail layouts are tables),
  quotes, headings, code, links, images, and `<font color face size>` (Outlook and older
  clients still write it; it cannot run or fetch anything).
- Inline `style`, limited to properties that can neither fetch a URL (no `background`,
  `background-image`, `list-style`, `border-image`, `filter`, `content`, `cursor`) nor leave
  the message's box (no `position`, `z-index`): without style most mails lose their colours
  and layout, and `url()` in style would be a remote image that "show images" never allowed.
- Not kept: scripts and every event handler, `<style>` (it would restyle the whole app),
  `class` / `id` (they would match the app's own CSS and ids), forms, frames, objects,
  media, `background=` attributes (a remote image), comments.

Links: only http(s), mailto and tel; relative links are dropped (they would point into
OmniStream); every link gets rel="noopener noreferrer nofollow" and target="_blank".

Images load nothing remote by default: `src="http(s)://..."` becomes `data-remote-src`
with no `src` (the web app's "show images" puts it back), `src="cid:x"` becomes
`cid_url("x")` (our media URL; no src when it returns None), `data:image/png|gif|jpeg|webp`
stays (it fetches nothing), any other src is dropped.

How: nh3's attribute_filter may change or drop an attribute's value but not rename it, so
moving a remote `src` to `data-remote-src` takes three steps:
1. nh3 cleans the mail under the whole policy above; remote image URLs are still in `src`;
2. nh3's output (one reading only: quoted attributes, escaped text, no comments) is read
   with html.parser and re-written with those `src` attributes renamed;
3. nh3 cleans that again, now accepting an image `src` only if step 1 produced it (a
   `cid_url` result or a data: image). Whatever step 2 did, the output is nh3's under the
   same policy, and a remote `src` it missed is dropped, never loaded.
Mails are parsed before their media have URLs, so parse.py sanitises with
`keep_cid_sources` (`cid:` sources stay for the parts the mail has); sanitising that output
again with the media's `cid_url` rewrites those sources and changes nothing else.
"""

from __future__ import annotations

import html as html_escaping
import re
from collections.abc import Callable, Collection
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urlsplit

import nh3

ALLOWED_TAGS = frozenset(
    {"a", "abbr", "address", "b", "big", "blockquote", "br", "caption", "center", "cite"}
    | {"code", "col", "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2"}
    | {"h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p"}
    | {"pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody"}
    | {"td", "tfoot", "th", "thead", "tr", "tt", "u", "ul"}
)
# Removed together with their content (the others that are not allowed lose only the tag).
CONTENT_DROPPED_TAGS = frozenset({"script", "style", "title", "noscript", "template"})
_CELL_ATTRIBUTES = frozenset({"colspan", "rowspan", "width", "height", "bgcolor", "valign"})
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": frozenset({"style", "align", "dir", "lang", "title"}),
    "a": frozenset({"href"}),
    "img": frozenset({"src", "data-remote-src", "alt", "width", "height", "border"}),
    "font": frozenset({"color", "face", "size"}),
    "table": frozenset({"border", "cellpadding", "cellspacing", "width", "height", "bgcolor"}),
    "td": _CELL_ATTRIBUTES | {"nowrap"},
    "th": _CELL_ATTRIBUTES | {"nowrap"},
    "tr": frozenset({"bgcolor", "valign", "height"}),
    "col": frozenset({"span", "width"}),
    "colgroup": frozenset({"span", "width"}),
    "ol": frozenset({"start", "type"}),
    "ul": frozenset({"type"}),
    "li": frozenset({"value"}),
}
ALLOWED_STYLE_PROPERTIES = frozenset(
    {"color", "background-color", "font", "font-family", "font-size", "font-style"}
    | {"font-weight", "font-variant", "line-height", "letter-spacing", "word-spacing"}
    | {"text-align", "text-decoration", "text-transform", "text-indent", "white-space"}
    | {"vertical-align", "direction", "display", "width", "height", "min-width", "max-width"}
    | {"min-height", "margin", "margin-top", "margin-right", "margin-bottom", "margin-left"}
    | {"padding", "padding-top", "padding-right", "padding-bottom", "padding-left"}
    | {"border", "border-top", "border-right", "border-bottom", "border-left", "border-color"}
    | {"border-style", "border-width", "border-collapse", "border-spacing", "border-radius"}
    | {"list-style-type", "table-layout"}
)
LINK_REL = "noopener noreferrer nofollow"
LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
REMOTE_IMAGE_SCHEMES = frozenset({"http", "https"})
# nh3 checks every URL attribute against these before the filters below narrow them per
# attribute (cid: and data: only for images).
_URL_SCHEMES = LINK_SCHEMES | {"cid", "data"}
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|webp)[;,]", re.IGNORECASE)


def _scheme(url: str) -> str | None:
    """The URL's scheme in lower case, None for a relative URL or one that cannot be read."""
    try:
        return urlsplit(url.strip()).scheme.lower() or None
    except ValueError:
        return None


def _is_remote(url: str) -> bool:
    return _scheme(url) in REMOTE_IMAGE_SCHEMES


class _Sanitisation:
    """One sanitisation: remembers which image sources its first pass produced."""

    def __init__(self, cid_url: Callable[[str], str | None]) -> None:
        self._cid_url = cid_url
        self.produced_sources: set[str] = set()

    def first_pass_filter(self, tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return self._image_source(value)
        return self._common_filter(tag, attribute, value)

    def second_pass_filter(self, tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return value if value in self.produced_sources else None
        return self._common_filter(tag, attribute, value)

    def relative_url(self, url: str) -> str | None:
        # Relative URLs are kept only when they are ours (a relative media URL of cid_url).
        return url if url in self.produced_sources else None

    def _common_filter(self, tag: str, attribute: str, value: str) -> str | None:
        if attribute == "href":
            scheme = _scheme(value)
            if scheme is None:
                return value if value in self.produced_sources else None
            return value if scheme in LINK_SCHEMES else None
        if tag == "img" and attribute == "data-remote-src":
            return value if _is_remote(value) else None
        return value

    def _image_source(self, value: str) -> str | None:
        scheme = _scheme(value)
        if scheme in REMOTE_IMAGE_SCHEMES:
            return value  # moved to data-remote-src by _RemoteImageMover
        source: str | None = None
        if scheme == "cid":
            content_id = unquote(value.strip()[len("cid:") :]).strip().strip("<>")
            source = self._cid_url(content_id) if content_id else None
        elif scheme == "data" and _DATA_IMAGE.match(value.strip()):
            source = value.strip()
        if source is not None:
            self.produced_sources.add(source)
        return source


class _RemoteImageMover(HTMLParser):
    """Re-writes nh3's output with remote image sources moved to data-remote-src."""

    def __init__(self, produced_sources: set[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._produced_sources = produced_sources  # ours (cid_url), even if absolute

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        written: list[str] = []
        for name, value in attrs:
            moved = (
                tag == "img"
                and name == "src"
                and value is not None
                and _is_remote(value)
                and value not in self._produced_sources
            )
            written_name = "data-remote-src" if moved else name
            if value is None:
                written.append(f" {written_name}")
            else:
                written.append(f' {written_name}="{html_escaping.escape(value, quote=True)}"')
        self.chunks.append(f"<{tag}{''.join(written)}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.chunks.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.chunks.append(html_escaping.escape(data, quote=False))


def _clean(
    html: str,
    sanitisation: _Sanitisation,
    attribute_filter: Callable[[str, str, str], str | None],
) -> str:
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(CONTENT_DROPPED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=set(_URL_SCHEMES),
        filter_style_properties=set(ALLOWED_STYLE_PROPERTIES),
        url_relative=sanitisation.relative_url,
    )


def sanitize_html(html: str, *, cid_url: Callable[[str], str | None]) -> str:
    """Mail HTML safe to embed in the web app (see the module docstring for the policy).

    `cid_url` maps a Content-ID (without <>) to the URL its inline image is served from,
    or None when the mail has no such part (the image then has no src).
    """
    if not html.strip():
        return ""
    sanitisation = _Sanitisation(cid_url)
    first = _clean(html, sanitisation, sanitisation.first_pass_filter)
    mover = _RemoteImageMover(sanitisation.produced_sources)
    mover.feed(first)
    mover.close()
    cleaned = _clean("".join(mover.chunks), sanitisation, sanitisation.second_pass_filter)
    return cleaned.strip()


def keep_cid_sources(content_ids: Collection[str | None]) -> Callable[[str], str | None]:
    """A cid_url for mails parsed before their media have URLs: `cid:` sources stay for
    the parts the mail has (re-sanitise with the media URLs later), the others go."""
    known = {content_id for content_id in content_ids if content_id}

    def cid_source(content_id: str) -> str | None:
        return f"cid:{quote(content_id, safe='@')}" if content_id in known else None

    return cid_source

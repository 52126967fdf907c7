"""The accepted upload types in a short phrase a person reads ("images, video, audio, PDF,
text and Office documents") rather than a list of MIME types."""

from __future__ import annotations

from collections.abc import Iterable

# kind -> how it is said; a stable code the web app words in its own language.
KIND_WORDS = {
    "images": "images",
    "video": "video",
    "audio": "audio",
    "pdf": "PDF",
    "text": "text",
    "office": "Office documents",
}
_OFFICE_PREFIXES = (
    "application/msword",
    "application/vnd.ms-",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)


def kind_of(mime: str) -> str:
    """The kind of a MIME type; a type of no known kind is its own kind."""
    top = mime.split("/", 1)[0]
    if top == "image":
        return "images"
    if top in ("video", "audio", "text"):
        return top
    if mime == "application/pdf":
        return "pdf"
    if mime.startswith(_OFFICE_PREFIXES):
        return "office"
    return mime


def allowed_kinds(types: Iterable[str]) -> list[str]:
    """The kinds of the accepted types, in the order of KIND_WORDS, then others sorted."""
    kinds = {kind_of(t) for t in types}
    return [k for k in KIND_WORDS if k in kinds] + sorted(kinds - KIND_WORDS.keys())


def in_words(kinds: list[str]) -> str:
    words = [KIND_WORDS.get(k, k) for k in kinds]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def refusal(mime: str, types: Iterable[str]) -> str:
    """Why an upload of this type is refused, and what may be sent instead."""
    return f"Files of type {mime} can't be sent. Allowed: {in_words(allowed_kinds(types))}."

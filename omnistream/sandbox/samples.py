"""Small sample files for customer media when the caller sends no bytes of its own."""

from __future__ import annotations

import base64
import re
import struct
import zlib

# Modernizr's 1x1 lossless WebP.
_WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")


def png(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (37, 211, 102)) -> bytes:
    """A valid RGB PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def pdf(text: str = "OmniStream sandbox sample document") -> bytes:
    """A one-page PDF with a line of text and a correct xref table."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 18 Tf 50 750 Td ({safe}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def ogg() -> bytes:
    """An Ogg page header with an OpusHead packet (enough for type sniffing)."""
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    page = b"OggS\x00\x02" + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 8
    return page + bytes([1, len(head)]) + head


def mp4() -> bytes:
    """An ftyp box and an empty mdat box (enough for type sniffing)."""
    ftyp = b"ftypisom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", 8) + b"mdat"


def webp() -> bytes:
    return _WEBP


# Names of customers who write in without one (customer play), picked by their id.
NAMES = (
    "Ana Lima",
    "Budi Santoso",
    "Dewi Lestari",
    "Siti Rahma",
    "Rizky Pratama",
    "Putri Anggraini",
    "Agus Setiawan",
    "Maya Wijaya",
    "Joko Susilo",
    "Nur Aisyah",
    "Carlos Mendes",
    "Emma Johnson",
)


def customer_name(user: str) -> str:
    """A real-looking name for a customer id, the same one every time."""
    return NAMES[zlib.crc32(user.encode()) % len(NAMES)]


def handle(name: str, user: str) -> str:
    """An Instagram username for a profile name: "Ana Lima" -> "ana.lima"."""
    text = re.sub(r"[^a-z0-9._]", "", name.lower().replace(" ", "."))[:30].strip(".")
    return text or f"user.{user[-8:].lower()}"


def avatar(user: str) -> bytes:
    """A profile picture: a square of a colour of the user's own."""
    digest = zlib.crc32(user.encode())
    rgb = (64 + digest % 160, 64 + (digest >> 8) % 160, 64 + (digest >> 16) % 160)
    return png(32, 32, rgb)


# type -> (mime type, file name, bytes factory)
SAMPLES = {
    "image": ("image/png", "photo.png", png),
    "sticker": ("image/webp", "sticker.webp", webp),
    "document": ("application/pdf", "sample.pdf", pdf),
    "audio": ("audio/ogg", "voice.ogg", ogg),
    "video": ("video/mp4", "clip.mp4", mp4),
}


def sample(kind: str) -> tuple[str, str, bytes]:
    mime, filename, make = SAMPLES[kind]
    return mime, filename, make()

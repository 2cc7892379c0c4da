"""What an uploaded file is, by its first bytes rather than by what its sender called it."""

from __future__ import annotations

from collections.abc import Collection

# The magic bytes each type the platform accepts starts with (offset, bytes).
SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/webp": ((0, b"RIFF"), (8, b"WEBP")),
    "application/pdf": ((0, b"%PDF-"),),
}
NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "application/pdf": "PDF"}


def sniff(content: bytes, accepted: Collection[str] = tuple(SIGNATURES)) -> str | None:
    """The media type among `accepted` the bytes are; None for anything else."""
    for media_type in accepted:
        marks = SIGNATURES[media_type]
        if all(content[at : at + len(mark)] == mark for at, mark in marks):
            return media_type
    return None

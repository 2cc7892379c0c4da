"""Reading a bank's text export: UTF-8 (with or without BOM), else GBK / GB18030."""

from __future__ import annotations

import codecs

from xinyi_ledger.statements.model import Problem, StatementError

AUTO = "auto"


def _line_of(content: bytes, offset: int) -> int:
    return content.count(b"\n", 0, offset) + 1


def decode(content: bytes, encoding: str = AUTO, filename: str = "") -> tuple[str, str]:
    """The text and the name of the encoding it was read with.

    AUTO tries UTF-8 strictly and falls back to GB18030, the superset of GBK that Chinese banks'
    exports use: a GBK file is almost never valid UTF-8, so the order cannot mistake one for the
    other. A file that is neither is refused at the line of its first unreadable byte.
    """
    if encoding != AUTO:
        try:
            codecs.lookup(encoding)
        except LookupError:
            problem = Problem(0, f"unknown text encoding '{encoding}'")
            raise StatementError([problem], filename) from None
        candidates = [encoding]
    else:
        candidates = ["utf-8", "gb18030"]
    last_error: UnicodeDecodeError | None = None
    for name in candidates:
        try:
            text = content.decode(name)
        except UnicodeDecodeError as error:
            last_error = error
            continue
        canonical = codecs.lookup(name).name
        if text.startswith("\ufeff"):
            return text[1:], "utf-8-sig" if canonical == "utf-8" else canonical
        return text, canonical
    assert last_error is not None
    what = "UTF-8 or GBK/GB18030" if encoding == AUTO else encoding
    bad = content[last_error.start : last_error.start + 1].hex()
    raise StatementError(
        [
            Problem(
                _line_of(content, last_error.start),
                f"the file is not {what} text (byte 0x{bad} cannot be read); "
                "export it again as UTF-8 or GBK",
            )
        ],
        filename,
    )

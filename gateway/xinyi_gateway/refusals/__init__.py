"""Refusals in the reader's language.

The services word their refusals in English, one sentence a person can act on. A reader who
prefers Chinese (the web app in Chinese sends `Accept-Language: zh-CN`) gets them in Chinese: the
catalog maps each refusal's English template, as the code writes it (`{}` where an f-string
interpolates a value, `{{`/`}}` for a literal brace), to its Chinese wording (`{0}`, `{1}`, ...
for the values, in the order Chinese needs). `tests/unit/test_refusals.py` reads the code and
fails on a refusal the catalog lacks, so a new one cannot go out in English only.

A value that is itself a sentence of the catalog (a line's problem inside "line 12: ...", each
of several joined by "; "), or one of the English words the code puts into refusals (a state,
a field's description: `zh_values`), is worded too. A sentence the catalog does not know is
passed on as it is."""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from xinyi_gateway.refusals import (
    zh_identity,
    zh_ledger,
    zh_problems,
    zh_rest,
    zh_values,
    zh_voting,
)

PARTS = (zh_rest.ZH, zh_identity.ZH, zh_ledger.ZH, zh_voting.ZH, zh_problems.ZH)
ZH: dict[str, str] = {english: chinese for part in PARTS for english, chinese in part.items()}
VALUES: dict[str, str] = zh_values.VALUES

CHINESE = "zh-CN"
ENGLISH = "en"
# A value worded in turn may hold another: deeper than this is not a sentence but a loop.
_DEPTH = 6


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    fragments: tuple[str, ...]  # its fixed text: a sentence it words contains each piece
    fixed: int  # how many characters of English its fixed text words
    chinese: str


@dataclass(frozen=True)
class _Worded:
    text: str
    covered: int  # how many characters of the English the catalog worded


_PLACES = re.compile(r"(\{\{|\}\}|\{\})")


def _template(english: str, chinese: str) -> _Template:
    """An English template as a regular expression (its text literally, each `{}` a value,
    perhaps empty) and the fixed pieces a sentence must contain to be worded by it."""
    out: list[str] = []
    fragments: list[str] = []
    piece: list[str] = []
    for part in _PLACES.split(english):
        if part == "{}":
            out.append("(.*?)")
            fragments.append("".join(piece))
            piece = []
        else:
            text = part[0] if part in ("{{", "}}") else part
            out.append(re.escape(text))
            piece.append(text)
    fragments.append("".join(piece))
    kept = tuple(f for f in fragments if f)
    return _Template(re.compile("".join(out), re.DOTALL), kept, sum(map(len, kept)), chinese)


def _literal(text: str) -> str:
    return text.replace("{{", "{").replace("}}", "}")


@cache
def _catalog() -> tuple[dict[str, str], tuple[_Template, ...]]:
    """The templates without values by their text, and those with values, most fixed text
    first."""
    exact: dict[str, str] = {}
    shaped: list[_Template] = []
    for english, chinese in ZH.items():
        if "{}" not in english:
            exact[_literal(english)] = _literal(chinese)
        else:
            shaped.append(_template(english, chinese))
    shaped.sort(key=lambda t: -t.fixed)
    return exact, tuple(shaped)


# Longer than any refusal the code writes (ten of a file's problems): passed on as it is, so a
# long value echoed in a refusal costs no more than reading it.
LONGEST = 4_000


def to_chinese(sentence: str) -> str:
    """`sentence` in Chinese when the catalog knows it, else as it is."""
    if len(sentence) > LONGEST:
        return sentence
    return _word(sentence, 0, {}).text


# The wordings found so far in one sentence, by part and depth: a part is met again and again
# as the templates that match around it are tried.
_Memo = dict[tuple[str, int], _Worded]


def _word(sentence: str, depth: int, memo: _Memo) -> _Worded:
    known = memo.get((sentence, depth))
    if known is None:
        known = memo[(sentence, depth)] = _wording(sentence, depth, memo)
    return known


def _wording(sentence: str, depth: int, memo: _Memo) -> _Worded:
    """The wording of `sentence` that leaves the least of its English unworded (of those, the
    one whose own template has the most fixed text): the template with the most fixed text is
    not always it ("{} is empty" matches "line 3: the booking date is empty", and leaves
    "the booking date" in English, which "line {}: {}" then "the {} is empty" word)."""
    exact, shaped = _catalog()
    found = exact.get(sentence)
    if found is not None:
        return _Worded(found, len(sentence))
    best = _Worded(sentence, 0)
    if depth >= _DEPTH:
        return best
    for template in shaped:
        if not all(piece in sentence for piece in template.fragments):
            continue
        match = template.pattern.fullmatch(sentence)
        if match is None:
            continue
        values = [_value(v, depth + 1, memo) for v in match.groups()]
        covered = template.fixed + sum(v.covered for v in values)
        if covered > best.covered:  # the templates come most fixed text first
            best = _Worded(_fill(template.chinese, [v.text for v in values]), covered)
    return best


# Chinese, and its punctuation: a template's space between a value and Chinese is dropped when
# the value is Chinese at that end too: "{0} 不能为空" reads "name 不能为空" with a field's
# name, "区的名称不能为空" with words.
_CJK = "\u3000-\u303f\u3400-\u9fff\uff00-\uffef\u2018-\u201d"
_OPEN, _CLOSE = "\x00", "\x01"
_BEFORE = re.compile(f"(?<=[{_CJK}]) {_OPEN}(?=[{_CJK}])")
_AFTER = re.compile(f"(?<=[{_CJK}]){_CLOSE} (?=[{_CJK}])")


def _fill(chinese: str, values: list[str]) -> str:
    """`chinese` with its values, without a space between Chinese and Chinese."""
    marked = chinese.format(*(f"{_OPEN}{v}{_CLOSE}" for v in values))
    tight = _AFTER.sub(_CLOSE, _BEFORE.sub(_OPEN, marked))
    return tight.replace(_OPEN, "").replace(_CLOSE, "")


_PROBLEMS = re.compile(r"; (?=line \d+: |and \d+ more$)")


def _value(value: str, depth: int, memo: _Memo) -> _Worded:
    """A template's value in Chinese: a word of `VALUES`, a sentence, or sentences joined by
    "; " (a file's problems); anything else (data) as it is."""
    found = VALUES.get(value)
    if found is not None:
        return _Worded(found, len(value))
    choices = value.split(" or ")
    if len(choices) > 1 and all(c in VALUES for c in choices):  # "submitted or reopened"
        return _Worded("或".join(VALUES[c] for c in choices), len(value))
    best = _word(value, depth, memo)
    if "; " in value and best.covered < len(value):
        # A file's problems joined: split before each "line N: " (a problem may hold "; "
        # itself), or else at every "; ".
        for parts in (_PROBLEMS.split(value), value.split("; ")):
            worded = [_word(part, depth, memo) for part in parts]
            covered = sum(w.covered for w in worded) + 2 * len(parts) - 2
            if covered > best.covered:
                best = _Worded("；".join(w.text for w in worded), covered)
    return best


def prefers_chinese(accept_language: str) -> bool:
    """Whether an Accept-Language header ranks Chinese above English (and above nothing: with
    no header the API answers in English, the language of its documentation)."""
    best_zh = best_en = 0.0
    for item in accept_language.split(","):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag == "zh" or tag.startswith("zh-"):
            best_zh = max(best_zh, quality)
        elif tag == "en" or tag.startswith("en-") or tag == "*":
            best_en = max(best_en, quality)
    return best_zh > 0 and best_zh >= best_en


# The language of the request being answered, set by `ReaderLanguage` for the whole request.
_LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("language", default=ENGLISH)


def language() -> str:
    return _LANGUAGE.get()


def worded(sentence: str) -> str:
    """A refusal in the language of the request being answered."""
    return to_chinese(sentence) if _LANGUAGE.get() == CHINESE else sentence


def detail(english: str, shown: str | None = None) -> dict[str, str]:
    """A problem's `detail` in the request's language (`shown` when the caller worded it), and
    the English as `detail_en` where they differ: what clients recognise a refusal by."""
    said = worded(english) if shown is None else shown
    return {"detail": said} if said == english else {"detail": said, "detail_en": english}


def headers() -> dict[str, str]:
    """The headers of a problem worded for the request: its language, and that it depends on
    the request's Accept-Language."""
    return {"Content-Language": _LANGUAGE.get(), "Vary": "Accept-Language"}


class ReaderLanguage:
    """Notes the request's preferred language (Accept-Language), for the problems it may get."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = ENGLISH
        for name, value in scope.get("headers", ()):
            if name == b"accept-language":
                if prefers_chinese(value.decode("latin-1")):
                    wanted = CHINESE
                break
        token = _LANGUAGE.set(wanted)
        try:
            await self.app(scope, receive, send)
        finally:
            _LANGUAGE.reset(token)


# Pydantic's messages for a request's fields, by error type (`the request is not valid: ...`),
# with the bounds of its context (`{max_length}` and the like).
VALIDATION_ZH: dict[str, str] = {
    "missing": "必须填写",
    "json_invalid": "不是有效的 JSON",
    "json_type": "不是有效的 JSON",
    "model_attributes_type": "应为一个对象",
    "dict_type": "应为一个对象",
    "list_type": "应为一个列表",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "uuid_type": "应为 UUID",
    "uuid_parsing": "应为 UUID",
    "date_type": "应为日期（如 2026-01-31）",
    "date_parsing": "应为日期（如 2026-01-31）",
    "date_from_datetime_parsing": "应为日期（如 2026-01-31）",
    "datetime_type": "应为时间（如 2026-01-31T09:00:00+08:00）",
    "datetime_parsing": "应为时间（如 2026-01-31T09:00:00+08:00）",
    "datetime_from_date_parsing": "应为时间（如 2026-01-31T09:00:00+08:00）",
    "string_too_short": "太短（至少 {min_length} 个字符）",
    "string_too_long": "太长（最多 {max_length} 个字符）",
    "too_short": "项数太少（至少 {min_length} 项）",
    "too_long": "项数太多（最多 {max_length} 项）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "literal_error": "应为以下取值之一：{expected}",
    "enum": "应为以下取值之一：{expected}",
    "string_pattern_mismatch": "格式不对",
    "extra_forbidden": "不是可用的字段",
    "timezone_aware": "须带时区（如 2026-01-31T09:00:00+08:00）",
    "string_unicode": "应为文本",
}
_VALUE_ERROR = "Value error, "


def validation_message(error: dict[str, Any]) -> str:
    """One field's validation message in the request's language: pydantic's own, or, for a
    reader of Chinese, its wording by error type (a validator's sentence from the catalog)."""
    message = str(error.get("msg", ""))
    if _LANGUAGE.get() != CHINESE:
        return message
    if error.get("type") == "value_error" and message.startswith(_VALUE_ERROR):
        return to_chinese(message.removeprefix(_VALUE_ERROR))
    chinese = VALIDATION_ZH.get(str(error.get("type", "")))
    if chinese is None:
        return message
    try:
        return chinese.format_map(error.get("ctx") or {})
    except (KeyError, IndexError, ValueError):
        return chinese.split("（")[0].split("：")[0]

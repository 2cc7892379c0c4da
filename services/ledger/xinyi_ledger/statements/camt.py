"""ISO 20022 camt.053 statements: parsed safely by lxml, validated against the message's own XSD.

Why not a camt library: pycamt (the maintained one on PyPI) returns flat dicts without line
numbers, reads only IBAN accounts (Chinese accounts are Othr/Id), does not keep an entry with
its statement when the account has no IBAN, and turns debit balances into floats. The official
schema, checked by lxml's validator, does the part a library would: every element, its order and
type (dates, amounts, codes) is checked with a line number; what is left here is reading a
handful of fields from a document already known to be well formed. The schemas in xsd/ are the
ISO 20022 message definitions, unmodified; adding a version is adding its file.
"""

from __future__ import annotations

import re
import threading
from datetime import date
from pathlib import Path

from lxml import etree

from xinyi_ledger.statements.model import (
    Problems,
    RawLine,
    Statement,
    build_statement,
    text_to_fen,
)

XSD_DIR = Path(__file__).parent / "xsd"
_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.\d{3})\.001\.(\d{2})")
_CLARK = re.compile(r"\{[^}]*\}")
_OPENING_CODES = ("OPBD", "PRCD")  # opening booked; else the previous day's closing booked


def supported_versions() -> list[str]:
    return sorted(path.stem for path in XSD_DIR.glob("camt.053.001.*.xsd"))


_compiled = threading.local()


def _schema(version: str) -> etree.XMLSchema:
    # One compiled schema per thread: a validator keeps the last run's error log on itself, so
    # two imports validating at once (in worker threads) must not share one.
    schemas: dict[str, etree.XMLSchema] = _compiled.__dict__.setdefault("schemas", {})
    if version not in schemas:
        schemas[version] = etree.XMLSchema(etree.parse(str(XSD_DIR / f"{version}.xsd")))
    return schemas[version]


def _safe_parser() -> etree.XMLParser:
    # What defusedxml guards against, refused at the source: no entity expansion (billion
    # laughs), no DTD loading, no network access (external entities), no huge-tree mode.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )


def parse_xml(content: bytes, problems: Problems) -> etree._Element | None:
    """The document's root, or None with the syntax error (or a DTD) reported by line."""
    try:
        root = etree.fromstring(content, _safe_parser())
    except etree.XMLSyntaxError as error:
        problems.add(error.lineno or 0, f"the XML is broken: {error.msg}")
        return None
    if root.getroottree().docinfo.doctype:
        problems.add(1, "the XML declares a DTD, which a bank statement never needs; refused")
        return None
    return root


def camt_version(root: etree._Element) -> tuple[str, str]:
    """("camt.053", "camt.053.001.08") from the root's namespace, ("", namespace) otherwise."""
    namespace = etree.QName(root).namespace or ""
    match = _NAMESPACE.fullmatch(namespace)
    if not match:
        return "", namespace
    return match.group(1), f"{match.group(1)}.001.{match.group(2)}"


def _plain(message: str) -> str:
    """An XSD validator's message as a sentence about the element, namespaces dropped."""
    message = _CLARK.sub("", message).rstrip(".")
    if m := re.fullmatch(
        r"Element '(\w+)': '(.*)' is not a valid value of the atomic type '([\w:]+)'", message
    ):
        element, value, kind = m.groups()
        if "Amount" in kind or "Decimal" in kind:
            return f"the amount '{value}' in <{element}> is not a number"
        if kind == "xs:date":
            return f"the date '{value}' in <{element}> is not a date (YYYY-MM-DD)"
        if kind == "xs:dateTime":
            return f"'{value}' in <{element}> is not a date and time (YYYY-MM-DDThh:mm:ss)"
        return f"<{element}> cannot hold '{value}'"
    if m := re.fullmatch(
        r"Element '(\w+)': Missing child element\(s\)\. Expected is (?:one of )?\( (.*) \)",
        message,
    ):
        element, expected = m.groups()
        names = ", ".join(f"<{name.strip()}>" for name in expected.split(","))
        return f"<{element}> is missing {names}"
    if m := re.fullmatch(
        r"Element '(\w+)': This element is not expected"
        r"(?:\. Expected is (?:one of )?\( (.*) \))?",
        message,
    ):
        element, expected = m.groups()
        if not expected:
            return f"<{element}> is not expected here"
        names = ", ".join(f"<{name.strip()}>" for name in expected.split(","))
        return f"<{element}> is not expected here; expected {names}"
    if m := re.fullmatch(
        r"Element '(\w+)'(?:, attribute '(\w+)')?: \[facet 'enumeration'\] "
        r"The value '(.*)' is not an element of the set \{(.*)\}",
        message,
    ):
        element, attribute, value, allowed = m.groups()
        what = f"<{element} {attribute}>" if attribute else f"<{element}>"
        return f"{what} cannot be '{value}'; it must be one of {allowed}"
    return f"the file does not follow its schema: {message}"


def validate(root: etree._Element, version: str, problems: Problems) -> bool:
    """Checks the document against its version's XSD; False (problems reported) if it fails."""
    if version not in supported_versions():
        shipped = ", ".join(v.removeprefix("camt.053.") for v in supported_versions())
        problems.add(0, f"{version} is not a supported version (supported: {shipped})")
        return False
    schema = _schema(version)
    if schema.validate(root):
        return True
    for error in schema.error_log:
        problems.add(error.line, _plain(error.message))
    return False


class _Reader:
    """Reads fields from one validated document, whose namespace it binds to the prefix c."""

    def __init__(self, namespace: str, problems: Problems) -> None:
        self.ns = {"c": namespace}
        self.problems = problems

    def find(self, element: etree._Element, path: str) -> etree._Element | None:
        return element.find(path, self.ns)

    def text(self, element: etree._Element, path: str) -> str:
        found = element.find(path, self.ns)
        return (found.text or "").strip() if found is not None else ""

    def account(self, element: etree._Element | None) -> str:
        if element is None:
            return ""
        return self.text(element, "c:Id/c:IBAN") or self.text(element, "c:Id/c:Othr/c:Id")

    def day(self, element: etree._Element | None) -> date | None:
        """The date of a DateAndDateTimeChoice (Dt or DtTm), as written: the bank's local day."""
        if element is None:
            return None
        value = self.text(element, "c:Dt") or self.text(element, "c:DtTm")
        return date.fromisoformat(value[:10]) if value else None

    def signed_fen(self, element: etree._Element) -> int | None:
        """Amt with its CdtDbtInd sibling, debit negative; None (reported) if not exact fen."""
        amount = self.find(element, "c:Amt")
        assert amount is not None  # the schema requires it
        try:
            fen = text_to_fen((amount.text or "").strip())
        except ValueError as error:
            self.problems.add(amount.sourceline or 0, str(error))
            return None
        return -fen if self.text(element, "c:CdtDbtInd") == "DBIT" else fen

    def status(self, entry: etree._Element) -> str:
        # A code in 001.02–001.07 (<Sts>BOOK</Sts>), a choice from 001.08 on (<Sts><Cd>BOOK…).
        status = self.find(entry, "c:Sts")
        if status is None:
            return ""
        return (
            self.text(status, "c:Cd") or self.text(status, "c:Prtry") or (status.text or "").strip()
        )


def _party(reader: _Reader, details: etree._Element, side: str) -> tuple[str, str]:
    """(name, account) of the debtor or creditor of one transaction's details."""
    name = reader.text(details, f"c:RltdPties/c:{side}/c:Nm") or reader.text(
        details, f"c:RltdPties/c:{side}/c:Pty/c:Nm"
    )
    return name, reader.account(reader.find(details, f"c:RltdPties/c:{side}Acct"))


def _entry(reader: _Reader, entry: etree._Element, statement_currency: str) -> RawLine | None:
    line = entry.sourceline or 0
    amount_fen = reader.signed_fen(entry)
    booking_date = reader.day(reader.find(entry, "c:BookgDt"))
    if booking_date is None:
        reader.problems.add(line, "the entry has no booking date <BookgDt>")
    if amount_fen is None or booking_date is None:
        return None
    amount = reader.find(entry, "c:Amt")
    currency = amount.get("Ccy", statement_currency) if amount is not None else ""
    bank_reference = reader.text(entry, "c:AcctSvcrRef")
    reference = counterparty_name = counterparty_account = narrative = ""
    details = entry.findall("c:NtryDtls/c:TxDtls", reader.ns)
    # A batch entry (several transactions booked as one amount) keeps the entry as one line:
    # its amount is what moved the balance; the matcher splits it against ledger entries.
    if len(details) == 1:
        (single,) = details
        bank_reference = bank_reference or reader.text(single, "c:Refs/c:AcctSvcrRef")
        end_to_end = reader.text(single, "c:Refs/c:EndToEndId")
        reference = (end_to_end if end_to_end != "NOTPROVIDED" else "") or reader.text(
            single, "c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref"
        )
        side = "Dbtr" if amount_fen >= 0 else "Cdtr"
        counterparty_name, counterparty_account = _party(reader, single, side)
        unstructured = [
            (u.text or "").strip() for u in single.findall("c:RmtInf/c:Ustrd", reader.ns)
        ]
        narrative = " ".join(u for u in unstructured if u) or reader.text(single, "c:AddtlTxInf")
    narrative = narrative or reader.text(entry, "c:AddtlNtryInf")
    return RawLine(
        line=line,
        booking_date=booking_date,
        value_date=reader.day(reader.find(entry, "c:ValDt")),
        amount_fen=amount_fen,
        currency=currency,
        bank_reference=bank_reference,
        reference=reference,
        counterparty_name=counterparty_name,
        counterparty_account=counterparty_account,
        narrative=narrative,
    )


def _statement(reader: _Reader, stmt: etree._Element) -> Statement:
    account = reader.account(reader.find(stmt, "c:Acct"))
    currency = reader.text(stmt, "c:Acct/c:Ccy")
    balances: dict[str, tuple[int | None, date | None]] = {}
    for balance in stmt.findall("c:Bal", reader.ns):
        code = reader.text(balance, "c:Tp/c:CdOrPrtry/c:Cd")
        if code in balances:
            continue
        balances[code] = (reader.signed_fen(balance), reader.day(reader.find(balance, "c:Dt")))
        if not currency:
            amount = reader.find(balance, "c:Amt")
            currency = amount.get("Ccy", "") if amount is not None else ""
    opening_code = next((code for code in _OPENING_CODES if code in balances), None)
    opening, opening_day = balances[opening_code] if opening_code else (None, None)
    closing, closing_day = balances.get("CLBD", (None, None))
    raw_lines = []
    for entry in stmt.findall("c:Ntry", reader.ns):
        # A statement reports booked entries; pending or information-only ones do not move
        # the booked balances and come back booked in a later statement.
        if reader.status(entry) != "BOOK":
            continue
        raw = _entry(reader, entry, currency)
        if raw is not None:
            raw_lines.append(raw)
    from_text = reader.text(stmt, "c:FrToDt/c:FrDtTm")
    to_text = reader.text(stmt, "c:FrToDt/c:ToDtTm")
    period_start = date.fromisoformat(from_text[:10]) if from_text else None
    period_end = date.fromisoformat(to_text[:10]) if to_text else None
    if period_start is None and opening_code == "OPBD":
        period_start = opening_day
    if period_end is None:
        period_end = closing_day
    return build_statement(
        line=stmt.sourceline or 0,
        statement_id=reader.text(stmt, "c:Id"),
        account=account,
        currency=currency,
        opening_balance_fen=opening,
        closing_balance_fen=closing,
        period_start=period_start,
        period_end=period_end,
        raw_lines=raw_lines,
    )


def read_statements(root: etree._Element, problems: Problems) -> list[Statement]:
    """Every <Stmt> of a document that passed validate()."""
    namespace = etree.QName(root).namespace or ""
    reader = _Reader(namespace, problems)
    return [_statement(reader, stmt) for stmt in root.findall("c:BkToCstmrStmt/c:Stmt", reader.ns)]

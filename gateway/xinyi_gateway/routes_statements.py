"""REST routes of bank statements: the raw file in, the lines out (counterparties only for those
whose duties need them)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from xinyi.ledger.v1 import statements_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, Svc, iso
from xinyi_gateway.limits import Allowance
from xinyi_gateway.problems import problem

router = APIRouter(prefix="/api/v1/estates/{estate_id}", tags=["ledger"])

MAX_BYTES = 20 * 1024 * 1024
BODY_ALLOWANCES: list[Allowance] = [
    ("POST", re.compile(r"/api/v1/estates/[^/]+/bank-statements"), MAX_BYTES)
]
STATEMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The statement file as exported by the bank: camt.053 XML, MT940, or CSV "
        "(UTF-8 or GBK), at most 20 MiB",
        "content": {
            t: {"schema": {"type": "string", "format": "binary"}}
            for t in ("application/xml", "text/plain", "text/csv", "application/octet-stream")
        },
    }
}
Account = Literal["fund", "maintenance"]


class ImportOut(BaseModel):
    import_id: str
    account: str
    filename: str
    format: str
    variant: str
    file_sha256: str
    statements: int
    lines_new: int
    lines_duplicate: int
    lines_matched: int = Field(description="Of the new lines: tied to their entry at once")
    lines_open: int = Field(description="Of the new lines: left open, each with its flag")
    first_day: str | None
    last_day: str | None
    imported_at: str | None
    statement_account: str | None = Field(description="The account the file says it is of")
    account_checked: bool = Field(
        description="Whether that account was checked against the registered one (false when "
        "none is registered or the file does not name its account)"
    )


def _import(r: statements_pb2.StatementImport) -> ImportOut:
    return ImportOut(
        import_id=r.import_id,
        account=r.account,
        filename=r.filename,
        format=r.format,
        variant=r.variant,
        file_sha256=r.file_sha256,
        statements=r.statements,
        lines_new=r.lines_new,
        lines_duplicate=r.lines_duplicate,
        lines_matched=r.lines_matched,
        lines_open=r.lines_open,
        first_day=r.first_day or None,
        last_day=r.last_day or None,
        imported_at=iso(r.imported_at),
        statement_account=r.statement_account or None,
        account_checked=r.account_checked,
    )


@router.post(
    "/bank-statements",
    response_model=ImportOut,
    status_code=201,
    summary="Import a bank statement of the fund's account (the company or the approving body); "
    "a file with any bad line imports nothing, lines seen before are not stored twice",
    openapi_extra=STATEMENT_BODY,
)
async def import_statement(
    estate_id: EstateId,
    request: Request,
    who: Authed,
    svc: Svc,
    account: Annotated[Account, Query()] = "fund",
    filename: Annotated[str, Query(max_length=255)] = "",
    profile: Annotated[str, Query(max_length=60, pattern=r"^[a-z0-9-]*$")] = "",
) -> ImportOut | Response:
    content = await request.body()
    if len(content) > MAX_BYTES:
        return problem(413, f"a statement file is at most {MAX_BYTES} bytes")
    if not content:
        return problem(400, "the request body is empty: send the statement file's bytes")
    reply = await svc.statements.ImportStatement(
        statements_pb2.ImportStatementRequest(
            estate_id=estate_id,
            account=account,
            filename=filename,
            content=content,
            profile=profile,
        ),
        metadata=who.metadata,
        timeout=120,
    )
    return _import(reply)


@router.get("/bank-statements", response_model=list[ImportOut], summary="The statements imported")
async def list_imports(estate_id: EstateId, who: Authed, svc: Svc) -> list[ImportOut]:
    reply = await svc.statements.ListStatementImports(
        statements_pb2.ListStatementImportsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_import(r) for r in reply.imports]


class LineOut(BaseModel):
    line_id: str
    account: str
    booked_on: str
    value_on: str | None
    amount_fen: int
    bank_reference: str
    reference: str
    counterparty_name: str | None
    counterparty_account: str | None
    narrative: str
    state: Literal["open", "matched", "explained"]
    flag: Literal["ambiguous", "split", "unauthorised_debit", "income_to_classify"] | None = Field(
        description="Why an open line needs attention: ambiguous (any one of the proposed "
        "entries may be it), split (the proposed entries together are it), "
        "unauthorised_debit (the alarm: money left with no approved payment behind it), "
        "income_to_classify"
    )
    proposed_entry_ids: list[str]
    entry_ids: list[str]
    explanation: str | None
    match_id: str | None = Field(description="Lines matched together share it (a split)")


def _line(x: statements_pb2.StatementLine) -> LineOut:
    return LineOut(
        line_id=x.line_id,
        account=x.account,
        booked_on=x.booked_on,
        value_on=x.value_on or None,
        amount_fen=x.amount_fen,
        bank_reference=x.bank_reference,
        reference=x.reference,
        counterparty_name=x.counterparty_name or None,
        counterparty_account=x.counterparty_account or None,
        narrative=x.narrative,
        state=x.state,
        flag=x.flag or None,
        proposed_entry_ids=list(x.proposed_entry_ids),
        entry_ids=list(x.entry_ids),
        explanation=x.explanation or None,
        match_id=x.match_id or None,
    )


class LinePage(BaseModel):
    lines: list[LineOut]
    next_cursor: str | None


@router.get(
    "/statement-lines",
    response_model=LinePage,
    summary="The bank's lines, newest first; counterparties for the approving body, supervisors "
    "and the company only",
)
async def lines(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    account: Annotated[Account | None, Query()] = None,
    state: Annotated[Literal["open", "matched", "explained"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> LinePage:
    reply = await svc.statements.ListStatementLines(
        statements_pb2.ListStatementLinesRequest(
            estate_id=estate_id,
            account=account or "",
            state=state or "",
            page_size=limit,
            page_token=cursor or "",
        ),
        metadata=who.metadata,
    )
    return LinePage(
        lines=[_line(x) for x in reply.lines], next_cursor=reply.next_page_token or None
    )


LineId = Annotated[str, Path(pattern=UUID_PATTERN)]


class MatchIn(BaseModel):
    entry_id: str = Field(pattern=UUID_PATTERN)


@router.post(
    "/statement-lines/{line_id}/match",
    response_model=LineOut,
    summary="Tie an open line to the entry it is (the company's accountant)",
)
async def confirm_match(
    estate_id: EstateId, line_id: LineId, body: MatchIn, who: Authed, svc: Svc
) -> LineOut:
    return _line(
        await svc.statements.ConfirmMatch(
            statements_pb2.ConfirmMatchRequest(
                estate_id=estate_id, line_id=line_id, entry_id=body.entry_id
            ),
            metadata=who.metadata,
        )
    )


class ExplainIn(BaseModel):
    explanation: str = Field(min_length=1, max_length=2000)


@router.post(
    "/statement-lines/{line_id}/explanation",
    response_model=LineOut,
    summary="Explain a line no entry is, in words owners read (the company)",
)
async def explain_line(
    estate_id: EstateId, line_id: LineId, body: ExplainIn, who: Authed, svc: Svc
) -> LineOut:
    return _line(
        await svc.statements.ExplainLine(
            statements_pb2.ExplainLineRequest(
                estate_id=estate_id, line_id=line_id, explanation=body.explanation
            ),
            metadata=who.metadata,
        )
    )


class RematchOut(BaseModel):
    matched: int
    still_open: int


@router.post(
    "/statement-lines/rematch",
    response_model=RematchOut,
    summary="Try the open lines again after entries were posted (exact, unambiguous only)",
)
async def rematch(estate_id: EstateId, who: Authed, svc: Svc) -> RematchOut:
    reply = await svc.statements.RematchLines(
        statements_pb2.RematchLinesRequest(estate_id=estate_id), metadata=who.metadata
    )
    return RematchOut(matched=reply.matched, still_open=reply.still_open)


class MatchSetIn(BaseModel):
    line_ids: list[Annotated[str, Field(pattern=UUID_PATTERN)]] = Field(min_length=1, max_length=50)
    entry_ids: list[Annotated[str, Field(pattern=UUID_PATTERN)]] = Field(
        min_length=1, max_length=200
    )


class LinesOut(BaseModel):
    lines: list[LineOut]


@router.post(
    "/statement-matches",
    response_model=LinesOut,
    status_code=201,
    summary="Tie open lines and entries that are the same money (a split: one line for several "
    "entries, several lines for one entry); the two sums must be equal (the company's accountant)",
)
async def match_lines(estate_id: EstateId, body: MatchSetIn, who: Authed, svc: Svc) -> LinesOut:
    reply = await svc.statements.MatchLines(
        statements_pb2.MatchLinesRequest(
            estate_id=estate_id, line_ids=body.line_ids, entry_ids=body.entry_ids
        ),
        metadata=who.metadata,
    )
    return LinesOut(lines=[_line(x) for x in reply.lines])


class UnmatchIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post(
    "/statement-lines/{line_id}/unmatch",
    response_model=LinesOut,
    summary="Undo a wrong match before its month is closed: its lines open again, to be tied by "
    "hand (the company's accountant)",
)
async def unmatch_line(
    estate_id: EstateId, line_id: LineId, body: UnmatchIn, who: Authed, svc: Svc
) -> LinesOut:
    reply = await svc.statements.UnmatchLine(
        statements_pb2.UnmatchLineRequest(estate_id=estate_id, line_id=line_id, reason=body.reason),
        metadata=who.metadata,
    )
    return LinesOut(lines=[_line(x) for x in reply.lines])


class BankAccountIn(BaseModel):
    number: str = Field(min_length=6, max_length=64, description="As the bank writes it")
    bank_name: str = Field(
        min_length=1, max_length=200, description="e.g. 中国建设银行成都锦江支行"
    )
    holder: str = Field(min_length=1, max_length=200, description="The account's holder")


class BankAccountOut(BaseModel):
    account: Account
    number: str
    bank_name: str
    holder: str
    registered_at: str | None
    registered_by: str


def _account(a: statements_pb2.BankAccount) -> BankAccountOut:
    return BankAccountOut(
        account=a.account,
        number=a.number,
        bank_name=a.bank_name,
        holder=a.holder,
        registered_at=iso(a.registered_at),
        registered_by=a.registered_by,
    )


@router.put(
    "/bank-accounts/{account}",
    response_model=BankAccountOut,
    summary="Register the fund's bank account (the approving body); statements of any other "
    "account are refused from then on",
)
async def register_account(
    estate_id: EstateId,
    account: Annotated[Account, Path()],
    body: BankAccountIn,
    who: Authed,
    svc: Svc,
) -> BankAccountOut:
    return _account(
        await svc.statements.RegisterBankAccount(
            statements_pb2.RegisterBankAccountRequest(
                estate_id=estate_id,
                account=account,
                number=body.number,
                bank_name=body.bank_name,
                holder=body.holder,
            ),
            metadata=who.metadata,
        )
    )


@router.get(
    "/bank-accounts",
    response_model=list[BankAccountOut],
    summary="The fund's registered bank accounts (everyone in the estate: owners pay into them)",
)
async def list_accounts(estate_id: EstateId, who: Authed, svc: Svc) -> list[BankAccountOut]:
    reply = await svc.statements.ListBankAccounts(
        statements_pb2.ListBankAccountsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_account(a) for a in reply.accounts]

"""The permission matrix: which role may do what, in one place, enforced by every service.

Roles are granted per estate, per community or per company (whose staff act in the estates the
company serves at the time), or platform-wide for the operator. Access tokens carry the grants
already expanded to estates, so a service decides from the token alone.
"""

from __future__ import annotations

import enum
import uuid

from xinyi_kit.auth import Principal, require
from xinyi_kit.errors import InvalidArgument, NotFound, PermissionDenied


class Role(enum.StrEnum):
    OPERATOR = "operator"  # 平台运营方: administers, never votes or approves
    OWNER = "owner"  # 业主
    TENANT = "tenant"  # 非业主住户: suggestions, not votes
    COMMITTEE_MEMBER = "committee_member"  # 业委会 (or self-governance group) member
    COMMITTEE_CHAIR = "committee_chair"  # its chair
    ESTATE_SUPERVISOR = "estate_supervisor"  # 监察人 of one estate: lawyer, accountant
    COMMUNITY_SUPERVISOR = "community_supervisor"  # party organisation, residents' committee
    COMPANY_MANAGER = "company_manager"  # 项目经理
    COMPANY_ACCOUNTANT = "company_accountant"
    COMPANY_STAFF = "company_staff"


class Scope(enum.StrEnum):
    PLATFORM = "platform"
    ESTATE = "estate"
    COMMUNITY = "community"
    COMPANY = "company"


SCOPE_OF: dict[Role, Scope] = {
    Role.OPERATOR: Scope.PLATFORM,
    Role.OWNER: Scope.ESTATE,
    Role.TENANT: Scope.ESTATE,
    Role.COMMITTEE_MEMBER: Scope.ESTATE,
    Role.COMMITTEE_CHAIR: Scope.ESTATE,
    Role.ESTATE_SUPERVISOR: Scope.ESTATE,
    Role.COMMUNITY_SUPERVISOR: Scope.COMMUNITY,
    Role.COMPANY_MANAGER: Scope.COMPANY,
    Role.COMPANY_ACCOUNTANT: Scope.COMPANY,
    Role.COMPANY_STAFF: Scope.COMPANY,
}

APPROVING_BODY = frozenset({Role.COMMITTEE_MEMBER, Role.COMMITTEE_CHAIR})
SUPERVISORS = frozenset({Role.ESTATE_SUPERVISOR, Role.COMMUNITY_SUPERVISOR})
COMPANY = frozenset({Role.COMPANY_MANAGER, Role.COMPANY_ACCOUNTANT, Role.COMPANY_STAFF})
RESIDENTS = frozenset({Role.OWNER, Role.TENANT})
EVERYONE_IN_ESTATE = RESIDENTS | APPROVING_BODY | SUPERVISORS | COMPANY
# Who keeps the books for the company.
FINANCE = frozenset({Role.COMPANY_MANAGER, Role.COMPANY_ACCOUNTANT})


class Action(enum.StrEnum):
    # platform administration (operator)
    CITY_MANAGE = "city.manage"  # districts, streets, communities, companies, users
    ESTATE_CREATE = "estate.create"
    ESTATE_LIST_ALL = "estate.list_all"
    SIGNING_KEY_ROTATE = "signing_key.rotate"
    EVENT_LOG_READ = "event_log.read"  # replaying services' events to rebuild read models
    # an estate
    ESTATE_READ = "estate.read"
    ESTATE_ASSIGN_COMPANY = "estate.assign_company"
    ESTATE_SET_APPROVING_BODY = "estate.set_approving_body"
    ESTATE_IMPORT = "estate.import"  # buildings, units, owners from CSV
    # Bringing an estate into the trust model: the case (working group, situation, baseline),
    # the trust contract and its signatures, the handover when the company changes.
    ONBOARDING_MANAGE = "onboarding.manage"
    ONBOARDING_READ = "onboarding.read"  # the case, the contracts and handovers
    CONTRACT_DRAFT = "contract.draft"
    CONTRACT_SIGN_SETTLOR = "contract.sign_settlor"  # for the owners' assembly
    CONTRACT_SIGN_TRUSTEE = "contract.sign_trustee"  # for the company; also its notice
    HANDOVER_MANAGE = "handover.manage"  # the checklist, and the day it took place
    UNITS_READ = "units.read"
    OWNERS_READ_PERSONAL = "owners.read_personal"  # names, phones, ID numbers unit by unit
    ROLES_GRANT_ESTATE = "roles.grant_estate"
    ROLES_READ = "roles.read"
    AUDIT_READ = "audit.read"
    ROLL_READ = "roll.read"  # the ownership roll as of an instant
    # the ledger
    LEDGER_READ = "ledger.read"  # every entry, balance and proof: the point of the model
    LEDGER_POST_INCOME = "ledger.post_income"
    LEDGER_REVERSE = "ledger.reverse"
    CONTRACT_TERMS_SET = "contract_terms.set"
    DISBURSEMENT_REQUEST = "disbursement.request"
    DISBURSEMENT_APPROVE = "disbursement.approve"  # also reject
    DISBURSEMENT_CANCEL = "disbursement.cancel"
    DISBURSEMENT_RECORD_PAID = "disbursement.record_paid"
    # A debit the bank made on its own, from the statement; whoever reads the statement first
    # records it (the committee may hold the account's second key and see it before the company).
    BANK_DEBIT_RECORD = "bank_debit.record"
    STATEMENT_IMPORT = "statement.import"  # the bank's statements of the fund's accounts
    STATEMENT_MATCH = "statement.match"  # confirm a proposed match, explain a line
    FLAG_EXPLAIN = "flag.explain"  # an anomaly flag of the monthly report, in owners' words
    # A community's or a street's KPIs (the city's are estate.list_all). A community-scoped
    # grant reads its own community, and its street's totals with only its own community's part.
    KPI_READ_AREA = "kpi.read_area"
    DISCLOSURE_EDIT = "disclosure.edit"  # the company's art. 943 disclosures
    BANK_ACCOUNT_REGISTER = "bank_account.register"  # the fund's accounts statements must be of
    # Takings recorded by systems the estate does not run (gate exports), and the contracts that
    # expect income (advertising, venue, parking leases); both are checked against posted income.
    TAKINGS_IMPORT = "takings.import"
    INCOME_CONTRACT_SAVE = "income_contract.save"
    PERIOD_CLOSE = "period.close"
    HEAD_SIGN_COMPANY = "head.sign_company"
    HEAD_SIGN_COMMITTEE = "head.sign_committee"
    VOUCHER_UPLOAD = "voucher.upload"  # also its redacted copy and payroll totals
    # The file as uploaded; everyone else in the estate gets the redacted copy, if there is one,
    # and no payroll file at all (only its totals by role).
    VOUCHER_READ_ORIGINAL = "voucher.read_original"
    # property fees (aggregates of arrears and the payment rate are ledger.read)
    FEES_SET_RATES = "fees.set_rates"
    FEES_ASSESS = "fees.assess"
    PAYMENT_RECORD = "payment.record"
    ARREARS_READ_UNITS = "arrears.read_units"  # a named unit's arrears
    BUDGET_DRAFT = "budget.draft"
    ACCOUNTS_EXTEND = "accounts.extend"
    MAINTENANCE_RAISE = "maintenance.raise"  # on the assembly's decision; also its payments
    OPENING_POST = "ledger.post_opening"
    # the owners' assembly
    BALLOT_ORGANISE = "ballot.organise"  # draft, announce, open, close, finalise, cancel
    BALLOT_VOTE = "ballot.vote"  # and only for the holdings the frozen roll gives the caller
    # owners' voice (voting). Confirming or reopening an item is its submitter's alone.
    VOICE_READ = "voice.read"  # suggestions with their timelines and photos; surveys
    SUGGESTION_SUBMIT = "suggestion.submit"  # also complaints
    INQUIRY_OPEN = "inquiry.open"  # on a ledger entry or a disbursement
    SUGGESTION_HANDLE = "suggestion.handle"  # answer, commit to a rectification, report it done
    SURVEY_PUBLISH = "survey.publish"  # also close early
    SURVEY_ANSWER = "survey.answer"
    # tenders and monthly meetings (voting). Reading a tender is estate.read, a meeting voice.read.
    TENDER_MANAGE = "tender.manage"  # draft, publish, close, cancel; put the bids to a ballot
    # City-wide, by a company-scoped grant: the company need not serve the estate it bids in.
    TENDER_BID = "tender.bid"
    MEETING_SCHEDULE = "meeting.schedule"  # also change or cancel a scheduled meeting
    MEETING_REPORT = "meeting.report"  # the company's work report
    MEETING_MINUTES = "meeting.minutes"  # publish the minutes; turn points into suggestions
    # notifications: webhooks that carry the estate's notices to its own systems, and replaying
    # their dead letters (a company's own webhooks: its manager, by a company-scoped grant)
    WEBHOOK_MANAGE = "webhook.manage"


MATRIX: dict[Action, frozenset[Role]] = {
    Action.CITY_MANAGE: frozenset({Role.OPERATOR}),
    Action.ESTATE_CREATE: frozenset({Role.OPERATOR}),
    Action.ESTATE_LIST_ALL: frozenset({Role.OPERATOR}),
    Action.SIGNING_KEY_ROTATE: frozenset({Role.OPERATOR}),
    Action.EVENT_LOG_READ: frozenset({Role.OPERATOR}),
    Action.ESTATE_READ: EVERYONE_IN_ESTATE | {Role.OPERATOR},
    Action.ESTATE_ASSIGN_COMPANY: frozenset({Role.OPERATOR}),
    Action.ESTATE_SET_APPROVING_BODY: frozenset({Role.OPERATOR, Role.COMMUNITY_SUPERVISOR}),
    Action.ESTATE_IMPORT: frozenset({Role.OPERATOR, Role.COMPANY_MANAGER}),
    Action.ONBOARDING_MANAGE: frozenset({Role.OPERATOR, Role.COMMUNITY_SUPERVISOR}),
    Action.ONBOARDING_READ: EVERYONE_IN_ESTATE | {Role.OPERATOR},
    Action.CONTRACT_DRAFT: APPROVING_BODY | {Role.COMMUNITY_SUPERVISOR},
    Action.CONTRACT_SIGN_SETTLOR: APPROVING_BODY,
    Action.CONTRACT_SIGN_TRUSTEE: frozenset({Role.COMPANY_MANAGER}),
    Action.HANDOVER_MANAGE: APPROVING_BODY | {Role.COMMUNITY_SUPERVISOR},
    Action.UNITS_READ: EVERYONE_IN_ESTATE | {Role.OPERATOR},
    Action.OWNERS_READ_PERSONAL: APPROVING_BODY | (COMPANY - {Role.COMPANY_STAFF}),
    Action.ROLES_GRANT_ESTATE: frozenset({Role.OPERATOR, Role.COMPANY_MANAGER}),
    Action.ROLES_READ: APPROVING_BODY | SUPERVISORS | COMPANY | {Role.OPERATOR},
    Action.AUDIT_READ: SUPERVISORS | APPROVING_BODY | {Role.OPERATOR},
    Action.ROLL_READ: APPROVING_BODY | SUPERVISORS | COMPANY | {Role.OPERATOR},
    Action.LEDGER_READ: EVERYONE_IN_ESTATE | {Role.OPERATOR},
    Action.LEDGER_POST_INCOME: FINANCE,
    Action.LEDGER_REVERSE: FINANCE,
    Action.CONTRACT_TERMS_SET: frozenset({Role.OPERATOR}),
    Action.DISBURSEMENT_REQUEST: FINANCE,
    Action.DISBURSEMENT_APPROVE: APPROVING_BODY,
    Action.DISBURSEMENT_CANCEL: FINANCE,
    Action.DISBURSEMENT_RECORD_PAID: FINANCE,
    Action.BANK_DEBIT_RECORD: FINANCE | APPROVING_BODY,
    Action.STATEMENT_IMPORT: FINANCE | APPROVING_BODY,
    Action.STATEMENT_MATCH: FINANCE,
    Action.FLAG_EXPLAIN: FINANCE | APPROVING_BODY,
    Action.KPI_READ_AREA: frozenset({Role.OPERATOR, Role.COMMUNITY_SUPERVISOR}),
    Action.DISCLOSURE_EDIT: frozenset({Role.COMPANY_MANAGER}),
    Action.BANK_ACCOUNT_REGISTER: APPROVING_BODY,
    Action.TAKINGS_IMPORT: FINANCE | APPROVING_BODY,
    Action.INCOME_CONTRACT_SAVE: FINANCE | APPROVING_BODY,
    Action.PERIOD_CLOSE: FINANCE,
    Action.HEAD_SIGN_COMPANY: frozenset({Role.COMPANY_MANAGER}),
    Action.HEAD_SIGN_COMMITTEE: APPROVING_BODY,
    Action.VOUCHER_UPLOAD: FINANCE,
    Action.VOUCHER_READ_ORIGINAL: APPROVING_BODY | SUPERVISORS | FINANCE,
    Action.FEES_SET_RATES: frozenset({Role.OPERATOR, Role.COMPANY_MANAGER}),
    Action.FEES_ASSESS: FINANCE,
    Action.PAYMENT_RECORD: FINANCE,
    Action.ARREARS_READ_UNITS: APPROVING_BODY | SUPERVISORS | COMPANY,
    Action.BUDGET_DRAFT: APPROVING_BODY | {Role.COMPANY_MANAGER},
    Action.ACCOUNTS_EXTEND: frozenset({Role.COMPANY_MANAGER, Role.OPERATOR}),
    Action.MAINTENANCE_RAISE: FINANCE,
    Action.OPENING_POST: FINANCE | {Role.OPERATOR},
    Action.BALLOT_ORGANISE: APPROVING_BODY,
    Action.BALLOT_VOTE: frozenset({Role.OWNER}),
    Action.VOICE_READ: EVERYONE_IN_ESTATE,
    Action.SUGGESTION_SUBMIT: RESIDENTS | APPROVING_BODY | SUPERVISORS,
    Action.INQUIRY_OPEN: SUPERVISORS,
    Action.SUGGESTION_HANDLE: COMPANY,
    Action.SURVEY_PUBLISH: APPROVING_BODY | {Role.COMPANY_MANAGER},
    Action.SURVEY_ANSWER: RESIDENTS,
    Action.TENDER_MANAGE: APPROVING_BODY,
    Action.TENDER_BID: frozenset({Role.COMPANY_MANAGER}),
    Action.MEETING_SCHEDULE: APPROVING_BODY | {Role.COMPANY_MANAGER},
    Action.MEETING_REPORT: frozenset({Role.COMPANY_MANAGER}),
    Action.MEETING_MINUTES: APPROVING_BODY,
    Action.WEBHOOK_MANAGE: frozenset({Role.COMMITTEE_CHAIR, Role.COMPANY_MANAGER, Role.OPERATOR}),
}


def roles_in(principal: Principal, estate_id: uuid.UUID | None) -> set[Role]:
    """The caller's roles that apply to an estate (platform roles always apply)."""
    found: set[Role] = set()
    found.update(r for r in map(_ROLES.get, principal.role_names) if r in _PLATFORM_ROLES)
    if estate_id is not None:
        names = principal.roles_by_estate.get(str(estate_id), ())
        found.update(r for r in map(_ROLES.get, names) if r)
    return found


_ROLES: dict[str, Role] = {r.value: r for r in Role}
_PLATFORM_ROLES = frozenset(r for r in Role if SCOPE_OF[r] is Scope.PLATFORM)


def allowed(principal: Principal, action: Action, estate_id: uuid.UUID | None = None) -> bool:
    return bool(roles_in(principal, estate_id) & MATRIX[action])


def authorize(
    action: Action, estate_id: uuid.UUID | str | None = None
) -> tuple[Principal, uuid.UUID | None]:
    """Checks the caller may do `action` (in `estate_id`, if given).

    A caller with no role at all in the estate gets NOT_FOUND, since whether an estate exists is
    itself private to its members; one with a role but not this permission gets
    PERMISSION_DENIED with the reason.
    """
    principal = require()
    estate: uuid.UUID | None = None
    if estate_id is not None:
        try:
            estate = estate_id if isinstance(estate_id, uuid.UUID) else uuid.UUID(estate_id)
        except ValueError:
            raise InvalidArgument("estate_id must be a UUID") from None
    if allowed(principal, action, estate):
        return principal, estate
    if estate is not None and not roles_in(principal, estate):
        raise NotFound("no such estate")
    raise PermissionDenied(f"your roles do not allow this ({action.value})")


def authorize_estate(action: Action, estate_id: uuid.UUID | str) -> tuple[Principal, uuid.UUID]:
    """`authorize` for a call that names an estate: the estate comes back as a UUID."""
    principal, estate = authorize(action, estate_id)
    assert estate is not None
    return principal, estate


def matrix_table() -> str:
    """The matrix as a Markdown table, for the README (a test keeps the two in step)."""
    roles = list(Role)
    head = "| action | " + " | ".join(r.value for r in roles) + " |"
    rule = "|---|" + "---|" * len(roles)
    rows = [
        f"| `{a.value}` | " + " | ".join("✓" if r in MATRIX[a] else "" for r in roles) + " |"
        for a in Action
    ]
    return "\n".join([head, rule, *rows])

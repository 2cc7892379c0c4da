"""Who must hear of what: each event the platform emits becomes at most one notice, worded in
Chinese, with the audience it is for. Pure: the directory turns an audience into people."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from xinyi_kit.permissions import APPROVING_BODY, EVERYONE_IN_ESTATE, Role

LOCAL = ZoneInfo("Asia/Shanghai")

# Messages nobody can switch off entirely, nor hold back for quiet hours or a digest.
SECURITY_KINDS = ("approval_requested", "bank_alarm", "cosign_requested", "new_device_login")
# Delivery order when many wait: security first, then what concerns one person, then what
# concerns the estate, then the bulk of monthly reports.
PRIORITY_SECURITY, PRIORITY_PERSONAL, PRIORITY_ESTATE, PRIORITY_BULK = 0, 1, 2, 3

KINDS: dict[str, str] = {
    "approval_requested": "付款待审批",
    "bank_alarm": "共管账户异常扣款",
    "cosign_requested": "月结待会签",
    "flag_raised": "公示异常提示",
    "ballot_announced": "业主大会公告",
    "ballot_opened": "投票开始",
    "ballot_closing": "投票即将截止",
    "ballot_result": "表决结果",
    "vote_counted": "投票已计入",
    "report_published": "月度公示发布",
    "fee_due": "物业费缴费提醒",
    "fee_arrears": "物业费欠费提醒",
    "suggestion_answered": "建议已回复",
    "suggestion_rectified": "整改已完成",
    "new_device_login": "新设备登录",
}

APPROVERS = frozenset(r.value for r in APPROVING_BODY)
OVERSIGHT = APPROVERS | {Role.ESTATE_SUPERVISOR.value}
OWNERS = frozenset({Role.OWNER.value})
EVERYONE = frozenset(r.value for r in EVERYONE_IN_ESTATE)


@dataclass(frozen=True)
class Notice:
    kind: str
    title: str
    body: str
    link: str
    params: dict[str, Any] = field(default_factory=dict)
    # Members of the estate holding one of these roles.
    roles: frozenset[str] = frozenset()
    # And the supervisors of the estate's community.
    community_supervisors: bool = False
    users: tuple[str, ...] = ()
    # The owners (their accounts) of these units.
    units: tuple[str, ...] = ()
    # An estate-wide matter: it goes to the estate's and its company's webhooks too.
    broadcast: bool = False

    @property
    def urgent(self) -> bool:
        return self.kind in SECURITY_KINDS

    @property
    def priority(self) -> int:
        if self.urgent:
            return PRIORITY_SECURITY
        if self.kind == "report_published":
            return PRIORITY_BULK
        return PRIORITY_ESTATE if self.broadcast else PRIORITY_PERSONAL


def yuan(fen: int) -> str:
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole:,}.{cents:02d}"


def local(when: datetime | None) -> str:
    return when.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M") if when else ""


def disbursement_requested(
    estate_id: str,
    estate: str,
    disbursement_id: str,
    amount_fen: int,
    payee: str,
    purpose: str,
    required: int,
) -> Notice:
    return Notice(
        kind="approval_requested",
        title=f"{estate}：付款申请待审批 {yuan(amount_fen)} 元",
        body=(
            f"物业公司申请从公共资金向“{payee}”支付 {yuan(amount_fen)} 元，用途：{purpose}。"
            f"按本小区的审批规则需要 {required} 位审批人批准，请登录核对凭证后审批。"
        ),
        link=f"/fund/{estate_id}/disbursements/{disbursement_id}",
        params={
            "amount_fen": amount_fen,
            "payee": payee,
            "purpose": purpose,
            "approvals_required": required,
            "disbursement_id": disbursement_id,
        },
        roles=APPROVERS,
        broadcast=True,
    )


def bank_alarm(
    estate_id: str, estate: str, line_id: str, amount_fen: int, booked_on: str, narrative: str
) -> Notice:
    return Notice(
        kind="bank_alarm",
        title=f"{estate}：共管账户出现未经批准的扣款 {yuan(amount_fen)} 元",
        body=(
            f"{booked_on} 银行流水显示公共资金账户支出 {yuan(amount_fen)} 元（摘要：{narrative}），"
            "没有已批准并已付款的支出与之对应。请立即核实。"
        ),
        link=f"/fund/{estate_id}/reconcile",
        params={
            "amount_fen": amount_fen,
            "booked_on": booked_on,
            "narrative": narrative,
            "line_id": line_id,
        },
        roles=OVERSIGHT,
        community_supervisors=True,
        broadcast=True,
    )


def cosign_requested(estate_id: str, estate: str, period: str) -> Notice:
    return Notice(
        kind="cosign_requested",
        title=f"{estate}：{period} 月结账头待会签",
        body=(
            f"物业公司已签署 {period} 的账期账头（默克尔根与哈希链头），"
            "请业委会核对当月账目后用设备密钥会签。"
        ),
        link=f"/fund/{estate_id}/periods/{period}",
        params={"period": period},
        roles=APPROVERS,
        broadcast=True,
    )


def flag_raised(estate_id: str, estate: str, flag_id: str, kind: str, reason: str) -> Notice:
    return Notice(
        kind="flag_raised",
        title=f"{estate}：公示出现异常提示",
        body=reason,
        link=f"/reports/{estate_id}/flags",
        params={"flag_id": flag_id, "flag_kind": kind},
        roles=OVERSIGHT,
        community_supervisors=True,
        broadcast=True,
    )


def ballot_state(
    estate_id: str,
    estate: str,
    ballot_id: str,
    state: str,
    title: str,
    opens_at: datetime | None,
    closes_at: datetime | None,
) -> Notice | None:
    link = f"/voting/{estate_id}/ballots/{ballot_id}"
    params = {
        "ballot_id": ballot_id,
        "ballot_title": title,
        "voting_opens_at": opens_at.isoformat() if opens_at else None,
        "voting_closes_at": closes_at.isoformat() if closes_at else None,
    }
    if state == "announced":
        return Notice(
            kind="ballot_announced",
            title=f"{estate}：业主大会公告「{title}」",
            body=f"投票时间：{local(opens_at)} 至 {local(closes_at)}。表决材料已公示，请查阅。",
            link=link,
            params=params,
            roles=OWNERS,
            broadcast=True,
        )
    if state == "open":
        return Notice(
            kind="ballot_opened",
            title=f"{estate}：「{title}」开始投票",
            body=f"投票将于 {local(closes_at)} 截止。每套房屋一票，可在截止前修改。",
            link=link,
            params=params,
            roles=OWNERS,
            broadcast=True,
        )
    return None


def ballot_closing(
    estate_id: str, estate: str, ballot_id: str, title: str, closes_at: datetime
) -> Notice:
    return Notice(
        kind="ballot_closing",
        title=f"{estate}：「{title}」24 小时内截止投票",
        body=f"投票将于 {local(closes_at)} 截止。尚未投票的业主请尽快投票。",
        link=f"/voting/{estate_id}/ballots/{ballot_id}",
        params={
            "ballot_id": ballot_id,
            "ballot_title": title,
            "voting_closes_at": closes_at.isoformat(),
        },
        roles=OWNERS,
        broadcast=True,
    )


def ballot_result(
    estate_id: str, estate: str, ballot_id: str, question: str, approved: bool
) -> Notice:
    verdict = "通过" if approved else "未通过"
    return Notice(
        kind="ballot_result",
        title=f"{estate}：表决结果——{question}：{verdict}",
        body=f"「{question}」经业主大会表决{verdict}，异议期已过，结果生效。详细计票可在线查看。",
        link=f"/voting/{estate_id}/ballots/{ballot_id}",
        params={"ballot_id": ballot_id, "question": question, "approved": approved},
        roles=OWNERS,
        broadcast=True,
    )


def vote_counted(
    estate_id: str, estate: str, ballot_id: str, title: str, receipt: str, voter: str
) -> Notice:
    return Notice(
        kind="vote_counted",
        title=f"{estate}：您的投票已计入",
        body=f"您在「{title or '表决'}」中的投票已计入，回执码 {receipt}，可凭回执码核验。",
        link=f"/voting/{estate_id}/ballots/{ballot_id}",
        params={"ballot_id": ballot_id, "receipt_code": receipt},
        users=(voter,),
    )


def report_published(estate_id: str, estate: str, period: str) -> Notice:
    return Notice(
        kind="report_published",
        title=f"{estate}：{period} 月度公示已发布",
        body=f"{period} 的收支、对账、预算执行和公示异常提示已公布，可在线查看或下载公示。",
        link=f"/reports/{estate_id}/{period}",
        params={"period": period},
        roles=EVERYONE,
        broadcast=True,
    )


def fee_reminder(
    estate_id: str,
    estate: str,
    unit_id: str,
    kind: str,
    period: str,
    owed_fen: int,
    oldest: str,
) -> Notice | None:
    if kind == "due":
        return Notice(
            kind="fee_due",
            title=f"{estate}：{period} 物业费 {yuan(owed_fen)} 元待缴",
            body=f"您的房屋 {period} 的物业费 {yuan(owed_fen)} 元已出账，请按时缴纳。",
            link=f"/fund/{estate_id}/fees",
            params={"unit_id": unit_id, "period": period, "owed_fen": owed_fen},
            units=(unit_id,),
        )
    if kind == "arrears":
        return Notice(
            kind="fee_arrears",
            title=f"{estate}：物业费欠缴 {yuan(owed_fen)} 元",
            body=(
                f"您的房屋自 {oldest or period} 起尚欠物业费 {yuan(owed_fen)} 元。"
                "缴费将先冲抵最早的欠费。服务不会因欠费而中断（民法典第九百四十四条）。"
            ),
            link=f"/fund/{estate_id}/fees",
            params={
                "unit_id": unit_id,
                "period": period,
                "owed_fen": owed_fen,
                "oldest_period": oldest,
            },
            units=(unit_id,),
        )
    return None


def suggestion_updated(
    estate_id: str, estate: str, suggestion_id: str, state: str, submitter: str
) -> Notice | None:
    link = f"/voice/{estate_id}/{suggestion_id}"
    params = {"suggestion_id": suggestion_id, "state": state}
    if not submitter:
        return None
    if state == "answered":
        return Notice(
            kind="suggestion_answered",
            title=f"{estate}：您的建议已回复",
            body="物业公司回复了您提交的建议或投诉，请查看回复内容。",
            link=link,
            params=params,
            users=(submitter,),
        )
    if state == "rectified":
        return Notice(
            kind="suggestion_rectified",
            title=f"{estate}：整改已完成，请确认",
            body="物业公司报告已完成整改。请核实后确认，未整改到位可重新打开。",
            link=link,
            params=params,
            users=(submitter,),
        )
    return None


def new_device_login(user: str, device: str, client_ip: str, at: datetime) -> Notice:
    return Notice(
        kind="new_device_login",
        title="您的账号在新设备上登录",
        body=(
            f"{local(at)} 您的账号在一个新的浏览器或应用上登录"
            f"（{device[:80]}，IP {client_ip or '未知'}）。"
            "如果不是您本人，请立即修改密码并联系平台运营方。"
        ),
        link="/",
        params={"device": device[:200], "client_ip": client_ip, "at": at.isoformat()},
        users=(user,),
    )

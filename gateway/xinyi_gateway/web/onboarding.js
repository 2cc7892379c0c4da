// 进驻 (onboarding): the community's table of every estate's stage; an estate's case with its
// stage as steps; the trust contract drafted by the approving body, read in plain terms and
// signed by both parties with their device keys; notice and the handover checklist. Loaded by
// app.js only when opened.

import * as deviceKeys from "/devicekeys.js";
import { addMessages } from "/i18n.js";
import { messages } from "/onboarding-i18n.js";
import { base64url } from "/proof.js";

addMessages(messages);

const STEPS = ["opened", "group_formed", "tendering", "decided", "contract_signed", "active"];
const ARRANGEMENTS = ["none", "lump_sum", "self_managed", "other"];
const UNITS = ["residential", "commercial", "parking", "other"];
const SOURCES = ["property_fee", "parking", "advertising", "venue", "other"];
const APPROVERS = ["committee_chair", "committee_member"];
// Badges of states, in the shell's colours: waiting, under way, stopped (green otherwise).
const TONE = { awaiting_signatures: "state-published", signed: "state-announced",
  ended: "state-draft", open: "state-announced", refused: "state-rejected" };
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
// The server's refusals people meet, in our own words: status (0: any), its detail, message key.
const ERRORS = [
  [400, /starts_on is today/, "past"],
  [400, /ends_on is more/, "short"], [0, /remuneration_sources/, "sources"],
  [0, /remuneration/, "pay"], [0, /notice_days/, "notice"],
  [0, /bank_account_number/, "account"], [0, /threshold|approvals/, "threshold"],
  [0, /supervisors/, "supervisors"], [400, /does not verify/, "badSignature"],
  [422, /key registered/, "noKey"], [422, /notice period runs/, "notYet"],
  [422, /checklist is not/, "checklist"], [400, /not after today/, "future"],
  [404, /no such estate/, "notFound"],
];

const $ = (id) => document.getElementById(id);
const pad = (n) => String(n).padStart(2, "0");
const lines = (text) => text.split("\n").map((x) => x.trim()).filter(Boolean);

/** Whole fen as "1,234.56". */
const yuanDigits = (fen) =>
  `${String(Math.floor(fen / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${pad(fen % 100)}`;

/** Yuan as typed ("1,500", "¥1500.5") in whole fen, or null. */
function fenOf(text) {
  const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(text.replace(/[,，¥￥\s]/g, ""));
  return m ? Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0")) : null;
}

/** Yuan per m² as typed ("2.125") in fen as the exact decimal text the contract keeps ("212.5"). */
function rateFen(text) {
  const m = /^(\d{1,4})(?:\.(\d{1,6}))?$/.exec(text.replace(/^[¥￥]/, ""));
  if (!m) return null;
  const frac = (m[2] ?? "").padEnd(2, "0");
  const rest = frac.slice(2).replace(/0+$/, "");
  return `${Number(m[1] + frac.slice(0, 2))}${rest ? `.${rest}` : ""}`;
}

/** The contract's fen per m² ("250", "212.5") in yuan ("2.50", "2.125"). */
function rateYuan(text) {
  const [whole, frac = ""] = String(text).split(".");
  const d = whole.padStart(3, "0");
  return `${Number(d.slice(0, -2))}.${`${d.slice(-2)}${frac}`.replace(/0+$/, "").padEnd(2, "0")}`;
}

/** A share as typed ("10%", "12.5%", "1/10") as the fraction the contract keeps ("1/8"), or null. */
function ratioOf(text) {
  const s = text.replace(/\s/g, "").replace("％", "%");
  const m = /^(\d{1,2})(?:\.(\d{1,2}))?%$/.exec(s);
  if (!m) return /^\d{1,4}\/\d{1,5}$/.test(s) ? s : null;
  const [n, d] = [Number(`${m[1]}${m[2] ?? ""}`), 100 * 10 ** (m[2] ?? "").length];
  const gcd = (a, b) => (b ? gcd(b, a % b) : a);
  return `${n / gcd(n, d)}/${d / gcd(n, d)}`;
}

/** A share "n/d" in percent, to read ("10.00"). */
const percent = (ratio) => ((100 * ratio.split("/")[0]) / ratio.split("/")[1]).toFixed(2);

/** A refused input: which control, and what to say. */
class Wrong extends Error {
  constructor(id, key, params) {
    super(key);
    Object.assign(this, { id, key, params });
  }
}
const need = (ok, id, key, params) => {
  if (!ok) throw new Wrong(id, `onb.error.${key}`, params);
};

export function mount(app) {
  const { call, say, reportError, requireFilled, busy, t, ApiError, onLanguage } = app;
  const root = $("onboarding-root");
  const S = { me: null, loaded: false, stages: null, estates: [], id: null, inflight: null };
  const clear = () => Object.assign(S, { name: "", community: null, case: null, member: true,
    contracts: [], handovers: [] });
  clear();

  /** An element: attributes (class; value; on<event>; the rest as they are) and children. */
  function h(tag, attrs = {}, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "value") node.defaultValue = node.value = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    node.append(...kids.flat(Infinity).filter((x) => x || x === 0));
    return node;
  }

  // --- words
  const ep = (tail) => `/api/v1/estates/${encodeURIComponent(S.id)}${tail}`;
  const hint = (key, params) => h("p", { class: "hint" }, t(key, params));
  const badge = (cls, key) => h("span", { class: cls ? `badge ${cls}` : "badge" }, t(key));
  const yuan = (fen) => t("onb.yuan", { v: yuanDigits(fen) });
  const pct = (permille) => (permille == null ? t("onb.unknown") : `${(permille / 10).toFixed(1)}%`);
  const fmt = (date, options) => (Number.isNaN(date.getTime()) ? ""
    : new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", options).format(date));
  const when = (iso) => (iso ? fmt(new Date(iso), { dateStyle: "medium", timeStyle: "short" }) : "");
  const day = (ymd) => {
    const [y, m, d] = (ymd ?? "").split("-").map(Number);
    return ymd ? fmt(new Date(y, m - 1, d), { dateStyle: "medium" }) : "";
  };
  const facts = (rows) => h("dl", { class: "facts" }, rows.filter(([, v]) => v).map(([key, v]) =>
    h("div", {}, h("dt", {}, t(key)), h("dd", {}, v))));

  // --- who may do what here
  const has = (role, where = () => true) => (S.me?.roles ?? []).some((g) => g.role === role && where(g));
  const overseer = () => has("operator") || has("community_supervisor");
  const community = () => has("community_supervisor",
    (g) => !S.community || g.community_id === S.community);
  const approver = () => APPROVERS.some((r) => has(r, (g) => g.estate_id === S.id));
  const canManage = () => has("operator") || community();
  const canHandover = () => approver() || community();
  const canDraft = () => canHandover() && S.case?.company_ballot_id
    && !S.contracts.some((k) => k.company_ballot_id === S.case.company_ballot_id);
  const partyOf = (k) => (has("company_manager", (g) => g.company_id === k.company_id) ? "company"
    : approver() ? "approving_body" : null);

  // --- forms
  function field(id, key, control, params) {
    Object.assign(control, { id, name: id });
    return h("div", { class: "field" }, h("label", { for: id }, t(key, params)), control);
  }
  const input = (id, key, attrs = {}, params) =>
    field(id, key, h("input", { type: "text", autocomplete: "off", ...attrs }), params);
  const area = (id, key, value) => field(id, key, h("textarea", { rows: "3", maxlength: "4000", value }));
  const select = (id, key, options, value) => field(id, key, h("select", {}, options.map(([v, k]) =>
    h("option", { value: v, selected: v === value }, t(k)))));
  const group = (key, kids) => h("fieldset", { class: "items-box" }, h("legend", {}, t(key)),
    h("div", { class: "form inline-form" }, kids));
  const val = (id) => $(id).value.trim();

  /** A form running `act()` on submit, busy, a wrong input focused and refusals explained. (No
   * idempotency key: a second case, or contract on one decision, is refused.) */
  function form(id, kids, submitKey, act) {
    const submit = h("button", { type: "submit", class: "button primary", id: `${id}-submit` },
      t(submitKey));
    return h("form", { id, class: "form", novalidate: true, onsubmit: (event) => {
      event.preventDefault();
      busy(submit, () => act().catch(explain));
    } }, kids, submit);
  }

  const button = (id, key, run) => h("button", { type: "button", class: "button", id,
    onclick: (event) => busy(event.currentTarget, () => run().catch(explain)) }, t(key));

  /** A whole number typed in `id` (a percentage with one decimal: in per mille); `blank` when
   * empty; refused when malformed. */
  function number(id, blank, permille = false) {
    const s = val(id).replace(/[%％]$/, "");
    if (!s) return blank;
    const m = (permille ? /^(\d{1,3})(?:\.(\d))?$/ : /^\d{1,7}$/).exec(s);
    const v = m && (permille ? Number(m[1]) * 10 + Number(m[2] ?? 0) : Number(s));
    need(m && (!permille || v <= 1000), id, "number");
    return v;
  }

  function explain(error) {
    if (error instanceof Wrong) {
      $(error.id).setAttribute("aria-invalid", "true");
      $(error.id).focus();
      return say("error", error.key, error.params);
    }
    if (error instanceof ApiError) {
      const detail = typeof error.problem?.detail === "string" ? error.problem.detail : "";
      const { sentence } = error;
      const known = ERRORS.find(([status, pattern]) => [0, error.status].includes(status)
        && pattern.test(sentence));
      const date = day(/\d{4}-\d{2}-\d{2}/.exec(sentence)?.[0]);
      if (known) return say("error", `onb.error.${known[2]}`, { date });
      if (error.status === 403) return say("error", "onb.error.forbidden");
      if ([400, 409, 422].includes(error.status) && detail
          && !sentence.startsWith("the request is not")) {
        return say("error", "onb.error.refused", { detail });
      }
    }
    return reportError(error);
  }

  // --- the community's table, and the ways to an estate
  function stagesPanel() {
    // An estate's name opens it: its case, or the form to open one.
    const rows = S.stages.map((e) => h("tr", { "data-estate": e.estate_id },
      h("th", { scope: "row" }, h("button", { type: "button", class: "link-button",
        onclick: () => choose(e.estate_id) }, e.estate_name)),
      h("td", { "data-stage": e.stage }, t(`onb.stage.${e.stage}`)),
      h("td", {}, e.company_name || t("onb.noCompany")),
      h("td", {}, e.contract_ends_on ? day(e.contract_ends_on) : "—")));
    return h("section", { class: "panel", "aria-labelledby": "onb-stages-heading" },
      h("h2", { id: "onb-stages-heading" }, t("onb.stages.heading")),
      rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "ledger-table", id: "onb-stages" },
        h("thead", {}, h("tr", {}, ["estate", "stage", "company", "ends"].map((c) =>
          h("th", { scope: "col" }, t(`onb.col.${c}`))))), h("tbody", {}, rows))) : hint("onb.stages.none"));
  }

  function chooser() {
    const box = select("onb-estate-choose", "onb.estate.choose",
      S.estates.map((e) => [e.estate_id, e.name]), S.id);
    box.lastChild.addEventListener("change", (event) => choose(event.target.value));
    return box;
  }

  // A company's manager reaches a contract of an estate its company does not serve yet by the
  // estate's number, which the page shows the committee to pass on.
  const opener = () => form("onb-open", [input("onb-open-id", "onb.open.label", { spellcheck: "false" }),
    hint("onb.open.hint")], "onb.open.submit", async () => {
    const found = UUID.exec(val("onb-open-id"));
    need(found, "onb-open-id", "badNumber");
    await choose(found[0].toLowerCase());
  });

  // --- an estate: its case
  function steps(c) {
    const at = c.stage === "changing" ? STEPS.length : STEPS.indexOf(c.stage);
    return [h("ol", { class: "steps", id: "onb-steps", "aria-label": t("onb.steps") },
      STEPS.map((s, i) => h("li", { "aria-current": i === at ? "step" : null, "data-step": s },
        t(`onb.stage.${s}`), " ", i < at && badge("", "onb.done"),
        i === at && badge("state-announced", "onb.now")))),
    h("p", { id: "onb-stage", class: "item-name", tabindex: "-1", "data-stage": c.stage },
      t("onb.stageIs", { stage: t(`onb.stage.${c.stage}`) }))];
  }

  function caseFacts(c) {
    const { situation: s, baseline: b } = c;
    return facts([
      ["onb.f.body", c.approving_body || t("onb.f.noBody")],
      ["onb.f.opened", when(c.opened_at)],
      ["onb.f.group", c.working_group.map((m) => (m.affiliation
        ? t("onb.member", { name: m.name, from: m.affiliation }) : m.name)).join("、")],
      ["onb.f.arrangement", t(`onb.arr.${s.arrangement}`)],
      ["onb.f.notes", s.notes],
      ["onb.f.survey", s.surveyed_households > 0
        && t("onb.survey", { n: s.surveyed_households, k: s.accepting_households })],
      ["onb.f.needs", s.needs],
      ["onb.f.baseline", t("onb.baselineIs", { pay: pct(b.payment_rate_permille),
        disputes: b.open_disputes ?? t("onb.unknown"), sat: pct(b.satisfaction_permille) })],
    ]);
  }

  function caseForm(c) {
    const s = c?.situation ?? {};
    const b = c?.baseline ?? {};
    const shown = (v, permille) => (v == null ? "" : permille ? (v / 10).toFixed(1) : String(v));
    const node = form("case-form", [
      area("case-group", "onb.c.group", (c?.working_group ?? []).map((m) =>
        [m.name, m.affiliation].filter(Boolean).join("，")).join("\n")), hint("onb.c.groupHint"),
      select("case-arrangement", "onb.c.arrangement", ARRANGEMENTS.map((a) => [a, `onb.arr.${a}`]),
        s.arrangement),
      area("case-notes", "onb.c.notes", s.notes),
      input("case-surveyed", "onb.c.surveyed", { inputmode: "numeric", value: shown(s.surveyed_households) }),
      input("case-accepting", "onb.c.accepting", { inputmode: "numeric",
        value: shown(s.accepting_households) }),
      area("case-needs", "onb.c.needs", s.needs),
      group("onb.c.baseline", [
        input("case-pay", "onb.c.pay", { inputmode: "decimal", value: shown(b.payment_rate_permille, 1) }),
        input("case-disputes", "onb.c.disputes", { inputmode: "numeric", value: shown(b.open_disputes) }),
        input("case-sat", "onb.c.sat", { inputmode: "decimal", value: shown(b.satisfaction_permille, 1) })]),
    ], c ? "onb.c.save" : "onb.start", saveCase);
    return c ? h("details", { id: "case-edit" }, h("summary", {}, t("onb.c.edit")), node)
      : [h("h3", {}, t("onb.start")), node];
  }

  async function saveCase() {
    if (!requireFilled([$("case-group")])) return;
    const old = S.case?.working_group ?? [];
    const members = lines(val("case-group")).map((line) => {
      const cut = /[，,、：:]/.exec(line) ?? /\s/.exec(line);
      const name = (cut ? line.slice(0, cut.index) : line).trim();
      return { name, affiliation: cut ? line.slice(cut.index + 1).trim() : "",
        user_id: old.find((m) => m.name === name)?.user_id ?? null };
    });
    need(members.length <= 30 && members.every((m) => m.name), "case-group", "lines", { n: 30 });
    const surveyed = number("case-surveyed", 0);
    const accepting = number("case-accepting", 0);
    need(accepting <= surveyed, "case-accepting", "count");
    const body = {
      working_group: members,
      situation: { arrangement: val("case-arrangement"), notes: val("case-notes"),
        surveyed_households: surveyed, accepting_households: accepting, needs: val("case-needs") },
      baseline: { payment_rate_permille: number("case-pay", null, true),
        open_disputes: number("case-disputes", null), satisfaction_permille: number("case-sat", null, true) },
    };
    const opening = !S.case;
    S.case = await call(opening ? "POST" : "PATCH", ep("/onboarding"), { body });
    S.member = true;
    await loadStages();
    render(true);
    say("success", opening ? "onb.c.opened" : "onb.c.saved", { name: S.case.estate_name });
    $("onb-stage")?.focus();
  }

  // --- the contracts
  function contract(k) {
    const { terms: x, contract_id: id } = k;
    const party = partyOf(k);
    const signed = new Map(k.signatures.map((s) => [s.party, s]));
    const limits = x.approval_thresholds.map((a, _, all) => (a.up_to_fen != null
      ? t("onb.k.upTo", { v: yuan(a.up_to_fen), n: a.approvals })
      : t(all.length > 1 ? "onb.k.above" : "onb.k.any", { n: a.approvals })));
    return h("article", { class: "items-box", id: `contract-${id}`, "data-state": k.state,
      "aria-labelledby": `contract-${id}-title` },
    h("h4", { id: `contract-${id}-title` }, t("onb.k.title", { company: k.company_name })),
    h("p", { id: `contract-${id}-state`, tabindex: "-1" }, badge(TONE[k.state], `onb.k.state.${k.state}`)),
    facts([
      ["onb.k.settlor", k.settlor],
      ["onb.k.standard", x.service_standard],
      ["onb.k.scope", x.scope],
      ["onb.k.fees", x.fee_rates.map((r) => t("onb.k.rate", { type: t(`onb.unit.${r.unit_type}`),
        v: rateYuan(r.fen_per_m2_month) })).join(t("onb.sep"))],
      ["onb.k.pay", x.remuneration_ratio
        ? t("onb.k.ratio", { r: x.remuneration_ratio, p: percent(x.remuneration_ratio) })
        : t("onb.k.fixed", { v: yuan(x.remuneration_fixed_monthly_fen ?? 0) })],
      ["onb.k.sources", x.remuneration_sources.map((s) => t(`onb.src.${s}`)).join("、")],
      ["onb.k.term", t("onb.k.termIs", { from: day(x.starts_on), to: day(x.ends_on) })],
      ["onb.k.notice", t("onb.k.noticeIs", { d: x.dismissal_notice_days, n: x.non_renewal_notice_days })],
      ["onb.k.bank", t("onb.k.bankIs", { bank: x.bank_name, holder: x.bank_account_holder,
        number: x.bank_account_number })],
      ["onb.k.approvals", limits.join(t("onb.sep"))],
      ["onb.k.supervisors", x.supervisors.join("、")],
      ["onb.k.ended", day(k.ended_on)],
    ]),
    h("h5", {}, t("onb.k.signatures")),
    h("ul", { class: "items", id: `contract-${id}-signatures` }, ["company", "approving_body"].map((p) =>
      h("li", { "data-party": p, "data-signed": String(signed.has(p)) },
        h("span", { class: "item-name" }, t(`onb.k.party.${p}`)),
        h("span", { class: "item-meta" }, signed.has(p)
          ? t("onb.k.signedAt", { at: when(signed.get(p).signed_at) }) : t("onb.k.unsigned"))))),
    h("details", {}, h("summary", {}, t("onb.k.payload")), h("p", { class: "hash" }, k.payload_json)),
    party && k.state === "awaiting_signatures" && !signed.has(party)
      && button(`contract-${id}-sign`, "onb.k.sign", () => sign(k)),
    party === "company" && k.state === "in_force" && !S.handovers.some((o) => o.state === "open")
      && h("details", {}, h("summary", {}, t("onb.k.leave")),
        hint("onb.k.leaveText", { n: x.non_renewal_notice_days }),
        button(`contract-${id}-notice`, "onb.k.leaveGo", async () => {
          await call("POST", ep(`/trust-contracts/${id}/notice`));
          await done("onb.k.left", {}, "onb-handovers-heading");
        })));
  }

  /** The id of this device's registered key (made on the home page), or null. */
  async function myKeyId() {
    const jwk = deviceKeys.supported() ? await deviceKeys.storedPublicJwk().catch(() => null) : null;
    if (!jwk) return null;
    const reply = await call("GET", "/api/v1/me/device-keys");
    const key = (reply?.keys ?? []).find((k) => {
      const other = typeof k.public_jwk === "string" ? JSON.parse(k.public_jwk) : k.public_jwk;
      return !k.revoked_at && other.crv === jwk.crv && other.x === jwk.x && other.y === jwk.y;
    });
    return key?.key_id ?? null;
  }

  async function sign(k) {
    const keyId = await myKeyId();
    if (!keyId) return say("error", "onb.error.noKey");
    const signature = await deviceKeys.sign(new TextEncoder().encode(k.payload_json));
    const after = await call("POST", ep(`/trust-contracts/${k.contract_id}/signatures`), {
      body: { key_id: keyId, signature: base64url(signature) },
    });
    return done(after.state === "awaiting_signatures" ? "onb.k.signed" : "onb.k.bothSigned",
      { date: day(after.terms.starts_on) }, `contract-${k.contract_id}-state`);
  }

  function draftForm() {
    const days = (id, key, value, min) => input(id, key, { type: "number", min, max: "365", value });
    return [h("h3", {}, t("onb.d.heading")), form("draft-form", [
      area("draft-standard", "onb.d.standard"),
      area("draft-scope", "onb.d.scope"),
      group("onb.d.fees", UNITS.map((u) =>
        input(`draft-fee-${u}`, `onb.unit.${u}`, { inputmode: "decimal" }))),
      group("onb.d.pay", [input("draft-ratio", "onb.d.ratio"), input("draft-fixed", "onb.d.fixed")]),
      group("onb.d.sources", SOURCES.map((s) => h("label", { class: "choice", for: `draft-src-${s}` },
        h("input", { type: "checkbox", id: `draft-src-${s}`, checked: s === "property_fee" }),
        t(`onb.src.${s}`)))),
      input("draft-starts", "onb.d.starts", { type: "date" }),
      input("draft-ends", "onb.d.ends", { type: "date" }),
      days("draft-dismissal", "onb.d.dismissal", "60", "60"),
      days("draft-renewal", "onb.d.renewal", "90", "90"),
      group("onb.k.bank", [input("draft-number", "onb.d.number", { spellcheck: "false" }),
        input("draft-bank", "onb.d.bankName"), input("draft-holder", "onb.d.holder")]),
      group("onb.k.approvals", [input("draft-upto", "onb.d.upTo", { inputmode: "decimal" }),
        days("draft-low", "onb.d.low", "1", "1"), days("draft-high", "onb.d.high", "2", "1")]),
      area("draft-supervisors", "onb.d.supervisors"),
    ], "onb.d.submit", onDraft)];
  }

  async function onDraft() {
    const required = ["standard", "scope", "starts", "ends", "number", "bank", "holder", "supervisors"];
    if (!requireFilled(required.map((n) => $(`draft-${n}`)))) return;
    const fees = UNITS.filter((u) => val(`draft-fee-${u}`)).map((u) => {
      const fen = rateFen(val(`draft-fee-${u}`));
      need(Number(fen), `draft-fee-${u}`, "rate");
      return { unit_type: u, fen_per_m2_month: fen };
    });
    need(fees.length, "draft-fee-residential", "rate");
    const ratio = val("draft-ratio") && ratioOf(val("draft-ratio"));
    const fixed = val("draft-fixed") && fenOf(val("draft-fixed"));
    need(!ratio !== !fixed, val("draft-ratio") ? "draft-ratio" : "draft-fixed", "pay");
    const upTo = val("draft-upto") && fenOf(val("draft-upto"));
    need(!val("draft-upto") || upTo, "draft-upto", "threshold");
    const [dismissal, renewal, low, high] = ["dismissal", "renewal", "low", "high"].map((x) =>
      Number(val(`draft-${x}`)));
    // The server checks the rest (dates, notice, account, approvals) and we say its refusal.
    await call("POST", ep("/trust-contracts"), { body: {
      service_standard: val("draft-standard"), scope: val("draft-scope"), fee_rates: fees,
      remuneration_ratio: ratio || null, remuneration_fixed_monthly_fen: fixed || null,
      remuneration_sources: SOURCES.filter((x) => $(`draft-src-${x}`).checked),
      starts_on: val("draft-starts"), ends_on: val("draft-ends"), dismissal_notice_days: dismissal,
      non_renewal_notice_days: renewal, bank_account_number: val("draft-number"),
      bank_name: val("draft-bank"), bank_account_holder: val("draft-holder"),
      supervisors: lines(val("draft-supervisors")),
      approval_thresholds: [upTo && { up_to_fen: upTo, approvals: low }, { up_to_fen: null, approvals: high }]
        .filter(Boolean),
    } });
    await done("onb.d.drafted", {}, "onb-contracts-heading");
  }

  // --- the handovers
  function handover(o) {
    const id = o.handover_id;
    const item = (i) => t(`onb.h.item.${i.item}`);
    const open = o.state === "open" && canHandover();
    const checklist = form(`ho-${id}-form`, h("fieldset", { disabled: !open }, o.checklist.map((i) =>
      h("div", { class: "form inline-form", "data-item": i.item },
        select(`ho-${id}-${i.item}`, `onb.h.item.${i.item}`, ["pending", "done", "refused"].map((x) =>
          [x, `onb.h.st.${x}`]), i.state),
        input(`ho-${id}-${i.item}-note`, "onb.h.noteOf", { maxlength: "500", value: i.note },
          { item: item(i) })))),
    "onb.h.save", async () => {
      const items = o.checklist.map(({ item: i }) => ({ item: i, state: val(`ho-${id}-${i}`),
        note: val(`ho-${id}-${i}-note`) }));
      await call("PATCH", ep(`/handovers/${id}`), { body: { items } });
      await done("onb.h.saved", {}, `handover-${id}`);
    });
    checklist.lastChild.hidden = !open;
    return h("article", { class: "items-box", id: `handover-${id}`, tabindex: "-1", "data-state": o.state },
      h("h4", {}, t(`onb.h.reason.${o.reason}`), " ", badge(TONE[o.state], `onb.h.state.${o.state}`)),
      facts([["onb.h.decided", day(o.decided_on)], ["onb.h.noticeEnds", day(o.notice_ends_on)],
        ["onb.h.handed", day(o.handed_over_on)]]),
      o.refused_from && h("p", { class: "marker" }, t("onb.h.refused", { date: day(o.refused_from) })),
      checklist, open && form(`ho-${id}-done`, [input(`ho-${id}-on`, "onb.h.on", { type: "date" })],
        "onb.h.complete", async () => {
          const on = val(`ho-${id}-on`);
          const after = await call("POST", ep(`/handovers/${id}/completion`),
            { body: on ? { handed_over_on: on } : {} });
          await done("onb.h.completed", { date: day(after.handed_over_on) }, `handover-${id}`);
        }));
  }

  // --- the view
  function estatePanel() {
    const c = S.case;
    const readable = c || S.member;
    return h("section", { class: "panel", id: "onb-estate", "aria-labelledby": "onb-estate-heading" },
      h("h2", { id: "onb-estate-heading", tabindex: "-1" }, S.name || S.id),
      h("p", { class: "hint" }, t("onb.estateId"), h("code", { class: "hash", id: "onb-estate-id" }, S.id)),
      c ? [steps(c), caseFacts(c)] : hint(readable ? "onb.noCase" : "onb.notMember"),
      canManage() && readable && caseForm(c),
      (c || !readable) && [h("h3", { id: "onb-contracts-heading", tabindex: "-1" }, t("onb.k.heading")),
        S.contracts.length ? S.contracts.map(contract) : hint("onb.k.none")],
      canDraft() && draftForm(),
      S.handovers.length > 0 && [h("h3", { id: "onb-handovers-heading", tabindex: "-1" }, t("onb.h.heading")),
        S.handovers.map(handover)]);
  }

  function view() {
    const status = (key) => h("p", { class: "hint", id: "onb-status" }, t(key));
    if (!S.me) return [status("onb.signInFirst")];
    if (!S.loaded) return [status("onb.loading")];
    return [S.stages && stagesPanel(), !S.stages && S.estates.length > 1 && chooser(),
      has("company_manager") && opener(),
      S.id ? estatePanel() : !S.stages && !S.estates.length && status("onb.none")];
  }

  /** Draws the view again; what someone was typing stays, unless `fresh` (after a step done). */
  function render(fresh = false) {
    const kept = fresh ? [] : [...root.querySelectorAll("[id]:is(input, textarea, select)")]
      .map((n) => [n.id, n.type === "checkbox" ? n.checked : n.value]);
    const opened = fresh ? [] : [...root.querySelectorAll("details[open][id]")].map((n) => n.id);
    const focused = root.contains(document.activeElement) && document.activeElement.id;
    root.replaceChildren(...view().filter(Boolean));
    for (const [id, v] of kept) if ($(id)) $(id)[$(id).type === "checkbox" ? "checked" : "value"] = v;
    for (const id of opened) if ($(id)) $(id).open = true;
    if (focused) $(focused)?.focus();
  }

  // --- loading
  async function loadStages() {
    if (overseer()) S.stages = await call("GET", "/api/v1/onboarding/stages");
  }

  async function loadEstate() {
    const id = S.id;
    const row = S.stages?.find((e) => e.estate_id === id);
    const listed = S.estates.find((e) => e.estate_id === id);
    let c = null;
    let member = true;
    // An estate the table shows without a case has nothing more to read.
    if (row?.stage !== "not_started") {
      try {
        c = await call("GET", ep("/onboarding"));
      } catch (error) {
        if (!(error instanceof ApiError) || ![403, 404].includes(error.status)) throw error;
        member = /onboarding case/.test(error.sentence);
      }
    }
    const [contracts, handovers] = c || !member ? await Promise.all([
      call("GET", ep("/trust-contracts")), call("GET", ep("/handovers"))]) : [[], []];
    if (S.id !== id) return;
    let name = c?.estate_name ?? row?.estate_name ?? listed?.name ?? "";
    try {
      name ||= JSON.parse(contracts[0].payload_json).estate.name;
    } catch {
      // No contract to name the estate: its number stands for it.
    }
    Object.assign(S, { case: c, member, contracts, handovers, name,
      community: row?.community_id ?? listed?.community_id ?? null });
  }

  async function choose(id) {
    S.id = id;
    clear();
    let failed = null;
    try {
      await loadEstate();
    } catch (error) {
      failed = error;
    }
    render(true);
    if (failed) explain(failed);
    else if (!S.member && !S.contracts.length) say("error", "onb.error.notFound");
    else say("info", "onb.shown", { name: S.name || id });
    $("onb-estate-heading")?.focus();
  }

  /** After a step: the estate as it is now, a word of what happened, focus on `focusId`. */
  async function done(key, params, focusId) {
    await Promise.all([loadEstate(), loadStages()]);
    render(true);
    say("success", key, params);
    $(focusId)?.focus();
  }

  async function load() {
    const session = app.session();
    if (S.me !== (session?.me ?? null)) {
      // Someone else signed in (or out): nothing of the last person's view stays.
      Object.assign(S, { me: session?.me ?? null, loaded: false, stages: null, estates: [], id: null });
      clear();
      render(true);
    }
    if (!S.me) return;
    try {
      if (!S.loaded) {
        // The operator lists every estate and a community its own: their table is the way in.
        const reply = overseer() ? null : await call("GET", "/api/v1/estates?limit=100");
        S.estates = reply?.estates ?? [];
        S.id ??= S.estates[0]?.estate_id ?? null;
      }
      await loadStages();
      if (S.id) await loadEstate();
    } catch (error) {
      explain(error);
    }
    S.loaded = true;
    if (app.session() === session) render();
  }

  onLanguage(() => render());
  render(true);

  return {
    refresh() {
      // One load at a time: the shell asks again on every language switch and sign-in.
      if (S.inflight) return;
      const session = app.session();
      S.inflight = load().finally(() => {
        S.inflight = null;
        if (app.session() !== session) this.refresh();
      });
    },
  };
}

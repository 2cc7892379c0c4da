// The common fund's views: balances and the journal for everyone in an estate (each entry's proof
// checked in the browser), the company's postings, payment requests, payments and month ends,
// and the approving body's queue of payments and heads to co-sign.
// Loaded by app.js only when someone opens 基金, so nobody else downloads it.

import * as deviceKeys from "/devicekeys.js";
import { addMessages } from "/i18n.js";
import { accountNamesEn, messages } from "/ledger-i18n.js";
import { base64url, verifyProof } from "/proof.js";
import { markTyped, redrawKeeping, yuanDigits } from "/dom.js";

addMessages(messages);

const FINANCE = new Set(["company_accountant", "company_manager"]);
// What the company may correct by a reversal (the ledger refuses the rest, saying why).
const REVERSIBLE = new Set(["income", "payment", "assessment"]);
const APPROVERS = new Set(["committee_member", "committee_chair"]);
const SOURCES = ["property_fee", "parking", "advertising", "venue", "other"];
const KINDS = ["income", "expense", "remuneration", "reversal", "assessment", "payment",
  "transfer", "opening", "bank_debit"];
const STATES = ["requested", "approved", "rejected", "cancelled", "paid", "posted"];
// Accounts whose balances are credits: shown as positive amounts under their type.
const CREDIT_TYPES = new Set(["liability", "equity", "income"]);
const TYPE_ORDER = ["asset", "liability", "equity", "income", "expense"];
const YUAN = /^(\d{1,11})(?:\.(\d{1,2}))?$/;
const SIX_DIGITS = /^[0-9]{6}$/;
const PAGE = 50;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function monthBefore(period) {
  const [year, month] = period.split("-").map(Number);
  return month === 1 ? `${year - 1}-12` : `${year}-${pad(month - 1)}`;
}

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}`;
}

/** Yuan typed by a person ("1,234.5") as integer fen, or null when it is not an amount. */
export function parseYuan(text) {
  const match = YUAN.exec(String(text).replace(/[,\s，]/g, "").replace(/^[¥￥]/, ""));
  if (!match) return null;
  const fen = Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  return fen > 0 ? fen : null;
}

function fieldOf(id, labelKey, input, t, hintKey) {
  const wrap = el("div", "field");
  const label = el("label");
  label.htmlFor = id;
  label.dataset.l = labelKey;
  label.textContent = t(labelKey);
  input.id = id;
  wrap.append(label);
  if (hintKey) {
    const hint = el("p", "hint");
    hint.id = `${id}-hint`;
    hint.dataset.l = hintKey;
    hint.textContent = t(hintKey);
    input.setAttribute("aria-describedby", hint.id);
    wrap.append(hint);
  }
  wrap.append(input);
  return wrap;
}

function input(type, attrs = {}) {
  const node = el("input");
  node.type = type;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

export function mount(app) {
  const { call, say, reportError, requireFilled, busy, t, ApiError, onLanguage } = app;
  const root = $("fund-root");
  const state = {
    session: null,
    estateId: null,
    estateName: null,
    roles: new Set(),
    accounts: new Map(),
    fund: null,
    entries: [],
    nextCursor: null,
    filter: { period: "", kind: "" },
    disbursements: [],
    thresholds: null,
    head: null,
    headPeriod: null,
    headMissing: false,
    openEntry: null,
    checks: new Map(),
    loading: null,
  };

  // --- words -----------------------------------------------------------------------------------
  const money = (fen) => t("ledger.yuan", { amount: yuanDigits(fen) });
  const can = (...roles) => roles.some((r) => state.roles.has(r));
  const isFinance = () => [...FINANCE].some((r) => state.roles.has(r));
  const isApprover = () => [...APPROVERS].some((r) => state.roles.has(r));

  function accountName(code) {
    const english = document.documentElement.lang === "en" ? accountNamesEn[code] : null;
    return english ?? state.accounts.get(code)?.name ?? code;
  }

  function label(key, fallback) {
    const text = t(key);
    return text === key ? fallback : text;
  }

  function formatDate(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso;
    return new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", {
      dateStyle: "medium", timeStyle: "short",
    }).format(date);
  }

  /** A server's refusal in plain words: known cases by our own sentence, else its detail. */
  function explain(error, known = {}) {
    if (error instanceof ApiError) {
      const detail = typeof error.problem?.detail === "string" ? error.problem.detail : "";
      const { sentence } = error;
      for (const [match, key] of Object.entries(known)) {
        const gap = match.indexOf(" ");
        const status = gap < 0 ? match : match.slice(0, gap);
        const pattern = gap < 0 ? "" : match.slice(gap + 1);
        if (Number(status) !== error.status) continue;
        const recognised = error.problem?.code === pattern
          || new RegExp(pattern, "i").test(sentence);
        if (pattern && !recognised) continue;
        say("error", key);
        return;
      }
      if (error.status === 422 && detail && !sentence.startsWith("the request is not valid")) {
        say("error", "ledger.error.refused", { detail });
        return;
      }
    }
    reportError(error);
  }

  // --- skeleton --------------------------------------------------------------------------------
  function heading(level, key, id) {
    const node = el(`h${level}`);
    if (id) node.id = id;
    node.dataset.l = key;
    node.textContent = t(key);
    return node;
  }

  function panel(id, headingKey) {
    const section = el("section", "panel");
    section.id = id;
    section.setAttribute("aria-labelledby", `${id}-heading`);
    section.append(heading(2, headingKey, `${id}-heading`));
    return section;
  }

  function para(key) {
    const node = el("p", "hint");
    node.dataset.l = key;
    node.textContent = t(key);
    return node;
  }

  function button(key, className = "button", type = "button") {
    const node = el("button", className);
    node.type = type;
    node.dataset.l = key;
    node.textContent = t(key);
    return node;
  }

  function options(select, values, keyOf, { blankKey } = {}) {
    const chosen = select.value;
    select.replaceChildren();
    if (blankKey) select.append(new Option(t(blankKey), ""));
    for (const value of values) select.append(new Option(keyOf(value), value));
    if (values.includes(chosen) || chosen === "") select.value = chosen;
  }

  const status = el("p", "hint");
  status.id = "fund-status";

  // The fund: balances and this month.
  const summary = panel("fund-summary", "ledger.fund.heading");
  const summaryPeriod = el("p", "hint");
  summaryPeriod.id = "fund-period";
  // Whether the books agree with the bank: what the statements show, tied line by line.
  const bankLine = el("p", "hint");
  bankLine.id = "fund-reconciled";
  const figures = el("dl", "summary fund-figures");
  figures.id = "fund-figures";
  const balancesWrap = el("div", "table-wrap");
  const verifyAll = button("ledger.verifyAll.button");
  verifyAll.id = "ledger-verify-all";
  const verifyAllResult = el("p", "hint");
  verifyAllResult.id = "ledger-verify-all-result";
  summary.append(summaryPeriod, bankLine, figures, heading(3, "ledger.balances.heading"),
    balancesWrap,
    verifyAll, verifyAllResult);

  // The company's work.
  const company = panel("fund-company", "ledger.company.heading");
  const incomeForm = el("form", "form");
  incomeForm.id = "income-form";
  incomeForm.noValidate = true;
  const incomeSource = el("select");
  const incomeAmount = input("text", { inputmode: "decimal", autocomplete: "off", required: "" });
  const incomeDescription = input("text", { maxlength: "500" });
  const incomeDate = input("date");
  const itemsBox = el("fieldset", "items-box");
  const itemsLegend = el("legend");
  itemsLegend.dataset.l = "ledger.income.items";
  itemsLegend.textContent = t("ledger.income.items");
  const itemsHint = el("p", "hint");
  itemsHint.dataset.l = "ledger.income.itemsHint";
  itemsHint.textContent = t("ledger.income.itemsHint");
  const itemRows = el("ol", "item-rows");
  itemRows.id = "income-items";
  const addItem = button("ledger.income.addItem");
  addItem.id = "income-add-item";
  itemsBox.append(itemsLegend, itemsHint, itemRows, addItem);
  const incomeSubmit = button("ledger.income.submit", "button primary", "submit");
  incomeSubmit.id = "income-submit";
  incomeForm.append(
    fieldOf("income-source", "ledger.income.source", incomeSource, t),
    fieldOf("income-amount", "ledger.income.amount", incomeAmount, t, "ledger.amountHint"),
    fieldOf("income-description", "ledger.income.description", incomeDescription, t),
    fieldOf("income-date", "ledger.income.bookedOn", incomeDate, t, "ledger.income.bookedOnHint"),
    itemsBox, incomeSubmit);

  const requestForm = el("form", "form");
  requestForm.id = "request-form";
  requestForm.noValidate = true;
  const requestAmount = input("text", { inputmode: "decimal", autocomplete: "off", required: "" });
  const requestPayee = input("text", { maxlength: "200", required: "" });
  const requestPurpose = input("text", { maxlength: "2000", required: "" });
  const requestAccount = el("select");
  requestAccount.required = true;
  const requestSubmit = button("ledger.request.submit", "button primary", "submit");
  requestSubmit.id = "request-submit";
  requestForm.append(
    fieldOf("request-amount", "ledger.request.amount", requestAmount, t, "ledger.amountHint"),
    fieldOf("request-payee", "ledger.request.payee", requestPayee, t),
    fieldOf("request-purpose", "ledger.request.purpose", requestPurpose, t),
    fieldOf("request-account", "ledger.request.account", requestAccount, t),
    requestSubmit);

  // A debit the bank made on its own, as the statement shows it: the committee ratifies it.
  const debitForm = el("form", "form");
  debitForm.id = "debit-form";
  debitForm.noValidate = true;
  const debitAmount = input("text", { inputmode: "decimal", autocomplete: "off", required: "" });
  const debitDate = input("date", { required: "" });
  const debitPayee = input("text", { maxlength: "200", required: "" });
  const debitPurpose = input("text", { maxlength: "2000", required: "" });
  const debitEvidence = input("text", { maxlength: "500", required: "" });
  const debitSubmit = button("ledger.debit.submit", "button primary", "submit");
  debitSubmit.id = "debit-submit";
  debitForm.append(
    fieldOf("debit-amount", "ledger.debit.amount", debitAmount, t, "ledger.amountHint"),
    fieldOf("debit-date", "ledger.debit.date", debitDate, t),
    fieldOf("debit-payee", "ledger.debit.payee", debitPayee, t),
    fieldOf("debit-purpose", "ledger.debit.purpose", debitPurpose, t),
    fieldOf("debit-evidence", "ledger.debit.evidence", debitEvidence, t),
    debitSubmit);

  const closeForm = el("form", "form");
  closeForm.id = "close-form";
  closeForm.noValidate = true;
  const closeMonth = input("month", { required: "", pattern: "\\d{4}-\\d{2}", placeholder: "YYYY-MM" });
  const closeSubmit = button("ledger.close.submit", "button primary", "submit");
  closeSubmit.id = "close-submit";
  closeForm.append(
    fieldOf("close-month", "ledger.close.month", closeMonth, t, "ledger.close.hint"), closeSubmit);

  company.append(
    heading(3, "ledger.income.heading", "income-heading"), incomeForm,
    heading(3, "ledger.request.heading", "request-heading"), requestForm,
    heading(3, "ledger.debit.heading", "debit-heading"), para("ledger.debit.intro"), debitForm,
    heading(3, "ledger.close.heading", "close-heading"), closeForm);

  // The approving body's queue.
  const queue = panel("fund-queue", "ledger.queue.heading");
  const rule = el("ul", "rule");
  rule.id = "threshold-rule";
  rule.setAttribute("aria-label", t("ledger.queue.rule"));
  const queueList = el("ul", "items");
  queueList.id = "queue-list";
  queue.append(para("ledger.queue.intro"), rule, queueList);

  // Month heads and signatures.
  const heads = panel("fund-heads", "ledger.head.heading");
  const headForm = el("form", "form inline-form");
  headForm.id = "head-form";
  headForm.noValidate = true;
  const headMonth = input("month", { required: "", pattern: "\\d{4}-\\d{2}", placeholder: "YYYY-MM" });
  const headShow = button("ledger.head.show", "button", "submit");
  headForm.append(fieldOf("head-month", "ledger.head.month", headMonth, t), headShow);
  const headBox = el("div", "head-box");
  headBox.id = "head-box";
  heads.append(para("ledger.head.intro"), headForm, headBox);

  // Payments out of the fund, in every state.
  const payments = panel("fund-disbursements", "ledger.disb.heading");
  const paymentList = el("ul", "items");
  paymentList.id = "disbursement-list";
  payments.append(paymentList);

  // The journal.
  const journal = panel("fund-journal", "ledger.journal.heading");
  const filterForm = el("form", "form inline-form");
  filterForm.id = "journal-filter";
  filterForm.noValidate = true;
  const filterPeriod = input("month", { pattern: "\\d{4}-\\d{2}", placeholder: "YYYY-MM" });
  const filterKind = el("select");
  const filterSubmit = button("ledger.journal.filter", "button", "submit");
  filterForm.append(
    fieldOf("journal-period", "ledger.journal.period", filterPeriod, t),
    fieldOf("journal-kind", "ledger.journal.kind", filterKind, t), filterSubmit);
  const entryList = el("ul", "entries");
  markTyped(entryList);
  markTyped(paymentList);
  markTyped(queueList);
  entryList.id = "entry-list";
  entryList.setAttribute("aria-labelledby", "fund-journal-heading");
  const more = button("ledger.journal.more");
  more.id = "journal-more";
  more.hidden = true;
  journal.append(filterForm, entryList, more);

  root.replaceChildren(status, summary, company, queue, heads, payments, journal);
  const fundInfo = () => ({ estateId: state.estateId, roles: state.roles,
    period: state.fund?.period, ready: Boolean(state.session && state.estateId && state.fund) });
  // Property fees and vouchers (fees.js) load with the fund's views, into panels of their own.
  const extras = import("/fees.js").then((m) => m.mount(app, {
    root, after: summary, money, refreshLedger: () => refreshMoney(), fund: fundInfo,
  })).catch(() => null);
  // Bank reconciliation (reconcile.js): mounted after fees.js, so its panel comes first.
  const bank = Promise.all([import("/reconcile.js"), extras]).then(([m]) => m.mount(app, {
    after: summary, money, refreshLedger: () => refreshMoney(), fund: fundInfo, fill: prefill,
  })).catch(() => null);
  // The takings check (takings.js): mounted after reconcile.js, so its panel comes first.
  const takings = Promise.all([import("/takings.js"), bank]).then(([m]) => m.mount(app, {
    after: summary, money, fund: fundInfo,
  })).catch(() => null);

  /** Fills the company's income or bank-debit form from a bank line, for the accountant. */
  function prefill(form, values) {
    for (const [name, value] of Object.entries(values)) $(`${form}-${name}`).value = value;
    $(`${form}-amount`).focus();
  }

  // --- rendering -------------------------------------------------------------------------------
  function retranslate() {
    for (const node of root.querySelectorAll("[data-l]")) node.textContent = t(node.dataset.l);
    rule.setAttribute("aria-label", t("ledger.queue.rule"));
    options(incomeSource, SOURCES, (s) => t(`ledger.source.${s}`));
    options(filterKind, KINDS, (k) => t(`ledger.kind.${k}`), { blankKey: "ledger.journal.allKinds" });
    renderAll();
  }

  function renderStatus() {
    if (!state.session) {
      status.textContent = t("ledger.signInFirst");
    } else if (state.loading === "loading" && !state.fund) {
      status.textContent = t("ledger.loading");
    } else if (!state.estateId) {
      status.textContent = t("ledger.noEstate");
    } else if (state.loading === "notOpen") {
      status.textContent = t("ledger.notOpen");
    } else {
      status.textContent = t("ledger.estate", { name: state.estateName ?? state.estateId });
    }
    const ready = Boolean(state.session && state.estateId && state.fund);
    summary.hidden = heads.hidden = payments.hidden = journal.hidden = !ready;
    company.hidden = !ready || !isFinance();
    queue.hidden = !ready || !isApprover();
  }

  function figure(key, fen, id) {
    const row = el("div");
    row.id = id;
    row.append(el("dt", null, t(key)), el("dd", "amount", money(fen)));
    return row;
  }

  function renderFund() {
    const f = state.fund;
    if (!f) return;
    summaryPeriod.textContent = t("ledger.fund.period", { period: f.period, count: f.entry_count });
    bankLine.textContent = !f.statement_through ? t("ledger.fund.noStatement")
      : t(f.open_statement_lines ? "ledger.fund.reconciledOpen" : "ledger.fund.reconciled", {
        date: f.reconciled_through, through: f.statement_through, count: f.open_statement_lines,
      });
    figures.replaceChildren(
      figure("ledger.fund.bank", f.fund_bank_fen, "fund-bank"),
      figure("ledger.fund.maintenance", f.maintenance_bank_fen, "fund-maintenance"),
      figure("ledger.fund.income", f.period_income_fen, "fund-income"),
      figure("ledger.fund.expense", f.period_expense_fen, "fund-expense"));
    const table = el("table", "ledger-table balances");
    table.id = "balances-table";
    table.append(el("caption", "visually-hidden", t("ledger.balances.caption")));
    const headRow = el("tr");
    for (const key of ["ledger.balances.code", "ledger.balances.account", "ledger.balances.amount"]) {
      const th = el("th", null, t(key));
      th.scope = "col";
      headRow.append(th);
    }
    table.append(el("thead"));
    table.tHead.append(headRow);
    const byType = new Map();
    for (const b of f.balances ?? []) {
      const type = state.accounts.get(b.code)?.type ?? "asset";
      if (!byType.has(type)) byType.set(type, []);
      byType.get(type).push(b);
    }
    const types = [...byType.keys()].sort((a, b) => TYPE_ORDER.indexOf(a) - TYPE_ORDER.indexOf(b));
    for (const type of types) {
      const body = el("tbody");
      const groupRow = el("tr", "group");
      const th = el("th", null, label(`ledger.type.${type}`, type));
      th.scope = "colgroup";
      th.colSpan = 3;
      groupRow.append(th);
      body.append(groupRow);
      for (const b of byType.get(type)) {
        const row = el("tr");
        row.dataset.account = b.code;
        const shown = CREDIT_TYPES.has(type) ? -b.balance_fen : b.balance_fen;
        const name = el("th", null, accountName(b.code));
        name.scope = "row";
        row.append(el("td", "code", b.code), name, el("td", "num", money(shown)));
        body.append(row);
      }
      table.append(body);
    }
    balancesWrap.replaceChildren(table);
  }

  function renderThresholds() {
    rule.replaceChildren();
    const lines = state.thresholds?.described ?? [];
    // The server sends the Chinese lines first, then the same lines in English.
    const half = Math.ceil(lines.length / 2);
    const shown = document.documentElement.lang === "en" ? lines.slice(half) : lines.slice(0, half);
    for (const line of shown) rule.append(el("li", null, line));
  }

  function approvalsWords(d) {
    return t("ledger.disb.approvals", {
      count: d.approvals.length,
      required: d.approvals_required,
      names: d.approvals.map((a) => a.username).join(t("ledger.listSeparator"))
        || t("ledger.disb.nobody"),
    });
  }

  function disbursementItem(d, { inQueue }) {
    const item = el("li", "disbursement");
    item.dataset.disbursementId = d.disbursement_id;
    item.dataset.state = d.state;
    const bankDebit = d.origin === "bank_debit";
    item.dataset.origin = d.origin ?? "request";
    const top = el("div", "line");
    const stateKey = bankDebit ? `ledger.debitState.${d.state}` : `ledger.state.${d.state}`;
    top.append(
      el("span", "item-name", d.payee),
      el("span", "amount", money(d.amount_fen)),
      el("span", `badge state-${d.state}`, label(stateKey, label(`ledger.state.${d.state}`, d.state))));
    if (bankDebit) top.append(el("span", "badge flag", t("ledger.debit.badge")));
    const facts = el("dl", "facts");
    const fact = (key, value) => {
      if (value === null || value === undefined || value === "") return;
      const row = el("div");
      row.append(el("dt", null, t(key)), el("dd", null, value));
      facts.append(row);
    };
    fact("ledger.disb.purpose", d.purpose);
    fact("ledger.disb.account", `${d.expense_code} ${accountName(d.expense_code)}`);
    fact("ledger.disb.approvalsLabel", approvalsWords(d));
    fact("ledger.disb.requestedAt", formatDate(d.requested_at));
    fact("ledger.disb.rejectedReason", d.rejected_reason);
    fact("ledger.disb.evidence", d.bank_evidence);
    fact(bankDebit ? "ledger.debit.debitedOn" : "ledger.disb.paidOn", d.paid_on);
    item.append(top, facts);
    if (d.entry_id) {
      const link = el("a", null, t("ledger.disb.entry"));
      link.href = `#/fund`;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        showEntry(d.entry_id);
      });
      item.append(link);
    }
    if (inQueue && d.state === "requested") item.append(approveForms(d));
    if (!inQueue && d.state === "approved" && isFinance()) item.append(paymentForm(d));
    return item;
  }

  function approveForms(d) {
    const box = el("div", "decide");
    const id = d.disbursement_id;
    const approve = el("form", "form inline-form");
    approve.noValidate = true;
    const code = input("text", {
      inputmode: "numeric", pattern: "[0-9]{6}", maxlength: "6", autocomplete: "one-time-code",
    });
    const ratify = d.origin === "bank_debit";
    const go = button(ratify ? "ledger.queue.ratify" : "ledger.queue.approve", "button primary", "submit");
    go.setAttribute("aria-label", t(ratify ? "ledger.queue.ratifyLabel" : "ledger.queue.approveLabel", {
      payee: d.payee, amount: money(d.amount_fen),
    }));
    approve.append(fieldOf(`approve-code-${id}`, "ledger.queue.code", code, t, "ledger.queue.codeHint"), go);
    approve.addEventListener("submit", (event) => onApprove(event, d, code, go));
    const reject = el("form", "form inline-form");
    reject.noValidate = true;
    const reason = input("text", { maxlength: "2000", required: "" });
    const no = button("ledger.queue.reject", "button", "submit");
    no.setAttribute("aria-label", t("ledger.queue.rejectLabel", {
      payee: d.payee, amount: money(d.amount_fen),
    }));
    reject.append(fieldOf(`reject-reason-${id}`, "ledger.queue.reason", reason, t), no);
    reject.addEventListener("submit", (event) => onReject(event, d, reason, no));
    box.append(approve, reject);
    return box;
  }

  function paymentForm(d) {
    const form = el("form", "form inline-form");
    form.noValidate = true;
    const id = d.disbursement_id;
    const evidence = input("text", { maxlength: "500", required: "" });
    const paidOn = input("date");
    const go = button("ledger.pay.submit", "button primary", "submit");
    go.setAttribute("aria-label", t("ledger.pay.label", { payee: d.payee, amount: money(d.amount_fen) }));
    form.append(
      fieldOf(`pay-evidence-${id}`, "ledger.pay.evidence", evidence, t, "ledger.pay.evidenceHint"),
      fieldOf(`pay-date-${id}`, "ledger.pay.paidOn", paidOn, t), go);
    form.addEventListener("submit", (event) => onPay(event, d, evidence, paidOn, go));
    return form;
  }

  function renderDisbursements() {
    // What an accountant or approver has typed into an item's form outlives the redrawing.
    redrawKeeping(paymentList, () => redrawKeeping(queueList, drawDisbursements));
  }

  function drawDisbursements() {
    paymentList.replaceChildren();
    if (state.disbursements.length === 0) {
      paymentList.append(el("li", "empty", t("ledger.disb.none")));
    }
    const sorted = [...state.disbursements].sort(
      (a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state)
        || String(b.requested_at).localeCompare(String(a.requested_at)));
    for (const d of sorted) paymentList.append(disbursementItem(d, { inQueue: false }));
    queueList.replaceChildren();
    const waiting = sorted.filter((d) => d.state === "requested");
    if (waiting.length === 0) queueList.append(el("li", "empty", t("ledger.queue.none")));
    for (const d of waiting) queueList.append(disbursementItem(d, { inQueue: true }));
  }

  function entryTotal(entry) {
    return entry.lines.reduce((sum, line) => sum + Math.max(0, line.amount_fen), 0);
  }

  /** What the entry did to the fund's bank account, signed, or null when it did not touch it. */
  function bankEffect(entry) {
    const lines = entry.lines.filter((line) => line.account === "1001");
    return lines.length ? lines.reduce((sum, line) => sum + line.amount_fen, 0) : null;
  }

  function markers(entry) {
    const found = [];
    if (entry.kind === "income" && (entry.lump_sum || entry.items.length === 0)) {
      found.push(["lump", t("ledger.entry.lumpSum")]);
    }
    if (entry.reverses_entry_id) found.push(["reversal", t("ledger.entry.reversal")]);
    if (entry.late_for_period) {
      found.push(["late", t("ledger.entry.late", { period: entry.late_for_period })]);
    }
    return found;
  }

  function entryItem(entry) {
    const item = el("li", "entry");
    item.dataset.entryId = entry.entry_id;
    item.dataset.kind = entry.kind;
    const details = el("details");
    details.id = `entry-${entry.entry_id}`;
    details.open = state.openEntry === entry.entry_id;
    details.addEventListener("toggle", () => {
      if (details.open) state.openEntry = entry.entry_id;
      else if (state.openEntry === entry.entry_id) state.openEntry = null;
    });
    const summaryLine = el("summary");
    const effect = bankEffect(entry);
    summaryLine.append(
      el("span", "date", entry.booked_on),
      el("span", `badge kind-${entry.kind}`, label(`ledger.kind.${entry.kind}`, entry.kind)),
      el("span", "entry-text", entry.description),
      el("span", "amount", effect === null ? money(entryTotal(entry))
        : `${effect > 0 ? "+" : ""}${money(effect)}`));
    for (const [kind, text] of markers(entry)) summaryLine.append(el("span", `marker ${kind}`, text));
    details.append(summaryLine, entryDetail(entry));
    item.append(details);
    return item;
  }

  function entryDetail(entry) {
    const box = el("div", "entry-detail");
    const facts = el("dl", "facts");
    const fact = (key, value, className) => {
      const row = el("div");
      row.append(el("dt", null, t(key)), el("dd", className, value));
      facts.append(row);
      return row;
    };
    fact("ledger.entry.index", String(entry.chain_index));
    fact("ledger.entry.period", entry.period);
    if (entry.income_source) {
      fact("ledger.entry.source", label(`ledger.source.${entry.income_source}`, entry.income_source));
    }
    if (entry.recorded_at) fact("ledger.entry.recordedAt", formatDate(entry.recorded_at));
    if (entry.late_for_period) {
      fact("ledger.entry.lateFor", t("ledger.entry.lateWords", { period: entry.late_for_period }));
    }
    if (entry.reverses_entry_id) {
      const row = fact("ledger.entry.reverses", "");
      const link = el("a", null, t("ledger.entry.reversesLink"));
      link.href = "#/fund";
      link.addEventListener("click", (event) => {
        event.preventDefault();
        showEntry(entry.reverses_entry_id);
      });
      row.lastChild.append(link);
    }
    box.append(facts);

    const lines = el("table", "ledger-table lines");
    lines.append(el("caption", null, t("ledger.entry.lines")));
    const headRow = el("tr");
    for (const key of ["ledger.entry.account", "ledger.entry.debit", "ledger.entry.credit"]) {
      const th = el("th", null, t(key));
      th.scope = "col";
      headRow.append(th);
    }
    lines.append(el("thead"), el("tbody"));
    lines.tHead.append(headRow);
    for (const line of entry.lines) {
      const row = el("tr");
      const name = el("th", null, `${line.account} ${accountName(line.account)}`);
      name.scope = "row";
      row.append(name,
        el("td", "num", line.amount_fen > 0 ? money(line.amount_fen) : ""),
        el("td", "num", line.amount_fen < 0 ? money(-line.amount_fen) : ""));
      lines.tBodies[0].append(row);
    }
    const wrap = el("div", "table-wrap");
    wrap.append(lines);
    box.append(wrap);

    if (entry.kind === "income" || entry.items.length) {
      box.append(el("h4", null, t("ledger.entry.items")));
      if (entry.items.length === 0) {
        box.append(el("p", "marker lump", t("ledger.entry.lumpSumLong")));
      } else {
        const list = el("ul", "entry-items");
        for (const i of entry.items) {
          const li = el("li");
          li.append(el("span", null, i.description), " ", el("span", "amount", money(i.amount_fen)));
          if (i.occurred_on) li.append(" ", el("span", "item-meta", i.occurred_on));
          list.append(li);
        }
        box.append(list);
      }
    }
    const hashes = el("dl", "facts hashes");
    for (const [key, value] of [["ledger.entry.hash", entry.entry_hash],
      ["ledger.entry.chainHash", entry.chain_hash]]) {
      const row = el("div");
      row.append(el("dt", null, t(key)), el("dd", "hash", value));
      hashes.append(row);
    }
    for (const sha of entry.voucher_sha256 ?? []) {
      const row = el("div");
      const dd = el("dd", "hash");
      const link = el("a", "voucher-link", sha);
      link.href = "#/fund";
      link.addEventListener("click", (event) => {
        event.preventDefault();
        extras.then((x) => x?.openVoucher(sha, dd, link));
      });
      dd.append(link);
      row.append(el("dt", null, t("ledger.entry.voucher")), dd);
      hashes.append(row);
    }
    box.append(hashes);

    const verify = el("button", "button");
    verify.type = "button";
    verify.textContent = t("ledger.verify.button");
    verify.setAttribute("aria-label", t("ledger.verify.label", { index: entry.chain_index }));
    verify.dataset.verify = entry.entry_id;
    const result = el("div", "verify-result");
    result.id = `verify-${entry.entry_id}`;
    result.tabIndex = -1;
    renderChecks(result, state.checks.get(entry.entry_id));
    verify.addEventListener("click", () => onVerify(entry, verify, result));
    box.append(verify, result);
    if (isFinance() && REVERSIBLE.has(entry.kind)) box.append(reversalForm(entry));
    return box;
  }

  function reversalForm(entry) {
    const form = el("form", "reverse-form");
    form.noValidate = true;
    const legend = el("p", "hint", t(`ledger.reverse.hint.${entry.kind}`));
    const field = el("input");
    field.id = `reverse-reason-${entry.entry_id}`;
    field.maxLength = 500;
    field.required = true;
    const name = el("label", null, t("ledger.reverse.reason"));
    name.htmlFor = field.id;
    const submit = el("button", "button", t("ledger.reverse.submit"));
    submit.type = "submit";
    submit.setAttribute("aria-label", t("ledger.reverse.label", { index: entry.chain_index }));
    form.append(legend, name, field, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!requireFilled([field])) return;
      await busy(submit, async () => {
        try {
          const made = await call(
            "POST", estatePath(`/ledger/entries/${encodeURIComponent(entry.entry_id)}/reversal`),
            { body: { reason: field.value.trim() } });
          field.value = "";  // used: not carried into the redrawn list
          delete field.dataset.typed;
          await refreshMoney();
          say("success", "ledger.feedback.reversed", {
            index: entry.chain_index, made: made.chain_index,
          });
          await showEntry(made.entry_id);
        } catch (error) {
          explain(error, { "422 reversed already": "ledger.error.reversedAlready" });
        }
      });
    });
    return form;
  }

  function checkWords(c) {
    const params = { ...c.params };
    if (params.role) params.role = t(`ledger.signer.${params.role}`);
    if (Array.isArray(params.missing)) {
      params.missing = params.missing.map((r) => t(`ledger.signer.${r}`)).join(t("ledger.listSeparator"));
    }
    return t(`ledger.check.${c.check}.${c.ok ? "yes" : "no"}`, params);
  }

  function renderChecks(box, outcome) {
    box.replaceChildren();
    box.className = "verify-result";
    if (!outcome) return;
    if (outcome.open) {
      box.classList.add("open");
      box.append(el("p", null, t("ledger.verify.open", { period: outcome.period })));
      return;
    }
    const allOk = outcome.results.every((c) => c.ok);
    box.classList.add(allOk ? "passed" : "failed");
    box.append(el("p", "result-lead", t(allOk ? "ledger.verify.passed" : "ledger.verify.failed")));
    const list = el("ul", "checks");
    for (const c of outcome.results) {
      const li = el("li", c.ok ? "ok" : "bad");
      li.dataset.check = c.check;
      li.append(el("span", "mark", c.ok ? "✓" : "✗"), " ", el("span", null, checkWords(c)));
      list.append(li);
    }
    box.append(list);
    if (outcome.head) {
      box.append(el("p", "hint", t("ledger.verify.headWords", {
        period: outcome.head.period, root: outcome.head.merkle_root,
      })));
    }
  }

  function renderEntries() {
    // What is being typed in an open entry (a reversal's reason) outlives the list's redrawing:
    // the fund's panels load one after another, and each redraws it.
    redrawKeeping(entryList, () => {
      entryList.replaceChildren();
      if (state.entries.length === 0) entryList.append(el("li", "empty", t("ledger.journal.none")));
      for (const entry of state.entries) entryList.append(entryItem(entry));
    });
    more.hidden = !state.nextCursor;
  }

  function renderHead() {
    headBox.replaceChildren();
    if (state.headMissing) {
      headBox.append(el("p", "hint", t("ledger.head.notClosed", { period: state.headPeriod })));
      return;
    }
    const h = state.head;
    if (!h) return;
    const words = el("p", `head-state state-${h.state}`);
    words.id = "head-state";
    words.textContent = t(`ledger.head.state.${h.state}`, { period: h.period });
    headBox.append(words);
    if (h.overdue) headBox.append(el("p", "marker late", t("ledger.head.overdue")));
    const facts = el("dl", "facts hashes");
    for (const [key, value] of [
      ["ledger.head.entries", String(h.entry_count)],
      ["ledger.head.closedAt", formatDate(h.closed_at)],
      ["ledger.head.root", h.merkle_root],
      ["ledger.head.chainHead", h.chain_head],
    ]) {
      const row = el("div");
      row.append(el("dt", null, t(key)), el("dd", key.endsWith("At") || key.endsWith("entries")
        ? null : "hash", value));
      facts.append(row);
    }
    headBox.append(facts);
    const signed = el("ul", "items");
    signed.id = "head-signatures";
    for (const s of h.signatures) {
      signed.append(el("li", null, t("ledger.head.signedBy", {
        role: t(`ledger.signer.${s.role}`), key: s.key_id, date: formatDate(s.signed_at),
      })));
    }
    if (h.signatures.length === 0) signed.append(el("li", "empty", t("ledger.head.unsigned")));
    headBox.append(signed);
    const mine = (h.state === "awaiting_company" && can("company_manager"))
      || (h.state === "awaiting_committee" && isApprover());
    if (mine) {
      const sign = button(h.state === "awaiting_company" ? "ledger.head.sign" : "ledger.head.cosign",
        "button primary");
      sign.id = "head-sign";
      sign.addEventListener("click", () => onSign(h, sign));
      headBox.append(el("p", "hint", t("ledger.head.signHint")), sign);
    }
  }

  function renderAll() {
    renderStatus();
    if (!state.fund) return;
    renderFund();
    renderThresholds();
    renderDisbursements();
    renderEntries();
    renderHead();
    const expenseCodes = [...state.accounts.values()]
      .filter((a) => a.type === "expense" || a.code === "2101").map((a) => a.code);
    options(requestAccount, expenseCodes, (c) => `${c} ${accountName(c)}`,
      { blankKey: "ledger.choose" });
  }

  // --- loading ---------------------------------------------------------------------------------
  const estatePath = (tail) => `/api/v1/estates/${encodeURIComponent(state.estateId)}${tail}`;

  async function findEstate(me) {
    // The estate the shell's switcher shows, when it knows one.
    if (app.estate?.()) return app.estate();
    const grant = (me.roles ?? []).find((g) => g.estate_id);
    if (grant) return grant.estate_id;
    const reply = await call("GET", "/api/v1/estates?limit=1");
    return reply?.estates?.[0]?.estate_id ?? null;
  }

  function rolesIn(me, estateId) {
    const roles = new Set();
    for (const g of me.roles ?? []) {
      if (g.estate_id === estateId || g.company_id) roles.add(g.role);
    }
    return roles;
  }

  async function loadEntries({ append = false } = {}) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (state.filter.period) params.set("period", state.filter.period);
    if (state.filter.kind) params.set("kind", state.filter.kind);
    if (append && state.nextCursor) params.set("cursor", state.nextCursor);
    const reply = await call("GET", estatePath(`/ledger/entries?${params}`));
    state.entries = append ? [...state.entries, ...reply.entries] : reply.entries;
    state.nextCursor = reply.next_cursor;
  }

  async function loadHead(period) {
    state.headPeriod = period;
    try {
      state.head = await call("GET", estatePath(`/periods/${period}/head`));
      state.headMissing = false;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      state.head = null;
      state.headMissing = true;
    }
  }

  async function loadMoney() {
    const [fund, disbursements, thresholds] = await Promise.all([
      call("GET", estatePath("/fund")),
      call("GET", estatePath("/disbursements")),
      call("GET", estatePath("/ledger/approval-thresholds")),
      loadEntries(),
    ]);
    state.fund = fund;
    state.disbursements = disbursements;
    state.thresholds = thresholds;
  }

  async function load() {
    const session = app.session();
    state.session = session;
    if (!session?.me) {
      state.fund = null;
      renderStatus();
      return;
    }
    const chosen = app.estate?.() ?? null;
    // Someone else signed in, or another estate was chosen in the switcher.
    const someoneElse = state.estateId === null || state.sessionMe !== session.me
      || (chosen !== null && chosen !== state.estateId);
    if (someoneElse) {
      // Someone else signed in: nothing of the last person's view is shown, not even briefly.
      Object.assign(state, {
        sessionMe: session.me, estateId: null, fund: null, entries: [], nextCursor: null,
        head: null, headPeriod: null, headMissing: false, openEntry: null, checks: new Map(),
        filter: { period: "", kind: "" },
      });
      // The panels show together once the fund and its fees, bank and takings panels are in.
      root.classList.add("settling");
      for (const form of [incomeForm, requestForm, debitForm, closeForm, headForm, filterForm]) {
        form.reset();
      }
      itemRows.replaceChildren();
      // Nor what the last person typed into a payment or an approval.
      paymentList.replaceChildren();
      queueList.replaceChildren();
    }
    state.loading = "loading";
    renderStatus();
    try {
      if (someoneElse) {
        state.estateId = await findEstate(session.me);
        state.roles = state.estateId ? rolesIn(session.me, state.estateId) : new Set();
        if (state.estateId) {
          const estate = await call("GET", estatePath("")).catch(() => null);
          state.estateName = estate?.name ?? null;
        }
      }
      if (!state.estateId) {
        state.loading = null;
        renderStatus();
        return;
      }
      const accounts = await call("GET", estatePath("/ledger/accounts"));
      if (accounts.length === 0) {
        state.loading = "notOpen";
        state.fund = null;
        renderStatus();
        return;
      }
      state.accounts = new Map(accounts.map((a) => [a.code, a]));
      await loadMoney();
      const period = state.headPeriod ?? monthBefore(state.fund.period || thisMonth());
      headMonth.value ||= period;
      closeMonth.value ||= period;
      // Those who sign see last month's head at once; others ask for it (a 404 means "open").
      if (can("company_manager") || isApprover()) await loadHead(headMonth.value);
      state.loading = null;
      if (app.session() === session) {
        renderAll();
        // A followed link's place is sought once every panel is shown.
        state.link = app.takeLink?.("fund") ?? null;
      }
    } catch (error) {
      state.loading = null;
      renderStatus();
      reportError(error);
    }
  }

  /** Focuses an element once it is there (the fees and bank panels load after the fund). */
  async function focusWhenThere(find) {
    for (let tries = 0; tries < 30; tries += 1) {
      const target = find();
      if (target) {
        if (!target.hasAttribute("tabindex")) target.tabIndex = -1;
        target.scrollIntoView({ block: "start" });
        target.focus();
        return;
      }
      await new Promise((resolve) => { setTimeout(resolve, 100); });
    }
  }

  /** A followed link's place in the fund: "#/fund/<estate>/disbursements/<id>", ".../entries/
   *  <id>", ".../periods/<yyyy-mm>", ".../reconcile", ".../fees". */
  async function followLink([what, id]) {
    if (what === "disbursements" && id) {
      await focusWhenThere(() => document.querySelector(
        `#disbursement-list li[data-disbursement-id="${CSS.escape(id)}"]`));
    } else if (what === "entries" && id) {
      await showEntry(id);
    } else if (what === "periods" && /^\d{4}-\d{2}$/.test(id ?? "")) {
      headMonth.value = id;
      await loadHead(id);
      renderAll();
      await focusWhenThere(() => $("fund-heads-heading"));
    } else if (what === "reconcile") {
      await focusWhenThere(() => $("reconcile-heading"));
    } else if (what === "fees") {
      await focusWhenThere(() => $("fee-rate-heading"));
    }
  }

  async function refreshMoney() {
    await loadMoney();
    renderAll();
  }

  async function showEntry(entryId) {
    let target = $(`entry-${entryId}`);
    if (!target) {
      try {
        const entry = await call("GET", estatePath(`/ledger/entries/${encodeURIComponent(entryId)}`));
        state.filter = { period: "", kind: "" };
        filterPeriod.value = "";
        filterKind.value = "";
        if (!state.entries.some((e) => e.entry_id === entry.entry_id)) {
          state.entries = [entry, ...state.entries];
        }
      } catch (error) {
        reportError(error);
        return;
      }
    }
    state.openEntry = entryId;
    renderEntries();
    target = $(`entry-${entryId}`);
    target.open = true;
    target.querySelector("summary").focus();
  }

  // --- actions ---------------------------------------------------------------------------------
  function amountIn(field) {
    const fen = parseYuan(field.value);
    field.setAttribute("aria-invalid", String(fen === null));
    if (fen === null) {
      say("error", "ledger.error.amount");
      field.focus();
    }
    return fen;
  }

  function addItemRow() {
    const n = itemRows.children.length + 1;
    const row = el("li", "item-row");
    const description = input("text", { maxlength: "200" });
    description.className = "item-description";
    const amount = input("text", { inputmode: "decimal", autocomplete: "off" });
    amount.className = "item-amount";
    const date = input("date");
    date.className = "item-date";
    const remove = el("button", "button small", t("ledger.income.removeItem"));
    remove.type = "button";
    remove.setAttribute("aria-label", t("ledger.income.removeItemLabel", { n }));
    for (const [node, key] of [[description, "ledger.income.itemDescription"],
      [amount, "ledger.income.itemAmount"], [date, "ledger.income.itemDate"]]) {
      node.setAttribute("aria-label", t(key, { n }));
      node.placeholder = t(key, { n: "" }).trim();
    }
    remove.addEventListener("click", () => {
      row.remove();
      addItem.focus();
    });
    row.append(description, amount, date, remove);
    itemRows.append(row);
    description.focus();
  }

  async function onIncome(event) {
    event.preventDefault();
    if (!requireFilled([incomeAmount])) return;
    const amount = amountIn(incomeAmount);
    if (amount === null) return;
    const items = [];
    for (const row of itemRows.children) {
      const description = row.querySelector(".item-description");
      const amountField = row.querySelector(".item-amount");
      const date = row.querySelector(".item-date");
      if (!description.value.trim() && !amountField.value.trim()) continue;
      const fen = amountIn(amountField);
      if (fen === null) return;
      const item = { description: description.value.trim(), amount_fen: fen };
      if (date.value) item.occurred_on = date.value;
      items.push(item);
    }
    const itemsTotal = items.reduce((sum, i) => sum + i.amount_fen, 0);
    if (items.length && itemsTotal !== amount) {
      say("error", "ledger.error.itemsTotal", { items: money(itemsTotal), amount: money(amount) });
      incomeAmount.focus();
      return;
    }
    const body = { source: incomeSource.value, amount_fen: amount, items };
    if (incomeDescription.value.trim()) body.description = incomeDescription.value.trim();
    if (incomeDate.value) body.booked_on = incomeDate.value;
    await busy(incomeSubmit, async () => {
      try {
        const entry = await call("POST", estatePath("/ledger/entries"), { body });
        incomeForm.reset();
        itemRows.replaceChildren();
        await refreshMoney();
        say("success", entry.lump_sum || entry.items.length === 0
          ? "ledger.feedback.incomeLump" : "ledger.feedback.income", {
          amount: money(amount), date: entry.booked_on, count: entry.items.length,
        });
      } catch (error) {
        explain(error);
      }
    });
  }

  async function onRequest(event) {
    event.preventDefault();
    if (!requireFilled([requestAmount, requestPayee, requestPurpose, requestAccount])) return;
    const amount = amountIn(requestAmount);
    if (amount === null) return;
    await busy(requestSubmit, async () => {
      try {
        const d = await call("POST", estatePath("/disbursements"), {
          body: {
            amount_fen: amount,
            payee: requestPayee.value.trim(),
            purpose: requestPurpose.value.trim(),
            expense_code: requestAccount.value,
          },
        });
        requestForm.reset();
        await refreshMoney();
        say("success", "ledger.feedback.requested", {
          amount: money(d.amount_fen), payee: d.payee, required: d.approvals_required,
        });
      } catch (error) {
        explain(error);
      }
    });
  }

  async function onDebit(event) {
    event.preventDefault();
    if (!requireFilled([debitAmount, debitDate, debitPayee, debitPurpose, debitEvidence])) return;
    const amount = amountIn(debitAmount);
    if (amount === null) return;
    await busy(debitSubmit, async () => {
      try {
        const d = await call("POST", estatePath("/bank-debits"), {
          body: {
            amount_fen: amount,
            debited_on: debitDate.value,
            payee: debitPayee.value.trim(),
            purpose: debitPurpose.value.trim(),
            bank_evidence: debitEvidence.value.trim(),
          },
        });
        debitForm.reset();
        await refreshMoney();
        say("success", "ledger.feedback.debit", {
          amount: money(d.amount_fen), required: d.approvals_required,
        });
      } catch (error) {
        explain(error);
      }
    });
  }

  async function onApprove(event, d, field, go) {
    event.preventDefault();
    const code = field.value.replace(/\s+/g, "");
    const valid = SIX_DIGITS.test(code);
    field.setAttribute("aria-invalid", String(!valid));
    if (!valid) {
      say("error", "error.totpFormat");
      field.focus();
      return;
    }
    await busy(go, async () => {
      try {
        const after = await call(
          "POST", estatePath(`/disbursements/${encodeURIComponent(d.disbursement_id)}/approvals`),
          { body: { totp: code } });
        await refreshMoney();
        const words = after.state === "posted" ? "ledger.feedback.ratified"
          : after.state === "approved" ? "ledger.feedback.approvedFully" : "ledger.feedback.approved";
        say("success", words, {
          payee: after.payee, amount: money(after.amount_fen),
          count: after.approvals.length, required: after.approvals_required,
        });
        queue.querySelector("h2").focus?.();
      } catch (error) {
        field.value = "";
        field.setAttribute("aria-invalid", "true");
        explain(error, {
          "403 totp_invalid": "ledger.error.totpInvalid",
          "422 enrol": "ledger.error.totpNotEnrolled",
          "422 approved this disbursement already": "ledger.error.approvedAlready",
          "403 requested a payment": "ledger.error.ownRequest",
        });
        field.focus();
      }
    });
  }

  async function onReject(event, d, field, go) {
    event.preventDefault();
    if (!requireFilled([field])) return;
    await busy(go, async () => {
      try {
        await call(
          "POST", estatePath(`/disbursements/${encodeURIComponent(d.disbursement_id)}/rejection`),
          { body: { reason: field.value.trim() } });
        await refreshMoney();
        say("success", "ledger.feedback.rejected", { payee: d.payee, amount: money(d.amount_fen) });
      } catch (error) {
        explain(error);
      }
    });
  }

  async function onPay(event, d, evidence, paidOn, go) {
    event.preventDefault();
    if (!requireFilled([evidence])) return;
    const body = { bank_evidence: evidence.value.trim() };
    if (paidOn.value) body.paid_on = paidOn.value;
    await busy(go, async () => {
      try {
        await call(
          "POST", estatePath(`/disbursements/${encodeURIComponent(d.disbursement_id)}/payment`),
          { body });
        await refreshMoney();
        say("success", "ledger.feedback.paid", { payee: d.payee, amount: money(d.amount_fen) });
      } catch (error) {
        explain(error);
      }
    });
  }

  function monthOf(field) {
    const value = field.value.trim();
    const valid = /^\d{4}-(0[1-9]|1[0-2])$/.test(value);
    field.setAttribute("aria-invalid", String(!valid));
    if (!valid) {
      say("error", "ledger.error.month");
      field.focus();
    }
    return valid ? value : null;
  }

  async function onClose(event) {
    event.preventDefault();
    const period = monthOf(closeMonth);
    if (!period) return;
    await busy(closeSubmit, async () => {
      try {
        const head = await call("POST", estatePath(`/periods/${period}/close`));
        state.head = head;
        state.headMissing = false;
        state.headPeriod = period;
        headMonth.value = period;
        await refreshMoney();
        say("success", "ledger.feedback.closed", { period, count: head.entry_count });
      } catch (error) {
        explain(error, { "422 has not ended yet": "ledger.error.closeCurrent" });
      }
    });
  }

  async function onHead(event) {
    event.preventDefault();
    const period = monthOf(headMonth);
    if (!period) return;
    await busy(headShow, async () => {
      try {
        await loadHead(period);
        renderHead();
        say("info", state.headMissing ? "ledger.head.notClosed" : `ledger.head.state.${state.head.state}`,
          { period });
      } catch (error) {
        explain(error);
      }
    });
  }

  async function myKeyId() {
    const jwk = deviceKeys.supported() ? await deviceKeys.storedPublicJwk().catch(() => null) : null;
    if (!jwk) return null;
    const reply = await call("GET", "/api/v1/me/device-keys");
    const key = (reply?.keys ?? []).find((k) => {
      if (k.revoked_at) return false;
      try {
        const other = typeof k.public_jwk === "string" ? JSON.parse(k.public_jwk) : k.public_jwk;
        return other.crv === jwk.crv && other.x === jwk.x && other.y === jwk.y;
      } catch {
        return false;
      }
    });
    return key?.key_id ?? null;
  }

  async function onSign(head, go) {
    await busy(go, async () => {
      try {
        const keyId = await myKeyId();
        if (!keyId) {
          say("error", "ledger.error.noDeviceKey");
          return;
        }
        const signature = await deviceKeys.sign(new TextEncoder().encode(head.payload_json));
        const after = await call("POST", estatePath(`/periods/${head.period}/signatures`), {
          body: { key_id: keyId, signature: base64url(signature) },
        });
        state.head = after;
        renderHead();
        say("success", after.state === "signed" ? "ledger.feedback.cosigned"
          : "ledger.feedback.signed", { period: after.period });
        $("head-state")?.focus?.();
      } catch (error) {
        explain(error, {
          "422 register the key": "ledger.error.noDeviceKey",
          "422 company signs the head first": "ledger.error.companyFirst",
          "422 signed by the": "ledger.error.signedAlready",
          "400 does not verify": "ledger.error.badSignature",
        });
      }
    });
  }

  async function onVerify(entry, go, box) {
    await busy(go, async () => {
      try {
        const proof = await call(
          "GET", estatePath(`/ledger/entries/${encodeURIComponent(entry.entry_id)}/proof`));
        const results = await verifyProof(proof, { estateId: state.estateId });
        const outcome = { results, head: proof.head };
        state.checks.set(entry.entry_id, outcome);
        renderChecks(box, outcome);
        const allOk = results.every((c) => c.ok);
        say(allOk ? "success" : "error", allOk ? "ledger.verify.passed" : "ledger.verify.failed");
      } catch (error) {
        if (error instanceof ApiError && error.status === 422) {
          const outcome = { open: true, period: entry.period };
          state.checks.set(entry.entry_id, outcome);
          renderChecks(box, outcome);
          say("info", "ledger.verify.open", { period: entry.period });
        } else if (error instanceof ApiError) {
          explain(error);
        } else {
          say("error", "ledger.verify.cannot");
        }
      }
    });
  }

  async function onVerifyAll() {
    await busy(verifyAll, async () => {
      try {
        const v = await call("GET", estatePath("/ledger/verify"));
        const key = v.ok ? "ledger.verifyAll.ok" : "ledger.verifyAll.broken";
        const params = {
          entries: v.entries_checked, heads: v.heads_checked,
          index: v.first_broken_index ?? "?", problem: v.first_problem ?? "",
        };
        verifyAllResult.textContent = t(key, params);
        say(v.ok ? "success" : "error", key, params);
      } catch (error) {
        explain(error);
      }
    });
  }

  async function onFilter(event) {
    event.preventDefault();
    const period = filterPeriod.value.trim();
    if (period && !monthOf(filterPeriod)) return;
    filterPeriod.removeAttribute("aria-invalid");
    state.filter = { period, kind: filterKind.value };
    await busy(filterSubmit, async () => {
      try {
        await loadEntries();
        renderEntries();
        say("info", "ledger.feedback.filtered", { count: state.entries.length });
      } catch (error) {
        explain(error);
      }
    });
  }

  async function onMore() {
    await busy(more, async () => {
      try {
        const before = state.entries.length;
        await loadEntries({ append: true });
        renderEntries();
        say("info", "ledger.feedback.more", { count: state.entries.length - before });
        entryList.children[before]?.querySelector("summary")?.focus();
      } catch (error) {
        explain(error);
      }
    });
  }

  incomeForm.addEventListener("submit", onIncome);
  addItem.addEventListener("click", addItemRow);
  requestForm.addEventListener("submit", onRequest);
  debitForm.addEventListener("submit", onDebit);
  closeForm.addEventListener("submit", onClose);
  headForm.addEventListener("submit", onHead);
  filterForm.addEventListener("submit", onFilter);
  more.addEventListener("click", onMore);
  verifyAll.addEventListener("click", onVerifyAll);
  onLanguage(() => retranslate());
  retranslate();

  return {
    refresh() {
      // One load at a time: the shell asks again on every language switch and sign-in. A
      // sign-in or sign-out during a load gets a load of its own once that one is done.
      if (state.inflight) return;
      const session = app.session();
      const estate = app.estate?.();
      const panels = () => Promise.allSettled([extras, bank, takings]
        .map((loading) => loading.then((x) => x?.refresh())));
      state.inflight = load().then(panels).finally(() => {
        state.inflight = null;
        root.classList.remove("settling");
        const link = state.link;
        state.link = null;
        if (link) followLink(link);
        if (app.session() !== session || app.estate?.() !== estate) this.refresh();
      });
    },
  };
}

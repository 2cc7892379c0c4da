// 公示 (disclosure): an estate's monthly report with its flags, charts and downloads, the
// estate's KPIs against its baseline, and the community's, the street's and the city's
// dashboards, named as identity named them. Loaded by app.js only when opened.

import { h, markTyped, redrawKeeping } from "/dom.js";
import { addMessages } from "/i18n.js";
import { messages } from "/disclosure-i18n.js";

addMessages(messages);

const SVG = "http://www.w3.org/2000/svg";
const FINANCE = ["company_manager", "company_accountant"];
const APPROVERS = ["committee_member", "committee_chair"];
const DOWNLOADS = [["csv", "csv"], ["pdf", "pdf"], ["notice", "notice.pdf"]];
const INK = { income: "#1d6b45", expense: "#b3261e", rate: "#1f5f99", satisfaction: "#8a5a00",
  base: "#6b6b6b" };

const $ = (id) => document.getElementById(id);
const pad = (n) => String(n).padStart(2, "0");

/** Whole fen as "1,234.56" (with a sign when negative). */
function yuanDigits(fen) {
  const abs = Math.abs(fen);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${fen < 0 ? "-" : ""}${whole}.${pad(abs % 100)}`;
}

/** This month and the one before, "YYYY-MM", in the browser's time. */
function monthOf(delta) {
  const now = new Date();
  const d = new Date(now.getFullYear(), now.getMonth() + delta, 1);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
}
const thisMonth = () => monthOf(0);
const lastMonth = () => monthOf(-1);

export function mount(app) {
  const { call, say, reportError, busy, t, onLanguage } = app;
  const root = $("reports-root");
  markTyped(root);
  const S = { me: null, loaded: false, estates: [], id: null, month: lastMonth(), report: null,
    kpis: null, communities: new Map(), streets: new Map(), city: null, inflight: null };

  function s(tag, attrs, ...kids) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.append(...kids);
    return node;
  }

  // --- words
  const ep = (tail) => `/api/v1/estates/${encodeURIComponent(S.id)}${tail}`;
  const yuan = (fen) => t("dis.yuan", { v: yuanDigits(fen ?? 0) });
  const label = (prefix, value) => (t(`${prefix}.${value}`) === `${prefix}.${value}`
    ? value : t(`${prefix}.${value}`));
  const lang = () => document.documentElement.lang || "zh-CN";
  const fmt = (date, options) => (Number.isNaN(date.getTime()) ? ""
    : new Intl.DateTimeFormat(lang(), options).format(date));
  const when = (iso) => (iso ? fmt(new Date(iso), { dateStyle: "medium", timeStyle: "short" }) : "");
  const day = (ymd) => {
    const [y, m, d] = (ymd ?? "").split("-").map(Number);
    return ymd ? fmt(new Date(y, m - 1, d), { dateStyle: "medium" }) : "";
  };
  const short = (hash) => (hash && hash.length > 16 ? `${hash.slice(0, 8)}…${hash.slice(-6)}` : hash);
  const rate = (text) => (text ? (text.endsWith("%") ? text : `${text}%`) : t("dis.none"));
  const signed = (text) => (text && !text.startsWith("-") ? `+${text}` : text);
  const points = (text) => (text ? t("dis.points", { v: signed(text) }) : "—");
  const change = (text) => (text ? `${signed(text)}%` : "—");
  const hint = (key, params) => h("p", { class: "hint" }, t(key, params));
  const facts = (rows, id) => h("dl", { class: "facts", id },
    rows.filter(([, v]) => v || v === 0).map(([key, v, fig]) =>
      h("div", { "data-fig": fig }, h("dt", {}, t(key)), h("dd", {}, v))));
  const section = (id, key, ...kids) => h("section", { class: "panel", id, "aria-labelledby": `${id}-h` },
    h("h2", { id: `${id}-h`, tabindex: "-1" }, t(key)), ...kids);
  const part = (key, ...kids) => [h("h3", {}, t(key)), ...kids];
  const has = (roles, where = () => true) => (S.me?.roles ?? [])
    .some((g) => roles.includes(g.role) && where(g));
  const canExplain = () => has(FINANCE) || has(APPROVERS, (g) => g.estate_id === S.id);

  /** A table: caption, header keys, rows of cells (a cell is text, or [text, "num"]). */
  function table(caption, heads, rows, id) {
    const cell = (tag, c) => (Array.isArray(c) ? h(tag, { class: c[1] }, c[0]) : h(tag, {}, c));
    return h("div", { class: "table-wrap" }, h("table", { class: "ledger-table", id },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, heads.map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, rows.map((r) => h("tr", r.attrs ?? {}, r.cells.map((c, i) =>
        (i === 0 ? cell("th", c) : cell("td", c))))))));
  }

  /** Horizontal bars with their values: an SVG image whose label says what it shows. */
  function bars(rows, summary, id) {
    const max = Math.max(1, ...rows.map((r) => r.value));
    const row = 28;
    const g = rows.map((r, i) => s("g", { transform: `translate(0 ${i * row})` },
      s("text", { x: 0, y: 18, "font-size": 13, fill: "#222" }, r.label),
      s("rect", { x: 120, y: 5, height: 16, rx: 2, fill: r.ink,
        width: Math.max(1, Math.round((r.value / max) * 150)) }),
      s("text", { x: 316, y: 18, "font-size": 12, fill: "#222", "text-anchor": "end" }, r.text)));
    const chart = s("svg", { viewBox: `0 0 320 ${Math.max(1, rows.length) * row}`, width: "100%",
      role: "img", "aria-label": summary, id, preserveAspectRatio: "xMinYMin meet" }, ...g);
    // Through the CSSOM, which the CSP allows: near its drawn size on a wide screen.
    chart.style.maxWidth = "28rem";
    return chart;
  }

  // --- the month's report
  function incomeView(r) {
    if (!r.income.length) return hint("dis.noIncome");
    return h("ul", { class: "entries", id: "dis-income" }, r.income.map((g) => h("li", {
      "data-source": g.source }, h("details", { class: "entry" },
      h("summary", {}, h("span", { class: "entry-text" }, label("dis.source", g.source)),
        g.lump_sum ? h("span", { class: "marker lump" }, t("dis.lumpSum")) : null,
        h("span", { class: "amount" }, yuan(g.amount_fen))),
      h("div", { class: "entry-detail" }, g.entries.map((e) => [
        h("p", {}, h("span", { class: "date" }, day(e.booked_on)), " ", e.description, " · ",
          yuan(e.amount_fen)),
        e.items?.length
          ? h("ul", { class: "entry-items" }, e.items.map((i) => h("li", {},
            `${day(i.occurred_on)} ${i.description}：${yuan(i.amount_fen)}`)))
          : hint("dis.noItems"),
      ]))))));
  }

  function expenseView(r) {
    if (!r.expenses.length) return hint("dis.noExpenses");
    return h("ul", { class: "entries", id: "dis-expenses" }, r.expenses.map((g) => h("li", {
      "data-account": g.account }, h("details", { class: "entry" },
      h("summary", {}, h("span", { class: "entry-text" }, `${g.account} ${g.name}`),
        h("span", { class: "amount" }, yuan(g.amount_fen))),
      h("div", { class: "entry-detail" }, g.entries.map((e) => [
        h("p", {}, h("span", { class: "date" }, day(e.booked_on)), " ", e.description, " · ",
          yuan(e.amount_fen)),
        e.vouchers?.length
          ? h("p", {}, t("dis.vouchers"), " ", e.vouchers.map((v) =>
            h("code", { class: "hash", title: v }, short(v), " ")))
          : hint("dis.noVoucher"),
      ]))))));
  }

  function flagsView(r) {
    const list = h("ul", { class: "items", id: "dis-flags" });
    if (!r.flags.length) list.append(h("li", { class: "empty" }, t("dis.noFlags")));
    r.flags.forEach((f, n) => {
      const kind = label("dis.kind", f.kind);
      const item = h("li", { class: "disbursement", "data-flag-id": f.flag_id,
        "data-kind": f.kind, "data-state": f.state },
      h("p", { class: "line" }, h("span", { class: "badge flag" }, kind), " ",
        h("span", { class: "badge", "data-state": f.state }, label("dis.flagState", f.state))),
      facts([["dis.reason", f.reason, "reason"], ["dis.explanation", f.explanation, "explanation"],
        ["dis.explainedAt", when(f.explained_at), "explained-at"]]));
      // The entries behind the flag, each opened in the fund's journal where it can be verified.
      const ids = f.entry_ids ?? [];
      if (ids.length) {
        item.append(h("p", { class: "flag-entries" }, t("dis.flagEntries"), " ",
          ids.slice(0, 12).map((id, i) => [i ? " " : null, h("a", {
            href: `#/fund/${encodeURIComponent(S.id)}/entries/${encodeURIComponent(id)}`,
            "aria-label": t("dis.flagEntryLabel", { n: i + 1, kind }) }, t("dis.flagEntry",
            { n: i + 1 }))])));
      }
      if (f.state === "open" && canExplain()) {
        const area = h("textarea", { id: `dis-explain-${n}`, rows: 3, maxlength: 2000, required: true });
        const button = h("button", { type: "submit", class: "button primary",
          "aria-label": t("dis.explainFor", { kind }) }, t("dis.explainSubmit"));
        item.append(h("form", { class: "form", novalidate: true, onsubmit: (ev) => {
          ev.preventDefault();
          explain(f, area, button, kind);
        } }, h("div", { class: "field" }, h("label", { for: area.id }, t("dis.explainLabel")), area),
        button));
      }
      list.append(item);
    });
    return list;
  }

  async function explain(flag, area, button, kind) {
    const words = area.value.trim();
    area.setAttribute("aria-invalid", String(!words));
    if (!words) {
      say("error", "dis.explainMissing");
      area.focus();
      return;
    }
    await busy(button, async () => {
      try {
        await call("POST", ep(`/flags/${encodeURIComponent(flag.flag_id)}/explanation`),
          { body: { explanation: words } });
        delete area.dataset.typed;  // given: not carried into the redrawn report
        await loadReport();
        render();
        say("success", "dis.explained", { kind });
        $("dis-flags-h")?.focus();
      } catch (error) {
        reportError(error);
      }
    });
  }

  async function download(kind, suffix, button) {
    await busy(button, async () => {
      try {
        const blob = await call("GET", ep(`/reports/monthly/${S.month}?format=${kind}`),
          { blob: true, extraHeaders: { Accept: "*/*" } });
        const url = URL.createObjectURL(blob);
        const name = `report-${S.month}.${suffix}`;
        const a = h("a", { href: url, download: name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        say("success", "dis.downloaded", { name });
      } catch (error) {
        reportError(error);
      }
    });
  }

  function reportView(r) {
    const f = r.fund;
    const fees = r.fees;
    const chartRows = [
      ...r.income.map((g) => ({ label: label("dis.source", g.source), value: g.amount_fen,
        text: yuanDigits(g.amount_fen), ink: INK.income })),
      ...r.expenses.map((g) => ({ label: g.name, value: g.amount_fen,
        text: yuanDigits(g.amount_fen), ink: INK.expense })),
    ];
    const summary = t("dis.chartSummary", { income: yuan(f.income_fen), expense: yuan(f.expense_fen),
      parts: chartRows.map((c) => `${c.label} ${yuan(c.value)}`).join("；") || t("dis.none") });
    const head = r.head;
    return section("dis-report", "dis.reportHeading",
      hint("dis.reportOf", { estate: r.estate.name, month: r.period,
        state: label("dis.state", r.state), at: when(r.generated_at) }),
      h("div", { class: "actions", id: "dis-downloads" }, DOWNLOADS.map(([kind, suffix]) => {
        const b = h("button", { type: "button", class: "button small" }, t(`dis.download.${kind}`));
        b.addEventListener("click", () => download(kind, suffix, b));
        return b;
      })),
      part("dis.fund", facts([
        ["dis.fund.opening", yuan(f.opening_fen), "opening"],
        ["dis.fund.income", yuan(f.income_fen), "income"],
        ["dis.fund.expense", yuan(f.expense_fen), "expense"],
        ["dis.fund.closing", yuan(f.closing_fen), "closing"],
        ["dis.fund.mOpening", yuan(f.maintenance_opening_fen), "m-opening"],
        ["dis.fund.mClosing", yuan(f.maintenance_closing_fen), "m-closing"],
      ], "dis-fund"), chartRows.length ? bars(chartRows, summary, "dis-chart") : null),
      part("dis.income", incomeView(r)),
      part("dis.expenses", expenseView(r)),
      part("dis.remuneration", facts([
        ["dis.remuneration.accrued", yuan(r.remuneration.accrued_fen), "accrued"],
        ["dis.remuneration.basis", r.remuneration.basis || t("dis.none"), "basis"],
      ], "dis-remuneration")),
      part("dis.fees", facts([
        ["dis.fees.assessed", yuan(fees.assessed_fen), "assessed"],
        ["dis.fees.collected", yuan(fees.collected_fen), "collected"],
        ["dis.fees.arrears", yuan(fees.arrears_fen), "arrears"],
        ["dis.fees.units", t("dis.fees.unitsOf", { paid: fees.units_paid, all: fees.units_assessed }),
          "units"],
        ["dis.fees.rateAmount", rate(fees.payment_rate_amount), "rate-amount"],
        ["dis.fees.rateUnits", rate(fees.payment_rate_units), "rate-units"],
      ], "dis-fees")),
      part("dis.budget", r.budget.length ? table(t("dis.budget"), ["dis.col.line", "dis.col.budget",
        "dis.col.actual", "dis.col.actualYear"], r.budget.map((b) => ({ cells: [
        `${b.name} (${b.expense_code})`, [yuanDigits(b.budget_fen), "num"],
        [yuanDigits(b.actual_fen), "num"], [yuanDigits(b.actual_year_fen), "num"]] }))) :
        hint("dis.noBudget")),
      part("dis.disbursements", r.disbursements.length ? h("ul", { class: "items" },
        r.disbursements.map((d) => h("li", { "data-state": d.state },
          `${d.payee}：${d.purpose} · ${yuan(d.amount_fen)} · ${label("dis.dstate", d.state)}`
          + ` · ${t("dis.approvals", { n: d.approvals, of: d.approvals_required })}`)))
        : hint("dis.noDisbursements")),
      part("dis.bank", facts([
        ["dis.bank.statement", day(r.bank.statement_through) || t("dis.none")],
        ["dis.bank.reconciled", day(r.bank.reconciled_through) || t("dis.none")],
        ["dis.bank.open", String(r.bank.open_lines)],
        ["dis.bank.alarms", String(r.bank.alarms)],
      ], "dis-bank")),
      part("dis.ballots", r.ballots.length ? h("ul", { class: "items" }, r.ballots.map((b) =>
        h("li", {}, `${b.title}（${label("dis.bstate", b.state)}）`, b.decided.map((d) =>
          h("span", { class: "item-meta" }, `${d.question}：${label("dis.result", d.result)}`)))))
        : hint("dis.noBallots")),
      part("dis.meetings", r.meetings.length ? h("ul", { class: "items" }, r.meetings.map((m) =>
        h("li", {}, `${when(m.held_at)} ${m.title}（${label("dis.mstate", m.state)}）`)))
        : hint("dis.noMeetings")),
      part("dis.suggestions", facts([
        ["dis.sugg.opened", String(r.suggestions.opened)],
        ["dis.sugg.resolved", String(r.suggestions.resolved)],
        ["dis.sugg.open", String(r.suggestions.open)],
        ["dis.sugg.overdue", String(r.suggestions.overdue)],
      ], "dis-suggestions")),
      part("dis.head", head ? facts([
        ["dis.head.root", h("code", { class: "hash" }, head.merkle_root)],
        ["dis.head.chain", h("code", { class: "hash" }, head.chain_head)],
        ["dis.head.count", String(head.entry_count)],
        ["dis.head.signed", head.signatures.map((x) =>
          `${label("role", x.role)} ${when(x.signed_at)}`).join("；") || t("dis.none")],
      ], "dis-head") : hint("dis.noHead")),
      h("h3", { id: "dis-flags-h", tabindex: "-1" }, t("dis.flags")), flagsView(r));
  }

  // --- KPIs: tables of months and against the baseline, the payment rate and satisfaction as
  // bars beside their baselines, and for a street or the city each community's latest month
  function rateChart(months, key, base, ink, summaryKey, id) {
    const rows = months.map((m) => ({ label: m.month, value: Number(m[key] ?? 0),
      text: rate(m[key]), ink }));
    if (base) rows.push({ label: t("dis.kpi.baseline"), value: Number(base), text: rate(base),
      ink: INK.base });
    const summary = t(summaryKey, { parts: rows.map((c) => `${c.label} ${c.text}`).join("；") });
    return bars(rows, summary, id);
  }

  /** Who the figures are of: a community or street by its name, else its id. */
  function scopeLine(scope) {
    if (scope.community_id) {
      return scope.name ? hint("dis.kpi.named", { name: scope.name, within: scope.street_name })
        : hint("dis.kpi.of", { id: scope.community_id.slice(0, 8) });
    }
    if (scope.street_id) return hint("dis.kpi.named", { name: scope.name, within: scope.district_name });
    return null;
  }

  function partsView(k, id) {
    if (!k.communities?.length) return null;
    const last = k.months.at(-1)?.month ?? "";
    const at = (p) => p.months.at(-1) ?? {};
    return table(t("dis.kpi.partsCaption", { month: last }), ["dis.col.community", "dis.col.street",
      "dis.col.estates", "dis.col.rateAmount", "dis.col.open", "dis.col.satisfaction"],
    k.communities.map((p) => ({ attrs: { "data-community": p.scope.community_id }, cells: [
      p.scope.name ?? p.scope.community_id.slice(0, 8), p.scope.street_name ?? "",
      [String(p.estates), "num"], [rate(at(p).payment_rate_amount), "num"],
      [at(p).disputes_open == null ? "—" : String(at(p).disputes_open), "num"],
      [rate(at(p).satisfaction), "num"]] })),
    `${id}-parts`);
  }

  function kpiView(k, id, key) {
    if (!k) return null;
    const b = k.baseline;
    const months = k.months;
    return section(id, key, scopeLine(k.scope),
      facts([
        ["dis.kpi.estates", String(k.estates), "estates"],
        ["dis.kpi.withBaseline", String(b.estates_with_baseline), "with-baseline"],
        ["dis.kpi.baseRate", rate(b.payment_rate), "base-rate"],
        ["dis.kpi.baseDisputes", b.open_disputes == null ? t("dis.none") : String(b.open_disputes),
          "base-disputes"],
        ["dis.kpi.baseSatisfaction", rate(b.satisfaction), "base-satisfaction"],
      ], `${id}-facts`),
      table(t("dis.kpi.caption"), ["dis.col.month", "dis.col.assessed", "dis.col.collected",
        "dis.col.rateAmount", "dis.col.rateUnits", "dis.col.opened", "dis.col.resolved",
        "dis.col.median", "dis.col.open"],
      months.map((m) => ({ attrs: { "data-month": m.month }, cells: [
        m.month, [yuanDigits(m.assessed_fen), "num"], [yuanDigits(m.collected_fen), "num"],
        [rate(m.payment_rate_amount), "num"], [rate(m.payment_rate_units), "num"],
        [String(m.disputes_opened), "num"], [String(m.disputes_resolved), "num"],
        [m.median_days_to_resolve == null ? "—" : String(m.median_days_to_resolve), "num"],
        [m.disputes_open == null ? "—" : String(m.disputes_open), "num"]] })),
      `${id}-table`),
      table(t("dis.kpi.against"), ["dis.col.month", "dis.col.satisfaction", "dis.col.answers",
        "dis.col.vsRate", "dis.col.vsDisputes", "dis.col.vsSatisfaction"],
      months.map((m) => ({ attrs: { "data-vs-month": m.month }, cells: [
        m.month, [rate(m.satisfaction), "num"], [String(m.satisfaction_answers), "num"],
        [points(m.payment_rate_points), "num"], [change(m.disputes_open_change), "num"],
        [points(m.satisfaction_points), "num"]] })), `${id}-against`),
      rateChart(months, "payment_rate_amount", b.payment_rate, INK.rate, "dis.kpi.chartSummary",
        `${id}-chart`),
      rateChart(months, "satisfaction", b.satisfaction, INK.satisfaction,
        "dis.kpi.satisfactionSummary", `${id}-satisfaction`),
      partsView(k, id));
  }

  // --- the whole view
  function estatePicker() {
    const select = h("select", { id: "dis-estate" }, S.estates.map((e) => {
      const o = new Option(e.name, e.estate_id);
      o.selected = e.estate_id === S.id;
      return o;
    }));
    const month = h("input", { id: "dis-month", type: "month", value: S.month, max: thisMonth() });
    const show = h("button", { type: "submit", class: "button primary", id: "dis-show" },
      t("dis.show"));
    return h("form", { class: "form inline-form", id: "dis-pick", novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        if (!/^\d{4}-\d{2}$/.test(month.value)) {
          month.setAttribute("aria-invalid", "true");
          say("error", "dis.badMonth");
          month.focus();
          return;
        }
        month.removeAttribute("aria-invalid");
        S.id = select.value;
        S.month = month.value;
        await busy(show, () => showEstate(true));
      } },
    // The shell's switcher chooses the estate when it is shown; this one serves otherwise.
    S.estates.length > 1 && (app.estates?.() ?? []).length < 2 ? h("div", { class: "field" },
      h("label", { for: "dis-estate" }, t("dis.estate")), select) : null,
    h("div", { class: "field" }, h("label", { for: "dis-month" }, t("dis.month")), month), show);
  }
  function render() {
    if (!S.me) {
      root.replaceChildren(hint("dis.signIn"));
      return;
    }
    if (!S.loaded) {
      root.replaceChildren(hint("dis.loading"));
      return;
    }
    const parts = [];
    if (S.city) parts.push(kpiView(S.city, "dis-city", "dis.city"));
    for (const [id, k] of S.communities) parts.push(kpiView(k, `dis-community-${id}`, "dis.community"));
    for (const [id, k] of S.streets) parts.push(kpiView(k, `dis-street-${id}`, "dis.street"));
    if (S.estates.length) {
      parts.push(estatePicker());
      if (S.report) parts.push(reportView(S.report));
      if (S.kpis) parts.push(kpiView(S.kpis, "dis-kpis", "dis.kpis"));
    } else if (!parts.length) {
      parts.push(hint("dis.noEstates"));
    }
    // The month being picked outlives a redraw (the view redraws as each load ends).
    redrawKeeping(root, () => root.replaceChildren(...parts));
  }

  async function loadReport() {
    const [report, k] = await Promise.all([
      call("GET", ep(`/reports/monthly/${S.month}`)),
      call("GET", ep(`/kpis?months=12&through=${S.month}`)),
    ]);
    Object.assign(S, { report, kpis: k });
  }

  async function showEstate(announce) {
    try {
      await loadReport();
      render();
      if (announce) {
        say("info", "dis.shown", { estate: S.report.estate.name, month: S.month,
          flags: S.report.flags.length });
        $("dis-report-h")?.focus();
      }
    } catch (error) {
      S.report = null;
      S.kpis = null;
      render();
      reportError(error);
    }
  }

  async function load() {
    const session = app.session();
    if (S.me !== (session?.me ?? null)) {
      // Someone else signed in (or out): nothing of the last person's view stays.
      Object.assign(S, { me: session?.me ?? null, loaded: false, estates: [], id: null,
        report: null, kpis: null, communities: new Map(), streets: new Map(), city: null });
      render();
    }
    if (!S.me) return;
    const grants = S.me.roles ?? [];
    const operator = grants.some((g) => g.role === "operator");
    const mine = new Set(grants.map((g) => g.estate_id).filter(Boolean));
    const communities = [...new Set(grants.filter((g) => g.role === "community_supervisor"
      && g.community_id).map((g) => g.community_id))];
    try {
      const [reply, city, ...each] = await Promise.all([
        call("GET", "/api/v1/estates?limit=100"),
        operator ? call("GET", "/api/v1/kpis?months=12") : null,
        ...communities.map((c) => call("GET",
          `/api/v1/communities/${encodeURIComponent(c)}/kpis?months=12`)),
      ]);
      // The operator reads every estate: the city's figures are their way in, not a list.
      S.estates = (reply?.estates ?? []).filter((e) => !operator || mine.has(e.estate_id));
      // The estate the shell's switcher shows, when it offers one of these.
      const chosen = S.estates.find((e) => e.estate_id === app.estate?.());
      if (chosen) S.id = chosen.estate_id;
      if (!S.estates.some((e) => e.estate_id === S.id)) S.id = S.estates[0]?.estate_id ?? null;
      S.city = city;
      S.communities = new Map(communities.map((c, i) => [c, each[i]]));
      // A supervisor also sees their communities' streets: the totals beside their own part.
      const streets = [...new Set(each.map((k) => k?.scope?.street_id).filter(Boolean))];
      const ofStreets = await Promise.all(streets.map((id) => call("GET",
        `/api/v1/streets/${encodeURIComponent(id)}/kpis?months=12`)));
      S.streets = new Map(streets.map((id, i) => [id, ofStreets[i]]));
      // A followed link names a month ("#/reports/<estate>/2026-10") or the flags.
      const link = app.takeLink?.("reports");
      if (link && /^\d{4}-\d{2}$/.test(link[0])) S.month = link[0];
      S.focusFlags = link?.[0] === "flags";
      if (S.id) await loadReport();
    } catch (error) {
      reportError(error);
    }
    S.loaded = true;
    if (app.session() !== session) return;
    render();
    if (S.focusFlags) {
      S.focusFlags = false;
      $("dis-flags-h")?.focus();
    }
  }

  onLanguage(() => render());
  render();

  return {
    refresh() {
      // One load at a time: the shell asks again on every language switch and sign-in.
      if (S.inflight) return;
      const session = app.session();
      const estate = app.estate?.();
      S.inflight = load().finally(() => {
        S.inflight = null;
        if (app.session() !== session || app.estate?.() !== estate) this.refresh();
      });
    },
  };
}

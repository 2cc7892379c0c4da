// The takings check in the fund view, loaded by ledger.js: month by month, what the parking gates
// recorded and the income contracts expect against the income posted, flagged where far short,
// for everyone in the estate. The company or the committee imports gate exports and keeps the
// contracts; the company explains a flagged month.

import { el, field, input, tagged, uuid } from "/fees.js";
import { addMessages } from "/i18n.js";
import { yuanDigits } from "/dom.js";
import { parseYuan } from "/ledger.js";
import { messages } from "/takings-i18n.js";

addMessages(messages);

const FINANCE = ["company_accountant", "company_manager"];
const KEEPERS = [...FINANCE, "committee_member", "committee_chair"];
const PROFILES = { "gate-daily": "per_day", "gate-sessions": "per_session" };
const SOURCES = ["advertising", "venue", "parking", "other"];
const FIGURES = ["recorded", "expected", "posted", "shortfall"];
const COLUMNS = ["month", "source", "state", ...FIGURES];
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

export function mount(app, fund) {
  const { call, say, reportError, requireFilled, busy, t } = app;
  const { money } = fund;
  let info = fund.fund();
  let generation = 0;
  let data = { checks: [], contracts: [], imports: [], rule: null };
  // The contract the form changes (null: it adds one), and the Idempotency-Key of an addition,
  // kept until it is saved or its terms change, so a retry cannot add it twice.
  let editing = null;
  let addKey = null;
  const has = (roles) => roles.some((r) => info.roles.has(r));
  const path = (tail) => `/api/v1/estates/${encodeURIComponent(info.estateId)}${tail}`;
  const words = (s) => t(`ledger.source.${s}`);
  const made = (tag, className, id) => Object.assign(el(tag, className), { id });
  const button = (key, className = "button", type = "button") =>
    Object.assign(tagged("button", className, key, t), { type });
  const heading = (tag, key, id) => Object.assign(tagged(tag, null, key, t), { id, tabIndex: -1 });
  const named = (c) => ({ month: c.month, source: words(c.source) });

  function facts(pairs) {
    const list = el("dl", "facts");
    for (const [key, value] of pairs.filter((p) => p[1])) {
      const row = el("div");
      row.dataset.fact = key;
      row.append(el("dt", null, t(key)), el("dd", null, value));
      list.append(row);
    }
    return list;
  }

  /** A select whose options carry data-l, so a language switch re-words them. */
  const select = (values, key) => {
    const node = el("select");
    node.append(...values.map((v) => Object.assign(tagged("option", null, key(v), t),
      { value: v })));
    return node;
  };

  // --- skeleton --------------------------------------------------------------------------------
  document.head.append(Object.assign(el("link"), { rel: "stylesheet", href: "/takings.css" }));
  const panel = made("section", "panel", "takings");
  panel.setAttribute("aria-labelledby", "takings-heading");
  const rule = made("p", "hint", "takings-rule");
  const flagHeading = heading("h3", "takings.flagged", "takings-flags-heading");
  const flagList = made("ul", "items", "takings-flags");
  flagList.setAttribute("aria-labelledby", flagHeading.id);

  // Amounts in yuan as the headers say, so that the columns fit side by side; on a phone the
  // table scrolls in its own box, which takes focus for the keyboard.
  const wrap = Object.assign(el("div", "table-wrap"), { tabIndex: 0 });
  wrap.setAttribute("role", "region");
  wrap.setAttribute("aria-labelledby", "takings-caption");
  const table = made("table", "ledger-table", "takings-table");
  const head = el("tr");
  for (const c of COLUMNS) {
    head.append(Object.assign(tagged("th", FIGURES.includes(c) ? "num" : null,
      `takings.col.${c}`, t), { scope: "col" }));
  }
  const body = el("tbody");
  table.append(Object.assign(tagged("caption", null, "takings.caption", t),
    { id: "takings-caption" }), el("thead"), body);
  table.tHead.append(head);
  wrap.append(table);

  const form = Object.assign(made("form", "form", "takings-form"), { noValidate: true });
  const profile = select(Object.keys(PROFILES), (p) => `takings.layout.${PROFILES[p]}`);
  const file = input("file", { required: "", accept: ".csv,.txt,text/csv" });
  const submit = button("takings.submit", "button primary", "submit");
  const result = Object.assign(made("div", "import-result", "takings-result"), { tabIndex: -1 });
  form.append(field("takings-profile", "takings.profile", profile, t),
    field("takings-file", "takings.file", file, t, "takings.fileHint"), submit);
  const importList = made("ul", "items", "takings-imports");
  const imports = el("details", "takings-more");
  imports.append(tagged("summary", null, "takings.imports", t), importList);
  const importBox = el("div");
  importBox.append(tagged("h3", null, "takings.import", t), form, result, imports);

  const contractHeading = heading("h3", "takings.contracts", "contracts-heading");
  const contractList = made("ul", "items", "income-contracts");
  contractList.setAttribute("aria-labelledby", contractHeading.id);
  const cForm = Object.assign(made("form", "form", "contract-form"), { noValidate: true });
  cForm.setAttribute("aria-labelledby", "contract-form-heading");
  const formHeading = made("h4", null, "contract-form-heading");
  const cSource = select(SOURCES, (s) => `ledger.source.${s}`);
  const cParty = input("text", { required: "", maxlength: "200" });
  const cText = input("text", { maxlength: "500" });
  const cMonthly = input("text", { required: "", inputmode: "decimal", autocomplete: "off" });
  const month = { pattern: "\\d{4}-\\d{2}", placeholder: "YYYY-MM" };
  const cFirst = input("month", { ...month, required: "" });
  const cLast = input("month", month);
  const cSubmit = button("takings.contract.submit", "button primary", "submit");
  const cCancel = button("takings.contract.cancel");
  cForm.append(formHeading, ...[
    ["source", cSource], ["counterparty", cParty], ["description", cText],
    ["monthly", cMonthly, "takings.contract.monthlyHint"], ["first", cFirst],
    ["last", cLast, "takings.contract.lastHint"],
  ].map(([name, control, hint]) => field(`contract-${name}`, `takings.contract.${name}`, control,
    t, hint)), cSubmit, cCancel);

  panel.append(heading("h2", "takings.heading", "takings-heading"), rule, flagHeading, flagList,
    wrap, importBox, contractHeading, contractList, cForm);
  fund.after.after(panel);

  // --- rendering -------------------------------------------------------------------------------
  // Each cell carries its column's name, shown beside it where the table stacks on a phone.
  function row(c) {
    const tr = el("tr", c.flag ? "flagged" : null);
    Object.assign(tr.dataset, { month: c.month, source: c.source });
    const days = c.recorded_days && t("takings.days", { days: c.recorded_days });
    const values = [c.month, words(c.source),
      t(c.flag ? `takings.flag.${c.flag}` : `takings.state.${c.state}`),
      ...FIGURES.map((k) => ((k === "recorded" && !days) || (k === "expected" && !c.expected_fen)
        ? "—" : yuanDigits(c[`${k}_fen`])))];
    tr.append(...COLUMNS.map((column, i) => {
      const kind = { month: "month", source: "source", state: `state t-${c.state}` }[column];
      const cell = el(i ? "td" : "th", kind ?? "num");
      cell.dataset.label = t(`takings.col.${column}`);
      const value = el("span", null, values[i]);
      if (column === "recorded" && days) value.append(el("br"), el("span", "item-meta", days));
      cell.append(value);
      return cell;
    }));
    tr.firstChild.scope = "row";
    return tr;
  }

  function flagItem(c) {
    const item = el("li", "takings-flag");
    Object.assign(item.dataset, { month: c.month, source: c.source });
    const top = el("div", "line");
    top.append(el("span", "item-name", `${c.month} ${words(c.source)}`),
      el("span", "badge t-flagged", t(`takings.flag.${c.flag}`)));
    const why = c.flag === "below_recorded" && c.expected_fen ? "below_recorded_contracts" : c.flag;
    const sums = Object.fromEntries(FIGURES.map((k) => [k, money(c[`${k}_fen`])]));
    // The server's shortfall counts the gates' takings too; below the contracts is this much.
    if (c.flag === "contract_unpaid") sums.shortfall = money(c.expected_fen - c.posted_fen);
    item.append(top, el("p", "why", t(`takings.why.${why}`, sums)), facts([
      ["takings.reason", c.reason], ["takings.explanation", c.explanation]]));
    if (!has(FINANCE)) return item;
    const box = Object.assign(el("form", "form"), { noValidate: true });
    const text = Object.assign(el("textarea"), { rows: 2, maxLength: 2000, required: true,
      value: c.explanation ?? "" });
    const go = button("takings.explainSubmit", "button", "submit");
    go.setAttribute("aria-label", t("takings.explainLabel", named(c)));
    box.append(field(`explain-${c.month}-${c.source}`, "takings.explain", text, t), go);
    box.addEventListener("submit", (event) => onExplain(event, c, text, go));
    item.append(box);
    return item;
  }

  function contractItem(c) {
    const item = el("li");
    item.dataset.contractId = c.contract_id;
    item.append(el("span", "item-name", t(`takings.contractLine${c.last_month ? "" : "Open"}`, {
      source: words(c.source), counterparty: c.counterparty, amount: money(c.monthly_fen),
      from: c.first_month, to: c.last_month })));
    if (c.description) item.append(el("span", "item-meta", c.description));
    if (has(KEEPERS)) {
      const go = button("takings.edit", "button small");
      go.setAttribute("aria-label", t("takings.editLabel", c));
      go.addEventListener("click", () => startEdit(c));
      item.append(go);
    }
    return item;
  }

  const importLine = (r) => el("li", null, t("takings.importLine", {
    file: r.filename || r.file_sha256.slice(0, 12), layout: t(`takings.layout.${r.layout}`),
    from: r.first_day, to: r.last_day, new: r.rows_new, dup: r.rows_duplicate,
  }));

  function list(node, items, render, noneKey) {
    node.replaceChildren(...items.map(render));
    if (!items.length) node.append(el("li", "empty", t(noneKey)));
  }

  function render() {
    const keeper = has(KEEPERS);
    panel.hidden = !info.ready || (!keeper && !data.checks.length && !data.contracts.length);
    importBox.hidden = cForm.hidden = !keeper;
    rule.textContent = data.rule && t("takings.rule", { ...data.rule, min: money(data.rule.min) });
    list(flagList, data.checks.filter((c) => c.flag), flagItem, "takings.flaggedNone");
    body.replaceChildren(...data.checks.map(row));
    if (!data.checks.length) {
      body.append(el("tr"));
      body.lastChild.append(Object.assign(el("td", "empty", t("takings.checksNone")),
        { colSpan: COLUMNS.length }));
    }
    list(contractList, data.contracts, contractItem, "takings.contractsNone");
    list(importList, data.imports, importLine, "takings.none");
    const keys = editing ? ["takings.contract.edit", "takings.contract.save"]
      : ["takings.contract.add", "takings.contract.submit"];
    [formHeading, cSubmit].forEach((node, i) => {
      node.dataset.l = keys[i];
      node.textContent = t(keys[i]);
    });
    cCancel.hidden = !editing;
  }

  // --- loading ---------------------------------------------------------------------------------
  async function load() {
    const mine = ++generation;
    const get = (tail) => call("GET", path(tail));
    // The server's default: the twelve months up to the current one, by the ledger's clock.
    const [checks, contracts, imported] = await Promise.all([
      get("/takings-checks"), get("/income-contracts"), get("/takings-imports")]);
    if (mine !== generation) return false;
    data = { contracts, imports: imported,
      checks: checks.checks.sort((a, b) => b.month.localeCompare(a.month)
        || SOURCES.indexOf(a.source) - SOURCES.indexOf(b.source)),
      rule: { percent: checks.below_recorded_percent, min: checks.below_recorded_min_fen } };
    return true;
  }

  function resetForm() {
    editing = addKey = null;
    cForm.reset();
    for (const node of cForm.querySelectorAll("[aria-invalid]")) {
      node.removeAttribute("aria-invalid");
    }
  }

  async function refresh() {
    const before = info;
    info = fund.fund();
    if (before.estateId !== info.estateId || before.roles !== info.roles || !info.ready) {
      data = { checks: [], contracts: [], imports: [], rule: null };
      form.reset();
      result.replaceChildren();
      resetForm();
    }
    render();
    if (!info.ready) return;
    try {
      if (await load()) render();
    } catch (error) {
      reportError(error);
    }
  }

  /** A change with its button busy; then the panel is read anew and the outcome said. */
  async function act(go, request, done) {
    await busy(go, async () => {
      try {
        const reply = await request();
        if (await load()) render();
        done(reply);
      } catch (error) {
        reportError(error);
      }
    });
  }

  // --- actions ---------------------------------------------------------------------------------
  async function onImport(event) {
    event.preventDefault();
    if (!requireFilled([file])) return;
    const chosen = file.files[0];
    const query = new URLSearchParams({ source: "parking", profile: profile.value,
      filename: chosen.name });
    await busy(submit, async () => {
      try {
        const r = await call("POST", path(`/takings-imports?${query}`),
          { raw: chosen, contentType: "text/csv" });
        const said = { file: r.filename, from: r.first_day, to: r.last_day, new: r.rows_new,
          dup: r.rows_duplicate, total: money(r.total_fen) };
        result.className = "import-result done";
        result.replaceChildren(el("p", "result-lead", t("takings.imported", said)));
        file.value = "";
        if (await load()) render();
        say("success", "takings.imported", said);
      } catch (error) {
        // A file with a bad row is refused whole, its bad rows named: shown as the server says.
        const detail = [400, 422].includes(error?.status) && error.problem?.detail;
        if (typeof detail !== "string" || !detail) {
          reportError(error);
          return;
        }
        result.className = "import-result rejected";
        result.replaceChildren(el("p", "result-lead", t("takings.notImported")),
          el("p", "takings-detail", detail));
        say("error", "takings.notImported");
        result.focus();
      }
    });
  }

  function startEdit(c) {
    resetForm();
    editing = c;
    cSource.value = c.source;
    cParty.value = c.counterparty;
    cText.value = c.description;
    cMonthly.value = yuanDigits(c.monthly_fen).replace(/,/g, "");
    cFirst.value = c.first_month;
    cLast.value = c.last_month ?? "";
    render();
    say("info", "takings.contract.editing", c);
    cSource.focus();
  }

  /** Marks `node` invalid when `bad`, says `key` and focuses it; true when it is fine. */
  function fine(node, bad, key) {
    node.setAttribute("aria-invalid", String(bad));
    if (bad) {
      say("error", key);
      node.focus();
    }
    return !bad;
  }

  function onContract(event) {
    event.preventDefault();
    if (!requireFilled([cParty, cMonthly, cFirst])) return;
    const monthly = parseYuan(cMonthly.value);
    const [first, last] = [cFirst.value.trim(), cLast.value.trim()];
    if (!fine(cMonthly, monthly === null, "ledger.error.amount")
      || !fine(cFirst, !MONTH.test(first), "ledger.error.month")
      || !fine(cLast, Boolean(last) && !MONTH.test(last), "ledger.error.month")
      || !fine(cLast, Boolean(last) && last < first, "takings.contract.badLast")) return;
    const body = { source: cSource.value, counterparty: cParty.value.trim(),
      description: cText.value.trim(), monthly_fen: monthly, first_month: first,
      last_month: last || null };
    const change = editing;
    if (!change) addKey ??= uuid();
    act(cSubmit, () => (change
      ? call("PUT", path(`/income-contracts/${encodeURIComponent(change.contract_id)}`), { body })
      : call("POST", path("/income-contracts"),
        { body, extraHeaders: { "Idempotency-Key": addKey } })), (saved) => {
      resetForm();
      render();
      say("success", change ? "takings.contract.saved" : "takings.contract.added",
        { counterparty: saved.counterparty, amount: money(saved.monthly_fen) });
      contractHeading.focus();
    });
  }

  function onExplain(event, c, text, go) {
    event.preventDefault();
    if (!requireFilled([text])) return;
    act(go, () => call("POST", path(`/takings-checks/${c.month}/${c.source}/explanation`),
      { body: { explanation: text.value.trim() } }), () => {
      say("success", "takings.explained", named(c));
      flagHeading.focus();
    });
  }

  form.addEventListener("submit", onImport);
  cForm.addEventListener("submit", onContract);
  // Other terms are another request: a new key for them.
  cForm.addEventListener("input", () => { addKey = null; });
  cCancel.addEventListener("click", () => {
    resetForm();
    render();
    say("info", "takings.contract.cancelled");
    contractHeading.focus();
  });
  app.onLanguage(() => {
    for (const node of panel.querySelectorAll("[data-l]")) node.textContent = t(node.dataset.l);
    render();
  });
  render();

  return { refresh };
}

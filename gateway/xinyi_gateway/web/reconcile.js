// Bank reconciliation in the fund view, loaded by ledger.js: the company or the approving body
// imports the bank's statements; the company ties each open line to its entries or explains it;
// everyone in the estate reads the open lines, the alarms and the explanations.

import { el, field, input, tagged } from "/fees.js";
import { addMessages } from "/i18n.js";
import { yuanDigits } from "/dom.js";
import { messages } from "/reconcile-i18n.js";

addMessages(messages);

const FINANCE = ["company_accountant", "company_manager"];
const IMPORTERS = [...FINANCE, "committee_member", "committee_chair"];
const ACCOUNTS = { fund: "1001", maintenance: "1002" };
const COUNTS = ["lines_new", "lines_duplicate", "lines_matched", "lines_open"];
const PROFILE = /^[a-z0-9-]*$/;

export function mount(app, fund) {
  const { call, say, reportError, requireFilled, busy, t } = app;
  const { money } = fund;
  let info = fund.fund();
  let generation = 0;
  const empty = () => ({ open: [], done: [], imports: [],
    unmatched: { fund: [], maintenance: [] } });
  const data = empty();
  // Entries proposed for a line, fetched once each (entries never change).
  const entries = new Map();
  const picked = { lines: new Set(), entries: new Set() };
  const has = (roles) => roles.some((r) => info.roles.has(r));
  const path = (tail) => `/api/v1/estates/${encodeURIComponent(info.estateId)}${tail}`;
  const signed = (fen) => `${fen > 0 ? "+" : ""}${money(fen)}`;
  const effect = (entry, account) => entry.lines
    .filter((l) => l.account === ACCOUNTS[account]).reduce((sum, l) => sum + l.amount_fen, 0);

  const entryText = (e) => e.description
    || t(e.income_source ? `ledger.source.${e.income_source}` : `ledger.kind.${e.kind}`);
  const made = (tag, className, id) => Object.assign(el(tag, className), { id });

  const button = (key, className = "button", type = "button") =>
    Object.assign(tagged("button", className, key, t), { type });
  const heading = (tag, key, id) => Object.assign(tagged(tag, null, key, t), { id, tabIndex: -1 });

  function explain(error) {
    const detail = error?.problem?.detail;
    if (error?.status === 422 && typeof detail === "string"
        && !error.sentence.startsWith("the request")) {
      say("error", "ledger.error.refused", { detail });
    } else {
      reportError(error);
    }
  }

  function facts(pairs) {
    const list = el("dl", "facts");
    for (const [key, value] of pairs) {
      if (!value) continue;
      const row = el("div");
      row.append(el("dt", null, t(key)), el("dd", null, value));
      list.append(row);
    }
    return list;
  }

  function collapsible(key, list) {
    const box = el("details", "rec-more");
    box.append(tagged("summary", null, key, t), list);
    return box;
  }

  // --- skeleton --------------------------------------------------------------------------------
  document.head.append(Object.assign(el("link"), { rel: "stylesheet", href: "/reconcile.css" }));
  const panel = made("section", "panel", "reconcile");
  panel.setAttribute("aria-labelledby", "reconcile-heading");

  const form = Object.assign(made("form", "form", "statement-form"), { noValidate: true });
  const account = el("select");
  const file = input("file", { required: "", accept: ".xml,.sta,.mt940,.txt,.csv" });
  const profile = input("text", { maxlength: "60", autocomplete: "off", spellcheck: "false" });
  const submit = button("rec.submit", "button primary", "submit");
  const result = Object.assign(made("div", "import-result", "statement-result"), { tabIndex: -1 });
  form.append(field("statement-account", "rec.account", account, t),
    field("statement-file", "rec.file", file, t, "rec.fileHint"),
    field("statement-profile", "rec.profile", profile, t, "rec.profileHint"), submit);
  const importBox = el("div");
  importBox.append(tagged("h3", null, "rec.import", t), form, result);

  const openHeading = heading("h3", "rec.open", "open-lines-heading");
  const rematch = button("rec.rematch");
  const openList = made("ul", "items", "open-lines");
  openList.setAttribute("aria-labelledby", openHeading.id);

  const combine = made("fieldset", "items-box combine", "combine");
  const unmatchedHeading = el("h4");
  const unmatchedList = made("ul", "items", "combine-entries");
  const sums = made("dl", "summary", "combine-sums");
  const verdict = made("p", "hint", "combine-verdict");
  verdict.setAttribute("aria-live", "polite");
  const combineGo = button("rec.combineSubmit", "button primary");
  combine.append(tagged("legend", null, "rec.combine", t),
    tagged("p", "hint", "rec.combineHint", t),
    unmatchedHeading, unmatchedList, sums, verdict, combineGo);

  const doneList = made("ul", "items", "done-lines");
  const importList = made("ul", "items", "statement-imports");
  panel.append(heading("h2", "rec.heading", "reconcile-heading"),
    tagged("p", "hint", "rec.intro", t), importBox, openHeading, rematch, openList, combine,
    collapsible("rec.done", doneList), collapsible("rec.imports", importList));
  fund.after.after(panel);

  // --- rendering -------------------------------------------------------------------------------
  function lineItem(line) {
    const open = line.state === "open";
    const item = el("li", `bank-line${open && line.flag === "unauthorised_debit" ? " alarm" : ""}`);
    item.dataset.lineId = line.line_id;
    item.dataset.flag = line.flag ?? "";
    const top = el("div", "line");
    top.append(el("span", "date", line.booked_on), el("span", "amount", signed(line.amount_fen)));
    if (line.account !== "fund") top.append(el("span", "badge", t(`rec.acct.${line.account}`)));
    if (line.flag) top.append(el("span", `badge f-${line.flag}`, t(`rec.flag.${line.flag}`)));
    if (!open) top.append(el("span", "badge", t(`rec.state.${line.state}`)));
    const party = [line.counterparty_name, line.counterparty_account].filter(Boolean).join(" ");
    item.append(top, facts([["rec.narrative", line.narrative], ["rec.reference", line.reference],
      ["rec.bankRef", line.bank_reference], ["rec.counterparty", party],
      ["rec.explanation", line.explanation]]));
    if (open && line.flag) item.append(el("p", "why", t(`rec.why.${line.flag}`)));
    if (open && has(FINANCE)) item.append(tools(line));
    return item;
  }

  function tools(line) {
    const box = el("div", "decide");
    const words = lineWords(line);
    const proposed = line.proposed_entry_ids.filter((id) => entries.has(id));
    if (proposed.length) {
      const list = el("ul", "items proposals");
      for (const id of proposed) {
        const e = entries.get(id);
        const li = el("li");
        li.append(el("span", "date", e.booked_on), el("span", "item-name", entryText(e)),
          el("span", "amount", signed(effect(e, line.account))));
        if (line.flag !== "split") {
          const go = button("rec.pick");
          const label = t("rec.pickLabel", { date: e.booked_on, text: entryText(e) });
          go.setAttribute("aria-label", label);
          go.addEventListener("click", () => onMatch([line], [id], go));
          li.append(go);
        }
        list.append(li);
      }
      box.append(list);
      if (line.flag === "split") {
        const go = button("rec.confirmSplit", "button primary");
        go.addEventListener("click", () => onMatch([line], proposed, go));
        box.append(go);
      }
    }
    const form = line.flag === "unauthorised_debit" ? "debit"
      : line.flag === "income_to_classify" ? "income" : null;
    if (form) {
      const go = button(form === "debit" ? "rec.toDebit" : "rec.toIncome");
      go.addEventListener("click", () => toForm(line, form));
      box.append(go);
    }
    const explainForm = Object.assign(el("form", "form inline-form"), { noValidate: true });
    const text = Object.assign(el("textarea"), { rows: 2, maxLength: 2000, required: true });
    const go = button("rec.explainSubmit", "button", "submit");
    go.setAttribute("aria-label", t("rec.explainLabel", words));
    explainForm.append(field(`explain-${line.line_id}`, "rec.explain", text, t), go);
    explainForm.addEventListener("submit", (event) => onExplain(event, line, text, go));
    box.append(explainForm, tick(picked.lines, line.line_id, renderCombine, t("rec.tick", words)));
    return box;
  }

  /** A labelled checkbox that puts `id` in or out of the set `chosenIds`. */
  function tick(chosenIds, id, then, ...words) {
    const box = Object.assign(input("checkbox"), { checked: chosenIds.has(id) });
    box.addEventListener("change", () => {
      chosenIds[box.checked ? "add" : "delete"](id);
      then();
    });
    const label = el("label", "tick");
    label.append(box, " ", ...words);
    return label;
  }

  const pickedLines = () => data.open.filter((l) => picked.lines.has(l.line_id));

  function renderCombine() {
    const lines = pickedLines();
    const acct = lines[0]?.account ?? "fund";
    const shown = data.unmatched[acct];
    unmatchedHeading.textContent = t("rec.entries", { account: t(`rec.acct.${acct}`) });
    unmatchedList.replaceChildren();
    if (!shown.length) unmatchedList.append(el("li", "empty", t("rec.entriesNone")));
    for (const e of shown) {
      const li = el("li");
      li.dataset.entryId = e.entry_id;
      li.append(tick(picked.entries, e.entry_id, renderSums, el("span", "date", e.booked_on), " ",
        entryText(e), " ", el("span", "amount", signed(effect(e, acct)))));
      unmatchedList.append(li);
    }
    renderSums();
  }

  function chosen() {
    const lines = pickedLines();
    const acct = lines[0]?.account ?? "fund";
    const list = data.unmatched[acct].filter((e) => picked.entries.has(e.entry_id));
    return {
      lines, list, acct,
      oneAccount: lines.every((l) => l.account === acct),
      lineSum: lines.reduce((sum, l) => sum + l.amount_fen, 0),
      entrySum: list.reduce((sum, e) => sum + effect(e, acct), 0),
    };
  }

  function renderSums() {
    const c = chosen();
    sums.replaceChildren();
    for (const [key, fen, id] of [["rec.sumLines", c.lineSum, "sum-lines"],
      ["rec.sumEntries", c.entrySum, "sum-entries"]]) {
      const row = made("div", null, id);
      row.append(el("dt", null, t(key)), el("dd", "amount", signed(fen)));
      sums.append(row);
    }
    const ready = c.lines.length > 0 && c.list.length > 0 && c.oneAccount;
    verdict.textContent = !c.oneAccount ? t("rec.oneAccount") : !ready ? t("rec.pickBoth")
      : c.lineSum === c.entrySum ? t("rec.equal")
        : t("rec.differ", { amount: money(Math.abs(c.lineSum - c.entrySum)) });
    combineGo.disabled = !ready || c.lineSum !== c.entrySum;
  }

  function render() {
    const canImport = has(IMPORTERS);
    panel.hidden = !info.ready || (!canImport && data.imports.length === 0);
    importBox.hidden = !canImport;
    rematch.hidden = combine.hidden = !has(FINANCE);
    const chosenAccount = account.value;
    account.replaceChildren(...Object.keys(ACCOUNTS).map((a) => new Option(t(`rec.acct.${a}`), a)));
    account.value = chosenAccount || "fund";
    openList.replaceChildren(...data.open.map(lineItem));
    if (!data.open.length) openList.append(el("li", "empty", t("rec.openNone")));
    doneList.replaceChildren(...data.done.map(lineItem));
    if (!data.done.length) doneList.append(el("li", "empty", t("rec.none")));
    importList.replaceChildren(...data.imports.map((r) => el("li", null, t("rec.importLine", {
      file: r.filename || r.file_sha256.slice(0, 12), format: r.format,
      account: t(`rec.acct.${r.account}`), from: r.first_day ?? "", to: r.last_day ?? "",
      new: r.lines_new, dup: r.lines_duplicate,
    }))));
    if (!data.imports.length) importList.append(el("li", "empty", t("rec.none")));
    renderCombine();
  }

  function retranslate() {
    for (const node of panel.querySelectorAll("[data-l]")) node.textContent = t(node.dataset.l);
    render();
  }

  // --- loading ---------------------------------------------------------------------------------
  async function load() {
    const mine = ++generation;
    const get = (tail) => call("GET", path(tail));
    const finance = has(FINANCE);
    const [open, matched, explained, imports, ...books] = await Promise.all([
      get("/statement-lines?state=open&limit=500"),
      get("/statement-lines?state=matched&limit=200"),
      get("/statement-lines?state=explained&limit=100"),
      get("/bank-statements"),
      ...Object.values(ACCOUNTS).map((code) => (finance
        ? get(`/ledger/entries?account=${code}&limit=100`) : { entries: [] })),
    ]);
    const wanted = new Set(open.lines.flatMap((l) => l.proposed_entry_ids));
    await Promise.all([...wanted].filter((id) => !entries.has(id)).map(async (id) => {
      entries.set(id, await get(`/ledger/entries/${encodeURIComponent(id)}`));
    }));
    if (mine !== generation) return false;
    // Entries already tied to a line are no longer offered for matching together.
    const tied = new Set(matched.lines.flatMap((l) => l.entry_ids));
    Object.keys(ACCOUNTS).forEach((a, i) => {
      data.unmatched[a] = books[i].entries.filter((e) => !tied.has(e.entry_id));
    });
    const alarm = (l) => Number(l.flag === "unauthorised_debit");
    data.open = open.lines.sort((a, b) => alarm(b) - alarm(a));
    data.done = [...matched.lines, ...explained.lines]
      .sort((a, b) => b.booked_on.localeCompare(a.booked_on)).slice(0, 30);
    data.imports = imports;
    const ids = new Set(data.open.map((l) => l.line_id));
    picked.lines = new Set([...picked.lines].filter((id) => ids.has(id)));
    return true;
  }

  async function refresh() {
    const before = info;
    info = fund.fund();
    if (before.estateId !== info.estateId || before.roles !== info.roles || !info.ready) {
      Object.assign(data, empty());
      for (const set of [picked.lines, picked.entries, entries]) set.clear();
      form.reset();
      result.replaceChildren();
    }
    render();
    if (!info.ready) return;
    try {
      if (await load()) render();
    } catch (error) {
      reportError(error);
    }
  }

  /** After a change: this panel and the fund's figures ("reconciled up to") read anew. */
  async function reload() {
    await load();
    render();
    await fund.refreshLedger();
  }

  // --- actions ---------------------------------------------------------------------------------
  const post = (tail, body) => call("POST", path(tail), { body });
  const lineWords = (line) => ({ date: line.booked_on, amount: signed(line.amount_fen) });

  /** A change with its button busy; then everything is read anew and the outcome said. */
  async function act(go, request, key, params) {
    await busy(go, async () => {
      try {
        const reply = await request();
        await reload();
        say("success", key, params(reply));
        openHeading.focus();
      } catch (error) {
        explain(error);
      }
    });
    if (go === combineGo) renderSums();
  }

  async function onImport(event) {
    event.preventDefault();
    if (!requireFilled([file])) return;
    const layout = profile.value.trim();
    profile.setAttribute("aria-invalid", String(!PROFILE.test(layout)));
    if (!PROFILE.test(layout)) {
      say("error", "rec.badProfile");
      profile.focus();
      return;
    }
    const chosenFile = file.files[0];
    const query = new URLSearchParams({ account: account.value, filename: chosenFile.name });
    if (layout) query.set("profile", layout);
    await busy(submit, async () => {
      try {
        const r = await call("POST", path(`/bank-statements?${query}`), {
          raw: chosenFile, contentType: "application/octet-stream",
        });
        const words = { file: r.filename, new: r.lines_new, dup: r.lines_duplicate,
          matched: r.lines_matched, open: r.lines_open };
        const counts = facts(COUNTS.map((key) => [`rec.count.${key}`, String(r[key])]));
        COUNTS.forEach((key, i) => { counts.children[i].dataset.count = key; });
        result.className = "import-result done";
        result.replaceChildren(el("p", "result-lead", t("rec.imported", words)), counts);
        file.value = "";
        await reload();
        say("success", "rec.imported", words);
      } catch (error) {
        // A malformed file is refused whole, its bad lines named: shown as the server says it.
        const detail = [400, 422].includes(error?.status) ? error.problem?.detail : null;
        if (typeof detail !== "string" || !detail) {
          reportError(error);
          return;
        }
        result.className = "import-result rejected";
        result.replaceChildren(el("p", "result-lead", t("rec.notImported")),
          el("p", "rec-detail", detail));
        say("error", "rec.notImported");
        result.focus();
      }
    });
  }

  function onMatch(lines, entryIds, go) {
    const one = lines.length === 1 && entryIds.length === 1;
    const lineId = encodeURIComponent(lines[0].line_id);
    const request = () => (one
      ? post(`/statement-lines/${lineId}/match`, { entry_id: entryIds[0] })
      : post("/statement-matches", { line_ids: lines.map((l) => l.line_id), entry_ids: entryIds }));
    act(go, request, one ? "rec.matched" : "rec.combined",
      () => ({ ...lineWords(lines[0]), count: lines.length, entries: entryIds.length }));
  }

  function onExplain(event, line, text, go) {
    event.preventDefault();
    if (!requireFilled([text])) return;
    act(go, () => post(`/statement-lines/${encodeURIComponent(line.line_id)}/explanation`,
      { explanation: text.value.trim() }), "rec.explained", () => lineWords(line));
  }

  /** Puts the line into the ledger's bank-debit or income form, for the accountant to finish. */
  function toForm(line, form) {
    const values = { amount: yuanDigits(Math.abs(line.amount_fen)), date: line.booked_on };
    if (form === "debit") {
      Object.assign(values, { payee: line.counterparty_name ?? "", purpose: line.narrative,
        evidence: line.bank_reference || line.reference });
    } else {
      values.description = line.narrative;
    }
    fund.fill(form, values);
    say("info", "rec.filled", { form: t(`ledger.${form}.heading`) });
  }

  form.addEventListener("submit", onImport);
  rematch.addEventListener("click", () => act(rematch, () => post("/statement-lines/rematch"),
    "rec.rematched", (r) => ({ matched: r.matched, open: r.still_open })));
  combineGo.addEventListener("click", () => {
    const c = chosen();
    onMatch(c.lines, c.list.map((e) => e.entry_id), combineGo);
  });
  app.onLanguage(retranslate);
  render();

  return { refresh };
}

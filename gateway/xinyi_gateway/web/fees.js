// Property fees in the fund view: last month's payment rate and the arrears for everyone (unit
// by unit only for those the server gives them to), the company's rates, assessments and
// payments; the vouchers' panel comes from vouchers.js. Loaded by ledger.js, never at first view.

import { addMessages } from "/i18n.js";
import { messages } from "/fees-i18n.js";
import { yuanDigits } from "/dom.js";
import { parseYuan } from "/ledger.js";
import { mountVouchers } from "/vouchers.js";

addMessages(messages);

const UNIT_TYPES = ["residential", "commercial", "parking", "other"];
const FINANCE = ["company_accountant", "company_manager"];
const RATE = /^(\d{1,7})(?:\.(\d{1,8}))?$/;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function input(type, attrs = {}) {
  const node = el("input");
  node.type = type;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

/** A labelled field; labels and hints carry data-l so a language switch re-words them. */
export function field(id, key, control, t, hintKey) {
  const wrap = el("div", "field");
  const label = el("label", null, t(key));
  label.htmlFor = id;
  label.dataset.l = key;
  control.id = id;
  wrap.append(label);
  if (hintKey) {
    const hint = el("p", "hint", t(hintKey));
    hint.id = `${id}-hint`;
    hint.dataset.l = hintKey;
    control.setAttribute("aria-describedby", hint.id);
    wrap.append(hint);
  }
  wrap.append(control);
  return wrap;
}

export function tagged(tag, className, key, t) {
  const node = el(tag, className, t(key));
  node.dataset.l = key;
  return node;
}

/** A random UUID (v4) for Idempotency-Key, also where crypto.randomUUID is missing (plain HTTP). */
export function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Yuan per m² per month as typed ("2.125") → exact fen per m² per month as text ("212.5"). */
export function rateFen(text) {
  const m = RATE.exec(String(text).trim().replace(/^[¥￥]/, ""));
  if (!m) return null;
  const frac = (m[2] ?? "").padEnd(2, "0");
  const whole = (m[1] + frac.slice(0, 2)).replace(/^0+(?=\d)/, "");
  const rest = frac.slice(2).replace(/0+$/, "");
  return rest ? `${whole}.${rest}` : whole;
}

/** The server's fen per m² ("250", "425/2", "212.5") as yuan ("2.50", "2.125"), exactly. */
export function rateYuan(text) {
  const [n, d = "1"] = String(text).split("/");
  const [a, b = ""] = n.split(".");
  const num = BigInt(a + b);
  const den = 10n ** BigInt(b.length) * BigInt(d) * 100n;
  let r = num % den;
  let digits = "";
  for (let i = 0; i < 8 && (r || i < 2); i++) {
    r *= 10n;
    digits += String(r / den);
    r %= den;
  }
  return `${num / den}.${digits}${r ? "…" : ""}`;
}

function monthBefore(period) {
  const [year, month] = period.split("-").map(Number);
  return month === 1 ? `${year - 1}-12` : `${year}-${String(month - 1).padStart(2, "0")}`;
}

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
}

export function mount(app, fund) {
  const { call, say, reportError, requireFilled, busy, t, ApiError } = app;
  const { money } = fund;
  const vouchers = mountVouchers(app, fund);
  let info = fund.fund();
  let generation = 0;
  const data = { rate: null, arrears: null, rates: undefined, units: [], period: null };
  const isFinance = () => FINANCE.some((r) => info.roles.has(r));
  const path = (tail) => `/api/v1/estates/${encodeURIComponent(info.estateId)}${tail}`;
  const typeName = (type) => {
    const text = t(`fees.type.${type}`);
    return text === `fees.type.${type}` ? type : text;
  };

  /** A refusal in plain words: a 422's sentence from the server, else the shell's wording. */
  function explain(error) {
    const detail = error instanceof ApiError ? error.problem?.detail : null;
    if (error?.status === 422 && typeof detail === "string" && detail
      && !error.sentence.startsWith("the request is not valid")) {
      say("error", "ledger.error.refused", { detail });
    } else {
      reportError(error);
    }
  }

  function panel(id, key) {
    const section = el("section", "panel");
    section.id = id;
    section.setAttribute("aria-labelledby", `${id}-heading`);
    const h = tagged("h2", null, key, t);
    h.id = `${id}-heading`;
    section.append(h);
    return section;
  }

  // --- everyone: payment rate, arrears, rates --------------------------------------------------
  const overview = panel("fees-overview", "fees.heading");
  const rateHeading = el("h3");
  rateHeading.id = "fee-rate-heading";
  const rateBox = el("div");
  rateBox.id = "fee-rate";
  const arrearsBox = el("div");
  arrearsBox.id = "fee-arrears";
  const ratesBox = el("div", "table-wrap");
  ratesBox.id = "fee-rates";
  const ratesShow = el("button", "button");
  ratesShow.type = "button";
  ratesShow.id = "fee-rates-show";
  overview.append(rateHeading, rateBox, tagged("h3", null, "fees.arrears.heading", t), arrearsBox,
    tagged("h3", null, "fees.rates.heading", t), ratesBox);

  // --- the company: rates (manager), assessments, payments -------------------------------------
  const company = panel("fees-company", "fees.company.heading");
  const ratesForm = el("form", "form");
  ratesForm.id = "rates-form";
  ratesForm.noValidate = true;
  const rateInputs = new Map();
  const rateFields = el("div", "form inline-form");
  const ratesFrom = input("month", { pattern: "\\d{4}-\\d{2}", placeholder: "YYYY-MM", required: "" });
  const ratesSubmit = el("button", "button primary");
  ratesSubmit.type = "submit";
  ratesSubmit.id = "rates-submit";
  for (const type of UNIT_TYPES) {
    const box = input("text", { inputmode: "decimal", autocomplete: "off" });
    rateInputs.set(type, box);
    const wrap = field(`rate-${type}`, `fees.type.${type}`, box, t);
    delete wrap.querySelector("label").dataset.l;
    rateFields.append(wrap);
  }
  const ratesHint = tagged("p", "hint", "fees.rates.hint", t);
  ratesForm.append(ratesHint, rateFields, field("rates-from", "fees.rates.from", ratesFrom, t),
    ratesSubmit);
  const ratesHeading = tagged("h3", null, "fees.rates.heading", t);

  const assessForm = el("form", "form inline-form");
  assessForm.id = "assess-form";
  assessForm.noValidate = true;
  const assessMonth = input("month", { pattern: "\\d{4}-\\d{2}", placeholder: "YYYY-MM", required: "" });
  const assessSubmit = tagged("button", "button primary", "fees.assess.submit", t);
  assessSubmit.type = "submit";
  assessSubmit.id = "assess-submit";
  assessForm.append(field("assess-month", "fees.assess.month", assessMonth, t, "fees.assess.hint"),
    assessSubmit);

  const payForm = el("form", "form");
  payForm.id = "fee-payment-form";
  payForm.noValidate = true;
  const payBuilding = el("select");
  payBuilding.required = true;
  const payUnit = el("select");
  payUnit.required = true;
  const payAmount = input("text", { inputmode: "decimal", autocomplete: "off", required: "" });
  const payDate = input("date");
  const paySubmit = tagged("button", "button primary", "fees.pay.submit", t);
  paySubmit.type = "submit";
  paySubmit.id = "fee-pay-submit";
  const payNone = tagged("p", "hint", "fees.pay.noUnits", t);
  payForm.append(
    field("fee-building", "fees.pay.building", payBuilding, t),
    field("fee-unit", "fees.pay.unit", payUnit, t),
    field("fee-amount", "fees.pay.amount", payAmount, t, "ledger.amountHint"),
    field("fee-date", "fees.pay.date", payDate, t, "fees.pay.dateHint"), paySubmit);
  company.append(ratesHeading, ratesForm,
    tagged("h3", null, "fees.assess.heading", t), assessForm,
    tagged("h3", null, "fees.pay.heading", t), payNone, payForm);

  fund.after.after(overview, company);
  fund.root.append(vouchers.panel);

  // --- rendering -------------------------------------------------------------------------------
  function figure(id, key, big, small, title) {
    const row = el("div");
    row.id = id;
    const dd = el("dd");
    dd.append(el("span", "amount", big), " ", el("span", "hint fraction", small));
    dd.title = title;
    row.append(el("dt", null, t(key)), dd);
    return row;
  }

  function table(id, captionKey, heads, rows) {
    const node = el("table", "ledger-table");
    node.id = id;
    node.append(el("caption", captionKey.startsWith("!") ? "visually-hidden" : null,
      t(captionKey.replace("!", ""))));
    const head = el("tr");
    for (const key of heads) {
      const th = el("th", null, t(key));
      th.scope = "col";
      head.append(th);
    }
    node.append(el("thead"), el("tbody"));
    node.tHead.append(head);
    for (const cells of rows) {
      const tr = el("tr");
      cells.forEach(([text, className], i) => {
        const cell = el(i === 0 ? "th" : "td", className, text);
        if (i === 0) cell.scope = "row";
        tr.append(cell);
      });
      node.tBodies[0].append(tr);
    }
    const wrap = el("div", "table-wrap");
    wrap.append(node);
    return wrap;
  }

  function renderRate() {
    const r = data.rate;
    rateHeading.textContent = t("fees.rate.heading", { period: data.period ?? "" });
    rateBox.replaceChildren();
    if (!r) return;
    if (r.units_assessed === 0) {
      rateBox.append(el("p", "hint", t("fees.rate.none", { period: r.period })));
      return;
    }
    const dl = el("dl", "summary fund-figures");
    dl.append(
      figure("fee-rate-amount", "fees.rate.byAmount", `${r.by_amount_percent}%`,
        t("fees.rate.amountWords", {
          collected: money(r.collected_fen), assessed: money(r.assessed_fen),
        }), t("fees.rate.exact", { fraction: r.by_amount })),
      figure("fee-rate-units", "fees.rate.byUnits", `${r.by_units_percent}%`,
        t("fees.rate.unitsWords", { paid: r.units_fully_paid, units: r.units_assessed }),
        t("fees.rate.exact", { fraction: r.by_units })));
    rateBox.append(dl);
  }

  function renderArrears() {
    const a = data.arrears;
    arrearsBox.replaceChildren();
    if (!a) return;
    const dl = el("dl", "summary fund-figures");
    for (const [id, key, value] of [
      ["arrears-total", "fees.arrears.total", money(a.total_fen)],
      ["arrears-units", "fees.arrears.units",
        t("fees.arrears.unitsWords", { owing: a.units_in_arrears, total: a.units_total })],
    ]) {
      const row = el("div");
      row.id = id;
      row.append(el("dt", null, t(key)), el("dd", "amount", value));
      dl.append(row);
    }
    arrearsBox.append(dl);
    if (a.total_fen === 0) {
      arrearsBox.append(el("p", "hint", t("fees.arrears.none")));
      return;
    }
    arrearsBox.append(table("arrears-by-period", "fees.arrears.byPeriod",
      ["fees.arrears.period", "fees.arrears.amount"],
      a.by_period.map((p) => [[p.period], [money(p.amount_fen), "num"]])));
    if (Array.isArray(a.units)) {
      const rows = [...a.units]
        .sort((x, y) => x.building.localeCompare(y.building) || x.number.localeCompare(y.number))
        .map((u) => [[`${u.building} ${u.number}`], [typeName(u.unit_type)],
          [u.by_period.map((p) => p.period).join(t("ledger.listSeparator"))],
          [money(u.owed_fen), "num"]]);
      arrearsBox.append(table("arrears-units-table", "fees.arrears.unitsCaption",
        ["fees.arrears.number", "fees.arrears.type", "fees.arrears.months", "fees.arrears.amount"],
        rows));
    } else {
      arrearsBox.append(el("p", "hint", t("fees.arrears.private")));
    }
  }

  function renderRates() {
    if (data.rates === undefined) {
      ratesShow.textContent = t("fees.rates.show");
      ratesBox.replaceChildren(ratesShow);
      return;
    }
    if (!data.rates?.length) {
      const words = el("p", "hint", t(data.rates ? "fees.rates.none" : "fees.rates.unknown"));
      words.tabIndex = -1;
      ratesBox.replaceChildren(words);
      return;
    }
    const rows = [...data.rates]
      .sort((a, b) => UNIT_TYPES.indexOf(a.unit_type) - UNIT_TYPES.indexOf(b.unit_type)
        || b.effective_from.localeCompare(a.effective_from))
      .map((r) => [[typeName(r.unit_type)],
        [t("fees.rates.perM2", { amount: rateYuan(r.fen_per_m2_month) }), "num"],
        [r.effective_from]]);
    const wrap = table("rates-table", "!fees.rates.heading",
      ["fees.rates.type", "fees.rates.rate", "fees.rates.from"], rows);
    wrap.firstChild.tabIndex = -1;
    ratesBox.replaceChildren(wrap);
  }

  function renderUnits() {
    const buildings = [...new Set(data.units.map((u) => u.building))]
      .sort((a, b) => a.localeCompare(b, "zh-CN", { numeric: true }));
    const chosen = payBuilding.value;
    payBuilding.replaceChildren(new Option(t("ledger.choose"), ""),
      ...buildings.map((b) => new Option(b, b)));
    if (buildings.includes(chosen)) payBuilding.value = chosen;
    renderUnitChoices();
    payForm.hidden = data.units.length === 0;
    payNone.hidden = data.units.length !== 0;
  }

  function renderUnitChoices() {
    const chosen = payUnit.value;
    const units = data.units.filter((u) => u.building === payBuilding.value)
      .sort((a, b) => a.number.localeCompare(b.number, "zh-CN", { numeric: true }));
    payUnit.replaceChildren(new Option(t("ledger.choose"), ""),
      ...units.map((u) => new Option(`${u.number}（${typeName(u.unit_type)}，${u.exclusive_area_m2} m²）`,
        u.unit_id)));
    if (units.some((u) => u.unit_id === chosen)) payUnit.value = chosen;
  }

  function render() {
    const ready = info.ready;
    overview.hidden = !ready;
    company.hidden = !ready || !isFinance();
    const manager = info.roles.has("company_manager");
    ratesForm.hidden = ratesHeading.hidden = !manager;
    ratesSubmit.textContent = t("fees.rates.submit");
    for (const type of UNIT_TYPES) {
      const label = company.querySelector(`label[for="rate-${type}"]`);
      label.textContent = t("fees.rates.field", { type: typeName(type) });
    }
    if (!ready) return;
    renderRate();
    renderArrears();
    renderRates();
    renderUnits();
  }

  function retranslate() {
    for (const node of [overview, company].flatMap((p) => [...p.querySelectorAll("[data-l]")])) {
      node.textContent = t(node.dataset.l);
    }
    render();
    vouchers.render();
  }

  // --- loading ---------------------------------------------------------------------------------
  async function loadFigures() {
    const [rate, arrears] = await Promise.all([
      call("GET", path(`/fees/payment-rate?period=${data.period}`)),
      call("GET", path("/fees/arrears")),
    ]);
    Object.assign(data, { rate, arrears });
  }

  // Rates load on request (or come back from saving them): the gateway answers GET /fees/rates
  // with 500 while an estate has none, and the view should not fail on opening for that.
  async function onShowRates() {
    await busy(ratesShow, async () => {
      try {
        data.rates = (await call("GET", path("/fees/rates"))).rates ?? [];
      } catch (error) {
        data.rates = null;
        if (error instanceof ApiError && error.status < 500) reportError(error);
      }
      renderRates();
      ratesBox.querySelector("table, p")?.focus();
    });
  }

  async function refresh() {
    const before = info;
    info = fund.fund();
    const mine = ++generation;
    if (before.estateId !== info.estateId || before.roles !== info.roles || !info.ready) {
      Object.assign(data, { rate: null, arrears: null, rates: undefined, units: [] });
      for (const form of [ratesForm, assessForm, payForm]) form.reset();
    }
    render();
    vouchers.refresh(info);
    if (!info.ready) return;
    data.period = monthBefore(info.period || thisMonth());
    assessMonth.value ||= data.period;
    ratesFrom.value ||= data.period;
    try {
      await loadFigures();
      if (isFinance()) {
        const reply = await call("GET", `/api/v1/estates/${encodeURIComponent(info.estateId)}/units?limit=1000`);
        data.units = reply.units ?? [];
      }
      if (mine === generation) render();
    } catch (error) {
      if (mine === generation) reportError(error);
    }
  }

  async function afterPosting() {
    await loadFigures();
    render();
    await fund.refreshLedger();
  }

  // --- actions ---------------------------------------------------------------------------------
  function monthIn(box) {
    const ok = MONTH.test(box.value.trim());
    box.setAttribute("aria-invalid", String(!ok));
    if (!ok) {
      say("error", "ledger.error.month");
      box.focus();
    }
    return ok ? box.value.trim() : null;
  }

  async function onRates(event) {
    event.preventDefault();
    const from = monthIn(ratesFrom);
    if (!from) return;
    const rates = [];
    for (const [type, box] of rateInputs) {
      if (!box.value.trim()) {
        box.removeAttribute("aria-invalid");
        continue;
      }
      const fen = rateFen(box.value);
      box.setAttribute("aria-invalid", String(fen === null));
      if (fen === null) {
        say("error", "fees.error.rate");
        box.focus();
        return;
      }
      rates.push({ unit_type: type, fen_per_m2_month: fen, effective_from: from });
    }
    if (rates.length === 0) {
      say("error", "fees.error.noRate");
      rateInputs.get("residential").focus();
      return;
    }
    await busy(ratesSubmit, async () => {
      try {
        const reply = await call("PUT", path("/fees/rates"), { body: { rates } });
        data.rates = reply.rates ?? [];
        for (const box of rateInputs.values()) box.value = "";
        render();
        say("success", "fees.feedback.rates", { count: rates.length });
      } catch (error) {
        explain(error);
      }
    });
  }

  async function onAssess(event) {
    event.preventDefault();
    const period = monthIn(assessMonth);
    if (!period) return;
    await busy(assessSubmit, async () => {
      try {
        const a = await call("POST", path("/fees/assessments"), { body: { period } });
        let words = a.entry_id
          ? t("fees.feedback.assessed", { period, units: a.units_assessed, total: money(a.total_fen) })
          : t("fees.feedback.assessedAgain", { period });
        if (a.unit_types_without_rate?.length) {
          words += ` ${t("fees.feedback.withoutRate", {
            types: a.unit_types_without_rate.map(typeName).join(t("ledger.listSeparator")),
          })}`;
        }
        await afterPosting();
        say(a.entry_id ? "success" : "info", "fees.raw", { text: words });
      } catch (error) {
        explain(error);
      }
    });
  }

  async function onPay(event) {
    event.preventDefault();
    if (!requireFilled([payBuilding, payUnit, payAmount])) return;
    const amount = parseYuan(payAmount.value);
    payAmount.setAttribute("aria-invalid", String(amount === null));
    if (amount === null) {
      say("error", "ledger.error.amount");
      payAmount.focus();
      return;
    }
    const unit = data.units.find((u) => u.unit_id === payUnit.value);
    const body = { unit_id: payUnit.value, amount_fen: amount };
    if (payDate.value) body.received_on = payDate.value;
    await busy(paySubmit, async () => {
      try {
        const p = await call("POST", path("/payments"), {
          body, extraHeaders: { "Idempotency-Key": uuid() },
        });
        const parts = [t("fees.feedback.paid", {
          unit: unit ? `${unit.building} ${unit.number}` : p.unit_id, amount: money(p.amount_fen),
        })];
        if (p.settled?.length) {
          parts.push(t("fees.feedback.settled", {
            months: p.settled.map((s) => `${s.period}（${money(s.amount_fen)}）`)
              .join(t("ledger.listSeparator")),
          }));
        }
        if (p.prepaid_fen) parts.push(t("fees.feedback.prepaid", { amount: money(p.prepaid_fen) }));
        parts.push(p.arrears_fen ? t("fees.feedback.owes", { amount: money(p.arrears_fen) })
          : t("fees.feedback.clear"));
        payAmount.value = "";
        payDate.value = "";
        await afterPosting();
        say("success", "fees.raw", { text: parts.join(" ") });
      } catch (error) {
        explain(error);
      }
    });
  }

  ratesForm.addEventListener("submit", onRates);
  assessForm.addEventListener("submit", onAssess);
  payForm.addEventListener("submit", onPay);
  payBuilding.addEventListener("change", renderUnitChoices);
  ratesShow.addEventListener("click", onShowRates);
  app.onLanguage(retranslate);
  render();

  return { refresh, openVoucher: vouchers.open };
}

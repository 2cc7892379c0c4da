// 议事 (owners' voice): suggestions, complaints and supervisors' inquiries followed to their
// rectification, with photos and a timeline; satisfaction surveys and their results; monthly
// meetings with the company's report, the minutes and the points raised; tenders with sealed
// bids, and the city-wide list where company managers bid. Loaded by app.js only when opened.

import { addMessages } from "/i18n.js";
import { messages } from "/voice-i18n.js";

addMessages(messages);

const APPROVERS = ["committee_member", "committee_chair"];
const SUPERVISORS = ["estate_supervisor", "community_supervisor"];
const RESIDENTS = ["owner", "tenant"];
const SUBMITTERS = [...RESIDENTS, ...APPROVERS, ...SUPERVISORS];
const COMPANY = ["company_manager", "company_accountant", "company_staff"];
const MANAGER = ["company_manager"];
const TABS = ["suggestions", "surveys", "meetings", "tenders"];
const STATES = ["submitted", "answered", "committed", "rectified", "confirmed", "reopened"];
const KINDS = ["suggestion", "complaint", "inquiry"];
const UNIT_TYPES = ["residential", "commercial", "parking", "other"];
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
const MAX_PHOTO = 5 * 1024 * 1024;
const MAX_PHOTOS = 6;
const YUAN = /^(\d{1,10})(?:\.(\d{1,2}))?$/;
const RATE = /^(\d{1,7})(?:\.(\d{1,8}))?$/;
const INSTANT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/;
// The server's refusals people meet, in our own words: "status pattern" (split at the first space).
const ERRORS = {
  "400 has passed; commit": "voice.error.dueGone",
  "400 days ahead": "voice.error.dueFar",
  "422 photos, the most": "voice.error.photoMax",
  "400 photo": "voice.error.photoType",
  "415": "voice.error.photoType",
  "413": "voice.error.photoSize",
  "400 an inquiry names": "voice.error.subject",
  "400 must be in the future": "voice.error.future",
  "400 closes within|scheduled at most": "voice.error.tooFar",
  "400 offers 2 to|option twice": "voice.error.options",
  "422 survey is closed": "voice.error.surveyClosed",
  "400 answer every question": "voice.error.answerAll",
  "422 published once it has been held": "voice.error.notHeld",
  "422 which has passed": "voice.error.draftExpired",
  "422 not before": "voice.error.notYetClosed",
  "422 no company bid": "voice.error.noBids",
  "422 on this tender's bids": "voice.error.ballotExists",
  "422 bids were accepted until": "voice.error.bidClosed",
  "400 remuneration_ratio": "voice.error.ratio",
  "400 rate": "voice.error.rate",
  "422 it can be|the meeting is|the tender is|became suggestion": "voice.error.changed",
};

const $ = (id) => document.getElementById(id);
const pad = (n) => String(n).padStart(2, "0");
const clean = (kids) => kids.flat(Infinity).filter((x) => x !== null && x !== undefined
  && x !== false && x !== "");
const lines = (text) => text.split("\n").map((x) => x.trim()).filter(Boolean);

/** A random UUID (v4) for Idempotency-Key, also where crypto.randomUUID is missing (plain HTTP). */
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Whole fen as "1,234.56". */
function yuanDigits(fen) {
  return `${String(Math.floor(fen / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${pad(fen % 100)}`;
}

/** Yuan as typed ("1,500", "¥1500.5") in whole fen, or null. */
function fenOf(text) {
  const m = YUAN.exec(text.trim().replace(/[,，¥￥\s]/g, ""));
  return m ? Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0")) : null;
}

/** Yuan per m² as typed ("2.125") in fen as exact text ("212.5"), or null. */
function rateFen(text) {
  const m = RATE.exec(text.trim().replace(/^[¥￥]/, ""));
  if (!m) return null;
  const frac = (m[2] ?? "").padEnd(2, "0");
  const rest = frac.slice(2).replace(/0+$/, "");
  return `${Number(m[1] + frac.slice(0, 2))}${rest ? `.${rest}` : ""}`;
}

/** The server's fen per m² ("250", "425/2") in yuan ("2.50", "2.125"); "…" where it never ends. */
function rateYuan(text) {
  const [n, d = "1"] = String(text).split("/");
  const den = BigInt(d) * 100n;
  let rest = BigInt(n);
  let out = `${rest / den}.`;
  rest %= den;
  for (let i = 0; i < 8 && (rest || i < 2); i++) {
    rest *= 10n;
    out += rest / den;
    rest %= den;
  }
  return rest ? `${out}…` : out;
}

/** A ratio as typed: "1/10" and "0.1" as they are, "12.5%" as "125/1000". */
function ratioOf(text) {
  const m = /^(\d{1,3})(?:\.(\d{1,6}))?[%％]$/.exec(text.trim());
  return m ? `${m[1]}${m[2] ?? ""}/${10n ** BigInt((m[2] ?? "").length) * 100n}` : text.trim();
}

function localValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T`
    + `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

export function mount(app) {
  const { call, say, reportError, requireFilled, busy, t, ApiError, onLanguage } = app;
  const root = $("voice-root");
  const S = {
    me: null, estates: null, estateId: null, roles: new Set(), tab: "suggestions", lists: {},
    city: [], open: null, photos: new Map(), loading: null, answers: new Map(), answersFor: null,
    filter: { state: "", kind: "", overdue: false }, inflight: null,
  };

  /** An element: attributes (class; on<event>; l, la: message keys of its text, aria-label). */
  function h(tag, attrs = {}, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "value") node.defaultValue = node.value = v;
      else if (k === "l") node.textContent = t((node.dataset.l = v));
      else if (k === "la") node.setAttribute("aria-label", t((node.dataset.la = v)));
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    node.append(...clean(kids));
    return node;
  }

  // --- words -----------------------------------------------------------------------------------
  const has = (roles) => roles.some((r) => S.roles.has(r));
  const companies = () => [...new Set((S.me?.roles ?? [])
    .filter((g) => g.role === "company_manager" && g.company_id).map((g) => g.company_id))];
  const estateName = () => S.estates?.find((e) => e.estate_id === S.estateId)?.name ?? "";
  const ep = (tail) => `/api/v1/estates/${encodeURIComponent(S.estateId)}${tail}`;
  const itemPath = (tail = "") => (S.open.city
    ? `/api/v1/tenders/${S.open.id}${tail}` : ep(`/${S.open.tab}/${S.open.id}${tail}`));

  function fmt(value, options) {
    const date = value instanceof Date ? value : new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", options).format(date);
  }
  const when = (iso) => (iso ? fmt(iso, { dateStyle: "medium", timeStyle: "short" }) : "");
  const day = (ymd) => {
    const [y, m, d] = ymd.split("-").map(Number);
    return fmt(new Date(y, m - 1, d), { dateStyle: "medium" });
  };
  const role = (r) => (t(`role.${r}`) === `role.${r}` ? r : t(`role.${r}`));
  const yuan = (fen) => t("voice.yuan", { v: yuanDigits(fen) });
  const badge = (cls, text) => h("span", { class: `badge ${cls}` }, text);
  const stateBadge = (key, state) => h("span", { class: `badge v-${state}`, "data-state": state },
    t(`${key}.${state}`));
  const overdue = () => badge("v-overdue", t("voice.overdue"));

  function ratioWords(r) {
    const [n, d] = r.split("/").map(BigInt);
    const bp = (n * 10000n) / d;
    return t("voice.b.ratioIs", { r, p: `${bp / 100n}.${pad(Number(bp % 100n))}` });
  }

  function facts(rows) {
    return h("dl", { class: "facts" }, rows.filter(([, v]) => v).map(([key, v]) =>
      h("div", {}, h("dt", {}, t(key)), h("dd", {}, v))));
  }

  function field(id, key, control, hint) {
    control.id = id;
    const box = h("div", { class: "field" }, h("label", { for: id, l: key }));
    if (hint) {
      box.append(h("p", { class: "hint", id: `${id}-hint`, l: hint }));
      control.setAttribute("aria-describedby", `${id}-hint`);
    }
    box.append(control);
    return box;
  }

  /** Labelled controls from [name, key, type, attrs, hint]; type "group" is a fieldset of more. */
  function controls(id, specs) {
    return specs.map(([name, key, type = "text", attrs = {}, hint]) => {
      if (type === "group") {
        return h("fieldset", { class: "items-box", id: `${id}-${name}`,
          "aria-describedby": hint && `${id}-${name}-hint` }, h("legend", { l: key }),
        hint && h("p", { class: "hint", id: `${id}-${name}-hint`, l: hint }), controls(id, attrs.fields));
      }
      const { options, ...rest } = attrs;
      const control = type === "textarea" ? h("textarea", { rows: 3, maxlength: 5000, ...rest })
        : type === "select" ? h("select", rest, options.map(([v, k]) => h("option", { value: v, l: k })))
          : h("input", { type, ...rest });
      control.name = name;
      return field(`${id}-${name}`, key, control, hint);
    });
  }

  /** A form that runs `act(fields, form)` on submit, busy and with refusals explained. Its
   * Idempotency-Key lasts until it succeeds or is edited, so a retry cannot submit twice. */
  function form(id, specs, submitKey, act, extra = []) {
    const submit = h("button", { type: "submit", class: "button primary", id: `${id}-submit`,
      l: submitKey });
    const node = h("form", { id, class: "form", novalidate: true }, controls(id, specs), extra, submit);
    node.addEventListener("input", () => delete node.dataset.key);
    node.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(submit, async () => {
        try {
          await act(node.elements, node);
          delete node.dataset.key;
        } catch (error) {
          fail(error);
        }
      });
    });
    return node;
  }

  const idem = (node) => ({ "Idempotency-Key": (node.dataset.key ||= uuid()) });

  function action(id, key, run) {
    const button = h("button", { type: "button", class: "button", id, l: key });
    button.addEventListener("click", () => busy(button, () => run().catch(fail)));
    return button;
  }

  /** A refusal in plain words: known cases by our own sentence, else the server's detail. */
  function explain(error) {
    if (error instanceof ApiError) {
      const detail = typeof error.problem?.detail === "string" ? error.problem.detail : "";
      const { sentence } = error;
      for (const [match, key] of Object.entries(ERRORS)) {
        const space = match.indexOf(" ");
        const status = space < 0 ? match : match.slice(0, space);
        const pattern = space < 0 ? "" : match.slice(space + 1);
        if (Number(status) !== error.status) continue;
        if (pattern && !new RegExp(pattern, "i").test(sentence)) continue;
        const instant = INSTANT.exec(sentence);
        say("error", key, { when: instant ? when(instant[0]) : "" });
        return;
      }
      if (error.status === 403) {
        say("error", "voice.error.forbidden");
        return;
      }
      if ((error.status === 400 || error.status === 422) && detail
          && !sentence.startsWith("the request is not valid")) {
        say("error", "voice.error.refused", { detail });
        return;
      }
    }
    reportError(error);
  }

  function fail(error) {
    explain(error);
    // The item changed under us (someone else's step): show it as it is now.
    if (error instanceof ApiError && error.status === 422 && S.open) reload().catch(() => {});
  }

  /** Says what is wrong with one control and focuses it. */
  function wrong(control, key, params) {
    control.setAttribute("aria-invalid", "true");
    say("error", key, params);
    control.focus();
    return false;
  }

  function future(control) {
    const date = new Date(control.value);
    if (Number.isNaN(date.getTime()) || date <= new Date()) return wrong(control, "voice.error.future");
    control.removeAttribute("aria-invalid");
    return date.toISOString();
  }

  // --- skeleton --------------------------------------------------------------------------------
  const status = h("p", { class: "hint", id: "voice-status" });
  const estateSelect = h("select", { onchange: onEstate });
  const estateField = field("voice-estate", "voice.estate.choose", estateSelect);
  const tabButtons = Object.fromEntries(TABS.map((tab) => [tab, h("button", {
    type: "button", class: "button small", id: `voice-tab-${tab}`, "aria-pressed": "false",
    l: `voice.tab.${tab}`, onclick: () => showTab(tab),
  })]));
  const tabs = h("nav", { class: "voice-tabs", la: "voice.tabs" },
    h("ul", {}, TABS.map((tab) => h("li", {}, tabButtons[tab]))));
  const lists = {};
  const sections = {};
  const news = {};
  for (const tab of TABS) {
    lists[tab] = h("ul", { class: "items voice-list", id: `voice-${tab}-list`,
      "aria-labelledby": `voice-${tab}-heading` });
    sections[tab] = h("section", { class: "panel", id: `voice-${tab}`,
      "aria-labelledby": `voice-${tab}-heading` },
    h("h2", { id: `voice-${tab}-heading`, tabindex: "-1", l: `voice.tab.${tab}` }),
    h("p", { class: "hint", l: `voice.${tab}.intro` }));
  }
  const page = h("section", { class: "panel voice-page", id: "voice-page",
    "aria-labelledby": "voice-item-title" });

  /** A create form, folded until asked for so a phone shows the list first. */
  function creator(tab, key, node) {
    news[tab] = h("details", { class: "voice-new", id: `${node.id}-box` },
      h("summary", { l: key }), node);
    sections[tab].append(news[tab]);
  }

  // Suggestions: the form, the filters, the list.
  const suggestionForm = form("suggestion-form", [
    ["kind", "voice.s.kind", "select", { options: KINDS.map((k) => [k, `voice.kind.${k}`]) }],
    ["subjectKind", "voice.s.subjectKind", "select",
      { options: [["entry", "voice.s.entry"], ["disbursement", "voice.s.disbursement"]] }],
    ["subjectId", "voice.s.subjectId", "text", { maxlength: "36", spellcheck: "false",
      autocomplete: "off" }, "voice.s.subjectHint"],
    ["title", "voice.s.title", "text", { maxlength: "200", required: true }],
    ["body", "voice.s.body", "textarea", { rows: "4", required: true }],
    ["photos", "voice.s.photos", "file", { accept: PHOTO_TYPES.join(","), multiple: true },
      "voice.s.photosHint"],
  ], "voice.s.submit", onSubmitSuggestion);
  const inquiryFields = ["subjectKind", "subjectId"].map((n) => suggestionForm.elements[n].parentElement);
  suggestionForm.elements.kind.addEventListener("change", showInquiryFields);
  creator("suggestions", "voice.s.new", suggestionForm);
  const filterState = h("select", { onchange: onFilter }, h("option", { value: "", l: "voice.filter.all" }),
    STATES.map((s) => h("option", { value: s, l: `voice.state.${s}` })));
  const filterKind = h("select", { onchange: onFilter }, h("option", { value: "", l: "voice.filter.all" }),
    KINDS.map((k) => h("option", { value: k, l: `voice.kind.${k}` })));
  const filterOverdue = h("input", { type: "checkbox", id: "voice-filter-overdue", onchange: onFilter });
  sections.suggestions.append(h("div", { class: "form inline-form voice-filters" },
    field("voice-filter-state", "voice.filter.state", filterState),
    field("voice-filter-kind", "voice.filter.kind", filterKind),
    h("label", { class: "choice", for: filterOverdue.id }, filterOverdue,
      h("span", { l: "voice.filter.overdue" }))), lists.suggestions);

  // Surveys: the form with its question rows, the list.
  const questionRows = h("ol", { class: "voice-rows", id: "survey-questions" });
  const addQuestion = h("button", { type: "button", class: "button small", id: "survey-add-question",
    l: "voice.v.addQuestion", onclick: () => addQuestionRow(true) });
  const surveyForm = form("survey-form", [
    ["title", "voice.v.title", "text", { maxlength: "200", required: true }],
    ["description", "voice.v.description", "textarea"],
    ["closes", "voice.v.closes", "datetime-local", { required: true }],
  ], "voice.v.submit", onPublishSurvey, [questionRows, addQuestion]);
  creator("surveys", "voice.v.new", surveyForm);
  sections.surveys.append(lists.surveys);
  let rowSerial = 0;

  function addQuestionRow(focus) {
    const k = ++rowSerial;
    const text = h("input", { type: "text", maxlength: "500", required: true, class: "q-text" });
    const kind = h("select", { class: "q-kind" }, h("option", { value: "scale", l: "voice.v.scale" }),
      h("option", { value: "choice", l: "voice.v.choice" }));
    const options = h("textarea", { rows: "3", class: "q-options" });
    const optionsField = field(`sq${k}-options`, "voice.v.options", options, "voice.v.optionsHint");
    optionsField.hidden = true;
    kind.addEventListener("change", () => {
      optionsField.hidden = kind.value !== "choice";
    });
    const row = h("li", {}, h("fieldset", { class: "items-box" }, h("legend"),
      field(`sq${k}-text`, "voice.v.question", text), field(`sq${k}-kind`, "voice.v.kind", kind),
      optionsField, h("button", { type: "button", class: "button small", onclick: () => {
        row.remove();
        renumber();
        addQuestion.focus();
      } })));
    questionRows.append(row);
    renumber();
    if (focus) text.focus();
  }

  function renumber() {
    [...questionRows.children].forEach((row, i) => {
      row.querySelector("legend").textContent = t("voice.v.legend", { n: i + 1 });
      const remove = row.querySelector("fieldset > button");
      remove.textContent = t("voice.v.remove", { n: i + 1 });
      remove.hidden = questionRows.children.length === 1;
    });
  }

  // Meetings and tenders: their forms and lists; the city's open tenders for company managers.
  const meetingForm = form("meeting-form", [
    ["title", "voice.m.title", "text", { maxlength: "200", required: true }],
    ["starts", "voice.m.starts", "datetime-local", { required: true }],
    ["place", "voice.m.place", "text", { maxlength: "200", required: true }],
    ["agenda", "voice.m.agenda", "textarea", { rows: "4", required: true }, "voice.onePerLine"],
  ], "voice.m.submit", onSchedule);
  creator("meetings", "voice.m.new", meetingForm);
  sections.meetings.append(lists.meetings);
  const tenderForm = form("tender-form", [
    ["title", "voice.t.title", "text", { maxlength: "200", required: true }],
    ["standard", "voice.t.standard", "textarea", { rows: "4", maxlength: "20000", required: true }],
    ["scope", "voice.t.scope", "textarea", { rows: "4", maxlength: "20000", required: true }],
    ["term", "voice.t.term", "number", { min: "1", max: "120", step: "1", value: "36", required: true }],
    ["closes", "voice.t.closes", "datetime-local", { required: true }, "voice.t.closesHint"],
  ], "voice.t.submit", onDraftTender);
  creator("tenders", "voice.t.new", tenderForm);
  const cityList = h("ul", { class: "items voice-list", id: "city-tender-list",
    "aria-labelledby": "city-tenders-heading" });
  const city = h("section", { id: "city-tenders", "aria-labelledby": "city-tenders-heading" },
    h("h3", { id: "city-tenders-heading", tabindex: "-1", l: "voice.city.heading" }),
    h("p", { class: "hint", l: "voice.city.intro" }), cityList);
  const estateTenders = h("div", {}, h("h3", { id: "estate-tenders-heading", l: "voice.t.estateList" }),
    lists.tenders);
  lists.tenders.setAttribute("aria-labelledby", "estate-tenders-heading");
  sections.tenders.append(estateTenders, city);

  root.replaceChildren(status, estateField, tabs, ...TABS.map((tab) => sections[tab]), page);
  document.head.append(h("link", { rel: "stylesheet", href: "/voice.css" }));

  // --- lists -----------------------------------------------------------------------------------
  function item(tab, id, title, extra, meta, isCity = false) {
    return h("li", { "data-id": id }, h("button", { type: "button", class: "link-button item-name",
      onclick: () => openItem(tab, id, isCity) }, title), extra, h("span", { class: "item-meta" }, meta));
  }

  const ROWS = {
    suggestions: (s) => item("suggestions", s.suggestion_id, s.title, [
      badge(`v-${s.kind}`, t(`voice.kind.${s.kind}`)), stateBadge("voice.state", s.state),
      s.overdue && overdue()], [t("voice.s.meta", { role: role(s.submitted_by_role),
      at: when(s.submitted_at) }), s.due_on && t("voice.s.dueOn", { date: day(s.due_on) })]
      .filter(Boolean).join(t("voice.sep"))),
    surveys: (v) => item("surveys", v.survey_id, v.title, [stateBadge("voice.v.state", v.state),
      v.answered_by_me && badge("v-mine", t("voice.v.mine"))], t(`voice.v.when.${v.state}`, {
      at: when(v.closed_at || v.closes_at), n: v.respondents })),
    meetings: (m) => item("meetings", m.meeting_id, m.title, stateBadge("voice.m.state", m.state),
      t("voice.m.meta", { at: when(m.starts_at), place: m.place })),
    tenders: (x) => item("tenders", x.tender_id, x.title, stateBadge("voice.t.state", x.state),
      tenderWhen(x)),
  };

  function tenderWhen(x) {
    return t(`voice.t.when.${x.state}`, { closes: when(x.closes_at), closed: when(x.closed_at
      || x.closes_at), chosen: x.chosen_company_name ?? "", reason: x.cancelled_reason ?? "",
    n: x.bid_count });
  }

  function renderList(tab) {
    const rows = S.lists[tab] ?? [];
    lists[tab].replaceChildren(...(rows.length ? rows.map(ROWS[tab])
      : [h("li", { class: "empty" }, t(`voice.${tab}.none`))]));
    if (tab !== "tenders") return;
    cityList.replaceChildren(...(S.city.length ? S.city.map((x) => item("tenders", x.tender_id,
      x.title, (x.bids ?? []).some((b) => b.mine) && badge("v-mine", t("voice.t.mineBid")),
      t("voice.city.meta", { estate: x.estate_name, closes: when(x.closes_at) }), true))
      : [h("li", { class: "empty" }, t("voice.city.none"))]));
  }

  // --- one item's page -------------------------------------------------------------------------
  function head(title, ...state) {
    return [h("h2", { id: "voice-item-title", tabindex: "-1" }, title),
      h("p", { class: "voice-state", id: "voice-item-state", tabindex: "-1" }, state)];
  }

  const text = (body, id) => body && h("p", { class: "voice-text", id }, body);
  const heading = (key, params, id) => h("h3", { id, tabindex: id ? "-1" : null }, t(key, params));

  function suggestionPage(s) {
    const open = s.state !== "confirmed";
    const company = has(COMPANY);
    const [ref, refId] = (s.subject_ref ?? "").split(":");
    const out = [...head(s.title, badge(`v-${s.kind}`, t(`voice.kind.${s.kind}`)), " ",
      stateBadge("voice.state", s.state), " ", s.overdue && overdue()), text(s.body),
    facts([
      ["voice.f.submitted", t("voice.byAt", { who: role(s.submitted_by_role), at: when(s.submitted_at) })],
      ["voice.f.about", ref && t(`voice.s.about.${ref}`, { id: refId })],
      ["voice.f.due", s.due_on && day(s.due_on)],
    ]), heading("voice.s.photosHeading", { n: s.photos.length }, "voice-photos-heading")];
    const photos = h("div", { class: "voice-photos", id: "voice-photos" }, s.photos.map((p, i) => {
      const img = h("img", { alt: t("voice.photo", { n: i + 1 }), "data-sha": p.sha256,
        width: "160", height: "120" });
      if (S.photos.get(p.sha256)) img.src = S.photos.get(p.sha256);
      else loadPhoto(s.suggestion_id, p.sha256);
      return img;
    }));
    out.push(s.photos.length ? photos : h("p", { class: "hint" }, t("voice.s.noPhotos")));
    if ((s.submitted_by_me || company) && open && s.photos.length < MAX_PHOTOS) {
      out.push(form("photo-form", [["file", "voice.s.addPhoto", "file",
        { accept: PHOTO_TYPES.join(","), required: true }, "voice.s.photosHint"]],
      "voice.s.upload", onAddPhoto));
    }
    out.push(heading("voice.s.timeline"), h("ol", { class: "voice-timeline", id: "voice-timeline" },
      s.timeline.map((step) => h("li", { "data-state": step.state },
        h("p", { class: "item-meta" }, h("time", { datetime: step.at }, when(step.at)), " · ",
          t("voice.step", { who: [role(step.by_role), step.by_name].filter(Boolean).join(" "),
            what: t(`voice.did.${step.state}`) }), step.by_me && ` ${t("voice.byMe")}`),
        text(step.text), step.due_on && h("p", { class: "marker" },
          t("voice.s.dueOn", { date: day(step.due_on) }))))));
    const steps = [];
    const textStep = (id, label, submit, tail, done, required = true) => form(id,
      [["text", label, "textarea", { required }]], submit, async (f) => {
        if (required && !requireFilled([f.text])) return;
        await step("POST", tail, { text: f.text.value.trim() }, done);
      });
    if (company && ["submitted", "reopened"].includes(s.state)) {
      steps.push(textStep("answer-form", "voice.s.answer", "voice.s.answerSubmit", "/answer",
        "voice.s.answered"));
    }
    if (company && ["submitted", "answered", "reopened"].includes(s.state)) {
      steps.push(form("commit-form", [["text", "voice.s.commitText", "textarea", { required: true }],
        ["due", "voice.s.due", "date", { required: true }, "voice.s.dueHint"]],
      "voice.s.commit", async (f) => {
        if (!requireFilled([f.text, f.due])) return;
        await step("POST", "/commitment", { text: f.text.value.trim(), due_on: f.due.value },
          "voice.s.committed", { date: day(f.due.value) });
      }));
    }
    if (company && s.state === "committed") {
      steps.push(textStep("rectify-form", "voice.s.rectifyText", "voice.s.rectify",
        "/rectification", "voice.s.rectified"));
    }
    if (s.submitted_by_me && ["answered", "rectified"].includes(s.state)) {
      steps.push(textStep("confirm-form", "voice.s.confirmText", "voice.s.confirm", "/confirmation",
        "voice.s.confirmed", false), textStep("reopen-form", "voice.s.reopenText", "voice.s.reopen",
        "/reopening", "voice.s.reopened"));
    }
    if (steps.length) out.push(heading("voice.s.next"), ...steps);
    return out;
  }

  async function loadPhoto(id, sha) {
    if (S.photos.has(sha)) return;
    S.photos.set(sha, "");
    try {
      const blob = await call("GET", ep(`/suggestions/${id}/photos/${sha}`), {
        blob: true, extraHeaders: { Accept: "image/*" },
      });
      const url = await dataUrl(blob);
      S.photos.set(sha, url);
      for (const img of page.querySelectorAll(`img[data-sha="${sha}"]`)) img.src = url;
    } catch (error) {
      S.photos.delete(sha);
      reportError(error);
    }
  }

  function surveyPage(v) {
    const open = v.state === "open";
    const out = [...head(v.title, stateBadge("voice.v.state", v.state), " ",
      t(`voice.v.when.${v.state}`, { at: when(v.closed_at || v.closes_at), n: v.respondents })),
    text(v.description), facts([
      ["voice.f.published", t("voice.byAt", { who: role(v.published_by_role), at: when(v.published_at) })],
      ["voice.f.respondents", String(v.respondents)],
    ])];
    if (open && has(RESIDENTS)) out.push(answerForm(v));
    if (open && (has(APPROVERS) || has(MANAGER))) {
      out.push(h("p", { class: "hint" }, t("voice.v.closeHint")), action("survey-close",
        "voice.v.close", () => step("POST", "/close", undefined, "voice.v.closed", {}, "survey-results-heading")));
    }
    if (v.results) out.push(results(v));
    return out;
  }

  function answerForm(v) {
    if (S.answersFor !== v.survey_id) {
      S.answersFor = v.survey_id;
      S.answers = new Map();
    }
    const submit = h("button", { type: "submit", class: "button primary", id: "survey-answer-submit" },
      t(v.answered_by_me ? "voice.v.answerAgain" : "voice.v.answer"));
    const node = h("form", { class: "form", id: "survey-answer", novalidate: true },
      h("p", { class: "hint" }, t(v.answered_by_me ? "voice.v.answered" : "voice.v.answerIntro",
        { at: when(v.closes_at) })),
      v.questions.map((q, i) => h("fieldset", { class: "items-box", id: `answer-${q.question_id}` },
        h("legend", {}, t("voice.v.qLegend", { n: i + 1, text: q.text })),
        h("div", { class: "choices" }, (q.kind === "scale" ? [1, 2, 3, 4, 5] : q.options.map((_, j) => j))
          .map((value) => {
            const id = `answer-${q.question_id}-${value}`;
            const radio = h("input", { type: "radio", name: `answer-${q.question_id}`, id,
              value: String(value), onchange: () => S.answers.set(q.question_id, value) });
            radio.checked = S.answers.get(q.question_id) === value;
            const words = q.kind === "scale"
              ? [String(value), value === 1 && t("voice.v.low"), value === 5 && t("voice.v.high")]
              : [q.options[value]];
            return h("label", { class: "choice", for: id }, radio, words.filter(Boolean).join(" "));
          })))), submit);
    node.addEventListener("submit", (event) => {
      event.preventDefault();
      const missing = v.questions.findIndex((q) => !S.answers.has(q.question_id));
      if (missing >= 0) {
        say("error", "voice.v.answerQuestion", { n: missing + 1 });
        node.querySelector(`[name="answer-${v.questions[missing].question_id}"]`).focus();
        return;
      }
      busy(submit, () => step("PUT", "/answer", { answers: v.questions.map((q) => ({
        question_id: q.question_id, value: S.answers.get(q.question_id) })) },
      v.answered_by_me ? "voice.v.replaced" : "voice.v.thanks").catch(fail));
    });
    return node;
  }

  function results(v) {
    return h("section", { id: "survey-results", "aria-labelledby": "survey-results-heading" },
      heading("voice.v.results", {}, "survey-results-heading"), v.results.map((r, i) => {
        const q = v.questions.find((x) => x.question_id === r.question_id) ?? { text: "", options: [] };
        const names = q.kind === "scale" ? ["1", "2", "3", "4", "5"] : q.options;
        return h("article", { class: "voice-result", "data-question": r.question_id },
          h("h4", {}, t("voice.v.qLegend", { n: i + 1, text: q.text })),
          h("p", { class: "voice-mean" }, r.mean_text ? t("voice.v.mean", { mean: r.mean_text,
            n: r.respondents }) : t("voice.v.respondents", { n: r.respondents })),
          h("ul", { class: "figure-list", "aria-label": t("voice.v.counts", { n: i + 1 }) },
            r.counts.map((c, j) => h("li", {}, h("span", { class: "figure-name" }, names[j] ?? ""),
              h("span", { class: "figure-value" }, t("voice.v.count", { n: c,
                p: r.respondents ? Math.round((c * 1000) / r.respondents) / 10 : 0 }),
              h("meter", { min: "0", max: String(Math.max(r.respondents, 1)), value: String(c),
                "aria-hidden": "true" }))))));
      }));
  }

  function meetingPage(m) {
    const approver = has(APPROVERS);
    const scheduled = m.state === "scheduled";
    const out = [...head(m.title, stateBadge("voice.m.state", m.state)), facts([
      ["voice.m.starts", when(m.starts_at)], ["voice.m.place", m.place],
      ["voice.f.scheduled", role(m.scheduled_by_role)], ["voice.f.cancelled", m.cancelled_reason],
    ]), heading("voice.m.agenda"), h("ol", { id: "meeting-agenda" }, m.agenda.map((a) => h("li", {}, a))),
    heading("voice.m.report", {}, "meeting-report-heading"), m.report
      ? [text(m.report, "meeting-report"), h("p", { class: "hint" }, t("voice.byAt", {
        who: role(m.report_posted_by_role), at: when(m.report_posted_at) }))]
      : h("p", { class: "hint" }, t("voice.m.noReport"))];
    if (has(MANAGER) && scheduled) {
      out.push(form("report-form", [["report", "voice.m.reportText", "textarea",
        { rows: "6", maxlength: "20000", required: true, value: m.report ?? "" }]],
      m.report ? "voice.m.reportReplace" : "voice.m.reportSubmit", async (f) => {
        if (!requireFilled([f.report])) return;
        await step("PUT", "/report", { report: f.report.value.trim() }, "voice.m.reported", {},
          "meeting-report-heading");
      }));
    }
    out.push(heading("voice.m.minutes", {}, "meeting-minutes-heading"));
    if (m.minutes) {
      out.push(text(m.minutes, "meeting-minutes"), h("ol", { class: "items voice-points",
        id: "meeting-points" }, m.points.map((p) => h("li", { "data-point": p.point_id },
        h("span", { class: "item-name" }, p.text), p.suggestion_id
          ? h("button", { type: "button", class: "button small",
            onclick: () => openItem("suggestions", p.suggestion_id) }, t("voice.m.seeSuggestion"))
          : approver && action(`raise-${p.point_id}`, "voice.m.raise", async () => {
            const raised = await call("POST", itemPath(`/points/${p.point_id}/suggestion`),
              { body: {} });
            await reload();
            say("success", "voice.m.raised", { title: raised.suggestion.title });
            page.querySelector(`li[data-point="${p.point_id}"] button`)?.focus();
          })))));
    } else {
      out.push(h("p", { class: "hint" }, t(scheduled ? "voice.m.noMinutes" : "voice.m.none")));
    }
    if (approver && scheduled) {
      out.push(form("minutes-form", [
        ["minutes", "voice.m.minutesText", "textarea", { rows: "6", maxlength: "50000", required: true }],
        ["points", "voice.m.points", "textarea", { rows: "4" }, "voice.m.pointsHint"],
      ], "voice.m.publish", async (f) => {
        if (!requireFilled([f.minutes])) return;
        await step("POST", "/minutes", { minutes: f.minutes.value.trim(), points: lines(f.points.value) },
          "voice.m.published", {}, "meeting-minutes-heading");
      }));
    }
    if ((approver || has(MANAGER)) && scheduled) out.push(cancelForm("meeting-cancel", "voice.m.cancel"));
    return out;
  }

  function cancelForm(id, key) {
    return form(id, [["reason", "voice.cancelReason", "text", { maxlength: "2000", required: true }]],
      key, async (f) => {
        if (!requireFilled([f.reason])) return;
        await step("POST", "/cancel", { reason: f.reason.value.trim() }, "voice.cancelled");
      });
  }

  function tenderPage(x, isCity) {
    const approver = !isCity && has(APPROVERS);
    const bids = x.bids ?? [];
    const sealed = x.state === "open" || x.state === "draft";
    const out = [...head(x.title, stateBadge("voice.t.state", x.state), " ", tenderWhen(x)), facts([
      ["voice.t.estate", isCity && x.estate_name],
      ["voice.t.term", t("voice.t.months", { n: x.term_months })],
      ["voice.t.closes", when(x.closes_at)],
      ["voice.t.chosen", x.chosen_company_name],
    ]), heading("voice.t.standard"), text(x.service_standard), heading("voice.t.scope"), text(x.scope),
    heading("voice.t.bids", { n: x.bid_count || bids.length }, "tender-bids-heading"),
    !bids.length && h("p", { class: "hint" }, t(sealed ? "voice.t.sealed" : "voice.t.noBids")),
    h("ul", { class: "items voice-bids", id: "tender-bids" }, bids.map(bidItem))];
    if (approver && x.state === "draft") {
      out.push(action("tender-publish", "voice.t.publish", () => step("POST", "/publish", undefined,
        "voice.t.published", { closes: when(x.closes_at) })));
    }
    if (approver && x.state === "open") {
      out.push(h("p", { class: "hint" }, t("voice.t.closeHint", { closes: when(x.closes_at) })),
        action("tender-close", "voice.t.close", () => step("POST", "/close", undefined,
          "voice.t.closed", {}, "tender-bids-heading")));
    }
    if (approver && x.state === "closed" && !x.ballot_id) {
      out.push(h("p", { class: "hint" }, t("voice.t.ballotHint")), action("tender-ballot",
        "voice.t.ballot", async () => {
          const ballot = await call("POST", itemPath("/ballot"), { body: {} });
          await reload();
          say("success", "voice.t.ballotDrafted", { title: ballot.title });
          $("tender-ballot-link")?.focus();
        }));
    }
    if (x.ballot_id) {
      out.push(h("p", {}, h("a", { href: "#/voting", id: "tender-ballot-link", class: "button" },
        t("voice.t.toVoting"))));
    }
    if (approver && ["draft", "open", "closed"].includes(x.state)) {
      out.push(cancelForm("tender-cancel", "voice.t.cancel"));
    }
    if (isCity && x.state === "open") out.push(bidForm(x, bids.find((b) => b.mine)));
    return out;
  }

  function bidItem(b) {
    return h("li", { class: "voice-bid", "data-company": b.company_name },
      h("p", { class: "item-name" }, b.company_name, b.mine && [" ", badge("v-mine", t("voice.t.mine"))]),
      facts([
        ["voice.b.remuneration", b.remuneration_ratio ? ratioWords(b.remuneration_ratio)
          : t("voice.b.monthly", { v: yuan(b.remuneration_monthly_fen ?? 0) })],
        ["voice.b.rates", b.fee_rates.map((r) => t("voice.b.rate", {
          type: t(`voice.unit.${r.unit_type}`), v: rateYuan(r.fen_per_m2_month) })).join(t("voice.sep"))],
        ["voice.b.staffing", b.staffing.map((s) => t("voice.b.staff", { role: s.role, n: s.count }))
          .join(t("voice.sep"))],
        ["voice.b.notes", b.staffing_notes],
        ["voice.b.references", b.references],
        ["voice.b.submitted", t("voice.b.revision", { at: when(b.updated_at || b.submitted_at),
          n: b.revision })],
      ]));
  }

  function bidForm(x, mine) {
    const rate = (u) => {
      const r = mine?.fee_rates.find((f) => f.unit_type === u);
      const v = r ? rateYuan(r.fen_per_m2_month) : "";
      return v.endsWith("…") ? "" : v;
    };
    const mineCompanies = companies();
    const specs = [
      mineCompanies.length > 1 && ["company", "voice.b.company", "select",
        { options: mineCompanies.map((c) => [c, c]) }],
      ["ratio", "voice.b.ratio", "text", { maxlength: "40", autocomplete: "off",
        value: mine?.remuneration_ratio ?? "" }, "voice.b.ratioHint"],
      ["monthly", "voice.b.monthlyYuan", "text", { maxlength: "16", inputmode: "decimal",
        value: mine?.remuneration_monthly_fen ? yuanDigits(mine.remuneration_monthly_fen) : "" }],
      ["rates", "voice.b.rates", "group", { fields: UNIT_TYPES.map((u) => [`rate-${u}`,
        `voice.unit.${u}`, "text", { maxlength: "20", inputmode: "decimal", value: rate(u) }]) },
      "voice.b.ratesHint"],
      ["staffing", "voice.b.staffing", "textarea", { value: mine?.staffing.map((s) =>
        `${s.role} ${s.count}`).join("\n") ?? "" }, "voice.b.staffingHint"],
      ["notes", "voice.b.notes", "textarea", { value: mine?.staffing_notes ?? "" }],
      ["references", "voice.b.references", "textarea", { value: mine?.references ?? "" },
        "voice.b.referencesHint"],
    ].filter(Boolean);
    return h("section", { "aria-labelledby": "bid-heading" },
      heading(mine ? "voice.b.replace" : "voice.b.heading", {}, "bid-heading"),
      h("p", { class: "hint" }, t("voice.b.intro", { closes: when(x.closes_at) })),
      form("bid-form", specs, mine ? "voice.b.replaceSubmit" : "voice.b.submit",
        (f, node) => onBid(x, f, node)));
  }

  async function onBid(x, f, node) {
    for (const control of node.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    const ratio = f.ratio.value.trim();
    const monthly = f.monthly.value.trim();
    if (!ratio === !monthly) return wrong(f.ratio, "voice.b.oneRemuneration");
    const body = { fee_rates: [], staffing: [], staffing_notes: f.notes.value.trim(),
      references: f.references.value.trim() };
    if (f.company) body.company_id = f.company.value;
    if (ratio) body.remuneration_ratio = ratioOf(ratio);
    else if (!(body.remuneration_monthly_fen = fenOf(monthly))) return wrong(f.monthly, "voice.b.badYuan");
    for (const u of UNIT_TYPES) {
      const control = f[`rate-${u}`];
      if (!control.value.trim()) continue;
      const fen = rateFen(control.value);
      if (fen === null) return wrong(control, "voice.b.badRate", { type: t(`voice.unit.${u}`) });
      body.fee_rates.push({ unit_type: u, fen_per_m2_month: fen });
    }
    if (!body.fee_rates.length) return wrong(f["rate-residential"], "voice.b.noRate");
    for (const [i, line] of lines(f.staffing.value).entries()) {
      const m = /^(.+?)[\s:：×xX*]*(\d{1,5})\s*[人名]?$/.exec(line);
      if (!m) return wrong(f.staffing, "voice.b.staffLine", { n: i + 1 });
      body.staffing.push({ role: m[1].trim(), count: Number(m[2]) });
    }
    if (!body.staffing.length && !body.staffing_notes) return wrong(f.staffing, "voice.b.noStaff");
    const bid = await call("POST", `/api/v1/tenders/${x.tender_id}/bids`, { body,
      extraHeaders: idem(node) });
    fresh = true;
    await reload();
    say("success", bid.revision > 1 ? "voice.b.replaced" : "voice.b.sent",
      { title: x.title, n: bid.revision });
    $("tender-bids-heading")?.focus();
    return true;
  }

  let fresh = false;
  const PAGES = { suggestions: suggestionPage, surveys: surveyPage, meetings: meetingPage,
    tenders: tenderPage };

  function renderPage() {
    const o = S.open;
    // A language switch or a refresh re-draws the page; what someone was typing in it stays.
    // (A new item, or a step done, starts afresh.)
    const kept = fresh ? [] : [...page.querySelectorAll("textarea, input[type=text], input[type=date]")]
      .map((n) => [n.id, n.value]);
    fresh = false;
    page.replaceChildren(h("button", { type: "button", class: "button small", id: "voice-back",
      onclick: closeItem }, t(`voice.back.${o.city ? "city" : o.tab}`)), ...clean(PAGES[o.tab](o.item, o.city)));
    for (const [id, value] of kept) if (id && $(id)) $(id).value = value;
  }

  // --- rendering -------------------------------------------------------------------------------
  function showInquiryFields() {
    const inquiry = suggestionForm.elements.kind.value === "inquiry";
    for (const box of inquiryFields) box.hidden = !inquiry;
  }

  function render() {
    const me = S.me;
    const bidder = companies().length > 0;
    const estate = Boolean(S.estateId) && S.loading !== "notReady";
    let key = "voice.estate";
    if (!me) key = "voice.signInFirst";
    else if (S.estates === null) key = "voice.loading";
    else if (!S.estateId) key = bidder ? "voice.noEstateBidder" : "voice.noEstate";
    else if (S.loading === "notReady") key = "voice.notReady";
    status.textContent = t(key, { name: estateName() });
    const shown = Boolean(me) && S.estates !== null && (estate || bidder);
    if (shown && !estate) S.tab = "tenders";
    const paging = Boolean(S.open?.item);
    tabs.hidden = !shown || paging;
    // The shell's switcher chooses the estate when it is shown; this one serves otherwise.
    estateField.hidden = !me || (S.estates?.length ?? 0) < 2 || paging
      || (app.estates?.() ?? []).length > 1;
    for (const tab of TABS) {
      tabButtons[tab].setAttribute("aria-pressed", String(S.tab === tab));
      tabButtons[tab].parentElement.hidden = !estate && tab !== "tenders";
      sections[tab].hidden = !shown || paging || S.tab !== tab;
    }
    news.suggestions.hidden = !has(SUBMITTERS);
    const inquiry = suggestionForm.elements.kind.options[2];
    inquiry.hidden = inquiry.disabled = !has(SUPERVISORS);
    if (!has(SUPERVISORS) && suggestionForm.elements.kind.value === "inquiry") {
      suggestionForm.elements.kind.value = "suggestion";
    }
    showInquiryFields();
    news.surveys.hidden = news.meetings.hidden = !(has(APPROVERS) || has(MANAGER));
    news.tenders.hidden = !estate || !has(APPROVERS);
    estateTenders.hidden = !estate;
    city.hidden = !bidder;
    estateSelect.replaceChildren(...(S.estates ?? []).map((e) => new Option(e.name, e.estate_id)));
    if (S.estateId) estateSelect.value = S.estateId;
    if (shown) renderList(S.tab);
    page.hidden = !paging;
    if (paging) renderPage();
  }

  function retranslate() {
    for (const node of root.querySelectorAll("[data-l]")) node.textContent = t(node.dataset.l);
    for (const node of root.querySelectorAll("[data-la]")) {
      node.setAttribute("aria-label", t(node.dataset.la));
    }
    renumber();
    render();
  }

  // --- loading ---------------------------------------------------------------------------------
  async function findEstates(me) {
    const reply = await call("GET", "/api/v1/estates?limit=100");
    const mine = new Set(me.roles.map((g) => g.estate_id).filter(Boolean));
    // The operator lists every estate; only those of its own estate roles are its to speak in.
    const operator = me.roles.some((g) => g.role === "operator");
    return (reply?.estates ?? []).filter((e) => !operator || mine.has(e.estate_id));
  }

  function pick(estate) {
    S.estateId = estate?.estate_id ?? null;
    S.roles = new Set((S.me.roles ?? []).filter((g) => estate && (g.estate_id === estate.estate_id
      || (g.company_id && g.company_id === estate.company_id)
      || (g.community_id && g.community_id === estate.community_id))).map((g) => g.role));
    S.lists = {};
    S.open = null;
    if (!estate) S.tab = "tenders";
  }

  async function loadList(tab) {
    if (tab === "tenders" && companies().length) S.city = await call("GET", "/api/v1/tenders?state=open");
    if (!S.estateId || S.loading === "notReady") return;
    const query = new URLSearchParams();
    if (tab === "suggestions") {
      if (S.filter.state) query.set("state", S.filter.state);
      if (S.filter.kind) query.set("kind", S.filter.kind);
      if (S.filter.overdue) query.set("overdue", "true");
    }
    S.lists[tab] = await call("GET", ep(`/${tab}${query.size ? `?${query}` : ""}`));
  }

  async function loadItem() {
    const o = S.open;
    const got = await call("GET", itemPath());
    if (S.open === o) o.item = got;
  }

  async function reload() {
    await Promise.all([loadItem(), loadList(S.tab)]);
    render();
  }

  function forget() {
    Object.assign(S, { estates: null, estateId: null, roles: new Set(), lists: {}, city: [],
      open: null, photos: new Map(), loading: null, answers: new Map(), answersFor: null,
      tab: "suggestions", filter: { state: "", kind: "", overdue: false } });
    filterState.value = filterKind.value = "";
    filterOverdue.checked = false;
    for (const node of [suggestionForm, surveyForm, meetingForm, tenderForm]) node.reset();
    resetQuestions();
  }

  function resetQuestions() {
    questionRows.replaceChildren();
    addQuestionRow(false);
  }

  async function load() {
    const session = app.session();
    if (!session?.me) {
      forget();
      S.me = null;
      render();
      return;
    }
    if (S.me !== session.me) {
      // Someone else signed in: nothing of the last person's view is shown, not even briefly.
      forget();
      S.me = session.me;
    }
    render();
    try {
      if (S.estates === null) {
        const estates = await findEstates(session.me);
        S.estates = estates;
        pick(estates.find((e) => e.estate_id === app.estate?.()) ?? estates[0]);
      } else if (app.estate?.() && app.estate() !== S.estateId) {
        // Another estate was chosen in the shell's switcher.
        const chosen = S.estates.find((e) => e.estate_id === app.estate());
        if (chosen) pick(chosen);
      }
      if (S.loading === "notReady") S.loading = null;
      await loadList(S.tab);
      if (S.open) await loadItem();
    } catch (error) {
      // Voting learns of a new estate from an event; until then it answers 404.
      if (error instanceof ApiError && error.status === 404 && !S.open) S.loading = "notReady";
      else explain(error);
    }
    if (app.session() !== session) return;
    render();
    // A followed link ("#/voice/<estate>/<suggestion>", a message's) opens its suggestion.
    const link = S.loading ? null : app.takeLink?.("voice");
    const id = link?.at(-1);
    if (id && /^[0-9a-f-]{36}$/i.test(id) && S.open?.id !== id) await openItem("suggestions", id);
  }

  // --- actions ---------------------------------------------------------------------------------
  async function openItem(tab, id, isCity = false) {
    S.tab = tab;
    S.open = { tab, id, city: isCity, item: null };
    page.replaceChildren();
    try {
      await loadItem();
      render();
      $("voice-item-title")?.focus();
    } catch (error) {
      S.open = null;
      render();
      explain(error);
    }
  }

  async function closeItem() {
    const o = S.open;
    S.open = null;
    try {
      await loadList(S.tab);
    } catch (error) {
      explain(error);
    }
    render();
    const list = o?.city ? cityList : lists[S.tab];
    (list.querySelector(`li[data-id="${o?.id}"] button`) ?? $(`voice-${S.tab}-heading`)).focus();
  }

  /** One step on the open item; the page then shows it as it is now, with focus on `focusId`. */
  async function step(method, tail, body, done, params = {}, focusId = "voice-item-state") {
    await call(method, itemPath(tail), body instanceof Blob ? { raw: body, contentType: body.type }
      : body === undefined ? {} : { body });
    fresh = true;
    await reload();
    say("success", done, params);
    $(focusId)?.focus();
  }

  async function showTab(tab) {
    S.tab = tab;
    S.open = null;
    render();
    try {
      await loadList(tab);
    } catch (error) {
      explain(error);
    }
    render();
  }

  async function onFilter() {
    S.filter = { state: filterState.value, kind: filterKind.value, overdue: filterOverdue.checked };
    try {
      await loadList("suggestions");
      render();
      say("info", "voice.filter.shown", { n: S.lists.suggestions.length });
    } catch (error) {
      explain(error);
    }
  }

  async function onEstate() {
    pick(S.estates.find((e) => e.estate_id === estateSelect.value));
    S.loading = null;
    await load();
    say("info", "voice.estate", { name: estateName() });
  }

  async function created(node, tab, id, done, title) {
    node.reset();
    news[tab].open = false;
    await openItem(tab, id);
    say("success", done, { title });
  }

  async function onSubmitSuggestion(f, node) {
    const inquiry = f.kind.value === "inquiry";
    if (!requireFilled([...(inquiry ? [f.subjectId] : []), f.title, f.body])) return;
    const files = [...f.photos.files];
    const bad = files.find((file) => !PHOTO_TYPES.includes(file.type) || file.size > MAX_PHOTO);
    if (bad) return wrong(f.photos, bad.size > MAX_PHOTO ? "voice.error.photoSize" : "voice.error.photoType");
    if (files.length > MAX_PHOTOS) return wrong(f.photos, "voice.error.photoMax");
    const made = await call("POST", ep("/suggestions"), { body: {
      kind: f.kind.value, title: f.title.value.trim(), body: f.body.value.trim(),
      subject_ref: inquiry ? `${f.subjectKind.value}:${f.subjectId.value.trim()}` : "",
    }, extraHeaders: idem(node) });
    // A retry after a failed photo finds the same item (same key) and the photos already there.
    for (const file of files) {
      await call("POST", ep(`/suggestions/${made.suggestion_id}/photos`), {
        raw: file, contentType: file.type });
    }
    await created(node, "suggestions", made.suggestion_id, "voice.s.submitted", made.title);
    return true;
  }

  async function onAddPhoto(f) {
    const file = f.file.files[0];
    if (!file) return wrong(f.file, "voice.error.photoMissing");
    if (!PHOTO_TYPES.includes(file.type)) return wrong(f.file, "voice.error.photoType");
    if (file.size > MAX_PHOTO) return wrong(f.file, "voice.error.photoSize");
    await step("POST", "/photos", file, "voice.s.photoAdded", {}, "voice-photos-heading");
    return true;
  }

  async function onPublishSurvey(f, node) {
    if (!requireFilled([f.title, f.closes])) return;
    const closes = future(f.closes);
    if (!closes) return;
    const questions = [];
    for (const row of questionRows.children) {
      const q = row.querySelector(".q-text");
      if (!requireFilled([q])) return;
      const kind = row.querySelector(".q-kind").value;
      const box = row.querySelector(".q-options");
      const options = kind === "choice" ? lines(box.value) : [];
      if (kind === "choice" && (options.length < 2 || options.length > 10
          || new Set(options).size < options.length)) {
        return wrong(box, "voice.error.options");
      }
      questions.push({ text: q.value.trim(), kind, options });
    }
    const v = await call("POST", ep("/surveys"), { body: { title: f.title.value.trim(),
      description: f.description.value.trim(), questions, closes_at: closes },
    extraHeaders: idem(node) });
    resetQuestions();
    await created(node, "surveys", v.survey_id, "voice.v.published", v.title);
  }

  async function onSchedule(f, node) {
    if (!requireFilled([f.title, f.starts, f.place, f.agenda])) return;
    const starts = future(f.starts);
    if (!starts) return;
    const m = await call("POST", ep("/meetings"), { body: { title: f.title.value.trim(),
      starts_at: starts, place: f.place.value.trim(), agenda: lines(f.agenda.value) },
    extraHeaders: idem(node) });
    await created(node, "meetings", m.meeting_id, "voice.m.scheduled", m.title);
  }

  async function onDraftTender(f, node) {
    if (!requireFilled([f.title, f.standard, f.scope, f.term, f.closes])) return;
    const term = Number(f.term.value);
    if (!Number.isInteger(term) || term < 1 || term > 120) return wrong(f.term, "voice.error.term");
    const closes = future(f.closes);
    if (!closes) return;
    const x = await call("POST", ep("/tenders"), { body: { title: f.title.value.trim(),
      service_standard: f.standard.value.trim(), scope: f.scope.value.trim(), term_months: term,
      closes_at: closes }, extraHeaders: idem(node) });
    await created(node, "tenders", x.tender_id, "voice.t.drafted", x.title);
  }

  resetQuestions();
  onLanguage(retranslate);
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

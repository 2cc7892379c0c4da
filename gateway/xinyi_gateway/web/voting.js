// The owners' assembly (表决): every ballot of an estate for everyone in it, an owner's vote with
// its receipts (changed until the close, the old receipt shown superseded), a receipt checker, the
// published result with every figure and the receipts to recount it, and the approving body's
// drafting, announcing, opening, closing, finalising and cancelling; proxies, paper ballots the
// committee enters with their scans, the roll for objections, and owners' petitions for an
// extraordinary assembly.
// Loaded by app.js only when someone opens 表决, so nobody else downloads it.

import { addMessages } from "/i18n.js";
import { messages } from "/voting-i18n.js";

addMessages(messages);

const APPROVERS = ["committee_member", "committee_chair"];
// Civil Code art. 278 items 6-8 need 3/4 of the participating area and headcount to pass.
const SPECIAL_ITEMS = new Set([6, 7, 8]);
const ITEMS = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const ANSWERS = ["yes", "no", "abstain"];
const SUBJECTS = ["rules_of_procedure", "management_statute", "committee_election", "company",
  "contract", "budget", "maintenance_use", "maintenance_raise", "rebuilding", "common_parts_use",
  "trust_model", "other"];
const COUNTED_STATES = new Set(["published", "final"]);
const VOTED_STATES = new Set(["open", "published", "final"]);
const CANCELLABLE = new Set(["draft", "announced", "open"]);
const STEPS = { announced: "open", open: "close", published: "finalize" };
const PROXY_STATES = new Set(["announced", "open"]);
const SCAN_TYPES = ["image/jpeg", "image/png", "application/pdf"];
const MAX_SCAN = 10 * 1024 * 1024;
const RECEIPT = /^[0-9A-F]{4}(-[0-9A-F]{4}){3}$/;
const DAY = 86_400_000;
const NOTICE_DAYS = 15;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function input(type, attrs = {}) {
  const node = el("input");
  node.type = type;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** Hundredths of a square metre as "1,234.56", without floating point. */
function areaDigits(centi) {
  const whole = String(Math.floor(centi / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${whole}.${pad(centi % 100)}`;
}

/** part / whole as a percentage with two decimals, cut (never rounded up past a bound). */
function percent(part, whole) {
  if (whole <= 0) return "0.00";
  const basis = Math.floor((part * 10_000) / whole);
  return `${Math.floor(basis / 100)}.${pad(basis % 100)}`;
}

/** part / whole against a published threshold ({ratio: "2/3", bound: "at_least"}), exactly. */
function reaches(part, whole, threshold) {
  if (whole <= 0) return false;
  const [num, den] = threshold.ratio.split("/").map(Number);
  return threshold.bound === "at_least" ? part * den >= whole * num : part * den > whole * num;
}

/** A date-time as a datetime-local input shows it, in this browser's time zone. */
function localValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T`
    + `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A random UUID (v4) for Idempotency-Key, also where crypto.randomUUID is missing (plain HTTP). */
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function mount(app) {
  const { call, say, reportError, requireFilled, busy, t, ApiError, onLanguage } = app;
  const root = $("voting-root");
  const state = {
    sessionMe: null,
    estates: [],
    estateId: null,
    estateNames: new Map(),
    roles: new Set(),
    ballots: [],
    openId: null,
    ballot: null,
    receipts: [],
    result: null,
    draft: new Map(),
    draftFor: null,
    check: null,
    voteKey: null,
    createKey: null,
    petitions: [],
    petitionKey: null,
    proxies: [],
    roll: null,
    // What this page did that the API does not list back: votes cast as a proxy, paper ballots.
    proxyCast: null,
    paper: [],
    paperFor: null,
    paperDraft: new Map(),
    paperKey: null,
    scan: null,
    loading: null,
    inflight: null,
  };
  let downloadUrl = null;
  const scanUrls = new Map();

  // --- words -----------------------------------------------------------------------------------
  const m2 = (centi) => t("voting.m2", { area: areaDigits(centi) });
  const isApprover = () => APPROVERS.some((r) => state.roles.has(r));
  const isOwner = () => state.roles.has("owner");
  const ballotsPath = (tail = "") =>
    `/api/v1/estates/${encodeURIComponent(state.estateId)}/ballots${tail}`;
  const ballotPath = (tail = "") => ballotsPath(`/${encodeURIComponent(state.openId)}${tail}`);
  const petitionsPath = (tail = "") =>
    `/api/v1/estates/${encodeURIComponent(state.estateId)}/petitions${tail}`;
  const me = () => state.sessionMe?.username;
  const activeProxies = (side) =>
    state.proxies.filter((p) => p.state === "active" && p[side] === me());
  // Anyone an owner named may vote as proxy, owner or not.
  const canVote = () => isOwner() || activeProxies("proxy_username").length > 0;
  const unitWords = (x) => `${x.building} ${x.number}`;
  const sep = () => t("voting.listSeparator");

  function formatDate(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso;
    return new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", {
      dateStyle: "medium", timeStyle: "short",
    }).format(date);
  }

  function itemWords(n) {
    return t("voting.item.option", { n, name: t(`voting.item.${n}`) });
  }

  function ruleWords(item) {
    return t(SPECIAL_ITEMS.has(item) ? "voting.rule.special" : "voting.rule.normal");
  }

  /** Marks a node as worded by `key` (with params), so a language switch re-words it. */
  function worded(node, key, params) {
    node.dataset.l = key;
    if (params) node.dataset.p = JSON.stringify(params);
    node.textContent = t(key, params);
    return node;
  }

  function tagged(tag, className, key, params) {
    return worded(el(tag, className), key, params);
  }

  function button(key, className = "button", type = "button") {
    const node = tagged("button", className, key);
    node.type = type;
    return node;
  }

  /** Marks `field` as wrong, says why, and focuses it. */
  function invalid(field, key, params) {
    field.setAttribute("aria-invalid", "true");
    say("error", key, params);
    field.focus();
    return null;
  }

  function formOf(id, className = "form") {
    const form = el("form", className);
    form.id = id;
    form.noValidate = true;
    return form;
  }

  function fieldOf(id, key, control, hintKey) {
    const wrap = el("div", "field");
    const label = tagged("label", null, key);
    label.htmlFor = id;
    control.id = id;
    wrap.append(label);
    if (hintKey) {
      const hint = tagged("p", "hint", hintKey);
      hint.id = `${id}-hint`;
      control.setAttribute("aria-describedby", hint.id);
      wrap.append(hint);
    }
    wrap.append(control);
    return wrap;
  }

  function facts(rows) {
    const list = el("dl", "facts");
    for (const [key, value, id] of rows) {
      if (value === null || value === undefined || value === "") continue;
      const row = el("div");
      if (id) row.id = id;
      row.append(el("dt", null, t(key)), el("dd", null, value));
      list.append(row);
    }
    return list;
  }

  function stateBadge(ballotState) {
    const badge = el("span", `badge state-${ballotState}`, t(`voting.state.${ballotState}`));
    badge.dataset.state = ballotState;
    return badge;
  }

  function whenWords(b) {
    return t(`voting.when.${b.state}`, {
      opens: formatDate(b.voting_opens_at),
      closes: formatDate(b.voting_closes_at),
      until: formatDate(b.objections_until),
      finalized: formatDate(b.finalized_at),
      reason: b.cancelled_reason ?? "",
    });
  }

  function candidateName(q, id) {
    return q.candidates.find((c) => c.candidate_id === id)?.name ?? id;
  }

  function choiceWords(q, choice) {
    if (typeof choice === "string") return t(`voting.answer.${choice}`);
    const ids = Array.isArray(choice) ? choice : [];
    if (ids.length === 0) return t("voting.answer.noCandidate");
    return ids.map((id) => candidateName(q, id)).join(t("voting.listSeparator"));
  }

  /** A receipt's choices (the API's {question_id, answer | candidate_ids}) in words. */
  function receiptChoices(b, receipt) {
    const list = el("ul", "receipt-choices");
    b.questions.forEach((q, i) => {
      const c = receipt.choices.find((x) => x.question_id === q.question_id);
      if (!c) return;
      const choice = q.kind === "candidates" ? c.candidate_ids : c.answer;
      list.append(el("li", null, t("voting.receipt.choice", {
        n: i + 1, choice: choiceWords(q, choice),
      })));
    });
    return list;
  }

  /** A server's refusal in plain words: known cases by our own sentence, else its detail. */
  function explain(error, known = {}) {
    if (error instanceof ApiError) {
      const detail = typeof error.problem?.detail === "string" ? error.problem.detail : "";
      const { sentence } = error;
      for (const [match, key] of Object.entries(known)) {
        const space = match.indexOf(" ");
        const status = space < 0 ? match : match.slice(0, space);
        const pattern = space < 0 ? "" : match.slice(space + 1);
        if (Number(status) !== error.status) continue;
        if (pattern && !new RegExp(pattern, "i").test(sentence)) continue;
        // An instant in the server's words ("... the earliest now is 2026-05-01T10:00+00:00")
        // is shown in the reader's own style.
        const instant = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/
          .exec(sentence);
        say("error", key, { when: instant ? formatDate(instant[0]) : "" });
        return;
      }
      if (error.status === 403) {
        say("error", "voting.error.forbidden");
        return;
      }
      if ((error.status === 400 || error.status === 422) && detail
          && !sentence.startsWith("the request is not valid")) {
        say("error", "voting.error.refused", { detail });
        return;
      }
    }
    reportError(error);
  }

  // Refusals anyone organising or voting may meet, in our own words.
  const ORGANISE_ERRORS = {
    "422 15 days": "voting.error.notice",
    "422 no units on its roll": "voting.error.noRoll",
    "400 closes after it opens": "voting.error.closesFirst",
    "400 at most 90 days": "voting.error.tooLong",
    "422 voting opens at": "voting.error.notYetOpen",
    "422 voting closes at": "voting.error.notYetClosed",
    "422 period is over": "voting.error.periodOver",
    "422 objections to the result": "voting.error.objectionsOpen",
    "422 can no longer be cancelled": "voting.error.notCancellable",
    "422 the ballot is": "voting.error.stateChanged",
  };
  const VOTE_ERRORS = {
    "422 only while it is open": "voting.error.notOpen",
    "422 voting closed": "voting.error.closed",
    "403 hold no unit": "voting.error.noUnit",
    "400 missing": "voting.error.answerAll",
    "400 choose at most": "voting.error.tooManyServer",
    "400 choose among": "voting.error.unknownCandidate",
  };
  const PROXY_ERRORS = {
    "400 yourself": "voting.error.proxySelf",
    "422 proxy is named while": "voting.error.proxyState",
    "422 proxies stand": "voting.error.proxyState",
    "403 hold no unit": "voting.error.noUnit",
  };
  const PAPER_ERRORS = {
    ...VOTE_ERRORS,
    "400 a scan is": "voting.error.scanFile",
    "404 no such unit": "voting.error.noRollUnit",
  };
  const PETITION_ERRORS = {
    "403 only owners": "voting.error.petitionOwner",
    "422 called already": "voting.error.petitionAnswered",
    "422 has not reached": "voting.error.petitionNotReached",
  };

  // --- skeleton --------------------------------------------------------------------------------
  function panel(id, headingKey, level = 2) {
    const section = el("section", "panel");
    section.id = id;
    section.setAttribute("aria-labelledby", `${id}-heading`);
    const heading = tagged(`h${level}`, null, headingKey);
    heading.id = `${id}-heading`;
    heading.tabIndex = -1;
    section.append(heading);
    return section;
  }

  function part(id, headingKey, className = "") {
    const box = panel(id, headingKey, 3);
    box.className = `ballot-part ${className}`;
    return box;
  }

  /** Empties a part but for its heading. */
  function clear(box) {
    box.replaceChildren(box.firstElementChild);
  }

  const status = el("p", "hint");
  status.id = "voting-status";

  // Someone with roles in several estates picks the one to see.
  const estateSelect = el("select");
  const estateField = fieldOf("voting-estate", "voting.estate.choose", estateSelect);
  estateField.hidden = true;

  // The list of ballots.
  const listPanel = panel("ballot-list-panel", "voting.list.heading");
  const ballotList = el("ul", "items ballots");
  ballotList.id = "ballot-list";
  ballotList.setAttribute("aria-labelledby", "ballot-list-panel-heading");
  listPanel.append(tagged("p", "hint", "voting.list.intro"), ballotList);

  // The approving body drafts a ballot.
  const createPanel = panel("ballot-create", "voting.create.heading");
  const createForm = formOf("create-form");
  const createTitle = input("text", { maxlength: "200", required: "" });
  const createDescription = el("textarea");
  createDescription.maxLength = 20_000;
  createDescription.rows = 3;
  const createPetition = el("select");
  const createPetitionField = fieldOf("create-petition", "voting.create.petition", createPetition);
  const questionRows = el("ol", "question-rows");
  questionRows.id = "question-rows";
  const addQuestion = button("voting.create.addQuestion");
  addQuestion.id = "add-question";
  const createSubmit = button("voting.create.submit", "button primary", "submit");
  createSubmit.id = "create-submit";
  createForm.append(
    fieldOf("create-title", "voting.create.title", createTitle),
    fieldOf("create-description", "voting.create.description", createDescription,
      "voting.create.descriptionHint"),
    createPetitionField, questionRows, addQuestion, createSubmit);
  createPanel.append(tagged("p", "hint", "voting.create.intro"), createForm);

  // Owners' petitions for an extraordinary assembly.
  const petitionPanel = panel("petitions-panel", "voting.petition.heading");
  const petitionList = el("ul", "items petitions");
  petitionList.id = "petition-list";
  petitionList.setAttribute("aria-labelledby", "petitions-panel-heading");
  const petitionForm = formOf("petition-form");
  const petitionTitle = input("text", { maxlength: "200", required: "" });
  const petitionReason = el("textarea");
  petitionReason.maxLength = 20_000;
  petitionReason.rows = 3;
  petitionReason.required = true;
  const petitionSubmit = button("voting.petition.new", "button primary", "submit");
  petitionForm.append(tagged("h3", null, "voting.petition.new"),
    fieldOf("petition-title", "voting.petition.title", petitionTitle),
    fieldOf("petition-reason", "voting.petition.reason", petitionReason, "voting.petition.reasonHint"),
    petitionSubmit);
  petitionPanel.append(tagged("p", "hint", "voting.petition.intro"), petitionList, petitionForm);

  // One ballot's page.
  const pagePanel = el("section", "panel ballot-page");
  pagePanel.id = "ballot-page";
  pagePanel.setAttribute("aria-labelledby", "ballot-title");
  const back = button("voting.page.back", "button small back");
  back.id = "ballot-back";
  const head = el("div", "ballot-head");
  head.id = "ballot-head";
  const questionsBox = part("ballot-questions", "voting.questions.heading");
  const receiptsBox = part("my-receipts", "voting.receipts.heading");
  const resultBox = part("ballot-result", "voting.result.heading");

  // Checking a receipt: anyone in the estate, once votes are taken.
  const checkBox = part("receipt-check", "voting.check.heading");
  const checkForm = formOf("receipt-check-form", "form inline-form");
  const checkCode = input("text", {
    maxlength: "24", autocomplete: "off", spellcheck: "false", autocapitalize: "characters",
    placeholder: "XXXX-XXXX-XXXX-XXXX", required: "",
  });
  checkCode.className = "receipt-input";
  const checkSubmit = button("voting.check.submit", "button", "submit");
  checkSubmit.id = "receipt-check-submit";
  checkForm.append(fieldOf("receipt-code", "voting.check.code", checkCode, "voting.check.hint"),
    checkSubmit);
  const checkResult = el("div", "verify-result");
  checkResult.id = "receipt-result";
  checkResult.tabIndex = -1;
  checkBox.append(checkForm, checkResult);

  // The approving body's steps on this ballot.
  const organiseBox = part("ballot-organise", "voting.organise.heading", "organise");
  const announceForm = formOf("announce-form");
  const opensAt = input("datetime-local", { required: "" });
  const closesAt = input("datetime-local", { required: "" });
  const objectionDays = input("number", { min: "1", max: "60", step: "1", required: "" });
  objectionDays.value = "7";
  const announceSubmit = button("voting.announce.submit", "button primary", "submit");
  announceSubmit.id = "announce-submit";
  announceForm.append(
    tagged("p", "hint", "voting.announce.intro"),
    fieldOf("announce-opens", "voting.announce.opens", opensAt, "voting.announce.opensHint"),
    fieldOf("announce-closes", "voting.announce.closes", closesAt),
    fieldOf("announce-objection-days", "voting.announce.objectionDays", objectionDays,
      "voting.announce.objectionDaysHint"),
    announceSubmit);
  const stepBox = el("div", "step-box");
  const stepHint = el("p", "hint");
  stepHint.id = "ballot-step-hint";
  const stepButton = el("button", "button primary");
  stepButton.type = "button";
  stepButton.id = "ballot-step";
  stepButton.setAttribute("aria-describedby", stepHint.id);
  stepBox.append(stepHint, stepButton);
  const cancelForm = formOf("cancel-form", "form inline-form");
  const cancelReason = input("text", { maxlength: "2000", required: "" });
  const cancelSubmit = button("voting.cancel.submit", "button", "submit");
  cancelSubmit.id = "cancel-submit";
  cancelForm.append(
    fieldOf("cancel-reason", "voting.cancel.reason", cancelReason, "voting.cancel.hint"),
    cancelSubmit);
  organiseBox.append(announceForm, stepBox, cancelForm);

  // An owner names a proxy; the person named sees who named them.
  const proxyBox = part("ballot-proxies", "voting.proxy.heading");
  const proxyNow = el("div");
  const proxyForm = formOf("proxy-form", "form inline-form");
  const proxyName = input("text", {
    maxlength: "100", autocomplete: "off", spellcheck: "false", autocapitalize: "none", required: "",
  });
  const proxySubmit = button("voting.proxy.submit", "button", "submit");
  proxyForm.append(fieldOf("proxy-username", "voting.proxy.username", proxyName,
    "voting.proxy.usernameHint"), proxySubmit);
  proxyBox.append(tagged("p", "hint", "voting.proxy.intro"), proxyNow, proxyForm);

  // The approving body enters a signed paper ballot with its scan as evidence.
  const paperBox = part("ballot-paper", "voting.paper.heading");
  const paperForm = formOf("paper-form", "form vote-form");
  const paperFile = input("file", { accept: SCAN_TYPES.join(","), required: "" });
  const paperUnit = el("select");
  paperUnit.required = true;
  const paperChoices = el("div", "form");
  const paperSubmit = button("voting.paper.submit", "button primary", "submit");
  paperSubmit.id = "paper-submit";
  paperForm.append(fieldOf("paper-scan", "voting.paper.scan", paperFile, "voting.paper.scanHint"),
    fieldOf("paper-unit", "voting.unit", paperUnit), paperChoices, paperSubmit);
  const paperDone = el("div");
  const paperDoneHeading = tagged("h4", null, "voting.paper.done");
  paperDoneHeading.id = "paper-done-heading";
  paperDoneHeading.tabIndex = -1;
  const paperList = el("ul", "items receipts");
  paperList.id = "paper-list";
  paperList.setAttribute("aria-labelledby", paperDoneHeading.id);
  paperDone.append(paperDoneHeading, paperList);
  paperBox.append(tagged("p", "hint", "voting.paper.intro"), paperForm, paperDone);

  // The roll published for objections: unit by unit for those who may see it, totals otherwise.
  const rollBox = part("ballot-rollbook", "voting.facts.roll");

  pagePanel.append(back, head, organiseBox, paperBox, resultBox, proxyBox, questionsBox,
    receiptsBox, checkBox, rollBox);
  root.replaceChildren(status, estateField, listPanel, petitionPanel, createPanel, pagePanel);

  // --- the draft form's questions ---------------------------------------------------------------
  let rowSerial = 0;

  function renumberQuestions() {
    const rows = [...questionRows.children];
    rows.forEach((row, i) => {
      const legend = row.querySelector("legend");
      worded(legend, "voting.create.question", { n: i + 1 });
      const remove = row.querySelector(".remove-question");
      remove.hidden = rows.length === 1;
      worded(remove, "voting.create.removeQuestion", { n: i + 1 });
    });
  }

  function addQuestionRow({ focus = true } = {}) {
    const k = ++rowSerial;
    const row = el("li", "question-row");
    const box = el("fieldset", "items-box");
    const legend = el("legend");
    const text = el("textarea");
    text.maxLength = 4000;
    text.rows = 2;
    text.required = true;
    text.className = "q-text";
    const item = el("select");
    item.className = "q-item";
    for (const n of ITEMS) item.append(new Option(itemWords(n), String(n)));
    item.value = "9";
    const itemField = fieldOf(`q${k}-item`, "voting.create.item", item);
    const rule = el("p", "hint q-rule");
    rule.id = `q${k}-rule`;
    item.setAttribute("aria-describedby", rule.id);
    itemField.append(rule);
    const kind = el("select");
    kind.className = "q-kind";
    for (const value of ["yes_no", "candidates"]) {
      const option = worded(el("option"), `voting.kind.${value}`);
      option.value = value;
      kind.append(option);
    }
    const candidatesBox = el("div", "form candidates-box");
    const seats = input("number", { min: "1", max: "100", step: "1" });
    seats.className = "q-seats";
    seats.value = "1";
    const names = el("textarea");
    names.rows = 3;
    names.className = "q-candidates";
    candidatesBox.append(
      fieldOf(`q${k}-candidates`, "voting.create.candidates", names, "voting.create.candidatesHint"),
      fieldOf(`q${k}-seats`, "voting.create.seats", seats));
    candidatesBox.hidden = true;
    const subject = el("select");
    subject.className = "q-subject";
    const none = worded(el("option"), "voting.subject.none");
    none.value = "";
    subject.append(none);
    for (const value of SUBJECTS) {
      const option = worded(el("option"), `voting.subject.${value}`);
      option.value = value;
      subject.append(option);
    }
    const subjectId = input("text", { maxlength: "100", spellcheck: "false" });
    subjectId.className = "q-subject-id";
    const subjectIdField = fieldOf(`q${k}-subject-id`, "voting.create.subjectId", subjectId);
    subjectIdField.hidden = true;
    const remove = el("button", "button small remove-question");
    remove.type = "button";
    const showRule = () => {
      const n = Number(item.value);
      worded(rule, SPECIAL_ITEMS.has(n) ? "voting.rule.special" : "voting.rule.normal");
    };
    item.addEventListener("change", showRule);
    kind.addEventListener("change", () => {
      candidatesBox.hidden = kind.value !== "candidates";
    });
    subject.addEventListener("change", () => {
      subjectIdField.hidden = subject.value === "";
    });
    remove.addEventListener("click", () => {
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      renumberQuestions();
      (next?.querySelector(".q-text") ?? addQuestion).focus();
    });
    showRule();
    box.append(legend,
      fieldOf(`q${k}-text`, "voting.create.text", text),
      itemField,
      fieldOf(`q${k}-kind`, "voting.create.kind", kind),
      candidatesBox,
      fieldOf(`q${k}-subject`, "voting.create.subject", subject, "voting.create.subjectHint"),
      subjectIdField, remove);
    row.append(box);
    questionRows.append(row);
    renumberQuestions();
    if (focus) text.focus();
  }

  function resetCreateForm() {
    createForm.reset();
    questionRows.replaceChildren();
    addQuestionRow({ focus: false });
    state.createKey = null;
  }

  // --- rendering -------------------------------------------------------------------------------
  function retranslate() {
    for (const node of root.querySelectorAll("[data-l]")) {
      node.textContent = t(node.dataset.l, node.dataset.p ? JSON.parse(node.dataset.p) : undefined);
    }
    for (const option of root.querySelectorAll(".q-item option")) {
      option.textContent = itemWords(Number(option.value));
    }
    renderAll();
  }

  function renderStatus() {
    let key = "voting.estate";
    if (!state.sessionMe) key = "voting.signInFirst";
    else if (state.loading === "loading" && state.ballots.length === 0) key = "voting.loading";
    else if (!state.estateId) key = "voting.noEstate";
    else if (state.loading === "notReady") key = "voting.notReady";
    status.textContent = t(key, {
      name: state.estateNames.get(state.estateId) ?? state.estateId ?? "",
    });
    const ready = Boolean(state.sessionMe && state.estateId && state.loading !== "notReady"
      && !(state.loading === "loading" && state.ballots.length === 0));
    const paging = ready && state.openId !== null && state.ballot !== null;
    listPanel.hidden = !ready || paging;
    createPanel.hidden = !ready || paging || !isApprover();
    petitionPanel.hidden = listPanel.hidden;
    pagePanel.hidden = !paging;
    // The shell's switcher chooses the estate when it is shown; this one serves otherwise.
    estateField.hidden = !state.sessionMe || state.estates.length < 2 || paging
      || (app.estates?.() ?? []).length > 1;
  }

  function renderEstates() {
    estateSelect.replaceChildren();
    for (const id of state.estates) {
      estateSelect.append(new Option(state.estateNames.get(id) ?? id, id));
    }
    if (state.estateId) estateSelect.value = state.estateId;
  }

  function renderList() {
    ballotList.replaceChildren();
    if (state.ballots.length === 0) {
      ballotList.append(el("li", "empty", t(isApprover() ? "voting.list.noneYet" : "voting.list.none")));
    }
    for (const b of state.ballots) {
      const item = el("li", "ballot");
      item.dataset.ballotId = b.ballot_id;
      item.dataset.state = b.state;
      const open = el("button", "link-button item-name", b.title);
      open.type = "button";
      open.addEventListener("click", () => openBallot(b.ballot_id));
      item.append(open, stateBadge(b.state), el("span", "item-meta", whenWords(b)));
      ballotList.append(item);
    }
  }

  function questionInfo(q) {
    const box = el("div", "question-info");
    box.append(el("p", "article", t("voting.item.article", {
      n: q.matter_class, name: t(`voting.item.${q.matter_class}`),
    })));
    box.append(el("p", "hint needs", ruleWords(q.matter_class)));
    if (q.kind === "candidates") {
      box.append(el("p", "hint", t("voting.rule.candidates", { seats: q.seats })));
    }
    if (q.subject) {
      box.append(el("p", "hint", t("voting.question.subject", {
        kind: t(`voting.subject.${q.subject.kind}`), id: q.subject.id,
      })));
    }
    return box;
  }

  function renderHead(b) {
    head.replaceChildren();
    const title = el("h2", null, b.title);
    title.id = "ballot-title";
    title.tabIndex = -1;
    const line = el("p", "ballot-state");
    line.id = "ballot-state";
    line.tabIndex = -1;
    line.append(stateBadge(b.state), " ", el("span", null, whenWords(b)));
    head.append(title, line);
    if (b.description) head.append(el("p", "ballot-description", b.description));
    const roll = b.roll_units > 0 ? t("voting.facts.rollWords", {
      units: b.roll_units, area: m2(b.roll_area_centi_m2), headcount: b.roll_headcount,
    }) : "";
    head.append(facts([
      ["voting.facts.announced", formatDate(b.announced_at)],
      ["voting.facts.opens", formatDate(b.voting_opens_at)],
      ["voting.facts.closes", formatDate(b.voting_closes_at)],
      ["voting.facts.objectionDays", b.announced_at ? t("voting.days", { n: b.objection_days }) : ""],
      ["voting.facts.roll", roll, "ballot-roll"],
      ["voting.facts.rollFrozen", formatDate(b.roll_as_of)],
      ["voting.facts.closed", formatDate(b.closed_at)],
      ["voting.facts.counted", COUNTED_STATES.has(b.state) ? String(b.receipts_counted) : ""],
      ["voting.facts.objectionsUntil", formatDate(b.objections_until)],
      ["voting.facts.finalized", formatDate(b.finalized_at)],
      ["voting.facts.cancelled", b.cancelled_reason ?? ""],
      ["voting.facts.petition", b.petition_id ? state.petitions.find((p) =>
        p.petition_id === b.petition_id)?.title ?? b.petition_id : ""],
    ]));
    renderAttachments(b);
    if (b.state === "announced") head.append(el("p", "hint", t("voting.page.rollNote")));
    if (b.state === "published") {
      head.append(el("p", "marker", t("voting.page.objections", {
        until: formatDate(b.objections_until),
      })));
    }
  }

  // The documents the questions decide on: everyone reads them; the approving body adds them
  // until voting opens.
  function renderAttachments(b) {
    const editable = isApprover() && (b.state === "draft" || b.state === "announced");
    const files = b.attachments ?? [];
    if (!files.length && !editable) return;
    const box = el("section", "attachments");
    box.id = "ballot-attachments";
    box.append(el("h3", null, t("voting.attach.heading")));
    const list = el("ul", "items");
    for (const a of files) {
      const li = el("li");
      li.append(el("span", "item-name", a.filename), " ",
        el("span", "hint", t("voting.attach.size", { kb: Math.max(1, Math.round(a.size / 1024)) })),
        " ", fileControl(`/attachments/${a.sha256}`, a.sha256, "voting.attach.open",
          "voting.attach.open", a.filename));
      list.append(li);
    }
    if (!files.length) list.append(el("li", "empty", t("voting.attach.none")));
    box.append(list);
    if (editable) {
      const form = formOf("attach-form", "form inline-form");
      const file = input("file", { accept: SCAN_TYPES.join(",") });
      const go = button("voting.attach.submit", "button", "submit");
      form.append(fieldOf("attach-file", "voting.attach.file", file, "voting.attach.hint"), go);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const chosen = file.files?.[0];
        if (!chosen || !SCAN_TYPES.includes(chosen.type) || chosen.size > MAX_SCAN) {
          return invalid(file, "voting.attach.wrong");
        }
        attempt(go, { "400 an attachment is": "voting.attach.wrong",
          "422 fixed": "voting.attach.fixed" }, async () => {
          await call("POST", ballotPath(`/attachments?filename=${encodeURIComponent(chosen.name)}`),
            { raw: chosen, contentType: chosen.type });
          await reloadBallot();
          say("success", "voting.attach.added", { name: chosen.name });
          $("ballot-attachments")?.querySelector("h3")?.focus?.();
        });
      });
      box.append(form);
    }
    head.append(box);
  }

  // A file fetched with the session's token on request, then offered as a link to open it.
  function fileControl(path, key, showKey, openKey, name) {
    const open = el("a", "button small", t(openKey));
    open.target = "_blank";
    if (name) open.download = name;
    if (scanUrls.has(key)) {
      open.href = scanUrls.get(key);
      return open;
    }
    const show = button(showKey, "button small");
    show.addEventListener("click", () => busy(show, async () => {
      try {
        const blob = await call("GET", ballotPath(path), { blob: true });
        scanUrls.set(key, open.href = URL.createObjectURL(blob));
        show.replaceWith(open);
        open.focus();
      } catch (error) {
        explain(error);
      }
    }));
    return show;
  }

  function latestCounted() {
    return state.receipts.find((r) => r.state === "counted") ?? null;
  }

  /** The owner's choices so far: what they picked on this page, else their counted vote. */
  function seedDraft(b) {
    if (state.draftFor === b.ballot_id) return;
    state.draftFor = b.ballot_id;
    state.draft = new Map();
    state.voteKey = null;
    const mine = latestCounted();
    for (const c of mine?.choices ?? []) {
      const q = b.questions.find((x) => x.question_id === c.question_id);
      if (!q) continue;
      state.draft.set(q.question_id, q.kind === "candidates" ? [...c.candidate_ids] : c.answer);
    }
  }

  function renderQuestions(b) {
    clear(questionsBox);
    // Once counted, the result names every question with its figures; no need to list them twice.
    questionsBox.hidden = COUNTED_STATES.has(b.state) && state.result !== null;
    if (questionsBox.hidden) return;
    const voting = b.state === "open" && canVote();
    if (!voting) {
      if (b.state === "announced") {
        questionsBox.append(el("p", "hint", t(isOwner() ? "voting.page.opensOwner" : "voting.page.opens",
          { opens: formatDate(b.voting_opens_at) })));
      } else if (b.state === "open") {
        questionsBox.append(el("p", "hint", t("voting.page.notOwner")));
      }
      const list = el("ol", "questions");
      b.questions.forEach((q) => {
        const item = el("li", "question");
        item.dataset.questionId = q.question_id;
        item.append(el("p", "question-text", q.text), questionInfo(q));
        if (q.kind === "candidates") {
          const names = el("ul", "candidates");
          for (const c of q.candidates) names.append(el("li", null, c.name));
          item.append(names);
        }
        list.append(item);
      });
      questionsBox.append(list);
      return;
    }
    seedDraft(b);
    questionsBox.append(voteForm(b));
  }

  /** A fieldset per question, the choices kept in `draft` (question id -> answer or ids). */
  function choiceGroups(b, draft, prefix, changed) {
    return b.questions.map((q, i) => {
      const group = el("fieldset", "items-box choice-group");
      group.id = `${prefix}${i}`;
      group.dataset.questionId = q.question_id;
      group.append(el("legend", null, t("voting.vote.legend", { n: i + 1, text: q.text })),
        questionInfo(q));
      const options = el("div", "choices");
      const choice = (type, value, text) => {
        const box = input(type, { name: group.id, value });
        const label = el("label", "choice");
        label.append(box, " ", text);
        options.append(label);
        return [box, label];
      };
      if (q.kind === "yes_no") {
        for (const answer of ANSWERS) {
          const [radio, label] = choice("radio", answer, t(`voting.answer.${answer}`));
          radio.id = label.htmlFor = `${group.id}-${answer}`;
          radio.checked = draft.get(q.question_id) === answer;
          radio.addEventListener("change", () => {
            draft.set(q.question_id, answer);
            changed();
          });
        }
      } else {
        const hint = el("p", "hint", t("voting.vote.seatsHint", { seats: q.seats }));
        hint.id = `${group.id}-hint`;
        group.setAttribute("aria-describedby", hint.id);
        group.append(hint);
        const chosen = new Set(draft.get(q.question_id) ?? []);
        q.candidates.forEach((c, j) => {
          const [box, label] = choice("checkbox", c.candidate_id, c.name);
          box.id = label.htmlFor = `${group.id}-c${j}`;
          box.checked = chosen.has(c.candidate_id);
          box.addEventListener("change", () => {
            const ticked = [...options.querySelectorAll("input:checked")];
            if (ticked.length > q.seats) {
              box.checked = false;
              say("error", "voting.error.tooMany", { seats: q.seats });
              return;
            }
            draft.set(q.question_id, ticked.map((x) => x.value));
            changed();
          });
        });
      }
      group.append(options);
      return group;
    });
  }

  /** The API's choices from `draft`; null (said, and the question focused) if one is missing. */
  function draftChoices(b, draft, prefix) {
    const choices = [];
    for (const [i, q] of b.questions.entries()) {
      const value = draft.get(q.question_id);
      if (q.kind === "yes_no") {
        if (!ANSWERS.includes(value)) {
          say("error", "voting.error.answerQuestion", { n: i + 1 });
          $(`${prefix}${i}-yes`)?.focus();
          return null;
        }
        choices.push({ question_id: q.question_id, answer: value });
      } else {
        choices.push({ question_id: q.question_id, candidate_ids: value ?? [] });
      }
    }
    return choices;
  }

  function voteForm(b) {
    const form = el("form", "form vote-form");
    form.id = "vote-form";
    form.noValidate = true;
    form.append(el("p", "hint", t("voting.vote.intro", { closes: formatDate(b.voting_closes_at) })),
      ...choiceGroups(b, state.draft, "vote-q", () => {
        state.voteKey = null;
      }));
    const submit = button(latestCounted() ? "voting.vote.change" : "voting.vote.submit",
      "button primary", "submit");
    submit.id = "vote-submit";
    form.append(submit);
    form.addEventListener("submit", (event) => onVote(event, b, submit));
    return form;
  }

  function receiptItem(b, r) {
    const item = el("li", "receipt");
    item.dataset.state = r.state;
    item.dataset.receipt = r.receipt_code;
    const top = el("div", "line");
    top.append(el("code", "receipt-code", r.receipt_code),
      el("span", `badge receipt-${r.state}`, r.state === "counted"
        ? t("voting.receipt.counted")
        : t("voting.receipt.superseded", { by: r.superseded_by ?? "" })));
    // A proxy's vote or a paper ballot the committee entered shows how it came in.
    if (r.channel && r.channel !== "online") {
      top.append(el("span", "marker", t(`voting.channel.${r.channel}`)));
    }
    item.append(top);
    const meta = [t("voting.receipt.castAt", { date: formatDate(r.cast_at) })];
    if (r.unit_count) {
      meta.push(t("voting.receipt.holding", { units: r.unit_count, area: m2(r.area_centi_m2) }));
    }
    item.append(el("p", "item-meta", meta.join(t("voting.sentenceSeparator"))),
      receiptChoices(b, r));
    return item;
  }

  function receiptsOf(id, b, receipts) {
    const list = el("ul", "items receipts");
    list.id = id;
    for (const r of receipts) list.append(receiptItem(b, r));
    return list;
  }

  function renderReceipts(b) {
    const proxied = state.proxyCast?.ballotId === b.ballot_id ? state.proxyCast.receipts : [];
    clear(receiptsBox);
    receiptsBox.hidden = !VOTED_STATES.has(b.state) || !(isOwner() || proxied.length);
    if (receiptsBox.hidden) return;
    if (isOwner() && state.receipts.length === 0) {
      receiptsBox.append(el("p", "hint", t(b.state === "open"
        ? "voting.receipts.noneYet" : "voting.receipts.none")));
    } else if (isOwner()) {
      receiptsBox.append(el("p", "keep-hint", t("voting.receipts.keep")),
        receiptsOf("my-receipt-list", b, state.receipts));
    }
    if (proxied.length) {
      receiptsBox.append(el("h4", null, t("voting.receipts.proxy")),
        el("p", "hint", t("voting.receipts.proxyHint")),
        receiptsOf("proxy-receipt-list", b, proxied));
    }
  }

  function renderProxies(b) {
    const [mine] = activeProxies("grantor_username");
    const named = activeProxies("proxy_username").map((p) => p.grantor_username);
    proxyNow.replaceChildren();
    proxyBox.hidden = !PROXY_STATES.has(b.state) || !(isOwner() || named.length);
    proxyForm.hidden = !isOwner();
    if (mine) {
      const line = el("p", "line", t("voting.proxy.mine", {
        name: mine.proxy_username, date: formatDate(mine.granted_at),
      }));
      line.id = "proxy-mine";
      line.tabIndex = -1;
      const revoke = button("voting.proxy.revoke", "button small");
      revoke.addEventListener("click", () => onRevoke(mine, revoke));
      line.append(" ", revoke);
      proxyNow.append(line);
    }
    if (named.length) {
      proxyNow.append(el("p", "marker", t("voting.proxy.named", { names: named.join(sep()) })));
    }
  }

  /** A scan fetched with the token (a plain link would lack it), opened from a blob URL. */
  function scanControl(sha) {
    return fileControl(`/scans/${sha}`, sha, "voting.scan.show", "voting.scan.open");
  }

  function renderPaper(b) {
    const lines = state.roll?.lines;
    paperBox.hidden = !(isApprover() && b.state === "open" && lines);
    if (paperBox.hidden) return;
    if (state.paperFor !== b.ballot_id) {
      state.paperFor = b.ballot_id;
      state.paperDraft = new Map();
      paperForm.reset();
    }
    const unit = paperUnit.value;
    paperUnit.replaceChildren(new Option(t("voting.paper.pickUnit"), ""),
      ...lines.map((x) => new Option(`${unitWords(x)} · ${m2(x.area_centi_m2)}`, x.unit_id)));
    paperUnit.value = unit;
    paperChoices.replaceChildren(...choiceGroups(b, state.paperDraft, "paper-q", () => {
      state.paperKey = null;
    }));
    const done = state.paper.filter((x) => x.ballotId === b.ballot_id);
    paperDone.hidden = done.length === 0;
    paperList.replaceChildren(...done.map((x) => {
      const item = receiptItem(b, x.receipt);
      item.prepend(el("p", "item-name", x.unit));
      item.append(scanControl(x.receipt.scan_sha256));
      return item;
    }));
  }

  function renderRoll() {
    const roll = state.roll;
    clear(rollBox);
    rollBox.hidden = !roll;
    if (!roll) return;
    rollBox.append(el("p", "hint", t(roll.lines ? "voting.roll.intro" : "voting.roll.totalsOnly")));
    if (!roll.lines) return;
    // One owner's (or the same co-owners') units side by side: they count as one person.
    const holdings = new Map();
    for (const x of roll.lines) holdings.set(x.holding, [...holdings.get(x.holding) ?? [], x]);
    const table = el("table", "ledger-table");
    table.id = "roll-table";
    table.createCaption().textContent = t("voting.facts.rollWords", {
      units: roll.units, area: m2(roll.area_centi_m2), headcount: roll.headcount,
    });
    const cell = (row, tag, text, scope) => {
      const node = el(tag, null, text);
      if (scope) node.scope = scope;
      row.append(node);
      return node;
    };
    const top = table.createTHead().insertRow();
    for (const key of ["unit", "roll.area", "roll.owners", "roll.person"]) {
      cell(top, "th", t(`voting.${key}`), "col");
    }
    [...holdings.values()].forEach((units, i) => {
      const body = table.createTBody();
      body.dataset.holding = units[0].holding;
      units.forEach((x, j) => {
        const row = body.insertRow();
        cell(row, "th", unitWords(x), "row");
        cell(row, "td", m2(x.area_centi_m2));
        cell(row, "td", t("voting.persons", { n: x.owner_count }));
        if (j > 0) return;
        cell(row, "td", t("voting.roll.personN", { n: i + 1, units: units.length })).rowSpan = units.length;
      });
    });
    const box = el("details", "receipt-box");
    box.open = roll.lines.length <= 40;
    box.append(el("summary", null, t("voting.roll.summary", { units: roll.units })), table);
    rollBox.append(box);
  }

  function renderPetitions() {
    petitionForm.hidden = !isOwner();
    petitionList.replaceChildren();
    if (!state.petitions.length) petitionList.append(el("li", "empty", t("voting.petition.none")));
    for (const p of state.petitions) {
      const item = el("li", "petition");
      item.dataset.state = p.state;
      const title = el("h3", "item-name", p.title);
      title.id = `petition-${p.petition_id}`;
      title.tabIndex = -1;
      const [num, den] = p.threshold.split("/").map(Number);
      const line = el("p", "line");
      line.append(el("span", "badge", t(`voting.petition.state.${p.state}`)), " ",
        t("voting.petition.count", {
          signed: p.signed_headcount, total: p.total_headcount,
          need: Math.floor((p.total_headcount * num + den - 1) / den),
        }));
      item.append(title, line, el("p", "ballot-description", p.reason));
      const act = (key, className, run) => {
        const go = button(key, className);
        go.setAttribute("aria-describedby", title.id);
        go.addEventListener("click", () => run(go));
        item.append(go);
      };
      if (p.state === "reached") item.append(el("p", "marker", t("voting.petition.reached")));
      if (p.ballot_id) act("voting.petition.ballot", "link-button", () => openBallot(p.ballot_id));
      if (p.signed_by_me) item.append(el("p", "hint", t("voting.petition.signed")));
      else if (isOwner() && p.state !== "answered") {
        act("voting.petition.sign", "button small", (go) => onSign(p, go));
      }
      petitionList.append(item);
    }
    // The committee's draft names a petition that reached its fifth.
    const chosen = createPetition.value;
    const reached = state.petitions.filter((p) => p.state === "reached");
    createPetition.replaceChildren(new Option(t("voting.create.petitionNone"), ""),
      ...reached.map((p) => new Option(p.title, p.petition_id)));
    createPetition.value = reached.some((p) => p.petition_id === chosen) ? chosen : "";
    createPetitionField.hidden = !reached.length;
  }

  function renderCheck(b) {
    checkBox.hidden = !VOTED_STATES.has(b.state);
    checkResult.replaceChildren();
    checkResult.className = "verify-result";
    const c = state.check;
    if (!c || c.ballotId !== b.ballot_id) return;
    if (c.missing) {
      checkResult.classList.add("failed");
      checkResult.append(el("p", null, t("voting.check.missing", { code: c.code })));
      return;
    }
    const r = c.receipt;
    checkResult.classList.add(r.state === "counted" ? "passed" : "open");
    checkResult.append(el("p", "result-lead", r.state === "counted"
      ? t("voting.check.counted", { code: r.receipt_code })
      : t("voting.check.superseded", { code: r.receipt_code, by: r.superseded_by ?? "" })));
    checkResult.append(el("p", null, t("voting.receipt.castAt", { date: formatDate(r.cast_at) })),
      receiptChoices(b, r));
    if (r.scan_sha256 && state.roll?.lines) checkResult.append(scanControl(r.scan_sha256));
  }

  function verdict(met, key) {
    return el("span", `verdict ${met ? "met" : "unmet"}`, `${met ? "✓" : "✗"} ${t(key)}`);
  }

  /** One figure in words (a bar beside it only for the eye) against the threshold it must reach. */
  function figure(key, part, whole, wholeKey, threshold, unit) {
    const met = reaches(part, whole, threshold);
    const item = el("li", `figure ${met ? "met" : "unmet"}`);
    item.dataset.met = String(met);
    const value = el("span", "figure-value", unit === "area"
      ? t(wholeKey, { part: m2(part), whole: m2(whole), percent: percent(part, whole) })
      : t(wholeKey, { part, whole: t("voting.persons", { n: whole }), percent: percent(part, whole) }));
    const bar = el("meter", met ? "met" : "unmet");
    bar.min = 0;
    bar.max = Math.max(whole, 1);
    bar.value = part;
    bar.setAttribute("aria-hidden", "true");
    value.append(bar);
    const need = el("span", "figure-need", t("voting.figures.needs", {
      needs: t(`voting.threshold.${threshold.bound}`, { ratio: threshold.ratio }),
    }));
    need.append(" ", verdict(met, met ? "voting.met" : "voting.unmet"));
    item.append(el("span", "figure-name", t(key)), value, need);
    return item;
  }

  function figureList(id, labelText, items) {
    const label = el("p", "list-label", labelText);
    label.id = id;
    const list = el("ul", "figure-list");
    list.setAttribute("aria-labelledby", id);
    list.append(...items);
    const box = el("div");
    box.append(label, list);
    return box;
  }

  function decisionWords(q, r) {
    if (q.kind === "yes_no") {
      if (r.approved) return ["passed", t("voting.decision.approved")];
      if (!r.participation_met) return ["failed", t("voting.decision.noQuorum")];
      return ["failed", t("voting.decision.rejected")];
    }
    const names = (ids) => ids.map((id) => candidateName(q, id)).join(t("voting.listSeparator"));
    const chosen = r.chosen ?? [];
    const tied = r.tied ?? [];
    const parts = [];
    if (chosen.length) parts.push(t("voting.decision.chosen", { names: names(chosen) }));
    if (tied.length) parts.push(t("voting.decision.tied", { names: names(tied) }));
    if (!chosen.length && !tied.length) {
      parts.push(t(r.participation_met ? "voting.decision.noneChosen" : "voting.decision.noQuorum"));
    }
    return [chosen.length ? "passed" : "failed", parts.join(t("voting.sentenceSeparator"))];
  }

  function questionResult(b, published, n) {
    const q = b.questions.find((x) => x.question_id === published.question_id) ?? {
      question_id: published.question_id, text: published.question_id, kind: published.kind,
      matter_class: published.matter, seats: published.seats ?? 0, candidates: [],
    };
    const r = published.result;
    const roll = published.roll;
    const box = el("article", "question-result");
    box.dataset.questionId = published.question_id;
    const heading = el("h4", null, t("voting.result.question", { n, text: q.text }));
    box.append(heading, el("p", "article", t("voting.item.article", {
      n: published.matter, name: t(`voting.item.${published.matter}`),
    })));
    const [kind, words] = decisionWords(q, r);
    const decision = el("p", `decision ${kind}`, words);
    decision.dataset.decision = kind;
    box.append(decision);
    const rows = [
      figure("voting.figures.participatingArea", r.participating_area_centi_m2,
        roll.total_area_centi_m2, "voting.figures.ofTotal", r.participation_threshold, "area"),
      figure("voting.figures.participatingHeadcount", r.participating_headcount,
        roll.total_headcount, "voting.figures.ofTotal", r.participation_threshold, "persons"),
    ];
    if (published.kind === "yes_no") {
      rows.push(
        figure("voting.figures.approvingArea", r.approving_area_centi_m2,
          r.participating_area_centi_m2, "voting.figures.ofParticipating", r.approval_threshold, "area"),
        figure("voting.figures.approvingHeadcount", r.approving_headcount,
          r.participating_headcount, "voting.figures.ofParticipating", r.approval_threshold, "persons"));
    }
    box.append(figureList(`result-q${n}-figures`, t("voting.figures.caption", { n }), rows));
    if (published.kind === "candidates") box.append(candidateList(q, r, n));
    return box;
  }

  function candidateList(q, r, n) {
    const needs = t(`voting.threshold.${r.approval_threshold.bound}`,
      { ratio: r.approval_threshold.ratio });
    const items = (r.candidates ?? []).map((c) => {
      const item = el("li", `figure ${c.chosen ? "met" : "unmet"}`);
      item.dataset.candidate = c.candidate_id;
      const area = el("span", "figure-value", t("voting.candidates.area", {
        value: t("voting.figures.ofParticipating", {
          part: m2(c.approving_area_centi_m2), whole: m2(r.participating_area_centi_m2),
          percent: percent(c.approving_area_centi_m2, r.participating_area_centi_m2),
        }),
      }));
      area.append(el("br"), t("voting.candidates.headcount", {
        value: t("voting.figures.ofParticipating", {
          part: c.approving_headcount, whole: t("voting.persons", { n: r.participating_headcount }),
          percent: percent(c.approving_headcount, r.participating_headcount),
        }),
      }));
      const outcome = el("span", "figure-need");
      outcome.append(verdict(c.qualified, c.qualified ? "voting.candidates.qualified"
        : "voting.candidates.notQualified"), " ",
      el("strong", null, t(c.chosen ? "voting.candidates.chosen" : "voting.candidates.notChosen")));
      item.append(el("span", "figure-name", candidateName(q, c.candidate_id)), area, outcome);
      return item;
    });
    return figureList(`result-q${n}-candidates`,
      t("voting.candidates.caption", { n, seats: q.seats, needs }), items);
  }

  /** Every counted receipt, one per voter: code, voter key, area and the choice per question. */
  function receiptList(b, doc) {
    const questions = doc.questions ?? [];
    const rows = new Map();
    for (const pq of questions) {
      for (const r of pq.receipts ?? []) {
        if (!rows.has(r.receipt)) rows.set(r.receipt, { ...r, choices: new Map() });
        rows.get(r.receipt).choices.set(pq.question_id, r.choice);
      }
    }
    const mine = new Set(state.receipts.map((r) => r.receipt_code));
    const box = el("details", "receipt-box");
    // A long list stays folded until asked for; the download carries it all the same.
    box.open = rows.size <= 30;
    box.append(el("summary", null, t("voting.result.receiptsCaption", { n: rows.size })));
    const list = el("ul", "items receipts");
    list.id = "result-receipts";
    for (const [code, r] of [...rows].sort(([a], [z]) => a.localeCompare(z))) {
      const item = el("li", "receipt");
      item.dataset.receipt = code;
      const top = el("div", "line");
      top.append(el("code", "receipt-code", code));
      if (mine.has(code)) top.append(el("span", "badge", t("voting.result.mine")));
      const meta = el("p", "item-meta", t("voting.result.receiptMeta", {
        key: r.voter_key, area: m2(r.area_centi_m2),
      }));
      const choices = el("ul", "receipt-choices");
      questions.forEach((pq, i) => {
        if (!r.choices.has(pq.question_id)) return;
        const q = b.questions.find((x) => x.question_id === pq.question_id) ?? { candidates: [] };
        choices.append(el("li", null, t("voting.receipt.choice", {
          n: i + 1, choice: choiceWords(q, r.choices.get(pq.question_id)),
        })));
      });
      item.append(top, meta, choices);
      list.append(item);
    }
    if (rows.size === 0) list.append(el("li", "empty", t("voting.result.noReceipts")));
    box.append(list);
    return box;
  }

  function renderResult(b) {
    clear(resultBox);
    if (downloadUrl) {
      URL.revokeObjectURL(downloadUrl);
      downloadUrl = null;
    }
    resultBox.hidden = !COUNTED_STATES.has(b.state) || !state.result;
    if (resultBox.hidden) return;
    const doc = state.result.document;
    resultBox.append(el("p", "hint", t(b.state === "final"
      ? "voting.result.final" : "voting.result.published")));
    (doc.questions ?? []).forEach((pq, i) => resultBox.append(questionResult(b, pq, i + 1)));
    const receiptsHeading = tagged("h4", null, "voting.result.receiptsHeading");
    resultBox.append(receiptsHeading, el("p", "hint", t("voting.result.receiptsIntro")),
      receiptList(b, doc));
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    downloadUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const save = el("a", "button", t("voting.result.download"));
    save.id = "result-download";
    save.href = downloadUrl;
    save.download = `assembly-result-${b.ballot_id.slice(0, 8)}.json`;
    const recount = el("p", "hint recount");
    recount.append(t("voting.result.recount"), " ", el("code", "recount-command",
      `python3 services/voting/recount.py ${save.download}`), " ", t("voting.result.recountExit"));
    resultBox.append(save, recount);
  }

  function defaultWindow() {
    // The earliest lawful opening, on the next whole hour, then a week of voting.
    const opens = new Date(Date.now() + NOTICE_DAYS * DAY + 3_600_000);
    opens.setMinutes(0, 0, 0);
    opens.setHours(opens.getHours() + 1);
    return [localValue(opens), localValue(new Date(opens.getTime() + 7 * DAY))];
  }

  function renderOrganise(b) {
    organiseBox.hidden = !isApprover() || b.state === "final" || b.state === "cancelled";
    if (organiseBox.hidden) return;
    announceForm.hidden = b.state !== "draft";
    if (b.state === "draft" && !opensAt.value) [opensAt.value, closesAt.value] = defaultWindow();
    const step = STEPS[b.state];
    stepBox.hidden = !step;
    if (step) {
      stepButton.textContent = t(`voting.step.${step}`);
      stepHint.textContent = t(`voting.step.${step}Hint`, {
        opens: formatDate(b.voting_opens_at),
        closes: formatDate(b.voting_closes_at),
        days: b.objection_days,
        until: formatDate(b.objections_until),
      });
    }
    cancelForm.hidden = !CANCELLABLE.has(b.state);
  }

  function renderPage() {
    const b = state.ballot;
    if (!b) return;
    renderHead(b);
    renderOrganise(b);
    renderPaper(b);
    renderProxies(b);
    renderQuestions(b);
    renderReceipts(b);
    renderCheck(b);
    renderResult(b);
    renderRoll();
  }

  function renderAll() {
    renderStatus();
    renderEstates();
    renderList();
    renderPetitions();
    if (state.openId && state.ballot) renderPage();
  }

  // --- loading ---------------------------------------------------------------------------------
  function rolesIn(me, estateId) {
    const roles = new Set();
    for (const g of me.roles ?? []) {
      if (g.estate_id === estateId || g.company_id) roles.add(g.role);
    }
    return roles;
  }

  async function findEstates(me) {
    // The estates the shell's switcher offers, the one it shows first.
    const offered = (app.estates?.() ?? []).map((e) => e.estate_id);
    if (offered.length) {
      const chosen = app.estate?.();
      return chosen ? [chosen, ...offered.filter((id) => id !== chosen)] : offered;
    }
    const ids = [...new Set((me.roles ?? []).map((g) => g.estate_id).filter(Boolean))];
    if (ids.length) return ids;
    const reply = await call("GET", "/api/v1/estates?limit=1");
    const first = reply?.estates?.[0]?.estate_id;
    return first ? [first] : [];
  }

  async function loadNames() {
    await Promise.all(state.estates.map(async (id) => {
      if (state.estateNames.has(id)) return;
      const estate = await call("GET", `/api/v1/estates/${encodeURIComponent(id)}`).catch(() => null);
      if (estate?.name) state.estateNames.set(id, estate.name);
    }));
  }

  async function loadBallot(id) {
    const at = (tail = "") => ballotsPath(`/${encodeURIComponent(id)}${tail}`);
    const ballot = await call("GET", at());
    const [receipts, result, proxies, roll] = await Promise.all([
      isOwner() && VOTED_STATES.has(ballot.state) ? call("GET", at("/vote")) : null,
      COUNTED_STATES.has(ballot.state) ? call("GET", at("/result")) : null,
      PROXY_STATES.has(ballot.state) ? call("GET", at("/proxies")) : [],
      ballot.announced_at ? call("GET", at("/roll")) : null,
    ]);
    if (state.openId !== id) return;
    state.ballot = ballot;
    state.receipts = receipts?.receipts ?? [];
    state.result = result;
    state.proxies = proxies;
    state.roll = roll;
    state.ballots = state.ballots.map((b) => (b.ballot_id === id ? ballot : b));
  }

  function forget() {
    Object.assign(state, {
      estates: [], estateId: null, roles: new Set(), ballots: [], openId: null, ballot: null,
      receipts: [], result: null, draft: new Map(), draftFor: null, check: null, voteKey: null,
      petitions: [], proxies: [], roll: null, proxyCast: null, paper: [], paperFor: null,
      scan: null,
    });
    for (const url of scanUrls.values()) URL.revokeObjectURL(url);
    scanUrls.clear();
    petitionForm.reset();
    proxyName.value = "";
    checkCode.value = "";
    cancelReason.value = "";
    opensAt.value = closesAt.value = "";
    resetCreateForm();
  }

  async function load() {
    const session = app.session();
    if (!session?.me) {
      state.sessionMe = null;
      forget();
      renderAll();
      return;
    }
    if (state.sessionMe !== session.me) {
      // Someone else signed in: nothing of the last person's view is shown, not even briefly.
      forget();
      state.sessionMe = session.me;
    }
    const chosen = app.estate?.() ?? null;
    if (chosen && state.estateId && chosen !== state.estateId) {
      // Another estate was chosen in the shell's switcher: its ballots, not this one's.
      Object.assign(state, { estateId: null, ballots: [], openId: null, ballot: null });
    }
    state.loading = "loading";
    renderStatus();
    try {
      if (!state.estateId) {
        state.estates = await findEstates(session.me);
        state.estateId = state.estates[0] ?? null;
        state.roles = state.estateId ? rolesIn(session.me, state.estateId) : new Set();
        await loadNames();
      }
      if (!state.estateId) {
        state.loading = null;
        renderAll();
        return;
      }
      [state.ballots, state.petitions] = await Promise.all([
        call("GET", ballotsPath()), call("GET", petitionsPath())]);
      if (state.openId) await loadBallot(state.openId);
      state.loading = null;
    } catch (error) {
      // Voting learns of a new estate from an event; until then it answers 404.
      state.loading = error instanceof ApiError && error.status === 404 && !state.openId
        ? "notReady" : null;
      if (state.loading !== "notReady") reportError(error);
    }
    if (app.session() !== session) return;
    renderAll();
    // A followed link ("#/voting/<estate>/ballots/<id>", a message's) opens its ballot.
    const link = state.loading ? null : app.takeLink?.("voting");
    if (link?.[0] === "ballots" && link[1] && link[1] !== state.openId) await openBallot(link[1]);
  }

  async function reloadBallot() {
    // Announcing a ballot a petition called answers the petition.
    [state.ballots, state.petitions] = await Promise.all([
      call("GET", ballotsPath()), call("GET", petitionsPath())]);
    await loadBallot(state.openId);
    renderAll();
  }

  async function openBallot(id) {
    state.openId = id;
    state.ballot = null;
    state.receipts = [];
    state.result = null;
    state.check = null;
    state.roll = null;
    state.proxies = [];
    checkCode.value = "";
    cancelReason.value = "";
    opensAt.value = closesAt.value = "";
    objectionDays.value = "7";
    try {
      await loadBallot(id);
      renderAll();
      $("ballot-title")?.focus();
    } catch (error) {
      state.openId = null;
      renderAll();
      reportError(error);
    }
  }

  function closeBallot() {
    const id = state.openId;
    state.openId = null;
    state.ballot = null;
    renderAll();
    const item = ballotList.querySelector(`li[data-ballot-id="${CSS.escape(id ?? "")}"] button`);
    (item ?? $("ballot-list-panel-heading")).focus();
  }

  // --- actions ---------------------------------------------------------------------------------
  function questionBody(row) {
    const text = row.querySelector(".q-text");
    const kind = row.querySelector(".q-kind").value;
    if (!requireFilled([text])) return null;
    const q = { text: text.value.trim(), matter_class: Number(row.querySelector(".q-item").value), kind };
    if (kind === "candidates") {
      const namesField = row.querySelector(".q-candidates");
      const names = namesField.value.split(/\n/).map((x) => x.trim()).filter(Boolean);
      const seatsField = row.querySelector(".q-seats");
      const seats = Number(seatsField.value);
      if (names.length === 0) return invalid(namesField, "voting.error.noCandidates");
      namesField.removeAttribute("aria-invalid");
      if (new Set(names).size !== names.length) {
        return invalid(namesField, "voting.error.candidateTwice");
      }
      if (!Number.isInteger(seats) || seats < 1 || seats > names.length) {
        return invalid(seatsField, "voting.error.seats", { count: names.length });
      }
      seatsField.removeAttribute("aria-invalid");
      q.seats = seats;
      q.candidates = names.map((name) => ({ name }));
    }
    const subject = row.querySelector(".q-subject").value;
    if (subject) {
      const idField = row.querySelector(".q-subject-id");
      if (!requireFilled([idField])) return null;
      q.subject = { kind: subject, id: idField.value.trim() };
    }
    return q;
  }

  async function onCreate(event) {
    event.preventDefault();
    if (!requireFilled([createTitle])) return;
    const questions = [];
    for (const row of questionRows.children) {
      const q = questionBody(row);
      if (!q) return;
      questions.push(q);
    }
    const body = { title: createTitle.value.trim(), description: createDescription.value.trim(), questions };
    if (createPetition.value) body.petition_id = createPetition.value;
    state.createKey ??= uuid();
    await attempt(createSubmit, PETITION_ERRORS, async () => {
      const made = await call("POST", ballotsPath(), {
        body, extraHeaders: { "Idempotency-Key": state.createKey },
      });
      resetCreateForm();
      state.ballots = [made, ...state.ballots.filter((b) => b.ballot_id !== made.ballot_id)];
      await openBallot(made.ballot_id);
      say("success", "voting.feedback.created", { title: made.title });
    });
  }

  async function onAnnounce(event) {
    event.preventDefault();
    if (!requireFilled([opensAt, closesAt, objectionDays])) return;
    const opens = new Date(opensAt.value);
    const closes = new Date(closesAt.value);
    if (Number.isNaN(opens.getTime()) || Number.isNaN(closes.getTime())) {
      say("error", "voting.error.dateFormat");
      (Number.isNaN(opens.getTime()) ? opensAt : closesAt).focus();
      return;
    }
    if (closes <= opens) return invalid(closesAt, "voting.error.closesFirst");
    const days = Number(objectionDays.value);
    if (!Number.isInteger(days) || days < 1 || days > 60) {
      return invalid(objectionDays, "voting.error.objectionDays");
    }
    for (const field of [opensAt, closesAt, objectionDays]) field.removeAttribute("aria-invalid");
    await busy(announceSubmit, async () => {
      try {
        const b = await call("POST", ballotPath("/announce"), {
          body: {
            voting_opens_at: opens.toISOString(),
            voting_closes_at: closes.toISOString(),
            objection_days: days,
          },
        });
        await reloadBallot();
        say("success", "voting.feedback.announced", {
          opens: formatDate(b.voting_opens_at), units: b.roll_units,
        });
        $("ballot-state")?.focus();
      } catch (error) {
        explain(error, ORGANISE_ERRORS);
        const sentence = error instanceof ApiError ? error.sentence : "";
        if (/15 days/.test(sentence)) {
          opensAt.setAttribute("aria-invalid", "true");
          opensAt.focus();
        } else if (/the ballot is/.test(sentence)) {
          await reloadBallot().catch(() => {});
        }
      }
    });
  }

  async function onStep() {
    const b = state.ballot;
    const step = STEPS[b?.state];
    if (!step) return;
    await busy(stepButton, async () => {
      try {
        const after = await call("POST", ballotPath(`/${step}`));
        await reloadBallot();
        say("success", `voting.feedback.${step}`, {
          closes: formatDate(after.voting_closes_at), until: formatDate(after.objections_until),
          counted: after.receipts_counted,
        });
        $(step === "close" ? "ballot-result-heading" : "ballot-state")?.focus();
      } catch (error) {
        explain(error, ORGANISE_ERRORS);
        if (error instanceof ApiError && /the ballot is/.test(error.sentence)) {
          await reloadBallot().catch(() => {});
        }
      }
    });
  }

  function onCancel(event) {
    event.preventDefault();
    if (!requireFilled([cancelReason])) return;
    attempt(cancelSubmit, ORGANISE_ERRORS, async () => {
      await call("POST", ballotPath("/cancel"), { body: { reason: cancelReason.value.trim() } });
      cancelReason.value = "";
      await reloadBallot();
      say("success", "voting.feedback.cancelled", { title: state.ballot.title });
      $("ballot-state")?.focus();
    });
  }

  async function onVote(event, b, submit) {
    event.preventDefault();
    const choices = draftChoices(b, state.draft, "vote-q");
    if (!choices) return;
    const changing = latestCounted() !== null;
    const grantors = activeProxies("proxy_username").length;
    state.voteKey ??= uuid();
    await busy(submit, async () => {
      try {
        const reply = await call("PUT", ballotPath("/vote"), {
          body: { choices }, extraHeaders: { "Idempotency-Key": state.voteKey },
        });
        state.voteKey = null;
        const proxied = reply.receipts.filter((r) => r.channel === "proxy");
        if (grantors) state.proxyCast = { ballotId: b.ballot_id, receipts: proxied };
        if (isOwner()) state.receipts = (await call("GET", ballotPath("/vote"))).receipts;
        renderPage();
        // An owner who voted themselves is skipped: their own vote prevails over the proxy's.
        const skipped = grantors - proxied.length;
        say("success", skipped > 0 ? "voting.feedback.proxySkipped"
          : changing ? "voting.feedback.changed" : "voting.feedback.voted", {
          codes: reply.receipts.map((r) => r.receipt_code).join(sep()) || "—", n: skipped,
        });
        $("my-receipts-heading")?.focus();
      } catch (error) {
        explain(error, VOTE_ERRORS);
        if (error instanceof ApiError && error.status === 422) {
          await reloadBallot().catch(() => {});
        }
      }
    });
  }

  /** A receipt code as typed ("abcd 1234…", with or without dashes) in its printed form. */
  function normalCode(text) {
    const hex = text.toUpperCase().replace(/[^0-9A-F]/g, "");
    return hex.length === 16 ? hex.match(/.{4}/g).join("-") : text.trim().toUpperCase();
  }

  async function onCheck(event) {
    event.preventDefault();
    if (!requireFilled([checkCode])) return;
    const code = normalCode(checkCode.value);
    if (!RECEIPT.test(code)) return invalid(checkCode, "voting.error.receiptFormat");
    checkCode.removeAttribute("aria-invalid");
    checkCode.value = code;
    const ballotId = state.openId;
    await busy(checkSubmit, async () => {
      try {
        const receipt = await call("GET", ballotPath(`/receipts/${code}`));
        state.check = { ballotId, code, receipt };
        renderCheck(state.ballot);
        say(receipt.state === "counted" ? "success" : "info",
          receipt.state === "counted" ? "voting.check.counted" : "voting.check.superseded",
          { code, by: receipt.superseded_by ?? "" });
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          state.check = { ballotId, code, missing: true };
          renderCheck(state.ballot);
          say("error", "voting.check.missing", { code });
        } else {
          explain(error);
        }
      }
    });
  }

  /** Runs `run` with `node` busy; a refusal is explained with `errors`. */
  function attempt(node, errors, run) {
    return busy(node, () => run().catch((error) => explain(error, errors)));
  }

  function onProxy(event) {
    event.preventDefault();
    if (!requireFilled([proxyName])) return;
    attempt(proxySubmit, PROXY_ERRORS, async () => {
      const p = await call("POST", ballotPath("/proxies"), {
        body: { proxy_username: proxyName.value.trim() },
      });
      proxyName.value = "";
      await reloadBallot();
      say("success", "voting.feedback.proxy", { name: p.proxy_username });
      $("proxy-mine")?.focus();
    });
  }

  function onRevoke(p, revoke) {
    attempt(revoke, PROXY_ERRORS, async () => {
      await call("DELETE", ballotPath(`/proxies/${encodeURIComponent(p.proxy_id)}`));
      await reloadBallot();
      say("success", "voting.feedback.proxyRevoked", { name: p.proxy_username });
      proxyName.focus();
    });
  }

  function onPaper(event) {
    event.preventDefault();
    const b = state.ballot;
    if (!requireFilled([paperFile, paperUnit])) return;
    const file = paperFile.files[0];
    if (!SCAN_TYPES.includes(file.type) || file.size > MAX_SCAN) {
      return invalid(paperFile, "voting.error.scanFile");
    }
    const choices = draftChoices(b, state.paperDraft, "paper-q");
    if (!choices) return;
    const unit = paperUnit.selectedOptions[0].textContent;
    state.paperKey ??= uuid();
    attempt(paperSubmit, PAPER_ERRORS, async () => {
      // The scan first: it is the vote's evidence. The same file is not sent twice.
      if (state.scan?.file !== file) {
        const scan = await call("POST", ballotPath("/scans"), { raw: file, contentType: file.type });
        state.scan = { file, sha: scan.sha256 };
      }
      const reply = await call("POST", ballotPath("/paper-votes"), {
        body: { unit_id: paperUnit.value, scan_sha256: state.scan.sha, choices },
        extraHeaders: { "Idempotency-Key": state.paperKey },
      });
      for (const receipt of reply.receipts) state.paper.push({ ballotId: b.ballot_id, unit, receipt });
      state.paperFor = state.paperKey = null;
      renderPaper(b);
      say("success", "voting.feedback.paper", {
        unit, codes: reply.receipts.map((r) => r.receipt_code).join(sep()),
      });
      paperDoneHeading.focus();
    });
  }

  function onPetition(event) {
    event.preventDefault();
    if (!requireFilled([petitionTitle, petitionReason])) return;
    state.petitionKey ??= uuid();
    attempt(petitionSubmit, PETITION_ERRORS, async () => {
      const p = await call("POST", petitionsPath(), {
        body: { title: petitionTitle.value.trim(), reason: petitionReason.value.trim() },
        extraHeaders: { "Idempotency-Key": state.petitionKey },
      });
      state.petitionKey = null;
      petitionForm.reset();
      state.petitions = [p, ...state.petitions];
      renderPetitions();
      say("success", "voting.feedback.petition", { title: p.title });
      $(`petition-${p.petition_id}`)?.focus();
    });
  }

  function onSign(p, sign) {
    attempt(sign, PETITION_ERRORS, async () => {
      const after = await call("POST", petitionsPath(`/${p.petition_id}/signatures`));
      state.petitions = state.petitions.map((x) => (x.petition_id === p.petition_id ? after : x));
      renderPetitions();
      say("success", `voting.feedback.${after.state === "collecting" ? "signed" : "reached"}`, {
        title: after.title, signed: after.signed_headcount, total: after.total_headcount,
      });
      $(`petition-${p.petition_id}`)?.focus();
    });
  }

  async function onEstate() {
    state.estateId = estateSelect.value;
    state.roles = rolesIn(state.sessionMe, state.estateId);
    state.ballots = [];
    state.openId = null;
    state.ballot = null;
    await load();
    say("info", "voting.estate", { name: state.estateNames.get(state.estateId) ?? state.estateId });
  }

  createForm.addEventListener("submit", onCreate);
  createForm.addEventListener("input", () => {
    state.createKey = null;
  });
  addQuestion.addEventListener("click", () => addQuestionRow());
  announceForm.addEventListener("submit", onAnnounce);
  stepButton.addEventListener("click", onStep);
  cancelForm.addEventListener("submit", onCancel);
  checkForm.addEventListener("submit", onCheck);
  proxyForm.addEventListener("submit", onProxy);
  paperForm.addEventListener("submit", onPaper);
  paperForm.addEventListener("input", () => {
    state.paperKey = null;
  });
  petitionForm.addEventListener("submit", onPetition);
  petitionForm.addEventListener("input", () => {
    state.petitionKey = null;
  });
  back.addEventListener("click", closeBallot);
  estateSelect.addEventListener("change", onEstate);
  resetCreateForm();
  onLanguage(() => retranslate());
  retranslate();

  return {
    refresh() {
      // One load at a time: the shell asks again on every language switch and sign-in. A
      // sign-in or sign-out during a load gets a load of its own once that one is done.
      if (state.inflight) return;
      const session = app.session();
      const estate = app.estate?.();
      state.inflight = load().finally(() => {
        state.inflight = null;
        if (app.session() !== session || app.estate?.() !== estate) this.refresh();
      });
    },
  };
}

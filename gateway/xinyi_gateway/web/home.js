// 首页 for a signed-in person: what needs them now in the estate in view (a payment to approve,
// a vote closing, a flag, an overdue rectification, bank lines to reconcile, estates on their way
// in, messages that failed) and what changed since their last visit (their messages since then).
// Every item links to the place where it is dealt with. app.js loads this at sign-in.

import { h, lang, when, yuanDigits } from "/dom.js";
import { addMessages } from "/i18n.js";
import { messages } from "/home-i18n.js";

addMessages(messages);

const $ = (id) => document.getElementById(id);
const VISIT_KEY = "xinyi.visit.";
const APPROVERS = ["committee_member", "committee_chair"];
const FINANCE = ["company_manager", "company_accountant"];
const SUPERVISORS = ["estate_supervisor", "community_supervisor"];
// Two days: a ballot closing sooner is marked urgent.
const SOON_MS = 2 * 24 * 3600 * 1000;
const MAX_SHOWN = 8;

export function mount(app) {
  const { call, t, onLanguage } = app;
  const root = $("home-agenda");
  const S = { me: null, estateId: null, todo: null, news: null, since: null, failed: false,
    seq: 0 };

  const path = (tail) => `/api/v1/estates/${encodeURIComponent(S.estateId)}${tail}`;
  const link = (area, ...rest) => `#/${[area, S.estateId, ...rest].filter(Boolean)
    .map(encodeURIComponent).join("/")}`;

  /** The roles the person holds for the estate in view (a company's roles count wherever it
   *  serves; a community's wherever the estate lies). */
  function rolesHere() {
    const estate = app.estates().find((e) => e.estate_id === S.estateId);
    return new Set((S.me?.roles ?? []).filter((g) => g.estate_id === S.estateId
      || (g.company_id && (!estate?.company_id || g.company_id === estate.company_id))
      || (g.community_id && (!estate?.community_id || g.community_id === estate.community_id)))
      .map((g) => g.role));
  }
  const holds = (roles, wanted) => wanted.some((r) => roles.has(r));

  // --- what needs them now: each source is asked only of those who may act on it
  async function gather() {
    const roles = rolesHere();
    const me = S.me;
    const operator = (me.roles ?? []).some((g) => g.role === "operator");
    const overseer = (me.roles ?? []).some((g) => g.role === "community_supervisor");
    const inEstate = Boolean(S.estateId) && roles.size > 0;
    const ask = (p) => call("GET", p).catch(() => null);
    const [payments, ballots, flags, overdue, lines, stages, dead] = await Promise.all([
      inEstate && holds(roles, [...APPROVERS, ...FINANCE])
        ? ask(path("/disbursements?state=requested")) : null,
      inEstate ? ask(path("/ballots")) : null,
      inEstate ? ask(path("/flags")) : null,
      inEstate ? ask(path("/suggestions?overdue=true")) : null,
      inEstate && holds(roles, FINANCE) ? ask(path("/statement-lines?state=open&limit=200"))
        : null,
      overseer || operator ? ask("/api/v1/onboarding/stages") : null,
      operator ? ask("/api/v1/notifications/dead-letters") : null,
    ]);
    const items = [];
    for (const d of payments ?? []) {
      const approver = holds(roles, APPROVERS);
      const mine = (d.approvals ?? []).some((a) => a.user_id === me.user_id);
      if (approver && mine) continue;
      items.push({
        kind: d.origin === "bank_debit" ? "ratify" : (approver ? "approve" : "awaitApproval"),
        urgent: approver,
        text: t(d.origin === "bank_debit" ? "home.todo.ratify"
          : (approver ? "home.todo.approve" : "home.todo.awaitApproval"), {
          payee: d.payee, amount: yuanDigits(d.amount_fen), purpose: d.purpose,
          got: (d.approvals ?? []).length, need: d.approvals_required,
        }),
        href: link("fund", "disbursements", d.disbursement_id),
      });
    }
    const owner = roles.has("owner");
    const open = (ballots ?? []).filter((b) => b.state === "open");
    const voted = owner ? await Promise.all(open.map((b) =>
      ask(path(`/ballots/${encodeURIComponent(b.ballot_id)}/vote`))
        .then((v) => (v?.receipts ?? []).length > 0))) : open.map(() => false);
    open.forEach((b, i) => {
      const closes = b.voting_closes_at ? new Date(b.voting_closes_at).getTime() : null;
      const soon = closes !== null && closes - Date.now() < SOON_MS;
      items.push({
        kind: "vote",
        urgent: owner && !voted[i] && soon,
        text: t(owner && !voted[i] ? "home.todo.vote" : (voted[i] ? "home.todo.voted"
          : "home.todo.ballotOpen"), { title: b.title, closes: when(b.voting_closes_at) }),
        href: link("voting", "ballots", b.ballot_id),
      });
    });
    for (const b of (ballots ?? []).filter((x) => x.state === "announced")) {
      items.push({ kind: "announced", urgent: false,
        text: t("home.todo.announced", { title: b.title, opens: when(b.voting_opens_at) }),
        href: link("voting", "ballots", b.ballot_id) });
    }
    for (const f of (flags ?? []).filter((x) => x.state === "open")) {
      items.push({ kind: "flag", urgent: f.kind === "bank_alarm",
        text: t("home.todo.flag", { reason: f.reason }), href: link("reports", "flags") });
    }
    for (const s of overdue ?? []) {
      items.push({ kind: "overdue", urgent: holds(roles, FINANCE),
        text: t("home.todo.overdue", { title: s.title }),
        href: link("voice", s.suggestion_id) });
    }
    const openLines = lines?.lines?.length ?? 0;
    if (openLines) {
      items.push({ kind: "reconcile", urgent: false,
        text: t(lines.next_cursor ? "home.todo.linesMany" : "home.todo.lines", { n: openLines }),
        href: link("fund", "reconcile") });
    }
    // Estates not yet under a trust contract in force, or changing company.
    const onTheWay = (stages ?? []).filter((e) => e.stage !== "active");
    if (onTheWay.length) {
      items.push({ kind: "onboarding", urgent: false,
        text: t("home.todo.onboarding", { n: onTheWay.length, total: stages.length }),
        href: "#/onboarding" });
    }
    const failed = dead?.deliveries?.length ?? 0;
    if (failed) {
      items.push({ kind: "deadLetters", urgent: true, text: t("home.todo.deadLetters",
        { n: failed }), href: "#/operator" });
    }
    if (!inEstate && !overseer && !operator && !S.estateId) {
      items.push({ kind: "none", urgent: false, text: t("home.todo.noEstate"), href: null });
    }
    // What is urgent first, then in the order above.
    return items.map((x, i) => ({ ...x, i })).sort((a, b) => (b.urgent - a.urgent) || (a.i - b.i));
  }

  // --- what changed since the last visit: the messages that came since
  function lastVisit() {
    try {
      return localStorage.getItem(VISIT_KEY + S.me.user_id);
    } catch {
      return null;
    }
  }
  function remember(at) {
    try {
      localStorage.setItem(VISIT_KEY + S.me.user_id, at);
    } catch {
      // Private browsing: every visit is then a first one.
    }
  }
  async function news(since) {
    const reply = await call("GET", "/api/v1/me/inbox?limit=50").catch(() => null);
    const all = reply?.messages ?? [];
    const fresh = since ? all.filter((m) => (m.created_at ?? "") > since) : all.filter((m) => !m.read);
    return fresh.slice(0, MAX_SHOWN);
  }

  // --- rendering
  function item(x) {
    const cls = `agenda-item${x.urgent ? " urgent" : ""}`;
    const label = x.urgent ? h("span", { class: "tag" }, t("home.urgent")) : null;
    return h("li", { class: cls, "data-kind": x.kind },
      label, label ? " " : null, x.href ? h("a", { href: x.href }, x.text) : h("span", {}, x.text));
  }
  function render() {
    if (!root) return;
    if (!S.me) {
      root.replaceChildren();
      root.hidden = true;
      return;
    }
    root.hidden = false;
    const estate = app.estates().find((e) => e.estate_id === S.estateId);
    const todo = S.todo === null
      ? h("p", { class: "hint", role: "status" }, t("home.loading"))
      : S.todo.length === 0 ? h("p", { class: "hint", id: "agenda-empty" }, t("home.todo.none"))
        : h("ul", { class: "agenda", id: "agenda-list" }, S.todo.slice(0, 20).map(item));
    const title = (m) => (lang() === "en" && t(`inbox.kind.${m.kind}`) !== `inbox.kind.${m.kind}`
      ? t(`inbox.kind.${m.kind}`) : m.title);
    const fresh = S.news === null ? h("p", { class: "hint" }, t("home.loading"))
      : S.news.length === 0 ? h("p", { class: "hint", id: "news-empty" },
        t(S.since ? "home.news.none" : "home.news.first"))
        : h("ul", { class: "agenda", id: "news-list" }, S.news.map((m) => h("li",
          { class: `agenda-item${m.urgent ? " urgent" : ""}` },
          h("a", { href: m.link ? `#${m.link}` : "#/inbox" }, title(m)), " ",
          h("span", { class: "hint" }, when(m.created_at)))));
    root.replaceChildren(
      h("section", { class: "panel", id: "agenda-panel", "aria-labelledby": "agenda-heading" },
        h("h2", { id: "agenda-heading" }, t("home.todo.heading")),
        estate ? h("p", { class: "hint", id: "agenda-estate" },
          t("home.estate", { name: estate.name })) : null,
        todo),
      h("section", { class: "panel", id: "news-panel", "aria-labelledby": "news-heading" },
        h("h2", { id: "news-heading" }, t("home.news.heading")),
        S.since ? h("p", { class: "hint" }, t("home.news.since", { at: when(S.since) })) : null,
        fresh),
    );
  }

  async function refresh() {
    const session = app.session();
    const me = session?.me ?? null;
    const seq = ++S.seq;
    if (me !== S.me) {
      // Someone else signed in (or out): nothing of the last person's home stays.
      Object.assign(S, { me, estateId: null, todo: null, news: null, since: null });
      if (me) {
        S.since = lastVisit();
        remember(new Date().toISOString());
      }
    }
    if (!me) {
      render();
      settled();
      return;
    }
    S.estateId = app.estate();
    S.todo = null;
    render();
    try {
      const [todo, fresh] = await Promise.all([gather(), S.news ?? news(S.since)]);
      if (seq !== S.seq || app.session() !== session) return;
      S.todo = todo;
      S.news = fresh;
      render();
    } finally {
      if (seq === S.seq) settled();
    }
  }

  /** The shell holds the account panels back until this list is in (app.js). */
  function settled() {
    $("view-home")?.classList.remove("settling");
  }

  onLanguage(render);
  return { refresh };
}

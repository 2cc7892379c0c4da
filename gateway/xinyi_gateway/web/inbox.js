// 消息 (the inbox): the unread badge in the navigation, kept live by the inbox's event stream;
// the messages, newest first; and the notification settings. app.js loads it at sign-in, so the
// badge shows on every page, and refreshes it at sign-out, which stops the stream.

import { h } from "/dom.js";
import { addMessages } from "/i18n.js";
import { messages } from "/inbox-i18n.js";

addMessages(messages);

const $ = (id) => document.getElementById(id);
const PAGE = 20;
const CHANNELS = ["inbox", "email", "sms"];
const QUIET = ["quiet_start", "quiet_end"];
// A refusal of the settings, by the words of its detail: what to say and which field to fix.
const REFUSALS = [[/security-relevant/, "security"], [/quiet/, "quiet", "pref-quiet_start"],
  [/e-?mail/i, "email", "pref-email"], [/phone/, "phone", "pref-phone"]];

export function mount(app) {
  const { call, say, reportError, busy, t, onLanguage, ApiError } = app;
  const root = $("inbox-root");
  const badge = $("inbox-badge");
  const S = { me: null, unread: 0, items: null, cursor: null, last: 0, tab: "messages",
    prefs: null, stream: null, inflight: null };
  // The live parts of the shown messages panel.
  let V = {};

  const hint = (key) => h("p", { class: "hint" }, t(key));
  const lang = () => document.documentElement.lang || "zh-CN";
  const when = (iso) => {
    const date = new Date(iso ?? "");
    return Number.isNaN(date.getTime()) ? ""
      : new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "short" }).format(date);
  };
  const kindName = (kind) => (t(`inbox.kind.${kind}`) === `inbox.kind.${kind}`
    ? kind : t(`inbox.kind.${kind}`));
  // The server words a message in Chinese; in English its kind names it.
  const title = (m) => (lang() === "en" && kindName(m.kind) !== m.kind
    ? kindName(m.kind) : m.title);

  // --- the badge and the stream
  function update() {
    const n = S.me ? S.unread : 0;
    badge.hidden = n === 0;
    badge.replaceChildren(h("span", { "aria-hidden": "true" }, n > 99 ? "99+" : String(n)),
      h("span", { class: "visually-hidden" }, t("inbox.badge", { n })));
    if (!V.list) return;
    V.count.textContent = n ? t("inbox.unreadCount", { n }) : t("inbox.allRead");
    V.all.hidden = !n;
    V.more.hidden = !S.cursor;
    if (!S.items.length) V.list.replaceChildren(h("li", { class: "empty" }, t("inbox.empty")));
  }

  function arrived(m) {
    if (!S.items || S.items.some((o) => o.message_id === m.message_id)) return;
    if (!S.items.length) V.list?.replaceChildren();
    S.items.unshift(m);
    V.list?.prepend(item(m));
  }

  function dispatch(event) {
    if (event.id && /^\d+$/.test(event.id)) S.last = Math.max(S.last, Number(event.id));
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (event.type === "unread") S.unread = data.unread;
    else if (event.type === "message") arrived(data);
    update();
  }

  /** Reads Server-Sent Events off a response body until it ends. */
  async function read(body, alive) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = "";
    let event = {};
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      alive();
      const lines = (rest + value).split("\n");
      rest = lines.pop();
      for (const line of lines.map((l) => l.replace(/\r$/, ""))) {
        const at = line.indexOf(":");
        const field = at < 0 ? line : line.slice(0, at);
        const text = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
        if (!line) {
          if (event.data !== undefined) dispatch({ type: "message", ...event });
          event = {};
        } else if (field === "data") {
          event.data = event.data === undefined ? text : `${event.data}\n${text}`;
        } else if (field === "event") {
          event.type = text;
        } else if (field === "id") {
          event.id = text;
        }
      }
    }
  }

  /** The live stream: fetch (it needs the token in a header), reconnecting with back-off and
   * Last-Event-ID until aborted. A refused token is renewed through `call`, or the session
   * ends and with it the stream. */
  function listen() {
    const abort = new AbortController();
    const me = S.me;
    S.stream = abort;
    (async () => {
      let delay = 1000;
      while (!abort.signal.aborted && app.session()?.me === me) {
        try {
          const headers = { Accept: "text/event-stream",
            Authorization: `Bearer ${app.session().accessToken}` };
          if (S.last) headers["Last-Event-ID"] = String(S.last);
          const response = await fetch("/api/v1/me/inbox/stream",
            { headers, cache: "no-store", signal: abort.signal });
          if (response.status === 401) await call("GET", "/api/v1/me/inbox?limit=1");
          else if (response.ok) await read(response.body, () => { delay = 1000; });
        } catch {
          // Dropped (network, a restart) or aborted at sign-out: the loop decides.
        }
        if (abort.signal.aborted) return;
        await new Promise((resolve) => { setTimeout(resolve, delay); });
        delay = Math.min(delay * 2, 30_000);
      }
    })();
  }

  // --- the messages
  const page = (cursor) => call("GET",
    `/api/v1/me/inbox?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);

  function item(m) {
    const name = title(m);
    return h("li", { class: `inbox-msg${m.read ? "" : " unread"}${m.urgent ? " urgent" : ""}`,
      "data-message-id": m.message_id, tabindex: "-1" },
    h("p", { class: "msg-meta" },
      m.urgent ? h("span", { class: "marker urgent" }, t("inbox.urgent")) : null,
      m.read ? null : h("span", { class: "marker" }, t("inbox.unread")),
      h("time", { datetime: m.created_at }, when(m.created_at))),
    h("h3", {}, name),
    h("p", { lang: "zh-CN" }, m.body),
    h("p", { class: "actions" },
      m.link ? h("a", { href: `#${m.link}`, "aria-label": t("inbox.openLabel", { title: name }) },
        t("inbox.open")) : null,
      m.read ? null : h("button", { type: "button", class: "button small",
        "aria-label": t("inbox.markReadLabel", { title: name }),
        onclick: (e) => onRead(m, e.currentTarget) }, t("inbox.markRead"))));
  }

  function messagesPanel() {
    V = {
      count: h("p", { class: "hint" }),
      all: h("button", { type: "button", class: "button", onclick: onReadAll }, t("inbox.markAll")),
      list: h("ul", { class: "inbox-list", "aria-labelledby": "inbox-h" }, S.items.map(item)),
      more: h("button", { type: "button", class: "button", onclick: onMore }, t("inbox.more")),
    };
    return h("section", { class: "panel", "aria-labelledby": "inbox-h" },
      h("h2", { id: "inbox-h", tabindex: "-1" }, t("inbox.tab.messages")),
      V.count, h("div", { class: "actions" }, V.all), V.list, V.more);
  }

  async function loadMessages() {
    const session = app.session();
    try {
      const reply = await page();
      if (app.session() !== session) return;
      // What the stream brought while the page was on its way stays on top.
      const top = reply.messages[0]?.position ?? 0;
      S.items = [...(S.items ?? []).filter((m) => m.position > top), ...reply.messages];
      S.cursor = reply.next_cursor;
      S.unread = reply.unread;
      S.last = Math.max(S.last, top);
    } catch (error) {
      S.items ??= [];
      reportError(error);
    }
    if (S.tab === "messages") render();
  }

  async function onRead(m, button) {
    await busy(button, async () => {
      try {
        const reply = await call("POST",
          `/api/v1/me/inbox/${encodeURIComponent(m.message_id)}/read`);
        m.read = true;
        S.unread = reply.unread;
        const fresh = item(m);
        V.list.querySelector(`[data-message-id="${m.message_id}"]`)?.replaceWith(fresh);
        update();
        fresh.focus();
        say("success", "inbox.marked", { title: title(m) });
      } catch (error) {
        reportError(error);
      }
    });
  }

  async function onReadAll(event) {
    await busy(event.currentTarget, async () => {
      try {
        const reply = await call("POST", "/api/v1/me/inbox/read-all");
        for (const m of S.items) m.read = true;
        S.unread = reply.unread;
        V.list.replaceChildren(...S.items.map(item));
        update();
        $("inbox-h").focus();
        say("success", "inbox.markedAll", { n: reply.marked });
      } catch (error) {
        reportError(error);
      }
    });
  }

  async function onMore(event) {
    await busy(event.currentTarget, async () => {
      try {
        const reply = await page(S.cursor);
        const known = new Set(S.items.map((m) => m.message_id));
        const fresh = reply.messages.filter((m) => !known.has(m.message_id));
        S.items.push(...fresh);
        S.cursor = reply.next_cursor;
        S.unread = reply.unread;
        const nodes = fresh.map(item);
        V.list.append(...nodes);
        update();
        nodes[0]?.focus();
      } catch (error) {
        reportError(error);
      }
    });
  }

  // --- the settings
  function prefsPanel() {
    const p = S.prefs;
    const secure = new Set(p.security_kinds);
    const channels = CHANNELS.filter((c) => p.available_channels.includes(c));
    const input = (name, type, attrs = {}) => h("div", { class: "field" },
      h("label", { for: `pref-${name}` }, t(`pref.${name}`)),
      h("input", { id: `pref-${name}`, name, type, value: p[name], ...attrs, oninput: (e) => {
        p[name] = e.target.value;
        e.target.removeAttribute("aria-invalid");
      } }));
    const box = (k, what, checked, locked, set) => h("input", { type: "checkbox", checked,
      disabled: locked, "data-what": what, onchange: (e) => set(e.target.checked),
      "aria-label": t("pref.cell", { kind: kindName(k.kind),
        what: t(what === "digest" ? "pref.digest" : `pref.channel.${what}`) }) });
    const row = (k) => h("tr", { "data-kind": k.kind },
      h("th", { scope: "row" }, kindName(k.kind),
        secure.has(k.kind)
          ? [" ", h("span", { class: "marker urgent" }, t("pref.security"))] : null),
      channels.map((c) => h("td", {}, box(k, c, k.channels.includes(c) || (c === "inbox"
        && secure.has(k.kind)), c === "inbox" && secure.has(k.kind), (on) => {
          k.channels = CHANNELS.filter((x) => (x === c ? on : k.channels.includes(x)));
        }))),
      h("td", {}, box(k, "digest", k.digest && !secure.has(k.kind), secure.has(k.kind),
        (on) => { k.digest = on; })));
    return h("section", { class: "panel", "aria-labelledby": "pref-h" },
      h("h2", { id: "pref-h", tabindex: "-1" }, t("inbox.tab.settings")),
      hint("pref.intro"),
      h("form", { class: "form", novalidate: true, onsubmit: onSave },
        input("email", "email", { autocomplete: "email", maxlength: 254 }),
        input("phone", "tel", { autocomplete: "tel", maxlength: 20 }),
        h("fieldset", { class: "quiet", "aria-describedby": "pref-quiet-hint" },
          h("legend", {}, t("pref.quiet")),
          h("p", { class: "hint", id: "pref-quiet-hint" }, t("pref.quietHint")),
          QUIET.map((name) => input(name, "time"))),
        h("div", { class: "field" }, h("label", { for: "pref-language" }, t("pref.language")),
          h("select", { id: "pref-language", onchange: (e) => { p.language = e.target.value; } },
            ["zh", "en"].map((l) => h("option", { value: l, lang: l, selected: p.language === l },
              t(`pref.lang.${l}`))))),
        h("div", { class: "table-wrap" }, h("table", { class: "ledger-table pref-table" },
          h("caption", {}, t("pref.caption")),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("pref.kind")),
            channels.map((c) => h("th", { scope: "col" }, t(`pref.channel.${c}`))),
            h("th", { scope: "col" }, t("pref.digest")))),
          h("tbody", {}, p.kinds.map(row)))),
        h("div", { class: "actions" },
          h("button", { type: "submit", class: "button primary" }, t("pref.save")))));
  }

  async function loadPrefs() {
    try {
      S.prefs = await call("GET", "/api/v1/me/preferences");
      if (S.tab === "settings") render();
    } catch (error) {
      reportError(error);
    }
  }

  async function onSave(event) {
    event.preventDefault();
    const p = S.prefs;
    const secure = new Set(p.security_kinds);
    await busy(event.currentTarget.querySelector("[type=submit]"), async () => {
      try {
        S.prefs = await call("PUT", "/api/v1/me/preferences", { body: {
          email: p.email.trim(), phone: p.phone.trim(), quiet_start: p.quiet_start,
          quiet_end: p.quiet_end, language: p.language,
          // Security kinds keep the inbox and are never digested, whatever the page held.
          kinds: p.kinds.map((k) => (secure.has(k.kind)
            ? { kind: k.kind, channels: [...new Set(["inbox", ...k.channels])], digest: false }
            : { kind: k.kind, channels: k.channels, digest: k.digest })),
        } });
        render();
        say("success", "pref.saved");
        $("pref-h").focus();
      } catch (error) {
        const sentence = error instanceof ApiError ? error.sentence : "";
        const refusal = error?.status < 500 && REFUSALS.find(([words]) => words.test(sentence));
        if (!refusal) {
          reportError(error);
          return;
        }
        say("error", `pref.err.${refusal[1]}`);
        const field = refusal[2] && $(refusal[2]);
        field?.setAttribute("aria-invalid", "true");
        field?.focus();
      }
    });
  }

  // --- the view
  function render() {
    V = {};
    if (!S.me) {
      root.replaceChildren(hint("inbox.signIn"));
      update();
      return;
    }
    const shown = S.tab === "settings" ? S.prefs && prefsPanel() : S.items && messagesPanel();
    root.replaceChildren(
      h("div", { class: "actions inbox-tabs", role: "group", "aria-label": t("inbox.views") },
        ["messages", "settings"].map((tab) => h("button", { type: "button", class: "button",
          "aria-pressed": String(S.tab === tab), onclick: () => show(tab) },
        t(`inbox.tab.${tab}`)))),
      shown || hint("inbox.loading"));
    update();
  }

  async function show(tab) {
    S.tab = tab;
    render();
    $(tab === "settings" ? "pref-h" : "inbox-h")?.focus();
    await (tab === "settings" ? loadPrefs() : loadMessages());
    $(tab === "settings" ? "pref-h" : "inbox-h")?.focus();
  }

  onLanguage(() => render());
  document.head.append(h("link", { rel: "stylesheet", href: "/inbox.css" }));

  return {
    refresh() {
      const me = app.session()?.me ?? null;
      if (me !== S.me) {
        // Someone else signed in (or out): nothing of the last person's inbox stays.
        S.stream?.abort();
        Object.assign(S, { me, unread: 0, items: null, cursor: null, last: 0, tab: "messages",
          prefs: null, stream: null });
        if (me) listen();
      }
      render();
      if (!me || $("view-inbox").hidden || S.inflight) return;
      // Opening the view (or switching language) reads the messages again; unsaved settings stay.
      const loading = S.tab === "settings" ? (S.prefs ? null : loadPrefs()) : loadMessages();
      S.inflight = loading?.finally(() => { S.inflight = null; });
    },
  };
}

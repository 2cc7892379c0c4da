// Vouchers (财务凭证) in the fund view: the company uploads files; everyone in the estate lists
// them and opens them as their role allows. A file is fetched with the bearer token and shown
// from a blob URL (a plain link would lack the token); images get a data: preview (CSP allows it).

import { el, field, input, tagged } from "/fees.js";

const KINDS = ["receipt", "invoice", "contract", "payroll", "bank", "other"];
const TYPES = ["image/jpeg", "image/png", "image/webp", "application/pdf"];
const EXTENSIONS = { "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
  "application/pdf": ".pdf" };
const MAX_BYTES = 10 * 1024 * 1024;
const FINANCE = ["company_accountant", "company_manager"];

export function mountVouchers(app, fund) {
  const { call, say, reportError, busy, t, ApiError } = app;
  let info = fund.fund();
  let list = [];
  let generation = 0;
  // sha256 → { url, dataUrl, type } of files fetched by this person; dropped on a change of user.
  const files = new Map();
  const opened = new Set();
  const path = (tail) => `/api/v1/estates/${encodeURIComponent(info.estateId)}/vouchers${tail}`;
  const kindName = (kind) => {
    const text = t(`vouchers.kind.${kind}`);
    return text === `vouchers.kind.${kind}` ? kind : text;
  };

  const panel = el("section", "panel");
  panel.id = "fund-vouchers";
  panel.setAttribute("aria-labelledby", "fund-vouchers-heading");
  const heading = tagged("h2", null, "vouchers.heading", t);
  heading.id = "fund-vouchers-heading";

  const form = el("form", "form");
  form.id = "voucher-form";
  form.noValidate = true;
  const kind = el("select");
  const file = input("file", { accept: TYPES.join(","), required: "" });
  const submit = tagged("button", "button primary", "vouchers.submit", t);
  submit.type = "submit";
  submit.id = "voucher-submit";
  form.append(field("voucher-kind", "vouchers.kind", kind, t),
    field("voucher-file", "vouchers.file", file, t, "vouchers.fileHint"), submit);

  const filter = el("select");
  const filterBox = el("div", "form inline-form");
  filterBox.append(field("voucher-filter", "vouchers.filter", filter, t));
  const items = el("ul", "items");
  items.id = "voucher-list";
  items.setAttribute("aria-labelledby", heading.id);
  panel.append(heading, tagged("p", "hint", "vouchers.intro", t), form, filterBox, items);

  function size(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function nameOf(v) {
    return v.filename || v.sha256.slice(0, 16);
  }

  function viewer(container, sha, name) {
    let box = container.querySelector(":scope > .voucher-view");
    if (!box) {
      box = el("div", "voucher-view");
      container.append(box);
    }
    const got = files.get(sha);
    box.replaceChildren();
    if (!got) return box;
    if (got.dataUrl) {
      const img = el("img", "voucher-preview");
      img.src = got.dataUrl;
      img.alt = t("vouchers.preview", { name });
      box.append(img);
    }
    const open = el("a", "button small voucher-open", t("vouchers.openNew"));
    open.href = got.url;
    open.target = "_blank";
    open.rel = "noopener";
    const save = el("a", "button small", t("vouchers.download"));
    save.href = got.url;
    save.download = /\.[a-z0-9]+$/i.test(name) ? name : `${name}${EXTENSIONS[got.type] ?? ""}`;
    box.append(open, " ", save);
    return box;
  }

  function dataUrl(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  /** Fetches a voucher's file as this person may see it and shows it under `container`. */
  async function open(sha, container, trigger, name = sha.slice(0, 16)) {
    const run = async () => {
      try {
        if (!files.has(sha)) {
          const mine = generation;
          const blob = await call("GET", path(`/${sha}`), {
            blob: true, extraHeaders: { Accept: "*/*" },
          });
          const type = blob.type.split(";")[0];
          const shown = TYPES.includes(type) && type.startsWith("image/") ? await dataUrl(blob) : null;
          if (mine !== generation) return;
          files.set(sha, { url: URL.createObjectURL(blob), dataUrl: shown, type });
        }
        opened.add(sha);
        viewer(container, sha, name).querySelector(".voucher-open")?.focus();
        say("success", "vouchers.feedback.opened", { name });
      } catch (error) {
        reportError(error);
      }
    };
    await (trigger?.tagName === "BUTTON" ? busy(trigger, run) : run());
  }

  function item(v) {
    const li = el("li", "voucher");
    li.dataset.sha = v.sha256;
    li.dataset.kind = v.kind;
    const name = nameOf(v);
    const line = el("div", "line");
    line.append(el("span", "item-name", name), el("span", "badge", kindName(v.kind)),
      el("span", "hint", size(v.size)));
    const facts = el("dl", "facts");
    const fact = (key, value, className) => {
      const row = el("div");
      row.append(el("dt", null, t(key)), el("dd", className, value));
      facts.append(row);
    };
    fact("ledger.entry.voucher", v.sha256, "hash");
    const notes = [];
    if (v.uploaded_at) {
      const when = new Date(v.uploaded_at);
      notes.push(t("vouchers.uploadedAt", {
        date: Number.isNaN(when.getTime()) ? v.uploaded_at : new Intl.DateTimeFormat(
          document.documentElement.lang || "zh-CN", { dateStyle: "medium", timeStyle: "short" })
          .format(when),
      }));
    }
    if (v.has_redacted_copy) notes.push(t("vouchers.redacted"));
    if (v.payroll_totals && Object.keys(v.payroll_totals).length) {
      notes.push(t("vouchers.payroll", {
        totals: Object.entries(v.payroll_totals)
          .map(([role, fen]) => `${role} ${fund.money(fen)}`).join(t("ledger.listSeparator")),
      }));
    }
    const go = el("button", "button small", t("vouchers.open"));
    go.type = "button";
    go.setAttribute("aria-label", t("vouchers.openLabel", { name }));
    go.addEventListener("click", () => open(v.sha256, li, go, name));
    li.append(line, facts, ...notes.map((n) => el("p", "hint", n)), go);
    if (opened.has(v.sha256) && files.has(v.sha256)) viewer(li, v.sha256, name);
    return li;
  }

  function render() {
    for (const node of panel.querySelectorAll("[data-l]")) node.textContent = t(node.dataset.l);
    const ready = info.ready;
    panel.hidden = !ready;
    form.hidden = !FINANCE.some((r) => info.roles.has(r));
    for (const [select, blank] of [[kind, null], [filter, "vouchers.all"]]) {
      const chosen = select.value;
      select.replaceChildren(...(blank ? [new Option(t(blank), "")] : []),
        ...KINDS.map((k) => new Option(kindName(k), k)));
      if (chosen) select.value = chosen;
    }
    items.replaceChildren();
    if (!ready) return;
    if (list.length === 0) items.append(el("li", "empty", t("vouchers.none")));
    for (const v of list) items.append(item(v));
  }

  async function load() {
    const mine = generation;
    const query = filter.value ? `?kind=${encodeURIComponent(filter.value)}` : "";
    const reply = await call("GET", path(query));
    if (mine !== generation) return;
    list = Array.isArray(reply) ? reply : [];
    render();
  }

  function forget() {
    for (const f of files.values()) URL.revokeObjectURL(f.url);
    files.clear();
    opened.clear();
    list = [];
    form.reset();
  }

  async function refresh(next) {
    const before = info;
    info = next;
    if (before.estateId !== info.estateId || before.roles !== info.roles || !info.ready) {
      generation++;
      forget();
    }
    render();
    if (!info.ready) return;
    try {
      await load();
    } catch (error) {
      reportError(error);
    }
  }

  async function onUpload(event) {
    event.preventDefault();
    const chosen = file.files[0];
    let problem = null;
    if (!chosen) problem = "vouchers.error.missing";
    else if (!TYPES.includes(chosen.type)) problem = "vouchers.error.type";
    else if (chosen.size > MAX_BYTES) problem = "vouchers.error.size";
    file.setAttribute("aria-invalid", String(problem !== null));
    if (problem) {
      say("error", problem);
      file.focus();
      return;
    }
    const query = new URLSearchParams({ kind: kind.value, filename: chosen.name });
    await busy(submit, async () => {
      try {
        const v = await call("POST", path(`?${query}`), { raw: chosen, contentType: chosen.type });
        form.reset();
        await load();
        say("success", "vouchers.feedback.uploaded", { name: nameOf(v) });
      } catch (error) {
        const detail = error instanceof ApiError ? error.problem?.detail : null;
        if (error?.status === 422 && typeof detail === "string" && detail) {
          say("error", "ledger.error.refused", { detail });
        } else {
          reportError(error);
        }
      }
    });
  }

  form.addEventListener("submit", onUpload);
  filter.addEventListener("change", () => load().catch(reportError));
  render();
  return { panel, render, refresh, open };
}

// The platform operator's views: companies, districts/streets/communities, estates, assigning an
// estate's property company, and importing an estate's units and owners from CSV.
// Loaded by app.js only when an operator opens them, so nobody else downloads it.

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function mount({ call, say, reportError, requireFilled, busy, t, ApiError, onLanguage }) {
  const state = {
    companies: [],
    communities: [],
    estates: [],
    nextCursor: null,
    // Names already created from this page, so a second community in the same street reuses it.
    districtIds: new Map(),
    streetIds: new Map(),
    importResult: null,
    dead: [],
  };

  function renderList(list, items, render) {
    list.replaceChildren();
    if (items.length === 0) {
      list.append(el("li", "empty", t("op.empty")));
      return;
    }
    for (const item of items) list.append(render(item));
  }

  function fillSelect(select, items, valueOf, labelOf) {
    const chosen = select.value;
    select.replaceChildren(new Option(t("op.choose"), ""));
    for (const item of items) select.append(new Option(labelOf(item), valueOf(item)));
    if (items.some((item) => valueOf(item) === chosen)) select.value = chosen;
  }

  function communityLabel(c) {
    const where = [c.district_name, c.street_name].filter(Boolean).join(" · ");
    return where ? t("op.communities.option", { name: c.name, where }) : c.name;
  }

  function renderCompanies() {
    renderList($("company-list"), state.companies, (c) => {
      const item = el("li");
      item.dataset.companyId = c.company_id;
      item.append(el("span", "item-name", c.name));
      if (c.credit_code) item.append(el("span", "item-meta", c.credit_code));
      return item;
    });
    fillSelect($("assign-company"), state.companies, (c) => c.company_id, (c) => c.name);
  }

  function renderCommunities() {
    renderList($("community-list"), state.communities, (c) => {
      const item = el("li");
      item.dataset.communityId = c.community_id;
      item.append(el("span", "item-name", c.name));
      if (c.district_name || c.street_name) {
        item.append(el("span", "item-meta", t("op.communities.where", {
          district: c.district_name ?? "", street: c.street_name ?? "",
        })));
      }
      return item;
    });
    fillSelect($("estate-community"), state.communities, (c) => c.community_id, communityLabel);
  }

  function renderEstates() {
    renderList($("estate-list"), state.estates, (e) => {
      const item = el("li");
      item.dataset.estateId = e.estate_id;
      item.append(el("span", "item-name", e.name));
      if (e.address) item.append(el("span", "item-meta", e.address));
      return item;
    });
    $("estate-more").hidden = !state.nextCursor;
    for (const id of ["assign-estate", "import-estate"]) {
      fillSelect($(id), state.estates, (e) => e.estate_id, (e) => e.name);
    }
  }

  function summaryTable(changes) {
    const list = el("dl", "summary");
    for (const key of ["buildings_added", "units_added", "units_changed", "owners_added",
      "owners_changed", "transfers", "units_unchanged"]) {
      const row = el("div");
      row.dataset.change = key;
      row.append(el("dt", null, t(`op.import.${key}`)), el("dd", null, String(changes[key] ?? 0)));
      list.append(row);
    }
    return list;
  }

  function problemTable(problems) {
    const wrap = el("div", "table-wrap");
    const table = el("table", "problems");
    table.append(el("caption", null, t("op.import.caption")));
    const head = el("tr");
    for (const key of ["line", "column", "problem"]) {
      const th = el("th", null, t(`op.import.${key}`));
      th.scope = "col";
      head.append(th);
    }
    table.append(el("thead"), el("tbody"));
    table.tHead.append(head);
    for (const p of problems) {
      const row = el("tr");
      row.append(
        // Line 0 is a problem of the whole file, not of one line.
        el("td", "num", p.line ? String(p.line) : t("op.import.wholeFile")),
        el("td", null, p.column ?? ""),
        el("td", null, p.message ?? ""));
      table.tBodies[0].append(row);
    }
    wrap.append(table);
    return wrap;
  }

  function renderImport() {
    const box = $("import-result");
    box.replaceChildren();
    const result = state.importResult;
    if (!result) return;
    if (result.kind === "rejected") {
      box.className = "import-result rejected";
      box.append(el("p", "result-lead",
        t("op.import.rejected", { count: result.problems.length })));
      box.append(problemTable(result.problems));
      return;
    }
    const reply = result.reply;
    box.className = "import-result done";
    box.append(el("p", "result-lead", t(`op.import.${result.outcome}`)));
    const changes = reply.changes ?? {};
    box.append(summaryTable(changes));
    const details = Array.isArray(changes.details) ? changes.details : [];
    if (details.length > 0) {
      const more = el("details");
      more.append(el("summary", null, t("op.import.details", { count: details.length })));
      const list = el("ul", "details");
      for (const line of details) list.append(el("li", null, line));
      more.append(list);
      box.append(more);
    }
    const problems = Array.isArray(reply.problems) ? reply.problems : [];
    if (problems.length > 0) {
      box.append(el("p", null, t("op.import.warnings")), problemTable(problems));
    }
  }

  function renderAll() {
    renderCompanies();
    renderCommunities();
    renderEstates();
    renderImport();
    renderDead();
  }

  // --- notifications that failed every retry: the operator sees why, and sends them again
  const named = (prefix, value) => {
    const text = t(`${prefix}.${value}`);
    return text === `${prefix}.${value}` ? value : text;
  };

  function renderDead() {
    renderList($("dead-list"), state.dead, (d) => {
      const item = el("li");
      item.dataset.deliveryId = d.delivery_id;
      const facts = { kind: named("inbox.kind", d.kind), channel: named("op.channel", d.channel),
        recipient: d.recipient, attempts: d.attempts };
      item.append(el("span", null, t("op.dead.item", facts)));
      if (d.last_error) {
        item.append(" ", el("span", "hint", t("op.dead.error", { error: d.last_error })));
      }
      const again = el("button", "button", t("op.dead.replay"));
      again.type = "button";
      again.setAttribute("aria-label", t("op.dead.replayLabel", facts));
      again.addEventListener("click", () => onReplay(d, again));
      item.append(" ", again);
      return item;
    });
    if (state.dead.length === 0) $("dead-list").firstChild.textContent = t("op.dead.none");
  }

  async function loadDead() {
    const reply = await call("GET", "/api/v1/notifications/dead-letters");
    state.dead = reply?.deliveries ?? [];
    renderDead();
  }

  async function onReplay(d, button) {
    await busy(button, async () => {
      try {
        await call("POST",
          `/api/v1/notifications/dead-letters/${encodeURIComponent(d.delivery_id)}/replay`,
          { body: { estate_id: d.estate_id } });
        say("success", "op.dead.replayed");
        await loadDead();
      } catch (error) {
        reportError(error);
      }
    });
  }

  async function loadCompanies() {
    const reply = await call("GET", "/api/v1/companies");
    state.companies = reply?.companies ?? [];
    renderCompanies();
  }

  async function loadCommunities() {
    const reply = await call("GET", "/api/v1/communities");
    state.communities = reply?.communities ?? [];
    for (const c of state.communities) {
      // Ids of districts and streets are used when the list carries them.
      if (c.district_id && c.district_name) state.districtIds.set(c.district_name, c.district_id);
      if (c.street_id && c.district_id && c.street_name) {
        state.streetIds.set(`${c.district_id}\n${c.street_name}`, c.street_id);
      }
    }
    renderCommunities();
  }

  async function loadEstates({ more = false } = {}) {
    const params = new URLSearchParams({ limit: "50" });
    if (more && state.nextCursor) params.set("cursor", state.nextCursor);
    const reply = await call("GET", `/api/v1/estates?${params}`);
    const page = reply?.estates ?? [];
    state.estates = more ? [...state.estates, ...page] : page;
    state.nextCursor = reply?.next_cursor || null;
    renderEstates();
  }

  async function refresh() {
    try {
      await Promise.all([loadCompanies(), loadCommunities(), loadEstates(), loadDead()]);
    } catch (error) {
      reportError(error);
    }
  }

  function submitter(event, form) {
    return event.submitter ?? form.querySelector('button[type="submit"]');
  }

  async function onCompany(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const name = $("company-name");
    const credit = $("company-credit");
    if (!requireFilled([name, credit])) return;
    await busy(submitter(event, form), async () => {
      try {
        const company = await call("POST", "/api/v1/companies", {
          body: { name: name.value.trim(), credit_code: credit.value.trim().toUpperCase() },
        });
        form.reset();
        say("success", "feedback.companyAdded", { name: company?.name ?? "" });
        await loadCompanies();
      } catch (error) {
        reportError(error);
      }
    });
  }

  async function idFor(cache, key, path, body, idName) {
    if (cache.has(key)) return cache.get(key);
    const created = await call("POST", path, { body });
    cache.set(key, created[idName]);
    return created[idName];
  }

  async function onCommunity(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const district = $("district-name");
    const street = $("street-name");
    const community = $("community-name");
    if (!requireFilled([district, street, community])) return;
    await busy(submitter(event, form), async () => {
      try {
        const districtName = district.value.trim();
        const streetName = street.value.trim();
        const districtId = await idFor(state.districtIds, districtName, "/api/v1/districts",
          { name: districtName }, "district_id");
        const streetId = await idFor(state.streetIds, `${districtId}\n${streetName}`,
          "/api/v1/streets", { district_id: districtId, name: streetName }, "street_id");
        const created = await call("POST", "/api/v1/communities", {
          body: { street_id: streetId, name: community.value.trim() },
        });
        // District and street stay filled: the next community is often in the same street.
        community.value = "";
        say("success", "feedback.communityAdded", { name: created?.name ?? "" });
        await loadCommunities();
      } catch (error) {
        reportError(error);
      }
    });
  }

  async function onEstate(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const name = $("estate-name");
    const community = $("estate-community");
    const address = $("estate-address");
    if (state.communities.length === 0) {
      say("error", "error.noCommunity");
      $("district-name").focus();
      return;
    }
    if (!requireFilled([name, community, address])) return;
    await busy(submitter(event, form), async () => {
      try {
        const estate = await call("POST", "/api/v1/estates", {
          body: {
            name: name.value.trim(),
            community_id: community.value,
            address: address.value.trim(),
          },
        });
        form.reset();
        say("success", "feedback.estateAdded", { name: estate?.name ?? "" });
        await loadEstates();
        for (const id of ["assign-estate", "import-estate"]) $(id).value = estate.estate_id;
      } catch (error) {
        reportError(error);
      }
    });
  }

  async function onAssign(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const estate = $("assign-estate");
    const company = $("assign-company");
    const starts = $("assign-starts");
    if (!requireFilled([estate, company, starts])) return;
    await busy(submitter(event, form), async () => {
      try {
        await call("PUT", `/api/v1/estates/${encodeURIComponent(estate.value)}/company`, {
          body: { company_id: company.value, starts_on: starts.value },
        });
        say("success", "feedback.companyAssigned", {
          company: company.selectedOptions[0]?.text ?? "",
          estate: estate.selectedOptions[0]?.text ?? "",
          date: starts.value,
        });
      } catch (error) {
        reportError(error);
      }
    });
  }

  async function onImport(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const estate = $("import-estate");
    const file = $("import-file");
    if (!requireFilled([estate])) return;
    if (file.files.length === 0) {
      file.setAttribute("aria-invalid", "true");
      say("error", "error.noFile");
      file.focus();
      return;
    }
    file.setAttribute("aria-invalid", "false");
    const button = submitter(event, form);
    const dryRun = button.dataset.mode !== "apply";
    const path = `/api/v1/estates/${encodeURIComponent(estate.value)}/imports`
      + (dryRun ? "?dry_run=true" : "");
    state.importResult = null;
    renderImport();
    say("info", "op.import.busy");
    await busy(button, async () => {
      try {
        const reply = await call("POST", path, { raw: file.files[0], contentType: "text/csv" });
        // An import that would change nothing is not applied; it is not a mere check either.
        const outcome = dryRun ? "checked" : reply?.applied ? "applied" : "unchanged";
        state.importResult = { kind: "done", reply, outcome };
        renderImport();
        say("success", `op.import.${outcome}Feedback`);
      } catch (error) {
        const problems = error instanceof ApiError && error.status === 422
          ? error.problem?.problems : null;
        if (Array.isArray(problems) && problems.length > 0) {
          state.importResult = { kind: "rejected", problems };
          renderImport();
          say("error", "op.import.rejected", { count: problems.length });
          $("import-result").focus();
        } else {
          reportError(error);
        }
      }
    });
  }

  async function onMore(event) {
    await busy(event.currentTarget, async () => {
      try {
        await loadEstates({ more: true });
      } catch (error) {
        reportError(error);
      }
    });
  }

  $("company-form").addEventListener("submit", onCompany);
  $("community-form").addEventListener("submit", onCommunity);
  $("estate-form").addEventListener("submit", onEstate);
  $("assign-form").addEventListener("submit", onAssign);
  $("import-form").addEventListener("submit", onImport);
  $("estate-more").addEventListener("click", onMore);
  $("assign-starts").value = today();
  onLanguage(renderAll);
  renderAll();
  refresh();
  return { refresh };
}

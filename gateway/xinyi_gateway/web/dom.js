// Small DOM helpers the area modules share.

/** An element: attributes (class; value; on<event>; the rest as they are) and children. */
export function h(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "value") node.value = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...kids.flat(Infinity).filter((x) => x || x === 0));
  return node;
}

/** The page's language, as the shell set it on <html>. */
export const lang = () => document.documentElement.lang || "zh-CN";

/** A moment in the reader's style ("2026年11月26日 18:05" / "Nov 26, 2026, 6:05 PM"). */
export function when(iso) {
  const date = new Date(iso ?? "");
  return Number.isNaN(date.getTime()) ? ""
    : new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "short" }).format(date);
}

/** Integer fen as "1,234.56" (yuan with fen), without floating point. */
export function yuanDigits(fen) {
  const abs = Math.abs(fen);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${fen < 0 ? "−" : ""}${whole}.${String(abs % 100).padStart(2, "0")}`;
}

/**
 * Marks the fields under `root` the person changes, for `redrawKeeping`; a form submitted
 * gives up its marks (what was chosen is the view's state now).
 */
export function markTyped(root) {
  const mark = (event) => {
    if (event.target.id) event.target.dataset.typed = "";
  };
  root.addEventListener("input", mark);
  root.addEventListener("change", mark);
  root.addEventListener("submit", (event) => {
    for (const field of event.target.querySelectorAll("[data-typed]")) delete field.dataset.typed;
  });
}

/**
 * Redraws `root` with `draw` (which replaces its children), keeping what the person was doing
 * there: each field they changed since it was drawn (see `markTyped`) keeps its value, by id,
 * and the field they were in keeps the focus. Views redraw as their data arrives, which may be
 * while someone types or picks: a field drawn anew would submit what they did not choose.
 */
export function redrawKeeping(root, draw) {
  const typed = [...root.querySelectorAll("[data-typed][id]")].map((f) => [f.id, f.value]);
  const active = document.activeElement;
  const focused = active && active !== root && root.contains(active) ? active.id : "";
  draw();
  for (const [id, value] of typed) {
    const field = document.getElementById(id);
    if (!field || !root.contains(field)) continue;
    field.value = value;
    field.dataset.typed = "";
  }
  if (focused && document.activeElement !== document.getElementById(focused)) {
    document.getElementById(focused)?.focus();
  }
}

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

// Text and languages in the pages: every word a script shows comes from the page's catalog
// (web/i18n/<locale>.json, embedded by web/templates/base.html as <script id="i18n">), through
// t("key", {params}). A message may depend on a count ({"one": ..., "other": ...}, picked with
// Intl.PluralRules); {name} in a message is a parameter. docs/architecture.md, "Text and
// languages".

const node = document.getElementById("i18n");
const catalog = node ? JSON.parse(node.textContent) : {};

/** The page's locale ("zh-CN" or "en"), as the server chose it. */
export const locale = document.documentElement.lang || "zh-CN";

const plurals = new Intl.PluralRules(locale);
const numbers = new Intl.NumberFormat(locale);

export function has(key) {
  return Object.prototype.hasOwnProperty.call(catalog, key);
}

/** t("stock.only_left", {count: 3}) -> "Only 3 left" / "仅剩 3 件"; an unknown key gives the key. */
export function t(key, params = {}) {
  let text = has(key) ? catalog[key] : key;
  if (text && typeof text === "object") {
    const form = typeof params.count === "number" ? plurals.select(params.count) : "other";
    text = text[form] ?? text.other;
  }
  return String(text).replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in params)) return whole;
    const value = params[name];
    return typeof value === "number" && name === "count" ? numbers.format(value) : String(value);
  });
}

/**
 * An API error in the reader's words: its code's message ("errors.<code>"), else the API's own
 * (English) message, else `fallbackKey`'s text.
 */
export function errorText(error, fallbackKey = "common.something_wrong") {
  const code = error && error.code;
  if (code && has(`errors.${code}`)) return t(`errors.${code}`);
  return (error && error.message) || t(fallbackKey);
}

// Text and languages in the pages: every word a script shows comes from the page's catalog
// (web/i18n/<locale>.json, embedded by web/templates/base.html as <script id="i18n">), through
// t("key", {params}). A message may depend on a count ({"one": ..., "other": ...}, picked
// with Intl.PluralRules); {name} in a message is a parameter. docs/architecture.md, "Text and
// languages".
//
// The page carries the keys the scripts use, found by reading the scripts at the server's
// start-up (web/i18n.py, script_keys): write a key as t("a.b"), has("a.b"),
// t(flag ? "a.b" : "a.c") or t(`a.${x}`) so that it is found.

const node = document.getElementById("i18n");
const catalog = node ? JSON.parse(node.textContent) : {};

/** The page's locale ("zh-CN" or "en"), as the server chose it. */
export const locale = document.documentElement.lang || "zh-CN";

const plurals = new Intl.PluralRules(locale);
const numbers = new Intl.NumberFormat(locale);

export function has(key) {
  return Object.prototype.hasOwnProperty.call(catalog, key);
}

const reported = new Set();

/** t("stock.only_left", {count: 3}) -> "Only 3 left" / "仅剩 3 件"; an unknown key gives the key. */
export function t(key, params = {}) {
  if (!has(key) && node && !reported.has(key)) {
    // Said once, as an error: the browser tests fail on it.
    reported.add(key);
    console.error(`i18n: no message for ${key}`);
  }
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

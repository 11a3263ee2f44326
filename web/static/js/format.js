// The front end's formatters, one of each: money, date and time, counts, stock, countdowns,
// all in the page's locale (web/static/js/i18n.js). Money arrives as integer minor units plus
// an ISO 4217 currency code, never a float. The server writes the same text first
// (web/i18n.py's format_money / format_datetime); the two are kept in step by a test.
import {locale, t} from "./i18n.js";

const moneyFormats = new Map();

function moneyFormat(currency) {
  let format = moneyFormats.get(currency);
  if (!format) {
    // Throws for a code that is not a currency; the callers fall back to plain text.
    // CNY reads "¥" in both languages (its narrow symbol; Intl's English default is "CN¥").
    format = new Intl.NumberFormat(locale, {style: "currency", currency,
                                            ...(currency === "CNY" ? {currencyDisplay: "narrowSymbol"} : {})});
    moneyFormats.set(currency, format);
  }
  return format;
}

/** How many minor units make a major one, as a power of ten (USD 2, JPY 0, KWD 3). */
export function minorDigits(currency) {
  try {
    return moneyFormat(currency).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** 1999 USD -> "$19.99", 4800 JPY -> "¥4,800"; "–" where there is no amount. */
export function formatMoney(minor, currency) {
  if (minor === null || minor === undefined || !currency) return "–";
  const digits = minorDigits(currency);
  try {
    return moneyFormat(currency).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

/** Axis labels: "$1.2k" rather than "$1,234.00". */
export function formatMoneyShort(minor, currency) {
  const digits = minorDigits(currency);
  const major = Math.abs(minor) / 10 ** digits;
  if (major < 1000) return formatMoney(minor, currency).replace(/[.,]0+(?=\D*$)/, "");
  const symbol = formatMoney(0, currency).replace(/[\d.,\s-]/g, "");
  const scaled = major >= 1e6 ? `${(major / 1e6).toFixed(1)}M` : `${(major / 1e3).toFixed(1)}k`;
  return symbol.length <= 2 ? `${symbol}${scaled}` : `${scaled} ${currency}`;
}

/** "19.99" -> 1999 for USD, exactly (no floating point). Returns null when not a price. */
export function parsePrice(text, currency) {
  const digits = minorDigits(currency);
  const clean = String(text).trim().replace(/[\s,]/g, "");
  const match = /^(\d+)(?:\.(\d*))?$/.exec(clean);
  if (!match) return null;
  const fraction = match[2] || "";
  if (fraction.length > digits) return null;
  return Number(match[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
}

/** A major-unit amount for an input's value: 1999 USD -> "19.99". */
export function majorAmount(minor, currency) {
  const digits = minorDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}

export function formatStock(stock) {
  if (stock <= 0) return t("stock.sold_out");
  if (stock <= 5) return t("stock.only_left", {count: stock});
  return t("stock.in_stock", {count: stock});
}

/** 1234 -> "1,234"; 12345 -> "12K" / "1.2万". */
export function formatCount(n) {
  return new Intl.NumberFormat(locale, {notation: n >= 10000 ? "compact" : "standard"}).format(n);
}

export function formatPercent(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
}

const dateFormats = new Map();

/**
 * A moment (ISO text, epoch ms or a Date) in the reader's local time, with the zone:
 * "Fri, Nov 20, 2026, 8:00 PM UTC". `date: false` leaves the day out (a clock time),
 * `seconds: true` adds them, and `zone: false` is for chart ticks whose axis names the zone
 * once. "" for a missing or unreadable value.
 */
export function formatDateTime(value, {date = true, seconds = false, zone = true} = {}) {
  if (value === null || value === undefined || value === "") return "";
  const moment = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(moment.getTime())) return "";
  const key = `${date}|${seconds}|${zone}`;
  let format = dateFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, {
      ...(date ? {weekday: "short", year: "numeric", month: "short", day: "numeric"} : {}),
      hour: "numeric", minute: "2-digit", ...(seconds ? {second: "2-digit"} : {}),
      ...(zone ? {timeZoneName: "short"} : {}),
    });
    dateFormats.set(key, format);
  }
  return format.format(moment);
}

/** The reader's zone as the date formatter names it ("UTC", "CET"), for chart axes. */
export function localZoneName() {
  const part = new Intl.DateTimeFormat(locale, {timeZoneName: "short"})
    .formatToParts(new Date()).find((p) => p.type === "timeZoneName");
  return part ? part.value : "";
}

/** "1:05" (or "1:02:05"), rounded up: a countdown reads 0:00 only when it is over. */
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

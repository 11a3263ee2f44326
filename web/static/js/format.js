// Money and time formatting. Money arrives as integer minor units plus an ISO currency code.

const formatters = new Map();

function currencyFormatter(currency) {
  if (!formatters.has(currency)) {
    formatters.set(currency, new Intl.NumberFormat(undefined, {style: "currency", currency}));
  }
  return formatters.get(currency);
}

/** How many minor units make a major one, as a power of ten (USD 2, JPY 0). */
export function minorDigits(currency) {
  try {
    return currencyFormatter(currency).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

export function formatPrice(minor, currency) {
  try {
    const digits = minorDigits(currency);
    return currencyFormatter(currency).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
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

export function formatStock(stock) {
  if (stock <= 0) return "Sold out";
  if (stock <= 5) return `Only ${stock} left`;
  return `${stock.toLocaleString()} in stock`;
}

export function formatCount(n) {
  return new Intl.NumberFormat(undefined, {notation: n >= 10000 ? "compact" : "standard"}).format(n);
}

export function formatWhen(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(undefined, {weekday: "short", month: "short", day: "numeric",
                                             hour: "numeric", minute: "2-digit"}).format(date);
}

export function formatClock(epochMs) {
  return new Intl.DateTimeFormat(undefined, {hour: "numeric", minute: "2-digit"}).format(new Date(epochMs));
}

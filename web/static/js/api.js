// The one client for the app's own JSON API. Calls go with the session cookie, same origin
// only; the browser's Origin header on every POST/PUT/PATCH/DELETE is what the server checks
// against cross-site requests (web/auth.py), so no token travels in the page.
//
// A 4xx/5xx answer's `{"error": {"code", "message", "field"}}` becomes a thrown ApiError with
// the same `code`, `field` and `message` (and the status); no answer at all is code "network".

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (${status})`);  // i18n-ignore: the API's English
    this.status = status;
    this.code = error.code || (status === 0 ? "network" : "error");
    this.field = error.field;
    this.errors = error.errors;
    this.detail = error;  // the whole error object: some carry more (sold_out's `remaining`)
  }
}

/**
 * api("POST", "/api/rooms", {title}) -> the parsed JSON reply (null when empty).
 * options.headers: extra headers (an Idempotency-Key); options.keepalive: the request may
 * outlive the page (analytics sent as the viewer leaves).
 */
export async function api(method, path, body, {headers = {}, keepalive = false} = {}) {
  const init = {method, credentials: "same-origin", keepalive,
                headers: {Accept: "application/json", ...headers}};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    // The pages show it in words by its code (i18n.js errorText: "errors.network").
    throw new ApiError(0, {error: {code: "network"}});
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

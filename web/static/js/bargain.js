// The bargain pages (templates bargain_offer.html, bargain.html): Start bargaining on an offer;
// on a bargain, every friend's cut, the price now, the friends still needed and the time left,
// Help for friends and Buy for the buyer, read again every few seconds while it can change, or
// at once on the buyer's own events when a live room open in another tab passes them on
// (bargain-relay.js).
// The rule is published (docs/social.md, "Bargaining"): the page only shows what the server
// decided.
import {askAddress} from "./address.js";
import {api} from "./api.js";
import {listenBargainNews} from "./bargain-relay.js";
import {$, h, readBoot, toast} from "./dom.js";
import {formatCountdown, formatMoney} from "./format.js";
import {errorText, t} from "./i18n.js";

// How often an open bargain's page reads it again: a friend's cut shows within this.
const REFRESH_MS = 2000;
// How often, instead, while a live room's socket passes the buyer's events on: a fallback for
// a lost message (and the deadline).
const RELAYED_REFRESH_MS = 20000;

const boot = readBoot();

// The offer page: Start bargaining -----------------------------------------------------------

const start = $("#bargain-start");
if (start && boot.offer) {
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const {bargain_id: id} = await api("POST", `/api/bargain-offers/${boot.offer.id}/bargains`);
      window.location.assign(`/bargains/${id}`);
    } catch (error) {
      start.disabled = false;
      toast(errorText(error), "error");
    }
  });
}

// The bargain page -----------------------------------------------------------------------------

let bargain = boot.bargain || null;
// The server's clock minus ours: the time left is the server's.
let skewMs = bargain ? bargain.server_now_ms - Date.now() : 0;
let buyKey = null;
let lastRead = Date.now();
// The buyer's events passed on by a live room's tab, counted on the card (`data-news-heard`,
// for the browser tests).
let newsHeard = 0;

function money(minor) {
  return formatMoney(minor, bargain.currency);
}

function timeLeftText() {
  const left = bargain.ends_at_ms - (Date.now() + skewMs);
  return left > 0 ? t("bargain.time_left", {time: formatCountdown(left)}) : t("bargain.ended");
}

function statusText() {
  if (bargain.bought) return t("bargain.status.bought");
  if (bargain.complete) return t("bargain.status.complete", {price: money(bargain.price_minor)});
  if (!bargain.open) return t("bargain.status.expired");
  return "";
}

function render() {
  $("#bargain-price").textContent = money(bargain.price_minor);
  $("#bargain-progress").textContent = t("bargain.progress", {
    count: bargain.helpers, needed: bargain.helpers_needed, to_go: money(bargain.to_go_minor)});
  $("#bargain-bar-fill").style.width = `${Math.round(100 * bargain.helpers / bargain.helpers_needed)}%`;
  $("#bargain-time-left").textContent = timeLeftText();
  $("#bargain-status").textContent = statusText();
  $("#bargain-cuts").replaceChildren(...bargain.cuts.map((cut) => h("li", {
    class: "bargain-cut", "data-testid": "bargain-cut", "data-seq": cut.seq},
  h("span", {class: "bargain-cut-name"}, cut.name),
  h("span", {class: "bargain-cut-amount"}, t("bargain.cut_amount", {amount: money(cut.amount_minor)})),
  h("span", {class: "muted small"}, t("bargain.price_after", {price: money(cut.price_after_minor)})))));
  if (!bargain.cuts.length) {
    $("#bargain-cuts").append(h("li", {class: "muted", "data-testid": "bargain-no-cuts"}, t("bargain.no_cuts")));
  }
  renderActions();
}

function renderActions() {
  const viewer = bargain.viewer;
  const actions = [];
  if (viewer.is_buyer) {
    $("#bargain-share").hidden = !bargain.open || bargain.bought || bargain.complete;
    $("#bargain-share-url").value = window.location.href;
    if (viewer.can_buy) {
      actions.push(h("button", {type: "button", class: "btn btn-primary", "data-testid": "bargain-buy", onclick: buy},
        t("bargain.buy", {price: money(bargain.price_minor)})));
    }
    if (bargain.order) {
      actions.push(h("p", {class: "muted", "data-testid": "bargain-order", "data-status": bargain.order.status},
        t("bargain.order", {id: bargain.order.id, status: t(`bargain.order_status.${bargain.order.status}`)})));
    }
  } else if (!viewer.signed_in) {
    actions.push(h("a", {class: "btn btn-primary", href: `/login?next=${encodeURIComponent(window.location.pathname)}`,
      "data-testid": "bargain-sign-in"}, t("bargain.sign_in_to_help")));
  } else if (viewer.helped) {
    actions.push(h("p", {class: "muted", "data-testid": "bargain-helped"}, t("bargain.you_helped")));
  } else if (viewer.can_help) {
    actions.push(h("button", {type: "button", class: "btn btn-primary", "data-testid": "bargain-help", onclick: help},
      t("bargain.help", {cut: money(bargain.next_cut_minor)})));
  }
  $("#bargain-actions").replaceChildren(...actions);
}

async function refresh() {
  lastRead = Date.now();
  try {
    bargain = await api("GET", `/api/bargains/${bargain.id}`);
    skewMs = bargain.server_now_ms - Date.now();
    render();
  } catch {
    // Read again on the next tick.
  }
}

async function help(event) {
  event.currentTarget.disabled = true;
  try {
    const reply = await api("POST", `/api/bargains/${bargain.id}/help`);
    toast(t("bargain.thanks", {cut: money(reply.cut_minor)}), "success");
  } catch (error) {
    toast(errorText(error), "error");
  }
  await refresh();
}

async function place() {
  // One key per press of Buy, reused after the address is given.
  const options = {headers: {"Idempotency-Key": buyKey}};
  try {
    return await api("POST", `/api/bargains/${bargain.id}/buy`, undefined, options);
  } catch (error) {
    if (error.code !== "address_required") throw error;
    if (!await askAddress($("#address-dialog"), $("#address-form"))) return null;
    return api("POST", `/api/bargains/${bargain.id}/buy`, undefined, options);
  }
}

async function buy(event) {
  event.currentTarget.disabled = true;
  buyKey = (crypto.randomUUID && crypto.randomUUID()) || `k${Date.now()}${Math.random().toString(16).slice(2)}`;
  try {
    const reply = await place();
    if (reply) {
      window.location.assign(reply.order.payment_url);
      return;
    }
  } catch (error) {
    toast(errorText(error), "error");
  }
  await refresh();
}

if (bargain) {
  render();
  const relayed = !bargain.viewer.is_buyer ? () => false : listenBargainNews({
    userId: bargain.buyer.id,
    onNews: (message) => {
      const d = message.data || {};
      if ((message.type === "bargain" && d.bargain_id === bargain.id) || message.type === "order") {
        newsHeard += 1;
        $("[data-testid=bargain]").dataset.newsHeard = String(newsHeard);
        refresh();
      }
    },
    // Whatever happened before the room's socket carried the news.
    onLive: () => refresh(),
  });
  setInterval(() => {
    $("#bargain-time-left").textContent = timeLeftText();
  }, 1000);
  setInterval(() => {
    // While friends can still help, and while the buyer's order awaits its payment.
    const awaiting = bargain.order && bargain.order.status === "pending_payment";
    if (!(awaiting || (bargain.open && !bargain.bought)) || document.visibilityState !== "visible") return;
    if (relayed() && Date.now() - lastRead < RELAYED_REFRESH_MS) return;
    refresh();
  }, REFRESH_MS);
}

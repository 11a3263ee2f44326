// A short video's page: the video (HLS ladder, poster first) and its product tags, each
// shown as a card from its moment on; a card opens the product, buyable at its current regular
// price (labelled so: today's price, not the show's) in a size and colour, the order attributed
// to this video or replay (room-shop.js's shop). A room's replay (its tags are the show's pins)
// also lists a chapter per product that jumps to where it was presented.
import {api} from "./api.js";
import {$, h, productImage, readBoot} from "./dom.js";
import {formatMoney, formatStock} from "./format.js";
import {errorText, t} from "./i18n.js";
import {playRecorded} from "./player.js";
import {mountShop} from "./room-shop.js";
import {showProductReviews} from "./social.js";
import {newKey} from "./room-sale.js";

const boot = readBoot();
const video = $("#short-video");
const cards = $("#tag-cards");
const dialog = $("#product-dialog");
const tags = [...(boot.tags || [])].sort((a, b) => a.at_ms - b.at_ms);
const isReplay = Boolean(boot.video.room_id);
const priceLabel = t("video.current_price");
// Products on flash sale right now (by product id): buyable from here, the order attributed
// to this video or replay.
const sales = boot.sales || {};
const source = {kind: isReplay ? "replay" : "video", id: boot.video.id};
// Any tagged product at its current regular price, any time: the dialog's sizes, colours,
// quantity and Buy, the address asked the first time, and the viewer's order from here.
const shop = boot.video.status === "ready"
  ? mountShop({me: boot.me, video: source, slots: {dialog: $("#product-dialog-shop")}}) : null;
let shown = -1; // how many tags are on screen

window.livesell = {video, tags};

function openProduct(product) {
  $("#product-dialog-title").textContent = product.title;
  $("#product-dialog-price").textContent = priceLabel + formatMoney(product.price_minor, product.currency);
  $("#product-dialog-stock").textContent = formatStock(product.stock);
  $("#product-dialog-desc").textContent = product.description || "";
  $("#product-dialog-image").replaceChildren(productImage(product, "product-dialog-img"));
  showProductReviews(product.id);
  renderBuy(product);
  if (shop) shop.showInDialog(product);
  dialog.showModal();
}

/** The dialog's buy button when the product is on flash sale now. One Idempotency-Key per
 * opening of the dialog: a second tap (or a retry after a network error) cannot buy twice. */
function renderBuy(product) {
  const box = $("#product-dialog-buy");
  const sale = sales[String(product.id)];
  box.hidden = !sale;
  if (!sale) { box.replaceChildren(); return; }
  const key = newKey();
  const note = h("p", {class: "muted", "data-testid": "video-buy-note"});
  const button = h("button", {type: "button", class: "btn btn-primary btn-block", "data-testid": "video-buy",
    onclick: async () => {
      if (!boot.me) {
        window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
        return;
      }
      button.disabled = true;
      note.textContent = t("video.reserving");
      try {
        const reply = await api("POST", `/api/sales/${sale.id}/buy`, {quantity: 1, source},
                                {headers: {"Idempotency-Key": key}});
        note.replaceChildren(t("video.reserved"), " ", h("a", {href: reply.order.payment_url, "data-testid": "video-pay"},
                                                          t("video.pay_now")));
        note.dataset.orderId = String(reply.order.id);
      } catch (error) {
        note.textContent = errorText(error);
        button.disabled = false;
      }
    }}, t("video.buy_from_sale", {price: formatMoney(sale.price_minor, sale.currency)}));
  box.replaceChildren(button, note);
}

function renderTags() {
  const nowMs = video.currentTime * 1000;
  const due = tags.filter((tag) => tag.at_ms <= nowMs).length;
  if (due === shown) return;
  shown = due;
  // The latest first: the product being talked about now is on top.
  cards.replaceChildren(...tags.slice(0, due).reverse().map((tag) => h("li", {class: "tag-card"},
    h("button", {type: "button", class: "tag-card-btn", "data-testid": "tag-card",
                 "data-product-id": String(tag.product.id), onclick: () => openProduct(tag.product)},
      productImage(tag.product, "tag-card-img"),
      h("span", {class: "tag-card-body"},
        h("span", {class: "tag-card-title"}, tag.product.title),
        h("span", {class: "tag-card-price"},
          priceLabel + formatMoney(tag.product.price_minor, tag.product.currency)))))));
}

function renderChapters() {
  const list = $("#chapters");
  if (!isReplay || !tags.length) return;
  const first = new Map(); // product id -> its first tag
  for (const tag of tags) if (!first.has(tag.product.id)) first.set(tag.product.id, tag);
  list.replaceChildren(...[...first.values()].map((tag) => h("li", {},
    h("button", {type: "button", class: "chapter-btn", "data-testid": "chapter",
                 "data-at-ms": String(tag.at_ms),
                 onclick: () => { video.currentTime = tag.at_ms / 1000; video.play().catch(() => {}); }},
      h("span", {class: "chapter-time"}, formatClock(tag.at_ms)), " ", tag.product.title))));
  $("#chapters-section").hidden = false;
}

function formatClock(ms) {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

// Analytics (POST /api/videos/{id}/track; analytics/videos.py): a view when playback first
// starts on this page load, the seconds actually played (heartbeats every 15 s of playing and
// one as the page goes away), and each tap on a product card (once per product per 2 s). A
// failure is ignored: analytics never get in the viewer's way.
const HEARTBEAT_SECONDS = 15;
const CLICK_GAP_MS = 2000;
let viewSent = false;
let played = 0;          // seconds played and not yet reported
let lastTime = null;     // the playhead at the last timeupdate, null after a seek
const lastClick = new Map();

function track(body) {
  api("POST", `/api/videos/${boot.video.id}/track`, body, {keepalive: true}).catch(() => {});
}

function reportWatched(force) {
  const seconds = Math.min(60, Math.floor(played));
  if (seconds >= 1 && (force || seconds >= HEARTBEAT_SECONDS)) {
    played -= seconds;
    track({event: "video_watch", seconds});
  }
}

video.addEventListener("playing", () => {
  if (!viewSent) { viewSent = true; track({event: "video_view"}); }
});
video.addEventListener("timeupdate", () => {
  const now = video.currentTime;
  // Only time that played counts: a jump (a seek, a chapter) is not watching.
  if (lastTime !== null && now > lastTime && now - lastTime < 2 && !video.paused) played += now - lastTime;
  lastTime = now;
  reportWatched(false);
});
video.addEventListener("seeking", () => { lastTime = null; });
video.addEventListener("pause", () => reportWatched(true));
window.addEventListener("pagehide", () => reportWatched(true));
document.addEventListener("visibilitychange", () => { if (document.hidden) reportWatched(true); });
cards.addEventListener("click", (event) => {
  const card = event.target instanceof Element ? event.target.closest("[data-product-id]") : null;
  const id = Number(card && card.dataset.productId);
  if (!Number.isInteger(id) || id <= 0) return;
  const now = Date.now();
  if (now - (lastClick.get(id) || 0) < CLICK_GAP_MS) return;
  lastClick.set(id, now);
  track({event: "product_click", product_id: id});
}, {capture: true});

video.addEventListener("timeupdate", renderTags);
video.addEventListener("seeked", renderTags);
if (boot.video.playlist_url) {
  playRecorded(video, boot.video.playlist_url, boot.hls_js).catch(() => {
    $("#video-note").textContent = t("player.failed");
  });
}
renderTags();
renderChapters();

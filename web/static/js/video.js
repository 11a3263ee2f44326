// A short video's page: the video (HLS ladder, poster first) and its product tags, each
// shown as a card from its moment on; a card opens the product. A room's replay (its tags are
// the show's pins) also lists a chapter per product that jumps to where it was presented, and
// labels prices as today's: the product's current price, not the show's.
import {$, h, productImage, readBoot} from "./dom.js";
import {formatMoney, formatStock} from "./format.js";
import {t} from "./i18n.js";
import {playRecorded} from "./player.js";

const boot = readBoot();
const video = $("#short-video");
const cards = $("#tag-cards");
const dialog = $("#product-dialog");
const tags = [...(boot.tags || [])].sort((a, b) => a.at_ms - b.at_ms);
const isReplay = Boolean(boot.video.room_id);
const priceLabel = isReplay ? t("video.current_price") : "";
let shown = -1; // how many tags are on screen

window.livesell = {video, tags};

function openProduct(product) {
  $("#product-dialog-title").textContent = product.title;
  $("#product-dialog-price").textContent = formatMoney(product.price_minor, product.currency);
  $("#product-dialog-stock").textContent = formatStock(product.stock);
  $("#product-dialog-desc").textContent = product.description || "";
  $("#product-dialog-image").replaceChildren(productImage(product, "product-dialog-img"));
  dialog.showModal();
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

video.addEventListener("timeupdate", renderTags);
video.addEventListener("seeked", renderTags);
if (boot.video.playlist_url) {
  playRecorded(video, boot.video.playlist_url, boot.hls_js).catch(() => {
    $("#video-note").textContent = t("player.failed");
  });
}
renderTags();
renderChapters();

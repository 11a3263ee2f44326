// The live room: video, status, viewer count, likes with floating hearts, the
// pinned product card, the lineup and the chat, all kept live over the websocket.
import {api} from "./api.js";
import {relayBargainNews} from "./bargain-relay.js";
import {ChatComposer, ChatView} from "./chat.js";
import {$, h, productImage, readBoot, toast} from "./dom.js";
import {formatCount, formatDateTime, formatMoney, formatStock} from "./format.js";
import {t} from "./i18n.js";
import {LiveVideo} from "./player.js";
import {mountRoomBargains} from "./room-bargains.js";
import {mountChatBuy} from "./room-chat-buy.js";
import {mountRoomEngagement} from "./room-engagement.js";
import {mountRoomSale, orderStatus} from "./room-sale.js";
import {mountRoomCoupons} from "./room-coupons.js";
import {mountRoomGroups} from "./room-groups.js";
import {mountShop} from "./room-shop.js";
import {trackProductCards} from "./room-tracking.js";
import {mountRemind, mountReviewCard, mountSeller, setUnread, showProductReviews} from "./social.js";
import {describeConnection, RoomSocket} from "./socket.js";
import {RoomStore} from "./store.js";

const boot = readBoot();
const me = boot.me;
const store = new RoomStore({room: boot.room, lineup: boot.lineup, pin: boot.pin,
                             on_air: Boolean(boot.video?.on_air)});
const roomId = boot.room.id;
const hostId = boot.room.host_id;

// The page's state and connection, for the browser tests to read and drive.
window.livesell = {store, socket: null, errors: store.errors};

// Status, banner and video -------------------------------------------------------

const player = $("#player");
const poster = $("#poster");
const posterText = $("#poster-text");
const banner = $("#status-banner");
const statusBadge = $("#status-badge");
// The video and its poster belong to the player module (the ingest's HLS, a pasted URL).
const liveVideo = new LiveVideo({video: player, poster, posterText, hlsUrl: boot.video?.hls_url,
                                 hlsScript: boot.video?.hls_js, onAir: store.state.on_air});
window.livesell.video = liveVideo;

function renderRoom() {
  const room = store.state.room;
  document.getElementById("room").dataset.status = room.status;
  $("#room-title").textContent = room.title;
  document.title = `${room.title} · livesell`;
  statusBadge.textContent = t(`common.status.${room.status}`);
  statusBadge.dataset.status = room.status;
  const when = room.status === "scheduled" && room.scheduled_at ? t("room.starts", {when: formatDateTime(room.scheduled_at)}) : "";
  $("#room-when").textContent = when;

  banner.hidden = room.status === "live";
  banner.dataset.status = room.status;
  if (room.status === "scheduled") {
    banner.textContent = room.scheduled_at
      ? t("room.banner_starts", {when: formatDateTime(room.scheduled_at)})
      : t("room.banner_not_started");
  } else if (room.status === "ended") {
    banner.replaceChildren(t("room.banner_ended"), h("a", {href: "/"}, t("room.see_live_now")));
  }

  $("#chat-empty").textContent = room.status === "ended" ? t("room.chat_closed")
    : me ? t("room.chat_quiet") : t("room.chat_none");

  liveVideo.show(room);
}

// Viewers and likes ----------------------------------------------------------------

const viewerCount = $("#viewer-count");
const likeCount = $("#like-count");
const hearts = $("#hearts");
const likeButton = $("#like-btn");
let pendingLikes = 0;
let unechoedLikes = 0;
let likeTimer = null;
// Likes are sent in batches: one frame every 400 ms at most, up to the 50 a frame allows.
const LIKE_FLUSH_MS = 400;

function heart(mine) {
  if (hearts.childElementCount > 40) return;
  const node = h("span", {class: `heart${mine ? " mine" : ""}`});
  node.style.setProperty("--x", `${Math.round((Math.random() - 0.5) * 60)}px`);
  node.style.setProperty("--hue", String(330 + Math.round(Math.random() * 40)));
  node.style.setProperty("--dur", `${1.6 + Math.random() * 0.9}s`);
  node.addEventListener("animationend", () => node.remove());
  hearts.append(node);
}

function flushLikes() {
  likeTimer = null;
  if (pendingLikes <= 0) return;
  const count = Math.min(pendingLikes, 50);
  if (window.livesell.socket.send({type: "like", count})) {
    pendingLikes -= count;
    unechoedLikes += count;
  }
  if (pendingLikes > 0) likeTimer = setTimeout(flushLikes, LIKE_FLUSH_MS);
}

likeButton.addEventListener("click", () => {
  if (!me) {
    toast(t("room.sign_in_to_like"), "info");
    return;
  }
  if (store.state.room.status === "ended") return;
  heart(true);
  likeButton.classList.remove("bump");
  void likeButton.offsetWidth;
  likeButton.classList.add("bump");
  pendingLikes += 1;
  likeCount.textContent = formatCount(store.state.likes + pendingLikes + unechoedLikes);
  if (!likeTimer) likeTimer = setTimeout(flushLikes, LIKE_FLUSH_MS);
});

store.on("viewers", (count) => { viewerCount.textContent = formatCount(count); });
store.on("likes", ({delta = 0}) => {
  // Our own likes come back in the aggregate: only float hearts for everyone else's.
  const others = Math.max(0, delta - unechoedLikes);
  unechoedLikes = Math.max(0, unechoedLikes - delta);
  likeCount.textContent = formatCount(store.state.likes + pendingLikes + unechoedLikes);
  for (let i = 0; i < Math.min(others, 6); i += 1) setTimeout(() => heart(false), i * 120);
});

// Pinned product and lineup -------------------------------------------------------

const pinCard = $("#pin-card");
// The room's bargain offers: a badge on the offered products' cards and a line on the pinned
// one, each leading to the offer's page.
const bargains = mountRoomBargains({store, roomId});
window.livesell.bargains = bargains;

function renderPin() {
  const pin = store.state.pin;
  const had = pinCard.dataset.productId;
  pinCard.dataset.empty = pin ? "false" : "true";
  pinCard.dataset.productId = pin ? String(pin.id) : "";
  $("#pin-empty").hidden = Boolean(pin);
  $("#pin-product").hidden = !pin;
  if (!pin && pinCard.dataset.open === "true") closeSheets();
  if (pin) {
    $("#pin-title").textContent = pin.title;
    $("#pin-price").textContent = formatMoney(pin.price_minor, pin.currency);
    showStock($("#pin-stock"), store.unitsLeft(pin));
    $("#pin-desc").textContent = pin.description || "";
    $("#pin-image").replaceChildren(productImage(pin, "pin-img"));
    const bargainLine = bargains.pinLine(pin);
    $("#pin-bargain").replaceChildren(...(bargainLine ? [bargainLine] : []));
    $("#pin-bargain").hidden = !bargainLine;
    if (had !== undefined && had !== String(pin.id)) {
      pinCard.classList.remove("flash");
      void pinCard.offsetWidth;
      pinCard.classList.add("flash");
    }
  }
  renderLineup();
}

function renderLineup() {
  const list = $("#lineup");
  const pinId = store.state.pin && store.state.pin.id;
  list.replaceChildren(...store.state.lineup.map((product) => h("li",
    {class: `lineup-card${product.id === pinId ? " is-pinned" : ""}`, dataset: {productId: product.id}},
    h("button", {type: "button", class: "lineup-open", "aria-label": t("room.product_details_of", {title: product.title}),
                 onclick: () => openProduct(product)},
      productImage(product, "lineup-img"),
      h("span", {class: "lineup-title"}, product.title),
      h("span", {class: "lineup-price"}, formatMoney(product.price_minor, product.currency)),
      product.id === pinId ? h("span", {class: "tag tag-pin"}, t("common.pinned")) : null),
    bargains.badge(product))));
  $("#lineup-empty").hidden = store.state.lineup.length > 0;
  $("#bag-count").textContent = String(store.state.lineup.length);
}

// Product details (card views and clicks are counted by room-tracking.js) ----------

const productDialog = $("#product-dialog");

// The lineup the websocket sends leaves descriptions out (it is in every viewer's first
// frame); the page's own copy has them, and the room's lineup URL has them all.
const descriptions = new Map();
for (const product of [...(boot.lineup || []), boot.pin]) {
  if (product && typeof product.description === "string") descriptions.set(product.id, product.description);
}
let descriptionsLoading = null;

async function productDescription(product) {
  if (typeof product.description === "string") return product.description;
  const pin = store.state.pin;
  if (pin && pin.id === product.id && typeof pin.description === "string") return pin.description;
  if (!descriptions.has(product.id)) {
    descriptionsLoading = descriptionsLoading || api("GET", `/api/rooms/${roomId}/lineup`)
      .then((lineup) => {
        for (const p of lineup.products) descriptions.set(p.id, p.description || "");
      })
      .catch(() => {})
      .finally(() => { descriptionsLoading = null; });
    await descriptionsLoading;
  }
  return descriptions.get(product.id) || "";
}

// A stock line: the units left in words, and their level (out, low, ok) for its colour.
function showStock(element, left) {
  element.textContent = formatStock(left);
  element.dataset.level = left <= 0 ? "out" : left <= 5 ? "low" : "ok";
}

function openProduct(product) {
  const fresh = store.state.lineup.find((p) => p.id === product.id) || product;
  $("#product-dialog-title").textContent = fresh.title;
  $("#product-dialog-price").textContent = formatMoney(fresh.price_minor, fresh.currency);
  showStock($("#product-dialog-stock"), store.unitsLeft(fresh));
  const desc = $("#product-dialog-desc");
  desc.textContent = typeof fresh.description === "string" ? fresh.description : "";
  desc.dataset.productId = String(fresh.id);
  productDescription(fresh).then((text) => {
    if (desc.dataset.productId === String(fresh.id)) desc.textContent = text;
  });
  $("#product-dialog-image").replaceChildren(productImage(fresh, "product-dialog-img"));
  showProductReviews(fresh.id);
  window.livesell.shop.showInDialog(fresh);
  if (!productDialog.open) productDialog.showModal();
}

// On a phone the pinned card is a small card over the video; a tap opens it as a bottom sheet
// (details, the flash sale, Buy). On a wider screen it is the side column's card as it is.
const phone = window.matchMedia("(max-width: 700px)");
const backdrop = $("#sheet-backdrop");
const lineupSheet = $("#lineup-strip");
const bagButton = $("#bag-btn");

function openSheet(sheet) {
  closeSheets();
  sheet.dataset.open = "true";
  backdrop.hidden = false;
  document.body.classList.add("sheet-open");
  if (sheet === lineupSheet) bagButton.setAttribute("aria-expanded", "true");
}

function closeSheets() {
  for (const sheet of document.querySelectorAll(".sheet-able[data-open=true]")) sheet.dataset.open = "false";
  backdrop.hidden = true;
  document.body.classList.remove("sheet-open");
  bagButton.setAttribute("aria-expanded", "false");
}

function showPinned() {
  if (!store.state.pin) return;
  if (phone.matches) openSheet(pinCard);
  else openProduct(store.state.pin);
}

$("#pin-image").addEventListener("click", (event) => {
  event.stopPropagation();
  showPinned();
});
$("#pin-title").addEventListener("click", (event) => {
  event.stopPropagation();
  showPinned();
});
pinCard.addEventListener("click", (event) => {
  // The collapsed card opens as a whole; inside the open sheet, taps are the sheet's own.
  if (phone.matches && store.state.pin && pinCard.dataset.open !== "true"
      && !event.target.closest("button, a, input")) openSheet(pinCard);
});
bagButton.addEventListener("click", () => {
  if (lineupSheet.dataset.open === "true") closeSheets();
  else openSheet(lineupSheet);
});
backdrop.addEventListener("click", closeSheets);
for (const button of document.querySelectorAll("[data-close-sheet]")) {
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    closeSheets();
  });
}
document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeSheets(); });
phone.addEventListener("change", closeSheets);
productDialog.addEventListener("click", (event) => {
  if (event.target === productDialog) productDialog.close();  // a click on the backdrop
});

store.on("pin", renderPin);
// Units left move with every buy in the room: the pinned card, and an open product dialog.
store.on("units", (units) => {
  if (store.state.pin && store.state.pin.id === units.product_id) renderPin();
  if (productDialog.open && $("#product-dialog-desc").dataset.productId === String(units.product_id)) {
    showStock($("#product-dialog-stock"), units.remaining);
  }
});
store.on("lineup", renderLineup);
store.on("room", renderRoom);

// Who just bought ----------------------------------------------------------------------

const ticker = $("#buy-ticker");
const buyersBadge = $("#buyers-badge");
// A line stays long enough to read; three at most, the oldest going first.
const TICKER_LINE_MS = 4000;
const TICKER_MAX_LINES = 3;

function renderBuyers() {
  const buyers = store.state.buyers || 0;
  buyersBadge.hidden = buyers <= 0;
  buyersBadge.textContent = t("room.bought", {count: buyers});
}

store.on("purchase", (purchase) => {
  const others = purchase.others || 0;
  const text = others > 0
    ? t("room.others_just_bought", {name: purchase.name, count: others})
    : t("room.just_bought", {name: purchase.name});
  const line = h("li", {class: "buy-line", "data-testid": "buy-line"}, text);
  ticker.append(line);
  while (ticker.childElementCount > TICKER_MAX_LINES) ticker.firstElementChild.remove();
  setTimeout(() => line.remove(), TICKER_LINE_MS);
  renderBuyers();
});

// Chat -----------------------------------------------------------------------------

const chat = new ChatView($("#chat-list"), {empty: $("#chat-empty"), hostId, meId: me && me.id});
const slowNote = $("#slow-mode-note");
let composer = null;

function renderSlowMode() {
  const seconds = store.state.slow_mode_seconds || 0;
  slowNote.hidden = seconds <= 0;
  slowNote.textContent = seconds > 0 ? t("room.slow_mode_note", {seconds}) : "";
}

store.on("chat", (message) => chat.add(message));
store.on("chat:delete", (id) => chat.remove(id));
store.on("room", renderSlowMode);

// The stream is loaded only while it is on air: an `on_air` event starts (or stops) it in
// this page, no reload.
store.on("on_air", (onAir) => liveVideo.setOnAir(onAir));

store.on("reset", () => {
  liveVideo.setOnAir(store.state.on_air);
  renderRoom();
  renderPin();
  renderSlowMode();
  chat.reset(store.state.chat);
  viewerCount.textContent = formatCount(store.state.viewers);
  renderBuyers();
  likeCount.textContent = formatCount(store.state.likes + pendingLikes + unechoedLikes);
});

// Connection -----------------------------------------------------------------------

const connState = $("#conn-state");
// The user's bargain and order events, passed on to a bargain's page open in another tab.
const relayStatus = relayBargainNews({store, userId: me ? me.id : null});
const socket = new RoomSocket(roomId, {
  userId: me ? me.id : null,
  onFrame: (frame) => store.apply(frame),
  onStatus: (state) => {
    connState.dataset.state = state;
    connState.textContent = describeConnection(state);
    if (state === "gone") toast(t("room.gone"), "error", 8000);
    relayStatus(state);
  },
});
window.livesell.socket = socket;

const form = $("#chat-form");
if (form) {
  composer = new ChatComposer(form, {
    socket, store, notice: $("#chat-notice"),
    minIntervalMs: boot.chat_min_interval_ms || 1000,
    maxLength: boot.chat_max_length || 300,
    exempt: me && me.id === hostId,
  });
}

// The coupons the host dropped into the room: claim one, then use it at the flash sale's Buy,
// Buy now or the cart's checkout.
window.livesell.coupons = mountRoomCoupons({store, slot: $("#coupons"), me, roomId, hostId});
// The flash sale in the pinned card, and the product tracking for the report.
window.livesell.sale = mountRoomSale({store, slot: $("#sale-slot"), me, roomId,
                                     coupons: window.livesell.coupons});
trackProductCards({store, roomId});
// The red envelope rain and the lucky draw.
window.livesell.engagement = mountRoomEngagement({store, slot: $("#engagement"), me, roomId, hostId});

// The seller: follow, the score beside the host's name, "Rate your order", "Remind me".
const seller = mountSeller(boot.seller);
const reviewCard = mountReviewCard(boot.seller, {onReviewed: () => seller.refresh()});
mountRemind(roomId);
store.on("room", (room) => {
  // "Remind me" is for a show still to come.
  const remind = $("#remind-btn");
  if (remind && room && room.status !== "scheduled") remind.hidden = true;
});

// The user's own news, from any room: a followed host went live, an order elsewhere moved.
store.on("notification", (note) => {
  setUnread(note.unread);
  // The stored title is the API's English; a go-live alert is said in the page's language.
  const title = note.kind === "room_live" && note.host_name
    ? t("notifications.room_live", {name: note.host_name}) : note.title;
  toast(note.body ? t("notifications.toast", {title, body: note.body}) : title, "info", 8000);
});
store.on("frame", (frame) => {
  // Some of the user's events were lost to the server (too far behind): read the count again.
  if (frame.type === "user_resume" && frame.data && frame.data.complete === false) {
    api("GET", "/api/notifications/unread").then(({unread}) => setUnread(unread)).catch(() => {});
  }
});
// A friend cut the price of the viewer's bargain, wherever it was shared (orders/bargains.py).
store.on("bargain", (d) => {
  if (!d || d.action !== "helped") return;
  toast(t("bargain.toast_helped", {name: d.helper || "", cut: formatMoney(d.cut_minor, d.currency),
    price: formatMoney(d.price_minor, d.currency), count: d.helpers, needed: d.helpers_needed}), "info", 8000);
});
store.on("order", (order) => {
  if (!order) return;
  if (order.room_id !== roomId) toast(t("room.order_update", {id: order.id, status: orderStatus(order.status)}), "info");
  if (order.status === "completed" && me && me.id !== hostId) reviewCard.reload();
});

// Buying at the regular price: the pinned card's and the product dialog's sizes, colours, Buy
// now and Add to cart, the cart, and the viewer's order.
// Group buys of the pinned product: open a group, or join one with its exact progress.
window.livesell.groups = mountRoomGroups({store, slot: $("#groups"), me, roomId, hostId});
window.livesell.shop = mountShop({store, me, roomId, coupons: window.livesell.coupons,
                                  slots: {pin: $("#shop-slot"), dialog: $("#product-dialog-shop")}});
// Comment-to-buy: the note that it is on, and the answer to the viewer's own buy line.
mountChatBuy({store, roomId});

bargains.onChange(renderPin);
renderRoom();
renderPin();
renderSlowMode();
socket.connect();

// The host's control room: lineup, pins, go live / end, chat moderation,
// slow mode, stream settings, and the live viewer and like counts.
import {api} from "./api.js";
import {ChatComposer, ChatView} from "./chat.js";
import {$, ask, clearFormErrors, h, productImage, readBoot, showFormErrors, toast} from "./dom.js";
import {formatCount, formatDateTime, formatMoney, formatStock} from "./format.js";
import {mountHostBargains} from "./host-room-bargains.js";
import {mountHostCoupons} from "./host-room-coupons.js";
import {mountHostGroups} from "./host-room-groups.js";
import {mountHostEngagement} from "./host-room-engagement.js";
import {errorText, t} from "./i18n.js";
import {mountHostSales} from "./host-room-sale.js";
import {describeConnection, RoomSocket} from "./socket.js";
import {RoomStore} from "./store.js";

const boot = readBoot();
const me = boot.me;
const roomId = boot.room.id;
const hostId = boot.room.host_id;
const catalog = boot.catalog || [];
const store = new RoomStore({
  room: boot.room,
  lineup: boot.lineup,
  pin: (boot.lineup || []).find((p) => p.id === boot.room.pinned_product_id) || null,
});
const mutedUsers = new Set();
let queue = Promise.resolve();
let inFlight = 0;

// The page's state and connection, for the browser tests to read and drive.
window.livesell = {store, socket: null, errors: store.errors};

/** Run API calls one after another (a click is never dropped, and never races the previous one). */
function run(action, failure) {
  inFlight += 1;
  document.body.classList.add("is-busy");
  const result = queue.then(async () => {
    try {
      return await action();
    } catch (err) {
      toast(t("common.failed_because", {what: failure, why: errorText(err)}), "error", 6000);
      return null;
    } finally {
      inFlight -= 1;
      if (inFlight === 0) document.body.classList.remove("is-busy");
    }
  });
  queue = result;
  return result;
}

// Header and status ------------------------------------------------------------------

const goLive = $("#go-live");
const endRoom = $("#end-room");
const confirmDialog = $("#confirm-dialog");

function renderRoom() {
  const room = store.state.room;
  const badge = $("#status-badge");
  badge.textContent = room.status === "scheduled" ? t("host.status.scheduled") : t(`common.status.${room.status}`);
  badge.dataset.status = room.status;
  $("#room-title").textContent = room.title;
  goLive.hidden = room.status !== "scheduled";
  endRoom.hidden = room.status === "ended";
  $("#report-link").hidden = room.status !== "ended";
  document.getElementById("host-room").dataset.status = room.status;
  const slow = room.slow_mode_seconds || 0;
  $("#slow-toggle").checked = slow > 0;
  $("#slow-toggle").disabled = room.status === "ended";
  $("#comment-buy-toggle").checked = Boolean(room.comment_to_buy);
  $("#comment-buy-toggle").disabled = room.status === "ended";
  if (slow > 0) {
    const select = $("#slow-seconds");
    if (![...select.options].some((o) => o.value === String(slow))) {
      select.append(h("option", {value: slow}, t("hostroom.seconds_option", {seconds: slow})));
    }
    select.value = String(slow);
  }
  const playback = $("#playback-url");
  if (document.activeElement !== playback) playback.value = room.playback_url || "";
  renderLineup();
}

function saleRunning() {
  const phase = store.salePhase();
  return phase === "live" || phase === "warmup" || phase === "soldout";
}

async function setStatus(status, {endRunningSale = false} = {}) {
  const body = status === "ended" ? {status, end_running_sale: endRunningSale} : {status};
  let refusedForSale = false;
  const room = await run(async () => {
    try {
      return await api("POST", `/api/rooms/${roomId}/status`, body);
    } catch (err) {
      // A sale began after the question was asked: ask again rather than fail.
      if (err.code === "sale_running") {
        refusedForSale = true;
        return null;
      }
      throw err;
    }
  }, status === "live" ? t("hostroom.fail.go_live") : t("hostroom.fail.end"));
  if (refusedForSale) {
    if (await askToEnd(true)) setStatus("ended", {endRunningSale: true});
    return;
  }
  if (room) {
    store.state.room = room;
    if (status === "ended") store.state.pin = null;
    renderRoom();
    toast(status === "live" ? t("hostroom.youre_live") : t("hostroom.show_ended"), "success");
  }
}

goLive.addEventListener("click", async () => {
  if (!store.state.lineup.length && !(await ask({
    title: t("hostroom.empty_title"), text: t("hostroom.empty_text"),
    yes: t("hostroom.empty_yes"), no: t("hostroom.empty_no"), testid: "empty-lineup"}))) return;
  setStatus("live");
});

function askToEnd(running) {
  $("#confirm-text").textContent = running
    ? t("hostroom.end_text_sale") : t("hostroom.end_text");
  $("#confirm-yes").textContent = running ? t("hostroom.end_show_and_sale") : t("hostroom.end_show");
  confirmDialog.returnValue = "";
  confirmDialog.showModal();
  return new Promise((resolve) => {
    confirmDialog.addEventListener("close", () => resolve(confirmDialog.returnValue === "confirm"),
                                   {once: true});
  });
}

endRoom.addEventListener("click", async () => {
  const running = saleRunning();
  if (await askToEnd(running)) setStatus("ended", {endRunningSale: running});
});

// The show's numbers and its orders as they come -------------------------------------

// GMV and orders of the whole show, from the analytics numbers the live data screen uses; a
// few seconds behind is fine next to the sale panel's own counters, which tick live.
const NUMBERS_POLL_MS = 5000;
let numbersTimer = 0;

async function refreshNumbers() {
  clearTimeout(numbersTimer);
  try {
    const numbers = await api("GET", `/api/ops/broadcasts/${roomId}/live`);
    // Before the first order the numbers have no currency: the show's own products say it.
    const {sale, lineup} = store.state;
    const currency = numbers.currency || (sale && sale.currency) || (lineup[0] && lineup[0].currency) || "USD";
    $("#show-gmv").textContent = formatMoney(numbers.gmv_minor, currency);
    $("#show-orders").textContent = formatCount(numbers.orders);
    $("#show-paid").textContent = t("hostroom.paid_count", {count: numbers.paid_orders});
  } catch {
    // Offline for a moment: the next poll tries again.
  }
  if (store.state.room.status !== "ended") numbersTimer = setTimeout(refreshNumbers, NUMBERS_POLL_MS);
}

const ordersFeed = $("#orders-feed");
// The newest first; a show's last few dozen are what a host glances at.
const FEED_MAX = 30;

store.on("purchase", (purchase) => {
  const others = purchase.others || 0;
  const who = others > 0 ? t("hostroom.who_and_others", {name: purchase.name, count: others}) : purchase.name;
  ordersFeed.prepend(h("li", {class: "feed-line", "data-testid": "orders-feed-line"},
    h("span", {class: "feed-text"}, t("hostroom.bought", {who})),
    h("time", {class: "feed-time"}, formatDateTime(new Date(), {date: false, seconds: true}))));
  while (ordersFeed.childElementCount > FEED_MAX) ordersFeed.lastElementChild.remove();
  $("#orders-feed-empty").hidden = true;
  refreshNumbers();
});

// Lineup editor ----------------------------------------------------------------------

const lineupEditor = $("#lineup-editor");
const catalogList = $("#catalog-list");

function iconButton(label, text, onclick, attrs = {}) {
  return h("button", {type: "button", class: "btn btn-icon", title: label, "aria-label": label, onclick, ...attrs}, text);
}

function renderLineup() {
  const {lineup, pin, room} = store.state;
  const ended = room.status === "ended";
  const pinId = pin && pin.id;
  lineupEditor.replaceChildren(...lineup.map((product, index) => {
    const pinned = product.id === pinId;
    const row = h("li", {class: `lineup-row${pinned ? " is-pinned" : ""}`, draggable: ended ? null : "true",
                         dataset: {productId: product.id, index}, "data-testid": "lineup-item"},
      h("span", {class: "drag-handle", "aria-hidden": "true"}, "⋮⋮"),
      h("span", {class: "lineup-pos"}, String(index + 1)),
      productImage(product, "thumb"),
      h("div", {class: "row-main"},
        h("span", {class: "row-title"}, product.title),
        h("span", {class: "row-sub"}, `${formatMoney(product.price_minor, product.currency)} · ${formatStock(product.stock)}`)),
      h("div", {class: "row-actions"},
        pinned
          ? h("button", {type: "button", class: "btn btn-sm btn-pinned", "data-testid": "unpin",
                         disabled: ended, onclick: () => unpin()}, t("hostroom.unpin"))
          : h("button", {type: "button", class: "btn btn-sm btn-primary", "data-testid": "pin",
                         disabled: ended, onclick: () => pinProduct(product)}, t("hostroom.pin")),
        iconButton(t("hostroom.move_up"), "↑", () => move(index, index - 1), {disabled: ended || index === 0}),
        iconButton(t("hostroom.move_down"), "↓", () => move(index, index + 1), {disabled: ended || index === lineup.length - 1}),
        iconButton(t("hostroom.remove"), "✕", () => removeFromLineup(product.id), {disabled: ended, "data-testid": "remove"})));
    return row;
  }));
  $("#lineup-empty").hidden = lineup.length > 0;
  $("#pinned-name").textContent = pin ? pin.title : "—";
  renderCatalog();
}

function renderCatalog() {
  const inLineup = new Set(store.state.lineup.map((p) => p.id));
  const ended = store.state.room.status === "ended";
  catalogList.replaceChildren(...catalog.map((product) => h("li", {class: "catalog-row", dataset: {productId: product.id}},
    productImage(product, "thumb"),
    h("div", {class: "row-main"},
      h("span", {class: "row-title"}, product.title),
      h("span", {class: "row-sub"}, `${formatMoney(product.price_minor, product.currency)} · ${formatStock(product.stock)}`)),
    inLineup.has(product.id)
      ? h("span", {class: "tag"}, t("hostroom.in_lineup"))
      : h("button", {type: "button", class: "btn btn-sm btn-ghost", "data-testid": "add-to-lineup",
                     disabled: ended, onclick: () => addToLineup(product.id)}, t("hostroom.add")))));
  $("#catalog-empty").hidden = catalog.length > 0;
}

/** Change the lineup: `change` gets the current order when the call runs, not when clicked. */
async function saveLineup(change) {
  let order = null;
  const result = await run(() => {
    order = change(store.state.lineup.map((p) => p.id));
    return api("PUT", `/api/rooms/${roomId}/lineup`, {product_ids: order});
  }, t("hostroom.fail.lineup"));
  if (result) {
    store.state.lineup = result.products;
    if (store.state.pin && !order.includes(store.state.pin.id)) store.state.pin = null;
    renderLineup();
  }
}

function addToLineup(productId) {
  saveLineup((order) => (order.includes(productId) ? order : [...order, productId]));
}

function removeFromLineup(productId) {
  saveLineup((order) => order.filter((id) => id !== productId));
}

function move(from, to) {
  saveLineup((order) => {
    if (to < 0 || to >= order.length || from === to) return order;
    const next = order.slice();
    const [item] = next.splice(from, 1);
    next.splice(to, 0, item);
    return next;
  });
}

async function pinProduct(product) {
  const pinned = await run(() => api("POST", `/api/rooms/${roomId}/pin`, {product_id: product.id}),
                           t("hostroom.fail.pin"));
  if (pinned) {
    store.state.pin = pinned;
    renderLineup();
  }
}

async function unpin() {
  const done = await run(() => api("DELETE", `/api/rooms/${roomId}/pin`), t("hostroom.fail.unpin"));
  if (done) {
    store.state.pin = null;
    renderLineup();
  }
}

// Drag to reorder, as well as the arrow buttons.
let dragFrom = null;
lineupEditor.addEventListener("dragstart", (event) => {
  const row = event.target.closest(".lineup-row");
  if (!row) return;
  dragFrom = Number(row.dataset.index);
  row.classList.add("dragging");
  event.dataTransfer.effectAllowed = "move";
});
lineupEditor.addEventListener("dragover", (event) => {
  if (dragFrom === null) return;
  event.preventDefault();
  for (const row of lineupEditor.children) row.classList.remove("drop-target");
  const row = event.target.closest(".lineup-row");
  if (row) row.classList.add("drop-target");
});
lineupEditor.addEventListener("drop", (event) => {
  event.preventDefault();
  const row = event.target.closest(".lineup-row");
  if (row && dragFrom !== null) move(dragFrom, Number(row.dataset.index));
  dragFrom = null;
});
lineupEditor.addEventListener("dragend", () => {
  dragFrom = null;
  for (const row of lineupEditor.children) row.classList.remove("dragging", "drop-target");
});

store.on("lineup", renderLineup);
store.on("pin", renderLineup);
store.on("room", renderRoom);

// Chat and moderation -------------------------------------------------------------

function chatActions(message) {
  const user = message.user || {};
  if (user.id === hostId || user.role === "ops") return null;
  const muted = mutedUsers.has(user.id);
  return h("div", {class: "chat-actions"},
    h("button", {type: "button", class: "btn btn-xs btn-ghost", "data-testid": "chat-delete",
                 title: t("hostroom.delete_title"),
                 onclick: () => deleteMessage(message.id)}, t("hostroom.delete")),
    h("button", {type: "button", class: `btn btn-xs ${muted ? "btn-ghost" : "btn-warn"}`,
                 "data-testid": muted ? "chat-unmute" : "chat-mute",
                 title: t(muted ? "hostroom.unmute_title" : "hostroom.mute_title", {name: user.display_name}),
                 onclick: () => (muted ? unmute(user) : mute(user))}, muted ? t("hostroom.unmute") : t("hostroom.mute")));
}

const chat = new ChatView($("#chat-list"), {empty: $("#chat-empty"), hostId, meId: me && me.id, actions: chatActions});

async function deleteMessage(messageId) {
  const done = await run(() => api("DELETE", `/api/rooms/${roomId}/chat/${encodeURIComponent(messageId)}`),
                         t("hostroom.fail.delete"));
  if (done) chat.remove(messageId);
}

async function mute(user) {
  const done = await run(() => api("POST", `/api/rooms/${roomId}/mutes`, {user_id: user.id}),
                         t("hostroom.fail.mute"));
  if (done) {
    setMuted(user.id, true);
    toast(t("hostroom.muted", {name: user.display_name}), "success");
  }
}

async function unmute(user) {
  const done = await run(() => api("DELETE", `/api/rooms/${roomId}/mutes/${user.id}`), t("hostroom.fail.unmute"));
  if (done) {
    setMuted(user.id, false);
    toast(t("hostroom.unmuted", {name: user.display_name}), "success");
  }
}

function setMuted(userId, muted) {
  if (muted) mutedUsers.add(userId);
  else mutedUsers.delete(userId);
  chat.markUser(userId, muted);
  // Redraw the lines of that user so their button says Mute or Unmute.
  for (const message of store.state.chat) {
    if (message.user && message.user.id === userId) {
      const old = chat.find(message.id);
      if (old) old.replaceWith(chat.line(message));
    }
  }
  chat.markUser(userId, muted);
}

store.on("chat", (message) => {
  chat.add(message);
  if (message.user && mutedUsers.has(message.user.id)) chat.markUser(message.user.id, true);
});
store.on("chat:delete", (id) => chat.remove(id));
store.on("moderation", (d) => {
  if (d.action === "mute") setMuted(d.user_id, true);
  if (d.action === "unmute") setMuted(d.user_id, false);
});

const composer = new ChatComposer($("#chat-form"), {
  socket: null, store, notice: $("#chat-notice"),
  minIntervalMs: boot.chat_min_interval_ms || 1000, maxLength: boot.chat_max_length || 300, exempt: true,
});

// Slow mode and stream settings ---------------------------------------------------

async function setSlowMode(seconds) {
  const room = await run(() => api("PATCH", `/api/rooms/${roomId}`, {slow_mode_seconds: seconds}),
                         t("hostroom.fail.slow"));
  if (room) {
    store.state.room = room;
    store.state.slow_mode_seconds = room.slow_mode_seconds;
    renderRoom();
    toast(seconds ? t("hostroom.slow_on", {seconds}) : t("hostroom.slow_off"), "success");
  } else {
    renderRoom();
  }
}

// Comment-to-buy: viewers' chat lines such as `buy 2 blue M` or `+1` hold the pinned product.
$("#comment-buy-toggle").addEventListener("change", async (event) => {
  const on = event.target.checked;
  const room = await run(() => api("PATCH", `/api/rooms/${roomId}`, {comment_to_buy: on}),
                         t("hostroom.fail.comment_to_buy"));
  if (room) {
    store.state.room = room;
    toast(on ? t("hostroom.comment_to_buy_on") : t("hostroom.comment_to_buy_off"), "success");
  }
  renderRoom();
});

$("#slow-toggle").addEventListener("change", (event) => {
  setSlowMode(event.target.checked ? Number($("#slow-seconds").value) : 0);
});
$("#slow-seconds").addEventListener("change", (event) => {
  if ($("#slow-toggle").checked) setSlowMode(Number(event.target.value));
});

const streamKey = $("#stream-key");
function renderKey() {
  const hidden = streamKey.dataset.hidden === "true";
  streamKey.textContent = hidden ? "•".repeat(Math.min(24, boot.stream_key.length)) : boot.stream_key;
  $("#key-toggle").textContent = hidden ? t("hostroom.show") : t("hostroom.hide");
}
$("#key-toggle").addEventListener("click", () => {
  streamKey.dataset.hidden = streamKey.dataset.hidden === "true" ? "false" : "true";
  renderKey();
});
$("#key-copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(boot.stream_key);
    toast(t("hostroom.key_copied"), "success");
  } catch {
    streamKey.dataset.hidden = "false";
    renderKey();
    toast(t("hostroom.select_key"), "info");
  }
});
$("#key-rotate").addEventListener("click", async () => {
  if (!window.confirm(t("hostroom.new_key_confirm"))) return;
  const room = await run(() => api("POST", `/api/rooms/${roomId}/stream-key`), t("hostroom.fail.key"));
  if (!room) return;
  boot.stream_key = room.stream_key;
  streamKey.dataset.hidden = "true";
  renderKey();
  toast(t("hostroom.new_key_made"), "success");
});
renderKey();

const playbackForm = $("#playback-form");
playbackForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormErrors(playbackForm);
  const value = $("#playback-url").value.trim();
  try {
    const room = await api("PATCH", `/api/rooms/${roomId}`, {playback_url: value || null});
    store.state.room = room;
    renderRoom();
    toast(value ? t("hostroom.playback_saved") : t("hostroom.playback_removed"), "success");
  } catch (err) {
    showFormErrors(playbackForm, err);
  }
});

// Connection -------------------------------------------------------------------------

const viewerCount = $("#viewer-count");
const likeCount = $("#like-count");
const connState = $("#conn-state");
store.on("viewers", (count) => { viewerCount.textContent = formatCount(count); });
store.on("likes", () => { likeCount.textContent = formatCount(store.state.likes); });
store.on("reset", () => {
  renderRoom();
  chat.reset(store.state.chat);
  viewerCount.textContent = formatCount(store.state.viewers);
  likeCount.textContent = formatCount(store.state.likes);
});

const socket = new RoomSocket(roomId, {
  onFrame: (frame) => store.apply(frame),
  onStatus: (state) => {
    connState.dataset.state = state;
    connState.textContent = describeConnection(state);
  },
});
composer.socket = socket;
window.livesell.socket = socket;
window.livesell.flashSales = mountHostSales({
  store, body: $("#flash-sales [data-slot-body]"), roomId});
// Red envelope rains and lucky draws: the forms, and the card the viewers see.
window.livesell.engagement = mountHostEngagement({
  store, body: $("#host-engagement [data-slot-body]"), me, roomId, hostId,
  currency: (boot.lineup || [])[0]?.currency || (catalog[0] && catalog[0].currency) || "USD"});
// Live-room coupons: the form, and the card the viewers see.
window.livesell.coupons = mountHostCoupons({
  store, body: $("#host-coupons [data-slot-body]"), me, roomId, hostId,
  currency: (boot.lineup || [])[0]?.currency || (catalog[0] && catalog[0].currency) || "USD"});
// Bargains: offer a lineup product for friends to cut down to a floor.
mountHostBargains({store, body: $("#host-bargains [data-slot-body]"), roomId});
// Group buys: offer a deal on a lineup product, end it.
mountHostGroups({store, body: $("#host-groups [data-slot-body]"), roomId});

renderRoom();
refreshNumbers();
socket.connect();

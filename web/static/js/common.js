// Runs on every page: log out, local times and money in the server-rendered markup, avatar
// colours. The server writes moments as <time datetime="ISO" data-local-time> (the ISO text
// until this runs; data-time-only / data-seconds for a clock time) and amounts as
// <data value="minor units" data-currency="USD" data-money>, so the pages have one money and
// one date formatter: web/static/js/format.js.
import {api} from "./api.js";
import {avatarHue, readBoot, toast} from "./dom.js";
import {formatDateTime, formatMoney} from "./format.js";
import {setUnread} from "./social.js";
import {errorText} from "./i18n.js";

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    logout.disabled = true;
    try {
      await api("POST", "/api/auth/logout");
      window.location.assign("/");
    } catch (err) {
      logout.disabled = false;
      toast(errorText(err), "error");
    }
  });
}

for (const node of document.querySelectorAll("time[data-local-time]")) {
  const text = formatDateTime(node.getAttribute("datetime"), {
    date: !("timeOnly" in node.dataset), seconds: "seconds" in node.dataset});
  if (text) node.textContent = text;
}

for (const node of document.querySelectorAll("data[data-money]")) {
  node.textContent = formatMoney(Number(node.value), node.dataset.currency);
}

for (const node of document.querySelectorAll("[data-avatar]")) {
  node.style.setProperty("--hue", avatarHue(node.dataset.avatar));
}

for (const node of document.querySelectorAll(".room-thumb[data-seed]")) {
  node.style.setProperty("--hue", avatarHue(node.dataset.seed));
}

// The header's unread notifications: read once per page; a room page's websocket brings the
// new count with each `notification` event (room.js calls setUnread).
if (readBoot().me && document.getElementById("unread-count")) {
  api("GET", "/api/notifications/unread").then(({unread}) => setUnread(unread)).catch(() => {});
}

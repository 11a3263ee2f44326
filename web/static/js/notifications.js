// The notifications page: mark one or all read; the header badge follows.
import {api} from "./api.js";
import {$, toast} from "./dom.js";
import {errorText} from "./i18n.js";
import {setUnread} from "./social.js";

const pageUnread = $("[data-testid=page-unread]");
const readAll = $("#read-all");

function showUnread(count) {
  setUnread(count);
  if (pageUnread) pageUnread.textContent = String(count);
  if (readAll) readAll.disabled = count === 0;
}

for (const button of document.querySelectorAll("[data-read]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const {unread} = await api("POST", `/api/notifications/${button.dataset.read}/read`);
      button.closest("li").classList.remove("unread");
      button.remove();
      showUnread(unread);
    } catch (err) {
      button.disabled = false;
      toast(errorText(err), "error");
    }
  });
}

if (readAll) {
  readAll.addEventListener("click", async () => {
    readAll.disabled = true;
    try {
      const {unread} = await api("POST", "/api/notifications/read");
      for (const item of document.querySelectorAll(".notice-item.unread")) {
        item.classList.remove("unread");
        item.querySelector("[data-read]")?.remove();
      }
      showUnread(unread);
    } catch (err) {
      readAll.disabled = false;
      toast(errorText(err), "error");
    }
  });
}

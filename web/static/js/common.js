// Runs on every page: log out, local times, avatar colours.
import {api} from "./api.js";
import {avatarHue, toast} from "./dom.js";
import {formatWhen} from "./format.js";

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    logout.disabled = true;
    try {
      await api("POST", "/api/auth/logout");
      window.location.assign("/");
    } catch (err) {
      logout.disabled = false;
      toast(err.message, "error");
    }
  });
}

for (const node of document.querySelectorAll("time[data-local-time]")) {
  const text = formatWhen(node.getAttribute("datetime"));
  if (text) node.textContent = text;
}

for (const node of document.querySelectorAll("[data-avatar]")) {
  node.style.setProperty("--hue", avatarHue(node.dataset.avatar));
}

for (const node of document.querySelectorAll(".room-thumb[data-seed]")) {
  node.style.setProperty("--hue", avatarHue(node.dataset.seed));
}

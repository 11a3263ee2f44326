// Sign in and sign up: the API sets the session cookie; then go where the user was headed.
import {api} from "./api.js";
import {clearFormErrors, showFormErrors} from "./dom.js";

const form = document.getElementById("auth-form");
const mode = form.dataset.mode;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormErrors(form);
  const data = Object.fromEntries(new FormData(form).entries());
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const result = await api("POST", mode === "login" ? "/api/auth/login" : "/api/auth/signup", data);
    const next = form.dataset.next;
    const home = {host: "/host", ops: "/ops"}[result.user.role] || "/";
    // Coming from the home page is no particular wish: hosts go to their panel, ops to the
    // dashboard.
    const wanted = next && next !== "/" && !next.startsWith("/login") && !next.startsWith("/signup");
    window.location.assign(wanted ? next : home);
  } catch (err) {
    showFormErrors(form, err.status === 401 ? {code: "bad_credentials"} : err);
    button.disabled = false;
  }
});

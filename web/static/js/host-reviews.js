// The host panel's reviews: the seller's one reply to each.
import {api} from "./api.js";
import {h, showFormErrors, toast} from "./dom.js";
import {t} from "./i18n.js";

for (const form of document.querySelectorAll("form[data-reply]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = String(new FormData(form).get("reply") || "").trim();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const review = await api("POST", `/api/reviews/${form.dataset.reply}/reply`, {reply: text});
      form.replaceWith(h("p", {class: "review-reply"}, h("strong", {}, t("host.your_reply_label")), ` ${review.reply}`));
      toast(t("host.reply_posted"), "success");
    } catch (err) {
      button.disabled = false;
      showFormErrors(form, err);
    }
  });
}

// The Share button of a room (or any element with data-share-kind/data-share-id): asks for
// the signed-in user's own link (POST /api/shares; the same link every time), shows it in a
// read-only field and copies it to the clipboard where the browser allows.

import {api} from "./api.js";
import {toast} from "./dom.js";
import {errorText, t} from "./i18n.js";

for (const box of document.querySelectorAll("[data-share-kind]")) {
  const button = box.querySelector("#share-btn");
  const field = box.querySelector("#share-url");
  const page = box.querySelector("#share-page");
  button?.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const link = await api("POST", "/api/shares",
                             {kind: box.dataset.shareKind, id: Number(box.dataset.shareId)});
      const url = link.url.startsWith("http") ? link.url : new URL(link.path, location.origin).href;
      field.value = url;
      field.hidden = false;
      page.hidden = false;
      field.select();
      try {
        await navigator.clipboard.writeText(url);
        toast(t("share.copied"));
      } catch {
        toast(t("share.copy_from_field"));  // no clipboard outside a secure context
      }
    } catch (error) {
      toast(errorText(error), "error");
    } finally {
      button.disabled = false;
    }
  });
}

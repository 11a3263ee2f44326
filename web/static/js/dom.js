// Small DOM helpers. User-supplied text only ever goes in through textContent.
import {errorText, has, t} from "./i18n.js";

/**
 * Create an element: h("li", {class: "x", dataset: {id: 1}, onclick: fn}, "text", child).
 * String children become text nodes, never HTML.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function readBoot() {
  const node = document.getElementById("boot");
  return node ? JSON.parse(node.textContent) : {};
}

const AVATAR_HUES = [340, 12, 32, 150, 190, 215, 250, 280];

export function avatarHue(id) {
  const n = Number(id) || 0;
  return AVATAR_HUES[Math.abs(n * 2654435761) % AVATAR_HUES.length];
}

export function avatar(user, size = "") {
  const name = (user && user.display_name) || "?";
  const el = h("span", {class: `avatar ${size}`.trim(), "aria-hidden": "true"}, name.slice(0, 1).toUpperCase());
  el.style.setProperty("--hue", avatarHue(user && user.id));
  return el;
}

export function toast(message, kind = "info", ms = 3500) {
  const host = document.getElementById("toasts");
  if (!host) return;
  const el = h("div", {class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status"}, message);
  host.append(el);
  requestAnimationFrame(() => el.classList.add("show"));
  setTimeout(() => {
    el.classList.remove("show");
    setTimeout(() => el.remove(), 300);
  }, ms);
}

/** Show an API error on a form: per-field messages next to the fields, the rest on top. */
export function showFormErrors(form, error) {
  clearFormErrors(form);
  const general = form.querySelector(".form-error");
  const errors = (error && error.errors) || (error && error.field ? [error] : []);
  let placed = false;
  for (const item of errors) {
    const field = String(item.field || "").split(".").pop();
    const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (slot) {
      slot.textContent = fieldErrorText(item);
      const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
      if (input) input.setAttribute("aria-invalid", "true");
      placed = true;
    }
  }
  if (!placed && general) general.textContent = errorText(error);
}

/**
 * A field's error in words: the validator's code ("errors.field.<code>", with the limit it
 * names as `count`) where the catalog has it, else the message (the API's is English; the
 * pages' own checks pass theirs already in words).
 */
export function fieldErrorText(item) {
  if (item.code && has(`errors.field.${item.code}`)) {
    const params = {...item};
    if (params.count !== undefined) params.count = Number(params.count);
    return t(`errors.field.${item.code}`, params);
  }
  return item.message;
}

/** A labelled form field with its slot for an error (`name` is the API's field), and a hint. */
export function formField(label, input, name, hint = "") {
  return h("label", {class: "field"},
           h("span", {class: "field-label"}, label), input,
           hint ? h("span", {class: "field-hint muted small"}, hint) : null,
           h("span", {class: "field-error", "data-error-for": name}));
}

/**
 * Run `send` (a form's request) with the form's submit button disabled meanwhile; a refusal is
 * shown on the form, by field where it names one (a domain error names it in its `detail`).
 */
export async function submitting(form, send) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await send();
  } catch (err) {
    showFormErrors(form, err.detail && err.detail.code ? err.detail : err);
  } finally {
    button.disabled = false;
  }
}

/** Handle the form's submits in the page: its errors cleared, `handle` given its fields' data. */
export function onSubmit(form, handle) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearFormErrors(form);
    return handle(new FormData(form));
  });
}

export function clearFormErrors(form) {
  for (const slot of form.querySelectorAll(".field-error, .form-error")) slot.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/** A product's photo, or its first letter on a colour of its own when there is none (or it fails). */
export function productImage(product, className) {
  if (product.image_url) {
    const img = h("img", {src: product.image_url, alt: "", loading: "lazy", class: className});
    img.addEventListener("error", () => img.replaceWith(productLetter(product, className)));
    return img;
  }
  return productLetter(product, className);
}

function productLetter(product, className) {
  const node = h("span", {class: `${className} img-placeholder`, "aria-hidden": "true"},
                 (product.title || "?").slice(0, 1).toUpperCase());
  node.style.setProperty("--hue", String(Math.round(product.id * 137.5) % 360));
  return node;
}

/**
 * Ask the user to confirm (a modal <dialog>, not window.confirm: styled, and reachable by touch);
 * resolves to true when they choose `yes`.
 */
export function ask({title, text, yes = t("common.continue"), no = t("common.cancel"), danger = false,
                     testid = "ask"}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", {class: "dialog", "data-testid": testid},
      h("form", {method: "dialog"},
        h("h2", {}, title),
        h("p", {class: "muted"}, text),
        h("div", {class: "dialog-actions"},
          h("button", {class: "btn btn-ghost", value: "no", "data-testid": `${testid}-no`}, no),
          h("button", {class: `btn ${danger ? "btn-danger" : "btn-primary"}`, value: "yes",
                       "data-testid": `${testid}-yes`}, yes))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

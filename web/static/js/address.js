// The buyer's shipping address form (partials/address_form.html): filled from the account,
// saved with PUT /api/account/address, errors shown under their fields.
import {api} from "./api.js";
import {clearFormErrors, showFormErrors} from "./dom.js";

export const ADDRESS_FIELDS = ["name", "line1", "line2", "city", "region", "postal_code", "country", "phone"];

export function fillAddress(form, address) {
  for (const name of ADDRESS_FIELDS) form.elements[name].value = (address && address[name]) || "";
}

/** Save the form's address; resolves to the saved address, or null (errors shown). */
export async function saveAddress(form) {
  clearFormErrors(form);
  const body = {};
  for (const name of ADDRESS_FIELDS) body[name] = form.elements[name].value.trim();
  body.country = body.country.toUpperCase();
  try {
    const reply = await api("PUT", "/api/account/address", body);
    return reply.shipping_address;
  } catch (error) {
    showFormErrors(form, error);
    return null;
  }
}

export function formatAddress(address) {
  if (!address) return "";
  return [address.name, address.line1, address.line2,
          [address.postal_code, address.city, address.region].filter(Boolean).join(" "),
          address.country, address.phone].filter(Boolean).join(", ");
}

/** The address dialog (partials/address_dialog.html), asked the first time a buyer buys:
 * resolves to the saved address, or null when they cancel. */
export function askAddress(dialog, form) {
  return new Promise((resolve) => {
    fillAddress(form, null);
    const done = (value) => {
      form.onsubmit = null;
      dialog.close();
      resolve(value);
    };
    form.onsubmit = async (event) => {
      event.preventDefault();
      const saved = await saveAddress(form);
      if (saved) done(saved);
    };
    form.querySelector("[data-address-cancel]").onclick = () => done(null);
    dialog.showModal();
  });
}

// The draw's verification, again, in the reader's own browser: SHA-256 of the revealed seed
// against the committed hash, and the winners recomputed by the published rule
// (docs/engagement.md) with the browser's WebCrypto, so the verdict does not rest on our
// server's word alone.
import {readBoot} from "./dom.js";
import {t} from "./i18n.js";

const TWO_64 = 1n << 64n;

function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function bytesToHex(bytes) {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function recompute(seedHex, entrants, winnerCount) {
  const key = await crypto.subtle.importKey("raw", hexToBytes(seedHex), {name: "HMAC", hash: "SHA-256"},
                                            false, ["sign"]);
  let counter = 0;
  async function below(bound) {
    const b = BigInt(bound);
    const limit = TWO_64 - (TWO_64 % b);
    for (;;) {
      const block = new Uint8Array(await crypto.subtle.sign("HMAC", key,
        new TextEncoder().encode(`draw:${counter}`)));
      counter += 1;
      let u = 0n;
      for (let i = 0; i < 8; i += 1) u = (u << 8n) | BigInt(block[i]);
      if (u < limit) return Number(u % b);
    }
  }
  const order = [...entrants].sort((a, b) => a - b);
  const picks = Math.min(winnerCount, order.length);
  for (let i = 0; i < picks; i += 1) {
    const j = i + await below(order.length - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, picks);
}

async function main() {
  const out = document.getElementById("browser-verdict");
  const draw = readBoot().draw;
  if (!out || !draw || !draw.seed) return;
  if (!window.crypto || !crypto.subtle) {
    out.dataset.ok = "unavailable";
    out.textContent = t("verify.browser_unavailable");
    return;
  }
  const hash = bytesToHex(await crypto.subtle.digest("SHA-256", hexToBytes(draw.seed)));
  const winners = await recompute(draw.seed, draw.entrants, draw.winner_count);
  const ok = hash === draw.seed_hash && winners.join(",") === draw.winners.join(",");
  out.dataset.ok = String(ok);
  out.className = ok ? "verify-ok" : "verify-bad";
  out.textContent = ok
    ? t("verify.browser_ok", {winners: winners.join(", ")})
    : t("verify.browser_bad", {
      hash: hash === draw.seed_hash ? t("verify.hash_matches") : t("verify.hash_differs"),
      winners: winners.join(", ") || t("verify.no_winners")});
}

main();

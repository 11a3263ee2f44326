// The dashboard's chart: GMV and peak viewers per broadcast, in the currency most of the
// listed broadcasts sell in.
import {broadcastsChart, redrawOnResize} from "./charts.js";
import {readBoot} from "./dom.js";
import {t} from "./i18n.js";

const boot = readBoot();
const withReport = boot.broadcasts.filter((b) => b.report && b.report.currency);
const counts = new Map();
for (const b of withReport) counts.set(b.report.currency, (counts.get(b.report.currency) || 0) + 1);
const currency = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
const shown = withReport.filter((b) => b.report.currency === currency);
const container = document.getElementById("broadcasts-chart");
const note = document.getElementById("broadcasts-chart-note");

if (container) {
  if (note && currency && shown.length < withReport.length) {
    note.textContent = t("opsdash.other_currencies", {currency, count: withReport.length - shown.length});
  }
  redrawOnResize(() => {
    broadcastsChart(container, shown, currency);
    document.body.dataset.chartsReady = "1";
  });
}

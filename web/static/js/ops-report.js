// One broadcast's report: the charts, drawn from the report in the page's boot data.
import {funnelChart, productsChart, redrawOnResize, timelineChart} from "./charts.js";
import {readBoot} from "./dom.js";

const boot = readBoot();
const report = boot.report;

redrawOnResize(() => {
  timelineChart(document.getElementById("timeline-chart"), report);
  funnelChart(document.getElementById("funnel-chart"), report.funnel);
  productsChart(document.getElementById("products-chart"), report.products, report.summary.currency);
  document.body.dataset.chartsReady = "1";
});

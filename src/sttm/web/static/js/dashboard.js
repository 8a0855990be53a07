/* Funding charts of the dashboard (Chart.js, served locally). */
(function () {
  "use strict";
  const data = window.STTM_CHART;
  if (!data || !window.Chart) return;
  const eur = (v) => Number(v).toLocaleString("it-IT", { maximumFractionDigits: 0 }) + " €";
  function bar(id, obj, color, horizontal) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    new Chart(canvas, {
      type: "bar",
      data: { labels: Object.keys(obj), datasets: [{ label: "EUR", data: Object.values(obj), backgroundColor: color }] },
      options: { indexAxis: horizontal ? "y" : "x", maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => eur(c.raw) } } },
        scales: { [horizontal ? "x" : "y"]: { ticks: { callback: (v) => (v / 1e6).toLocaleString("it-IT") + " M€" } } } },
    });
  }
  bar("chart-source", data.source, "#0066cc", true);
  bar("chart-zone", data.zone, "#008055", false);
  bar("chart-comune", data.comune, "#cc7a00", true);
})();

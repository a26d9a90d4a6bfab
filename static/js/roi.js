// ROI dashboard charts (templates/roi/flow.html). The numbers come from the page's
// json_script block; each chart has the same numbers in an accessible table beside it.
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("roi-chart-data");
    if (!source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var Chart = window.Chart;
    var colors = { ok: "#2e7d4f", bad: "#c0392b", muted: "#8a94a3", line: "#2357a5", accent: "#a05a00" };
    var base = { responsive: true, maintainAspectRatio: false, animation: false };

    var trend = document.querySelector('[data-roi-chart="trend"]');
    if (trend) {
      new Chart(trend, {
        data: {
          labels: data.days,
          datasets: [
            { type: "bar", label: "Succeeded", data: data.succeeded, backgroundColor: colors.ok, stack: "runs", yAxisID: "y" },
            { type: "bar", label: "Failed", data: data.failed, backgroundColor: colors.bad, stack: "runs", yAxisID: "y" },
            { type: "bar", label: "Cancelled", data: data.cancelled, backgroundColor: colors.muted, stack: "runs", yAxisID: "y" },
            { type: "line", label: "Net ROI", data: data.net_roi, borderColor: colors.line, backgroundColor: colors.line, yAxisID: "money", tension: 0.2, pointRadius: 2 }
          ]
        },
        options: Object.assign({}, base, {
          interaction: { mode: "index", intersect: false },
          scales: {
            x: { stacked: true, ticks: { maxTicksLimit: 10 } },
            y: { stacked: true, beginAtZero: true, title: { display: true, text: "runs" }, ticks: { precision: 0 } },
            money: { position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "net ROI" } }
          }
        })
      });
    }

    var models = document.querySelector('[data-roi-chart="models"]');
    if (models) {
      new Chart(models, {
        type: "doughnut",
        data: {
          labels: data.models,
          datasets: [{ data: data.model_cost, backgroundColor: [colors.line, colors.accent, colors.ok, colors.bad, colors.muted, "#6b4fa0", "#1f8a8a"] }]
        },
        options: Object.assign({}, base, { plugins: { legend: { position: "right" } } })
      });
    }

    var versions = document.querySelector('[data-roi-chart="versions"]');
    if (versions) {
      new Chart(versions, {
        data: {
          labels: data.versions,
          datasets: [
            { type: "bar", label: "Runs", data: data.version_runs, backgroundColor: colors.muted, yAxisID: "y" },
            { type: "bar", label: "Net ROI", data: data.version_net_roi, backgroundColor: colors.line, yAxisID: "money" }
          ]
        },
        options: Object.assign({}, base, {
          scales: {
            y: { beginAtZero: true, title: { display: true, text: "runs" }, ticks: { precision: 0 } },
            money: { position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "net ROI" } }
          }
        })
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

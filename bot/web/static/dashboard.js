// The workbench's pages: choosing a period, a branch or a month from a list shows it at once,
// and each <canvas data-chart="…"> becomes an interactive chart (Chart.js, served beside this
// file; the pages work without either, the tables say the same).
"use strict";
(function () {
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.submit();
    });
  });

  if (typeof window.Chart === "undefined") {
    return;
  }
  const Chart = window.Chart;
  const colours = ["#c62828", "#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a"];
  const english = document.documentElement.lang.startsWith("en");
  const [open, close, colon] = english ? [" (", ")", ": "] : ["（", "）", "："];
  Chart.defaults.font.family =
    '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei", sans-serif';
  Chart.defaults.color = "#37474f";
  // As large as the page's own small print: larger on a projector, where the page's type grows.
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  Chart.defaults.font.size = Math.round(rem * 0.8);

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    let spec;
    try {
      spec = JSON.parse(canvas.dataset.chart);
    } catch (error) {
      return;
    }
    const horizontal = canvas.dataset.axis === "y";
    const percent = canvas.dataset.unit === "percent";
    const stacked = canvas.dataset.stacked === "true";
    // A horizontal chart grows with its rows, so that every label stays readable on a phone.
    if (horizontal) {
      const rows = spec.labels.length * Math.max(1, spec.datasets.length);
      canvas.parentElement.style.height = Math.max(160, 60 + rows * Math.round(rem * 1.4)) + "px";
    }
    const valueAxis = {
      beginAtZero: true,
      stacked: stacked,
      ticks: { precision: 0 },
    };
    if (percent) {
      valueAxis.max = 100;
      valueAxis.ticks.callback = function (value) {
        return value + "%";
      };
    }
    const labelAxis = { stacked: stacked, ticks: { autoSkip: false } };
    const palette = canvas.dataset.colours ? JSON.parse(canvas.dataset.colours) : colours;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (set, index) {
          return {
            label: set.label,
            data: set.data,
            counts: set.counts,
            backgroundColor: palette[index % palette.length],
            borderRadius: 3,
            maxBarThickness: 28,
          };
        }),
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (context) {
                const set = context.dataset;
                const value = context.raw === null ? "—" : context.raw + (percent ? "%" : "");
                const count = set.counts ? open + set.counts[context.dataIndex] + close : "";
                return set.label + colon + value + count;
              },
            },
          },
        },
      },
    });
  });
})();

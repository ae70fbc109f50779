// Shared by the pages' plotly charts (the case page, the IP page, the IP map).
(function () {
  "use strict";
  window.FraudCase = window.FraudCase || {};

  // Plotly reads hover text as a small HTML subset, and what it shows (account ids, IPs,
  // places, merchants) comes from outside: keep it text.
  window.FraudCase.escapeHtml = function (text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };

  // A map with the world shapes the app serves itself (data-topojson-url, no CDN). Marks the
  // holder data-rendered="<points>" only once plotly has drawn (it fetches the shapes first):
  // tests wait on it.
  window.FraudCase.drawMap = function (holder, traces, layout, points) {
    return window.Plotly.newPlot(holder, traces, layout, {
      displaylogo: false,
      responsive: true,
      topojsonURL: holder.getAttribute("data-topojson-url"),
      modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"]
    }).then(function () {
      holder.setAttribute("data-rendered", String(points));
    });
  };
})();

/* The case page's link graph: drawn with plotly.js from the layout the server computed, when
   htmx has loaded the panel (cases/case/_links_panel.html). */
(function () {
  "use strict";

  var COLOURS = {
    "this case's account": "#0b5cad",
    "account with confirmed fraud": "#a4161a",
    "account with an open case": "#d97706",
    "other account": "#6b7280",
    "IP address": "#0f766e",
    "device": "#7c3aed",
    "shared hub (not followed)": "#111827"
  };
  var SYMBOLS = { account: "circle", ip: "square", device: "diamond" };

  var escapeHtml = window.FraudCase.escapeHtml;  // static/js/charts.js

  function draw() {
    var holder = document.getElementById("case-links-graph");
    if (!holder || !holder.hasAttribute("data-graph") || holder.hasAttribute("data-rendered")) return;
    if (!window.Plotly) {
      holder.textContent = "The graph could not be loaded; the list below has the same links.";
      return;
    }
    var data = JSON.parse(holder.getAttribute("data-graph"));
    var nodes = data.nodes;
    var edgeX = [], edgeY = [];
    data.edges.forEach(function (edge) {
      edgeX.push(nodes[edge[0]].x, nodes[edge[1]].x, null);
      edgeY.push(nodes[edge[0]].y, nodes[edge[1]].y, null);
    });
    var traces = [{
      type: "scatter", mode: "lines", x: edgeX, y: edgeY, hoverinfo: "skip", showlegend: false,
      line: { width: 1, color: "#cbd5e1" }
    }];
    var groups = {};
    nodes.forEach(function (node) {
      (groups[node.category] = groups[node.category] || []).push(node);
    });
    Object.keys(COLOURS).forEach(function (category) {
      var members = groups[category];
      if (!members) return;
      traces.push({
        type: "scatter", mode: "markers", name: category,
        x: members.map(function (n) { return n.x; }),
        y: members.map(function (n) { return n.y; }),
        customdata: members.map(function (n) { return n.url; }),
        text: members.map(function (n) {
          var lines = ["<b>" + escapeHtml(n.value) + "</b>", escapeHtml(n.category)];
          if (n.kind === "account" && n.case) lines.push("case " + escapeHtml(n.case));
          if (n.kind !== "account") lines.push((n.hub ? "more than " : "") + n.accounts + " accounts");
          return lines.join("<br>");
        }),
        hovertemplate: "%{text}<extra></extra>",
        marker: {
          size: members.map(function (n) { return n.hub ? 22 : (n.kind === "account" ? 14 : 10); }),
          color: COLOURS[category],
          symbol: members.map(function (n) { return SYMBOLS[n.kind]; }),
          line: { width: 1, color: "#ffffff" }
        }
      });
    });
    var axis = { visible: false, range: [-1.15, 1.15] };
    window.Plotly.newPlot(holder, traces, {
      margin: { l: 0, r: 0, t: 0, b: 0 }, height: 460, hovermode: "closest",
      xaxis: axis, yaxis: axis, legend: { orientation: "h", y: -0.02 },
      font: { family: "system-ui, sans-serif", size: 12, color: "#1a1f2b" }
    }, { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"] });
    holder.setAttribute("data-rendered", String(nodes.length));
    holder.on("plotly_click", function (event) {
      var url = event.points.length && event.points[0].customdata;
      if (url) window.location.assign(url);
    });
  }

  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

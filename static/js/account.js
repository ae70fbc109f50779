/* The account page's timeline (plotly.js, from the JSON blocks the server rendered): every
   transaction as a point coloured by what became of it, over the account's usual activity
   (a band from p10 to p90 of the amounts not labelled fraud, and its median). */
(function () {
  "use strict";

  var COLOURS = {
    "labelled fraud": "#a4161a",
    "labelled legitimate": "#1b6e3a",
    "decided, no label": "#0b5cad",
    "flagged, undecided": "#b45309"
  };
  var escapeHtml = window.FraudCase.escapeHtml;  // static/js/charts.js

  function draw() {
    var holder = document.getElementById("account-timeline");
    var source = document.getElementById("account-timeline-data");
    var baselineSource = document.getElementById("account-baseline-data");
    if (!holder || !source) return;
    var points = JSON.parse(source.textContent);
    var baseline = baselineSource ? JSON.parse(baselineSource.textContent) : null;
    if (!points.length) {
      holder.textContent = "The account has no transactions to chart.";
      holder.removeAttribute("role");
      return;
    }
    if (!window.Plotly) {
      holder.textContent = "The chart could not be loaded.";
      return;
    }
    var first = points[0].t, last = points[points.length - 1].t;
    var traces = [];
    if (baseline) {
      // The band first, so the points are drawn over it.
      traces.push({
        type: "scatter", mode: "lines", name: "usual (p10–p90)", hoverinfo: "skip",
        x: [first, last, last, first, first],
        y: [baseline.p10, baseline.p10, baseline.p90, baseline.p90, baseline.p10],
        fill: "toself", fillcolor: "rgba(27, 110, 58, 0.12)", line: { width: 0 }
      });
      traces.push({
        type: "scatter", mode: "lines", name: "usual median", hoverinfo: "skip",
        x: [first, last], y: [baseline.median, baseline.median],
        line: { color: "#1b6e3a", dash: "dash", width: 1.5 }
      });
    }
    var groups = {};
    points.forEach(function (point) {
      (groups[point.group] = groups[point.group] || []).push(point);
    });
    Object.keys(groups).sort().forEach(function (name) {
      var members = groups[name];
      var colour = COLOURS[name] || "#4a5366";
      traces.push({
        type: "scatter", mode: "markers", name: name,
        x: members.map(function (p) { return p.t; }),
        y: members.map(function (p) { return p.amount; }),
        text: members.map(function (p) {
          return escapeHtml(p.id) + "<br>" + escapeHtml(p.amount.toFixed(2) + " " + p.currency) +
            "<br>score " + Number(p.score).toFixed(3) +
            (p.outcome ? "<br>detector " + escapeHtml(p.outcome) : "") +
            (p.decision ? "<br>decision " + escapeHtml(p.decision) : "") +
            (p.label ? "<br>label " + escapeHtml(p.label) : "");
        }),
        hovertemplate: "%{text}<extra></extra>",
        marker: { size: 9, color: colour, line: { width: 1, color: "#ffffff" } }
      });
    });
    var layout = {
      margin: { l: 60, r: 10, t: 10, b: 90 },
      height: 360,
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      font: { family: "system-ui, sans-serif", size: 12, color: "#1a1f2b" },
      xaxis: { title: { text: "time" }, gridcolor: "#e5e7eb" },
      yaxis: { title: { text: "amount" }, gridcolor: "#e5e7eb", rangemode: "tozero" },
      legend: { orientation: "h", y: -0.28 },
      hovermode: "closest"
    };
    window.Plotly.newPlot(holder, traces, layout, {
      displaylogo: false,
      responsive: true,
      modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"]
    }).then(function () {
      holder.setAttribute("data-rendered", String(points.length));
      holder.setAttribute("data-baseline", baseline ? "shown" : "none");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

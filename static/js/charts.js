// Shared by the pages' plotly charts (the case page, the account page, the IP page, the IP map).
(function () {
  "use strict";
  window.FraudCase = window.FraudCase || {};

  var PLOT_CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"]
  };

  // Plotly reads hover text as a small HTML subset, and what it shows (account ids, IPs,
  // places, merchants) comes from outside: keep it text.
  var escapeHtml = window.FraudCase.escapeHtml = function (text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };

  // A map with the world shapes the app serves itself (data-topojson-url, no CDN). Marks the
  // holder data-rendered="<points>" only once plotly has drawn (it fetches the shapes first):
  // tests wait on it.
  window.FraudCase.drawMap = function (holder, traces, layout, points) {
    var config = Object.assign({ topojsonURL: holder.getAttribute("data-topojson-url") },
                               PLOT_CONFIG);
    return window.Plotly.newPlot(holder, traces, layout, config).then(function () {
      holder.setAttribute("data-rendered", String(points));
    });
  };

  // --- account timelines (the case page's and the account page's) ---------------------------
  // What became of a transaction, as the server groups them, and its colour.
  window.FraudCase.TIMELINE_COLOURS = {
    "labelled fraud": "#a4161a",
    "labelled legitimate": "#1b6e3a",
    "decided, no label": "#0b5cad",
    "flagged, undecided": "#b45309"
  };
  var TIMELINE_LAYOUT = {
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

  // A timeline trace of points: their times, amounts and hover text (escaped).
  window.FraudCase.timelineTrace = function (name, members, marker) {
    return {
      type: "scatter", mode: "markers", name: name, marker: marker,
      x: members.map(function (p) { return p.t; }),
      y: members.map(function (p) { return p.amount; }),
      text: members.map(function (p) {
        return escapeHtml(p.id) + "<br>" + escapeHtml(p.amount.toFixed(2) + " " + p.currency) +
          "<br>score " + Number(p.score).toFixed(3) +
          (p.outcome ? "<br>detector " + escapeHtml(p.outcome) : "") +
          (p.decision ? "<br>decision " + escapeHtml(p.decision) : "") +
          (p.label ? "<br>label " + escapeHtml(p.label) : "");
      }),
      hovertemplate: "%{text}<extra></extra>"
    };
  };

  // Draws the timeline of the JSON block sourceId into holderId: tracesFor(groups, points)
  // turns the points grouped by their "group" (names sorted) into traces. Says so in the
  // holder when there is nothing to draw or plotly did not load. Marks the holder
  // data-rendered="<points>" once drawn (tests wait on it); then calls drawn(holder), if given.
  window.FraudCase.drawTimeline = function (holderId, sourceId, tracesFor, drawn) {
    var holder = document.getElementById(holderId);
    var source = document.getElementById(sourceId);
    if (!holder || !source) return;
    var points = JSON.parse(source.textContent);
    if (!points.length) {
      holder.textContent = "The account has no transactions to chart.";
      holder.removeAttribute("role");
      return;
    }
    if (!window.Plotly) {
      holder.textContent = "The chart could not be loaded.";
      return;
    }
    var groups = {};
    points.forEach(function (point) {
      (groups[point.group] = groups[point.group] || []).push(point);
    });
    var names = Object.keys(groups).sort();
    var traces = tracesFor(names.map(function (name) { return [name, groups[name]]; }), points);
    window.Plotly.newPlot(holder, traces, TIMELINE_LAYOUT, PLOT_CONFIG).then(function () {
      holder.setAttribute("data-rendered", String(points.length));
      if (drawn) drawn(holder);
    });
  };

  // Runs draw once the page's DOM is there.
  window.FraudCase.whenReady = function (draw) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", draw);
    } else {
      draw();
    }
  };
})();

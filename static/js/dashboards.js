/* The analytics dashboards: every chart drawn with plotly.js from the JSON block the server
   rendered (#dashboard-charts, one spec per chart id). The same figures are in each chart's
   table and CSV. Marks each holder data-rendered="<points>" once drawn: tests wait on it. */
(function () {
  "use strict";

  var CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage", "autoScale2d"]
  };

  function trace(spec) {
    var drawn = { name: spec.name, x: spec.x, y: spec.y };
    if (spec.kind === "bar") {
      drawn.type = "bar";
    } else {
      drawn.type = "scatter";
      drawn.mode = spec.kind === "markers" ? "markers" : (spec.kind === "line" ? "lines" : "lines+markers");
    }
    if (spec.axis) drawn.yaxis = spec.axis;
    return drawn;
  }

  function layout(spec) {
    var drawn = {
      height: 340,
      margin: { l: 60, r: 30, t: 10, b: 50 },
      barmode: spec.stacked ? "stack" : "group",
      hovermode: spec.traces.length && spec.traces[0].kind === "bar" ? "x unified" : "closest",
      legend: { orientation: "h", y: -0.2 },
      xaxis: { title: { text: spec.x_title }, automargin: true },
      yaxis: { title: { text: spec.y_title }, automargin: true, rangemode: "tozero" },
      shapes: [],
      annotations: []
    };
    if (spec.percent) drawn.yaxis.tickformat = ".0%";
    // Days on x: label them as days (plotly's date axis shows a lone day as "00:00:00").
    var first = spec.traces.length ? spec.traces[0].x : [];
    if (first.length && first.every(function (v) { return /^\d{4}-\d{2}-\d{2}$/.test(v); })) {
      drawn.xaxis.tickformat = "%-d %b %Y";
      drawn.xaxis.hoverformat = "%a %-d %b %Y";
    }
    if (spec.traces.some(function (t) { return t.axis === "y2"; })) {
      drawn.yaxis2 = { overlaying: "y", side: "right", rangemode: "tozero" };
    }
    spec.lines.forEach(function (line) {
      drawn.shapes.push({
        type: "line", xref: "paper", x0: 0, x1: 1, y0: line.y, y1: line.y,
        line: { color: "#a4161a", width: 1, dash: "dash" }
      });
      drawn.annotations.push({
        xref: "paper", x: 1, y: line.y, text: line.label, showarrow: false,
        xanchor: "right", yanchor: "bottom", font: { size: 11, color: "#a4161a" }
      });
    });
    return drawn;
  }

  function draw(holder, spec) {
    var points = spec.traces.reduce(function (sum, t) { return sum + t.x.length; }, 0);
    if (!points) {
      holder.classList.add("dashboard-empty");
      holder.textContent = "No figures in this range.";
      holder.setAttribute("data-rendered", "0");
      return;
    }
    window.Plotly.newPlot(holder, spec.traces.map(trace), layout(spec), CONFIG).then(function () {
      holder.setAttribute("data-rendered", String(points));
    });
  }

  var source = document.getElementById("dashboard-charts");
  if (!source) return;
  var specs = JSON.parse(source.textContent);
  Object.keys(specs).forEach(function (id) {
    var holder = document.getElementById(id);
    if (!holder) return;
    if (!window.Plotly) {
      holder.textContent = "The chart could not be loaded; its figures are in the table below.";
      return;
    }
    draw(holder, specs[id]);
  });
})();

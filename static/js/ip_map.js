/* The IP map (plotly.js scattergeo, from the JSON block the server rendered). The world shapes
   come from static/vendor/topojson (no CDN): the page gives their folder in data-topojson-url. */
(function () {
  "use strict";

  var escapeHtml = window.FraudCase.escapeHtml;  // static/js/charts.js

  function hoverText(p) {
    var asn = p.asn ? "AS" + p.asn + (p.as_org ? " " + escapeHtml(p.as_org) : "") : "ASN unknown";
    var rate = p.fraud_rate === null
      ? "no labelled transactions"
      : (100 * p.fraud_rate).toFixed(0) + "% fraud of " + p.labelled + " labelled";
    return "<b>" + escapeHtml(p.ip) + "</b><br>" + escapeHtml(p.place) + "<br>" + asn +
      "<br>" + p.transactions + " transactions, " + rate +
      "<br>" + p.accounts + " accounts" +
      (p.sample_accounts.length ? ": " + p.sample_accounts.map(escapeHtml).join(", ") : "") +
      "<br>" + p.cases + " cases (" + p.open_cases + " open)" +
      (p.sample_cases.length ? ": " + p.sample_cases.map(escapeHtml).join(", ") : "");
  }

  // Fraud rate 0..1 on a green-amber-red scale; no labelled transactions (-0.1) grey.
  var FRAUD_COLOURS = {
    color: function (points) {
      return points.map(function (p) { return p.fraud_rate === null ? -0.1 : p.fraud_rate; });
    },
    colorscale: [[0, "#9ca3af"], [0.0909, "#9ca3af"], [0.0910, "#1b6e3a"], [0.55, "#d97706"], [1, "#a4161a"]],
    cmin: -0.1, cmax: 1,
    colorbar: { title: { text: "fraud rate" }, tickvals: [-0.05, 0, 0.5, 1], ticktext: ["no labels", "0%", "50%", "100%"] }
  };
  var OPEN_CASE_COLOURS = {
    color: function (points) { return points.map(function (p) { return p.open_cases; }); },
    colorscale: [[0, "#cbd5e1"], [0.001, "#fbbf24"], [1, "#7f1d1d"]],
    cmin: 0, cmax: null,
    colorbar: { title: { text: "open cases" } }
  };

  function marker(points, scheme) {
    var colours = scheme.color(points);
    var most = Math.max.apply(null, points.map(function (p) { return p.transactions; }).concat([1]));
    return {
      size: points.map(function (p) { return 6 + 24 * Math.sqrt(p.transactions / most); }),
      sizemode: "diameter",
      color: colours,
      colorscale: scheme.colorscale,
      cmin: scheme.cmin,
      cmax: scheme.cmax === null ? Math.max.apply(null, colours.concat([1])) : scheme.cmax,
      colorbar: scheme.colorbar,
      showscale: true,
      opacity: 0.8,
      line: { width: 0.5, color: "#ffffff" }
    };
  }

  function draw() {
    var holder = document.getElementById("ip-map");
    var source = document.getElementById("ip-map-data");
    if (!holder || !source) return;
    var points = JSON.parse(source.textContent).points;
    if (!window.Plotly) {
      holder.textContent = "The map could not be loaded.";
      return;
    }
    var trace = {
      type: "scattergeo",
      mode: "markers",
      lat: points.map(function (p) { return p.lat; }),
      lon: points.map(function (p) { return p.lon; }),
      text: points.map(hoverText),
      customdata: points.map(function (p) { return p.url; }),
      hovertemplate: "%{text}<extra></extra>",
      marker: marker(points, FRAUD_COLOURS)
    };
    var layout = {
      margin: { l: 0, r: 0, t: 0, b: 0 },
      height: 520,
      geo: {
        projection: { type: "natural earth" },
        lonaxis: { range: [-180, 180] },
        lataxis: { range: [-58, 84] },
        showcountries: true, countrycolor: "#d5d9e2",
        showland: true, landcolor: "#f3f4f6",
        showocean: true, oceancolor: "#eef4fb",
        showframe: false
      },
      font: { family: "system-ui, sans-serif", size: 12, color: "#1a1f2b" }
    };
    window.FraudCase.drawMap(holder, [trace], layout, points.length);
    holder.on("plotly_click", function (event) {
      var url = event.points.length && event.points[0].customdata;
      if (url) window.location.assign(url);
    });
    document.querySelectorAll('input[name="ip-map-colour"]').forEach(function (input) {
      input.addEventListener("change", function () {
        var scheme = input.value === "open_cases" ? OPEN_CASE_COLOURS : FRAUD_COLOURS;
        window.Plotly.restyle(holder, { marker: [marker(points, scheme)] }, [0]);
        holder.setAttribute("data-colour", input.value);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

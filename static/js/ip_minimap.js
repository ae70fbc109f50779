/* Mini maps of source IPs (plotly.js scattergeo) on the case page and the IP page.
   Each holder carries its points as JSON in data-map (an escaped attribute: no script tag in
   the page body) and the local topojson folder in data-topojson-url (no CDN). Points are joined in time order; impossible legs are red. */
(function () {
  "use strict";

  var escapeHtml = window.FraudCase.escapeHtml;  // static/js/charts.js

  function draw(holder) {
    var data = JSON.parse(holder.getAttribute("data-map"));
    var points = data.points || [];
    if (!points.length) {
      holder.textContent = "No source IP here has a place on the map.";
      holder.removeAttribute("role");
      holder.setAttribute("data-rendered", "0");
      return;
    }
    if (!window.Plotly) {
      holder.textContent = "The map could not be loaded.";
      return;
    }
    var traces = [{
      type: "scattergeo",
      mode: points.length > 1 ? "lines+markers" : "markers",
      name: "transactions in time order",
      lat: points.map(function (p) { return p.lat; }),
      lon: points.map(function (p) { return p.lon; }),
      text: points.map(function (p) {
        return (p.tx ? escapeHtml(p.tx) + "<br>" : "") + escapeHtml(p.ip) + "<br>" +
          escapeHtml(p.place) + (p.t ? "<br>" + escapeHtml(p.t) : "");
      }),
      hovertemplate: "%{text}<extra></extra>",
      line: { width: 1.5, color: "#0b5cad" },
      marker: { size: 9, color: "#0b5cad", line: { width: 1, color: "#ffffff" } }
    }];
    (data.impossible || []).forEach(function (leg, index) {
      traces.push({
        type: "scattergeo",
        mode: "lines",
        name: "impossible travel",
        showlegend: index === 0,
        lat: [leg.from[0], leg.to[0]],
        lon: [leg.from[1], leg.to[1]],
        hoverinfo: "skip",
        line: { width: 3, color: "#a4161a", dash: "dot" }
      });
    });
    var layout = {
      margin: { l: 0, r: 0, t: 0, b: 0 },
      height: 300,
      paper_bgcolor: "#ffffff",
      font: { family: "system-ui, sans-serif", size: 12, color: "#1a1f2b" },
      showlegend: traces.length > 1,
      legend: { orientation: "h", y: 0 },
      geo: {
        scope: "world",
        resolution: 110,
        projection: { type: "natural earth" },
        showcountries: true,
        countrycolor: "#c9ced8",
        showland: true,
        landcolor: "#f3f4f6",
        showocean: true,
        oceancolor: "#e8eef7",
        showcoastlines: true,
        coastlinecolor: "#9aa3b2",
        // The server's view (cases/ips/map_view.py): never closer than a country with its
        // neighbours, so one point (or many in one city) is not a blank polygon.
        fitbounds: false
      }
    };
    if (data.view) {
      layout.geo.center = { lat: data.view.lat, lon: data.view.lon };
      layout.geo.projection.scale = data.view.scale;
    }
    window.FraudCase.drawMap(holder, traces, layout, points.length);
  }

  function drawAll() {
    document.querySelectorAll(".ip-minimap[data-map]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();

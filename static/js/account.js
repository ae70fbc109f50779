/* The account page's timeline (plotly.js, from the JSON blocks the server rendered): every
   transaction as a point coloured by what became of it, over the account's usual activity
   (a band from p10 to p90 of the amounts not labelled fraud, and its median). Drawn by the
   timeline helpers the case page shares (static/js/charts.js). */
(function () {
  "use strict";

  var FraudCase = window.FraudCase;

  function baselineTraces(baseline, points) {
    var first = points[0].t, last = points[points.length - 1].t;
    // The band first, so the points are drawn over it.
    return [
      {
        type: "scatter", mode: "lines", name: "usual (p10–p90)", hoverinfo: "skip",
        x: [first, last, last, first, first],
        y: [baseline.p10, baseline.p10, baseline.p90, baseline.p90, baseline.p10],
        fill: "toself", fillcolor: "rgba(27, 110, 58, 0.12)", line: { width: 0 }
      },
      {
        type: "scatter", mode: "lines", name: "usual median", hoverinfo: "skip",
        x: [first, last], y: [baseline.median, baseline.median],
        line: { color: "#1b6e3a", dash: "dash", width: 1.5 }
      }
    ];
  }

  FraudCase.whenReady(function () {
    var baselineSource = document.getElementById("account-baseline-data");
    var baseline = baselineSource ? JSON.parse(baselineSource.textContent) : null;
    FraudCase.drawTimeline("account-timeline", "account-timeline-data", function (groups, points) {
      var traces = baseline ? baselineTraces(baseline, points) : [];
      groups.forEach(function (group) {
        var colour = FraudCase.TIMELINE_COLOURS[group[0]] || "#4a5366";
        traces.push(FraudCase.timelineTrace(group[0], group[1], {
          size: 9, color: colour, line: { width: 1, color: "#ffffff" }
        }));
      });
      return traces;
    }, function (holder) {
      holder.setAttribute("data-baseline", baseline ? "shown" : "none");
    });
  });
})();

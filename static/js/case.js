/* The case page: dialogs, reason codes that fit the chosen resolution, the SLA countdown and
   the account timeline chart (plotly.js, from the JSON block the server rendered). */
(function () {
  "use strict";

  // --- dialogs ------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
      if (dialog && !dialog.open) {
        dialog.showModal();
        var first = dialog.querySelector("input:not([type=hidden]), select, textarea");
        if (first) first.focus();
      }
      return;
    }
    var closer = event.target.closest("[data-dialog-close]");
    if (closer) {
      closer.closest("dialog").close();
    }
  });

  // --- close dialog: reason codes that fit the resolution -----------------------------------
  function filterReasons(form) {
    var chosen = form.querySelector('input[name="resolution"]:checked');
    form.querySelectorAll("[data-resolution]").forEach(function (label) {
      var fits =
        !chosen || !label.getAttribute("data-resolution") ||
        label.getAttribute("data-resolution") === chosen.value;
      label.hidden = !fits;
      if (!fits) label.querySelector("input").checked = false;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "resolution" && event.target.form) filterReasons(event.target.form);
  });

  // --- SLA countdown ------------------------------------------------------------------------
  function span(totalMinutes) {
    var days = Math.floor(totalMinutes / 1440);
    var hours = Math.floor((totalMinutes % 1440) / 60);
    var minutes = totalMinutes % 60;
    if (days) return days + " d " + hours + " h";
    if (hours) return hours + " h " + (minutes < 10 ? "0" : "") + minutes + " min";
    return minutes + " min";
  }
  function tickSla() {
    document.querySelectorAll(".case-sla[data-due]").forEach(function (holder) {
      var due = Date.parse(holder.getAttribute("data-due"));
      if (isNaN(due)) return;
      var seconds = (due - Date.now()) / 1000;
      var text = seconds < 0
        ? "overdue by " + span(Math.floor(-seconds / 60))
        : "due in " + span(Math.floor(seconds / 60));
      holder.querySelector("time").textContent = text;
      holder.classList.toggle("case-sla-breached", seconds < 0);
    });
  }
  setInterval(tickSla, 30000);

  // --- account timeline ---------------------------------------------------------------------
  var COLOURS = {
    "labelled fraud": "#a4161a",
    "labelled legitimate": "#1b6e3a",
    "decided, no label": "#0b5cad",
    "flagged, undecided": "#b45309"
  };

  var escapeHtml = window.FraudCase.escapeHtml;  // static/js/charts.js

  function drawTimeline() {
    var holder = document.getElementById("case-timeline");
    var source = document.getElementById("case-timeline-data");
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
    var traces = Object.keys(groups).sort().map(function (name) {
      var members = groups[name];
      var inCase = members[0].in_case;
      var status = name.split(": ")[1];
      var colour = COLOURS[status] || "#4a5366";
      return {
        type: "scatter",
        mode: "markers",
        name: name,
        x: members.map(function (p) { return p.t; }),
        y: members.map(function (p) { return p.amount; }),
        text: members.map(function (p) {
          return escapeHtml(p.id) + "<br>" + escapeHtml(p.amount.toFixed(2) + " " + p.currency) +
            "<br>score " + Number(p.score).toFixed(3) +
            (p.decision ? "<br>decision " + escapeHtml(p.decision) : "") +
            (p.label ? "<br>label " + escapeHtml(p.label) : "");
        }),
        hovertemplate: "%{text}<extra></extra>",
        marker: {
          size: inCase ? 11 : 8,
          symbol: inCase ? "circle" : "diamond-open",
          color: colour,
          line: { width: inCase ? 1 : 2, color: inCase ? "#ffffff" : colour }
        }
      };
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
    });
    holder.setAttribute("data-rendered", String(points.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawTimeline);
  } else {
    drawTimeline();
  }
})();

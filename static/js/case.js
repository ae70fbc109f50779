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

  // --- account timeline (drawn by the helpers the account page shares: static/js/charts.js) -
  var FraudCase = window.FraudCase;
  FraudCase.whenReady(function () {
    FraudCase.drawTimeline("case-timeline", "case-timeline-data", function (groups) {
      return groups.map(function (group) {
        var members = group[1];
        var inCase = members[0].in_case;
        var colour = FraudCase.TIMELINE_COLOURS[group[0].split(": ")[1]] || "#4a5366";
        return FraudCase.timelineTrace(group[0], members, {
          size: inCase ? 11 : 8,
          symbol: inCase ? "circle" : "diamond-open",
          color: colour,
          line: { width: inCase ? 1 : 2, color: inCase ? "#ffffff" : colour }
        });
      });
    });
  });
})();

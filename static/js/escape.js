// Shared by the pages' plotly charts: plotly reads hover text as a small HTML subset, and
// what it shows (account ids, IPs, places, merchants) comes from outside: keep it text.
(function () {
  "use strict";
  window.FraudCase = window.FraudCase || {};
  window.FraudCase.escapeHtml = function (text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };
})();

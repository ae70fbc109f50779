/* The curation page while a worker computes a range's IPs and ASNs: asks the status endpoint
   every few seconds, shows the seconds elapsed and the estimated progress, and reloads the
   page once when the figures are ready (or shows the failure). A plain fetch: an answer that
   is not the status (a redirect to sign in) is ignored, never followed. */
(function () {
  "use strict";

  var box = document.getElementById("curation-computation");
  if (!box || box.getAttribute("data-state") !== "computing") { return; }
  var elapsed = document.getElementById("curation-computation-elapsed");
  var estimate = document.getElementById("curation-computation-estimate");
  var bar = document.getElementById("curation-computation-progress");
  var text = document.getElementById("curation-computation-text");
  var timer = null;

  function show(status) {
    box.setAttribute("data-state", status.state);
    if (status.state === "ready") {
      window.clearInterval(timer);
      window.location.assign(box.getAttribute("data-page-url"));
      return;
    }
    if (status.state === "failed" || status.state === "none") {
      window.clearInterval(timer);
      text.textContent = status.state === "failed"
        ? "Computing the IPs and ASNs failed: " + status.error + " Reload the page to try again."
        : "The computation is no longer known. Reload the page to ask for it again.";
      text.className = "error";
      text.setAttribute("role", "alert");
      bar.hidden = true;
      return;
    }
    if (typeof status.elapsed_seconds === "number") {
      elapsed.textContent = String(status.elapsed_seconds);
    }
    if (typeof status.percent === "number") {
      estimate.textContent = "About " + status.percent + "% done (an estimate, from the last " +
        "comparable computation: about " + status.estimate_seconds + " s).";
      bar.value = status.progress;
      bar.textContent = String(status.percent) + "%";
    }
  }

  function refresh() {
    fetch(box.getAttribute("data-status-url"), {
      credentials: "same-origin",
      redirect: "manual",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { return null; }
      return response.json();
    }).then(function (status) {
      if (status && typeof status.state === "string") { show(status); }
    }).catch(function () { /* offline: keep the last figures, ask again */ });
  }

  timer = window.setInterval(refresh, 3000);
})();

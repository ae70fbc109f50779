/* The top bar's bell: the unread notification count, fetched after the page and every minute.
   A plain fetch, not htmx: an answer that is not the count (a redirect to sign in or to the
   second factor) is ignored, never followed or swapped in. */
(function () {
  "use strict";

  var bell = document.querySelector(".bell[data-badge-url]");
  if (!bell) { return; }
  var slot = bell.querySelector(".bell-slot");

  function show(unread) {
    var count = document.createElement("span");
    count.id = "bell-count";
    count.className = "bell-count" + (unread ? "" : " bell-count-zero");
    count.setAttribute("data-unread", String(unread));
    count.textContent = String(unread);
    var hint = document.createElement("span");
    hint.className = "bell-sr";
    hint.textContent = " unread";
    count.appendChild(hint);
    slot.replaceChildren(count);
  }

  function refresh() {
    fetch(bell.getAttribute("data-badge-url"), {
      credentials: "same-origin",
      redirect: "manual",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { return null; }
      return response.json();
    }).then(function (data) {
      if (data && typeof data.unread === "number") { show(data.unread); }
    }).catch(function () { /* offline: keep the last count */ });
  }

  refresh();
  window.setInterval(refresh, 60000);
})();

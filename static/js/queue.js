// The triage queue's keyboard shortcuts and small helpers (plain JS, no build step).
// j / k move the row focus, Enter opens the case, a assigns it to me, x selects it, ? helps.
(function () {
  "use strict";

  const rowsBody = document.getElementById("queue-rows");
  const help = document.getElementById("queue-help");
  const bulkForm = document.getElementById("queue-bulk-form");
  const selectAll = document.getElementById("queue-select-all");
  const selectedCount = document.getElementById("queue-selected-count");
  // The list refreshes itself only while someone works the page: polling from a tab left
  // open must not keep the session alive past its idle timeout.
  const IDLE_AFTER_MS = 10 * 60 * 1000;
  let lastActivity = Date.now();
  ["keydown", "pointerdown", "pointermove", "wheel"].forEach(function (type) {
    document.addEventListener(type, function () { lastActivity = Date.now(); }, { passive: true });
  });
  // The refresh's trigger filter: not while cases are selected or the bulk form is in use,
  // not once the page has been idle for IDLE_AFTER_MS.
  window.queueMayRefresh = function () {
    return (
      Date.now() - lastActivity < IDLE_AFTER_MS &&
      !document.querySelector("input.queue-select:checked") &&
      !(bulkForm && bulkForm.matches(":focus-within"))
    );
  };
  // Applied here, not as an hx-trigger filter: htmx evaluates those with Function(), which the
  // Content-Security-Policy refuses.
  if (rowsBody) {
    rowsBody.addEventListener("htmx:confirm", function (event) {
      if (event.target === rowsBody && !window.queueMayRefresh()) event.preventDefault();
    });
  }
  // The row that had the focus, remembered across the 30 s refresh that replaces the rows.
  let focusedCaseId = null;
  let focusedIndex = -1;
  let restoreFocus = false;

  function rows() {
    return rowsBody ? Array.from(rowsBody.querySelectorAll("tr.queue-row")) : [];
  }

  function rowOf(element) {
    return element && element.closest ? element.closest("tr.queue-row") : null;
  }

  function focusRow(row) {
    if (!row) return;
    rows().forEach(function (other) { other.setAttribute("tabindex", "-1"); });
    row.setAttribute("tabindex", "0");
    row.focus();
    row.scrollIntoView({ block: "nearest" });
    focusedCaseId = row.dataset.caseId;
    focusedIndex = rows().indexOf(row);
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const row = rowOf(document.activeElement);
    let index = row ? all.indexOf(row) + step : step > 0 ? 0 : all.length - 1;
    index = Math.max(0, Math.min(all.length - 1, index));
    focusRow(all[index]);
  }

  function typing(target) {
    if (!target) return false;
    const tag = target.tagName;
    return target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function assignToMe(row) {
    if (!row || !bulkForm || !window.htmx) return;
    restoreFocus = true;
    window.htmx.ajax("POST", bulkForm.getAttribute("action"), {
      target: "#queue-rows",
      swap: "innerHTML",
      values: {
        action: "assign_to_me",
        case_ids: row.dataset.caseId,
        query: bulkForm.elements.query.value,
      },
      headers: { "X-CSRFToken": csrfToken() },
    });
  }

  function openHelp() {
    if (help && !help.open) help.showModal();
  }

  function updateSelection() {
    if (!rowsBody) return;
    const boxes = Array.from(rowsBody.querySelectorAll("input.queue-select"));
    const checked = boxes.filter(function (box) { return box.checked; }).length;
    if (selectedCount) {
      selectedCount.textContent = checked
        ? checked + (checked === 1 ? " case selected" : " cases selected")
        : "No cases selected";
    }
    if (selectAll) {
      selectAll.checked = checked > 0 && checked === boxes.length;
      selectAll.indeterminate = checked > 0 && checked < boxes.length;
    }
  }

  function showBulkFields() {
    if (!bulkForm) return;
    const action = bulkForm.elements.action.value;
    bulkForm.querySelectorAll("[data-bulk-for]").forEach(function (group) {
      group.hidden = group.dataset.bulkFor !== action;
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || (help && help.open)) return;
    const row = rowOf(event.target);
    switch (event.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "Enter":
        // On a link or button inside the row, Enter does what that element does.
        if (!row || event.target !== row) return;
        window.location.assign(row.dataset.caseUrl);
        break;
      case "a":
        if (!row) return;
        assignToMe(row);
        break;
      case "x": {
        if (!row) return;
        const box = row.querySelector("input.queue-select");
        box.checked = !box.checked;
        updateSelection();
        break;
      }
      case "?":
        openHelp();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  document.querySelectorAll("[data-queue-help]").forEach(function (button) {
    button.addEventListener("click", openHelp);
  });

  if (rowsBody) {
    rowsBody.addEventListener("click", function (event) {
      const row = rowOf(event.target);
      if (row && !event.target.closest("a, input, button")) focusRow(row);
    });
    rowsBody.addEventListener("change", updateSelection);
    rowsBody.addEventListener("htmx:beforeSwap", function () {
      restoreFocus = restoreFocus || rowOf(document.activeElement) !== null;
    });
    rowsBody.addEventListener("htmx:afterSwap", function () {
      updateSelection();
      if (!restoreFocus) return;
      restoreFocus = false;
      const all = rows();
      const same = all.find(function (row) { return row.dataset.caseId === focusedCaseId; });
      focusRow(same || all[Math.min(Math.max(focusedIndex, 0), all.length - 1)]);
    });
  }
  if (selectAll && rowsBody) {
    selectAll.addEventListener("change", function () {
      rowsBody.querySelectorAll("input.queue-select").forEach(function (box) {
        box.checked = selectAll.checked;
      });
      updateSelection();
    });
  }
  if (bulkForm) {
    bulkForm.elements.action.addEventListener("change", showBulkFields);
    showBulkFields();
  }
  updateSelection();
})();

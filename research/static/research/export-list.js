// Keeps the export list current while an export is queued or running: every few seconds it
// fetches the page again and swaps in the new table, so focus and scroll position stay where the
// reader left them (a full reload would send a screen reader back to the top). Without
// JavaScript, a <noscript> refresh does the same job; "Stop updating automatically" turns either off.
(function () {
  "use strict";
  var INTERVAL_MS = 5000;

  function swap(fresh) {
    var current = document.getElementById("exports");
    var focused = document.activeElement;
    var focusedId = focused && current.contains(focused) ? focused.id : "";
    current.replaceWith(fresh);
    if (focusedId && document.getElementById(focusedId)) {
      document.getElementById(focusedId).focus();
    }
    return fresh.dataset.inProgress === "true";
  }

  function poll() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("exports");
        if (fresh && swap(fresh)) {
          window.setTimeout(poll, INTERVAL_MS);
        }
      })
      .catch(function () {
        window.setTimeout(poll, INTERVAL_MS * 4);
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();

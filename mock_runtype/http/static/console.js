// mock-runtype console: the live journal. Without this script every page still reads; with it the
// journal's rows are fetched again each second while the page is visible (a small HTML fragment,
// the same filter), and replaced only when they changed, so focus and selection stay put.
(function () {
  "use strict";
  var rows = document.querySelector("[data-live]");
  if (!rows) { return; }
  var state = document.querySelector("[data-live-state]");
  var last = null;
  var busy = false;
  if (state) { state.textContent = "live: updates every second"; }
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(rows.getAttribute("data-live"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.redirected) { window.location.reload(); throw new Error("signed out"); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html !== last) { last = html; rows.innerHTML = html; }
        if (state) { state.textContent = "live: updates every second"; }
      })
      .catch(function () { if (state) { state.textContent = "live: paused (the server did not answer)"; } })
      .then(function () { busy = false; });
  }
  window.setInterval(refresh, 1000);
})();

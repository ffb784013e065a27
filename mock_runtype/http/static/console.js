// mock-runtype console: the live journal. Without this script every page still reads; with it the
// journal's rows are asked for again each second while the page is visible (the same filter,
// naming the journal version already shown: an unchanged journal answers 204, no body), and
// replaced only when they changed, so focus and selection stay put.
(function () {
  "use strict";
  var rows = document.querySelector("[data-live]");
  if (!rows) { return; }
  var state = document.querySelector("[data-live-state]");
  var base = rows.getAttribute("data-live");
  var seen = rows.getAttribute("data-version") || "";
  var busy = false;
  function say(text) { if (state) { state.textContent = text; } }
  say("live: updates every second");
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    var url = base + (base.indexOf("?") < 0 ? "?" : "&") + "seen=" + encodeURIComponent(seen);
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.redirected) { window.location.reload(); throw new Error("signed out"); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        say("live: updates every second");
        if (response.status === 204) { return; }
        seen = response.headers.get("X-Journal-Version") || "";
        return response.text().then(function (html) { rows.innerHTML = html; });
      })
      .catch(function () { say("live: paused (the server did not answer)"); })
      .then(function () { busy = false; });
  }
  window.setInterval(refresh, 1000);
})();

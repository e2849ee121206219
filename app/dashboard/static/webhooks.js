// The app page's delivery log: while a delivery is pending, fetch the log again every 1.5 s
// and swap it in, so "Send test" turns into delivered or failed without a reload.
(function () {
  "use strict";
  var DELAY_MS = 1500;

  function pending() {
    var log = document.getElementById("webhook-log");
    return log && log.querySelector('tr[data-state="pending"]') ? log : null;
  }

  function refresh() {
    var log = pending();
    if (!log) return;
    fetch(log.dataset.url, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : Promise.reject(answer.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("webhook-log");
        if (fresh) log.replaceWith(fresh);
      })
      .catch(function () { /* try again on the next turn */ })
      .then(function () { if (pending()) setTimeout(refresh, DELAY_MS); });
  }

  if (pending()) setTimeout(refresh, DELAY_MS);
})();

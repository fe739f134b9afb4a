// Progressive enhancement for the console's pages; no inline script anywhere (CSP-friendly). Loaded with
// `defer`, after htmx and before htmx processes the page, and re-applied after every htmx swap.
//  - Times are rendered in UTC by the server; on hover, show the viewer's own local time too.
//  - Relative times ("3 min 12 s ago" with data-since, "in 1 min 30 s" with data-until) are kept current
//    between server renders, on the server's clock.
//  - htmx under the Content-Security-Policy, and the person's own htmx requests marked (below).
(function () {
  "use strict";

  // The policy has no 'unsafe-eval', and base.html's htmx-config turns htmx's eval off: htmx would compile
  // an hx-trigger filter such as [document.visibilityState === 'visible'] with Function(). The pages use
  // exactly one filter, "poll only while the tab is visible", so htmx is handed those triggers already
  // parsed, with the filter as a plain function, through htmx.config.triggerSpecsCache (htmx's hook for
  // caching parsed triggers; a Proxy fills it on demand). Any other filter is refused by htmx, which logs
  // htmx:evalDisallowedError: the browser tests fail on that console error.
  var VISIBLE_POLL = /^every (\d+(?:ms|s|m)?) \[document\.visibilityState === 'visible'\]$/;
  function whileVisible() { return document.visibilityState === "visible"; }
  htmx.config.triggerSpecsCache = new Proxy({}, {
    get: function (cache, trigger) {
      if (typeof trigger === "string" && !Object.prototype.hasOwnProperty.call(cache, trigger)) {
        var poll = VISIBLE_POLL.exec(trigger);
        if (poll) {
          var interval = htmx.parseInterval(poll[1]);
          cache[trigger] = [{ trigger: "every", pollInterval: interval, eventFilter: whileVisible }];
        }
      }
      return cache[trigger];
    }
  });

  // The idle timeout (portal/sessions.py) counts only what the person does. htmx requests that a real browser
  // event triggered (a click, typing, a submit) say so; polls, lazy loads and history restores don't, so a
  // page left open and polling still times out.
  document.addEventListener("htmx:configRequest", function (evt) {
    var cause = evt.detail.triggeringEvent;
    if (cause && cause.isTrusted) evt.detail.headers["X-Console-Activity"] = "user";
  });

  // One clock: the server's. The page carries the server's time when it was rendered (data-server-now on
  // <body>); the offset to the browser's clock is applied to every relative time, so a browser whose clock
  // is off never moves them (see deployments/clock.py, which renders the same words).
  var offset = 0;
  var serverNow = Date.parse(document.body ? document.body.getAttribute("data-server-now") || "" : "");
  if (!isNaN(serverNow)) offset = serverNow - Date.now();
  function now() { return Date.now() + offset; }

  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var units = [[Math.floor(s / 86400), "d"], [Math.floor((s % 86400) / 3600), "h"],
                 [Math.floor((s % 3600) / 60), "min"], [s % 60, "s"]];
    var first = 0;
    while (first < units.length - 1 && !units[first][0]) first++;
    var shown = units.slice(first, first + 2).filter(function (u) { return u[0]; });
    return shown.map(function (u) { return u[0] + " " + u[1]; }).join(" ") || "0 s";
  }

  // A past moment: "4 min 12 s ago"; "just now" for the last ten seconds and for a moment the clock has not
  // reached yet (an event that happened is never "from now").
  function since(ms) { return ms < 10000 ? "just now" : duration(ms) + " ago"; }
  // A future moment: "in 1 min 30 s"; "now" once passed.
  function until(ms) { return ms < 1000 ? "now" : "in " + duration(ms); }

  function localise(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      var utc = el.getAttribute("title") || el.textContent.trim();
      el.setAttribute("title", utc + " · your time: " + moment.toLocaleString());
      el.setAttribute("data-local", "");
    });
  }

  function refreshRelative(root) {
    var at = now();
    root.querySelectorAll("[data-since]").forEach(function (el) {
      var moment = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(moment)) el.textContent = since(at - moment);
    });
    root.querySelectorAll("[data-until]").forEach(function (el) {
      var moment = Date.parse(el.getAttribute("data-until"));
      if (!isNaN(moment)) el.textContent = until(moment - at);
    });
  }

  function enhance() { localise(document); refreshRelative(document); }

  document.addEventListener("DOMContentLoaded", enhance);
  document.addEventListener("htmx:afterSettle", enhance);
  setInterval(function () { refreshRelative(document); }, 5000);
})();

// Progressive enhancement for the console's pages; no inline script anywhere (CSP-friendly). Loaded with
// `defer`, after htmx and before htmx processes the page, and re-applied after every htmx swap.
//  - Times are rendered in UTC by the server; on hover, show the viewer's own local time too.
//  - Relative times ("3 minutes ago", elements with data-since) are kept current between server renders.
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

  function plural(n, unit) { return n + " " + unit + (n === 1 ? "" : "s"); }

  function relative(ms) {
    var s = Math.round(Math.abs(ms) / 1000);
    var text;
    if (s < 10) return "now";
    if (s < 60) text = plural(s, "second");
    else if (s < 3600) text = plural(Math.floor(s / 60), "minute");
    else if (s < 86400) {
      var minutes = Math.floor((s % 3600) / 60);
      text = plural(Math.floor(s / 3600), "hour") + (minutes ? ", " + plural(minutes, "minute") : "");
    } else {
      var hours = Math.floor((s % 86400) / 3600);
      text = plural(Math.floor(s / 86400), "day") + (hours ? ", " + plural(hours, "hour") : "");
    }
    return ms < 0 ? text + " from now" : text + " ago";
  }

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
    var now = Date.now();
    root.querySelectorAll("[data-since]").forEach(function (el) {
      var moment = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(moment)) el.textContent = relative(now - moment);
    });
  }

  function enhance() { localise(document); refreshRelative(document); }

  document.addEventListener("DOMContentLoaded", enhance);
  document.addEventListener("htmx:afterSettle", enhance);
  setInterval(function () { refreshRelative(document); }, 15000);
})();

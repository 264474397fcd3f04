/*
 * Console add-on: team away mode.
 *
 * While an admin has set the team away (PUT /api/availability), customers asking for a
 * person are offered a ticket instead of the queue; every console shows a banner saying so,
 * with the message customers see. Admins get a top-bar button to set the team away (asking
 * for that message) and, in the banner, one to bring it back. The banner follows the live
 * feed (console.js re-announces each event as "console:event": team.away, team.back, and
 * hello after every reconnect). Text goes into the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  var kit = window.StaffKit;
  var toast = kit.toast, errorOf = kit.errorOf;
  var STORE = "hp-console";
  var $ = function (id) { return document.getElementById(id); };

  function session() { return kit.readSession(STORE); }
  function isAdmin() { return (session().user || {}).role === "admin"; }

  var api = kit.apiClient({token: function () { return session().token; },
                          onUnauthorized: function () { /* console.js shows the login */ },
                          offline: "The console cannot reach the server."});

  function show(away) {
    var banner = $("away-banner"), toggle = $("away-toggle"), back = $("away-back");
    if (!banner) return;
    banner.hidden = !away;
    $("away-text").textContent = away
      ? "Team away: customers are offered a ticket instead of the queue. They read: \u201c" +
        away.message + "\u201d (set by " + away.by + ")."
      : "";
    if (back) back.hidden = !(away && isAdmin());
    if (toggle) toggle.hidden = !isAdmin() || !!away;
  }

  function load() {
    if (!session().token) return;
    api("GET", "/api/availability").then(function (r) {
      if (r.status === 200 && r.data) show(r.data.away);
    });
  }

  function setAway() {
    var message = window.prompt("What should customers read while the team is away?",
                                "Our support team is away right now.");
    if (message === null) return;
    api("PUT", "/api/availability", {message: message}).then(function (r) {
      if (r.status === 200) show(r.data.away);
      else toast(errorOf(r, "Could not set the team away."), "error");
    });
  }

  function comeBack() {
    api("DELETE", "/api/availability").then(function (r) {
      if (r.status === 200) show(null);
      else toast(errorOf(r, "Could not bring the team back."), "error");
    });
  }

  document.addEventListener("console:event", function (e) {
    var type = e.detail && e.detail.type;
    if (type === "hello" || type === "team.away" || type === "team.back") load();
  });

  document.addEventListener("DOMContentLoaded", function () {
    if ($("away-toggle")) $("away-toggle").addEventListener("click", setAway);
    if ($("away-back")) $("away-back").addEventListener("click", comeBack);
    load();
  });
})();

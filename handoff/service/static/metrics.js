/*
 * The metrics page: a support lead's figures by day or week, with filters by reason and CSR.
 *
 * Talks only to this service's API (/api/login, /api/me, /api/metrics/series; see
 * docs/handoff-api.openapi.yaml; docs/handoff.md "Metrics" defines every figure). The charts
 * are drawn by the vendored Chart.js (chart.umd.min.js, MIT) on canvases. Every text from the
 * server (reasons, usernames) goes into the page with textContent, never as HTML; the page's
 * Content-Security-Policy refuses inline script and style as well.
 */
(function () {
  "use strict";

  var kit = window.StaffKit;
  var h = kit.h, clear = kit.clear, errorOf = kit.errorOf;
  var STORE = "hp-metrics";
  var COLORS = {green: "#1f6f5c", orange: "#c05621", blue: "#2f5d9e", grey: "#8a96a3",
                red: "#a4161a"};

  var session = kit.readSession(STORE);  // {token, user}
  var charts = {};
  var loading = null;  // the query of the load in flight
  var $ = function (id) { return document.getElementById(id); };

  var api = kit.apiClient({token: function () { return session.token; },
                          onUnauthorized: function (message) { logout(message); },
                          offline: "The page cannot reach the server."});

  // ---- formatting ----------------------------------------------------------------------------

  function pct(value) {
    return typeof value === "number" ? Math.round(value * 1000) / 10 + "%" : "—";
  }

  function percentPoints(value) {
    return typeof value === "number" ? Math.round(value * 1000) / 10 : null;
  }

  function minutes(value) {
    return typeof value === "number" ? Math.round(value / 6) / 10 : null;
  }

  function duration(seconds) {
    if (typeof seconds !== "number") return "—";
    if (seconds < 60) return Math.round(seconds) + " s";
    var m = Math.round(seconds / 60);
    if (m < 60) return m + " min";
    var hours = Math.floor(m / 60);
    if (hours < 48) return hours + " h " + (m % 60) + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }

  function bucketLabel(start, bucket) {
    var parts = start.split("-").map(Number);
    var day = new Date(parts[0], parts[1] - 1, parts[2]);  // a calendar date, no time zone shift
    var text = day.toLocaleDateString([], {month: "short", day: "numeric"});
    return bucket === "week" ? "Week of " + text : text;
  }

  // ---- login ---------------------------------------------------------------------------------

  function saveSession() { kit.saveSession(STORE, session); }

  var login = kit.staffLogin({
    view: "metrics-view", api: api, adminOnly: true,
    loggedIn: function (data) {
      session = {token: data.token, user: data.user};
      saveSession();
      showMetrics();
    },
    resumed: function (user) {
      session.user = user;
      saveSession();
      showMetrics();
    },
    logout: logout,
  });

  function logout(message) {
    session = {};
    saveSession();
    login.showLogin(message);
  }

  function showMetrics() {
    login.showView(session.user);
    load();
  }

  // ---- loading -------------------------------------------------------------------------------

  function query() {
    var params = new URLSearchParams();
    params.set("bucket", $("bucket").value);
    ["since", "until", "reason", "csr"].forEach(function (id) {
      if ($(id).value) params.set(id, $(id).value);
    });
    return params.toString();
  }

  function load() {
    var asked = query();
    loading = asked;
    $("metrics-error").textContent = "";
    $("metrics-status").textContent = "Loading…";
    return api("GET", "/api/metrics/series?" + asked).then(function (result) {
      if (loading !== asked) return;  // the filters changed meanwhile: a newer load follows
      loading = null;
      if (result.status !== 200) {
        $("metrics-status").textContent = "";
        $("metrics-error").textContent = errorOf(result);
        return;
      }
      render(result.data, asked);
    });
  }

  function render(data, asked) {
    fillChoices($("reason"), data.choices.reasons, data.reason, "Any reason");
    fillChoices($("csr"), data.choices.csrs, data.csr, "Any CSR");
    $("zone").textContent = data.timezone;
    $("filter-note").hidden = !(data.reason || data.csr);
    renderTiles(data.totals, data.backlog);
    renderCharts(data.buckets, data.bucket);
    renderBacklog(data.backlog);
    var status = $("metrics-status");
    status.textContent = data.buckets.length + " " + (data.bucket === "week" ? "weeks" : "days") +
      " from " + bucketLabel(data.buckets[0].start, "day") + " (" + data.timezone + ")";
    status.setAttribute("data-query", asked);  // what the page shows (the browser test waits on it)
  }

  function fillChoices(select, values, current, anyText) {
    var keep = current || select.value;
    clear(select);
    select.appendChild(h("option", {value: "", text: anyText}));
    var names = values.slice();
    if (keep && names.indexOf(keep) < 0) names.push(keep);
    names.forEach(function (name) { select.appendChild(h("option", {value: name, text: name})); });
    select.value = keep || "";
  }

  // ---- tiles, table --------------------------------------------------------------------------

  function renderTiles(totals, backlog) {
    var list = $("tiles");
    clear(list);
    var oldest = backlog.age_seconds.oldest;
    [
      ["Ticket backlog", String(backlog.count), backlog.breached + " breached", "backlog",
       backlog.breached > 0],
      ["Oldest open ticket", duration(oldest), "age", "oldest", false],
      ["Conversations", totals.conversations === null ? "—" : String(totals.conversations),
       "started", "conversations", false],
      ["Containment", pct(totals.containment_rate), "kept by the bot", "containment", false],
      ["First-contact resolution", pct(totals.first_contact_resolution),
       totals.followups.answered + " follow-ups answered", "fcr", false],
      ["Reopen rate", pct(totals.reopen_rate), totals.reopens + " reopened", "reopen", false],
      ["SLA attainment", pct(totals.sla_attainment), totals.sla.checked + " targets",
       "sla", false],
      ["Tickets solved", String(totals.tickets_solved), "in the range", "solved", false],
      ["CSAT", totals.csat.average === null ? "—" : totals.csat.average.toFixed(2),
       totals.csat.count + " ratings", "csat", false],
      ["Median wait", duration(totals.queue_wait_seconds.median),
       "p90 " + duration(totals.queue_wait_seconds.p90), "wait", false],
    ].forEach(function (t) {
      list.appendChild(h("li", {class: "tile" + (t[4] ? " alert" : ""), "data-tile": t[3]},
        h("span", {class: "tile-label", text: t[0]}),
        h("span", {class: "tile-value", text: t[1]}),
        h("span", {class: "tile-sub", text: t[2]})));
    });
  }

  function renderBacklog(backlog) {
    var body = $("backlog-body");
    clear(body);
    var rows = Object.keys(backlog.by_priority);
    if (!rows.length) {
      body.appendChild(h("tr", null, h("td", {colSpan: 4, class: "muted", text: "No open tickets."})));
      return;
    }
    rows.forEach(function (priority) {
      var ages = backlog.by_priority[priority];
      body.appendChild(h("tr", null,
        h("td", {text: priority}),
        h("td", {class: "num", text: String(ages.count)}),
        h("td", {class: "num", text: duration(ages.median)}),
        h("td", {class: "num", text: duration(ages.oldest)})));
    });
  }

  // ---- charts --------------------------------------------------------------------------------

  function line(label, data, color, axis) {
    return {type: "line", label: label, data: data, borderColor: color, backgroundColor: color,
            yAxisID: axis || "y", spanGaps: true, tension: 0.2, pointRadius: 3};
  }

  function bar(label, data, color, axis) {
    return {type: "bar", label: label, data: data, backgroundColor: color + "99",
            borderColor: color, borderWidth: 1, yAxisID: axis || "y"};
  }

  var PERCENT = {min: 0, max: 100, ticks: {callback: function (v) { return v + "%"; }}};

  function chartSpecs(b) {
    var pick = function (f) { return b.map(f); };
    return {
      "chart-volume": {
        datasets: [bar("Conversations", pick(function (x) { return x.conversations; }), COLORS.blue),
                   line("Containment %", pick(function (x) { return percentPoints(x.containment_rate); }),
                        COLORS.green, "y1")],
        scales: {y: {beginAtZero: true, ticks: {precision: 0}},
                 y1: Object.assign({position: "right", grid: {drawOnChartArea: false}}, PERCENT)}},
      "chart-resolution": {
        datasets: [line("First-contact resolution %",
                        pick(function (x) { return percentPoints(x.first_contact_resolution); }), COLORS.green),
                   line("Reopen rate %", pick(function (x) { return percentPoints(x.reopen_rate); }),
                        COLORS.red)],
        scales: {y: PERCENT}},
      "chart-sla": {
        datasets: [bar("Tickets solved", pick(function (x) { return x.tickets_solved; }), COLORS.grey),
                   line("SLA attainment %", pick(function (x) { return percentPoints(x.sla_attainment); }),
                        COLORS.green, "y1")],
        scales: {y: {beginAtZero: true, ticks: {precision: 0}},
                 y1: Object.assign({position: "right", grid: {drawOnChartArea: false}}, PERCENT)}},
      "chart-csat": {
        datasets: [bar("Ratings", pick(function (x) { return x.csat.count; }), COLORS.grey),
                   line("Average CSAT", pick(function (x) { return x.csat.average; }), COLORS.orange, "y1")],
        scales: {y: {beginAtZero: true, ticks: {precision: 0}},
                 y1: {position: "right", min: 1, max: 5, grid: {drawOnChartArea: false}}}},
      "chart-waits": {
        datasets: [line("Median wait", pick(function (x) { return minutes(x.queue_wait_seconds.median); }),
                        COLORS.blue),
                   line("p90 wait", pick(function (x) { return minutes(x.queue_wait_seconds.p90); }),
                        COLORS.orange),
                   line("Median first reply",
                        pick(function (x) { return minutes(x.first_reply_seconds.median); }), COLORS.green)],
        scales: {y: {beginAtZero: true}}},
    };
  }

  function renderCharts(buckets, bucket) {
    var labels = buckets.map(function (x) { return bucketLabel(x.start, bucket); });
    var specs = chartSpecs(buckets);
    Object.keys(specs).forEach(function (id) {
      var spec = specs[id];
      if (charts[id]) {
        charts[id].data.labels = labels;
        charts[id].data.datasets = spec.datasets;
        charts[id].update();
        return;
      }
      charts[id] = new window.Chart($(id), {
        type: "bar",  // each dataset names its own type (bars and lines on one chart)
        data: {labels: labels, datasets: spec.datasets},
        options: {responsive: true, maintainAspectRatio: false, animation: false,
                  interaction: {mode: "index", intersect: false},
                  plugins: {legend: {position: "bottom"}}, scales: spec.scales},
      });
    });
  }

  // ---- start ---------------------------------------------------------------------------------

  function start() {
    ["bucket", "since", "until", "reason", "csr"].forEach(function (id) {
      $(id).addEventListener("change", load);
    });
    $("metric-filters").addEventListener("submit", function (e) { e.preventDefault(); load(); });
    if (!window.Chart) {
      $("metrics-error").textContent = "The chart library did not load.";
    }

    login.start(session.token);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

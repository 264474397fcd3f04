/*
 * The admin page: review what the bot did not understand, label it, add FAQs, retrain,
 * compare the candidate with the running model, activate or roll back.
 *
 * Talks only to this service's API (/api/login, /api/me, /api/admin/*; see
 * docs/handoff-api.openapi.yaml). Customer text is put in the page with textContent,
 * never as HTML; the page's Content-Security-Policy refuses inline script as well.
 */
(function () {
  "use strict";

  // Shared with the other staff pages: staff-kit.js, loaded first.
  var kit = window.StaffKit;
  var h = kit.h, clear = kit.clear, toast = kit.toast, errorOf = kit.errorOf;
  function readSession() { return kit.readSession(STORE); }
  function saveSession() { kit.saveSession(STORE, session); }

  var STORE = "hp-admin";
  var POLL_MS = 1500;
  var ACTIVE_PHASES = {queued: true, training: true, evaluating: true};
  var REASONS = {fallback: "fell back", low_confidence: "low confidence",
                 escalation: "escalated", low_csat: "low CSAT"};

  var session = readSession();  // {token, user}
  var intents = [];
  var job = null;
  var pollTimer = null;
  var reviewTimer = null;
  var expanded = new Set();      // review items whose context is open (kept across reloads)

  var $ = function (id) { return document.getElementById(id); };

  // ---- small helpers -------------------------------------------------------------------------

  function pct(value) {
    return typeof value === "number" ? (value * 100).toFixed(1) + "%" : "—";
  }

  function signed(value) {
    if (typeof value !== "number") return "—";
    var points = value * 100;
    return (points > 0 ? "+" : points < 0 ? "−" : "±") + Math.abs(points).toFixed(1);
  }

  function fmtTime(value) {
    if (value === null || value === undefined || value === "") return "—";
    var date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (isNaN(date.getTime())) return String(value);
    return date.toLocaleString([], {year: "numeric", month: "short", day: "numeric",
                                    hour: "2-digit", minute: "2-digit"});
  }

  function modelName(value) {
    return String(value || "").split("/").pop();
  }

  var api = kit.apiClient({token: function () { return session.token; },
                          onUnauthorized: function (message) { logout(message); },
                          offline: "The page cannot reach the server."});

  // ---- login ---------------------------------------------------------------------------------

  var login = kit.staffLogin({
    view: "admin-view", api: api, adminOnly: true, onShowLogin: stopPolling,
    loggedIn: function (data) {
      session = {token: data.token, user: data.user};
      saveSession();
      showAdmin();
    },
    resumed: function (user) {
      session.user = user;
      saveSession();
      showAdmin();
    },
    logout: logout,
  });

  function logout(message) {
    session = {};
    saveSession();
    login.showLogin(message);
  }

  // ---- shell ---------------------------------------------------------------------------------

  function showAdmin() {
    login.showView(session.user);
    loadReview();
    loadTraining();
    loadModels();
  }

  function selectTab(tab) {
    document.querySelectorAll(".section-tabs [role=tab]").forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    });
    if (tab.id === "tab-models") loadModels();
    if (tab.id === "tab-training") loadTraining();
  }

  function onTabKey(event) {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    var tabs = Array.prototype.slice.call(document.querySelectorAll(".section-tabs [role=tab]"));
    var i = tabs.indexOf(event.target) + (event.key === "ArrowRight" ? 1 : -1);
    var next = tabs[(i + tabs.length) % tabs.length];
    selectTab(next);
    next.focus();
  }

  // ---- review --------------------------------------------------------------------------------

  function reviewQuery() {
    var params = new URLSearchParams();
    params.set("threshold", $("threshold").value);
    if ($("since").value) params.set("since", $("since").value);
    if ($("until").value) params.set("until", $("until").value);
    if ($("intent-filter").value) params.set("intent", $("intent-filter").value);
    if ($("reason-filter").value) params.set("reason", $("reason-filter").value);
    return params.toString();
  }

  function loadReview() {
    $("review-error").textContent = "";
    var query = reviewQuery();
    return api("GET", "/api/admin/review?" + query).then(function (result) {
      if (query !== reviewQuery()) return;  // the filters changed meanwhile: a newer load follows
      if (result.status !== 200) {
        $("review-summary").textContent = "";
        $("review-error").textContent = errorOf(result);
        return;
      }
      intents = result.data.intents || [];
      fillIntentFilter();
      renderReview(result.data.items || []);
      $("review-list").setAttribute("data-query", query);
    });
  }

  function loadReviewSoon() {
    clearTimeout(reviewTimer);
    reviewTimer = setTimeout(loadReview, 250);
  }

  function fillIntentFilter() {
    var select = $("intent-filter");
    var current = select.value;
    clear(select);
    select.appendChild(h("option", {value: "", text: "Any intent"}));
    intents.forEach(function (name) { select.appendChild(h("option", {value: name, text: name})); });
    select.value = intents.indexOf(current) >= 0 ? current : "";
  }

  function renderReview(items) {
    var list = $("review-list");
    clear(list);
    var messages = items.reduce(function (sum, item) { return sum + (item.count || 1); }, 0);
    $("review-summary").textContent = items.length
      ? items.length + (items.length === 1 ? " question" : " distinct questions") + " · " +
        messages + (messages === 1 ? " message" : " messages") + " to review"
      : "";
    $("review-empty").hidden = items.length > 0;
    items.forEach(function (item) { list.appendChild(reviewItem(item)); });
  }

  function reviewItem(item) {
    var conf = typeof item.confidence === "number" ? " " + Math.round(item.confidence * 100) + "%" : "";
    var threshold = parseFloat($("threshold").value);
    var meta = h("div", {class: "r-meta"},
      h("span", {class: "r-intent" + (item.confidence < threshold ? " low" : ""),
                 title: "Predicted intent and confidence",
                 text: (item.predicted_intent || "no intent") + conf}));
    (item.reasons || []).forEach(function (reason) {
      meta.appendChild(h("span", {class: "badge reason-" + reason, text: REASONS[reason] || reason}));
    });
    meta.appendChild(h("span", {text: "last " + fmtTime(item.last_seen)}));
    var convCount = (item.conversations || []).length;
    if (convCount) meta.appendChild(h("span", {text: convCount + (convCount === 1 ? " conversation" : " conversations")}));

    var status = h("p", {class: "r-status", role: "status"});
    var li = h("li", {class: "r-item", "data-id": item.id},
      h("div", {class: "r-top"},
        h("p", {class: "r-text", text: item.text}),
        h("span", {class: "r-count", title: "How often customers asked this", text: "×" + (item.count || 1)})),
      meta);

    var context = item.context || [];
    if (context.length) {
      var open = expanded.has(item.id);
      var ctxList = h("ol", {class: "r-context", hidden: !open,
                             "aria-label": "Conversation around this message"});
      context.forEach(function (turn) {
        var who = turn.sender === "customer" ? "Customer" : turn.sender === "csr" ? "CSR" : "Bot";
        var mine = turn.sender === "customer" && turn.text === item.text;
        ctxList.appendChild(h("li", {class: mine ? "this" : ""},
          h("span", {class: "who", text: who + ":"}), turn.text || ""));
      });
      var toggle = h("button", {type: "button", class: "ghost small-btn ctx-toggle",
                                text: open ? "Hide context" : "Show context",
                                "aria-expanded": open ? "true" : "false"});
      toggle.addEventListener("click", function () {
        ctxList.hidden = !ctxList.hidden;
        if (ctxList.hidden) expanded.delete(item.id); else expanded.add(item.id);
        toggle.textContent = ctxList.hidden ? "Show context" : "Hide context";
        toggle.setAttribute("aria-expanded", ctxList.hidden ? "false" : "true");
      });
      meta.appendChild(toggle);
      li.appendChild(ctxList);
    }

    var picker = h("select", {class: "intent-pick", "aria-label": "Intent for: " + item.text});
    picker.appendChild(h("option", {value: "", text: "Pick another intent…"}));
    intents.forEach(function (name) {
      if (name !== item.predicted_intent) picker.appendChild(h("option", {value: name, text: name}));
    });
    var actions = h("div", {class: "r-actions"});
    if (item.predicted_intent && item.predicted_intent !== "nlu_fallback") {
      actions.appendChild(h("button", {type: "button", class: "primary small-btn confirm-btn",
        text: "Confirm " + item.predicted_intent,
        onclick: function () { decide(li, item, "confirm"); }}));
    }
    actions.appendChild(picker);
    actions.appendChild(h("button", {type: "button", class: "small-btn relabel-btn", text: "Use intent",
      onclick: function () {
        if (!picker.value) { setStatus(status, "Pick an intent first.", true); picker.focus(); return; }
        decide(li, item, "relabel", picker.value);
      }}));
    actions.appendChild(h("button", {type: "button", class: "small-btn oos-btn", text: "Out of scope",
      onclick: function () { decide(li, item, "out_of_scope"); }}));
    actions.appendChild(h("button", {type: "button", class: "ghost small-btn ignore-btn", text: "Ignore",
      onclick: function () { decide(li, item, "ignore"); }}));
    actions.appendChild(h("button", {type: "button", class: "ghost small-btn faq-btn", text: "Make FAQ…",
      onclick: function () { startFaq(item.text, ""); }}));
    li.appendChild(actions);
    li.appendChild(status);
    return li;
  }

  function setStatus(node, text, isError) {
    node.textContent = text;
    node.className = "r-status" + (isError ? " error" : "");
  }

  function decide(li, item, action, intent) {
    var buttons = li.querySelectorAll("button, select");
    buttons.forEach(function (b) { b.disabled = true; });
    var body = {action: action};
    if (intent) body.intent = intent;
    api("POST", "/api/admin/review/" + encodeURIComponent(item.id) + "/label", body).then(function (result) {
      var status = li.querySelector(".r-status");
      if (result.status !== 200 && result.status !== 201) {
        buttons.forEach(function (b) { b.disabled = false; });
        setStatus(status, errorOf(result), true);
        return;
      }
      var decision = result.data || {};
      var label = action === "ignore" ? "Ignored"
        : action === "out_of_scope" ? "Labelled out of scope"
        : "Labelled " + (decision.intent || intent || item.predicted_intent);
      li.classList.add("decided");
      setStatus(status, label + (action === "ignore" ? "." : " — used in the next training."));
      li.querySelector(".ctx-toggle") && (li.querySelector(".ctx-toggle").disabled = false);
    });
  }

  // ---- FAQ -----------------------------------------------------------------------------------

  function startFaq(example, answer) {
    selectTab($("tab-faq"));
    var examples = $("faq-examples");
    if (example && examples.value.split("\n").indexOf(example) < 0) {
      examples.value = (examples.value.trim() ? examples.value.trim() + "\n" : "") + example;
    }
    if (answer) $("faq-answer").value = answer;
    $("faq-topic").focus();
  }

  function onFaq(event) {
    event.preventDefault();
    $("faq-error").textContent = "";
    $("faq-done").textContent = "";
    var body = {
      topic: $("faq-topic").value.trim(),
      examples: $("faq-examples").value.split("\n").map(function (s) { return s.trim(); })
        .filter(function (s) { return s; }),
      answer: $("faq-answer").value.trim()
    };
    var button = event.target.querySelector("button[type=submit]");
    button.disabled = true;
    api("POST", "/api/admin/faq", body).then(function (result) {
      button.disabled = false;
      if (result.status !== 201 && result.status !== 200) {
        $("faq-error").textContent = errorOf(result);
        return;
      }
      $("faq-done").textContent = "Added faq/" + body.topic + " with " + body.examples.length +
        " examples. Start a training to teach the bot.";
      $("faq-form").reset();
      loadReview();
    });
  }

  // ---- training ------------------------------------------------------------------------------

  function loadTraining() {
    return api("GET", "/api/admin/training").then(function (result) {
      if (result.status !== 200) { $("train-error").textContent = errorOf(result); return; }
      renderJob(result.data.job || null);
    });
  }

  function startTraining() {
    $("train-error").textContent = "";
    $("train-start").disabled = true;
    api("POST", "/api/admin/training", {}).then(function (result) {
      if (result.status !== 202 && result.status !== 200 && result.status !== 201) {
        $("train-start").disabled = false;
        $("train-error").textContent = errorOf(result);
        return;
      }
      toast("Training started.", "ok");
      renderJob(result.data.job || result.data);
    });
  }

  function cancelTraining() {
    $("train-cancel").disabled = true;
    api("DELETE", "/api/admin/training").then(function (result) {
      $("train-cancel").disabled = false;
      if (result.status !== 200) { $("train-error").textContent = errorOf(result); return; }
      toast("Training cancelled. The running model is unchanged.", "warn");
      renderJob(result.data.job || result.data);
    });
  }

  function stopPolling() {
    clearTimeout(pollTimer);
    pollTimer = null;
  }

  function pollSoon() {
    stopPolling();
    pollTimer = setTimeout(function () { if (session.token) loadTraining(); }, POLL_MS);
  }

  function renderJob(next) {
    var previous = job;
    job = next;
    var running = !!(job && ACTIVE_PHASES[job.phase]);
    $("train-start").disabled = running;
    $("train-cancel").hidden = !running;
    var pill = $("job-pill");
    pill.hidden = !running;
    if (running) {
      pill.textContent = "Training " + (typeof job.percent === "number" ? Math.round(job.percent) + "%" : "…");
      pill.className = "pill warn";
      pollSoon();
    } else {
      stopPolling();
    }
    if (!job) { $("job").hidden = true; $("comparison").hidden = true; return; }
    $("job").hidden = false;
    $("job").className = "job " + job.phase;
    facts($("job-facts"), [
      ["Job", job.id],
      ["Phase", job.phase],
      ["Started", fmtTime(job.started_at) + (job.by ? " by " + job.by : "")],
      ["Finished", job.finished_at ? fmtTime(job.finished_at) : undefined],
      ["Model", job.model ? modelName(job.model) : undefined],
      ["Error", job.error || undefined]
    ]);
    var percent = job.phase === "done" ? 100 : Math.max(0, Math.min(100, job.percent || 0));
    var bar = document.querySelector(".progress");
    bar.setAttribute("aria-valuenow", String(Math.round(percent)));
    $("progress-bar").style.width = percent + "%";
    var text = "";
    if (job.phase === "training") {
      text = (job.component ? job.component + ": " : "") +
        (job.epochs ? "epoch " + (job.epoch || 0) + " of " + job.epochs : "preparing…");
    } else if (job.phase === "evaluating") {
      text = "Evaluating the candidate against the running model…";
    } else if (job.phase === "queued") {
      text = "Waiting to start…";
    } else if (job.phase === "done") {
      text = "Done.";
    } else if (job.phase === "failed") {
      text = "Failed: the running model is untouched.";
    } else if (job.phase === "cancelled") {
      text = "Cancelled: the running model is untouched.";
    }
    $("progress-text").textContent = text;
    var log = job.log_tail;
    $("job-log").textContent = (log || []).join("\n");
    renderComparison(job);
    if (previous && ACTIVE_PHASES[previous.phase] && !running) {
      toast("Training " + job.phase + ".", job.phase === "done" ? "ok" : "warn");
      loadModels();
    }
  }

  function facts(dl, rows) {
    clear(dl);
    rows.forEach(function (row) {
      if (row[1] === undefined || row[1] === null) return;
      dl.appendChild(h("dt", {text: row[0]}));
      dl.appendChild(h("dd", {text: String(row[1])}));
    });
  }

  // ---- comparison ----------------------------------------------------------------------------

  var SET_TITLES = {test_set: "Held-out test set", review: "Labelled review data"};

  function renderComparison(current) {
    var cmp = current && current.comparison;
    var box = $("comparison");
    if (!cmp) { box.hidden = true; return; }
    box.hidden = false;
    var verdict = cmp.verdict || "";
    $("verdict").textContent = verdict === "better" ? "Better" : verdict === "not_worse" ? "Not worse"
      : verdict === "worse" ? "Worse" : verdict;
    $("verdict").className = "verdict " + verdict;
    var models = $("comparison-models");
    clear(models);
    models.appendChild(h("span", null, "Candidate ", h("strong", {text: modelName(cmp.candidate)})));
    models.appendChild(h("span", null, " vs running ", h("strong", {text: modelName(cmp.running) || "none"})));
    var reasons = $("comparison-reasons");
    clear(reasons);
    (cmp.reasons || []).forEach(function (r) { reasons.appendChild(h("li", {text: r})); });
    var sets = $("comparison-sets");
    clear(sets);
    datasets(cmp).forEach(function (pair) { sets.appendChild(comparisonSet(pair[0], pair[1])); });
    var worse = verdict === "worse";
    $("override").checked = false;
    $("override").parentNode.hidden = !worse;
    $("activate-candidate").textContent = worse ? "Activate anyway" : "Activate this model";
    $("activate-candidate").disabled = worse;
    $("activate-candidate").dataset.model = cmp.candidate || current.model || "";
    $("activate-error").textContent = "";
  }

  /** [[name, {running, candidate, changes}]], the held-out test set first. */
  function datasets(cmp) {
    var raw = cmp.datasets || {};
    return Object.keys(raw).sort(function (a, b) {
      return (a === "test_set" ? 0 : 1) - (b === "test_set" ? 0 : 1);
    }).map(function (name) { return [name, raw[name]]; });
  }

  function metricsOf(side) {
    side = side || {};
    return {accuracy: side.accuracy, macro_f1: side.macro_f1};
  }

  function comparisonSet(name, data) {
    var running = metricsOf(data.running), candidate = metricsOf(data.candidate);
    var examples = (data.candidate || {}).examples;
    var section = h("section", {class: "cmp-set", "data-set": name},
      h("h3", {text: (SET_TITLES[name] || name) + (examples ? " · " + examples + " examples" : "")}));
    var table = h("table", {class: "cmp-metrics"},
      h("thead", null, h("tr", null, h("th", {scope: "col", text: "Metric"}),
        h("th", {scope: "col", class: "num", text: "Running"}),
        h("th", {scope: "col", class: "num", text: "Candidate"}),
        h("th", {scope: "col", class: "num", text: "Change (points)"}))));
    var body = h("tbody");
    [["Intent accuracy", "accuracy"], ["Macro-F1", "macro_f1"]].forEach(function (row) {
      var a = running[row[1]], b = candidate[row[1]];
      var delta = typeof a === "number" && typeof b === "number" ? b - a : null;
      body.appendChild(h("tr", null, h("th", {scope: "row", text: row[0]}),
        h("td", {class: "num", text: pct(a)}), h("td", {class: "num", text: pct(b)}),
        h("td", {class: "num " + deltaClass(delta), text: signed(delta)})));
    });
    table.appendChild(body);
    section.appendChild(table);

    var changes = data.changes || [];
    if (!Array.isArray(changes)) {
      changes = Object.keys(changes).map(function (k) { return Object.assign({intent: k}, changes[k]); });
    }
    changes = changes.filter(function (c) { return Math.abs(changeOf(c)) >= 0.005; })
      .sort(function (x, y) { return Math.abs(changeOf(y)) - Math.abs(changeOf(x)); });
    if (changes.length) {
      var t = h("table", {class: "cmp-sub cmp-intents"},
        h("caption", {class: "sr-only", text: "Per-intent F1 changes"}),
        h("thead", null, h("tr", null, h("th", {scope: "col", text: "Intent (F1)"}),
          h("th", {scope: "col", class: "num", text: "Running"}),
          h("th", {scope: "col", class: "num", text: "Candidate"}),
          h("th", {scope: "col", class: "num", text: "Change"}))));
      var tb = h("tbody");
      changes.slice(0, 12).forEach(function (c) {
        var d = changeOf(c);
        tb.appendChild(h("tr", null, h("td", {text: c.intent}),
          h("td", {class: "num", text: pct(c.running)}), h("td", {class: "num", text: pct(c.candidate)}),
          h("td", {class: "num " + deltaClass(d), text: signed(d)})));
      });
      t.appendChild(tb);
      section.appendChild(t);
    }
    var confusions = confusionRows(data);
    if (confusions.length) {
      var ct = h("table", {class: "cmp-sub cmp-confusions"},
        h("caption", {class: "sr-only", text: "Top confusion pairs"}),
        h("thead", null, h("tr", null, h("th", {scope: "col", text: "Confused (true → predicted)"}),
          h("th", {scope: "col", class: "num", text: "Running"}),
          h("th", {scope: "col", class: "num", text: "Candidate"}))));
      var cb = h("tbody");
      confusions.slice(0, 8).forEach(function (row) {
        cb.appendChild(h("tr", null, h("td", {text: row.pair}),
          h("td", {class: "num", text: String(row.running)}),
          h("td", {class: "num", text: String(row.candidate)})));
      });
      ct.appendChild(cb);
      section.appendChild(ct);
    }
    return section;
  }

  function changeOf(c) {
    return typeof c.change === "number" ? c.change : (c.candidate || 0) - (c.running || 0);
  }

  function deltaClass(delta) {
    if (typeof delta !== "number" || Math.abs(delta) < 0.0005) return "";
    return delta > 0 ? "up" : "down";
  }

  /** Confusion pairs of both models merged into rows {pair, running, candidate}. */
  function confusionRows(data) {
    var rows = new Map();
    function add(list, side) {
      (list || []).forEach(function (c) {
        var key = c.expected + " → " + c.predicted;
        var row = rows.get(key) || {pair: key, running: 0, candidate: 0};
        row[side] = c.count;
        rows.set(key, row);
      });
    }
    add((data.running || {}).confusions, "running");
    add((data.candidate || {}).confusions, "candidate");
    return Array.from(rows.values()).sort(function (a, b) {
      return Math.max(b.running, b.candidate) - Math.max(a.running, a.candidate);
    });
  }

  function activateCandidate() {
    var model = $("activate-candidate").dataset.model;
    activate(model, $("override").checked, $("activate-error"), $("activate-candidate"));
  }

  function activate(model, override, errorNode, button) {
    errorNode.textContent = "";
    if (button) button.disabled = true;
    var body = {model: model};
    if (override) body.override = true;
    return api("POST", "/api/admin/models/activate", body).then(function (result) {
      if (button) button.disabled = false;
      if (result.status !== 200) {
        errorNode.textContent = errorOf(result);
        if (result.data && result.data.error && result.data.error.code === "model_worse") {
          $("override").parentNode.hidden = false;
        }
        return;
      }
      toast("Activated " + modelName(model) + ".", "ok");
      loadModels();
    });
  }

  // ---- models --------------------------------------------------------------------------------

  function loadModels() {
    return api("GET", "/api/admin/models").then(function (result) {
      if (result.status !== 200) { $("models-error").textContent = errorOf(result); return; }
      $("models-error").textContent = "";
      renderModels(result.data.models || []);
    });
  }

  function renderModels(models) {
    var body = $("models-body");
    clear(body);
    var active = models.filter(function (m) { return isActive(m); })[0];
    $("running-model").textContent = active ? "Running: " + modelName(active.name) : "Running model unknown";
    models.forEach(function (m) {
      var summary = m.evaluation || {};
      var worse = summary.verdict === "worse";
      var row = h("tr", {"data-model": m.name},
        h("td", {text: modelName(m.name)}),
        h("td", {text: fmtTime(m.created_at)}),
        h("td", {class: "num", text: pct(summary.test_accuracy)}),
        h("td", {class: "num", text: pct(summary.test_macro_f1)}),
        h("td", null, summary.verdict
          ? h("span", {class: "verdict " + summary.verdict, text: summary.verdict.replace("_", " ")}) : "—"),
        h("td", {class: isActive(m) ? "active-mark" : "", text: isActive(m) ? "Active" : ""}));
      var cell = h("td");
      if (!isActive(m)) {
        var err = $("models-error");
        cell.appendChild(h("button", {type: "button", class: "small-btn", text: worse ? "Activate anyway" : "Activate",
          onclick: function (e) {
            if (worse && !window.confirm("This model scored worse than the one it was compared with. Activate anyway?")) return;
            activate(m.name, worse, err, e.target);
          }}));
      }
      row.appendChild(cell);
      body.appendChild(row);
    });
  }

  function isActive(m) {
    return (m.active_on || []).length > 0;
  }

  function rollback() {
    if (!window.confirm("Re-activate the previous model on every Rasa server?")) return;
    $("rollback").disabled = true;
    $("models-error").textContent = "";
    api("POST", "/api/admin/models/rollback", {}).then(function (result) {
      $("rollback").disabled = false;
      if (result.status !== 200) { $("models-error").textContent = errorOf(result); return; }
      toast("Rolled back to " + modelName((result.data || {}).model) + ".", "ok");
      loadModels();
    });
  }

  // ---- start ---------------------------------------------------------------------------------

  function start() {
    document.querySelectorAll(".section-tabs [role=tab]").forEach(function (tab) {
      tab.addEventListener("click", function () { selectTab(tab); });
      tab.addEventListener("keydown", onTabKey);
    });
    $("threshold").addEventListener("input", function () {
      $("threshold-value").textContent = parseFloat($("threshold").value).toFixed(2);
      loadReviewSoon();
    });
    ["since", "until", "intent-filter", "reason-filter"].forEach(function (id) {
      $(id).addEventListener("change", loadReviewSoon);
    });
    $("review-filters").addEventListener("submit", function (e) { e.preventDefault(); loadReview(); });
    $("faq-form").addEventListener("submit", onFaq);
    $("train-start").addEventListener("click", startTraining);
    $("train-cancel").addEventListener("click", cancelTraining);
    $("override").addEventListener("change", function () {
      $("activate-candidate").disabled = !$("override").checked;
    });
    $("activate-candidate").addEventListener("click", activateCandidate);
    $("rollback").addEventListener("click", rollback);
    // Another admin or the CLI may activate a model meanwhile: the "Running:" badge
    // is checked again whenever the page comes back into view.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && session.token) loadModels();
    });

    login.start(session.token);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/*
 * The CSR console: login, live queue, claimed conversations in tabs.
 *
 * Talks only to this service's API (docs/handoff-api.openapi.yaml): REST with a
 * bearer token, plus the /api/events WebSocket for live changes. Everything that
 * comes from customers (or from the bot's context) is put in the page with
 * textContent, never as HTML; the page's Content-Security-Policy also refuses
 * inline script.
 */
(function () {
  "use strict";

  // Shared with the other staff pages: staff-kit.js, loaded first.
  var kit = window.StaffKit;
  var h = kit.h, clear = kit.clear, toast = kit.toast, errorOf = kit.errorOf;
  function readSession() { return kit.readSession(STORE); }
  function saveSession() { kit.saveSession(STORE, session); }

  var STORE = "hp-console";
  var PRIORITY_RANK = {urgent: 0, high: 1, normal: 2, low: 3};
  var TYPING_EVERY_MS = 3000;

  var session = readSession();   // {token, user, tabs: [id], active: id}
  var queue = {items: [], sla: 120, fetchedAt: 0, hours: null};
  var knownQueueIds = null;       // null until the first load: no beep for what was already there
  var previews = new Map();       // conversation id -> last customer text
  var previewLoading = new Set();
  var convs = new Map();          // conversation id -> {data, tab, panel, ui, rendered}
  var canned = null;
  var events = null, eventsRetry = 0, eventsTimer = null;
  var queueTimer = null;
  var refreshTimers = new Map();
  var unseen = 0;
  var soundOn = session.sound !== false;
  var audio = null;
  var panelSeq = 0;

  var $ = function (id) { return document.getElementById(id); };

  // ---- small helpers -------------------------------------------------------------------------

  function fmtClock(ts) {
    if (!ts) return "";
    return new Date(ts * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }

  function fmtWait(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var hrs = Math.floor(seconds / 3600), min = Math.floor((seconds % 3600) / 60), sec = seconds % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (hrs ? hrs + ":" + pad(min) : String(min)) + ":" + pad(sec);
  }

  function fmtValue(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function humanize(text) {
    return String(text || "").replace(/_/g, " ");
  }

  function shortId(id) {
    return id.length > 10 ? id.slice(0, 8) + "…" : id;
  }

  var api = kit.apiClient({token: function () { return session.token; },
                          onUnauthorized: function (message) { logout(message); },
                          offline: "The console cannot reach the server."});

  // ---- login ---------------------------------------------------------------------------------

  var login = kit.staffLogin({
    view: "console-view", api: api,
    onShowLogin: function () { document.title = "Support console — Harbor & Pine"; },
    onSubmit: unlockAudio,
    loggedIn: function (data) {
      session = {token: data.token, user: data.user, tabs: [], sound: soundOn};
      saveSession();
      showConsole();
    },
    resumed: function (user) {
      session.user = user;
      saveSession();
      showConsole();
    },
    logout: logout,
  });

  function logout(message) {
    if (events) { var ws = events; events = null; try { ws.close(); } catch (e) { /* closed */ } }
    clearTimeout(eventsTimer);
    convs.forEach(function (c) { c.tab.remove(); c.panel.remove(); });
    convs.clear();
    session = {sound: soundOn};
    saveSession();
    knownQueueIds = null;
    login.showLogin(message);
  }

  // ---- console -------------------------------------------------------------------------------

  function showConsole() {
    login.showView(session.user);
    updateSoundButton();
    connectEvents();
    loadQueue();
    (session.tabs || []).slice().forEach(function (id) { openConversation(id, false); });
    if (session.active) activate(session.active);
    updateNoTabs();
  }

  function isMe(username) {
    return session.user && username === session.user.username;
  }

  function isAdmin() {
    return session.user && session.user.role === "admin";
  }

  // ---- live events ---------------------------------------------------------------------------

  function connectEvents() {
    if (!session.token || events) return;
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = new WebSocket(proto + "//" + location.host + "/api/events?token=" +
                           encodeURIComponent(session.token));
    events = ws;
    setLive("Connecting…", "");
    var ping = null;
    ws.onopen = function () {
      ping = setInterval(function () {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({type: "ping"}));
      }, 25000);
    };
    ws.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      // Add-ons (console-tickets.js) follow the same feed.
      document.dispatchEvent(new CustomEvent("console:event", {detail: event}));
      if (event.type === "hello") {
        eventsRetry = 0;
        setLive("Live", "ok");
        loadQueue();  // events are not replayed: re-read what may have changed meanwhile
        convs.forEach(function (c, id) { refreshSoon(id); });
        return;
      }
      onEvent(event);
    };
    ws.onclose = function () {
      clearInterval(ping);
      if (events !== ws) return;
      events = null;
      setLive("Reconnecting…", "bad");
      var delay = Math.min(30000, 1000 * Math.pow(2, eventsRetry++));
      eventsTimer = setTimeout(function () {
        // A 401 before the handshake shows up as a close: check the token first.
        api("GET", "/api/me").then(function (r) { if (r.status === 200) connectEvents(); });
      }, delay / 2 + Math.random() * delay / 2);
    };
  }

  function setLive(text, kind) {
    var node = $("live");
    node.textContent = text;
    node.className = "pill live " + (kind || "");
  }

  function onEvent(event) {
    var id = event.conversation_id;
    if (event.type === "customer.message" && id && event.message) {
      previews.set(id, event.message.text || "");
      updatePreview(id);
    }
    if (event.queue_changed) refreshQueueSoon();
    if (id && convs.has(id)) refreshSoon(id);
    if (event.type === "conversation.claimed" && id && !isMe(event.assigned_to) && convs.has(id)) {
      var conv = convs.get(id);
      if (conv.data && conv.data.state === "queued") toast("Someone else claimed " + shortId(id) + ".", "warn");
    }
    if (event.type === "conversation.transferred" && id && isMe(event.assigned_to) && !convs.has(id)) {
      toast("A conversation was transferred to you.", "info");
      openConversation(id, true);
    }
  }

  // ---- queue ---------------------------------------------------------------------------------

  function refreshQueueSoon() {
    clearTimeout(queueTimer);
    queueTimer = setTimeout(loadQueue, 150);
  }

  function loadQueue() {
    return api("GET", "/api/queue").then(function (result) {
      if (result.status !== 200) return;
      var data = result.data;
      queue.items = (data.conversations || []).slice().sort(function (a, b) {
        var pa = PRIORITY_RANK[a.priority] !== undefined ? PRIORITY_RANK[a.priority] : 9;
        var pb = PRIORITY_RANK[b.priority] !== undefined ? PRIORITY_RANK[b.priority] : 9;
        if (pa !== pb) return pa - pb;
        return (b.waited_seconds || 0) - (a.waited_seconds || 0);
      });
      queue.sla = data.sla_seconds || 120;
      queue.fetchedAt = Date.now();
      queue.hours = data.business_hours || null;
      var ids = new Set(queue.items.map(function (c) { return c.id; }));
      if (knownQueueIds) {
        var fresh = queue.items.filter(function (c) { return !knownQueueIds.has(c.id); });
        if (fresh.length) notifyNew(fresh.length);
      }
      knownQueueIds = ids;
      renderQueue();
    });
  }

  function renderQueue() {
    var list = $("queue");
    clear(list);
    queue.items.forEach(function (item) { list.appendChild(queueItem(item)); });
    $("queue-count").textContent = String(queue.items.length);
    $("queue-empty").hidden = queue.items.length > 0;
    $("queue-sla").textContent = "Waits turn red after " + fmtWait(queue.sla) + ".";
    var hours = queue.hours;
    if (hours) {
      $("hours").textContent = hours.open_now ? "Open now" : "Outside business hours";
      $("hours").className = "pill " + (hours.open_now ? "ok" : "warn");
    }
    tickWaits();
    loadPreviews();
  }

  function queueItem(item) {
    var li = h("li", {class: "q-item prio-" + item.priority, "data-id": item.id},
      h("div", {class: "q-top"},
        h("span", {class: "badge prio prio-" + item.priority, text: item.priority}),
        h("span", {class: "badge reason", text: humanize(item.reason || "unknown")}),
        h("span", {class: "wait", "data-waited": String(item.waited_seconds || 0),
                   title: "Waiting time"})),
      h("p", {class: "preview"}),
      h("div", {class: "q-bottom"},
        h("span", {class: "q-id muted small", text: "#" + item.position + " · " + shortId(item.id)}),
        h("button", {type: "button", class: "view-btn ghost small-btn", text: "View",
                     onclick: function () { openConversation(item.id, true); }}),
        h("button", {type: "button", class: "claim-btn primary small-btn", text: "Claim",
                     onclick: function () { claim(item.id, li); }})),
      h("p", {class: "q-status small", role: "status"}));
    li.querySelector(".claim-btn").setAttribute("aria-label", "Claim conversation " + shortId(item.id));
    fillPreview(li, item);
    return li;
  }

  function fillPreview(li, item) {
    var node = li.querySelector(".preview");
    var text = previews.has(item.id) ? previews.get(item.id)
      : (item.context && item.context.summary) || "";
    node.textContent = text || "…";
  }

  function updatePreview(id) {
    var li = $("queue").querySelector('[data-id="' + cssEscape(id) + '"]');
    var item = queue.items.find(function (c) { return c.id === id; });
    if (li && item) fillPreview(li, item);
  }

  function cssEscape(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
  }

  function loadPreviews() {
    queue.items.slice(0, 20).forEach(function (item) {
      if (previews.has(item.id) || previewLoading.has(item.id)) return;
      previewLoading.add(item.id);
      api("GET", "/api/conversations/" + encodeURIComponent(item.id)).then(function (result) {
        previewLoading.delete(item.id);
        if (result.status !== 200) return;
        var said = (result.data.transcript || []).filter(function (m) { return m.sender === "customer"; });
        if (said.length) { previews.set(item.id, said[said.length - 1].text); updatePreview(item.id); }
      });
    });
  }

  function tickWaits() {
    var elapsed = (Date.now() - queue.fetchedAt) / 1000;
    var nodes = $("queue").querySelectorAll(".q-item");
    for (var i = 0; i < nodes.length; i++) {
      var wait = nodes[i].querySelector(".wait");
      var seconds = Number(wait.getAttribute("data-waited")) + elapsed;
      wait.textContent = fmtWait(seconds);
      var late = seconds > queue.sla;
      nodes[i].classList.toggle("sla-breach", late);
      wait.classList.toggle("late", late);
      wait.setAttribute("aria-label", "waiting " + fmtWait(seconds) + (late ? ", past the SLA" : ""));
    }
  }

  function claim(id, li) {
    var status = li && li.querySelector(".q-status");
    api("POST", "/api/conversations/" + encodeURIComponent(id) + "/claim").then(function (result) {
      if (result.status === 200) {
        toast("You have conversation " + shortId(id) + ".", "ok");
        openConversation(id, true, result.data);
        loadQueue();
      } else if (result.status === 409) {
        var text = "Someone else claimed it.";
        if (status) status.textContent = text;
        if (li) { li.classList.add("taken"); li.querySelector(".claim-btn").disabled = true; }
        toast(text, "warn");
        setTimeout(loadQueue, 1500);
        if (convs.has(id)) refreshSoon(id);
      } else {
        toast(errorOf(result), "error");
      }
    });
  }

  // ---- notifications -------------------------------------------------------------------------

  function unlockAudio() {
    if (audio || !(window.AudioContext || window.webkitAudioContext)) return;
    try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
  }

  function beep() {
    if (!soundOn || !audio) return;
    try {
      if (audio.state === "suspended") audio.resume();
      var now = audio.currentTime;
      [0, 0.18].forEach(function (offset, i) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.type = "sine";
        osc.frequency.value = i ? 1175 : 880;
        gain.gain.setValueAtTime(0.0001, now + offset);
        gain.gain.exponentialRampToValueAtTime(0.2, now + offset + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.15);
        osc.connect(gain).connect(audio.destination);
        osc.start(now + offset);
        osc.stop(now + offset + 0.16);
      });
    } catch (e) { /* no sound: the title still tells */ }
  }

  function notifyNew(count) {
    beep();
    if (document.visibilityState === "visible" && document.hasFocus()) {
      toast(count === 1 ? "A new conversation is waiting." : count + " new conversations are waiting.", "info");
      flashTitle(count);
      return;
    }
    unseen += count;
    document.title = "(" + unseen + ") New in queue — Support console";
  }

  var flashTimer = null;
  function flashTitle(count) {
    document.title = "(" + count + ") New in queue — Support console";
    clearTimeout(flashTimer);
    flashTimer = setTimeout(resetTitle, 5000);
  }

  function resetTitle() {
    unseen = 0;
    document.title = "Support console — Harbor & Pine";
  }

  function updateSoundButton() {
    var button = $("sound-toggle");
    button.textContent = soundOn ? "Sound on" : "Sound off";
    button.setAttribute("aria-pressed", soundOn ? "true" : "false");
  }

  // ---- tabs ----------------------------------------------------------------------------------

  function openConversation(id, focus, known) {
    if (convs.has(id)) {
      if (focus) activate(id, true);
      if (known) render(id, known);
      refreshSoon(id);
      return;
    }
    panelSeq += 1;
    var uid = "conv-" + panelSeq;
    var tabButton = h("button", {type: "button", role: "tab", id: uid + "-tab",
                                 class: "tab", "aria-controls": uid + "-panel",
                                 "aria-selected": "false", tabIndex: -1,
                                 onclick: function () { activate(id, true); },
                                 onkeydown: onTabKey},
      h("span", {class: "tab-dot", "aria-hidden": "true"}),
      h("span", {class: "tab-label", text: shortId(id)}));
    var closeButton = h("button", {type: "button", class: "tab-close",
                                   "aria-label": "Close tab " + shortId(id), text: "×",
                                   onclick: function () { closeTab(id); }});
    var tab = h("div", {class: "tab-wrap", "data-id": id}, tabButton, closeButton);
    var panel = document.importNode($("panel-template").content, true).firstElementChild;
    panel.id = uid + "-panel";
    panel.setAttribute("aria-labelledby", uid + "-tab");
    panel.hidden = true;
    $("tabs").appendChild(tab);
    $("panels").appendChild(panel);
    var conv = {id: id, tab: tab, tabButton: tabButton, panel: panel, data: null,
                transcriptSig: "", notesSig: "", lastTyping: 0};
    convs.set(id, conv);
    wirePanel(conv, uid);
    if (!(session.tabs || []).includes(id)) { session.tabs = (session.tabs || []).concat([id]); saveSession(); }
    if (known) render(id, known);
    refresh(id);
    if (focus || convs.size === 1) activate(id, focus);
    updateNoTabs();
  }

  function onTabKey(event) {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    var ids = Array.from(convs.keys());
    var current = ids.indexOf(session.active);
    var next = (current + (event.key === "ArrowRight" ? 1 : -1) + ids.length) % ids.length;
    event.preventDefault();
    activate(ids[next], true);
  }

  function activate(id, focus) {
    if (!convs.has(id)) return;
    convs.forEach(function (c, cid) {
      var on = cid === id;
      c.panel.hidden = !on;
      c.tab.classList.toggle("active", on);
      c.tabButton.setAttribute("aria-selected", on ? "true" : "false");
      c.tabButton.tabIndex = on ? 0 : -1;
    });
    session.active = id;
    saveSession();
    var conv = convs.get(id);
    conv.tab.classList.remove("has-news");
    if (focus) conv.tabButton.focus();
    scrollTranscript(conv, true);
  }

  function closeTab(id) {
    var conv = convs.get(id);
    if (!conv) return;
    conv.tab.remove();
    conv.panel.remove();
    convs.delete(id);
    session.tabs = (session.tabs || []).filter(function (t) { return t !== id; });
    if (session.active === id) {
      session.active = null;
      var rest = Array.from(convs.keys());
      if (rest.length) activate(rest[rest.length - 1], true);
    }
    saveSession();
    updateNoTabs();
  }

  function updateNoTabs() {
    $("no-tabs").hidden = convs.size > 0;
  }

  // ---- one conversation ----------------------------------------------------------------------

  function wirePanel(conv, uid) {
    var p = conv.panel;
    var q = function (sel) { return p.querySelector(sel); };
    conv.ui = {
      title: q(".conv-title"), state: q(".conv-state"), claim: q(".claim-btn"),
      release: q(".release-btn"), transcript: q(".transcript"), typing: q(".typing-note"),
      reply: q(".reply"), replyText: q(".reply-text"), send: q(".send-btn"),
      replyError: q(".reply-error"), cannedSearch: q(".canned-search"),
      cannedResults: q(".canned-results"), escalation: q(".escalation"), order: q(".order"),
      slots: q(".slots"), outcome: q(".outcome"), closeForm: q(".close-form"),
      resolution: q(".close-resolution"), transferForm: q(".transfer-form"),
      transferTo: q(".transfer-to"), actionError: q(".action-error"), notes: q(".notes"),
      noteForm: q(".note-form"), noteText: q(".note-text"), files: q(".files")
    };
    var ui = conv.ui;
    ui.transcript.setAttribute("aria-label", "Transcript of " + conv.id);
    // Labels need ids unique to this panel.
    [[".reply-label", ui.replyText, "reply"], [".canned-label", ui.cannedSearch, "canned"],
     [".close-label", ui.resolution, "resolution"], [".transfer-label", ui.transferTo, "transfer"],
     [".note-label", ui.noteText, "note"]].forEach(function (pair) {
      pair[1].id = uid + "-" + pair[2];
      q(pair[0]).htmlFor = pair[1].id;
    });
    ui.cannedResults.id = uid + "-canned-results";
    ui.cannedSearch.setAttribute("aria-controls", ui.cannedResults.id);

    ui.claim.addEventListener("click", function () { claim(conv.id, null); });
    ui.release.addEventListener("click", function () { release(conv); });
    ui.reply.addEventListener("submit", function (e) { e.preventDefault(); sendReply(conv); });
    ui.replyText.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendReply(conv); }
    });
    ui.replyText.addEventListener("input", function () { typing(conv); });
    ui.cannedSearch.addEventListener("input", function () { searchCanned(conv); });
    ui.cannedSearch.addEventListener("focus", function () { searchCanned(conv); });
    ui.cannedSearch.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { ui.cannedResults.hidden = true; }
      if (e.key === "ArrowDown") {
        var first = ui.cannedResults.querySelector("button");
        if (first) { e.preventDefault(); first.focus(); }
      }
    });
    ui.closeForm.addEventListener("submit", function (e) { e.preventDefault(); closeConversation(conv); });
    ui.transferForm.addEventListener("submit", function (e) { e.preventDefault(); transfer(conv); });
    ui.noteForm.addEventListener("submit", function (e) { e.preventDefault(); addNote(conv); });
  }

  function refreshSoon(id) {
    clearTimeout(refreshTimers.get(id));
    refreshTimers.set(id, setTimeout(function () { refresh(id); }, 120));
  }

  function refresh(id) {
    return api("GET", "/api/conversations/" + encodeURIComponent(id)).then(function (result) {
      var conv = convs.get(id);
      if (!conv) return;
      if (result.status === 404) {
        conv.ui.state.textContent = "This conversation no longer exists.";
        return;
      }
      if (result.status === 200) render(id, result.data);
    });
  }

  function render(id, data) {
    var conv = convs.get(id);
    if (!conv) return;
    var previous = conv.data;
    conv.data = Object.assign({}, previous || {}, data);
    data = conv.data;
    var ui = conv.ui;
    var mine = data.state === "assigned" && isMe(data.assigned_to);
    var allowed = data.allowed_events || [];
    var canAct = mine || isAdmin();

    ui.title.textContent = "Conversation " + shortId(id);
    ui.title.title = id;
    var stateText = {
      queued: "Waiting in the queue", assigned: data.assigned_to ? "With " + data.assigned_to : "Assigned",
      bot: "With the bot", closed: "Closed", abandoned: "The customer left the queue",
      ticket: "Ticket (follow up by email)"
    }[data.state] || data.state;
    ui.state.textContent = stateText + (mine ? " (you)" : "");
    ui.state.className = "conv-state state-" + data.state;
    conv.tab.classList.toggle("is-mine", mine);
    conv.tab.classList.toggle("is-closed", ["closed", "bot", "abandoned", "ticket"].indexOf(data.state) >= 0);

    ui.claim.hidden = allowed.indexOf("claim") < 0;
    ui.release.hidden = !(allowed.indexOf("release") >= 0 && canAct);
    ui.closeForm.hidden = !(allowed.indexOf("close") >= 0 && (canAct || data.state === "queued"));
    ui.transferForm.hidden = !(allowed.indexOf("transfer") >= 0 && canAct);
    ui.replyText.disabled = !mine;
    ui.send.disabled = !mine;
    ui.replyText.placeholder = mine ? "Write to the customer… (Enter sends, Shift+Enter for a new line)"
      : (data.state === "queued" ? "Claim the conversation to reply." : "Only the assigned CSR can reply.");

    if (data.transcript) renderTranscript(conv, data.transcript);
    renderContext(conv, data);
    if (data.notes) renderNotes(conv, data.notes);
    if (data.attachments) renderFiles(conv, data.attachments);
    // Add-ons (console-customer.js) fill their own sections of the panel.
    document.dispatchEvent(new CustomEvent("console:render", {detail: {id: id, panel: conv.panel, data: data}}));
    if (previous && session.active !== id &&
        (previous.transcript || []).length < (data.transcript || []).length) {
      conv.tab.classList.add("has-news");
    }
  }

  function renderTranscript(conv, transcript) {
    var last = transcript[transcript.length - 1];
    var sig = transcript.length + ":" + (last ? last.timestamp + last.text : "");
    if (sig === conv.transcriptSig) return;
    conv.transcriptSig = sig;
    var list = conv.ui.transcript;
    var atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    clear(list);
    transcript.forEach(function (m) {
      var who = m.sender === "customer" ? "Customer"
        : m.sender === "csr" ? (m.agent || "CSR")
        : m.sender === "bot" ? "Bot" : "System";
      var head = h("div", {class: "t-head"},
        h("span", {class: "t-who", text: who}),
        h("time", {class: "t-time", text: fmtClock(m.timestamp),
                   dateTime: m.timestamp ? new Date(m.timestamp * 1000).toISOString() : null}));
      if (m.sender === "customer" && m.intent) {
        var conf = typeof m.confidence === "number" ? " " + Math.round(m.confidence * 100) + "%" : "";
        head.appendChild(h("span", {class: "t-intent" + (m.confidence < 0.5 ? " low" : ""),
                                    title: "Intent and confidence",
                                    text: m.intent + conf}));
      }
      list.appendChild(h("li", {class: "t-msg t-" + m.sender},
        head, m.attachment ? fileRow(conv, m.attachment)
                           : h("div", {class: "t-text", text: m.text || ""})));
    });
    scrollTranscript(conv, atEnd);
    var lastCustomer = transcript.filter(function (m) { return m.sender === "customer"; }).pop();
    if (lastCustomer) { previews.set(conv.id, lastCustomer.text); updatePreview(conv.id); }
    conv.ui.typing.textContent = "";
  }

  function scrollTranscript(conv, force) {
    var list = conv.ui.transcript;
    if (force) list.scrollTop = list.scrollHeight;
  }

  function kv(dl, rows) {
    clear(dl);
    rows.forEach(function (row) {
      if (row[1] === undefined) return;
      var dd = h("dd", {text: fmtValue(row[1])});
      if (row[2]) dd.className = row[2];
      dl.appendChild(h("dt", {text: row[0]}));
      dl.appendChild(dd);
    });
  }

  function renderContext(conv, data) {
    var ctx = data.context || {};
    var ui = conv.ui;
    kv(ui.escalation, [
      ["Reason", humanize(data.reason) || "—", "reason-value"],
      ["Confidence", typeof data.confidence === "number" ? Math.round(data.confidence * 100) + "%" : "—"],
      ["Priority", data.priority],
      ["Waiting since", data.waiting_since ? fmtClock(data.waiting_since) : "—"],
      ["Page", ctx.page_url || "—", "wrap"],
      ["Locale", ctx.locale || "—"],
      ["Bot tried", ctx.summary || "—", "wrap"]
    ]);
    var order = ctx.order;
    if (order) {
      kv(ui.order, [
        ["Order", order.order_id],
        ["Ownership", order.verified ? "verified" : "NOT verified — ask for email or postcode",
         order.verified ? "ok-text" : "warn-text"],
        ["Status", order.status ? humanize(order.status) : undefined],
        ["Customer", order.customer],
        ["Email", order.email],
        ["Total", typeof order.total_cents === "number" ? "$" + (order.total_cents / 100).toFixed(2) : undefined],
        ["Summary", order.summary, "wrap"],
        ["Note", order.note]
      ]);
    } else {
      kv(ui.order, [["Order", "none looked up"]]);
    }
    var slots = ctx.slots || {};
    var slotRows = Object.keys(slots).sort().map(function (k) { return [k, slots[k], "wrap"]; });
    kv(ui.slots, slotRows.length ? slotRows : [["Slots", "none"]]);
    var stars = typeof data.csat === "number"
      ? "★★★★★".slice(0, data.csat) + "☆☆☆☆☆".slice(0, 5 - data.csat) + " " + data.csat + "/5" : null;
    kv(ui.outcome, [
      ["State", data.state],
      ["Assigned to", data.assigned_to || "—"],
      ["Resolution", data.resolution || "—"],
      ["CSAT", stars || (data.state === "closed" ? "waiting for the customer's rating" : "—"),
       stars ? "csat-value" : ""]
    ]);
  }

  // ---- the customer's files -----------------------------------------------------------------

  var FILE_KINDS = {"image/png": "PNG image", "image/jpeg": "JPEG image", "image/gif": "GIF image",
                    "image/webp": "WebP image", "application/pdf": "PDF"};

  function fmtSize(bytes) {
    if (typeof bytes !== "number") return "";
    if (bytes >= 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  /** A file the customer sent: its name as text and a button that saves it. */
  function fileRow(conv, file) {
    var name = String(file.name || "attachment");
    var kind = FILE_KINDS[file.type] || "file";
    var button = h("button", {type: "button", class: "ghost small-btn file-download",
                              text: "Download", "aria-label": "Download " + name});
    button.addEventListener("click", function () { downloadFile(conv, file, button); });
    return h("div", {class: "t-file"},
      h("span", {class: "file-name", text: name, title: "SHA-256 " + (file.sha256 || "")}),
      h("span", {class: "file-meta muted small", text: kind + " · " + fmtSize(file.size)}),
      button);
  }

  function renderFiles(conv, files) {
    var list = conv.ui.files;
    if (!list) return;
    var sig = files.map(function (f) { return f.id; }).join(",");
    if (sig === conv.filesSig) return;
    conv.filesSig = sig;
    clear(list);
    if (!files.length) list.appendChild(h("li", {class: "muted small", text: "No files."}));
    files.forEach(function (file) {
      list.appendChild(h("li", {class: "file"}, fileRow(conv, file)));
    });
  }

  /** Fetch with the bearer token (a plain link cannot send it) and save the blob. */
  function downloadFile(conv, file, button) {
    button.disabled = true;
    var url = path(conv, "attachments/" + encodeURIComponent(file.id));
    fetch(url, {headers: {"Authorization": "Bearer " + session.token}}).then(function (response) {
      if (response.status === 401) { logout("Your session has ended. Please log in again."); return null; }
      if (response.status === 404) throw new Error("This file is no longer available.");
      if (!response.ok) throw new Error("The file could not be downloaded (" + response.status + ").");
      return response.blob();
    }).then(function (blob) {
      if (!blob) return;
      var href = URL.createObjectURL(blob);
      var link = h("a", {href: href, download: String(file.name || "attachment"), hidden: true});
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(href); }, 30000);
    }).catch(function (err) {
      toast(err && err.message ? err.message : "The file could not be downloaded.", "error");
    }).then(function () { button.disabled = false; });
  }

  function renderNotes(conv, notes) {
    var sig = notes.length + ":" + (notes.length ? notes[notes.length - 1].timestamp : "");
    if (sig === conv.notesSig) return;
    conv.notesSig = sig;
    var list = conv.ui.notes;
    clear(list);
    if (!notes.length) list.appendChild(h("li", {class: "muted small", text: "No notes yet."}));
    notes.forEach(function (n) {
      list.appendChild(h("li", {class: "note"},
        h("div", {class: "note-head small"}, h("strong", {text: n.author || "?"}), " · ",
          h("time", {text: fmtClock(n.timestamp)})),
        h("div", {class: "note-text-body", text: n.text || ""})));
    });
  }

  // ---- conversation actions ------------------------------------------------------------------

  function path(conv, action) {
    return "/api/conversations/" + encodeURIComponent(conv.id) + (action ? "/" + action : "");
  }

  function sendReply(conv) {
    var ui = conv.ui;
    var text = ui.replyText.value;
    if (!text.trim() || ui.send.disabled) return;
    ui.send.disabled = true;
    ui.replyError.textContent = "";
    api("POST", path(conv, "messages"), {text: text}).then(function (result) {
      ui.send.disabled = false;
      if (result.status === 201) {
        ui.replyText.value = "";
        refresh(conv.id);
        ui.replyText.focus();
      } else {
        ui.replyError.textContent = errorOf(result, "The message was not sent.");
      }
    });
  }

  function typing(conv) {
    var now = Date.now();
    if (now - conv.lastTyping < TYPING_EVERY_MS || conv.ui.replyText.disabled) return;
    conv.lastTyping = now;
    api("POST", path(conv, "typing"));
  }

  function release(conv) {
    conv.ui.actionError.textContent = "";
    conv.ui.release.disabled = true;
    api("POST", path(conv, "release")).then(function (result) {
      conv.ui.release.disabled = false;
      if (result.status === 200) {
        toast("Handed back to the bot" + (result.data.bot_greeted ? "; it greeted the customer." : "."), "ok");
        render(conv.id, result.data.conversation);
        refresh(conv.id);
      } else {
        conv.ui.actionError.textContent = errorOf(result);
      }
    });
  }

  function closeConversation(conv) {
    var resolution = conv.ui.resolution.value.trim();
    if (!resolution) { conv.ui.actionError.textContent = "Choose a resolution tag."; return; }
    api("POST", path(conv, "close"), {resolution: resolution}).then(function (result) {
      if (result.status === 200) {
        toast("Closed as " + resolution + ". The customer was asked for a rating.", "ok");
        render(conv.id, result.data);
        refresh(conv.id);
      } else {
        conv.ui.actionError.textContent = errorOf(result);
      }
    });
  }

  function transfer(conv) {
    var to = conv.ui.transferTo.value.trim();
    if (!to) return;
    api("POST", path(conv, "transfer"), {to: to}).then(function (result) {
      if (result.status === 200) {
        conv.ui.transferTo.value = "";
        toast("Transferred to " + to + ".", "ok");
        render(conv.id, result.data);
        refresh(conv.id);
      } else {
        conv.ui.actionError.textContent = errorOf(result);
      }
    });
  }

  function addNote(conv) {
    var text = conv.ui.noteText.value;
    if (!text.trim()) return;
    api("POST", path(conv, "notes"), {text: text}).then(function (result) {
      if (result.status === 201) {
        conv.ui.noteText.value = "";
        refresh(conv.id);
      } else {
        conv.ui.actionError.textContent = errorOf(result);
      }
    });
  }

  // ---- canned responses ----------------------------------------------------------------------

  function loadCanned() {
    if (canned) return canned;
    canned = api("GET", "/api/canned-responses").then(function (result) {
      if (result.status !== 200) { canned = null; return []; }
      return (result.data.responses || []).filter(function (r) { return r.text; });
    });
    return canned;
  }

  function searchCanned(conv) {
    var ui = conv.ui;
    var query = ui.cannedSearch.value.trim().toLowerCase();
    loadCanned().then(function (entries) {
      var words = query.split(/\s+/).filter(Boolean);
      var hits = entries.filter(function (r) {
        var hay = (r.name + " " + r.text).toLowerCase();
        return words.every(function (w) { return hay.indexOf(w) >= 0; });
      }).sort(function (a, b) { return (a.category === "faq" ? 0 : 1) - (b.category === "faq" ? 0 : 1); })
        .slice(0, 8);
      clear(ui.cannedResults);
      if (!query && document.activeElement !== ui.cannedSearch) { ui.cannedResults.hidden = true; return; }
      if (!hits.length) {
        ui.cannedResults.appendChild(h("li", {class: "muted small", text: "No matching response."}));
      }
      hits.forEach(function (r) {
        ui.cannedResults.appendChild(h("li", null, h("button", {
          type: "button", class: "canned-item",
          onclick: function () { useCanned(conv, r); },
          onkeydown: function (e) { cannedKey(e, conv); }
        }, h("span", {class: "canned-name", text: humanize(r.name.replace(/^utter_/, ""))}),
           h("span", {class: "canned-text", text: r.text}))));
      });
      ui.cannedResults.hidden = false;
    });
  }

  function cannedKey(event, conv) {
    var buttons = Array.from(conv.ui.cannedResults.querySelectorAll("button"));
    var i = buttons.indexOf(event.target);
    if (event.key === "ArrowDown" && i < buttons.length - 1) { event.preventDefault(); buttons[i + 1].focus(); }
    if (event.key === "ArrowUp") { event.preventDefault(); (i > 0 ? buttons[i - 1] : conv.ui.cannedSearch).focus(); }
    if (event.key === "Escape") { conv.ui.cannedResults.hidden = true; conv.ui.cannedSearch.focus(); }
  }

  function useCanned(conv, response) {
    var ui = conv.ui;
    ui.replyText.value = ui.replyText.value.trim() ? ui.replyText.value + "\n" + response.text : response.text;
    ui.cannedResults.hidden = true;
    ui.cannedSearch.value = "";
    if (!ui.replyText.disabled) ui.replyText.focus();
  }

  // ---- start ---------------------------------------------------------------------------------

  function start() {
    $("sound-toggle").addEventListener("click", function () {
      unlockAudio();
      soundOn = !soundOn;
      session.sound = soundOn;
      saveSession();
      updateSoundButton();
      if (soundOn) beep();
    });
    document.addEventListener("pointerdown", unlockAudio, {once: true});
    document.addEventListener("keydown", unlockAudio, {once: true});
    window.addEventListener("focus", resetTitle);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") resetTitle();
    });
    setInterval(tickWaits, 1000);
    login.start(session.token);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/*
 * Console add-on: the ticket inbox.
 *
 * The "Tickets" button of the top bar swaps the queue and chats for the inbox: tickets
 * left by customers no CSR could take (out of hours, team away) and those CSRs open to
 * follow a case up. Filters by status, priority, assignee and breach; due times from the
 * SLA of each ticket's priority; missed targets in red. The detail pane shows the public
 * thread, the chat it came from, the internal notes, a reply box (mailed to the customer
 * and posted in the chat) and the status, priority and assignee controls.
 *
 * Talks to /api/tickets (docs/handoff-api.openapi.yaml) with the console's session
 * (sessionStorage "hp-console"); console.js re-announces every live event as a
 * "console:event" DOM event, and ticket.* events refresh what is shown. Everything from
 * customers and CSRs goes into the page with textContent (StaffKit.h), never as HTML.
 */
(function () {
  "use strict";

  var kit = window.StaffKit;
  var h = kit.h, clear = kit.clear, toast = kit.toast, errorOf = kit.errorOf;
  var STORE = "hp-console";
  var PRIORITY_RANK = {urgent: 0, high: 1, normal: 2, low: 3};
  var STATUS_TEXT = {open: "Open", pending_customer: "Pending customer", solved: "Solved"};
  var SOURCE_TEXT = {out_of_hours: "left out of hours", team_away: "left while the team was away",
                     no_csr: "left while no CSR was online", csr: "opened by a CSR"};
  var TICK_MS = 60000;  // due times pass by themselves: re-read the inbox every minute

  var tickets = [];       // what GET /api/tickets returned (everything this CSR may see)
  var emailOn = true;     // whether the service mails replies (email.smtp_host is set)
  var selected = null;    // ticket id shown in the detail pane
  var detail = null;      // GET /api/tickets/<id>
  var reloadTimer = null, detailTimer = null;
  var loadedFor = null;   // whose inbox is shown: a new login starts afresh

  var $ = function (id) { return document.getElementById(id); };

  function session() { return kit.readSession(STORE); }
  function me() { return (session().user || {}).username || ""; }
  function isAdmin() { return (session().user || {}).role === "admin"; }

  var api = kit.apiClient({token: function () { return session().token; },
                          onUnauthorized: function () { /* console.js shows the login */ },
                          offline: "The console cannot reach the server."});

  // ---- formatting ----------------------------------------------------------------------------

  function when(ts) {
    return typeof ts === "number" ? new Date(ts * 1000).toLocaleString([], {
      weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"}) : "—";
  }

  function span(seconds) {
    seconds = Math.abs(seconds);
    var days = Math.floor(seconds / 86400), hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    if (days) return days + "d " + hours + "h";
    if (hours) return hours + "h " + minutes + "m";
    return Math.max(1, minutes) + "m";
  }

  /** The target a ticket is working towards now, or null once solved. */
  function nextDue(ticket) {
    if (ticket.status === "solved") return null;
    if (ticket.first_replied_at === null || ticket.first_replied_at === undefined) {
      return {what: "first reply", at: ticket.first_reply_due, late: ticket.breached.first_reply};
    }
    return {what: "resolution", at: ticket.resolution_due, late: ticket.breached.resolution};
  }

  function dueText(ticket) {
    var due = nextDue(ticket);
    if (!due) return "Solved " + when(ticket.solved_at);
    var left = due.at - Date.now() / 1000;
    return (left < 0 ? due.what + " overdue by " + span(left) : due.what + " due in " + span(left)) +
      " (" + when(due.at) + ")";
  }

  function isBreached(ticket) {
    return !!(ticket.breached && (ticket.breached.first_reply || ticket.breached.resolution));
  }

  function badges(ticket) {
    var list = [h("span", {class: "badge prio-" + ticket.priority, text: ticket.priority}),
                h("span", {class: "badge status-" + ticket.status, text: STATUS_TEXT[ticket.status] || ticket.status})];
    if (ticket.breached && ticket.breached.first_reply) {
      list.push(h("span", {class: "badge breach", text: "first reply missed"}));
    }
    if (ticket.breached && ticket.breached.resolution) {
      list.push(h("span", {class: "badge breach", text: "resolution missed"}));
    }
    if (ticket.reopen_count) list.push(h("span", {class: "badge", text: "reopened ×" + ticket.reopen_count}));
    return list;
  }

  // ---- the list ------------------------------------------------------------------------------

  function load() {
    if (!session().token) return Promise.resolve();
    if (loadedFor !== me()) {
      loadedFor = me();
      tickets = [];
      selected = detail = null;
      $("ticket-body").hidden = true;
      $("ticket-none").hidden = false;
      $("tf-assignee").options[0].textContent = isAdmin() ? "Everyone" : "Mine and unassigned";
    }
    return api("GET", "/api/tickets").then(function (result) {
      if (result.status !== 200) {
        if (result.status !== 401) toast(errorOf(result, "Could not load the tickets."), "error");
        return;
      }
      tickets = result.data.tickets || [];
      emailOn = result.data.email_enabled !== false;
      renderList();
      renderBadge();
    });
  }

  function reloadSoon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 250);
  }

  function filtered() {
    var status = $("tf-status").value, priority = $("tf-priority").value;
    var assignee = $("tf-assignee").value, breachedOnly = $("tf-breached").checked;
    return tickets.filter(function (t) {
      if (status === "todo" && t.status === "solved") return false;
      if (status && status !== "todo" && t.status !== status) return false;
      if (priority && t.priority !== priority) return false;
      if (assignee === "me" && t.assignee !== me()) return false;
      if (assignee === "none" && t.assignee) return false;
      if (breachedOnly && !isBreached(t)) return false;
      return true;
    }).sort(function (a, b) {
      var da = nextDue(a), db = nextDue(b);
      if (!da || !db) return da ? -1 : db ? 1 : (b.solved_at || 0) - (a.solved_at || 0);
      return da.at - db.at || PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority];
    });
  }

  function renderList() {
    var shown = filtered(), list = $("ticket-list");
    clear(list);
    $("tickets-count").textContent = String(shown.length);
    $("tickets-empty").hidden = shown.length > 0;
    shown.forEach(function (ticket) {
      var item = h("li", {class: "q-item ticket-item prio-" + ticket.priority +
                                 (isBreached(ticket) && ticket.status !== "solved" ? " sla-breach" : "") +
                                 (ticket.id === selected ? " selected" : "")},
        h("div", {class: "q-top"}, badges(ticket)[0], badges(ticket)[1],
          isBreached(ticket) ? h("span", {class: "badge breach", text: "breached"}) : null,
          h("span", {class: "wait" + (isBreached(ticket) && ticket.status !== "solved" ? " late" : ""),
                     text: ticket.id})),
        h("p", {class: "preview", text: ticket.subject || "(no subject)"}),
        h("p", {class: "small muted ticket-due", text: dueText(ticket)}),
        h("div", {class: "q-bottom"},
          h("span", {class: "small muted q-id",
                     text: ticket.assignee ? "Assigned to " + ticket.assignee : "Unassigned"}),
          h("button", {type: "button", class: "ghost small-btn", text: "Open",
                       "aria-label": "Open ticket " + ticket.id,
                       onclick: function () { select(ticket.id); }})));
      list.appendChild(item);
    });
  }

  function renderBadge() {
    var late = tickets.filter(function (t) { return t.status !== "solved" && isBreached(t); }).length;
    var badge = $("tickets-breached");
    badge.textContent = late ? String(late) : "";
    badge.hidden = !late;
    badge.title = late ? late + " tickets missed an SLA target" : "";
  }

  // ---- one ticket ----------------------------------------------------------------------------

  function select(id) {
    selected = id;
    renderList();
    loadDetail();
  }

  function loadDetail() {
    if (!selected) return Promise.resolve();
    var id = selected;
    return api("GET", "/api/tickets/" + encodeURIComponent(id)).then(function (result) {
      if (id !== selected) return;
      if (result.status !== 200) {
        detail = null;
        $("ticket-body").hidden = true;
        $("ticket-none").hidden = false;
        $("ticket-none").textContent = errorOf(result, "Could not load the ticket.");
        return;
      }
      detail = result.data;
      renderDetail();
    });
  }

  function loadDetailSoon() {
    clearTimeout(detailTimer);
    detailTimer = setTimeout(loadDetail, 250);
  }

  function kv(list, rows) {
    clear(list);
    rows.forEach(function (row) {
      list.appendChild(h("dt", {text: row[0]}));
      list.appendChild(h("dd", {text: row[1], class: row[2] || null}));
    });
  }

  function message(entry) {
    var who = entry.sender === "csr" ? (entry.agent || entry.author || "CSR")
      : entry.sender === "customer" ? "Customer" : "System";
    var via = entry.via && entry.sender !== "system" ? " · " + (entry.via === "email" ? "by email" : entry.via === "widget" ? "in the widget" : "in the chat") : "";
    return h("li", {class: "t-msg t-" + (entry.sender || "system")},
      h("div", {class: "t-head"}, h("span", {class: "t-who", text: who}),
        h("span", {text: when(entry.at || entry.timestamp) + via})),
      h("div", {class: "t-text", text: entry.text || ""}));
  }

  function renderDetail() {
    var t = detail;
    $("ticket-none").hidden = true;
    $("ticket-body").hidden = false;
    $("td-subject").textContent = t.id + " · " + (t.subject || "(no subject)");
    $("td-meta").textContent = (STATUS_TEXT[t.status] || t.status) + " · " + dueText(t);
    $("td-meta").className = "conv-state" + (isBreached(t) && t.status !== "solved" ? " late-text" : "");
    var holder = $("td-badges");
    clear(holder);
    badges(t).forEach(function (b) { holder.appendChild(b); });

    var thread = $("td-thread");
    clear(thread);
    (t.thread || []).forEach(function (entry) { thread.appendChild(message(entry)); });
    thread.scrollTop = thread.scrollHeight;

    kv($("td-facts"), [
      ["Source", SOURCE_TEXT[t.source] || t.source],
      ["Reason", (t.reason || "").replace(/_/g, " ")],
      ["Customer", t.email || "no email address"],
      ["Chat", t.conversation_id || "none"],
      ["Opened", when(t.created_at)],
      ["First reply due", when(t.first_reply_due), t.breached.first_reply ? "warn-text" : null],
      ["First reply", t.first_replied_at ? when(t.first_replied_at) : "not yet"],
      ["Resolution due", when(t.resolution_due), t.breached.resolution ? "warn-text" : null],
      ["Reopened", String(t.reopen_count || 0)]
    ]);
    $("td-status").value = t.status;
    $("td-priority").value = t.priority;
    $("td-assignee").value = t.assignee || "";

    var notes = $("td-notes");
    clear(notes);
    (t.notes || []).forEach(function (note) {
      notes.appendChild(h("li", {class: "note"},
        h("div", {class: "note-head small", text: note.author + " · " + when(note.at)}),
        h("div", {class: "note-text-body", text: note.text})));
    });
    if (!(t.notes || []).length) notes.appendChild(h("li", {class: "muted small", text: "No notes yet."}));

    var chat = $("td-transcript");
    clear(chat);
    (t.transcript || []).forEach(function (line) {
      chat.appendChild(h("li", {class: "note ticket-line"},
        h("div", {class: "note-head small", text: (line.agent || line.sender) + " · " + when(line.timestamp)}),
        h("div", {class: "note-text-body", text: line.text})));
    });
    if (!(t.transcript || []).length) {
      chat.appendChild(h("li", {class: "muted small", text: t.conversation_id ? "No messages (or the chat has expired)." : "No chat."}));
    }

    var solved = t.status === "solved";
    var channels = [];
    if (t.email && emailOn) channels.push("by email to " + t.email);
    if (t.conversation_id) channels.push("in the chat");
    $("td-reply-via").textContent = solved ? "(set the ticket to open to reply)"
      : channels.length ? "(" + channels.join(" and ") + ")"
      : "(" + (t.email ? "email is off" : "no email address") + " and no chat: add a note instead)";
    $("td-reply-text").disabled = solved;
    $("td-reply").querySelector("button").disabled = solved;
  }

  function send(method, path, body, errorNode, done) {
    errorNode.textContent = "";
    return api(method, path, body).then(function (result) {
      if (result.status >= 300 || result.status === 0) {
        errorNode.textContent = errorOf(result);
        return;
      }
      done(result.data);
      load();
      loadDetail();
    });
  }

  function onReply(event) {
    event.preventDefault();
    var text = $("td-reply-text").value;
    if (!text.trim() || !selected) return;
    var button = event.target.querySelector("button[type=submit]");
    button.disabled = true;
    send("POST", "/api/tickets/" + encodeURIComponent(selected) + "/replies", {text: text},
      $("td-reply-error"), function (data) {
        $("td-reply-text").value = "";
        toast(data.emailed ? "Reply sent by email" + (data.in_chat ? " and in the chat." : ".")
                           : "Reply posted in the chat.", "ok");
      }).then(function () { button.disabled = false; });
  }

  function onNote(event) {
    event.preventDefault();
    var text = $("td-note-text").value;
    if (!text.trim() || !selected) return;
    send("POST", "/api/tickets/" + encodeURIComponent(selected) + "/notes", {text: text},
      $("td-note-error"), function () { $("td-note-text").value = ""; });
  }

  function onControls(event) {
    event.preventDefault();
    if (!detail) return;
    var changes = {};
    if ($("td-status").value !== detail.status) changes.status = $("td-status").value;
    if ($("td-priority").value !== detail.priority) changes.priority = $("td-priority").value;
    var assignee = $("td-assignee").value.trim().toLowerCase();
    if (assignee !== (detail.assignee || "")) changes.assignee = assignee || null;
    if (!Object.keys(changes).length) return;
    send("PATCH", "/api/tickets/" + encodeURIComponent(detail.id), changes,
      $("td-controls-error"), function () { toast("Ticket " + detail.id + " saved.", "ok"); });
  }

  // ---- a new ticket --------------------------------------------------------------------------

  function openNew(conversationId) {
    var dialog = $("ticket-new");
    ["tn-subject", "tn-email", "tn-note"].forEach(function (id) { $(id).value = ""; });
    $("tn-priority").value = "normal";
    $("tn-conv").value = conversationId || "";
    $("tn-error").textContent = "";
    dialog.showModal();
    $("tn-subject").focus();
  }

  function onNew(event) {
    event.preventDefault();
    var body = {subject: $("tn-subject").value.trim(), priority: $("tn-priority").value};
    if (!body.subject) { $("tn-error").textContent = "A subject is required."; return; }
    var email = $("tn-email").value.trim(), conv = $("tn-conv").value.trim();
    var note = $("tn-note").value;
    if (email) body.email = email;
    if (conv) body.conversation_id = conv;
    if (note.trim()) body.note = note;
    api("POST", "/api/tickets", body).then(function (result) {
      if (result.status !== 201) { $("tn-error").textContent = errorOf(result); return; }
      $("ticket-new").close();
      toast("Ticket " + result.data.id + " opened.", "ok");
      show(true);
      load().then(function () { select(result.data.id); });
    });
  }

  /** "Follow-up ticket" in each conversation panel, prefilled with its id. */
  function decoratePanel(event) {
    var detailEvent = event.detail || {};
    var actions = detailEvent.panel && detailEvent.panel.querySelector(".chat-head .actions");
    if (!actions || actions.querySelector(".ticket-follow-btn")) return;
    actions.appendChild(h("button", {type: "button", class: "ticket-follow-btn",
                                     text: "Follow-up ticket",
                                     title: "Open a ticket to come back to this customer later",
                                     onclick: function () { openNew(detailEvent.id); }}));
  }

  // ---- switching views and live updates ------------------------------------------------------

  function show(on) {
    var layout = document.querySelector("#console-view .layout");
    $("tickets-view").hidden = !on;
    if (layout) layout.hidden = on;
    var toggle = $("tickets-toggle");
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.firstChild.textContent = on ? "Back to chats " : "Tickets ";
    if (on) { load(); if (selected) loadDetail(); }
  }

  function onLiveEvent(event) {
    var data = event.detail || {};
    if (data.type === "hello") { reloadSoon(); return; }
    if (typeof data.type !== "string" || data.type.indexOf("ticket.") !== 0) return;
    reloadSoon();
    if (data.ticket_id && data.ticket_id === selected) loadDetailSoon();
    if (data.type === "ticket.opened" && data.assignee !== me() && $("tickets-view").hidden) {
      toast("New ticket " + data.ticket_id + " in the inbox.");
    }
  }

  function start() {
    if (!$("tickets-view")) return;
    $("tickets-toggle").addEventListener("click", function () { show($("tickets-view").hidden); });
    ["tf-status", "tf-priority", "tf-assignee", "tf-breached"].forEach(function (id) {
      $(id).addEventListener("change", renderList);
    });
    $("ticket-new-btn").addEventListener("click", function () { openNew(""); });
    $("tn-form").addEventListener("submit", onNew);
    $("tn-cancel").addEventListener("click", function () { $("ticket-new").close(); });
    $("td-reply").addEventListener("submit", onReply);
    $("td-reply-text").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("td-reply").requestSubmit(); }
    });
    $("td-note").addEventListener("submit", onNote);
    $("td-controls").addEventListener("submit", onControls);
    document.addEventListener("console:event", onLiveEvent);
    document.addEventListener("console:render", decoratePanel);
    setInterval(function () {
      if (!session().token) return;
      load();
    }, TICK_MS);
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/*
 * Console add-on: the "Customer" section of a conversation's side panel.
 *
 * Once the customer proved who they are (an order and its email or postcode), the
 * section lists their earlier conversations, tickets, ratings and orders, from
 * GET /api/conversations/<id>/customer. console.js announces each render of a panel
 * with a "console:render" event; this file only reads the console's session
 * (sessionStorage "hp-console") for the token. Everything is put in the page with
 * textContent, never as HTML.
 */
(function () {
  "use strict";

  var RELOAD_MS = 60000;  // the orders come live from the order system: not on every event
  var loaded = new Map(); // conversation id -> {at, sig}

  function token() {
    try { return (JSON.parse(sessionStorage.getItem("hp-console") || "{}") || {}).token; }
    catch (e) { return null; }
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function when(ts) {
    return typeof ts === "number" ? new Date(ts * 1000).toLocaleString() : "";
  }

  function list(title, rows, empty) {
    var wrap = el("div", null, "customer-group");
    wrap.appendChild(el("h4", title));
    if (!rows.length) { wrap.appendChild(el("p", empty, "muted small")); return wrap; }
    var ul = el("ul", null, "customer-list");
    rows.forEach(function (text) { ul.appendChild(el("li", text)); });
    wrap.appendChild(ul);
    return wrap;
  }

  function show(box, id, data) {
    box.textContent = "";
    if (!data.verified) {
      box.appendChild(el("p", "Not verified: the customer has not proved who they are yet.", "muted"));
      return;
    }
    var conversations = (data.conversations || []).map(function (c) {
      return (c.id === id ? "This conversation" : c.id) + " — " + (c.state || "with the bot") +
        (c.reason ? ", " + c.reason.replace(/_/g, " ") : "") +
        (c.resolution ? ", " + c.resolution : "") + (c.assigned_to ? ", " + c.assigned_to : "") +
        " (" + when(c.created_at || c.linked_at) + ")";
    });
    var tickets = (data.tickets || []).map(function (t) {
      return t.id + " — " + (t.status || "").replace(/_/g, " ") + ": " + (t.subject || "");
    });
    var ratings = (data.ratings || []).map(function (r) {
      return r.score + "/5 for " + (r.conversation_id === id ? "this conversation" : r.conversation_id);
    });
    var orders = (data.orders || []).map(function (o) {
      return o.order_id + " — " + String(o.status || "").replace(/_/g, " ") +
        (o.placed_on ? ", placed " + o.placed_on : "");
    });
    box.appendChild(list("Conversations", conversations, "none"));
    box.appendChild(list("Tickets", tickets, "none"));
    box.appendChild(list("Ratings", ratings, "none"));
    var orderBox = list("Orders", orders, data.orders_error ? "" : "none");
    if (data.orders_error) {
      orderBox.appendChild(el("p", "Orders unavailable: " + data.orders_error + " (" +
        (data.order_ids || []).join(", ") + ")", "warn-text small"));
    }
    box.appendChild(orderBox);
  }

  function load(id, box) {
    var t = token();
    if (!t) return;
    fetch("/api/conversations/" + encodeURIComponent(id) + "/customer",
          {headers: {Authorization: "Bearer " + t}})
      .then(function (resp) { return resp.json().then(function (body) { return [resp.status, body]; }); })
      .then(function (result) {
        if (result[0] === 200) show(box, id, result[1]);
        else box.textContent = "Customer history unavailable.";
      })
      .catch(function () { box.textContent = "Customer history unavailable."; });
  }

  document.addEventListener("console:render", function (event) {
    var detail = event.detail || {};
    var box = detail.panel && detail.panel.querySelector(".customer");
    if (!box || !detail.id) return;
    var slots = ((detail.data || {}).context || {}).slots || {};
    // A new proof or a state change shows at once; otherwise at most once a minute.
    var sig = [slots.verified_order_id, slots.verified_email, (detail.data || {}).state].join("|");
    var last = loaded.get(detail.id);
    if (last && last.sig === sig && Date.now() - last.at < RELOAD_MS) return;
    loaded.set(detail.id, {at: Date.now(), sig: sig});
    load(detail.id, box);
  });
})();

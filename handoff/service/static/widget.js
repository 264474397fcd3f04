/*
 * Harbor & Pine chat widget: one <script> tag, no dependencies, no build step.
 *
 *   <script src="https://support.example/static/widget.js"
 *           data-server="https://bot.example"      (Rasa, serving /webhooks/widget/)
 *           data-title="Harbor & Pine" data-color="#1f6f5c"
 *           data-greeting="Hi! How can I help?"
 *           data-max-file-bytes="5242880"></script>   (optional: the server's max_attachment_bytes)
 *
 * Everything lives in a Shadow DOM: the store's CSS cannot restyle the widget and
 * the widget's CSS cannot touch the store. API: docs/widget-api.md.
 *
 * Delivery: every message for the customer is an outbox entry with a stream id.
 * The widget renders each id once (a Set), keeps the entries in id order, and
 * remembers in localStorage the last id it received in order (`cursor`), which
 * it passes as `after` when it reconnects. The customer's own messages are not in
 * the outbox, so they are kept in localStorage too, each anchored after the
 * newest entry shown when it was sent; a reload redraws the same order. A file the
 * customer attaches is the exception: the server writes a `kind: "attachment"` entry,
 * drawn on the customer's side with a button that fetches the file with the token.
 *
 * Resume links: a mail answering a ticket links to the store's page with
 * `#resume=<token>`. The widget takes the token out of the address bar, trades it for a
 * session of that conversation, adds the customer's side of the thread the server sends
 * (`history`) to the messages it keeps, and opens with the whole thread.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__harborChatWidget) return;
  window.__harborChatWidget = true;

  var VERSION = 1;
  var MAX_CHARS = 2000;
  var MAX_KEPT = 300;           // customer messages remembered per conversation
  var PING_MS = 25000;
  var MAX_BACKOFF_MS = 30000;
  var TYPING_MS = 6000;
  // What the server accepts (it sniffs the content; the list only filters the file picker).
  var FILE_TYPES = "image/png,image/jpeg,image/gif,image/webp,application/pdf";

  var cfg = {
    server: (script.getAttribute("data-server") || "").trim().replace(/\/+$/, ""),
    title: script.getAttribute("data-title") || "Support",
    color: safeColor(script.getAttribute("data-color")) || "#1f6f5c",
    greeting: script.getAttribute("data-greeting") || "",
    // Files above this are refused before uploading (the server's max_attachment_bytes).
    maxFileBytes: parseInt(script.getAttribute("data-max-file-bytes"), 10) || 5 * 1024 * 1024
  };
  var base = cfg.server + "/webhooks/widget";
  var storageKey = "harbor-chat:v" + VERSION + ":" + cfg.server;

  // ---- persisted state ---------------------------------------------------------------------

  var state = load();

  function emptyState() {
    return {conversationId: null, token: null, expiresAt: 0, cursor: null,
            open: false, unread: 0, sent: []};
  }

  function load() {
    try {
      var raw = JSON.parse(window.localStorage.getItem(storageKey) || "null");
      if (raw && typeof raw === "object") {
        var s = emptyState();
        for (var k in s) if (Object.prototype.hasOwnProperty.call(raw, k)) s[k] = raw[k];
        if (!Array.isArray(s.sent)) s.sent = [];
        return s;
      }
    } catch (e) { /* private mode or corrupt entry: start clean */ }
    return emptyState();
  }

  function save() {
    try {
      if (state.sent.length > MAX_KEPT) state.sent = state.sent.slice(-MAX_KEPT);
      window.localStorage.setItem(storageKey, JSON.stringify(state));
    } catch (e) { /* storage full or blocked: the chat still works for this page */ }
  }

  // ---- helpers ------------------------------------------------------------------------------

  function safeColor(value) {
    return value && /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(value.trim()) ? value.trim() : null;
  }

  function luminance(hex) {
    hex = hex.replace("#", "");
    if (hex.length === 3) hex = hex.replace(/(.)/g, "$1$1");
    var rgb = [0, 2, 4].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
  }

  function contrastText(hex) {
    // White text when it reaches 4.5:1 on the brand colour, near-black otherwise.
    return (1.05 / (luminance(hex) + 0.05)) >= 4.5 ? "#ffffff" : "#111111";
  }

  function idKey(id) {
    var parts = String(id).split("-");
    return [Number(parts[0]) || 0, Number(parts[1]) || 0];
  }

  function compareKeys(a, b) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    }
    return 0;
  }

  function newerId(a, b) {
    if (!a) return b;
    if (!b) return a;
    return compareKeys(idKey(a), idKey(b)) >= 0 ? a : b;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function isHttpUrl(value) {
    return typeof value === "string" && /^https?:\/\//i.test(value);
  }

  function formatTime(ts) {
    var d = new Date(ts * 1000);
    return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }

  function pageMetadata() {
    var meta = {page_url: String(window.location.href).slice(0, 2048)};
    var lang = navigator.language || "";
    if (lang) meta.locale = lang.slice(0, 35);
    return meta;
  }

  // ---- styles (adopted by the shadow root; no inline style attributes) ----------------------

  var brandText = contrastText(cfg.color);
  var CSS = [
    ":host{all:initial;}",
    "*,*::before,*::after{box-sizing:border-box;}",
    ".root{--brand:" + cfg.color + ";--on-brand:" + brandText + ";",
    "  font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;",
    "  color:#1b1f23;-webkit-font-smoothing:antialiased;}",
    ".sr-only{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;",
    "  clip:rect(0 0 0 0);white-space:nowrap;border:0;}",
    "button,textarea{font:inherit;color:inherit;}",
    ":focus{outline:none;}",
    ":focus-visible{outline:3px solid #111;outline-offset:2px;box-shadow:0 0 0 2px #fff;}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:60px;height:60px;",
    "  border-radius:50%;border:0;background:var(--brand);color:var(--on-brand);cursor:pointer;",
    "  display:flex;align-items:center;justify-content:center;box-shadow:0 4px 16px rgba(0,0,0,.25);}",
    ".launcher svg{width:28px;height:28px;fill:currentColor;}",
    ".launcher .icon-close{display:none;}",
    ".launcher[aria-expanded=true] .icon-chat{display:none;}",
    ".launcher[aria-expanded=true] .icon-close{display:block;}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;",
    "  border-radius:11px;background:#c62828;color:#fff;font-size:12px;font-weight:700;",
    "  line-height:22px;text-align:center;border:2px solid #fff;}",
    ".badge[hidden]{display:none;}",
    ".window{position:fixed;right:20px;bottom:92px;z-index:2147483001;width:370px;",
    "  height:min(600px,calc(100vh - 112px));display:flex;flex-direction:column;background:#fff;",
    "  border-radius:14px;overflow:hidden;box-shadow:0 12px 40px rgba(0,0,0,.28);}",
    ".window[hidden]{display:none;}",
    ".header{display:flex;align-items:center;gap:10px;padding:12px 12px 12px 16px;",
    "  background:var(--brand);color:var(--on-brand);}",
    ".header :focus-visible{outline-color:var(--on-brand);box-shadow:none;}",
    ".heading{flex:1;min-width:0;}",
    ".title{margin:0;font-size:16px;font-weight:700;line-height:1.25;overflow-wrap:anywhere;}",
    ".subtitle{margin:2px 0 0;font-size:13px;opacity:.95;overflow-wrap:anywhere;}",
    ".icon-btn{flex:none;width:36px;height:36px;border:0;border-radius:8px;background:transparent;",
    "  color:inherit;cursor:pointer;display:flex;align-items:center;justify-content:center;}",
    ".icon-btn:hover{background:rgba(0,0,0,.15);}",
    ".icon-btn svg{width:20px;height:20px;fill:currentColor;}",
    ".log{flex:1;overflow-y:auto;padding:14px 12px 6px;display:flex;flex-direction:column;gap:10px;",
    "  background:#fafbfc;overscroll-behavior:contain;}",
    ".msg{display:flex;flex-direction:column;max-width:86%;align-self:flex-start;}",
    ".msg--customer{align-self:flex-end;align-items:flex-end;}",
    ".msg--system{align-self:center;max-width:92%;align-items:center;}",
    ".who{font-size:12px;font-weight:600;color:#4a5560;margin:0 4px 2px;}",
    ".msg--csr .who{color:#7a4a00;}",
    ".bubble{padding:9px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere;",
    "  word-break:break-word;min-width:0;max-width:100%;}",
    ".msg--bot .bubble{background:#eceff2;color:#1b1f23;border-bottom-left-radius:4px;}",
    ".msg--csr .bubble{background:#fff4e0;color:#2b1d00;border:1px solid #e6c48a;",
    "  border-bottom-left-radius:4px;}",
    ".msg--customer .bubble{background:var(--brand);color:var(--on-brand);",
    "  border-bottom-right-radius:4px;}",
    ".msg--system .bubble{background:transparent;color:#4f5b66;font-size:13px;font-style:italic;",
    "  text-align:center;padding:2px 8px;}",
    ".msg--pending .bubble{opacity:.7;}",
    ".msg--failed .bubble{background:#fdecea;color:#8a1c12;border:1px solid #f1aea6;}",
    ".meta{font-size:11px;color:#5f6b76;margin:3px 4px 0;display:flex;gap:8px;align-items:center;}",
    ".retry{border:0;background:none;padding:0;color:#8a1c12;text-decoration:underline;cursor:pointer;",
    "  font-size:12px;}",
    ".msg img{max-width:100%;border-radius:10px;margin-top:4px;}",
    ".buttons{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px;}",
    ".msg--system .buttons{justify-content:center;}",
    ".choice{border:1.5px solid var(--brand);background:#fff;color:#1b1f23;border-radius:16px;",
    "  padding:6px 12px;cursor:pointer;font-size:14px;text-decoration:none;max-width:100%;",
    "  overflow-wrap:anywhere;text-align:left;}",
    ".choice:hover:not(:disabled){background:var(--brand);color:var(--on-brand);}",
    ".choice:disabled{cursor:default;border-color:#c8ced4;color:#5f6b76;background:#f4f5f7;}",
    ".typing{display:flex;align-items:center;gap:8px;min-height:26px;padding:0 16px 4px;",
    "  font-size:13px;color:#4f5b66;background:#fafbfc;}",
    ".typing[hidden]{display:none;}",
    ".dots{display:inline-flex;gap:3px;}",
    ".dots span{width:6px;height:6px;border-radius:50%;background:#7b8691;",
    "  animation:hp-blink 1.2s infinite ease-in-out;}",
    ".dots span:nth-child(2){animation-delay:.2s;}.dots span:nth-child(3){animation-delay:.4s;}",
    "@keyframes hp-blink{0%,80%,100%{opacity:.3;}40%{opacity:1;}}",
    "@media (prefers-reduced-motion:reduce){.dots span{animation:none;}}",
    ".notice{margin:0;padding:6px 14px;font-size:13px;color:#8a1c12;background:#fdecea;}",
    ".notice:empty{display:none;}",
    ".composer{display:flex;align-items:flex-end;gap:8px;padding:10px 10px 12px;",
    "  border-top:1px solid #e1e5e9;background:#fff;}",
    ".composer textarea{flex:1;min-width:0;resize:none;max-height:120px;min-height:42px;",
    "  padding:10px 12px;border:1.5px solid #9aa5b1;border-radius:10px;background:#fff;",
    "  color:#1b1f23;line-height:1.35;}",
    ".composer textarea:focus-visible{border-color:var(--brand);}",
    ".send{flex:none;width:44px;height:44px;border:0;border-radius:10px;background:var(--brand);",
    "  color:var(--on-brand);cursor:pointer;display:flex;align-items:center;justify-content:center;}",
    ".send svg{width:20px;height:20px;fill:currentColor;}",
    ".send:disabled{opacity:.6;cursor:default;}",
    ".attach{flex:none;width:40px;height:44px;border:0;border-radius:10px;background:transparent;",
    "  color:#4a5560;cursor:pointer;display:flex;align-items:center;justify-content:center;}",
    ".attach:hover:not(:disabled){background:#eceff2;}",
    ".attach svg{width:22px;height:22px;fill:currentColor;}",
    ".attach:disabled{opacity:.5;cursor:progress;}",
    ".file-input{display:none;}",
    ".file{display:flex;align-items:center;gap:6px;max-width:100%;padding:8px 12px;",
    "  border:1.5px solid var(--brand);border-radius:14px;border-bottom-right-radius:4px;",
    "  background:#fff;color:#1b1f23;cursor:pointer;text-align:left;font-size:14px;}",
    ".file:hover:not(:disabled){background:#f4f5f7;}",
    ".file svg{flex:none;width:18px;height:18px;fill:currentColor;}",
    ".file-name{overflow-wrap:anywhere;min-width:0;}",
    ".file-size{flex:none;color:#5f6b76;font-size:12px;}",
    "@media (max-width:480px){",
    "  .window{right:0;bottom:0;left:0;top:0;width:100%;height:100%;border-radius:0;}",
    "  .root.is-open .launcher{display:none;}",
    "  .msg{max-width:92%;}",
    "}"
  ].join("\n");

  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z",
    close: "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z",
    minimise: "M5 11h14v2H5z",
    send: "M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z",
    attach: "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 " +
            "2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z"
  };

  function icon(name, className) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    if (className) svg.setAttribute("class", className);
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  // ---- DOM -----------------------------------------------------------------------------------

  var ui = {};
  var items = [];               // rendered messages in display order: {key, el, kind, buttons}
  var seen = new Set();         // outbox ids already rendered
  var renderedLocal = new Set(); // customer message ids (lid) already rendered
  var ws = null, pingTimer = null, reconnectTimer = null, attempts = 0;
  var typingTimer = null, botThinking = 0, agentName = null;

  function build() {
    var host = document.createElement("harbor-chat-widget");
    host.setAttribute("data-version", String(VERSION));
    var shadow = host.attachShadow({mode: "open"});
    if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function") {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        shadow.adoptedStyleSheets = [sheet];
      } catch (e) { shadow.appendChild(el("style", null, CSS)); }
    } else {
      shadow.appendChild(el("style", null, CSS));
    }

    var root = el("div", "root");
    var uid = "hpc-" + Math.random().toString(36).slice(2, 8);

    var launcher = el("button", "launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-controls", uid + "-window");
    launcher.setAttribute("aria-expanded", "false");
    launcher.appendChild(icon("chat", "icon-chat"));
    launcher.appendChild(icon("close", "icon-close"));
    var badge = el("span", "badge");
    badge.setAttribute("aria-hidden", "true");
    badge.hidden = true;
    launcher.appendChild(badge);

    var win = el("section", "window");
    win.id = uid + "-window";
    win.setAttribute("role", "dialog");
    win.setAttribute("aria-modal", "false");
    win.setAttribute("aria-labelledby", uid + "-title");
    win.setAttribute("aria-describedby", uid + "-subtitle");
    win.hidden = true;

    var header = el("header", "header");
    var heading = el("div", "heading");
    var title = el("h2", "title", cfg.title);
    title.id = uid + "-title";
    var subtitle = el("p", "subtitle", "Virtual assistant · a person can take over");
    subtitle.id = uid + "-subtitle";
    subtitle.setAttribute("aria-live", "polite");
    heading.appendChild(title);
    heading.appendChild(subtitle);
    var minimise = el("button", "icon-btn");
    minimise.type = "button";
    minimise.setAttribute("aria-label", "Minimise chat");
    minimise.appendChild(icon("minimise"));
    header.appendChild(heading);
    header.appendChild(minimise);

    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-relevant", "additions");
    log.setAttribute("aria-label", "Conversation with " + cfg.title);
    log.tabIndex = 0;

    var typing = el("div", "typing");
    typing.setAttribute("role", "status");
    typing.hidden = true;
    var dots = el("span", "dots");
    dots.setAttribute("aria-hidden", "true");
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    var typingText = el("span", "typing-text");
    typing.appendChild(dots);
    typing.appendChild(typingText);

    var notice = el("p", "notice");
    notice.setAttribute("role", "alert");

    var form = el("form", "composer");
    form.setAttribute("aria-label", "Send a message");
    var label = el("label", "sr-only", "Type your message");
    label.htmlFor = uid + "-input";
    var input = el("textarea");
    input.id = uid + "-input";
    input.rows = 1;
    input.maxLength = MAX_CHARS;
    input.placeholder = "Type your message…";
    input.setAttribute("autocomplete", "off");
    input.setAttribute("aria-describedby", uid + "-hint");
    var hint = el("span", "sr-only", "Press Enter to send, Shift and Enter for a new line.");
    hint.id = uid + "-hint";
    var send = el("button", "send");
    send.type = "submit";
    send.setAttribute("aria-label", "Send message");
    send.appendChild(icon("send"));
    var attach = el("button", "attach");
    attach.type = "button";
    attach.setAttribute("aria-label", "Attach a photo or PDF");
    attach.title = "Attach a photo or PDF";
    attach.appendChild(icon("attach"));
    var fileInput = el("input", "file-input");
    fileInput.type = "file";
    fileInput.accept = FILE_TYPES;
    fileInput.tabIndex = -1;
    fileInput.setAttribute("aria-hidden", "true");
    form.appendChild(fileInput);
    form.appendChild(attach);
    form.appendChild(label);
    form.appendChild(hint);
    form.appendChild(input);
    form.appendChild(send);

    win.appendChild(header);
    win.appendChild(log);
    win.appendChild(typing);
    win.appendChild(notice);
    win.appendChild(form);
    root.appendChild(win);
    root.appendChild(launcher);
    shadow.appendChild(root);
    document.body.appendChild(host);

    ui = {host: host, root: root, launcher: launcher, badge: badge, win: win, subtitle: subtitle,
          log: log, typing: typing, typingText: typingText, notice: notice, form: form,
          input: input, send: send, minimise: minimise, attach: attach, fileInput: fileInput};

    if (cfg.greeting) {
      var greet = renderBubble("bot", cfg.greeting, null);
      greet.classList.add("msg--greeting");
      log.appendChild(greet);
    }

    launcher.addEventListener("click", function () { setOpen(!state.open, true); });
    minimise.addEventListener("click", function () { setOpen(false, true); });
    win.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); setOpen(false, true); }
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value;
      if (!text.trim()) return;
      input.value = "";
      autoGrow();
      sendText(text, null);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (typeof form.requestSubmit === "function") form.requestSubmit();
        else form.dispatchEvent(new Event("submit", {cancelable: true}));
      }
    });
    input.addEventListener("input", autoGrow);
    attach.addEventListener("click", function () { fileInput.click(); });
    fileInput.addEventListener("change", function () {
      var file = fileInput.files && fileInput.files[0];
      fileInput.value = "";  // choosing the same file again fires "change" again
      if (file) sendFile(file);
    });
  }

  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
  }

  function setOpen(open, moveFocus) {
    state.open = !!open;
    if (open) state.unread = 0;
    save();
    ui.win.hidden = !open;
    ui.root.classList.toggle("is-open", !!open);
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    updateBadge();
    if (open) {
      scrollToEnd(true);
      if (moveFocus) ui.input.focus();
    } else if (moveFocus) {
      ui.launcher.focus();
    }
  }

  function updateBadge() {
    var n = state.open ? 0 : state.unread;
    ui.badge.hidden = !n;
    ui.badge.textContent = n > 9 ? "9+" : String(n);
    var label = (state.open ? "Close chat with " : "Open chat with ") + cfg.title;
    if (n) label += " (" + n + " unread message" + (n === 1 ? "" : "s") + ")";
    ui.launcher.setAttribute("aria-label", label);
  }

  function setNotice(text) {
    ui.notice.textContent = text || "";
  }

  function isNearEnd() {
    var log = ui.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 120;
  }

  function scrollToEnd(force) {
    if (force || isNearEnd()) ui.log.scrollTop = ui.log.scrollHeight;
  }

  // ---- rendering -----------------------------------------------------------------------------

  var WHO = {bot: "Assistant", system: "Notice", customer: "You"};

  function renderBubble(sender, text, message) {
    var node = el("div", "msg msg--" + sender);
    node.setAttribute("data-sender", sender);
    var who = sender === "csr" ? ((message && message.agent) || "Support team") : WHO[sender];
    if (sender === "csr") {
      // An answer to a ticket (it has the ticket's id) is no live chat: the label says so.
      var ticket = message && typeof message.ticket_id === "string" ? message.ticket_id : null;
      node.appendChild(el("span", "who", ticket ? who + " answered your ticket " + ticket : who));
    } else {
      node.appendChild(el("span", "sr-only", who + ":"));
    }
    if (text) node.appendChild(el("div", "bubble", text));  // textContent: never HTML
    if (message && isHttpUrl(message.image)) {
      var img = el("img");
      img.src = message.image;
      img.alt = "Image from " + (sender === "csr" ? who : cfg.title);
      img.loading = "lazy";
      node.appendChild(img);
    }
    return node;
  }

  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  /** The customer's own upload (an outbox entry of kind "attachment"): a download button. */
  function renderFile(file) {
    var node = el("div", "msg msg--customer msg--file");
    node.setAttribute("data-sender", "customer");
    node.appendChild(el("span", "sr-only", "You sent a file:"));
    var name = String(file.name || "attachment");
    var button = el("button", "file");
    button.type = "button";
    button.setAttribute("aria-label", "Download " + name);
    button.appendChild(icon("attach"));
    button.appendChild(el("span", "file-name", name));  // textContent: never HTML
    if (typeof file.size === "number") button.appendChild(el("span", "file-size", formatSize(file.size)));
    button.addEventListener("click", function () { downloadFile(file, button); });
    node.appendChild(button);
    return node;
  }

  function addTime(node, ts) {
    if (typeof ts !== "number" || !isFinite(ts)) return null;
    var meta = el("div", "meta");
    var time = el("time", null, formatTime(ts));
    time.dateTime = new Date(ts * 1000).toISOString();
    time.title = new Date(ts * 1000).toLocaleString();
    meta.appendChild(time);
    node.appendChild(meta);
    return meta;
  }

  function renderButtons(node, buttons) {
    var valid = (buttons || []).filter(function (b) { return b && (b.title || b.payload); });
    if (!valid.length) return null;
    var group = el("div", "buttons");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Suggested replies");
    valid.forEach(function (b) {
      var title = String(b.title || b.payload);
      if (isHttpUrl(b.url)) {
        var link = el("a", "choice", title);
        link.href = b.url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        group.appendChild(link);
        return;
      }
      var button = el("button", "choice", title);
      button.type = "button";
      button.addEventListener("click", function () {
        sendText(String(b.payload || b.title), title);
      });
      group.appendChild(button);
    });
    node.appendChild(group);
    return group;
  }

  function insert(key, node, kind, buttons) {
    var item = {key: key, el: node, kind: kind, buttons: buttons};
    var i = items.length;
    while (i > 0 && compareKeys(items[i - 1].key, key) > 0) i--;
    var before = i < items.length ? items[i].el : null;
    var follow = isNearEnd();  // measured before the new message changes the height
    ui.log.insertBefore(node, before);
    items.splice(i, 0, item);
    refreshButtons();
    if (follow) scrollToEnd(true);
    return item;
  }

  function refreshButtons() {
    // Buttons answer the question they came with: once the customer has written
    // after them, they are history.
    var answered = false;
    for (var i = items.length - 1; i >= 0; i--) {
      var item = items[i];
      if (item.kind === "customer") { answered = true; continue; }
      if (!item.buttons) continue;
      var controls = item.buttons.querySelectorAll("button");
      for (var j = 0; j < controls.length; j++) controls[j].disabled = answered;
    }
  }

  function latestOutboxId() {
    for (var i = items.length - 1; i >= 0; i--) if (items[i].kind === "outbox") return items[i].id;
    return null;
  }

  function anchorKey(anchor, lid) {
    var key = anchor ? idKey(anchor) : [0, 0];
    return [key[0], key[1], 1, lid];
  }

  /** Render one outbox entry unless it was rendered before. Returns true when new. */
  function addEntry(id, message, live) {
    if (!id || seen.has(id) || !message || typeof message !== "object") return false;
    seen.add(id);
    var sender = ["bot", "csr", "system"].indexOf(message.sender) >= 0 ? message.sender : "bot";
    var text = typeof message.text === "string" ? message.text : "";
    var file = message.kind === "attachment" && message.attachment &&
               typeof message.attachment === "object";
    var node = file ? renderFile(message.attachment) : renderBubble(sender, text, message);
    node.setAttribute("data-id", id);
    if (message.kind) node.setAttribute("data-kind", String(message.kind));
    var buttons = renderButtons(node, message.buttons);
    addTime(node, message.timestamp);
    var key = idKey(id).concat([0, 0]);
    var item = insert(key, node, "outbox", buttons);
    item.id = id;
    item.message = message;
    if (latestOutboxId() === id) followSpeaker(message);
    if (sender === "csr") hideTyping();
    if (live && !state.open) { state.unread += 1; updateBadge(); }
    return true;
  }

  function followSpeaker(message) {
    // A CSR's answer to a ticket leaves the header as it was: nobody is chatting live.
    if (message.sender === "csr" && message.ticket_id) return;
    if (message.sender === "csr" && message.agent) agentName = String(message.agent);
    else if (message.sender === "bot" || message.kind === "csat_request" ||
             message.kind === "followup_request") agentName = null;
    ui.subtitle.textContent = agentName ? "You're talking to " + agentName
                                        : "Virtual assistant · a person can take over";
  }

  function addCustomer(record, status) {
    renderedLocal.add(record.lid);
    var node = renderBubble("customer", record.text, null);
    node.setAttribute("data-lid", String(record.lid));
    var meta = addTime(node, record.ts);
    if (record.via === "email") {
      node.setAttribute("data-via", "email");
      if (meta) meta.appendChild(el("span", null, "by email"));
    }
    if (status) node.classList.add("msg--" + status);
    var item = insert(anchorKey(record.after, record.lid), node, "customer", null);
    item.meta = meta;
    scrollToEnd(true);
    return item;
  }

  function markFailed(item, record, error) {
    item.el.classList.remove("msg--pending");
    item.el.classList.add("msg--failed");
    var meta = item.meta || addTime(item.el, record.ts);
    meta.appendChild(el("span", null, "Not sent"));
    var retry = el("button", "retry", "Retry");
    retry.type = "button";
    retry.setAttribute("aria-label", "Retry sending: " + record.text.slice(0, 60));
    retry.addEventListener("click", function () {
      removeItem(item);
      renderedLocal.delete(record.lid);
      sendText(record.payload || record.text, record.payload ? record.text : null);
    });
    meta.appendChild(retry);
    setNotice(error);
  }

  function removeItem(item) {
    var i = items.indexOf(item);
    if (i >= 0) items.splice(i, 1);
    if (item.el.parentNode) item.el.parentNode.removeChild(item.el);
    refreshButtons();
  }

  function clearLog() {
    items.slice().forEach(removeItem);
    items = [];
    seen = new Set();
    renderedLocal = new Set();
    agentName = null;
    ui.subtitle.textContent = "Virtual assistant · a person can take over";
  }

  function redrawCustomerMessages() {
    state.sent.forEach(function (record) {
      if (!renderedLocal.has(record.lid)) addCustomer(record, null);
    });
  }

  function showTyping(who) {
    ui.typingText.textContent = who + " is typing…";
    ui.typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_MS);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    ui.typing.hidden = true;
    ui.typingText.textContent = "";
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  var RETRY_ATTEMPTS = 4;      // rides out a Redis failover or a restarted server (a few s)
  var MAX_RETRY_WAIT_S = 10;

  /**
   * One JSON request, repeated while the server says "try again shortly": a 503 (storage
   * restarting or failing over) and, for reads and the session, a 502 from the load
   * balancer (a write may have been done before the instance died). Waits Retry-After
   * seconds, else 1, 2, 4 s.
   */
  function request(method, path, body, attempt) {
    attempt = attempt || 0;
    return send(method, path, body).then(function (result) {
      var again = result.status === 503 ||
                  (result.status === 502 && (method === "GET" || path === "/session"));
      if (!again || attempt + 1 >= RETRY_ATTEMPTS) return result;
      var seconds = parseInt(result.retryAfter, 10);
      if (!(seconds >= 0)) seconds = Math.pow(2, attempt);
      return new Promise(function (resolve) {
        setTimeout(resolve, Math.min(seconds, MAX_RETRY_WAIT_S) * 1000);
      }).then(function () { return request(method, path, body, attempt + 1); });
    });
  }

  function send(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token) headers["Authorization"] = "Bearer " + state.token;
    return fetch(base + path, {
      method: method, headers: headers, mode: "cors", credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
        return {status: response.status, data: data,
                retryAfter: response.headers.get("Retry-After")};
      });
    });
  }

  function errorText(result) {
    var message = result && result.data && result.data.error && result.data.error.message;
    if (result && result.status === 429) {
      return "You're sending messages a little fast. Please wait " +
             (result.retryAfter || "a few") + " seconds and try again.";
    }
    if (result && result.data && result.data.error && result.data.error.code === "text_too_long") return "That message is too long (" + MAX_CHARS + " characters at most).";
    if (result && result.status >= 500) return "We couldn't reach the assistant just now. Please try again.";
    return message || "Something went wrong. Please try again.";
  }

  /** Start a conversation, or refresh the stored one's token (or open a mail's resume link). */
  function openSession(resumeToken) {
    var body = pageMetadata();
    if (resumeToken) body.resume = resumeToken;
    return request("POST", "/session", body).then(function (result) {
      if (result.status !== 200 || !result.data || !result.data.token) {
        var err = new Error(errorText(result));
        err.result = result;
        throw err;
      }
      var data = result.data;
      if (state.conversationId && data.conversation_id !== state.conversationId) {
        // The old token expired or was refused: this is a new conversation.
        var open = state.open;
        state = emptyState();
        state.open = open;
        clearLog();
      }
      state.conversationId = data.conversation_id;
      state.token = data.token;
      state.expiresAt = data.expires_at || 0;
      save();
      return data;
    });
  }

  /** Every outbox entry after `after` (all of them when null), page by page. */
  function fetchAfter(after, live) {
    var path = "/messages" + (after ? "?after=" + encodeURIComponent(after) : "");
    return request("GET", path).then(function (result) {
      if (result.status === 401) { sessionLost(); return; }
      if (result.status === 400 && after) { return fetchAfter(null, live); }
      if (result.status !== 200 || !result.data) throw new Error(errorText(result));
      var last = after;
      (result.data.messages || []).forEach(function (entry) {
        var id = entry.id;
        addEntry(id, entry, live && (!state.cursor || compareKeys(idKey(id), idKey(state.cursor)) > 0));
        last = id;
      });
      if (last) { state.cursor = newerId(state.cursor, last); save(); }
      if (result.data.more && last) return fetchAfter(last, live);
    });
  }

  function sessionLost() {
    // Token expired or refused: the next message starts a new conversation.
    disconnect();
    var open = state.open;
    state = emptyState();
    state.open = open;
    save();
  }

  // ---- sending -------------------------------------------------------------------------------

  var localSeq = 0;

  function nextLid() {
    localSeq += 1;
    return Date.now() * 1000 + (localSeq % 1000);
  }

  function sendText(payload, display) {
    payload = String(payload);
    if (!payload.trim()) return;
    if (payload.length > MAX_CHARS) {
      setNotice("That message is too long (" + MAX_CHARS + " characters at most).");
      return;
    }
    setNotice("");
    var record = {lid: nextLid(), text: display || payload, ts: Date.now() / 1000,
                  after: latestOutboxId()};
    if (display) record.payload = payload;
    var item = addCustomer(record, "pending");
    var ready = state.token ? Promise.resolve() : openSession().then(connect);
    var thinking = setTimeout(function () {
      if (!agentName) { botThinking += 1; showTyping(cfg.title); }
    }, 350);
    var done = function () {
      clearTimeout(thinking);
      if (botThinking) { botThinking = Math.max(0, botThinking - 1); if (!botThinking) hideTyping(); }
    };
    ready.then(function () {
      return post(payload).then(function (result) {
        if (result.status === 401) {
          // Expired between page loads: start over once with a new conversation.
          sessionLost();
          return openSession().then(connect).then(function () { return post(payload); });
        }
        return result;
      });
    }).then(function (result) {
      done();
      if (result.status !== 200 && result.status !== 202) {
        markFailed(item, record, errorText(result));
        return;
      }
      item.el.classList.remove("msg--pending");
      delete record.payload;
      state.sent.push(record);
      save();
      (result.data && result.data.messages || []).forEach(function (entry) {
        addEntry(entry.id, entry, false);
      });
    }).catch(function (err) {
      done();
      markFailed(item, record, (err && err.result) ? errorText(err.result)
                 : "You seem to be offline. Check your connection and try again.");
    });
  }

  // ---- files ---------------------------------------------------------------------------------

  function fileErrorText(result) {
    var message = result && result.data && result.data.error && result.data.error.message;
    if (result && result.status === 429) return errorText(result);
    if (result && result.status >= 500) return "We couldn't send your file just now. Please try again.";
    return message || "Your file could not be sent. Please try again.";
  }

  /** Upload one file (multipart, the token's conversation); the server says what it is. */
  function sendFile(file) {
    if (file.size > cfg.maxFileBytes) {
      setNotice("That file is too large (" + formatSize(cfg.maxFileBytes) + " at most).");
      return;
    }
    setNotice("");
    ui.attach.disabled = true;
    ui.attach.setAttribute("aria-label", "Sending " + file.name + "…");
    var ready = state.token ? Promise.resolve() : openSession().then(connect);
    ready.then(function () {
      var body = new FormData();
      body.append("file", file, file.name);
      return fetch(base + "/attachments", {
        method: "POST", mode: "cors", credentials: "omit", body: body,
        headers: {"Accept": "application/json", "Authorization": "Bearer " + state.token}
      }).then(function (response) {
        return response.text().then(function (raw) {
          var data = null;
          try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
          return {status: response.status, data: data, retryAfter: response.headers.get("Retry-After")};
        });
      });
    }).then(function (result) {
      if (result.status === 401) {
        sessionLost();
        setNotice("Your chat session has ended. Send a message to start a new one.");
        return;
      }
      if (result.status !== 201) { setNotice(fileErrorText(result)); return; }
      (result.data && result.data.messages || []).forEach(function (entry) {
        addEntry(entry.id, entry, false);
      });
      scrollToEnd(true);
    }).catch(function (err) {
      setNotice(err && err.result ? fileErrorText(err.result)
                : "You seem to be offline. Check your connection and try again.");
    }).then(function () {
      ui.attach.disabled = false;
      ui.attach.setAttribute("aria-label", "Attach a photo or PDF");
    });
  }

  /** Fetch a file with the token and save it (a link cannot carry the Authorization header). */
  function downloadFile(file, button) {
    if (!state.token || !file.id) return;
    button.disabled = true;
    fetch(base + "/attachments/" + encodeURIComponent(file.id), {
      method: "GET", mode: "cors", credentials: "omit",
      headers: {"Authorization": "Bearer " + state.token}
    }).then(function (response) {
      if (response.status === 404) throw new Error("This file is no longer available.");
      if (!response.ok) throw new Error("The file could not be downloaded. Please try again.");
      return response.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var link = el("a");
      link.href = url;
      link.download = String(file.name || "attachment");
      link.rel = "noopener";
      ui.root.appendChild(link);
      link.click();
      ui.root.removeChild(link);
      setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
    }).catch(function (err) {
      setNotice(err && err.message ? err.message : "The file could not be downloaded.");
    }).then(function () { button.disabled = false; });
  }

  function post(text) {
    return request("POST", "/messages", {text: text, metadata: pageMetadata()});
  }

  // ---- live connection -----------------------------------------------------------------------

  function connect() {
    if (!state.token || !cfg.server) return;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) return;
    clearTimeout(reconnectTimer);
    var url = base.replace(/^http/i, "ws") + "/ws?token=" + encodeURIComponent(state.token) +
              (state.cursor ? "&after=" + encodeURIComponent(state.cursor) : "");
    var socket;
    try { socket = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
    ws = socket;
    socket.onopen = function () {
      attempts = 0;
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({type: "ping"}));
      }, PING_MS);
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (!frame || typeof frame !== "object") return;
      if (frame.type === "message" && frame.id) {
        var fresh = addEntry(frame.id, frame.message, true);
        state.cursor = newerId(state.cursor, frame.id);
        save();
        if (fresh && socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({type: "ack", id: frame.id}));
        }
      } else if (frame.type === "typing") {
        showTyping(frame.agent ? String(frame.agent) : "Support");
      }
    };
    socket.onclose = function (event) {
      if (ws !== socket) return;   // replaced or closed on purpose
      ws = null;
      clearInterval(pingTimer);
      if (event.code === 4401) { sessionLost(); return; }
      if (event.code === 4400) { state.cursor = null; save(); }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, attempts));
    delay = delay / 2 + Math.random() * delay / 2;
    attempts += 1;
    reconnectTimer = setTimeout(function () {
      // Catch up over HTTP first: works even where WebSockets are blocked.
      fetchAfter(state.cursor, true).catch(function () {}).then(connect);
    }, delay);
  }

  function disconnect() {
    clearTimeout(reconnectTimer);
    clearInterval(pingTimer);
    var socket = ws;
    ws = null;
    if (socket) try { socket.close(1000, "bye"); } catch (e) { /* already closed */ }
  }

  function reconnectNow() {
    if (!state.token || ws) return;
    attempts = 0;
    clearTimeout(reconnectTimer);
    fetchAfter(state.cursor, true).catch(function () {}).then(connect);
  }

  // ---- start ---------------------------------------------------------------------------------

  /** The token of a mail's resume link (`#resume=<token>`), taken out of the address bar. */
  function takeResumeToken() {
    var hash = String(window.location.hash || "").replace(/^#/, "");
    if (!hash) return null;
    var token = null;
    var rest = hash.split("&").filter(function (part) {
      if (part.indexOf("resume=") !== 0) return true;
      token = decodeURIComponent(part.slice(7));
      return false;
    });
    if (token === null) return null;
    // Out of the address bar at once: not bookmarked, not in page_url, not shared by copying.
    try {
      var url = window.location.pathname + window.location.search +
                (rest.length ? "#" + rest.join("&") : "");
      window.history.replaceState(window.history.state, "", url);
    } catch (e) { /* a sandboxed page: the token stays visible, nothing else changes */ }
    return token || null;
  }

  function linkErrorText(err) {
    var code = err && err.result && err.result.data && err.result.data.error &&
               err.result.data.error.code;
    if (code === "resume_link_expired") {
      return "That link has expired. Write to us here, or reply to our email.";
    }
    if (code === "invalid_resume_link") return "That link could not be opened. Write to us here.";
    return errorText(err && err.result);
  }

  /** The customer's side of the thread the server sent with a resume link, kept like our own. */
  function addHistory(history) {
    (history || []).forEach(function (h, i) {
      if (!h || typeof h.text !== "string" || typeof h.timestamp !== "number") return;
      var known = state.sent.some(function (r) {
        return r.text === h.text && Math.abs((r.ts || 0) - h.timestamp) < 120;
      });
      if (known) return;
      state.sent.push({lid: Math.round(h.timestamp * 1e6) + i, text: h.text, ts: h.timestamp,
                       after: h.after || null, via: h.via === "email" ? "email" : "chat"});
    });
    state.sent.sort(function (a, b) { return a.lid - b.lid; });
    save();
  }

  function resume(resumeToken) {
    // Refresh the token (or open a mail's resume link), redraw everything the outbox holds,
    // then go live.
    return openSession(resumeToken).then(function (data) {
      if (!resumeToken) return;
      addHistory(data.history);
      setOpen(true, false);   // the customer came for this thread: show it
    }, function (err) {
      if (resumeToken) {
        // A bad link: keep whatever conversation this browser has.
        setOpen(true, false);
        setNotice(linkErrorText(err));
        return;
      }
      // Rate-limited or offline: keep the stored token and try the rest anyway.
      if (err && err.result && err.result.status === 401) sessionLost();
    }).then(function () {
      if (!state.token) return;
      return fetchAfter(null, true);
    }).catch(function () { /* the socket's backlog will fill in */ }).then(function () {
      redrawCustomerMessages();
      scrollToEnd(true);
      connect();
    });
  }

  function onStorage(event) {
    if (event.key !== storageKey || !event.newValue) return;
    var other;
    try { other = JSON.parse(event.newValue); } catch (e) { return; }
    if (!other || other.conversationId !== state.conversationId) {
      // Another tab started a new conversation: follow it.
      disconnect();
      clearLog();
      var open = state.open;
      state = load();
      state.open = open;
      if (state.token) resume();
      return;
    }
    state.token = other.token || state.token;
    state.cursor = newerId(state.cursor, other.cursor);
    state.sent = Array.isArray(other.sent) ? other.sent : state.sent;
    redrawCustomerMessages();
  }

  function start() {
    build();
    if (!cfg.server) {
      setNotice("Chat is unavailable: the widget has no data-server.");
      ui.input.disabled = true;
      ui.send.disabled = true;
      ui.attach.disabled = true;
    }
    setOpen(state.open, false);
    var resumeToken = takeResumeToken();
    if (resumeToken && cfg.server) resume(resumeToken);
    else if (state.token && cfg.server) resume();
    window.addEventListener("storage", onStorage);
    window.addEventListener("online", reconnectNow);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") reconnectNow();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

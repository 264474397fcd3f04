/*
 * Console add-on for admins: "Make FAQ" on a CSR's answer in a transcript.
 *
 * Kept apart from console.js on purpose: it only reads the console's session
 * (sessionStorage "hp-console") and the rendered transcript, and posts to
 * POST /api/admin/faq. CSRs never see the button (the API refuses them anyway).
 * Texts go into form fields as values, never as HTML.
 */
(function () {
  "use strict";

  function session() {
    try { return JSON.parse(sessionStorage.getItem("hp-console") || "{}") || {}; } catch (e) { return {}; }
  }

  function isAdmin() {
    var s = session();
    return !!(s.token && s.user && s.user.role === "admin");
  }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      if (key === "text") node.textContent = props[key];
      else if (key === "class") node.className = props[key];
      else node.setAttribute(key, props[key]);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  var dialog = null;

  function buildDialog() {
    var form = el("form", {method: "dialog", class: "faq-make-form inline-form"}, [
      el("h2", {text: "New FAQ from this answer"}),
      el("label", {for: "faqm-topic", text: "Topic (lower case, words joined by _)"}),
      el("input", {id: "faqm-topic", required: "", maxlength: "64", pattern: "[a-z][a-z0-9_]*"}),
      el("label", {for: "faqm-examples", text: "Customer questions (one per line, at least two)"}),
      el("textarea", {id: "faqm-examples", rows: "4", required: ""}),
      el("label", {for: "faqm-answer", text: "The bot's answer"}),
      el("textarea", {id: "faqm-answer", rows: "4", required: ""}),
      el("p", {class: "form-error", role: "alert", id: "faqm-error"}),
      el("div", {class: "row"}, [
        el("button", {type: "submit", class: "primary", value: "save", text: "Add FAQ"}),
        el("button", {type: "button", id: "faqm-cancel", text: "Cancel"})
      ])
    ]);
    var box = el("dialog", {class: "faq-make", "aria-label": "New FAQ from this answer"}, [form]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      save(box);
    });
    box.querySelector("#faqm-cancel").addEventListener("click", function () { box.close(); });
    document.body.appendChild(box);
    return box;
  }

  function open(question, answer) {
    dialog = dialog || buildDialog();
    dialog.querySelector("#faqm-topic").value = "";
    dialog.querySelector("#faqm-examples").value = question ? question + "\n" : "";
    dialog.querySelector("#faqm-answer").value = answer;
    dialog.querySelector("#faqm-error").textContent = "";
    dialog.showModal();
    dialog.querySelector("#faqm-topic").focus();
  }

  function save(box) {
    var error = box.querySelector("#faqm-error");
    var body = {
      topic: box.querySelector("#faqm-topic").value.trim(),
      examples: box.querySelector("#faqm-examples").value.split("\n")
        .map(function (s) { return s.trim(); }).filter(Boolean),
      answer: box.querySelector("#faqm-answer").value.trim()
    };
    fetch("/api/admin/faq", {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "Authorization": "Bearer " + session().token}})
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.status !== 201) {
            error.textContent = (data.error && data.error.message) || "Could not add the FAQ (" + response.status + ").";
            return;
          }
          box.close();
          var toast = document.getElementById("toast");
          if (toast) {
            toast.textContent = "Added faq/" + body.topic + ": the bot learns it at the next training.";
            toast.className = "toast show ok";
            setTimeout(function () { toast.className = "toast"; }, 4000);
          }
        });
      }, function () { error.textContent = "The console cannot reach the server."; });
  }

  /** The customer message just before a CSR message: the question it answered. */
  function questionBefore(item) {
    for (var node = item.previousElementSibling; node; node = node.previousElementSibling) {
      if (node.classList.contains("t-customer")) {
        var text = node.querySelector(".t-text");
        return text ? text.textContent : "";
      }
    }
    return "";
  }

  function decorate(root) {
    if (!isAdmin()) return;
    root.querySelectorAll(".t-msg.t-csr").forEach(function (item) {
      if (item.querySelector(".faq-make-btn")) return;
      var head = item.querySelector(".t-head");
      var button = el("button", {type: "button", class: "ghost small-btn faq-make-btn", text: "Make FAQ",
                                 title: "Turn this answer into a new FAQ entry"});
      button.addEventListener("click", function () {
        var text = item.querySelector(".t-text");
        open(questionBefore(item), text ? text.textContent : "");
      });
      (head || item).appendChild(button);
    });
  }

  function start() {
    new MutationObserver(function () { decorate(document); })
      .observe(document.body, {childList: true, subtree: true});
    decorate(document);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

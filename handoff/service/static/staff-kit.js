/*
 * What the staff pages (the CSR console and the admin page) share: the session kept in
 * sessionStorage, building elements without HTML, the toast, and the JSON API client.
 * Loaded before each page's own script; it only defines window.StaffKit.
 */
(function () {
  "use strict";

  function readSession(store) {
    try { return JSON.parse(sessionStorage.getItem(store) || "{}") || {}; } catch (e) { return {}; }
  }

  function saveSession(store, session) {
    try { sessionStorage.setItem(store, JSON.stringify(session)); } catch (e) { /* ignore */ }
  }

  /** Build an element; strings among children become text nodes (never HTML). */
  function h(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === undefined || value === null || value === false) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        // An input's "list" property is read-only: it is set as an attribute.
        else if (key in node && key !== "list") node[key] = value;
        else node.setAttribute(key, String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  var toastTimer = null;
  function toast(text, kind) {
    var node = document.getElementById("toast");
    node.textContent = text;
    node.className = "toast show" + (kind ? " " + kind : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { node.className = "toast"; }, 4000);
  }

  /**
   * A JSON API client: ``api(method, path, body)`` resolves to {status, data}, never rejects.
   * ``options.token()`` gives the bearer token, ``options.onUnauthorized`` runs on a 401
   * (except from logging in and out), ``options.offline`` is the message when the server
   * cannot be reached.
   */
  function apiClient(options) {
    return function api(method, path, body) {
      var headers = {"Accept": "application/json"};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      var token = options.token();
      if (token) headers["Authorization"] = "Bearer " + token;
      return fetch(path, {method: method, headers: headers,
                          body: body === undefined ? undefined : JSON.stringify(body)})
        .then(function (response) {
          return response.text().then(function (raw) {
            var data = null;
            try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
            if (response.status === 401 && path !== "/api/login" && path !== "/api/logout") {
              options.onUnauthorized("Your session has ended. Please log in again.");
            }
            return {status: response.status, data: data};
          });
        }, function () {
          return {status: 0, data: {error: {code: "offline", message: options.offline}}};
        });
    };
  }

  function errorOf(result, fallback) {
    return (result.data && result.data.error && result.data.error.message) || fallback ||
           "Something went wrong (" + result.status + ").";
  }

  window.StaffKit = {readSession: readSession, saveSession: saveSession, h: h, clear: clear,
                     toast: toast, apiClient: apiClient, errorOf: errorOf};
})();

/*
 * What the staff pages (the CSR console, the admin page and the metrics page) share: the
 * session kept in sessionStorage, the login form, building elements without HTML, the
 * toast, and the JSON API client. Loaded before each page's own script; it only defines
 * window.StaffKit.
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
    // While storage restarts or fails over the service answers 503 with Retry-After (and a
    // load balancer 502 when an instance died): wait and repeat, a few times. A 502 is
    // repeated for reads only, since a write may have been done before the instance died.
    var attempts = 4, maxWaitSeconds = 10;
    function api(method, path, body, attempt) {
      attempt = attempt || 0;
      return once(method, path, body).then(function (result) {
        var again = result.status === 503 || (result.status === 502 && method === "GET");
        if (!again || attempt + 1 >= attempts) return result;
        var seconds = parseInt(result.retryAfter, 10);
        if (!(seconds >= 0)) seconds = Math.pow(2, attempt);
        return new Promise(function (resolve) {
          setTimeout(resolve, Math.min(seconds, maxWaitSeconds) * 1000);
        }).then(function () { return api(method, path, body, attempt + 1); });
      });
    }
    return function (method, path, body) { return api(method, path, body); };

    function once(method, path, body) {
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
            return {status: response.status, data: data,
                    retryAfter: response.headers.get("Retry-After")};
          });
        }, function () {
          return {status: 0, data: {error: {code: "offline", message: options.offline}}};
        });
    }
  }

  function errorOf(result, fallback) {
    return (result.data && result.data.error && result.data.error.message) || fallback ||
           "Something went wrong (" + result.status + ").";
  }

  /**
   * The login of a staff page. Every page has the same form (#login-view holding #login-form,
   * #login-username, #login-password and #login-error) and its own view with #me and a
   * #logout button; the page keeps its session, this runs the form and switches the views.
   *
   * options: ``view`` the id of the page's view; ``api`` from apiClient; ``adminOnly``
   * refuses CSRs; ``onShowLogin`` runs first whenever the login is shown; ``onSubmit`` runs
   * first on each submit; ``loggedIn(data)`` after a login ({token, user}); ``resumed(user)``
   * after /api/me accepted the page's kept token; ``logout(message)`` ends the page's
   * session and shows the login again.
   *
   * Returns {showLogin(message), showView(user), start(token)}: ``start`` wires the form and
   * the logout button, then shows the login or resumes the session of ``token``.
   */
  function staffLogin(options) {
    var $ = function (id) { return document.getElementById(id); };

    function showLogin(message) {
      if (options.onShowLogin) options.onShowLogin();
      $(options.view).hidden = true;
      $("login-view").hidden = false;
      $("login-error").textContent = message || "";
      $("login-username").focus();
    }

    function showView(user) {
      $("login-view").hidden = true;
      $(options.view).hidden = false;
      user = user || {};
      $("me").textContent = (user.display_name || user.username || "") +
                            (user.role ? " · " + user.role : "");
    }

    function onLogin(event) {
      event.preventDefault();
      if (options.onSubmit) options.onSubmit();
      var username = $("login-username").value.trim();
      var password = $("login-password").value;
      if (!username || !password) {
        $("login-error").textContent = "Enter your username and password.";
        return;
      }
      var button = event.target.querySelector("button[type=submit]");
      button.disabled = true;
      options.api("POST", "/api/login", {username: username, password: password})
        .then(function (result) {
          button.disabled = false;
          if (result.status !== 200) {
            $("login-error").textContent = result.status === 401
              ? "Wrong username or password." : errorOf(result);
            return;
          }
          if (options.adminOnly && (!result.data.user || result.data.user.role !== "admin")) {
            $("login-error").textContent =
              "This page is for admins. CSRs work in the support console.";
            return;
          }
          $("login-password").value = "";
          options.loggedIn(result.data);
        });
    }

    function start(token) {
      $("login-form").addEventListener("submit", onLogin);
      $("logout").addEventListener("click", function () {
        // The server revokes the token (the request reads it before the session is cleared).
        options.api("POST", "/api/logout");
        options.logout("");
      });
      if (!token) { showLogin(""); return; }
      options.api("GET", "/api/me").then(function (result) {
        if (result.status !== 200) { if (result.status !== 401) showLogin(errorOf(result)); return; }
        if (options.adminOnly && result.data.user.role !== "admin") {
          options.logout("This page is for admins.");
          return;
        }
        options.resumed(result.data.user);
      });
    }

    return {showLogin: showLogin, showView: showView, start: start};
  }

  window.StaffKit = {readSession: readSession, saveSession: saveSession, h: h, clear: clear,
                     toast: toast, apiClient: apiClient, errorOf: errorOf,
                     staffLogin: staffLogin};
})();

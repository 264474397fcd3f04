"""The handoff service: the Sanic edge for CSRs and admins over :mod:`handoff.core`.

``app`` builds the application, ``routes`` (CSR API and console events), ``admin_routes``
(retraining), ``pages`` (console, admin page, demo store, widget script) and ``requests``
translate HTTP into domain calls; ``accounts`` is the command line for logins.
"""

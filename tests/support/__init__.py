"""What the tests share, in one place: conftest files only define fixtures and hooks, and no
test module imports another.

actions       business hours on demand, what a dispatcher said, the slots events set
auth          the signing secret, the cheap scrypt cost and the password of test accounts
browser       Chromium and Playwright: launch settings, ``expect``, screenshots for docs/
clients       HTTP clients against the running stack: widget and REST customers, a CSR
clocks        ``FakeClock``
fake_rasa     ``FakeRasa``, Rasa's HTTP API as far as the handoff service calls it
handoff_api   the handoff service served in the test's event loop: its test settings, the staff
              accounts and their logins, its HTTP client
orders        the demo store's fixed ``TODAY``
project       copies of the bot project, and training configs that train fast
redis_server  a throw-away redis-server on a free port
report        lines printed at the end of the run (the NLU figures)
sanic_server  a Sanic app served for real in the test's event loop
trackers      Rasa trackers and tracker events as the tracker store keeps them
waiting       waiting on a condition (never for a fixed time)
widget        the widget channel: its test settings, a fake bot, a client, a server
"""

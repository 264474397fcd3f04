"""Admins retrain the bot from logged chats: review, label, FAQ, train, evaluate, activate.

Plain domain code (no web framework): :mod:`handoff.service.admin_routes` and the CLI
(``python -m bot.retraining``) are thin layers over these modules.
"""

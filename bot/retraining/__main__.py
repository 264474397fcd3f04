"""``python -m bot.retraining``: the admins' retraining tools on the command line."""

from bot.retraining.cli import main

if __name__ == "__main__":
    main()

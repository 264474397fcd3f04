"""What can go wrong in the retraining tools, with the HTTP status the web edge should answer.

Every error carries a stable ``code`` (the ``error.code`` of the admin API) and
a ``status``, so ``handoff/service/admin_routes.py`` can map them in one place.
"""

from __future__ import annotations


class RetrainingError(Exception):
    """Base of every retraining error."""

    code = "retraining_error"
    status = 500


class InvalidInput(RetrainingError, ValueError):
    """Bad input from the admin (400)."""

    code = "invalid_input"
    status = 400


class InvalidFilter(InvalidInput):
    """A review filter (threshold, date, reason) that makes no sense."""

    code = "invalid_filter"


class InvalidLabel(InvalidInput):
    """A label decision that cannot be applied."""

    code = "invalid_label"


class InvalidFaq(InvalidInput):
    """A new FAQ entry that cannot be added."""

    code = "invalid_faq"


class NotFound(RetrainingError, LookupError):
    """Something named by the admin does not exist (404)."""

    code = "not_found"
    status = 404


class ItemNotFound(NotFound):
    """No review item has this id."""

    code = "item_not_found"


class ModelNotFound(NotFound):
    """No model of this name in ``models/``."""

    code = "model_not_found"


class NoJob(NotFound):
    """No training job is running (or none ever ran)."""

    code = "no_job"


class Conflict(RetrainingError):
    """The request clashes with the current state (409)."""

    code = "conflict"
    status = 409


class JobRunning(Conflict):
    """A training job is already running; only one at a time."""

    code = "job_running"


class ModelWorse(Conflict):
    """The model scored worse than the running one; activation needs an override."""

    code = "model_worse"


class NotEvaluated(Conflict):
    """The model was never compared with the running one; activation needs an override."""

    code = "not_evaluated"


class NothingToRollBack(Conflict):
    """No earlier activation to go back to."""

    code = "nothing_to_roll_back"


class RasaUnavailable(RetrainingError):
    """A Rasa server did not answer or refused the model (502)."""

    code = "rasa_unavailable"
    status = 502


class EvaluationFailed(RetrainingError):
    """The evaluation subprocess failed."""

    code = "evaluation_failed"

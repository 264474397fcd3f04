"""What can go wrong in the retraining tools.

Each error is a member of the product's one hierarchy (:mod:`handoff.core.errors`):
its parent group decides the HTTP status (:mod:`handoff.core.http_errors`), its
``code`` is the ``error.code`` of the admin API. :class:`RetrainingError` marks the
ones that come from retraining, for the command line.
"""

from __future__ import annotations

from typing import Optional

from handoff.core import errors


class RetrainingError(errors.DomainError):
    """Base of every retraining error (500 unless a group below says otherwise)."""

    code = "retraining_error"


class InvalidInput(errors.InvalidInput, RetrainingError):
    """Bad input from the admin (400)."""

    code = "invalid_input"


class InvalidFilter(InvalidInput):
    """A review filter (threshold, date, reason) that makes no sense."""

    code = "invalid_filter"


class InvalidLabel(InvalidInput):
    """A label decision that cannot be applied."""

    code = "invalid_label"


class InvalidFaq(InvalidInput):
    """A new FAQ entry that cannot be added."""

    code = "invalid_faq"


class TrainingDataRefused(InvalidInput):
    """A change that would leave a data file Rasa cannot read; nothing was written (400).

    The input passed every rule and still made the file fail Rasa's own check: the old
    file stays as it was, and the admin can change the input.
    """

    code = "training_data_refused"


class NotFound(errors.NotFound, RetrainingError):
    """Something named by the admin does not exist (404)."""

    code = "not_found"


class ItemNotFound(NotFound):
    """No review item has this id."""

    code = "item_not_found"


class ModelNotFound(NotFound):
    """No model of this name in ``models/``."""

    code = "model_not_found"


class NoActiveModel(NotFound):
    """No model was ever activated, so the model server has nothing to serve (404)."""

    code = "no_active_model"


class NoJob(NotFound):
    """No training job is running (or none ever ran)."""

    code = "no_job"


class Conflict(errors.Conflict, RetrainingError):
    """The request clashes with the current state (409)."""

    code = "conflict"


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


class DataFileInvalid(Conflict):
    """A data file on disk that cannot be read (409), e.g. after a bad hand edit.

    Retrying cannot help and rewriting it would lose what it holds: a person must fix
    it, so the message names the file, the line and the column.

    Attributes:
        file: The file, relative to the project (``data/nlu/reviewed.yml``).
        line: 1-based line of the problem, when known.
        column: 1-based column of the problem, when known.
        problem: What is wrong there.
    """

    code = "data_file_invalid"

    def __init__(
        self, file: str, problem: str, line: Optional[int] = None, column: Optional[int] = None
    ):
        """Create the error for one file and, when known, one place in it."""
        where = file if line is None else f"{file} line {line}"
        if line is not None and column is not None:
            where += f" column {column}"
        super().__init__(f"{where}: {problem}; fix the file or restore it from git")
        self.file, self.line, self.column, self.problem = file, line, column, problem


class RasaUnavailable(errors.UpstreamError, RetrainingError):
    """A Rasa server did not answer or refused the model (502)."""

    code = "rasa_unavailable"


class ModelNotPulled(RasaUnavailable):
    """In model-server mode, a Rasa server did not run the new model in time (502).

    The activation is undone: the previous model is served again.
    """

    code = "model_not_pulled"


class EvaluationFailed(RetrainingError):
    """The evaluation subprocess failed."""

    code = "evaluation_failed"

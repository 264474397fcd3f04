"""Writes to the bot's data files are checked with Rasa's reader and atomic; bad files are
reported with their line (issue #16)."""

from __future__ import annotations

import os

import pytest

from bot.retraining import data_files
from bot.retraining.data_files import Change
from bot.retraining.errors import DataFileInvalid, TrainingDataRefused
from bot.retraining.faq import add_faq
from bot.retraining.nlu_data import HEADER, read_examples, write_examples
from handoff.core.http_errors import status_of

REVIEWED = "data/nlu/reviewed.yml"
FAQ = "data/responses/faq.yml"
# What the old code wrote for a FAQ example holding U+009C: PyYAML refuses the file.
CORRUPTED = HEADER + 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi \x9c there\n'
SCHEMA_ERROR = 'version: "3.1"\nnlu:\n- intent: greet\n  examples: 5\n'
NO_TEXT = 'version: "3.1"\nresponses:\n  utter_faq/x:\n  - txt: hi\n'  # a response needs text


@pytest.fixture
def reviewed(retraining_config):
    """The reviewed file with one example, as the tools write it."""
    path = retraining_config.path(REVIEWED)
    write_examples(path, {"greet": ["hello there"]})
    return path


def _listing(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize(
    "content",
    [SCHEMA_ERROR, CORRUPTED, 'version: "3.1"\nnlu:\n- intent: greet\n   examples: [\n'],
    ids=["schema", "control-character", "syntax"],
)
def test_a_write_whose_check_fails_leaves_the_old_file_and_no_temp_file(reviewed, project, content):
    before, listing = reviewed.read_bytes(), _listing(reviewed.parent)
    with pytest.raises(TrainingDataRefused, match="would not load in Rasa") as info:
        data_files.write(Change(reviewed, content), root=project)
    assert REVIEWED in info.value.message and "is unchanged" in info.value.message
    assert status_of(info.value) == 400 and info.value.code == "training_data_refused"
    assert reviewed.read_bytes() == before
    assert _listing(reviewed.parent) == listing  # no .reviewed.yml.*.tmp left behind


def test_a_file_rasa_reads_back_differently_is_not_written(reviewed, project):
    before = reviewed.read_bytes()
    content = 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n'
    with pytest.raises(TrainingDataRefused, match="read it back differently: no hi"):
        data_files.write(Change(reviewed, content, lambda data: "no hi"), root=project)
    assert reviewed.read_bytes() == before and _listing(reviewed.parent).count("reviewed.yml") == 1


def test_text_utf8_cannot_hold_is_refused_before_anything_is_written(reviewed, project):
    before, listing = reviewed.read_bytes(), _listing(reviewed.parent)
    content = 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi \ud83d\n'
    with pytest.raises(TrainingDataRefused, match="U\\+D83D cannot be stored as UTF-8"):
        data_files.write(Change(reviewed, content), root=project)
    assert reviewed.read_bytes() == before and _listing(reviewed.parent) == listing


def test_several_files_are_written_all_or_none(reviewed, project):
    faq = project / FAQ
    before = {path: path.read_bytes() for path in (reviewed, faq)}
    good = 'version: "3.1"\nresponses:\n  utter_faq/x:\n  - text: "fine"\n'
    with pytest.raises(TrainingDataRefused):
        data_files.write_all([Change(faq, good), Change(reviewed, SCHEMA_ERROR)], root=project)
    assert {path: path.read_bytes() for path in before} == before
    assert _listing(faq.parent) == ["faq.yml"]


def test_a_write_is_synced_and_keeps_the_files_permissions(reviewed, project, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(data_files.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    reviewed.chmod(0o640)
    write_examples(reviewed, {"greet": ["hello there", "hi 👋"]}, root=project)
    assert len(synced) == 2  # the new file's data, then the directory holding the rename
    assert reviewed.stat().st_mode & 0o777 == 0o640
    assert read_examples(reviewed) == {"greet": ["hello there", "hi 👋"]}


@pytest.mark.parametrize(
    "content, line, column, problem",
    [
        (CORRUPTED.encode(), 9, 10, "U+009C is not allowed in YAML"),
        (b'version: "3.1"\nnlu:\n- intent: greet\n   examples: [\n', 4, 12, "mapping values"),
        (b'version: "3.1"\nnlu:\n- intent: gr\xe9et\n', 3, 13, "not UTF-8 text"),
        (b"- just\n- a list\n", 1, 1, "expected keys such as `nlu:`"),
    ],
    ids=["control-character", "syntax", "latin-1", "not-a-mapping"],
)
def test_a_bad_file_on_disk_is_named_with_its_line_and_column(
    retraining_config, project, content, line, column, problem
):
    path = retraining_config.path(REVIEWED)
    path.write_bytes(content)
    with pytest.raises(DataFileInvalid) as info:
        read_examples(path, project)
    error = info.value
    assert (error.file, error.line, error.column) == (REVIEWED, line, column)
    assert problem in error.message and status_of(error) == 409
    assert error.message.startswith(f"{REVIEWED} line {line} column {column}: ")
    assert error.message.endswith("; fix the file or restore it from git")
    assert path.read_bytes() == content


def test_a_schema_error_is_located_by_rasas_check(retraining_config, project):
    path = retraining_config.path(REVIEWED)
    path.write_text(SCHEMA_ERROR)
    with pytest.raises(DataFileInvalid) as info:
        data_files.check_file(path, project)
    assert (info.value.line, info.value.column) == (4, 3)
    assert "examples" in info.value.message


def test_a_response_key_with_a_slash_is_located_too(retraining_config, project):
    path = retraining_config.path(FAQ)
    path.write_text(NO_TEXT)
    with pytest.raises(DataFileInvalid) as info:
        data_files.check_file(path, project)
    assert (info.value.file, info.value.line, info.value.column) == (FAQ, 3, 3)
    assert "Missing 'text'" in info.value.message


def test_problems_names_every_broken_file_and_nothing_else(retraining_config, project):
    assert data_files.problems(retraining_config) == []
    retraining_config.path(REVIEWED).write_text(CORRUPTED)
    (project / "data/nlu/orders.yml").write_text("nlu:\n- intent: x\n  examples: [\n")
    retraining_config.path(FAQ).write_text(NO_TEXT)
    found = {(e.file, e.line) for e in data_files.problems(retraining_config)}
    assert found == {(REVIEWED, 9), ("data/nlu/orders.yml", 4), (FAQ, 3)}


def test_a_faq_on_a_responses_file_rasa_refuses_blames_that_file(retraining_config, project):
    faq = retraining_config.path(FAQ)
    # PyYAML and ruamel.yaml read it; Rasa's schema does not (a response needs `text`).
    faq.write_text(faq.read_text() + "  utter_faq/broken:\n    - txt: oops\n")
    before = faq.read_bytes()
    with pytest.raises(DataFileInvalid, match=f"^{FAQ} line "):
        add_faq(retraining_config, "gift_wrapping", ["gift wrap?", "wrap it please"], "Yes.")
    assert faq.read_bytes() == before
    assert not retraining_config.path(REVIEWED).exists()

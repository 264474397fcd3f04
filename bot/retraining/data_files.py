"""Reading and writing the bot's data files (``data/``) so that no change can corrupt one.

Issue #16: a FAQ whose text held U+009C was written into ``data/nlu/reviewed.yml``;
PyYAML then refused the file, every label decision answered 500 and training stayed
broken until someone edited the file by hand. So no writer writes a data file itself:
it hands the new content to :func:`write`, which writes a temporary file in the same
directory, reads it back with the reader ``rasa train`` and ``rasa data validate`` use
(schema check included), and only then moves it over the old one. A check that fails
leaves the old file byte-identical and raises :class:`TrainingDataRefused`; a file that
is bad already is reported as :class:`DataFileInvalid` with its name, line and column.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple, Union

import yaml

from bot.retraining.errors import DataFileInvalid, TrainingDataRefused
from handoff.core.settings import RetrainingConfig
from handoff.core.text_rules import describe

if TYPE_CHECKING:
    from rasa.shared.nlu.training_data.training_data import TrainingData

# What a writer expects Rasa to read back: None when it does, else what differs.
Expect = Callable[["TrainingData"], Optional[str]]
Place = Tuple[Optional[int], Optional[int], str]

# One read-modify-write of the data files at a time: a FAQ (run in a thread) and a label
# decision (on the event loop) at once must not lose either change.
_EDITING = threading.RLock()


@dataclass(frozen=True)
class Change:
    """New content for one data file, and what Rasa must read back from it."""

    path: Path
    content: str
    expect: Optional[Expect] = None


@dataclass(frozen=True)
class _Staged:
    target: Path
    tmp: Path


def editing() -> threading.RLock:
    """Hold this around reading a data file and writing its new version."""
    return _EDITING


# ---- reading -------------------------------------------------------------------------------


def shown(path: Path, root: Optional[Path] = None) -> str:
    """The file as a person finds it: relative to the project or the working directory."""
    for base in (root, Path.cwd()):
        if base is not None:
            try:
                return str(Path(path).resolve().relative_to(Path(base).resolve()))
            except ValueError:
                continue
    return str(path)


def read_text(path: Path, root: Optional[Path] = None) -> Optional[str]:
    """The file's text (None when it does not exist).

    Raises:
        DataFileInvalid: the file is not UTF-8.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8")  # valid up to the first bad byte
        line, column = _place(before, len(before))
        raise DataFileInvalid(shown(path, root), "not UTF-8 text", line, column) from None


def read_mapping(path: Path, root: Optional[Path] = None) -> dict:
    """The YAML mapping of one file, ``{}`` when it is missing or empty.

    Raises:
        DataFileInvalid: not YAML, or not a mapping at the top; names the line.
    """
    text = read_text(path, root)
    if text is None:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise invalid(path, root, exc, text) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataFileInvalid(shown(path, root), "expected keys such as `nlu:` at the top", 1, 1)
    return data


def rasa_reads(text: str) -> "TrainingData":
    """``text`` as ``rasa train`` reads a data file: schema check, then Rasa's YAML reader.

    Raises:
        Exception: whatever Rasa raises for content it cannot use.
    """
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    return RasaYAMLReader().reads(text)


def check_file(path: Path, root: Optional[Path] = None) -> None:
    """Nothing when Rasa can read the file (or it does not exist).

    Raises:
        DataFileInvalid: where Rasa's check fails.
    """
    text = read_text(path, root)
    if text is None:
        return
    try:
        rasa_reads(text)
    except Exception as exc:  # noqa: BLE001 - any refusal by Rasa means the file is unusable
        raise invalid(path, root, exc, text) from None


def problems(config: RetrainingConfig) -> List[DataFileInvalid]:
    """Every broken file the retraining tools read or write, for the service's start-up log.

    The files they write get Rasa's full check; the rest (hand-written) only need to be YAML.
    """
    root = config.project_dir
    written = {config.path(config.reviewed_file), config.path(config.faq_responses_file)}
    written = {path.resolve() for path in written}
    read = {path.resolve() for path in [root / "domain.yml", *(root / "data").rglob("*.yml")]}
    found: List[DataFileInvalid] = []
    for path in sorted(written | read):
        try:
            check_file(path, root) if path in written else read_mapping(path, root)
        except DataFileInvalid as exc:
            found.append(exc)
    return found


def invalid(path: Path, root: Optional[Path], exc: BaseException, text: str) -> DataFileInvalid:
    """The error for a file that PyYAML, ruamel.yaml or Rasa refused with ``exc``."""
    line, column, problem = located(exc, text)
    return DataFileInvalid(shown(path, root), problem, line, column)


def located(exc: BaseException, text: str) -> Place:
    """Where a YAML or Rasa error points in ``text`` (1-based line, column) and what it says."""
    cause = getattr(exc, "underlying_yaml_exception", None) or exc  # Rasa wraps YAML errors
    mark = getattr(cause, "problem_mark", None)
    if mark is not None:
        problem = getattr(cause, "problem", None) or str(cause).splitlines()[0]
        return mark.line + 1, mark.column + 1, problem
    character, position = getattr(cause, "character", None), getattr(cause, "position", None)
    if character is not None and isinstance(position, int):
        char = character if isinstance(character, str) else chr(character)
        return (*_place(text, position), f"the character {describe(char)} is not allowed in YAML")
    entries = getattr(exc, "validation_errors", None)
    if entries:
        return _schema_place(getattr(exc, "content", None), entries[0])
    return None, None, (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# ---- writing -------------------------------------------------------------------------------


def write(change: Change, *, root: Optional[Path] = None) -> None:
    """Replace one data file, or leave it untouched and raise (see :func:`write_all`)."""
    write_all([change], root=root)


def write_all(changes: Sequence[Change], *, root: Optional[Path] = None) -> None:
    """Replace several data files, all or none: every one is checked before any is replaced.

    Raises:
        TrainingDataRefused: Rasa could not read a new file, or read it back differently.
        DataFileInvalid: the old file is what Rasa cannot read (a new one built on it fails).
    """
    staged: List[_Staged] = []
    try:
        for change in changes:
            staged.append(_stage(change, root))
        while staged:
            _commit(staged[0])
            staged.pop(0)
    finally:
        for item in staged:
            item.tmp.unlink(missing_ok=True)


def _stage(change: Change, root: Optional[Path]) -> _Staged:
    """The new content written, flushed to disk and checked beside the file it replaces."""
    target = Path(change.path)
    data = _encoded(change.content, target, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _mode(target))
        _check(tmp, target, root, change.expect)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return _Staged(target, tmp)


def _check(tmp: Path, target: Path, root: Optional[Path], expect: Optional[Expect]) -> None:
    """Read the temporary file back from disk as Rasa would; refuse what Rasa refuses."""
    text = tmp.read_bytes().decode("utf-8")
    try:
        data = rasa_reads(text)
    except Exception as exc:  # noqa: BLE001 - any refusal by Rasa must stop the write
        check_file(target, root)  # blame the old file if it is the broken one
        line, column, problem = located(exc, text)
        where = "" if line is None else f"line {line} column {column}: "
        raise _refused(target, root, f"it would not load in Rasa ({where}{problem})") from None
    difference = expect(data) if expect else None
    if difference:
        raise _refused(target, root, f"Rasa would read it back differently: {difference}")


def _commit(staged: _Staged) -> None:
    os.replace(staged.tmp, staged.target)
    try:  # make the rename itself survive a crash
        fd = os.open(staged.target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the data is synced already
    finally:
        os.close(fd)


def _encoded(content: str, target: Path, root: Optional[Path]) -> bytes:
    try:
        return content.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = describe(exc.object[exc.start])
        raise _refused(target, root, f"{char} cannot be stored as UTF-8") from None


def _refused(target: Path, root: Optional[Path], why: str) -> TrainingDataRefused:
    return TrainingDataRefused(
        f"the change was not saved, {shown(target, root)} is unchanged: {why}"
    )


def _mode(target: Path) -> int:
    """The old file's permissions; ordinary project data (0644) for a new file."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644


# ---- where an error points -----------------------------------------------------------------


def _place(text: str, position: int) -> Tuple[int, int]:
    """1-based line and column of a character index."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _schema_place(content: Any, entry: Any) -> Place:
    """The line and column of a schema error's path (``/responses/utter_faq/x/0``).

    Keys may hold a slash themselves (``utter_faq/x``), so parts are joined until one
    matches; ruamel.yaml keeps 0-based positions of keys and items in ``lc``.
    """
    parts = [part for part in str(getattr(entry, "path", "")).split("/") if part]
    node, line, column = content, None, None
    while parts:
        found = _child(node, parts)
        if found is None:
            break
        node, used, place = found
        parts = parts[used:]
        if place is not None:
            line, column = place[0] + 1, place[1] + 1
    return line, column, str(entry)


def _child(node: Any, parts: List[str]) -> Optional[Tuple[Any, int, Optional[Tuple[int, int]]]]:
    lc = getattr(node, "lc", None)
    if isinstance(node, list) and parts[0].isdigit() and int(parts[0]) < len(node):
        return node[int(parts[0])], 1, lc.item(int(parts[0])) if lc else None
    if isinstance(node, dict):
        for used in range(len(parts), 0, -1):
            key: Union[str, int] = "/".join(parts[:used])
            if key in node:
                return node[key], used, lc.key(key) if lc else None
    return None

"""Declared parameters: each request field says once what it accepts.

A request (a frozen dataclass, one per analysis) declares each field with :func:`param`: its
constraint (:class:`Interval`, :class:`Options`, :class:`Reference`, :class:`Name`), default,
label and help. From that one declaration come

- validation at the boundary (:func:`validate`, :func:`check`), with messages that name the bad
  value and the valid ones, in the spirit of scikit-learn's ``_parameter_constraints``;
- the command line's options (:func:`add_arguments`, :func:`from_arguments`);
- the dashboard's bounds and choices (:func:`bounds`, :meth:`Options.choices`) and the URL's
  validation (the dashboard's ``callbacks.url`` calls :func:`check`).

References (models, data, checkpoint series) are never paths when they come from the web: only
a built-in demo name or a 64-hex-digit content id passes. The command line may also give paths
(``paths=True``).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import TopomapError

__all__ = [
    "HASH_RE",
    "Grid",
    "Interval",
    "Name",
    "NameList",
    "Options",
    "Param",
    "Reference",
    "add_arguments",
    "bounds",
    "check",
    "coerce_int",
    "declared",
    "defaults",
    "from_arguments",
    "param",
    "short",
    "validate",
]

#: A stored file's id: the SHA-256 of its content, as the store writes it.
HASH_RE = re.compile(r"^[0-9a-f]{64}$")

#: Longest layer or group name accepted.
MAX_NAME_LENGTH = 200


def short(raw: object, limit: int = 40) -> str:
    """``str(raw)`` cut to ``limit`` characters (a bad value is quoted, never pasted whole)."""
    text = str(raw)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def coerce_int(raw: object) -> int | None:
    """An integer from a control or URL value (``3``, ``3.0``, ``"3"``), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", raw):
        return int(raw)
    if hasattr(raw, "dtype") and getattr(raw, "ndim", 1) == 0:  # a NumPy scalar
        return coerce_int(getattr(raw, "item")())  # noqa: B009 - typed as object
    return None


class ParamError(Exception):
    """Why a raw value is not accepted, as a phrase after the label."""


class Constraint:
    """What one parameter accepts. Subclasses implement :meth:`clean` and :meth:`describe`."""

    def clean(self, raw: Any, paths: bool = False) -> Any:
        """The accepted value for ``raw``; raise :class:`ParamError` otherwise."""
        raise NotImplementedError

    def describe(self) -> str:
        """The accepted values, for help texts."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Interval(Constraint):
    """A whole (``kind=int``) or real (``kind=float``) number in ``[low, high]``."""

    kind: type
    low: float
    high: float

    def clean(self, raw: Any, paths: bool = False) -> Any:
        value: float | int
        if self.kind is int:
            whole = coerce_int(raw)
            if whole is None:
                raise ParamError(f"{short(raw)!r} (not a whole number)")
            value = whole
        else:
            try:
                if isinstance(raw, bool):
                    raise TypeError
                value = float(raw)
            except (TypeError, ValueError):
                raise ParamError(f"{short(raw)!r} (not a number)") from None
            if value != value:
                raise ParamError("nan (not a number)")
        if not self.low <= value <= self.high:
            raise ParamError(f"{value} (must be between {self.low} and {self.high})")
        return value

    def describe(self) -> str:
        return f"{self.low} to {self.high}"


@dataclasses.dataclass(frozen=True)
class Options(Constraint):
    """One of a list of names.

    Parameters
    ----------
    options : tuple of str, or callable returning them
        A callable is asked each time (a registry that plug-ins may extend).
    what : str
        The word for a value in messages (``"unknown method 'x'"``).
    ignore_case : bool
        Match case-insensitively and answer the listed spelling.
    normalise : callable, optional
        Applied to a string before matching (e.g. ``"label correctness"`` from a hand-typed
        URL ``+``).
    list_in_message : bool
        Whether the "unknown" message lists the options (long lists are added by the caller).
    """

    options: tuple[str, ...] | Callable[[], Iterable[str]]
    what: str
    ignore_case: bool = False
    normalise: Callable[[str], str] | None = None
    list_in_message: bool = True

    def choices(self) -> list[str]:
        """The valid values, in their listed spelling."""
        return list(self.options() if callable(self.options) else self.options)

    def clean(self, raw: Any, paths: bool = False) -> Any:
        choices = self.choices()
        if isinstance(raw, str):
            text = raw.strip()
            if self.normalise is not None:
                text = self.normalise(text)
            for choice in choices:
                if text == choice or (self.ignore_case and text.lower() == choice.lower()):
                    return choice
        listed = f" (use one of {', '.join(choices)})" if self.list_in_message else ""
        raise ParamError(f"unknown {self.what} {short(raw)!r}{listed}")

    def describe(self) -> str:
        return ", ".join(self.choices())


@dataclasses.dataclass(frozen=True)
class Reference(Constraint):
    """A model, data file or checkpoint series: a built-in demo name or a stored file's id.

    With ``paths=True`` (the command line) any other string is taken as a file path; from the
    web never, so a link cannot name a file on the server.

    Parameters
    ----------
    kind : str
        ``"model"``, ``"data"`` or ``"checkpoints"``.
    demos : callable
        Returns the built-in names (from :mod:`topomap_core.io.demo`, the one registry).
    """

    kind: str
    demos: Callable[[], Iterable[str]]

    def clean(self, raw: Any, paths: bool = False) -> Any:
        demos = list(self.demos())
        if isinstance(raw, str) and (raw in demos or HASH_RE.match(raw)):
            return raw
        if paths and isinstance(raw, str) and raw.strip():
            if raw.startswith("demo:"):
                raise ParamError(
                    f"unknown demo {self.kind} {short(raw)!r} (valid: {', '.join(demos)})"
                )
            return raw
        words = {
            "model": "a demo model nor an uploaded model id",
            "data": f"{' or '.join(demos)} nor an uploaded data id",
            "checkpoints": f"{' or '.join(demos)} nor an uploaded series id",
        }
        what = words.get(self.kind, "a known " + self.kind)
        raise ParamError(f"unknown {self.kind} {short(raw)!r} (not {what})")

    def describe(self) -> str:
        return f"{', '.join(self.demos())} or an uploaded {self.kind} id"


@dataclasses.dataclass(frozen=True)
class Name(Constraint):
    """A layer or group name: 1 to 200 printable characters, no surrounding blanks."""

    def clean(self, raw: Any, paths: bool = False) -> Any:
        if (
            isinstance(raw, str)
            and 0 < len(raw) <= MAX_NAME_LENGTH
            and raw.isprintable()
            and raw.strip() == raw
        ):
            return raw
        raise ParamError(f"{short(raw)!r} (not a valid name)")

    def describe(self) -> str:
        return "a name"


@dataclasses.dataclass(frozen=True)
class NameList(Constraint):
    """Up to ``most`` distinct names (:class:`Name`), as a list or comma-separated text.

    The clean value is a tuple in the given order; an empty list is None (the caller's
    default, e.g. "every layer").
    """

    most: int = 64

    def clean(self, raw: Any, paths: bool = False) -> Any:
        if isinstance(raw, str):
            items = [part.strip() for part in raw.split(",") if part.strip()]
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        else:
            raise ParamError(f"{short(raw)!r} (not a list of names)")
        if len(items) > self.most:
            raise ParamError(f"has {len(items)} names (at most {self.most})")
        names = tuple(dict.fromkeys(Name().clean(item) for item in items))
        return names or None

    def describe(self) -> str:
        return f"up to {self.most} names, comma-separated"


class Grid(Constraint):
    """A topographic grid ``"RxC"`` (e.g. ``16x8``), or ``"auto"`` when ``allow_auto``."""

    allow_auto: bool = True

    def clean(self, raw: Any, paths: bool = False) -> Any:
        from .regularizers.grid import GRID_RE, grid_text, parse_grid

        if self.allow_auto and isinstance(raw, str) and raw.strip().lower() == "auto":
            return "auto"
        if not (isinstance(raw, str) and GRID_RE.match(raw)):
            raise ParamError(f"{short(raw)!r} (not RxC such as 16x8{' or auto' * self.allow_auto})")
        try:
            return grid_text(*parse_grid(raw))
        except ValueError as exc:  # a side out of range
            raise ParamError(f"{short(raw)!r} ({str(exc).split(': ', 1)[-1]})") from None

    def describe(self) -> str:
        return "RxC" + (" or auto" if self.allow_auto else "")


@dataclasses.dataclass(frozen=True)
class Param:
    """The declaration of one request field (made by :func:`param`)."""

    constraint: Constraint
    label: str
    help: str = ""
    optional: bool = False
    cli: bool = True
    cli_required: bool = False
    metavar: str | None = None
    missing: str | None = None
    blank_default: bool = False

    def problem_text(self, problem: str) -> str:
        """``"seed -1 (must be ...)"``, or the constraint's own sentence (``"unknown ..."``)."""
        if problem.startswith("unknown "):
            return problem
        return f"{self.label} {problem}"


def param(
    constraint: Constraint,
    default: Any = dataclasses.MISSING,
    *,
    label: str,
    help: str = "",
    optional: bool = False,
    cli: bool = True,
    cli_required: bool = False,
    metavar: str | None = None,
    missing: str | None = None,
    blank_default: bool = False,
) -> Any:
    """A dataclass field declared with its constraint (see the module docstring).

    ``optional=True`` also accepts None (an unset base model); ``cli_required=True`` makes the
    command line ask for it although the dashboard has a default (``--layer``); ``missing`` is
    the message for an empty value (default ``"Enter the <label>"``); ``blank_default=True``
    takes an empty value (None, ``""``: a cleared field, a link without it) as the default.
    """
    declaration = Param(
        constraint, label, help, optional, cli, cli_required, metavar, missing, blank_default
    )
    return dataclasses.field(default=default, metadata={"param": declaration})


def declared(cls: type) -> dict[str, Param]:
    """Field name -> :class:`Param` of a request class (or instance), in field order."""
    return {f.name: f.metadata["param"] for f in dataclasses.fields(cls) if "param" in f.metadata}


def _default(cls: type, name: str) -> Any:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field.default


def check(cls: type, name: str, raw: Any, *, paths: bool = False) -> tuple[Any, str | None]:
    """Validate one value of field ``name`` of request class ``cls``.

    Returns
    -------
    value : object
        The clean value (canonical spelling, int), or None when invalid.
    problem : str or None
        Why it is invalid, as a phrase (``"unknown method 'foo'"``, ``"seed -1 (must be
        between 0 and 4294967295)"``).
    """
    declaration = declared(cls)[name]
    if raw is None and declaration.optional:
        return None, None
    try:
        return declaration.constraint.clean(raw, paths=paths), None
    except ParamError as exc:
        return None, declaration.problem_text(str(exc))


def validate(cls: type, values: Mapping[str, Any], *, paths: bool = False) -> Any:
    """Build request ``cls`` from raw values, checking every declared field.

    Missing fields take their defaults; a field without a default must be given.

    Raises
    ------
    TopomapError
        Naming the first bad value, e.g. ``"Seed -1 (must be between 0 and 4294967295)"`` or
        ``"Choose a layer"`` for an empty one.
    """
    clean: dict[str, Any] = {}
    for name, declaration in declared(cls).items():
        raw = values.get(name, _default(cls, name))
        if declaration.blank_default and (
            raw is None or (isinstance(raw, str) and not raw.strip())
        ):
            raw = _default(cls, name)
        if raw is dataclasses.MISSING or (
            (raw is None or raw == "") and not (declaration.optional and raw is None)
        ):
            if declaration.optional and raw in ("", dataclasses.MISSING):
                clean[name] = None
                continue
            raise TopomapError(declaration.missing or f"Enter the {declaration.label}")
        value, problem = check(cls, name, raw, paths=paths)
        if problem is not None:
            message = problem[0].upper() + problem[1:]
            constraint = declaration.constraint
            if isinstance(constraint, Options) and not constraint.list_in_message:
                message += f"; choose one of {', '.join(constraint.choices())}"
            raise TopomapError(message)
        clean[name] = value
    return cls(**clean)


def bounds(cls: type, name: str) -> tuple[float, float]:
    """``(low, high)`` of an :class:`Interval` field (the dashboard's input bounds)."""
    constraint = declared(cls)[name].constraint
    if not isinstance(constraint, Interval):
        raise TypeError(f"{name} is not a number field of {cls.__name__}")
    return constraint.low, constraint.high


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(
    parser: argparse.ArgumentParser, cls: type, *, exclude: Iterable[str] = ()
) -> None:
    """Add one ``--option`` per declared field of ``cls`` that the command line offers."""
    skip = set(exclude)
    for name, declaration in declared(cls).items():
        if name in skip or not declaration.cli:
            continue
        default = _default(cls, name)
        required = declaration.cli_required or default is dataclasses.MISSING
        help_text = declaration.help or declaration.label
        if not required and default is not None:
            help_text += f" (default {default})"
        kwargs: dict[str, Any] = {"dest": name, "help": help_text, "required": required}
        if not required:
            kwargs["default"] = default
        if declaration.metavar:
            kwargs["metavar"] = declaration.metavar
        parser.add_argument(_flag(name), **kwargs)


def from_arguments(cls: type, args: argparse.Namespace, **extra: Any) -> Any:
    """The request ``cls`` of parsed command-line ``args`` (paths allowed), validated."""
    values = {name: getattr(args, name) for name in declared(cls) if hasattr(args, name)}
    return validate(cls, {**values, **extra}, paths=True)


def defaults(cls: type) -> dict[str, Any]:
    """Field name -> default of every declared field that has one."""
    return {
        name: _default(cls, name)
        for name in declared(cls)
        if _default(cls, name) is not dataclasses.MISSING
    }

"""Every registered job: importing this module imports every analysis module.

Analyses are found in :mod:`topomap_core.analyses` by listing the package, so a new analysis
is one new module there (which registers its job with :func:`topomap_core.jobs.base.register`)
and nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from .. import analyses
from ..errors import TopomapError
from .base import JOBS, Job

__all__ = ["JOBS", "get_job"]

for _module in pkgutil.iter_modules(analyses.__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{analyses.__name__}.{_module.name}")


def get_job(name: str) -> Job:
    """The registered job ``name``; the message lists the valid ones."""
    if name not in JOBS:
        raise TopomapError(f"unknown job {name!r}; valid: {', '.join(sorted(JOBS))}")
    return JOBS[name]

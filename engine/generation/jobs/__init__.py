"""Jobs: continue, fill, harmonise ..., one file each, and the one place that chooses
the job for a request (:func:`run`).

A job is a function ``job(library, song, request, model, *, progress, is_cancelled,
**options) -> GenerationResult`` registered for a request's ``job`` and for the kind
of model it serves (a melody model, or one that writes several ``parts``, as
:func:`engine.encodings.capabilities_of` says).  Importing this package imports every
module in it, and each registers its jobs with :func:`register`, so a new job is one
new file here.  The service, the CLI and the GUI all call :func:`run`.

Two more seams, for music a model of the request's kind does not write: a
:func:`route` claims a request whatever its model (the drums: Add Drums, a fill on a
drum track, a song of drums only), and a :func:`follower` goes on after the model's job
in the same call (the drum track continued beside every other part).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

from engine.encodings import FILL, HARMONISE, PARTS, capabilities_of
from engine.errors import GenerationError
from engine.generation.request import REGENERATE, GenerationRequest
from engine.generation.sampling import GenerationResult
from engine.song import Song

Job = Callable[..., GenerationResult]
JOBS: dict[tuple[str, bool], Job] = {}

#: (request, song) -> the job that does the request whatever its model, or None
Route = Callable[[GenerationRequest, "Song | None"], "Job | None"]
ROUTES: list[Route] = []
#: (library, song, request, result, progress=, is_cancelled=) -> the result, added to
Follower = Callable[..., GenerationResult]
FOLLOWERS: list[Follower] = []

__all__ = ["JOBS", "Job", "register", "job_for", "run", "ROUTES", "route", "FOLLOWERS",
           "follower"]


def register(job: str, *, parts: bool = False) -> Callable[[Job], Job]:
    """Function decorator: ``job`` (continue, fill, harmonise ...) for a melody model,
    or with ``parts`` for a model that writes several parts."""
    def add(fn: Job) -> Job:
        key = (job, parts)
        if key in JOBS and JOBS[key] is not fn:
            raise ValueError(f"the job {job}{' (parts)' if parts else ''} is registered twice")
        JOBS[key] = fn
        return fn
    return add


def route(fn: Route) -> Route:
    """Function decorator: ``fn(request, song)`` may claim a request (return the job
    that does it, called with ``model=None``) before a model is chosen for it."""
    ROUTES.append(fn)
    return fn


def follower(fn: Follower) -> Follower:
    """Function decorator: ``fn`` goes on after every model's job (it returns the
    result as it is when it has nothing to add)."""
    FOLLOWERS.append(fn)
    return fn


def job_for(request: GenerationRequest, model) -> Job:
    """The job that does ``request`` with ``model``: a harmonisation is always a part
    job, a continuation is one for a part model or when the request asks for every
    part, and a fill for a part model."""
    writes_parts = PARTS in capabilities_of(model)
    parts = request.job == HARMONISE or request.parts or writes_parts
    if writes_parts and request.settings.style is not None:
        doing = {FILL: "fills", HARMONISE: "harmonises"}.get(request.job, "continues")
        raise GenerationError(f"a style joins a melody model; {model.name} {doing} every "
                              f"part at once")
    named = request.settings.constraints or request.settings.mixers
    if parts and named:
        raise GenerationError(f"named constraints and mixers steer a melody model; "
                              f"{model.name} writes every part at once")
    if parts and request.settings.repeat and request.job == REGENERATE:
        # a part model's other jobs scale their part memory (generation/part_memory.py)
        raise GenerationError("the repeat control steers the motif memory, which "
                              "Regenerate Part does not use: set repeat to 0")
    if not parts and request.settings.part_controls:
        raise GenerationError(f"controls per part steer a model that writes several parts; "
                              f"{model.name} writes one line: set the control itself")
    if request.job == FILL and request.settings.constraints:
        raise GenerationError("a fill takes mixers by name, not constraints: the key and "
                              "the pitch range narrow what it writes")
    job = JOBS.get((request.job, parts))
    if job is None:
        raise GenerationError(f"the model {model.name} cannot {request.job}")
    return job


def run(library, song: Song | None, request: GenerationRequest, *,
        progress: Callable[[int, int], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None, **options) -> GenerationResult:
    """Do ``request`` on ``song`` (the seed; None: nothing yet) with a model of
    ``library``: the one place the engine chooses a job.  ``options`` go to the job
    (``method``, ``record_logits`` for a continuation)."""
    request.check_song(song)
    for claim in ROUTES:
        job = claim(request, song)
        if job is not None:
            return job(library, song, request, None, progress=progress,
                       is_cancelled=is_cancelled, **options)
    model = library.get(request.settings.model)
    result = job_for(request, model)(library, song, request, model, progress=progress,
                                     is_cancelled=is_cancelled, **options)
    for follow in FOLLOWERS:
        result = follow(library, song, request, result, progress=progress,
                        is_cancelled=is_cancelled)
    return result


for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

"""Held-out calibrations kept on disk (roofline.cache), so `validate` and `plot measured` refit only
what changed.

A fit is a pure function of its training rows, the engine profile it starts from, the device and
model specs those rows name, and the code that costs and fits them. Its key holds all of these: the
rows and specs as their full content, the code as the bytes of the model, specs and calibration
sources and the numpy/scipy versions. The fits live in `fits/` under the cache root
(ROOFLINE_CACHE_DIR, else the user cache dir; ROOFLINE_CACHE_DIR=off turns it off); deleting it is
always safe.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

from roofline import cache
from roofline.cache import ENV
from roofline.model.engine import EngineProfile, load_engine
from roofline.specs.catalog import load_device, load_model
from roofline.traces.files import E2ERow
from roofline.validation.calibrate import CalibrationError, Fit, Runs, best_of_repeats, calibrate

#: Sources whose code decides a fit: what a run costs (model, specs and their data) and how it is fitted.
CODE = ("model", "specs", "engines", "data", "units.py", "units.txt", "validation/calibrate.py")
LIBRARIES = ("numpy", "scipy")


class FitCache(cache.Store):
    """The held-out fits: a cache.Store (None: nothing kept)."""

    @classmethod
    def default(cls) -> FitCache:
        root = cache.cache_root()
        return cls(None if root is None else root / "fits")


def cache_dir() -> Path | None:
    """Where fits are kept (None: the cache is turned off)."""
    return FitCache.default().directory


@functools.lru_cache(maxsize=512)
def _spec(kind: str, ref: str) -> str:
    return (load_device(ref) if kind == "device" else load_model(ref)).model_dump_json()


def key(rows: list[E2ERow], engine: EngineProfile, **options: Any) -> str:
    """The cache key of a fit of `engine` to `rows` (with calibrate's `options`)."""
    names = [f.name for f in dataclasses.fields(E2ERow)]
    specs = [
        _spec(kind, ref)
        for kind, refs in (("device", {r.device for r in rows}), ("model", {r.model for r in rows}))
        for ref in sorted(refs)
    ]
    return cache.key(
        "held-out fit",
        cache.code_fingerprint(CODE, LIBRARIES),
        engine.model_dump_json(),
        json.dumps(options, sort_keys=True, default=str),
        json.dumps([[getattr(r, n) for n in names] for r in rows]),
        *specs,
    )


def calibrate_cached(
    rows: list[E2ERow],
    engine: str | EngineProfile,
    store: FitCache,
    runs: Runs | None = None,
    as_shipped: bool = False,
) -> Fit:
    """calibrate(rows, engine) through the cache: a fit (or the CalibrationError it raised) already
    made from the same inputs is read back, anything else is fitted and kept. `as_shipped`: a profile
    that says how its defaults were fitted (EngineProfile.fit) is refitted the same way (the same
    free parameters, devices weighted the same or not), so a held-out error measures the procedure
    the shipped defaults came from; otherwise every parameter the rows determine is fitted, every
    row weighing the same."""
    base = load_engine(engine)
    recipe = base.fit if as_shipped else None
    free = None if recipe is None or recipe.parameters == "all" else tuple(recipe.parameters)
    balance = recipe is not None and recipe.devices_weighted_equally
    options = {} if recipe is None else {"free": free, "balance_devices": balance}
    k = key(rows, base, **options)
    got = store.get(k)
    if got is not None and "error" in got:
        raise CalibrationError(str(got["error"]))
    if got is not None and "fit" in got:
        return Fit(**got["fit"], rows=best_of_repeats(rows))
    try:
        fit = calibrate(rows, base, free, balance_devices=balance, runs=runs)
    except CalibrationError as exc:
        store.put(k, {"error": str(exc)})
        raise
    store.put(k, {"fit": {f.name: getattr(fit, f.name) for f in dataclasses.fields(fit) if f.name != "rows"}})
    return fit


__all__ = ["ENV", "FitCache", "cache_dir", "calibrate_cached", "key"]

"""A mergeable quantile sketch of durations (DDSketch, Masson et al., VLDB 2019).

A duration of ``x`` ms >= 1 is counted under the bucket index ``i = ceil(log_gamma(x))`` with
``gamma = (1 + ALPHA) / (1 - ALPHA)``; bucket ``i`` covers ``(gamma^(i-1), gamma^i]`` and is
read back as ``2 gamma^i / (gamma + 1)``, which is within ``ALPHA`` (1 %) of every value in it.
Durations under 1 ms share the bucket ``"z"``, read back as 0. A sketch is a sparse dict
``{index (str): count}`` stored as jsonb in the ROI facts and rollups; two sketches merge by
adding counts (in Python here, in SQL by the ``flows_sketch_merge`` function and the
``flows_sketch_sum`` aggregate that migration ``0012_roi_duration_sketch`` creates), so a
period's sketch is the sum of its days' and the error bound holds whatever is merged.
A quantile is the value of the bucket holding the rank ``q x (count - 1)`` (0-based) element,
so it is within 1 % of that element of the sorted durations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
ZERO = "z"
PRECISION = "±1 %"

Sketch = dict[str, int]


def sketch_key(ms: float) -> str:
    """The bucket a duration of ``ms`` milliseconds is counted in."""
    if ms < 1:
        return ZERO
    return str(math.ceil(math.log(ms) / _LOG_GAMMA))


def sketch_of(durations_ms: Iterable[float]) -> Sketch:
    """A sketch counting ``durations_ms``."""
    sketch: Sketch = {}
    for ms in durations_ms:
        key = sketch_key(ms)
        sketch[key] = sketch.get(key, 0) + 1
    return sketch


def sketch_merge(into: Sketch, other: Mapping[str, int]) -> Sketch:
    """Add ``other``'s counts into ``into`` (in place) and return it."""
    for key, count in other.items():
        into[key] = into.get(key, 0) + int(count)
    return into


def sketch_count(sketch: Mapping[str, int]) -> int:
    return sum(int(count) for count in sketch.values())


def _value(key: str) -> float:
    if key == ZERO:
        return 0.0
    return 2 * GAMMA ** int(key) / (GAMMA + 1)


def _order(key: str) -> float:
    return -math.inf if key == ZERO else int(key)


def sketch_quantile(sketch: Mapping[str, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) in ms, within 1 % of the exact rank-``q x (n - 1)`` element;
    None for an empty sketch."""
    total = sketch_count(sketch)
    if total == 0:
        return None
    rank = q * (total - 1)
    seen = 0
    for key in sorted(sketch, key=_order):
        seen += int(sketch[key])
        if seen > rank:
            return _value(key)
    return _value(max(sketch, key=_order))

"""A mergeable quantile sketch of durations (DDSketch, Masson et al., VLDB 2019).

A duration of ``x`` ms >= 1 is counted under the bucket index ``i = ceil(log_gamma(x))`` with
``gamma = (1 + ALPHA) / (1 - ALPHA)``; bucket ``i`` covers ``(gamma^(i-1), gamma^i]`` and is
read back as ``2 gamma^i / (gamma + 1)``, which is within ``ALPHA`` (1 %) of every value in it.
Durations under 1 ms share the bucket ``"z"``, read back as 0. A sketch is a sparse dict
``{index (str): count}`` stored as jsonb in the ROI facts and rollups; two sketches merge by
adding counts (in Python here, in SQL by the ``flows_sketch_merge`` function and the
``flows_sketch_sum`` aggregate that migration ``0012_roi_duration_sketch`` creates), so a
period's sketch is the sum of its days' and the error bound holds whatever is merged.
A quantile is defined as PostgreSQL's ``percentile_cont`` defines it over the raw durations
(the exact figure the dashboard shows for small ranges): at the 0-based rank
``r = q x (count - 1)``, the element ``floor(r)`` plus ``r - floor(r)`` of the way to the element
``ceil(r)``. The sketch reads both elements back from their buckets (each within 1 %) and
interpolates the same way; a weighted mean of values each within 1 % of its element is within
1 % of the same mean of the elements, so the answer is within 1 % of the exact figure — not of a
different definition (the nearest lower element would read 40 min for an exact p95 of 48 min
over runs of 10, 20, 30, 40 and 50 min).
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
    """The ``q`` quantile (0..1) in ms, within 1 % of ``percentile_cont(q)`` over the
    durations counted (linear interpolation at rank ``q x (n - 1)``, see the module's
    docstring); None for an empty sketch."""
    total = sketch_count(sketch)
    if total == 0:
        return None
    rank = min(max(q, 0.0), 1.0) * (total - 1)
    low = math.floor(rank)
    high = min(low + 1, total - 1)
    values: dict[int, float] = {}
    seen = 0
    for key in sorted(sketch, key=_order):
        count = int(sketch[key])
        for index in (low, high):
            if seen <= index < seen + count:
                values[index] = _value(key)
        seen += count
        if high in values:
            break
    return values[low] + (rank - low) * (values[high] - values[low])

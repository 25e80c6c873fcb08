"""The words every layer shares, stated once: sides, their lateral direction, z for 95%.

Examples:
    >>> [str(s) for s in SIDES]
    ['left', 'right']
    >>> OTHER_SIDE[Side.LEFT] == "right"
    True

"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["LATERAL_SIGN", "MIN_VISIBILITY", "OTHER_SIDE", "SIDES", "Z95", "Side"]


class Side(StrEnum):
    """The person's anatomical side (never the image's); equal to its plain string."""

    LEFT = "left"
    RIGHT = "right"


#: Both sides, left first: the order of every table, CSV and report.
SIDES: Final[tuple[Side, Side]] = (Side.LEFT, Side.RIGHT)
#: The other leg.
OTHER_SIDE: Final[dict[Side, Side]] = {Side.LEFT: Side.RIGHT, Side.RIGHT: Side.LEFT}
#: +1 when the person's lateral direction of that leg is image +x (unmirrored frame: the
#: person faces the camera, so their left leg's lateral side is the image's right).
LATERAL_SIGN: Final[dict[str, float]] = {Side.LEFT: 1.0, Side.RIGHT: -1.0}
#: Two-sided 95% quantile of the standard normal: a 95% half-width is Z95 · SE.
Z95: Final[float] = 1.96
#: A landmark whose visibility score is below this is not trusted (MediaPipe's own cut-off).
MIN_VISIBILITY: Final[float] = 0.5

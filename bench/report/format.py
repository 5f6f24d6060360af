"""Numbers formatted for reading: units chosen per value, three significant figures."""

import math

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))
_SMALL = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def si(value, unit: str) -> str:
    """1.23e9, 'FLOP/s' -> '1.23 GFLOP/s'; values below one use m, µ, n, p."""
    if _missing(value):
        return "–"
    value = float(f"{value:.3g}")  # rounded before the unit is chosen: 0.9996 s is "1 s"
    scales = _PREFIXES if abs(value) >= 1 else _SMALL
    for scale, prefix in scales:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return "0 " + unit if value == 0 else f"{value / scales[-1][0]:.3g} {scales[-1][1]}{unit}"


def seconds(value) -> str:
    """Seconds with m, µ, n, p below one; from 1000 on written out ("1,230 s", not "1.23 ks")."""
    if not _missing(value) and abs(float(f"{value:.3g}")) >= 1000:
        return f"{figures(value)} s"
    return si(value, "s")


def figures(value: float) -> str:
    """Three significant figures, and from 1000 on written out: 1,180, not 1.18e+03."""
    text = f"{value:.3g}"
    return f"{float(text):,.0f}" if "e+" in text else text


def ratio(value) -> str:
    return "–" if _missing(value) else f"{figures(value)}×"


def percent(value) -> str:
    return "–" if _missing(value) else f"{figures(100 * value)}%"


def error(value) -> str:
    return "–" if _missing(value) else f"{value:.2e}"


def count(value) -> str:
    return "–" if _missing(value) else f"{int(value):,}"


def text(value) -> str:
    return "–" if _missing(value) else str(value)

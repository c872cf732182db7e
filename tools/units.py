"""Unit conversion for length, mass, time, speed, angle and temperature, nautical units included.

Linear units are stored as a factor to the SI unit of their dimension; temperature needs offsets and is handled on
its own. Unit names are matched loosely (case, plurals, "per", degree signs) because models write them many ways.
"""

from __future__ import annotations

import re

from agent.core.errors import ToolError

NAUTICAL_MILE_M = 1852.0

# dimension -> canonical unit -> (factor to the SI unit, aliases)
_LINEAR: dict[str, dict[str, tuple[float, tuple[str, ...]]]] = {
    "length": {
        "m": (1.0, ("meter", "meters", "metre", "metres")),
        "km": (1000.0, ("kilometer", "kilometers", "kilometre", "kilometres")),
        "cm": (0.01, ("centimeter", "centimeters", "centimetre", "centimetres")),
        "mm": (0.001, ("millimeter", "millimeters", "millimetre", "millimetres")),
        "nmi": (NAUTICAL_MILE_M, ("nm", "nautical mile", "nautical miles", "sea mile", "sea miles")),
        "mi": (1609.344, ("mile", "miles", "statute mile", "statute miles")),
        "yd": (0.9144, ("yard", "yards")),
        "ft": (0.3048, ("foot", "feet", "'")),
        "in": (0.0254, ("inch", "inches", '"')),
        "fathom": (1.8288, ("fathoms", "ftm")),
        "cable": (185.2, ("cables", "cable length", "cable lengths")),
        "league": (3 * NAUTICAL_MILE_M, ("leagues", "nautical league", "nautical leagues")),
    },
    "mass": {
        "kg": (1.0, ("kilogram", "kilograms", "kilo", "kilos")),
        "g": (0.001, ("gram", "grams")),
        "mg": (1e-6, ("milligram", "milligrams")),
        "t": (1000.0, ("tonne", "tonnes", "metric ton", "metric tons")),
        "lb": (0.45359237, ("lbs", "pound", "pounds")),
        "oz": (0.028349523125, ("ounce", "ounces")),
        "st": (6.35029318, ("stone", "stones")),
        "short ton": (907.18474, ("short tons", "us ton", "us tons")),
        "long ton": (1016.0469088, ("long tons", "imperial ton", "imperial tons")),
    },
    "time": {
        "s": (1.0, ("sec", "secs", "second", "seconds")),
        "ms": (0.001, ("millisecond", "milliseconds")),
        "min": (60.0, ("mins", "minute", "minutes")),
        "h": (3600.0, ("hr", "hrs", "hour", "hours")),
        "day": (86400.0, ("d", "days")),
        "week": (604800.0, ("wk", "weeks")),
        "year": (31557600.0, ("yr", "yrs", "years", "julian year")),
    },
    "speed": {
        "m/s": (1.0, ("mps", "meter/second", "meters/second", "metre/second", "metres/second", "meter/s", "metre/s")),
        "km/h": (
            1000.0 / 3600.0,
            ("kph", "kmh", "km/hr", "kilometer/hour", "kilometers/hour", "kilometre/hour", "kilometres/hour"),
        ),
        "kn": (
            NAUTICAL_MILE_M / 3600.0,
            ("kt", "kts", "knot", "knots", "nmi/h", "nautical mile/hour", "nautical miles/hour"),
        ),
        "mph": (1609.344 / 3600.0, ("mi/h", "mile/hour", "miles/hour")),
        "ft/s": (0.3048, ("fps", "foot/second", "feet/second")),
    },
    "angle": {
        "deg": (1.0, ("degree", "degrees", "°")),
        "rad": (57.29577951308232, ("radian", "radians")),
        "arcmin": (1 / 60, ("arcminute", "arcminutes", "minute of arc", "minutes of arc")),
        "arcsec": (1 / 3600, ("arcsecond", "arcseconds", "second of arc", "seconds of arc")),
        "point": (11.25, ("points", "compass point", "compass points")),
    },
}
_TEMPERATURE: dict[str, tuple[str, ...]] = {
    "C": ("c", "°c", "celsius", "centigrade", "degc", "degree celsius", "degrees celsius"),
    "F": ("f", "°f", "fahrenheit", "degf", "degree fahrenheit", "degrees fahrenheit"),
    "K": ("k", "kelvin", "kelvins"),
}


def _normalize(unit: str) -> str:
    text = re.sub(r"\bper\b", "/", unit.strip().lower())
    text = re.sub(r"\s*/\s*", "/", text)
    return " ".join(text.split())


def _index() -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {}
    for dimension, units in _LINEAR.items():
        for canonical, (_, aliases) in units.items():
            for name in (canonical, *aliases):
                table[_normalize(name)] = (dimension, canonical)
    for canonical, aliases in _TEMPERATURE.items():
        for name in (canonical, *aliases):
            table[_normalize(name)] = ("temperature", canonical)
    return table


_UNITS = _index()


def lookup(unit: str) -> tuple[str, str]:
    """(dimension, canonical unit) for a loosely written unit name; ToolError if unknown."""
    key = _normalize(unit)
    if key not in _UNITS and key.endswith("s") and key[:-1] in _UNITS:
        key = key[:-1]
    if key not in _UNITS:
        raise ToolError(f"unknown unit {unit!r}; known units include: {', '.join(known_units()[:40])} …")
    return _UNITS[key]


def known_units() -> list[str]:
    return [u for units in _LINEAR.values() for u in units] + list(_TEMPERATURE)


def _to_kelvin(value: float, unit: str) -> float:
    return {"C": value + 273.15, "F": (value - 32) * 5 / 9 + 273.15, "K": value}[unit]


def _from_kelvin(value: float, unit: str) -> float:
    return {"C": value - 273.15, "F": (value - 273.15) * 9 / 5 + 32, "K": value}[unit]


def convert(value: float, from_unit: str, to_unit: str) -> tuple[float, str, str]:
    """Convert and return (value, canonical from unit, canonical to unit), rounded to 10 significant digits."""
    from_dim, source = lookup(from_unit)
    to_dim, target = lookup(to_unit)
    if from_dim != to_dim:
        raise ToolError(f"cannot convert {from_dim} ({source}) to {to_dim} ({target})")
    if from_dim == "temperature":
        if (source == "K" and value < 0) or (source != "K" and _to_kelvin(value, source) < 0):
            raise ToolError("that temperature is below absolute zero")
        result = _from_kelvin(_to_kelvin(value, source), target)
    else:
        units = _LINEAR[from_dim]
        result = value * units[source][0] / units[target][0]
    return float(f"{result:.10g}"), source, target

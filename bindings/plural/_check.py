"""Checks of the arguments that enter the package: a wrong type is a TypeError, a wrong value a ValueError, and
both name the argument (or the record and field), before the C++ side could misread it.

numpy scalars count as the numbers they hold; bools never count as numbers (True is not a label, write 1 or 0);
a str is never a list of texts (iterating it would give its characters)."""
import math
from collections.abc import Iterable, Mapping

import numpy as np

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _type(value) -> str:
    return type(value).__name__


def _plain(value):
    """A numpy scalar (np.float32, np.int64, np.bool_, np.str_) as the Python value it holds; others unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _non_finite(x: float) -> str:
    return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def as_number(value, name: str, integer: bool = False):
    """value as a finite Python float (an int when `integer`; whole floats such as 1e3 are accepted there)."""
    value = _plain(value)
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got bool {value} (write 1 or 0)")
    if not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {_type(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: {_non_finite(value)} is not a finite number")
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{name}: {value!r} is not a whole number")
            value = int(value)
        return _check_int64(value, name)
    if isinstance(value, int):
        _check_int64(value, name)
        return float(value)
    return value


def _check_int64(value: int, name: str) -> int:
    # JSON readers and C++ fields hold 64 bits at most; a bigger int would wrap around to a nonsense value.
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{name}: {value} is out of range (a 64-bit integer)")
    return value


def as_bool(value, name: str) -> bool:
    value = _plain(value)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_type(value)}")
    return value


def as_text(value, name: str) -> str:
    """value, which must be a str (bytes are refused: which encoding they use is the caller's to say)."""
    if isinstance(value, np.str_):
        value = str(value)
    if not isinstance(value, str):
        hint = " (decode it first, e.g. value.decode('utf-8'))" if isinstance(value, (bytes, bytearray)) else ""
        raise TypeError(f"{name} must be a string, got {_type(value)}{hint}")
    return value


def as_list(value, name: str, what: str = "a list") -> list:
    """value (any iterable but a str, bytes or dict) as a list."""
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be {what}, got {_type(value)}")
    return list(value)


def as_text_list(value, name: str) -> list:
    """value as a list of str; a bare str is refused, not read as its characters."""
    items = as_list(value, name, "a list of strings")
    return [as_text(t, f"{name}[{i}]") for i, t in enumerate(items)]


def json_safe(value, name: str):
    """value as data json.dumps writes exactly as the C++ reader expects: numpy scalars and arrays become Python
    numbers and lists, tuples lists; NaN/inf, ints beyond 64 bits, bytes and other objects are refused by name."""
    value = _plain(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return as_number(value, name, integer=isinstance(value, int))
    if isinstance(value, (bytes, bytearray)):
        return as_text(value, name)  # raises, with the hint to decode
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{name}: keys must be strings, got {_type(k)} {k!r}")
            out[k] = json_safe(v, f"{name}['{k}']")
        return out
    if isinstance(value, (list, tuple)):
        return [json_safe(v, f"{name}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{name} must be a number, string, bool, list or dict, got {_type(value)}")


def json_options(options: dict, where: str) -> dict:
    """Keyword options bound for C++ as JSON (a model's hyperparameters, an adapter's options), each checked by
    json_safe under the name "`where`: option 'name'"."""
    return {name: json_safe(value, f"{where}: option '{name}'") for name, value in options.items()}


def set_fields(config, options: dict, where: str, kind: str) -> None:
    """Sets keyword options on a C++ config object (TrainConfig, PersonaKConfig, ...), each checked against the
    type of the field it replaces, so that a wrong one names the option instead of pybind11's signature list."""
    for name, value in options.items():
        if name.startswith("_") or not hasattr(config, name):
            raise TypeError(f"{where}: unknown option '{name}' ({kind} has no such field)")
        set_field(config, name, value, f"{where}: option '{name}'")


def set_field(config, field: str, value, label: str) -> None:
    """config.field = value, converted to the type the field holds now; errors name `label`."""
    current = getattr(config, field)
    if isinstance(current, bool):
        value = as_bool(value, label)
    elif isinstance(current, int):
        value = as_number(value, label, integer=True)
    elif isinstance(current, float):
        value = as_number(value, label)
    elif isinstance(current, str):
        value = as_text(value, label)
    elif isinstance(current, list):
        value = json_safe(as_list(value, label), label)
    elif isinstance(current, dict):
        value = json_safe(value, label)
    try:
        setattr(config, field, value)
    except TypeError as e:
        if isinstance(value, int) and not isinstance(value, bool):  # the type was right: a 32-bit or unsigned field
            raise ValueError(f"{label}: {value} is out of range") from None
        raise TypeError(f"{label}: {e}") from None

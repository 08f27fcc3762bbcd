"""The methods behind `bench run` / `bench train`, and the codecs, each registered by a decorator
in its own module.

A method module says ``@register("NAME")`` above its class. The registry finds those modules
by reading the source of ``benchmarks/`` and ``baselines/`` (an ``ast`` scan: nothing is
imported), so `bench --help` and `bench score` never load a method's dependencies; a method's
module is imported only when something about its class is asked for (its options, whether it is
learned). Adding a method is one module: no central list to edit.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
from pathlib import Path

PACKAGES = ("benchmarks", "baselines")
_ROOT = Path(__file__).resolve().parents[2]
_CLASSES: dict[str, type] = {}
_CODECS: dict[str, type] = {}


def register(name: str):
    """Class decorator: ``@register("ae")`` makes the class ``--method ae``."""
    def wrap(cls: type) -> type:
        known = _CLASSES.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"method {name!r} registered twice ({known.__module__} and {cls.__module__})")
        _CLASSES[name] = cls
        cls.method_name = name
        return cls
    return wrap


def register_codec(*names: str):
    """Class decorator: ``@register_codec("disks", "ours")`` makes the class ``--codec disks`` (and
    ``ours``). A codec class has ``config_class`` and ``from_config(config, keypoint_names)``; any
    method can build one by name (:func:`codec_class`), as mmpose's codec registry."""
    def wrap(cls: type) -> type:
        for name in names:
            _CODECS[name] = cls
        return cls
    return wrap


def _registered(tree: ast.AST, decorator: str = "register") -> list[str]:
    """The names a module's classes are registered under by ``@decorator("name", ...)``."""
    return [arg.value for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
            for dec in node.decorator_list
            if isinstance(dec, ast.Call) and getattr(dec.func, "id", getattr(dec.func, "attr", None)) == decorator
            for arg in dec.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]


def _find(decorator: str, kind: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((_ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if decorator + "(" not in text:
                continue
            module = ".".join(path.relative_to(_ROOT).with_suffix("").parts)
            for name in _registered(ast.parse(text, str(path)), decorator):
                if name in found:
                    raise ValueError(f"{kind} {name!r} registered in both {found[name]} and {module}")
                found[name] = module
    return found


@functools.lru_cache(maxsize=1)
def _scan() -> dict[str, str]:
    return _find("register", "method")


@functools.lru_cache(maxsize=1)
def _scan_codecs() -> dict[str, str]:
    return _find("register_codec", "codec")


def codec_names() -> list[str]:
    """The registered codecs (read from the sources: no imports)."""
    return sorted(_scan_codecs())


def codec_class(name: str) -> type:
    """The class of ``--codec name`` (imports its module now)."""
    modules = _scan_codecs()
    if name not in modules:
        raise ValueError(f"--codec {name}: unknown codec (known: {', '.join(codec_names())})")
    importlib.import_module(modules[name])
    return _CODECS[name]


def discover() -> dict[str, str]:
    """Method name -> module, from the sources of :data:`PACKAGES` (no imports)."""
    return dict(_scan())


def available() -> list[str]:
    return sorted(discover())


def method_class(name: str) -> type:
    """The class of ``--method name`` (imports its module now)."""
    modules = discover()
    if name not in modules:
        raise ValueError(f"--method {name}: unknown method (known: {', '.join(available())})")
    importlib.import_module(modules[name])
    return _CLASSES[name]


def learned_methods() -> list[str]:
    """Names of the methods `bench train` can train: subclasses of ``LearnedMethod`` (imports them)."""
    from .method import LearnedMethod
    return [n for n in available() if issubclass(method_class(n), LearnedMethod)]


def option_fields(cls: type) -> list[dataclasses.Field]:
    """A method's own options: its dataclass fields less the generic ones every method gets."""
    from .method import GENERIC_OPTIONS
    fields = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
    return [f for f in fields if f.name not in GENERIC_OPTIONS]


def option_flag(f: dataclasses.Field) -> str:
    """The `bench run` flag of a method option."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _flag_of(field_name: str) -> str:
    for name in available():
        for f in option_fields(method_class(name)):
            if f.name == field_name:
                return option_flag(f)
    return "--" + field_name.replace("_", "-")


def get_method(name: str, **options):
    """An instance of ``--method name`` with the options the user gave (None = not given).
    A generic option (:data:`.method.GENERIC_OPTIONS`) reaches the method when it has that field
    (any :class:`.method.Method`); any other option the method has no field for is refused."""
    from .method import GENERIC_OPTIONS
    cls = method_class(name)
    takes = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    given = {k: v for k, v in options.items() if v is not None and (k in takes or k not in GENERIC_OPTIONS)}
    refused = sorted(k for k in given if k not in takes)
    if refused:
        flags = ", ".join(_flag_of(k) for k in refused)
        raise ValueError(f"{flags}: not an option of --method {name}")
    for f in option_fields(cls):   # the declared bounds hold for the Python API as for the CLI
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        value = given.get(f.name)
        if value is not None and ((lo is not None and value < lo) or (hi is not None and value > hi)):
            bound = f"in [{lo}, {hi}]" if lo is not None and hi is not None else (f">= {lo}" if hi is None else f"<= {hi}")
            raise ValueError(f"{option_flag(f)}: must be {bound}, got {value}")
    return cls(**given)

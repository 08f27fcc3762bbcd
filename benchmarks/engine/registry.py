"""The methods behind `bench run` / `bench train`: registered by a decorator in their own module.

A method module says ``@register("NAME")`` above its class. The registry finds those modules
by reading the source of ``benchmarks/`` and ``baselines/`` (an ``ast`` scan: nothing is
imported), so `bench --help` and `bench score` never load a method's dependencies; a method's
module is imported only when that method is asked for. Adding a method is one module (plus a
config): no central list to edit.
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


def _registered(tree: ast.AST) -> list[tuple[str, bool]]:
    """(name, trainable) of every ``@register("name")`` class; trainable: it derives from
    ``LearnedMethod`` (the engine trains it)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {getattr(b, "id", getattr(b, "attr", None)) for b in node.bases}
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and getattr(dec.func, "id", getattr(dec.func, "attr", None)) == "register"
                        and dec.args and isinstance(dec.args[0], ast.Constant) and isinstance(dec.args[0].value, str)):
                    out.append((dec.args[0].value, "LearnedMethod" in bases))
    return out


@functools.lru_cache(maxsize=1)
def _scan() -> tuple[dict[str, str], frozenset[str]]:
    found: dict[str, str] = {}
    trainable: set[str] = set()
    for package in PACKAGES:
        for path in sorted((_ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if "register(" not in text:
                continue
            module = ".".join(path.relative_to(_ROOT).with_suffix("").parts)
            for name, learned in _registered(ast.parse(text, str(path))):
                if name in found:
                    raise ValueError(f"method {name!r} registered in both {found[name]} and {module}")
                found[name] = module
                if learned:
                    trainable.add(name)
    return found, frozenset(trainable)


def discover() -> dict[str, str]:
    """Method name -> module, from the sources of :data:`PACKAGES` (no imports)."""
    return dict(_scan()[0])


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
    """Names of the methods `bench train` can train (read from the sources: no imports)."""
    return sorted(_scan()[1])


def option_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()


def get_method(name: str, **options):
    """An instance of ``--method name`` with the options the user gave (None = not given);
    an option the method has no use for is refused, not dropped."""
    cls = method_class(name)
    takes = option_names(cls)
    refused = sorted(k for k, v in options.items() if v is not None and k not in takes)
    if refused:
        flags = ", ".join("--" + k.replace("_", "-") for k in refused)
        raise ValueError(f"{flags}: not an option of --method {name}")
    return cls(**{k: v for k, v in options.items() if v is not None})

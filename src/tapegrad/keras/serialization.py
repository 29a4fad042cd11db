"""Objects as JSON configs and back: ``{"class_name": ..., "config": ...}``.

An object saves itself as its class name plus ``get_config()`` (the
arguments that rebuild it), and ``Class.from_config(config)`` rebuilds it.
Loading therefore needs to find the class from its name: the built-in
layers, optimizers, losses and metrics are listed here by category (each
module registers its own classes), your own classes are found through
``register_keras_serializable(package, name)`` (stored as
``"package>name"``) or ``custom_objects={"Name": cls}``, as in Keras.
"""

from __future__ import annotations

import contextlib
import inspect
import threading

_BUILTINS = {}      # category -> {class name: class}
_REGISTERED = {}    # "package>name" -> class or function
_NAMES = {}         # class or function -> "package>name"


def builtin(category, *classes):
    """List ``classes`` as the built-in ones of ``category`` (``"layer"``, ``"loss"``, ...)."""
    table = _BUILTINS.setdefault(category, {})
    for cls in classes:
        table[cls.__name__] = cls


def register_keras_serializable(package="Custom", name=None):
    """Decorator: make a class (or function) loadable by name, as ``"package>name"``.

    ``@keras.saving.register_keras_serializable(package="my_models")`` on
    ``class Classifier(keras.Model)`` lets ``load_model`` rebuild it without
    ``custom_objects``.  The class still needs ``get_config`` (and
    ``from_config`` unless ``cls(**config)`` rebuilds it).
    """
    def decorate(obj):
        key = f"{package}>{name or obj.__name__}"
        if key in _REGISTERED and _REGISTERED[key] is not obj:
            raise ValueError(f"{key} has already been registered to {_REGISTERED[key]}")
        _REGISTERED[key] = obj
        _NAMES[obj] = key
        return obj
    return decorate


def get_registered_name(obj):
    """``"package>name"`` for a registered object, else its ``__name__``."""
    return _NAMES.get(obj, getattr(obj, "__name__", None))


class _OpenScopes(threading.local):
    """The custom-object tables open in this thread (each thread its own, as Keras's global state)."""

    def __init__(self):
        self.scopes = []      # custom_object_scope's tables, innermost last
        self.arguments = []   # the custom_objects arguments of the loads in progress, innermost last


_OPEN = _OpenScopes()


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Within it, ``custom_objects`` (``{"Name": cls}``) are found by name, as in Keras.

    As in Keras 3, an open scope wins over the registry and over the
    ``custom_objects`` given to ``load_model`` (which applies them to every
    nested config, through ``custom_objects_argument``).
    """
    _OPEN.scopes.append(dict(custom_objects or {}))
    try:
        yield
    finally:
        _OPEN.scopes.pop()


@contextlib.contextmanager
def custom_objects_argument(custom_objects):
    """``load_model``'s ``custom_objects``, seen by every nested config while it loads (after the scopes)."""
    _OPEN.arguments.append(dict(custom_objects or {}))
    try:
        yield
    finally:
        _OPEN.arguments.pop()


def get_registered_object(name, custom_objects=None):
    """The class (or function) for ``name``, looked up as Keras 3 does: the open
    custom-object scopes (innermost first), the registry, then
    ``custom_objects`` and the loads' own ``custom_objects``."""
    for table in reversed(_OPEN.scopes):
        if name in table:
            return table[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    for table in (custom_objects or {}, *reversed(_OPEN.arguments)):
        if name in table:
            return table[name]
    return None


def require_own_get_config(obj, base_init, kind):
    """Raise Keras's error when ``obj``'s ``__init__`` takes arguments the base ``get_config`` cannot know."""
    known = set(inspect.signature(base_init).parameters)
    own = [p.name for p in inspect.signature(type(obj).__init__).parameters.values()
           if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in known]
    if own:
        raise NotImplementedError(
            f"{kind} {type(obj).__name__} has arguments {own} in `__init__()` and therefore must override "
            f"`get_config()` (returning them, e.g. {{**super().get_config(), {own[0]!r}: self.{own[0]}}}) so it "
            f"can be saved and rebuilt with `from_config()`.")


def serialize_keras_object(obj):
    """``{"module", "class_name", "config", "registered_name"}``: what ``deserialize_keras_object`` reads.

    Strings, numbers, None, lists and dicts are plain JSON and stay as they
    are; a function is stored by its (registered) name.
    """
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(item) for item in obj]
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, type) or callable(obj) and not hasattr(obj, "get_config"):
        return {"module": getattr(obj, "__module__", None), "class_name": "function",
                "config": obj.__name__, "registered_name": get_registered_name(obj)}
    cls = type(obj)
    get_config = getattr(obj, "get_config", None)
    if get_config is None:
        raise TypeError(f"cannot serialize {obj!r}: it has no get_config()")
    return {"module": cls.__module__, "class_name": cls.__name__, "config": get_config(),
            "registered_name": get_registered_name(cls)}


def find_class(config, category, custom_objects=None):
    """The class a ``{"class_name", "registered_name"}`` config names, or a ValueError saying how to supply it."""
    class_name, registered = config.get("class_name"), config.get("registered_name")
    for key in (registered, class_name):
        if key is not None:
            found = get_registered_object(key, custom_objects)
            if found is not None:
                return found
    found = _BUILTINS.get(category, {}).get(class_name)
    if found is not None:
        return found
    raise ValueError(
        f"Could not locate class {class_name!r} (registered name {registered!r}) of this saved {category}. "
        f"Make sure custom classes are decorated with `@keras.saving.register_keras_serializable()`, "
        f"or pass them in custom_objects={{{class_name!r}: {class_name}}}.")


def deserialize_keras_object(config, category, custom_objects=None):
    """Rebuild an object from ``serialize_keras_object``'s output (``category``: where to look up built-ins)."""
    if config is None or isinstance(config, (str, int, float, bool)):
        return config
    if isinstance(config, list):
        return [deserialize_keras_object(item, category, custom_objects) for item in config]
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        if isinstance(config, dict):
            return {key: deserialize_keras_object(value, category, custom_objects) for key, value in config.items()}
        raise ValueError(f"not a serialized Keras object: {config!r}")
    if config["class_name"] == "function":
        name = config["config"]
        found = get_registered_object(config.get("registered_name") or name, custom_objects) \
            or get_registered_object(name, custom_objects)
        if found is None:
            raise ValueError(f"Could not locate function {name!r} of this saved {category}: register it with "
                             f"`@keras.saving.register_keras_serializable()` or pass custom_objects={{{name!r}: ...}}")
        return found
    with custom_objects_argument(custom_objects):
        cls = find_class(config, category)
        from_config = getattr(cls, "from_config", None)
        return from_config(config["config"]) if from_config is not None else cls(**config["config"])


__all__ = ["register_keras_serializable", "custom_object_scope", "custom_objects_argument", "get_registered_name", "get_registered_object",
           "serialize_keras_object", "deserialize_keras_object"]

"""Name → constructor registries shared by every model family.

One registry per kind of thing (networks, training families). A family file decorates its factories, and
`mindspore_impl.models` imports every family module so the decorators have run before any lookup.
"""
from __future__ import annotations

from typing import Callable, Dict

from runtime.errors import UserError


class RegistryError(UserError, KeyError):
    """An unknown name was looked up; the message lists what is registered."""

    def __str__(self):  # KeyError would quote the message; keep it a readable one-liner
        return self.args[0]


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Callable] = {}

    def register(self, name: str | None = None):
        """Decorator: `@MODELS.register()` registers a factory under its own `__name__`."""

        def deco(fn):
            key = name or fn.__name__
            if key in self._entries and self._entries[key] is not fn:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = fn
            return fn

        return deco

    def get(self, name: str) -> Callable:
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise RegistryError(f"unknown {self.kind} '{name}'; registered: {known}")
        return self._entries[name]

    def names(self):
        return sorted(self._entries)

    def __contains__(self, name):
        return name in self._entries

    def build(self, name: str, **kwargs):
        return self.get(name)(**kwargs)


MODELS = Registry("model")  # generators, discriminators, feature extractors
FAMILIES = Registry("family")  # training families (networks + losses + data), driven by the shared Trainer


def create_model(name: str, **kwargs):
    """Build a registered network by name; kwargs are exactly the YAML section's keys."""
    import mindspore_impl.models  # noqa: F401  (registers every family's factories)

    return MODELS.build(name, **kwargs)


def build_network(cfg: dict, key: str, **overrides):
    """Build the network described by config section `key`: `name:` + the factory's arguments, checked by name.

    `overrides` replace or add constructor arguments (CycleGAN's G_B is G_A's section with the channels swapped).
    A factory refusing a value (TypeError/ValueError, e.g. an unknown upsample mode) becomes a ConfigError naming
    the section, as does a `data.image_size` the network cannot keep (not a multiple of its `size_multiple`). This
    is the one place configs become networks: training families, export and MindSpore inference all build through
    it.
    """
    from mindspore_impl.config import ConfigError, check_image_size, factory_kwargs, section
    import mindspore_impl.models  # noqa: F401

    values = {**section(cfg, key), **overrides}
    if "name" not in values:
        raise ConfigError(f"config section '{key}' needs a 'name' (one of: {', '.join(MODELS.names())})")
    factory = MODELS.get(values["name"])
    kwargs = factory_kwargs(values, factory, key)
    try:
        net = factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {exc}") from None
    check_image_size(cfg, {key: net})
    return net

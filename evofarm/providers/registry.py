"""Building providers by name, and the named provider slots a pipeline runs with.

Steps do not name providers; they name a *slot*: ``claude*`` steps use the
``claude`` slot and ``gemini*`` steps the ``gemini`` slot. A :class:`ProviderSet`
binds each slot to a provider name and a default model. A pipeline's or campaign's
``providers:`` mapping (slot -> ``{provider, model}``) rebinds slots; the
provider-optimization operator mutates exactly that mapping.

Model rules applied by :meth:`ProviderSet.complete`, most specific first:

* the request's (the step's) ``model``, when it names one;
* else the slot's model: the override's, or the settings' default;
* an override applied with ``pin=True`` (a campaign forcing one model) replaces
  even the step's model;
* aliases (haiku, sonnet, opus) become the configured ids before the provider
  sees the request.

Across the sandbox boundary the child resolves slots and models and sends
concrete requests through one pipe; :meth:`ProviderSet.as_provider` gives the
worker side a single :class:`Provider` that routes each request back to a slot
by its model's family (``gemini-*`` to the gemini slot, everything else to the
claude slot).

Providers are created lazily, once per (provider name, slot) and shared by every
set derived with :meth:`ProviderSet.with_overrides`, so a claude-only pipeline never
needs the gemini extra and one HTTP client serves all threads.

Provider names come from the provider registry,
:data:`~evofarm.providers.base.PROVIDERS` (each provider module registers its
factory; plugins add theirs): nothing here lists them. :class:`ProviderSet`
implements :class:`~evofarm.providers.base.ProviderSlots`, the interface the
pipeline language uses.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from evofarm.errors import ProviderConfigError
from evofarm.providers.aliases import resolve_model
from evofarm.providers.base import (
    PROVIDERS,
    LLMRequest,
    LLMResponse,
    Provider,
    ProviderOptions,
    slot_family,
)
from evofarm.settings import Settings, get_settings

DEFAULT_SLOTS: tuple[str, ...] = ("claude", "gemini")
_family = slot_family


def provider_names() -> tuple[str, ...]:
    """Every registered provider name, sorted (from :data:`PROVIDERS`)."""
    return tuple(PROVIDERS.names())


def __getattr__(name: str) -> Any:
    if name == "PROVIDER_NAMES":  # kept importable; read from the registry
        return provider_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_provider(
    name: str, settings: Settings | None = None, *, slot: str | None = None
) -> Provider:
    """A new provider called ``name``.

    Args:
        name: A registered provider (``mock``, ``replay``, ``anthropic``,
            ``gemini`` or a plugin's).
        settings: Where keys, URLs, timeouts and the cassette come from; the
            process settings if None.
        slot: The slot it will serve. It picks the mock's wording and the real
            backend a recording ``replay`` provider forwards to (``gemini`` slot
            -> gemini, any other -> anthropic).

    Raises:
        ProviderConfigError: unknown name, or the provider's configuration is
            incomplete (missing key, missing extra, no cassette).
    """
    s = settings if settings is not None else get_settings()
    if name not in PROVIDERS:
        raise ProviderConfigError(
            f"unknown provider {name!r}; expected one of: {', '.join(provider_names())}"
        )
    factory = PROVIDERS.get(name)
    options = ProviderOptions(slot=slot, make=lambda other: make_provider(other, s, slot=slot))
    return factory(s, options)


@dataclass(frozen=True)
class SlotBinding:
    """What a slot runs on.

    Attributes:
        provider: Provider name (a registered one or an injected one).
        model: Default model (alias or id); None means the request must name one.
        pin_model: If true, ``model`` replaces the model of every request.
    """

    provider: str
    model: str | None = None
    pin_model: bool = False


SlotProviderFactory = Callable[[str, str], Provider]
"""``(provider name, slot) -> Provider``."""
ProviderWrapper = Callable[[Provider], Provider]


class _Pool:
    """Lazily created provider instances, shared by derived sets. Thread-safe."""

    def __init__(
        self,
        factory: SlotProviderFactory,
        injected: Mapping[str, Provider],
        wrap: ProviderWrapper | None,
    ) -> None:
        self._factory = factory
        self._injected = dict(injected)
        self._wrap = wrap
        self._made: dict[tuple[str, str], Provider] = {}
        self._lock = threading.Lock()

    def knows(self, name: str) -> bool:
        return name in self._injected or name in PROVIDERS

    def get(self, name: str, slot: str) -> Provider:
        injected = self._injected.get(name)
        if injected is not None:
            return injected
        key = (name, slot)
        with self._lock:
            provider = self._made.get(key)
            if provider is None:
                provider = self._factory(name, slot)
                if self._wrap is not None:
                    provider = self._wrap(provider)
                self._made[key] = provider
            return provider


class ProviderSet:
    """Named slots -> (provider, default model). Thread-safe; see the module doc.

    Args:
        bindings: Slot -> binding; the default binds ``claude`` and ``gemini``
            to the mock provider with the settings' default models.
        settings: Source of model aliases, default models and provider config.
        providers: Ready provider instances by name. A binding naming one uses it
            as is (tests inject a :class:`~evofarm.providers.mock.ScriptedProvider`
            this way); other names are built with ``factory``.
        factory: Builds a provider from ``(name, slot)``; :func:`make_provider`
            with ``settings`` by default.
        wrap: Applied to every provider the factory builds (response cache, rate
            limiter); injected providers are used unwrapped.
    """

    def __init__(
        self,
        bindings: Mapping[str, SlotBinding] | None = None,
        *,
        settings: Settings | None = None,
        providers: Mapping[str, Provider] | None = None,
        factory: SlotProviderFactory | None = None,
        wrap: ProviderWrapper | None = None,
    ) -> None:
        self._settings = settings if settings is not None else get_settings()
        self._allowed: frozenset[str] | None = None
        s = self._settings
        if bindings is None:
            bindings = default_bindings("mock", s)
        if factory is None:

            def factory(name: str, slot: str) -> Provider:
                return make_provider(name, s, slot=slot)

        self._pool = _Pool(factory, providers or {}, wrap)
        self._bindings = dict(bindings)
        for slot, binding in self._bindings.items():
            self._check_provider(slot, binding.provider)

    @classmethod
    def for_provider(
        cls,
        name: str = "mock",
        settings: Settings | None = None,
        *,
        wrap: ProviderWrapper | None = None,
    ) -> ProviderSet:
        """Both default slots on ``name`` (``anthropic``: the gemini slot uses gemini)."""
        s = settings if settings is not None else get_settings()
        return cls(default_bindings(name, s), settings=s, wrap=wrap)

    @classmethod
    def using(
        cls,
        provider: Provider,
        *,
        slots: tuple[str, ...] = DEFAULT_SLOTS,
        settings: Settings | None = None,
    ) -> ProviderSet:
        """A set whose every provider name is served by the one ``provider``.

        Overrides may still name ``anthropic``, ``gemini`` ...: slots and models
        are resolved as usual, but the call goes to ``provider``. The sandbox
        child uses this with its pipe (its only way out); the worker then routes
        the concrete request with :meth:`as_provider`.
        """
        s = settings if settings is not None else get_settings()
        defaults = default_bindings("mock", s)
        bindings = {
            slot: SlotBinding(provider.name, defaults[slot].model if slot in defaults else None)
            for slot in slots
        }
        return cls(
            bindings,
            settings=s,
            providers={provider.name: provider},
            factory=lambda _name, _slot: provider,
        )

    @property
    def settings(self) -> Settings:
        """The settings this set resolves aliases and builds providers with."""
        return self._settings

    @property
    def bindings(self) -> dict[str, SlotBinding]:
        """A copy of the slot bindings."""
        return dict(self._bindings)

    def with_overrides(
        self, overrides: Mapping[str, Any] | None, *, pin: bool = False
    ) -> ProviderSet:
        """A set with some slots rebound; provider instances stay shared.

        Args:
            overrides: Slot -> ``{provider?, model?}`` (a mapping or an object with
                ``provider``/``model`` attributes, e.g. a pipeline schema model).
                A new slot must name its provider. A given model becomes the
                slot's default.
            pin: Given models replace the request's model too (see module doc).

        Raises:
            ProviderConfigError: unknown provider, unknown key, wrong value type,
                or a new slot without a provider.
        """
        if not overrides:
            return self
        bindings = dict(self._bindings)
        for slot, raw in overrides.items():
            provider, model = _parse_override(str(slot), raw)
            current = bindings.get(str(slot))
            if provider is None:
                if current is None:
                    raise ProviderConfigError(
                        f"providers.{slot}: a new slot needs a 'provider' "
                        f"(one of: {', '.join(provider_names())})"
                    )
                provider = current.provider
            self._check_provider(str(slot), provider)
            if model is None:
                binding = SlotBinding(
                    provider,
                    current.model if current else None,
                    current.pin_model if current else False,
                )
            else:
                binding = SlotBinding(provider, model, pin_model=pin)
            bindings[str(slot)] = binding
        derived = object.__new__(ProviderSet)
        derived._settings = self._settings
        derived._pool = self._pool
        derived._allowed = self._allowed
        derived._bindings = bindings
        return derived

    def locked(self) -> ProviderSet:
        """This set, refusing any later rebinding to a provider it does not use now.

        A campaign locks the set its candidates run with, so a candidate's own
        ``providers:`` mapping may change models but can never reach a backend the
        campaign did not bind (e.g. ``anthropic`` in an offline mock campaign).
        """
        derived = copy.copy(self)
        derived._allowed = frozenset(b.provider for b in self._bindings.values())
        return derived

    def model_for(self, slot: str, requested: str | None = None) -> str:
        """The concrete model a request on ``slot`` asking for ``requested`` uses.

        Raises:
            ProviderConfigError: unknown slot, or no model at all.
        """
        binding = self._binding(slot)
        model = binding.model if binding.pin_model else (requested or binding.model)
        if not model:
            raise ProviderConfigError(
                f"slot {slot!r} ({binding.provider}) has no default model and the "
                "request names none"
            )
        return resolve_model(model, self._settings)

    def provider_for(self, slot: str) -> Provider:
        """The provider instance serving ``slot`` (built on first use).

        Raises:
            ProviderConfigError: unknown slot or the provider cannot be built.
        """
        return self._pool.get(self._binding(slot).provider, slot)

    def complete(self, slot: str, request: LLMRequest) -> LLMResponse:
        """Send ``request`` to the provider of ``slot`` with the model rules applied.

        Raises:
            ProviderConfigError: unknown slot, no model, provider misconfigured.
            ProviderUnavailable: the provider's retries ran out.
            ReplayMiss: replay-only mode and no recording.
        """
        model = self.model_for(slot, request.model)
        if model != request.model:
            request = request.model_copy(update={"model": model})
        return self.provider_for(slot).complete(request)

    def slot_for_model(self, model: str) -> str:
        """The slot serving a concrete ``model``: ``gemini`` for gemini models
        (if that slot exists), else ``claude``.

        Raises:
            ProviderConfigError: the chosen slot does not exist.
        """
        slot = _family(model.strip().lower())
        if slot == "gemini" and "gemini" not in self._bindings:
            slot = "claude"
        self._binding(slot)
        return slot

    def as_provider(self) -> Provider:
        """One :class:`Provider` over this set: routes by :meth:`slot_for_model`."""
        return _SlotRouter(self)

    def _binding(self, slot: str) -> SlotBinding:
        binding = self._bindings.get(slot)
        if binding is None:
            known = ", ".join(sorted(self._bindings)) or "none"
            raise ProviderConfigError(f"unknown provider slot {slot!r}; slots: {known}")
        return binding

    def _check_provider(self, slot: str, provider: str) -> None:
        if not self._pool.knows(provider):
            raise ProviderConfigError(
                f"providers.{slot}: unknown provider {provider!r}; expected one of: "
                f"{', '.join(provider_names())}"
            )
        if self._allowed is not None and provider not in self._allowed:
            raise ProviderConfigError(
                f"providers.{slot}: provider {provider!r} is not allowed here; "
                f"allowed: {', '.join(sorted(self._allowed))}"
            )


def default_bindings(name: str, settings: Settings) -> dict[str, SlotBinding]:
    """The ``claude`` and ``gemini`` slots for provider ``name``.

    ``anthropic`` puts the gemini slot on ``gemini`` (the two real backends);
    ``mock``, ``replay`` and any plugin provider serve both slots.
    """
    if name not in PROVIDERS:
        raise ProviderConfigError(
            f"unknown provider {name!r}; expected one of: {', '.join(provider_names())}"
        )
    gemini_provider = "gemini" if name == "anthropic" else name
    claude_provider = "anthropic" if name == "gemini" else name
    return {
        "claude": SlotBinding(claude_provider, settings.default_claude_model),
        "gemini": SlotBinding(gemini_provider, settings.default_gemini_model),
    }


_OVERRIDE_KEYS = frozenset({"provider", "model"})


def _parse_override(slot: str, raw: Any) -> tuple[str | None, str | None]:
    """``(provider, model)`` from one ``providers:`` entry."""
    if isinstance(raw, Mapping):
        unknown = set(raw) - _OVERRIDE_KEYS
        if unknown:
            raise ProviderConfigError(
                f"providers.{slot}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                "expected 'provider' and/or 'model'"
            )
        provider, model = raw.get("provider"), raw.get("model")
    elif isinstance(raw, str):
        provider, model = raw, None
    else:
        provider, model = getattr(raw, "provider", None), getattr(raw, "model", None)
    for key, value in (("provider", provider), ("model", model)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ProviderConfigError(
                f"providers.{slot}.{key}: expected a non-empty string, got {value!r}"
            )
    return provider, model


class _SlotRouter:
    """A :class:`Provider` that sends each request to its model family's slot."""

    name = "router"

    def __init__(self, providers: ProviderSet) -> None:
        self._providers = providers

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Route ``request`` by model family; errors as :meth:`ProviderSet.complete`."""
        return self._providers.complete(self._providers.slot_for_model(request.model), request)

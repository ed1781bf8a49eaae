"""Registers the ``anthropic`` provider without importing the Anthropic SDK.

The SDK is slow to import and mock runs never need it, so the registry's
built-in module for ``anthropic`` is this one: the SDK (and
:mod:`evofarm.providers.anthropic`) is imported only when a provider is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evofarm.providers.base import Provider, ProviderOptions, register_provider

if TYPE_CHECKING:
    from evofarm.settings import Settings


def anthropic_factory(settings: Settings, options: ProviderOptions) -> Provider:
    """An :class:`~evofarm.providers.anthropic.AnthropicProvider` from ``settings``.

    Raises:
        ProviderConfigError: no API key configured.
    """
    del options
    from evofarm.providers.anthropic import AnthropicProvider  # noqa: PLC0415 (slow SDK)

    return AnthropicProvider.from_settings(settings)


register_provider("anthropic", anthropic_factory)

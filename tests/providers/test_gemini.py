from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from evofarm.errors import ProviderConfigError
from evofarm.providers.gemini import GeminiProvider
from evofarm.providers.registry import make_provider
from evofarm.settings import Settings

HAS_GENAI = (
    importlib.util.find_spec("google") is not None
    and importlib.util.find_spec("google.genai") is not None
)


def test_missing_key_is_a_clear_config_error() -> None:
    with pytest.raises(ProviderConfigError, match="GEMINI_API_KEY"):
        make_provider("gemini", Settings(gemini_api_key=None))


@pytest.mark.skipif(HAS_GENAI, reason="google-genai is installed")
def test_missing_extra_is_a_clear_config_error() -> None:
    with pytest.raises(ProviderConfigError, match=r"google-genai.*pip install 'evofarm\[gemini\]'"):
        GeminiProvider.from_settings(Settings(gemini_api_key="k"))


def test_provider_modules_import_no_sdk_until_used() -> None:
    code = (
        "import sys\n"
        "import evofarm.providers.registry\n"
        "assert 'google.genai' not in sys.modules, 'google.genai imported'\n"
        "assert 'anthropic' not in sys.modules, 'anthropic imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

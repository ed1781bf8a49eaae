"""pipeline_ex's model aliases (haiku, sonnet, opus) and their concrete ids.

The ids come from settings (``EVOFARM_MODEL_HAIKU`` ...), so a deployment can move
an alias to a newer model without touching any pipeline.
"""

from __future__ import annotations

from evofarm.settings import Settings, get_settings

MODEL_ALIASES: tuple[str, ...] = ("haiku", "sonnet", "opus")


def alias_map(settings: Settings | None = None) -> dict[str, str]:
    """Alias -> concrete model id, from ``settings`` (process settings if None)."""
    s = settings if settings is not None else get_settings()
    return {"haiku": s.model_haiku, "sonnet": s.model_sonnet, "opus": s.model_opus}


def resolve_model(model: str, settings: Settings | None = None) -> str:
    """The concrete id for ``model``: an alias is mapped, anything else is kept.

    Matching is case-insensitive and ignores surrounding blanks for aliases only;
    a concrete id is passed through untouched.
    """
    return alias_map(settings).get(model.strip().lower(), model)

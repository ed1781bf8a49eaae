"""The one cost path: a provider wrapper that prices, budgets and counts every call.

:class:`MeteredProvider` sits outermost around a campaign's provider (outside
the response cache and the rate limiter) in the process that makes the real
call: the in-process loop, or the farm worker that relays a sandboxed
candidate's calls. It never trusts what a candidate reports: it counts the
response the provider returned.

For each call it

1. resolves the model alias and clamps ``max_tokens`` to the model's and the
   campaign's limit;
2. looks up the price in the campaign's catalogue, then the default table; a
   budgeted campaign refuses a model with no known price
   (:class:`~evofarm.errors.ProviderConfigError`), an unbudgeted one counts it at 0;
3. reserves the worst case in the :class:`~evofarm.providers.ledger.BudgetLedger`:
   :func:`max_input_tokens` (an upper bound: one token per UTF-8 byte plus a
   per-message overhead) plus ``max_tokens``, at the price; a refusal raises
   :class:`~evofarm.errors.BudgetExceeded` before anything is sent;
4. sends the call, then settles the reservation to the billed usage at the
   price (a cached answer is free and counted apart). A call that raised is
   released: the providers here retry inside ``complete`` and a failed request
   is not billed.

The response's ``cost_usd`` is replaced by the ledger's figure, so traces,
summaries and budgets agree. Thread-safe if the inner provider and ledger are.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable

from evofarm.errors import ProviderConfigError
from evofarm.providers.base import LLMRequest, LLMResponse, Provider, Usage
from evofarm.providers.ledger import MICRO, BudgetLedger, Charge, Role
from evofarm.providers.pricing import ModelPrice, PriceTable

#: Tokens of framing a message or the system prompt may add to its content.
MESSAGE_OVERHEAD_TOKENS = 8


def max_input_tokens(request: LLMRequest) -> int:
    """An upper bound of the input tokens ``request`` can be billed for.

    A token covers at least one byte of UTF-8, so the byte length bounds the
    content; each message (and the system prompt and a response schema)
    adds a small fixed overhead.
    """
    parts = [m.content for m in request.messages] + [request.system or ""]
    total = sum(len(p.encode()) for p in parts)
    if request.response_schema is not None:
        total += len(str(request.response_schema).encode()) + 64
    total += sum(len(s.encode()) for s in request.stop_sequences)
    return total + MESSAGE_OVERHEAD_TOKENS * (len(request.messages) + 2)


def micro(usd: float) -> int:
    """US dollars as micro-dollars, rounded up (a worst case never under-books)."""
    return math.ceil(usd * MICRO - 1e-9)


class MeteredProvider:
    """Budgets and counts every call to ``inner`` (see the module docs).

    Args:
        inner: The provider (with its cache and rate limiter inside).
        ledger: The campaign's ledger.
        prices: The campaign's catalogue merged over the default table.
        role: What these calls are for (``evaluation``, ``proposer``, ``judge``).
        resolve_model: Alias -> concrete model id (``haiku`` -> ``claude-haiku-4-5``).
        budgeted: Refuse models with no known price.
        max_output_tokens: The campaign's cap on ``max_tokens`` (None: the request's).
        allowed_models: Concrete ids a call may use (the campaign's catalogue);
            None allows any.
        new_call_id: Makes a unique call id (tests inject a deterministic one).
    """

    def __init__(
        self,
        inner: Provider,
        ledger: BudgetLedger,
        *,
        prices: PriceTable,
        role: Role = "evaluation",
        resolve_model: Callable[[str], str] = lambda m: m,
        budgeted: bool = False,
        max_output_tokens: int | None = None,
        allowed_models: frozenset[str] | None = None,
        new_call_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.allowed_models = allowed_models
        self.inner = inner
        self.name = inner.name
        self.ledger = ledger
        self.prices = prices
        self.role: Role = role
        self.budgeted = budgeted
        self.max_output_tokens = max_output_tokens
        self._resolve = resolve_model
        self._new_id = new_call_id
        self.deterministic = bool(getattr(inner, "deterministic", False))

    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (alias or id): catalogue first, then by concrete id."""
        return self.prices.price_of(model) or self.prices.price_of(self._resolve(model))

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Reserve, call, settle.

        Raises:
            BudgetExceeded: the call's worst case would cross a budget (not sent).
            ProviderConfigError: a budgeted campaign and a model with no known price,
                or a model outside the campaign's catalogue.
            ProviderError: whatever ``inner`` raises (the reservation is released).
        """
        if self.allowed_models is not None and (
            self._resolve(request.model) not in self.allowed_models
            and request.model not in self.allowed_models
        ):
            raise ProviderConfigError(
                f"model {request.model!r} is not in the campaign's models: catalogue "
                f"({', '.join(sorted(self.allowed_models))})"
            )
        price = self.price(request.model)
        if price is None and self.budgeted:
            raise ProviderConfigError(
                f"model {request.model!r} has no known price; a campaign with a token or USD "
                "budget refuses it (add it with its prices to the campaign's models:)"
            )
        if self.max_output_tokens is not None and request.max_tokens > self.max_output_tokens:
            request = request.model_copy(update={"max_tokens": self.max_output_tokens})
        worst_in = max_input_tokens(request)
        worst = Usage(input_tokens=worst_in, output_tokens=request.max_tokens)
        call_id = self._new_id()
        self.ledger.reserve(
            call_id,
            tokens=worst.total_tokens,
            micro_usd=micro(price.cost(worst)) if price is not None else 0,
            role=self.role,
        )
        try:
            response = self.inner.complete(request)
        except BaseException:
            self.ledger.release(call_id)
            raise
        cached = response.cached
        usage = Usage() if cached else response.usage
        cost_micro = round(price.cost(usage) * MICRO) if price is not None else 0
        self.ledger.settle(
            Charge(
                call_id=call_id,
                role=self.role,
                provider=response.provider,
                model=response.model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                micro_usd=cost_micro,
                cached=cached,
            )
        )
        cost = (
            price.cost(response.usage) if price is not None else 0.0
        )  # a hit keeps its original cost in the trace (fitness must not depend on hits)
        return response.model_copy(update={"cost_usd": cost})

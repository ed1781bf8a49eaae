"""The store conformance suite: every :class:`PopulationStore` backend must pass it.

The memory and Redis backends run it (``tests/store/``); so can a third-party
backend, like Optuna's storage tests. Subclass :class:`StoreConformance` in a test
module (pytest collects the subclass by its ``Test`` name) and give it a ``store``
fixture yielding a fresh, empty store; every test then runs against it::

    # tests/test_my_store.py
    from collections.abc import Iterator

    import pytest

    from evofarm.testing.store_conformance import StoreConformance
    from mypkg.store import MyStore


    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self) -> Iterator[MyStore]:
            store = MyStore.from_url("mystore://localhost/test")
            try:
                yield store
            finally:
                store.drop_everything()
                store.close()

What is checked: the contracts in :mod:`evofarm.store.base` (put-if-absent
genomes, evaluations recorded and counted exactly once under concurrency and
redelivery, exact counters and budget reservations, checkpoints written once
with their history, FIFO events with blocking waits, the lease, namespacing and
id validation), with :class:`~evofarm.errors.StoreError` for every refusal. The
``store`` fixture must be function-scoped (a fresh store per test); the
property-based test reuses it across its examples on distinct campaign ids.

Requires pytest and hypothesis (the ``test`` extra).
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evofarm.errors import StoreError
from evofarm.store.base import Checkpoint, EvalKey, PopulationStore

C = "camp-1"


def _genome(gid: str, **extra: object) -> dict[str, object]:
    return {"id": gid, "generation": 0, "parents": [], "pipeline": {"steps": []}, **extra}


class StoreConformance:
    """The conformance tests; subclass with a ``store`` fixture (see the module doc).

    Each test is a method taking ``store``; none keeps state on the instance.
    """

    def test_the_store_satisfies_the_protocol(self, store: PopulationStore) -> None:
        assert isinstance(store, PopulationStore)

    # ---- campaigns -----------------------------------------------------------------

    def test_create_get_and_list_campaigns(self, store: PopulationStore) -> None:
        rec = store.create_campaign(C, {"name": "demo", "seed": 3}, info={"owner": "me"})
        assert rec.id == C and rec.status == "submitted" and rec.reason == ""
        assert rec.spec == {"name": "demo", "seed": 3}
        assert rec.info == {"owner": "me"}
        time.sleep(0.002)
        store.create_campaign("camp-2", {"name": "other"})
        assert [r.id for r in store.list_campaigns()] == [C, "camp-2"]
        got = store.get_campaign(C)
        assert got is not None and got.spec["seed"] == 3
        assert store.get_campaign("nope") is None

    def test_creating_a_campaign_twice_fails(self, store: PopulationStore) -> None:
        store.create_campaign(C, {})
        with pytest.raises(StoreError, match="already exists"):
            store.create_campaign(C, {})

    @pytest.mark.parametrize("bad", ["", "a:b", "x*", "has space", "-lead", "a" * 200])
    def test_invalid_campaign_ids_are_refused(self, store: PopulationStore, bad: str) -> None:
        with pytest.raises(StoreError, match="invalid campaign id"):
            store.create_campaign(bad, {})

    def test_transition_only_from_allowed_states(self, store: PopulationStore) -> None:
        store.create_campaign(C, {})
        assert store.transition(C, {"submitted"}, "running", "started")
        assert not store.transition(C, {"submitted"}, "running", "again")
        assert store.transition(C, {"running"}, "killed", "kill switch")
        rec = store.get_campaign(C)
        assert rec is not None and (rec.status, rec.reason) == ("killed", "kill switch")
        assert rec.updated_at >= rec.created_at
        with pytest.raises(StoreError, match="no campaign"):
            store.transition("ghost", {"submitted"}, "running", "")

    def test_status_and_info_fields_alone(self, store: PopulationStore) -> None:
        assert store.get_status(C) is None
        store.create_campaign(C, {"big": "x" * 1000}, info={"a": "1"})
        assert store.get_status(C) == "submitted"
        assert store.get_info(C, "a") == "1"
        assert store.get_info(C, "b") is None
        store.transition(C, {"submitted"}, "running", "go")
        assert store.get_status(C) == "running"

    def test_update_info_and_delete(self, store: PopulationStore) -> None:
        store.create_campaign(C, {})
        store.update_info(C, {"scheduler": "host:1", "started_at": "12.5"})
        store.put_genome(C, _genome("g1"))
        store.add_counters(C, {"x": 1})
        rec = store.get_campaign(C)
        assert rec is not None and rec.info == {"scheduler": "host:1", "started_at": "12.5"}
        store.delete_campaign(C)
        assert store.get_campaign(C) is None
        assert store.genome_ids(C) == set()
        assert store.counters(C) == {}
        assert store.list_campaigns() == []
        store.delete_campaign(C)  # idempotent

    # ---- genomes -------------------------------------------------------------------

    def test_genomes_are_put_if_absent_by_id(self, store: PopulationStore) -> None:
        assert store.put_genome(C, _genome("abc", traits={"k": 1}))
        assert not store.put_genome(C, _genome("abc", traits={"k": 2}))
        got = store.get_genome(C, "abc")
        assert got is not None and got["traits"] == {"k": 1}
        assert store.get_genome(C, "zzz") is None
        store.put_genome(C, _genome("def"))
        assert store.get_genomes(C, ["def", "missing", "abc"]) == [
            _genome("def"),
            None,
            _genome("abc", traits={"k": 1}),
        ]
        assert store.get_genomes(C, []) == []
        assert store.genome_ids(C) == {"abc", "def"}

    def test_stored_documents_are_copies(self, store: PopulationStore) -> None:
        doc = _genome("abc")
        store.put_genome(C, doc)
        doc["generation"] = 99
        got = store.get_genome(C, "abc")
        assert got is not None and got["generation"] == 0

    def test_genome_without_id_or_non_json_is_refused(self, store: PopulationStore) -> None:
        with pytest.raises(StoreError, match="'id'"):
            store.put_genome(C, {"pipeline": {}})
        with pytest.raises(StoreError, match="JSON"):
            store.put_genome(C, {"id": "x", "bad": object()})
        with pytest.raises(StoreError, match="JSON"):
            store.put_genome(C, {"id": "x", "bad": float("nan")})

    def test_campaigns_are_namespaced(self, store: PopulationStore) -> None:
        store.put_genome("a", _genome("g"))
        store.record_evaluation("a", EvalKey("g", "s", "1"), {"score": 1.0}, tokens=5)
        assert store.get_genome("b", "g") is None
        assert store.evaluation_keys("b") == set()
        assert store.counters("b") == {}
        assert store.counters("a")["tokens"] == 5

    # ---- evaluations ----------------------------------------------------------------

    def test_evaluations_are_recorded_once_and_counted_once(self, store: PopulationStore) -> None:
        key = EvalKey("g1", "suite", "full")
        first = store.record_evaluation(C, key, {"score": 0.5}, tokens=100, cost_micro_usd=7)
        again = store.record_evaluation(C, key, {"score": 0.9}, tokens=100, cost_micro_usd=7)
        assert first.recorded and not again.recorded
        assert store.get_evaluation(C, key) == {"score": 0.5}
        other = EvalKey("g1", "suite", "quick")
        store.record_evaluation(C, other, {"score": 0.1}, tokens=1, failed=True)
        counters = store.counters(C)
        assert counters["evaluations"] == 2
        assert counters["tokens"] == 101
        assert counters["cost_micro_usd"] == 7
        assert counters["failures"] == 1
        assert counters["duplicates"] == 1
        assert store.evaluation_keys(C) == {key, other}
        assert store.get_evaluations(C, [other, EvalKey("x", "suite", "full"), key]) == [
            {"score": 0.1},
            None,
            {"score": 0.5},
        ]

    def test_partial_evaluations_count_case_runs_not_evaluations(
        self, store: PopulationStore
    ) -> None:
        stage = EvalKey("g1", "suite", "0.25")
        full = EvalKey("g1", "suite", "1.0")
        assert store.record_evaluation(
            C, stage, {"score": 0.2}, tokens=4, case_runs=5, partial=True, failed=True
        ).recorded
        again = store.record_evaluation(C, stage, {"score": 0.2}, case_runs=5, partial=True)
        assert not again.recorded
        store.record_evaluation(C, full, {"score": 0.4}, tokens=6, case_runs=19)
        counters = store.counters(C)
        assert (counters["evaluations"], counters.get("failures", 0)) == (1, 0)
        assert (counters["case_runs"], counters["tokens"]) == (24, 10)
        assert store.evaluation_keys(C) == {stage, full}
        assert store.get_evaluation(C, stage) == {"score": 0.2}

    def test_concurrent_redeliveries_count_exactly_once(self, store: PopulationStore) -> None:
        keys = [EvalKey(f"g{i}", "s", "1") for i in range(20)]

        def worker() -> None:
            for k in keys:
                store.record_evaluation(C, k, {"g": k.genome_id}, tokens=3, cost_micro_usd=2)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counters = store.counters(C)
        assert counters["evaluations"] == 20
        assert counters["tokens"] == 60
        assert counters["cost_micro_usd"] == 40
        assert counters["duplicates"] == 60

    @settings(
        max_examples=40,
        deadline=None,
        # One method runs for every subclass (each backend): it keeps no state on
        # the instance, so the executors differing is harmless.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        ops=st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 50), st.integers(0, 9), st.booleans()),
            max_size=25,
        )
    )
    def test_counters_match_a_model_of_first_records(
        self, store: PopulationStore, ops: list[tuple[int, int, int, bool]]
    ) -> None:
        campaign = f"h{time.monotonic_ns()}"
        first: dict[int, tuple[int, int, bool]] = {}
        for genome, tokens, cost, failed in ops:
            outcome = store.record_evaluation(
                campaign,
                EvalKey(f"g{genome}", "s", "1"),
                {"n": genome},
                tokens=tokens,
                cost_micro_usd=cost,
                failed=failed,
            )
            assert outcome.recorded == (genome not in first)
            first.setdefault(genome, (tokens, cost, failed))
        counters = store.counters(campaign)
        assert counters.get("evaluations", 0) == len(first)
        assert counters.get("tokens", 0) == sum(t for t, _, _ in first.values())
        assert counters.get("cost_micro_usd", 0) == sum(c for _, c, _ in first.values())
        assert counters.get("failures", 0) == sum(1 for _, _, f in first.values() if f)
        assert counters.get("duplicates", 0) == len(ops) - len(first)

    def test_bad_key_parts_are_refused(self, store: PopulationStore) -> None:
        with pytest.raises(StoreError, match="genome id"):
            store.record_evaluation(C, EvalKey("a:b", "s", "1"), {})

    # ---- budgets -------------------------------------------------------------------

    def test_record_flags_the_first_budget_crossed(self, store: PopulationStore) -> None:
        store.set_budgets(C, {"tokens": 100, "evaluations": 10})
        assert store.budgets(C) == {"tokens": 100, "evaluations": 10}
        out = store.record_evaluation(C, EvalKey("a", "s", "1"), {}, tokens=60)
        assert out.crossed_budget is None and store.crossed_budget(C) is None
        out = store.record_evaluation(C, EvalKey("b", "s", "1"), {}, tokens=40)
        assert out.crossed_budget == "tokens"
        store.set_budgets(C, {"evaluations": 2, "tokens": 10_000})
        out = store.record_evaluation(C, EvalKey("c", "s", "1"), {}, tokens=1)
        assert out.crossed_budget == "tokens"  # the first one crossed is kept
        assert store.mark_budget_crossed(C, "wall_s") == "tokens"

    def test_two_budgets_crossed_at_once_flag_deterministically(
        self, store: PopulationStore
    ) -> None:
        store.set_budgets(C, {"tokens": 1, "cost_micro_usd": 1})
        out = store.record_evaluation(C, EvalKey("a", "s", "1"), {}, tokens=5, cost_micro_usd=5)
        assert out.crossed_budget == "cost_micro_usd"

    def test_mark_budget_crossed(self, store: PopulationStore) -> None:
        assert store.crossed_budget(C) is None
        assert store.mark_budget_crossed(C, "wall_s") == "wall_s"
        assert store.mark_budget_crossed(C, "tokens") == "wall_s"
        assert store.crossed_budget(C) == "wall_s"

    def test_reserve_is_check_and_add(self, store: PopulationStore) -> None:
        store.set_budgets(C, {"evaluations": 5})
        assert store.reserve(C, "evaluations", 3)
        assert not store.reserve(C, "evaluations", 3)
        assert store.reserve(C, "evaluations", 2)
        assert not store.reserve(C, "evaluations", 1)
        assert store.reserved(C) == {"evaluations": 5}
        assert store.reserve(C, "unlimited", 1000)

    def test_concurrent_reservations_never_exceed_the_limit(self, store: PopulationStore) -> None:
        store.set_budgets(C, {"evaluations": 37})
        granted: list[bool] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(20):
                ok = store.reserve(C, "evaluations", 1)
                with lock:
                    granted.append(ok)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(granted) == 37
        assert store.reserved(C)["evaluations"] == 37

    def test_add_counters_is_atomic_and_returns_totals(self, store: PopulationStore) -> None:
        assert store.add_counters(C, {"a": 2, "b": 5})["a"] == 2
        totals = store.add_counters(C, {"a": 3})
        assert totals["a"] == 5 and totals["b"] == 5
        assert store.counters(C) == {"a": 5, "b": 5}

    # ---- lineage, checkpoints, history, museum ------------------------------------

    def test_lineage_has_set_semantics(self, store: PopulationStore) -> None:
        e1 = {"parent": "a", "child": "b", "op": "mutate", "generation": 1}
        e2 = {"parent": "a", "child": "c", "op": "crossover", "generation": 1}
        assert store.add_lineage(C, [e1, e2]) == 2
        assert store.add_lineage(C, [dict(reversed(list(e1.items())))]) == 0
        assert store.add_lineage(C, []) == 0
        assert sorted(store.lineage(C), key=lambda e: e["child"]) == [e1, e2]

    def test_checkpoints_are_written_once_with_their_history(self, store: PopulationStore) -> None:
        assert store.load_checkpoint(C) is None
        assert store.save_checkpoint(C, 0, {"gen": 0}, history=[{"generation": 0, "best": 0.1}])
        assert store.save_checkpoint(C, 1, {"gen": 1}, history=[{"generation": 1, "best": 0.2}])
        assert not store.save_checkpoint(C, 1, {"gen": "other"}, history=[{"dup": True}])
        assert store.load_checkpoint(C) == Checkpoint(1, {"gen": 1})
        assert store.load_checkpoint(C, 0) == Checkpoint(0, {"gen": 0})
        assert store.load_checkpoint(C, 7) is None
        assert store.read_history(C) == [
            {"generation": 0, "best": 0.1},
            {"generation": 1, "best": 0.2},
        ]

    def test_history_appends_in_order(self, store: PopulationStore) -> None:
        store.append_history(C, [{"i": 1}, {"i": 2}])
        store.append_history(C, [])
        store.append_history(C, [{"i": 3}])
        assert [e["i"] for e in store.read_history(C)] == [1, 2, 3]

    def test_history_tail_from_an_index(self, store: PopulationStore) -> None:
        store.append_history(C, [{"i": 1}, {"i": 2}, {"i": 3}])
        assert [e["i"] for e in store.read_history(C, start=2)] == [3]
        assert store.read_history(C, start=3) == []
        assert store.read_history(C, start=9) == []
        assert [e["i"] for e in store.read_history(C, start=0)] == [1, 2, 3]

    def test_museum_entries_are_unique_by_id(self, store: PopulationStore) -> None:
        assert store.add_to_museum(C, "g2|s|1", {"reason": "timeout"})
        assert store.add_to_museum(C, "g1|s|1", {"reason": "bad output"})
        assert not store.add_to_museum(C, "g2|s|1", {"reason": "again"})
        assert store.museum(C) == [{"reason": "bad output"}, {"reason": "timeout"}]

    def test_task_results_are_kept_once_per_slot(self, store: PopulationStore) -> None:
        assert store.put_task_result(C, 3, "breed", 1, {"slot": 1, "genome": "b"})
        assert store.put_task_result(C, 3, "breed", 0, {"slot": 0, "genome": None})
        assert not store.put_task_result(C, 3, "breed", 1, {"slot": 1, "genome": "other"})
        assert store.task_results(C, 3, "breed") == {
            0: {"slot": 0, "genome": None},
            1: {"slot": 1, "genome": "b"},
        }
        assert list(store.task_results(C, 3, "breed")) == [0, 1]
        assert store.task_results(C, 4, "breed") == {}
        assert store.task_results(C, 3, "other") == {}

    # ---- in-flight, events, lease ----------------------------------------------------

    def test_inflight_tracking(self, store: PopulationStore) -> None:
        store.add_inflight(C, ["t1", "t2", "t3"])
        store.add_inflight(C, [])
        store.remove_inflight(C, ["t2"])
        store.remove_inflight(C, ["unknown"])
        store.remove_inflight(C, [])
        assert store.inflight(C) == {"t1", "t3"}
        store.add_inflight(C, ["t4", "t5"])
        store.remove_inflight(C, ["t1", "t5", "gone"])
        assert store.inflight(C) == {"t3", "t4"}
        # A lone id is a caller's bug (its characters would be taken as ids): refused.
        with pytest.raises(TypeError):
            store.remove_inflight(C, "t3")
        with pytest.raises(TypeError):
            store.add_inflight(C, "t9")
        assert store.inflight(C) == {"t3", "t4"}

    def test_events_are_fifo_and_wait_times_out(self, store: PopulationStore) -> None:
        store.push_event(C, "gen-1", {"n": 1})
        store.push_event(C, "gen-1", {"n": 2})
        assert store.wait_event(C, "gen-1", 1.0) == {"n": 1}
        assert store.wait_event(C, "gen-1", 0) == {"n": 2}
        assert store.wait_event(C, "gen-1", 0) is None
        started = time.monotonic()
        assert store.wait_event(C, "gen-1", 0.2) is None
        assert 0.15 <= time.monotonic() - started < 2.0

    def test_wait_event_wakes_on_push_from_another_thread(self, store: PopulationStore) -> None:
        def later() -> None:
            time.sleep(0.1)
            store.push_event(C, "done", {"ok": True})

        thread = threading.Thread(target=later)
        started = time.monotonic()
        thread.start()
        assert store.wait_event(C, "done", 5.0) == {"ok": True}
        assert time.monotonic() - started < 2.0
        thread.join()

    def test_lease_has_one_owner_until_released_or_expired(self, store: PopulationStore) -> None:
        assert store.acquire_lease(C, "s1", 5.0)
        assert store.acquire_lease(C, "s1", 5.0)  # renewal
        assert not store.acquire_lease(C, "s2", 5.0)
        store.release_lease(C, "s2")  # not the owner: no effect
        assert not store.acquire_lease(C, "s2", 5.0)
        store.release_lease(C, "s1")
        assert store.acquire_lease(C, "s2", 0.05)
        time.sleep(0.12)
        assert store.acquire_lease(C, "s1", 5.0)

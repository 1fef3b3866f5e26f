"""Fan-outs in AWS (catalog.FanOut -> infra/constructs/fan_out.py): the state machine's definition
as the catalog declares it (a Distributed Map with its ceiling, no failure tolerated, the finish
told of a failure), the rule that starts it, and the definition itself run in this process over a
real sweep with the function's Lambda handler (moto does not execute a Distributed Map)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.infra.conftest import Synthesized
from tests.infra.states import TaskFailed, render, run
from tests.infra.test_stack import by_name, queue_ids, refs
from tests.integration.test_lambda_functions import LambdaContext
from trading_system.bootstrap import Container, bootstrap
from trading_system.catalog import CATALOG, FanOut, Function
from trading_system.config import load_settings
from trading_system.kernel.jobs import JobStatus
from trading_system.market_data.commands import BarRow, IngestBars, RegisterSymbol
from trading_system.strategies.commands import SubmitSweep, SweepRequest
from trading_system.strategies.events import SweepRequested
from trading_system.strategies.jobs import SweepJob
from trading_system.strategies.vector import STAT_KEYS

pytestmark = pytest.mark.xdist_group("infra")

FAN_OUTS = [e for e in CATALOG if isinstance(e.trigger, FanOut)]


def machine_of(synthesized: Synthesized, entry: Function) -> tuple[str, dict[str, Any]]:
    arn = f"arn:{synthesized.function_id(entry)}"
    machines = synthesized.of_type("AWS::StepFunctions::StateMachine").items()
    definitions = [(machine_id, render(m["Properties"]["DefinitionString"])) for machine_id, m in machines]
    (machine,) = [(machine_id, d) for machine_id, d in definitions if arn in json.dumps(d)]
    return machine


def rule_of(synthesized: Synthesized, machine_id: str) -> dict[str, Any]:
    (rule,) = [
        r["Properties"]
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if any(refs(t["Arn"]) == {machine_id} for t in r["Properties"]["Targets"])
    ]
    return rule


def test_every_state_machine_belongs_to_a_fan_out(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::StepFunctions::StateMachine")) == len(FAN_OUTS) > 0


@pytest.mark.parametrize("entry", FAN_OUTS, ids=by_name)
def test_the_items_run_in_a_distributed_map_within_the_catalogs_ceiling(
    synthesized: Synthesized, entry: Function
) -> None:
    fan_out = entry.trigger
    assert isinstance(fan_out, FanOut)
    _, definition = machine_of(synthesized, entry)
    states = definition["States"]
    (items,) = [s for s in states.values() if s["Type"] == "Map"]
    assert items["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert items["MaxConcurrency"] == fan_out.max_concurrency
    assert items.get("ToleratedFailurePercentage", 0) == 0 and "ToleratedFailureCount" not in items
    assert items["ResultPath"] is None  # the items' answers stay out of the execution's state
    assert items["ItemSelector"]["command"] == fan_out.each
    (caught,) = items["Catch"]
    assert caught["ErrorEquals"] == ["States.ALL"]
    assert states[caught["Next"]]["Parameters"]["command"] == fan_out.finish
    assert states[caught["Next"]]["Parameters"]["error.$"] == caught["ResultPath"]
    assert states[items["Next"]]["Parameters"]["command"] == fan_out.finish
    assert states[definition["StartAt"]]["Parameters"]["command"] == fan_out.plan
    # every step invokes this function and nothing else; a throttled item is retried
    tasks = [s for s in states.values() if s["Type"] == "Task"] + list(
        items["ItemProcessor"]["States"].values()
    )
    assert {t["Resource"] for t in tasks} == {f"arn:{synthesized.function_id(entry)}"}
    (item,) = items["ItemProcessor"]["States"].values()
    assert any("Lambda.TooManyRequestsException" in r["ErrorEquals"] for r in item["Retry"])
    assert 0 < definition["TimeoutSeconds"] <= 24 * 3600
    reserved = synthesized.function(entry)["Properties"]["ReservedConcurrentExecutions"]
    assert reserved >= fan_out.max_concurrency


@pytest.mark.parametrize("entry", FAN_OUTS, ids=by_name)
def test_the_event_starts_the_state_machine_with_its_payload(
    synthesized: Synthesized, entry: Function
) -> None:
    assert isinstance(entry.trigger, FanOut)
    machine_id, _ = machine_of(synthesized, entry)
    rule = rule_of(synthesized, machine_id)
    assert rule["EventPattern"]["detail-type"] == [entry.trigger.event]
    assert refs(rule["EventBusName"]) == set(synthesized.of_type("AWS::Events::EventBus"))
    (target,) = rule["Targets"]
    assert refs(target["DeadLetterConfig"]["Arn"]) <= queue_ids(synthesized)
    assert 0 < target["RetryPolicy"]["MaximumRetryAttempts"] <= 3
    paths = target["InputTransformer"]["InputPathsMap"]
    assert set(paths.values()) == {"$.detail.payload", "$.detail.correlation_id"}


@pytest.mark.parametrize("entry", FAN_OUTS, ids=by_name)
def test_the_state_machine_may_invoke_only_its_function(synthesized: Synthesized, entry: Function) -> None:
    machine_id, _ = machine_of(synthesized, entry)
    role_id = synthesized.resources[machine_id]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in synthesized.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoking = [s for s in statements if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    assert invoking and all(refs(s["Resource"]) == {synthesized.function_id(entry)} for s in invoking)


# --- the definition run in process, on a real sweep -------------------------------------------------


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    """A local data folder with two symbols' bars and one completed sweep; the Lambda handler is
    imported afresh over it, in blocks of one backtest (so the Map has several items)."""
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRADING_SWEEP_BLOCK_BACKTESTS", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TradingTest")
    container = bootstrap(load_settings())
    rng = np.random.default_rng(3)
    for symbol in ("GOOG", "TWIN"):
        container.bus.execute(RegisterSymbol(symbol=symbol))
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
        day = datetime(2020, 1, 1, tzinfo=UTC)
        rows = [
            BarRow(
                ts=(day + timedelta(days=i)).strftime("%Y-%m-%d"),
                open=Decimal(f"{c * 0.999:.4f}"),
                high=Decimal(f"{c * 1.01:.4f}"),
                low=Decimal(f"{c * 0.99:.4f}"),
                close=Decimal(f"{c:.4f}"),
                volume=1_000_000,
            )
            for i, c in enumerate(close)
        ]
        container.bus.execute(IngestBars(timeframe="1d", symbol=symbol, bars=rows))
    yield container
    for name in [m for m in sys.modules if m.startswith("functions.")]:
        del sys.modules[name]


def run_in_states(
    synthesized: Synthesized,
    container: Container,
    done: SweepJob,
    sweep_id: str,
    queue: bool = True,
    **changes: Any,
) -> Any:
    """The sweep queued again as `sweep_id` (with `changes`; as it is unless `queue`), started the
    way the rule starts it, run by the definition with the Lambda handler in process."""
    entry = next(e for e in FAN_OUTS if e.name == "run_sweeps")
    queued = done.model_copy(
        update={
            "sweep_id": sweep_id,
            "status": JobStatus.QUEUED,
            "outcome": None,
            "started_at": None,
            **changes,
        }
    )
    if queue:
        container.sweeps.add(queued)
    machine_id, definition = machine_of(synthesized, entry)
    event = SweepRequested(sweep_id=sweep_id, strategy=done.strategy_name, backtests=1)
    transformer = rule_of(synthesized, machine_id)["Targets"][0]["InputTransformer"]
    values = {"detail-payload": event.model_dump(mode="json"), "detail-correlation_id": "corr-1"}
    text = transformer["InputTemplate"]
    for name in transformer["InputPathsMap"]:
        text = text.replace(f"<{name}>", json.dumps(values[name]))
    for name in [m for m in sys.modules if m.startswith("functions.")]:
        del sys.modules[name]
    handler = importlib.import_module(entry.module).handler
    invoked: list[str] = []

    def invoke(function_id: str, payload: dict[str, Any]) -> Any:
        assert function_id == synthesized.function_id(entry)
        invoked.append(payload["command"])
        try:
            return handler(json.loads(json.dumps(payload)), LambdaContext())
        except Exception as error:
            cause = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
            raise TaskFailed(type(error).__name__, cause) from error

    run(definition, json.loads(text), invoke)
    return invoked


def test_the_definition_runs_a_sweep_to_the_same_results_as_the_local_runtime(
    synthesized: Synthesized, data: Container
) -> None:
    request = SweepRequest.model_validate(
        {
            "strategy": "sma_cross",
            "symbols": ["GOOG", "TWIN"],
            "sweep": {"grid": {"n1": [5, 10], "n2": [30, 60]}},
        }
    )
    local = data.bus.execute(SubmitSweep(request=request))
    done = data.sweeps.get(local.sweep_id)
    assert done is not None and done.status is JobStatus.COMPLETED

    invoked = run_in_states(synthesized, data, done, "sw_in_states")
    assert invoked == ["PlanSweep", "RunSweepBlock", "RunSweepBlock", "FinishSweep"]
    ran = data.sweeps.get("sw_in_states")
    assert ran is not None and ran.status is JobStatus.COMPLETED, ran
    assert ran.require_results().best == done.require_results().best
    symbols, combos = request.symbols, len(done.combinations)
    assert np.array_equal(
        data.sweep_results.read("sw_in_states", symbols, STAT_KEYS, combos),
        data.sweep_results.read(done.sweep_id, symbols, STAT_KEYS, combos),
        equal_nan=True,
    )
    # started again (a redelivered event): the plan finds it finished and nothing runs
    assert run_in_states(synthesized, data, ran, "sw_in_states", queue=False) == ["PlanSweep"]
    assert data.sweeps.get("sw_in_states") == ran


def test_a_failed_item_fails_the_sweep_with_the_items_own_error(
    synthesized: Synthesized, data: Container
) -> None:
    request = SweepRequest.model_validate(
        {"strategy": "sma_cross", "symbols": ["GOOG", "TWIN"], "sweep": {"grid": {"n1": [5], "n2": [30]}}}
    )
    done = data.sweeps.get(data.bus.execute(SubmitSweep(request=request)).sweep_id)
    assert done is not None
    # the second symbol is gone by the time its block runs
    gone = request.model_copy(update={"symbols": ["GOOG", "GONE"]})
    invoked = run_in_states(synthesized, data, done, "sw_failing", request=gone)
    assert invoked == ["PlanSweep", "RunSweepBlock", "RunSweepBlock", "FinishSweep"]
    failed = data.sweeps.get("sw_failing")
    assert failed is not None and failed.status is JobStatus.FAILED
    assert "GONE" in (failed.error or "") and "threshold" not in (failed.error or ""), failed.error
    assert data.lake.files.list_files("sweeps/sweep_id=sw_failing/") == []

"""invoke load: the mix, the client figures, the projection and the pricing file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mirante import settings as settings_mod
from mirante.errors import BadArgument, PricingError
from mirante.load import generator, projection, signals
from tests.helpers import REPO, cli, run_as_user


def test_a_mix_is_kinds_with_optional_weights_as_shares() -> None:
    assert generator.parse_mix("healthy,llm") == {"healthy": 0.5, "llm": 0.5}
    assert generator.parse_mix(" healthy=3, errors=1 ") == {"healthy": 0.75, "errors": 0.25}
    assert sum(generator.parse_mix(generator.DEFAULT_MIX).values()) == pytest.approx(1)


@pytest.mark.parametrize(
    ("mix", "said"),
    [
        ("healthy,bogus", "'bogus' is not one"),
        ("healthy=0", "the weight of healthy is not above 0"),
        ("llm=-2", "the weight of llm is not above 0"),
        ("llm=x", "the weight of llm is not above 0"),
        ("llm=inf", "the weight of llm is not above 0"),
        (",", "expected kinds from healthy, llm, slow, errors"),
    ],
)
def test_a_bad_mix_says_what_is_accepted(mix: str, said: str) -> None:
    with pytest.raises(BadArgument, match=said):
        generator.parse_mix(mix)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert generator.percentile(values, 50) == 50
    assert generator.percentile(values, 95) == 95
    assert generator.percentile(values, 99) == 99
    assert generator.percentile([0.2], 99) == 0.2
    assert generator.percentile([], 50) is None


def sample(
    start: float, latency: float, status: int = 200, kind: str = "healthy"
) -> generator.Sample:
    return generator.Sample(start, latency, kind, status)


def test_windows_count_requests_by_their_start_and_errors_as_5xx_or_no_answer() -> None:
    run = generator.Run(2, 25, {"healthy": 1.0}, elapsed=25.4)
    run.samples = [sample(t / 2, 0.01 * (t % 7 + 1)) for t in range(50)]
    run.samples[3] = sample(1.5, 0.5, 503)
    run.samples[30] = generator.Sample(15.0, 10.0, "llm", 0, "ReadTimeout: timed out")
    run.samples[31] = sample(15.5, 0.02, 404)  # a client error: not the service's failure
    windows = generator.windows(run)
    assert [w.seconds for w in windows] == [10, 10, 5]
    assert [w.requests for w in windows] == [20, 20, 10]
    assert [w.errors for w in windows] == [1, 1, 0]
    assert windows[0].achieved_rps == 2
    assert windows[1].error_rate == pytest.approx(0.05)
    # Latencies of answered requests only: the timeout has no latency to count.
    assert windows[1].p99 == pytest.approx(0.07)


def test_an_interrupted_run_reports_the_time_it_ran() -> None:
    run = generator.Run(10, 60, {"healthy": 1.0}, elapsed=12.5, interrupted=True)
    run.samples = [sample(t / 10, 0.01) for t in range(125)]
    assert [w.seconds for w in generator.windows(run)] == [10, 2.5]


def test_connections_follow_what_the_mix_keeps_in_flight() -> None:
    assert generator.connections(50, {"healthy": 1.0}) == 10  # the floor
    # 500 rps of which 3 % take ~3 s: about 45 in flight from those alone.
    assert generator.connections(500, generator.parse_mix(generator.DEFAULT_MIX)) > 90
    assert generator.connections(100_000, {"slow": 1.0}) == 512


def test_a_counter_rate_is_per_second_of_sample_time_and_survives_a_restart() -> None:
    assert signals.rate_between((100.0, 1000.0), (400.0, 1010.0)) == 30
    assert signals.rate_between((500.0, 1000.0), (120.0, 1010.0)) == 12  # restarted: from 0
    assert signals.rate_between((1.0, 1000.0), (2.0, 1000.0)).startswith("no new scrape")
    assert signals.rate_between(None, (2.0, 1000.0)) == ""


# -- pricing and projection ------------------------------------------------------------


def pricing_file(tmp_path: Path, change: dict[str, object] | None = None) -> Path:
    document = yaml.safe_load((REPO / "config" / "pricing.yaml").read_text())
    for dotted, value in (change or {}).items():
        *parents, last = dotted.split(".")
        node = document
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    path = tmp_path / "pricing.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_committed_pricing_file_dates_and_sources_every_price() -> None:
    pricing = projection.load_pricing(REPO / "config" / "pricing.yaml")
    for price in pricing.prices.values():
        assert price.value > 0
        assert price.as_of
        assert price.source.startswith("https://")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"prices.node_hour.value": -1}, "prices.node_hour.value is -1: expected a number above 0"),
        ({"prices.s3_standard_gb_month.as_of": None}, "s3_standard_gb_month.as_of is missing"),
        ({"prices.ebs_gp3_gb_month.source": ""}, "ebs_gp3_gb_month.source is missing"),
        ({"prices.node_hour": None}, "prices.node_hour is missing"),
        ({"node.allocatable": 1.5}, "node.allocatable is a share of the node, at most 1"),
        ({"assumptions.logs_stored_per_received.value": "lots"}, "expected a number above 0"),
    ],
)
def test_a_wrong_pricing_file_names_the_key(
    tmp_path: Path, change: dict[str, object], said: str
) -> None:
    with pytest.raises(PricingError, match=said.replace(".", r"\.")):
        projection.load_pricing(pricing_file(tmp_path, change))


def test_a_missing_or_broken_pricing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="does not exist: restore it from git"):
        projection.load_pricing(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("prices: [\n")
    with pytest.raises(PricingError, match="cannot read"):
        projection.load_pricing(broken)


def measured(**rates: float | None) -> signals.Ingest:
    units = {"metrics": "samples/s", "logs": "B/s", "traces": "B/s"}
    found = signals.Ingest()
    for signal, value in rates.items():
        name = projection.RATES[signal]
        found.rates[name] = (
            signals.Figure(value, units[signal])
            if value is not None
            else signals.not_measured(units[signal], f"{signal} service is not running")
        )
    return found


def profile(env: str = "prod", **overrides: object) -> projection.Profile:
    fields: dict[str, object] = {
        "env": env,
        "retention_days": {"metrics": 30, "logs": 30, "traces": 30},
        "replicas": {"prometheus": 2},
        "storage": {"metrics": "EBS gp3", "logs": "S3", "traces": "S3"},
        "sampling": 1.0,
    }
    fields.update(overrides)
    return projection.Profile(**fields)  # type: ignore[arg-type]


def usage(cores: float = 0.5, mib: float = 1024) -> list[signals.Usage]:
    return [
        signals.Usage("prometheus", (cores / 2, cores), (mib / 2, mib)),
        signals.Usage("app", (8.0,), (64000.0,)),  # not priced: not the observability stack
    ]


def test_storage_is_rate_times_retention_and_priced_where_it_is_kept() -> None:
    pricing = projection.load_pricing(REPO / "config" / "pricing.yaml")
    ingest = measured(metrics=1000, logs=10_000, traces=20_000)
    result = projection.project(profile(), ingest, usage(), pricing)
    lines = {line.item: line for line in result.lines}
    # 1000 samples/s x 1.5 B (assumed: no compaction yet) x 2 replicas x 86400 s
    assert lines["metrics"].gb_day == pytest.approx(0.2592)
    assert lines["metrics"].gb_held == pytest.approx(0.2592 * 30)
    assert lines["metrics"].cost == pytest.approx(0.2592 * 30 * 0.088)
    assert lines["logs"].gb_day == pytest.approx(10_000 * 0.15 * 86400 / 1e9)
    assert lines["logs"].cost == pytest.approx(lines["logs"].gb_held * 0.023)
    # Compute: prometheus peak 0.5 cores, 1 GiB, times 2 replicas; the app is not priced.
    assert lines["compute"].rate == "1.00 cores, 2.00 GiB"
    assert lines["compute"].where == "1 x m6i.large"
    assert lines["compute"].cost == pytest.approx(0.107 * 730)
    assert result.total == pytest.approx(sum(line.cost or 0 for line in result.lines))
    assert any("bytes per sample 1.5: assumed" in note for note in result.notes)


def test_the_tsdb_bytes_per_sample_replaces_the_assumption_once_measured() -> None:
    pricing = projection.load_pricing(REPO / "config" / "pricing.yaml")
    ingest = measured(metrics=1000, logs=0, traces=0)
    ingest.bytes_per_sample = signals.Figure(2.0, "B/sample", source="compaction")
    result = projection.project(profile(), ingest, usage(), pricing)
    assert result.lines[0].gb_day == pytest.approx(1000 * 2.0 * 2 * 86400 / 1e9)
    assert not any("assumed" in note and "bytes per sample" in note for note in result.notes)


def test_an_unmeasured_signal_is_left_out_with_its_reason_never_zero() -> None:
    pricing = projection.load_pricing(REPO / "config" / "pricing.yaml")
    result = projection.project(profile(), measured(metrics=1000, logs=None), usage(), pricing)
    logs = next(line for line in result.lines if line.item == "logs")
    assert logs.rate == "not measured"
    assert logs.reason == "logs service is not running"
    assert logs.cost is None
    assert logs.gb_day is None
    assert result.excluded == ("logs", "traces")


def test_the_dominant_cost_names_what_it_scales_with() -> None:
    pricing = projection.load_pricing(REPO / "config" / "pricing.yaml")
    heavy = measured(metrics=2_000_000, logs=1000, traces=1000)
    result = projection.project(profile(), heavy, usage(), pricing)
    assert result.dominant.startswith("metrics is ")
    assert "retention (30 d) x replicas (2 Prometheus)" in result.dominant
    traces = measured(metrics=10, logs=10, traces=50_000_000)
    result = projection.project(profile(sampling=0.25), traces, usage(), pricing)
    assert "sampling (25% of traces kept)" in result.dominant
    light = projection.project(profile(replicas={}), measured(metrics=10), usage(), pricing)
    assert light.dominant.startswith("compute is 100% of the cost")
    assert "one node is the floor" in light.dominant
    assert light.dominant.endswith("; of the storage, metrics is 100%: retention (30 d) x "
                                   "replicas (1 Prometheus)")  # fmt: skip


def test_the_local_stack_is_not_priced() -> None:
    pricing = projection.load_pricing(REPO / "config" / "pricing.yaml")
    local = profile("local", storage=dict.fromkeys(projection.SIGNALS, "local disk"))
    result = projection.project(local, measured(metrics=1000, logs=1, traces=1), usage(), pricing)
    assert result.total is None
    assert result.lines[0].gb_held == pytest.approx(1000 * 1.5 * 2 * 86400 / 1e9 * 30)


def test_profiles_read_each_environments_retention_and_replicas_from_its_values() -> None:
    config = settings_mod.load(REPO, environ={})
    found = {p.env: p for p in projection.profiles(config, 1.0)}
    assert set(found) == {"local", "dev", "staging", "prod"}
    assert found["local"].retention_days == {"metrics": 15, "logs": 7, "traces": 2}
    assert found["dev"].retention_days == {"metrics": 3, "logs": 3, "traces": 3}
    assert found["prod"].retention_days == {"metrics": 30, "logs": 30, "traces": 30}
    assert found["prod"].replicas["prometheus"] == 2
    assert found["prod"].replicas["loki"] == 3
    assert found["dev"].storage == {"metrics": "EBS gp3", "logs": "EBS gp3", "traces": "EBS gp3"}
    assert found["staging"].storage["traces"] == "S3"


def test_trace_sampling_is_the_collectors_probabilistic_sampler(tmp_path: Path) -> None:
    assert projection.trace_sampling(REPO) == 1.0  # the committed config keeps every trace
    config = yaml.safe_load((REPO / "otel-collector" / "config.yml").read_text())
    config["processors"]["probabilistic_sampler"] = {"sampling_percentage": 20}
    config["service"]["pipelines"]["traces"]["processors"].insert(0, "probabilistic_sampler")
    (tmp_path / "otel-collector").mkdir()
    (tmp_path / "otel-collector" / "config.yml").write_text(yaml.safe_dump(config))
    assert projection.trace_sampling(tmp_path) == 0.2


# -- the command -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--rps", "0"), "error: --rps '0': expected a rate above 0"),
        (("--rps", "-5"), "error: --rps '-5': expected a rate above 0"),
        (("--duration", "0"), "error: --duration '0': expected seconds above 0"),
        (("--mix", "healthy,storm"), "error: --mix 'healthy,storm': expected kinds from"),
        (("--env", "staging"), "error: --env 'staging': expected an environment with urls.app"),
        (("--env", "qa"), "error: unknown environment 'qa'; known environments: dev, staging"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(checkout: Path, args: tuple[str, ...], said: str) -> None:
    done = cli({"MIRANTE_ROOT": str(checkout)}, "load", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith(said), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (checkout / "artifacts" / "load").exists()


def test_an_app_that_does_not_answer_is_one_line_and_no_report(checkout: Path) -> None:
    env = {"MIRANTE_ROOT": str(checkout), "MIRANTE_APP_PORT": "9"}  # discard: nothing answers
    done = cli(env, "load", "--duration", "1")
    assert done.returncode == 2, done.stderr
    assert "the app does not answer at http://127.0.0.1:9/healthcheck" in done.stderr
    assert "start it with invoke stack.up" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (checkout / "artifacts" / "load").exists()


def test_the_runbook_script_passes_its_arguments_to_invoke_load(checkout: Path) -> None:
    script = ["bash", "scripts/validation/load_test.sh", "--rps", "0"]
    done = run_as_user(script, {"MIRANTE_ROOT": str(checkout)}, timeout=60)
    assert done.returncode == 2
    assert "error: --rps '0'" in done.stderr

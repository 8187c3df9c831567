"""Composition root: builds every stage, wires them together and owns their lifetimes. Nothing imports it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from collector import keys
from collector.cluster_reload import ClusterReload
from collector.errors import ConfigError
from collector.evaluate.evaluator import Evaluator
from collector.evaluate.schedule import GroupScheduler
from collector.incidents.ack import Acknowledger
from collector.incidents.values import ValueHistory
from collector.ingest.auth import TokenCheck
from collector.ingest.backpressure import BatchQueue
from collector.ingest.otlp_grpc import GrpcExport, make_grpc_server
from collector.ingest.otlp_http import OtlpHttpReceiver, make_ingest_app
from collector.ingest.stats import IngestStats
from collector.notify import Notifier, check_templates
from collector.reload import Reloader
from collector.rules.loader import load_rules
from collector.rules.registry import RuleRegistry
from collector.rules.ruleset import RuleSet
from collector.rules.watch import FileWatch
from collector.settings import Settings, load_settings
from collector.store.db import Database
from collector.store.hub import Store
from collector.store.traces import TraceIndex
from collector.telemetry import tracer, tracer_provider
from collector.units import parse_hostport
from collector.web import acks, alerts, auth, health, incidents, metrics, mttr, pages, services, traces
from collector.web import deliveries as deliveries_web
from collector.web import silences as silences_web
from collector.web.dashboard import Dashboard
from collector.web.health import Readiness

log = logging.getLogger("vigil")

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
TRACE_EVICT_EVERY = 15.0
HEARTBEAT_EVERY = 10.0
CLUSTER_RELOAD_EVERY = 2.0
# The cycle collector's thresholds while the daemon runs. An OTLP request wraps thousands of protobuf
# messages that the collector tracks, though they die with the request and are never in a cycle. At
# CPython's default (a collection per 700 new objects) each request is collected several times, the
# wrappers it holds are promoted, and the promotions set off full collections of the whole heap: a
# tenth of the daemon's time under ingest load (measured with bench/ingest.py). Collecting per 20,000
# new objects leaves requests alone and still bounds cyclic garbage.
GC_THRESHOLDS = (20_000, 10, 10)


def rule_paths(settings: Settings, base: Path) -> list[Path]:
    """Rule paths of the config, relative to the config file's folder (or the working directory)."""
    return [base / p for p in settings.rules]


def build_app(settings: Settings, rules: RuleSet, base: Path, config: Path | None = None) -> web.Application:
    """The API app (served on `listen.api`); every other server and worker lives in its cleanup_ctx."""
    app = web.Application(middlewares=[auth.middleware(settings.auth.api_tokens)])
    registry = CollectorRegistry(auto_describe=True)
    readiness = Readiness()
    app[keys.SETTINGS] = settings
    app[keys.REGISTRY] = registry
    app[keys.READINESS] = readiness
    app[keys.EXTERNAL_URL] = settings.public_url()

    database = Database(settings.storage.url)
    trace_index = TraceIndex(
        retention=settings.retention.traces, max_bytes=settings.retention.max_bytes, registry=registry
    )
    store = Store(
        traces=trace_index,
        max_series_per_rule=settings.limits.max_series_per_rule,
        max_series=settings.limits.max_series,
        registry=registry,
    )
    queue = BatchQueue(store, settings.limits.max_queued_items)
    stats = IngestStats(registry, lambda: queue.depth, queue.capacity)
    tokens = TokenCheck(settings.auth.ingest_tokens)
    notifier = Notifier(
        db=database,
        settings=settings,
        templates_dir=base / settings.templates,
        external_url=settings.public_url(),
        registry=registry,
        instance_id=settings.instance_id(),
    )
    provider = tracer_provider(settings.telemetry)
    evaluator = Evaluator(
        on_events=notifier.wake,
        tracer=tracer(provider),
        db=database,
        windows=store,
        traces=lambda trace_id: v.to_dict() if (v := trace_index.get(trace_id)) is not None else None,
        registry=registry,
        delay=settings.evaluation.delay,
        instance_id=settings.instance_id(),
        api_url=settings.public_url(),
    )
    acknowledger = Acknowledger(database, registry)
    values = ValueHistory()
    scheduler = GroupScheduler(evaluator.evaluate_group, registry)
    rule_registry = RuleRegistry(rules)
    paths = rule_paths(settings, base)

    def load() -> RuleSet:
        # Validate everything first (config, rules, templates); only then hand receivers and routes over.
        new = load_settings(config) if config is not None else settings
        loaded = load_rules(rule_paths(new, base) if config is not None else paths, new.evaluation.interval)
        problems = check_templates(base / new.templates, {r.template for r in new.receivers})
        if problems:
            raise ConfigError(problems)
        notifier.reload(new)
        return loaded

    reloader = Reloader(registry=rule_registry, load=load, metrics_registry=registry)

    async def apply_selectors(new: RuleSet) -> None:
        store.set_selectors(new.selectors(), {r.name: r.window for r in new.rules()})

    async def apply_schedule(new: RuleSet) -> None:
        scheduler.apply(new)

    reloader.on_change(apply_selectors)
    reloader.on_change(evaluator.apply_rules)
    reloader.on_change(apply_schedule)

    app[keys.STORE] = store
    app[keys.TRACES] = trace_index
    app[keys.DATABASE] = database
    app[keys.EVALUATOR] = evaluator
    app[keys.RELOADER] = reloader
    app[keys.NOTIFIER] = notifier
    app[keys.SILENCES] = notifier.silences

    grace = settings.limits.shutdown_grace.total_seconds()
    app.cleanup_ctx.append(_gc_ctx)
    app.cleanup_ctx.append(_http_client_ctx)
    app.cleanup_ctx.append(_database_ctx(database, readiness))
    app.cleanup_ctx.append(_notifier_ctx(notifier))
    app.cleanup_ctx.append(_queue_ctx(queue, grace))
    app.cleanup_ctx.append(_evaluation_ctx(store, evaluator, scheduler, rule_registry, readiness))
    app.cleanup_ctx.append(_periodic_ctx("trace-eviction", TRACE_EVICT_EVERY, trace_index.evict))
    # The incident page's value chart: a point per pending or firing alert each evaluation interval.
    every = settings.evaluation.interval.total_seconds()
    app.cleanup_ctx.append(_task_ctx("value-history", lambda: values.run(evaluator.snapshot, every)))
    app.cleanup_ctx.append(_periodic_ctx("replica-heartbeat", HEARTBEAT_EVERY, evaluator.tick))
    cluster_reload = ClusterReload(database, reloader)
    app.cleanup_ctx.append(_periodic_ctx("cluster-reload", CLUSTER_RELOAD_EVERY, cluster_reload.check))
    if settings.reload.watch:
        watch = FileWatch(
            paths, lambda: reloader.reload("file change"), settings.reload.poll_interval.total_seconds(), debounce=1.0
        )
        app.cleanup_ctx.append(_task_ctx("rule-watch", watch.run))
    app.cleanup_ctx.append(_otlp_http_ctx(settings, queue, stats, tokens, readiness, grace))
    app.cleanup_ctx.append(_otlp_grpc_ctx(settings, queue, stats, tokens, grace))
    if provider is not None:
        # Last in, first out: Vigil's own spans are flushed while its ingest (a possible target) still listens.
        app.cleanup_ctx.append(_telemetry_ctx(provider))

    health.add_routes(app)
    metrics.add_routes(app)
    traces.add_routes(app)
    alerts.add_routes(app)
    incidents.add_routes(app)
    services.add_routes(app)
    silences_web.add_routes(app)
    deliveries_web.add_routes(app)
    acks.add_routes(app, acknowledger)
    mttr.add_routes(app)
    pages.add_routes(app, Dashboard(base / settings.templates, values))
    return app


async def _gc_ctx(app: web.Application) -> AsyncIterator[None]:
    """The daemon's cycle-collector thresholds (GC_THRESHOLDS), the previous ones restored on shutdown."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def _http_client_ctx(app: web.Application) -> AsyncIterator[None]:
    """One client session for outgoing HTTP (peer lookups), closed last."""
    async with aiohttp.ClientSession() as session:
        app[keys.HTTP_CLIENT] = session
        yield


def _telemetry_ctx(provider: TracerProvider) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(provider.shutdown)

    return ctx


def _database_ctx(database: Database, readiness: Readiness) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await database.open()
        readiness.add("storage", database.ping)
        yield
        readiness.remove("storage")
        await database.close()

    return ctx


def _notifier_ctx(notifier: Notifier) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await notifier.start()  # a template that renders no valid JSON is a ConfigError, with its position
        yield
        await notifier.stop()

    return ctx


def _queue_ctx(queue: BatchQueue, grace: float) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(queue.run(), name="ingest-queue")
        yield
        # Ingest servers are already closed (contexts unwind in reverse): drain what was accepted.
        queue.close()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except TimeoutError:
            log.error("shutdown: %d accepted items still queued after %.0fs", queue.depth, grace)
            task.cancel()
        log.info("ingest stopped: %d accepted items consumed, %d left", queue.consumed_items, queue.depth)

    return ctx


def _evaluation_ctx(
    store: Store, evaluator: Evaluator, scheduler: GroupScheduler, rules: RuleRegistry, readiness: Readiness
) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        current = rules.current()
        store.set_selectors(current.selectors(), {r.name: r.window for r in current.rules()})
        await evaluator.start(current)
        scheduler.start(current)

        async def ready() -> str | None:
            return None

        readiness.add("rules", ready)
        yield
        readiness.remove("rules")
        scheduler.shutdown()
        await evaluator.stop()

    return ctx


def _periodic_ctx(name: str, seconds: float, work: Callable[[], object]) -> CleanupCtx:
    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                done = work()
                if asyncio.iscoroutine(done):
                    await done
            except Exception:
                # The task's boundary: log and carry on at the next period.
                log.exception("periodic task %s failed", name)

    return _task_ctx(name, loop)


def _task_ctx(name: str, run: Callable[[], object]) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        coro = run()
        assert asyncio.iscoroutine(coro)
        task = asyncio.create_task(coro, name=name)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


def _otlp_http_ctx(
    settings: Settings, queue: BatchQueue, stats: IngestStats, tokens: TokenCheck, readiness: Readiness, grace: float
) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        limit = settings.limits.max_request_bytes
        receiver = OtlpHttpReceiver(queue=queue, stats=stats, tokens=tokens, max_request_bytes=limit)
        # Ingest inflates bodies itself, with a limit and OTLP's status codes; aiohttp must hand them over raw.
        runner = web.AppRunner(make_ingest_app(receiver, limit), access_log=None, auto_decompress=False)
        await runner.setup()
        host, port = parse_hostport(settings.listen.otlp_http)
        site = web.TCPSite(runner, host, port, shutdown_timeout=grace)
        await site.start()
        log.info("OTLP/HTTP listening on %s", settings.listen.otlp_http)

        async def ready() -> str | None:
            return None if not queue.closed else "shutting down"

        readiness.add("ingest", ready)
        yield
        readiness.remove("ingest")
        # Stops listening, lets in-flight requests finish (up to the grace), closes idle keep-alives.
        await runner.cleanup()

    return ctx


def _otlp_grpc_ctx(
    settings: Settings, queue: BatchQueue, stats: IngestStats, tokens: TokenCheck, grace: float
) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        export = GrpcExport(queue=queue, stats=stats, tokens=tokens)
        server, port = make_grpc_server(export, settings.listen.otlp_grpc, settings.limits.max_request_bytes)
        if port == 0:
            raise OSError(f"cannot listen on {settings.listen.otlp_grpc} for OTLP/gRPC")
        await server.start()
        log.info("OTLP/gRPC listening on %s", settings.listen.otlp_grpc)
        yield
        await server.stop(grace)

    return ctx


async def serve(settings: Settings, rules: RuleSet, base: Path, config: Path | None = None) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully (ingest first, then drain, then the rest).

    SIGHUP reloads the rules without a restart.
    """
    app = build_app(settings, rules, base, config)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    try:
        await runner.setup()
    except BaseException:
        # A resource failed to start (e.g. a port in use): close the ones that did, then report.
        await runner.cleanup()
        raise
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[object]] = set()

    def on_hup() -> None:
        task: asyncio.Task[object] = asyncio.create_task(app[keys.RELOADER].reload("SIGHUP"))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    try:
        host, port = parse_hostport(settings.listen.api)
        site = web.TCPSite(runner, host, port, shutdown_timeout=settings.limits.shutdown_grace.total_seconds())
        await site.start()
        log.info("API, metrics and dashboard on %s", settings.public_url())
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        await stop.wait()
        log.info("shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
        await runner.cleanup()
    log.info("stopped")

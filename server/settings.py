"""One typed settings object: config.toml, then VITRINE_<SECTION>__<KEY> environment overrides."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from server.domain.frustration import FrustrationRules

ENV_PREFIX = "VITRINE_"
SETTINGS_JSON_ENV = "VITRINE_SETTINGS_JSON"  # set by the web process for its worker process
REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A configuration value is missing or wrong; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    backlog: int = Field(2048, ge=1)
    public_url: str = ""


class PathSettings(_Section):
    var_dir: Path = Path("var")
    models_dir: Path | None = None  # default: <var_dir>/models


class MongoSettings(_Section):
    uri: str = "embedded"
    database: str = Field("vitrine", pattern=r"^[A-Za-z0-9_-]{1,60}$")

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value != "embedded" and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError('must be "embedded" or a mongodb:// URI')
        return value


class RedisSettings(_Section):
    url: str = "embedded"
    key_prefix: str = "vitrine:"
    stream: str = "events"
    # Unwritten batches the stream may hold before ingest answers "busy" (retryable).
    max_backlog: int = Field(500_000, ge=10)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value != "embedded" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError('must be "embedded" or a redis:// URL')
        return value


class SecuritySettings(_Section):
    cookie_secure: bool = False
    secret_key: str = ""


class IdentitySettings(_Section):
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)


class ExperimentSettings(_Section):
    holdout_fraction: float = Field(0.10, ge=0.0, le=1.0)
    force_arm: Literal["", "treatment", "control"] = ""
    # "aa": both arms stay unadapted, but qualification and exposures are logged as in "ab",
    # to check the pipeline and the statistics on real traffic (docs/experiments.md).
    mode: Literal["ab", "aa"] = "ab"
    # "sequential": always-valid intervals, safe to read at any time (the live page);
    # "fixed": fixed-horizon intervals, with no verdict before `planned_visitors`.
    analysis: Literal["sequential", "fixed"] = "sequential"
    planned_visitors: int = Field(2000, ge=2)  # per row, both arms: the fixed horizon
    # The sample size (per row, both arms) at which the always-valid interval is tightest.
    sequential_tuning_visitors: int = Field(2000, ge=2)
    correction: Literal["holm", "bh", "none"] = "holm"  # across personas × metrics
    srm_p: float = Field(0.001, gt=0.0, lt=1.0)  # a sample-ratio p below this voids the row


class TrackingSettings(_Section):
    max_events_per_batch: int = Field(500, ge=1, le=5000)
    max_batch_bytes: int = Field(262_144, ge=1024)
    rate_limit_batches_per_second: float = Field(20.0, gt=0)
    rate_limit_burst: int = Field(40, ge=1)
    rate_limit_events_per_second: float = Field(1000.0, gt=0)


# The longest blocking stream read a worker may ask for, in milliseconds.
MAX_BLOCK_MS = 5000


class FlusherSettings(_Section):
    enabled: bool = True
    # A blocking read must end well before the Redis reply timeout (bootstrap, 15 s).
    block_ms: int = Field(1000, ge=1, le=MAX_BLOCK_MS)
    read_count: int = Field(200, ge=1)
    max_round: int = Field(4000, ge=1)  # entries per round when behind
    commit_size: int = Field(250, ge=1)  # entries per aggregate commit (one Lua call each)
    round_every_s: float = Field(1.0, ge=0)  # a round gathers this much traffic when not behind
    claim_idle_ms: int = Field(30_000, ge=100)
    checkpoint_every_s: float = Field(1.0, gt=0)  # aggregates into MongoDB this often, at most
    checkpoint_max_share: float = Field(0.25, gt=0, le=1)  # of the workers' time, at most
    checkpoint_max_documents: int = Field(3000, ge=1)  # per checkpoint pass


class WorkerSettings(_Section):
    # process: the web process starts the workers as one child process (`python -m server
    #   worker all`), so store writes never run on the loop that acknowledges shoppers;
    # inline: as tasks of the web process (tests, tiny demos); none: run them yourself.
    mode: Literal["process", "inline", "none"] = "process"
    stall_after_s: float = Field(60.0, gt=0)  # /healthz: 503 when work waits this long


class PersonaSettings(_Section):
    enabled: bool = True
    min_evidence: float = Field(6.0, ge=0)
    confidence_threshold: float = Field(0.85, gt=0, le=1)
    switch_margin: float = Field(0.15, ge=0, le=1)
    switch_confirmations: int = Field(2, ge=1)
    repredict_every_events: int = Field(20, ge=1)
    repredict_every_seconds: float = Field(3.0, gt=0)


class MistralSettings(_Section):
    mode: Literal["off", "arbiter", "always"] = "off"
    server_url: str = ""
    chat_model: str = "mistral-small-latest"
    embed_model: str = "mistral-embed"
    timeout_seconds: float = Field(8.0, gt=0)
    arbiter_below: float = Field(0.7, ge=0, le=1)
    max_retries: int = Field(2, ge=0)
    backoff_seconds: float = Field(0.2, gt=0)
    max_retry_after_seconds: float = Field(5.0, ge=0)
    max_concurrency: int = Field(4, ge=1)
    cooldown_seconds: float = Field(30.0, ge=0)
    cache_ttl_seconds: float = Field(600.0, ge=0)
    cache_size: int = Field(1024, ge=1)
    top_k: int = Field(4, ge=1)
    index_retry_seconds: float = Field(60.0, ge=0)


class PrivacySettings(_Section):
    consent_default: Literal["ask", "granted"] = "ask"
    consent_max_age_days: int = Field(180, ge=1, le=400)  # how long a choice is remembered


class RateLimitSettings(_Section):
    """Fixed windows in Redis, per visitor and per client address (docs/privacy.md)."""

    enabled: bool = True
    window_seconds: int = Field(60, ge=1, le=3600)
    login_per_ip: int = Field(20, ge=1)
    apply_coupon_per_visitor: int = Field(10, ge=1)
    apply_coupon_per_ip: int = Field(60, ge=1)
    process_order_per_visitor: int = Field(10, ge=1)
    process_order_per_ip: int = Field(120, ge=1)


class ReplaySettings(_Section):
    enabled: bool = True
    sample_rate: float = Field(1.0, ge=0.0, le=1.0)  # share of visits recorded
    # One rrweb chunk, as JSON; below Socket.IO's 1 MB packet limit.
    max_chunk_bytes: int = Field(524_288, ge=4096, le=900_000)
    chunks_per_second: float = Field(4.0, gt=0)  # per connection; 20 is the burst


class FrustrationSettings(_Section):
    """Thresholds of the frustration signals (server/domain/frustration.py, docs/admin.md)."""

    rage_clicks: int = Field(3, ge=2, le=20)
    rage_window_ms: int = Field(700, ge=100, le=5000)
    rage_radius_px: int = Field(30, ge=1, le=500)
    dead_window_ms: int = Field(1000, ge=1, le=2000)  # at most the tracker's 2 s watch
    error_window_ms: int = Field(1000, ge=1, le=2000)
    quick_back_ms: int = Field(5000, ge=500, le=60_000)
    thrash_turns: int = Field(5, ge=2, le=50)
    thrash_window_ms: int = Field(1500, ge=100, le=10_000)
    thrash_min_px: int = Field(20, ge=1, le=1000)

    def rules(self) -> FrustrationRules:
        return FrustrationRules(**self.model_dump())


class RetentionSettings(_Section):
    events_days: int = Field(30, ge=1)
    replays_days: int = Field(30, ge=1)
    predictions_days: int = Field(90, ge=1)
    aggregates_days: int = Field(400, ge=1)
    audit_days: int = Field(400, ge=1)
    consent_days: int = Field(400, ge=1)  # the record of each visitor's consent choice
    carts_days: int = Field(30, ge=1)  # carts untouched this long
    purge_every_minutes: float = Field(60.0, gt=0)  # the embedded engine's purge


class TrendSettings(_Section):
    """The admin overview's live trends (docs/admin.md, "Live trends")."""

    enabled: bool = True  # one web process samples (a Redis lease); off: no charts' points
    sample_every_s: float = Field(10.0, ge=1.0, le=300.0)  # one point per this many seconds
    hour_bucket_s: int = Field(60, ge=1, le=600)  # the last hour's chart, in buckets of
    day_bucket_s: int = Field(300, ge=60, le=3600)  # the last day's chart, in buckets of

    @model_validator(mode="after")
    def _buckets_fit(self) -> TrendSettings:
        for name, bucket, span in (("hour", self.hour_bucket_s, 3600),
                                   ("day", self.day_bucket_s, 86_400)):  # fmt: skip
            if span % bucket:
                raise ValueError(f"{name}_bucket_s must divide {span}")
            if bucket < self.sample_every_s:
                raise ValueError(f"{name}_bucket_s must be at least sample_every_s")
        return self


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    paths: PathSettings = PathSettings()
    mongodb: MongoSettings = MongoSettings()
    redis: RedisSettings = RedisSettings()
    security: SecuritySettings = SecuritySettings()
    identity: IdentitySettings = IdentitySettings()
    experiments: ExperimentSettings = ExperimentSettings()
    tracking: TrackingSettings = TrackingSettings()
    flusher: FlusherSettings = FlusherSettings()
    workers: WorkerSettings = WorkerSettings()
    personas: PersonaSettings = PersonaSettings()
    mistral: MistralSettings = MistralSettings()
    privacy: PrivacySettings = PrivacySettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    retention: RetentionSettings = RetentionSettings()
    replay: ReplaySettings = ReplaySettings()
    frustration: FrustrationSettings = FrustrationSettings()
    trends: TrendSettings = TrendSettings()

    @property
    def var_dir(self) -> Path:
        path = self.paths.var_dir
        return path if path.is_absolute() else REPO_ROOT / path

    @property
    def models_dir(self) -> Path:
        path = self.paths.models_dir or self.var_dir / "models"
        return path if path.is_absolute() else REPO_ROOT / path

    @property
    def public_url(self) -> str:
        return self.server.public_url or f"http://{self.server.host}:{self.server.port}"


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    overrides: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        overrides.setdefault(section, {})[key] = value
    return overrides


def _merge(base: dict[str, Any], overrides: dict[str, dict[str, str]]) -> dict[str, Any]:
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in overrides.items():
        merged.setdefault(section, {}).update(values)
    return merged


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"invalid settings ({source}):"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        env_name = ENV_PREFIX + "__".join(str(part) for part in item["loc"]).upper()
        lines.append(f"  {key} (env {env_name}): {item['msg']}")
    return "\n".join(lines)


def load_settings(
    path: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: dict[str, Any],
) -> Settings:
    """Load config.toml, apply environment overrides and keyword overrides, validate."""
    env = dict(os.environ if environ is None else environ)
    if SETTINGS_JSON_ENV in env:
        # A worker process started by the web process: exactly the parent's settings.
        merged = orjson.loads(env[SETTINGS_JSON_ENV])
        for section, values in overrides.items():
            merged.setdefault(section, {}).update(values)
        return Settings.model_validate(merged)
    config_path = path or Path(os.environ.get("VITRINE_CONFIG", REPO_ROOT / "config.toml"))
    raw: dict[str, Any] = {}
    if config_path.exists():
        try:
            raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_path}: {exc}") from exc
    merged = _merge(raw, _env_overrides(env))
    for section, values in overrides.items():
        merged.setdefault(section, {}).update(values)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, str(config_path))) from None

"""Settings: config.toml, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.__main__ import hypercorn_config
from server.bootstrap import MODEL_TRAINING_ALLOWANCE_S, REDIS_REPLY_TIMEOUT_S
from server.settings import MAX_BLOCK_MS, SettingsError, load_settings
from server.workers.child import READY_TIMEOUT_S


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_from_the_repo_config() -> None:
    settings = load_settings(environ={})
    assert settings.redis.url == "embedded"
    assert settings.mongodb.uri == "embedded"
    assert settings.experiments.holdout_fraction == pytest.approx(0.10)


def test_environment_overrides_nested_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[server]\nport = 5000\n[redis]\nurl = "embedded"\n')
    settings = load_settings(
        path,
        environ={"VITRINE_SERVER__PORT": "6123", "VITRINE_REDIS__URL": "redis://cache:6379/1"},
    )
    assert settings.server.port == 6123
    assert settings.redis.url == "redis://cache:6379/1"


def test_bad_value_names_the_key_and_its_env_variable(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[experiments]\nholdout_fraction = 1.5\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={})
    assert "experiments.holdout_fraction" in str(caught.value)
    assert "VITRINE_EXPERIMENTS__HOLDOUT_FRACTION" in str(caught.value)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"server\.prot"):
        load_settings(write_config(tmp_path, "[server]\nprot = 1\n"), environ={})


def test_bad_url_scheme(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"mongodb\.uri"):
        load_settings(tmp_path / "none.toml", environ={"VITRINE_MONGODB__URI": "http://db"})


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"config\.toml"):
        load_settings(write_config(tmp_path, "[server\n"), environ={})


def test_unrelated_vitrine_variables_are_not_settings(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path / "none.toml",
        environ={"VITRINE_ADMIN_USER": "root", "VITRINE_TEST_MONGODB_URI": "mongodb://x"},
    )
    assert settings.mongodb.uri == "embedded"


def test_a_blocking_read_ends_before_the_redis_reply_timeout(tmp_path: Path) -> None:
    """A flusher read blocking longer than a reply may take would fail every idle read."""
    assert MAX_BLOCK_MS < REDIS_REPLY_TIMEOUT_S * 1000 / 2
    too_long = {"VITRINE_FLUSHER__BLOCK_MS": str(MAX_BLOCK_MS + 1)}
    with pytest.raises(SettingsError, match=r"flusher\.block_ms"):
        load_settings(tmp_path / "none.toml", environ=too_long)


def test_a_first_start_may_train_the_model_and_then_wait_for_its_workers() -> None:
    """Hypercorn's default startup timeout (60 s) ended first starts that were training the
    persona model, and it would end a start before the worker wait gives up and serves."""
    config = hypercorn_config(load_settings(environ={}), "127.0.0.1", 5000)
    assert config.startup_timeout >= MODEL_TRAINING_ALLOWANCE_S + READY_TIMEOUT_S
    assert config.bind == ["127.0.0.1:5000"]

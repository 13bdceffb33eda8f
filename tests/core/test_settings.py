"""Settings: defaults, environment and TOML sources, every problem in one message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.settings import SettingsError, load_settings


def test_embedded_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///var/callcenter.db"
    assert settings.redis_url is None
    assert settings.recordings_dir == Path("var/recordings")
    assert [node.name for node in settings.nodes] == ["default"]


def test_environment_overrides_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "callcenter.toml"
    config.write_text('web_bind = "0.0.0.0:9000"\nari_app = "fromfile"\n')
    monkeypatch.setenv("CALLCENTER_CONFIG", str(config))
    monkeypatch.setenv("CALLCENTER_ARI_APP", "fromenv")
    settings = load_settings()
    assert settings.web_bind == "0.0.0.0:9000"
    assert settings.ari_app == "fromenv"


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_WEB_BIND", "nowhere")
    monkeypatch.setenv("CALLCENTER_AMI_PORT", "99999")
    monkeypatch.setenv("CALLCENTER_DIAL_TEMPLATE", "PJSIP/trunk")
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", "mysql://x")
    monkeypatch.setenv("CALLCENTER_WEBBIND", "typo")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    problems = caught.value.problems
    assert len(problems) == 5, problems
    text = str(caught.value)
    for name in ("WEB_BIND", "AMI_PORT", "DIAL_TEMPLATE", "DATABASE_URL", "CALLCENTER_WEBBIND"):
        assert f"CALLCENTER_{name.removeprefix('CALLCENTER_')}" in text


def test_production_refuses_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_ENV", "production")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert "CALLCENTER_SECRET_KEY: required in production" in text
    assert "CALLCENTER_ARI_PASSWORD" in text
    assert "CALLCENTER_AMI_SECRET" in text


def test_secrets_never_appear_in_errors_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_SECRET_KEY", "short-but-secret-value")
    monkeypatch.setenv("CALLCENTER_ARI_PASSWORD", "ari-pass-value-123")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "short-but-secret-value" not in str(caught.value)
    monkeypatch.setenv("CALLCENTER_SECRET_KEY", "a-long-enough-secret-value-for-production-1")
    settings = load_settings()
    assert "ari-pass-value-123" not in repr(settings)
    assert "a-long-enough-secret" not in repr(settings)


def test_missing_config_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(SettingsError, match="CALLCENTER_CONFIG: no such file"):
        load_settings()


def test_unparsable_config_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("web_bind = [unclosed\n")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(config))
    with pytest.raises(SettingsError, match="CALLCENTER_CONFIG"):
        load_settings()


def test_cli_exits_nonzero_with_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from callcenter.cli import main

    monkeypatch.setenv("CALLCENTER_WEB_BIND", "nowhere")
    result = CliRunner().invoke(main, ["db", "current"])
    assert result.exit_code == 2
    assert "CALLCENTER_WEB_BIND: expected host:port" in result.output


def test_development_secret_key_is_created_once(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = settings.secret_key_bytes()
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert load_settings(data_dir=tmp_path).secret_key_bytes() == first


def test_service_urls_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_MQTT_URL", "tcp://broker")
    monkeypatch.setenv("CALLCENTER_REDIS_URL", "redis://host:notaport")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert "CALLCENTER_MQTT_URL: expected mqtt:// or mqtts://host[:port]" in text
    assert "CALLCENTER_REDIS_URL: bad port" in text


def test_a_hotline_queue_named_general_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # queues.conf's [general] holds app_queue's own settings: Asterisk never loads a queue
    # of that name, so every agent's login into it would fail ("unknown queue").
    monkeypatch.setenv("CALLCENTER_HOTLINE_QUEUES", '{"General": 10, "hotline": 10}')
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "queues.conf's settings section" in str(caught.value)
    monkeypatch.setenv("CALLCENTER_HOTLINE_QUEUES", '{"general-help": 10, "hotline": 10}')
    assert set(load_settings().hotline_queues) == {"general-help", "hotline"}

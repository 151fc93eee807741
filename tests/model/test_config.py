"""Settings: validated at start, every mistake located by file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from honeyguard.config import default_settings, load_settings
from honeyguard.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "honeyguard.yaml"
    path.write_text(text)
    return path


def test_defaults_listen_on_loopback_8080_2222_8470() -> None:
    settings = default_settings()
    assert {(lsn.service, lsn.host, lsn.port) for lsn in settings.sensor.listeners} == {
        ("http", "127.0.0.1", 8080), ("ssh", "127.0.0.1", 2222)}
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8470)
    assert settings.data_dir == ".honeyguard"


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, "sensor:\n  name: edge-7\n  location: eu-west-1\n  listeners:\n"
                            "    - {service: http, port: 80, bind_port: 8081}\n")
    settings = load_settings(path)
    assert settings.sensor.name == "edge-7"
    assert settings.sensor.listeners[0].bind_port == 8081


@pytest.mark.parametrize(
    ("text", "where", "key"),
    [
        ("sensor:\n  listeners:\n    - service: http\n      port: 70000\n", ":4:", "sensor.listeners[0].port"),
        ("sensor:\n  name: a\n  colour: blue\n", ":3:", "sensor.colour"),
        ("server:\n  port: eighty\n", ":2:", "server.port"),
        ("sensor: [\n", ":2", None),
    ],
)
def test_mistakes_name_file_line_and_key(tmp_path: Path, text: str, where: str, key: str | None) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(str(path) + where), message
    if key:
        assert key in message
    assert "\n" not in message


def test_the_same_port_twice_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "sensor:\n  listeners:\n    - {service: http, port: 8080}\n"
                            "    - {service: ssh, port: 8080}\n")
    with pytest.raises(ConfigError, match="listed twice"):
        load_settings(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.yaml")

"""Locally, the development principals are served on loopback only: a network address needs a real
principal source, and ``agentcage dev`` refuses it otherwise (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcage.approvals import PrincipalSource
from agentcage.cli.app import main
from agentcage.errors import ConfigurationError
from agentcage.local import LocalConfig, app_settings


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "agentcage.example"])
def test_a_network_address_with_the_development_principals_is_refused(host: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        LocalConfig(host=host)
    assert "loopback" in refused.value.message
    assert "--principal-source platform" in refused.value.message


def test_behind_an_authenticating_proxy_the_functions_trust_its_header_and_offer_no_stand_ins(
    tmp_path: Path,
) -> None:
    config = LocalConfig(host="0.0.0.0", principal_source="platform", state_dir=tmp_path)

    settings = app_settings(config, "http://0.0.0.0:7071", environ={})

    assert settings["WEBSITE_AUTH_ENABLED"] == "True"
    source = PrincipalSource.from_env(settings)
    assert source.platform is True
    assert source.development is None


def test_on_loopback_the_functions_are_told_where_the_host_listens(tmp_path: Path) -> None:
    settings = app_settings(LocalConfig(state_dir=tmp_path), "http://127.0.0.1:7071", environ={})

    assert settings["AGENTCAGE_LOCAL_LISTEN_HOST"] == "127.0.0.1"
    assert "WEBSITE_AUTH_ENABLED" not in settings
    source = PrincipalSource.from_env(settings)
    assert source.development is not None
    assert source.development.requester.id == "dev-requester"
    assert source.development.approver.roles == ("finance",)


def test_agentcage_dev_on_a_network_address_exits_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["dev", "--host", "0.0.0.0", "--port", "0", "--state-dir", str(tmp_path)])

    assert code == 2
    assert "not a loopback address" in capsys.readouterr().err
    assert not (tmp_path / "host.json").exists()  # nothing started


def test_allow_host_values_reach_the_config_and_a_wildcard_is_refused(tmp_path: Path) -> None:
    from agentcage.cli.app import build_parser
    from agentcage.cli.dev import config_from_args

    args = build_parser().parse_args(
        ["dev", "--allow-host", "localhost:8080", "--allow-host", "127.0.0.1:2222", "--port", "0"]
    )
    config = config_from_args(args, port=0, state_dir=str(tmp_path))

    assert config.allowed_hosts == ("localhost:8080", "127.0.0.1:2222")
    with pytest.raises(ConfigurationError, match="exact name:port"):
        LocalConfig(state_dir=tmp_path, allowed_hosts=("*:8080",))


def test_allow_host_is_refused_behind_an_authenticating_proxy(tmp_path: Path) -> None:
    # the proxy decides which hosts it serves; the host checks no Host then, so the option would do nothing
    with pytest.raises(ConfigurationError, match="allow-host"):
        LocalConfig(state_dir=tmp_path, principal_source="platform", allowed_hosts=("localhost:8080",))


def test_agentcage_dev_with_a_wildcard_allowed_host_exits_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["dev", "--allow-host", "*", "--port", "0", "--state-dir", str(tmp_path)])

    assert code == 2
    assert "exact name:port" in capsys.readouterr().err
    assert not (tmp_path / "host.json").exists()  # nothing started

"""docker-compose.yml (production shape) is valid Compose and only runs commands and settings recstream has.

No Docker engine runs here, so the file is checked against the Compose specification's JSON schema (the copy
check-jsonschema vendors) instead of by `docker compose config`.
"""

import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from recstream.stream.cli.main import main
from recstream.stream.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, check=False, timeout=120)


def test_the_compose_file_follows_the_compose_specification():
    out = validate(COMPOSE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_schema_check_catches_a_broken_file(tmp_path):
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["worker"]["restart_policy"] = "always"  # not a service key (restart: is)
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    out = validate(path)
    assert out.returncode != 0 and "'restart_policy' does not match" in out.stdout + out.stderr


def recstream_services() -> dict[str, list[str]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: s["command"] for name, s in services.items() if s.get("build") == "."}


def test_every_recstream_service_runs_a_command_the_cli_has():
    services = recstream_services()
    assert {"migrate", "worker", "scheduler"} <= set(services), services
    for name, argv in services.items():
        ctx = click.Context(main)
        cmd: click.Command = main
        words = list(argv)
        while isinstance(cmd, click.Group) and words:
            sub = cmd.get_command(ctx, words[0])
            assert sub is not None, f"service {name}: `recstream {' '.join(argv)}` is not a command"
            cmd, words = sub, words[1:]
        assert not isinstance(cmd, click.Group), f"service {name}: `recstream {' '.join(argv)}` is a group"
        cmd.make_context(name, words)  # its options parse


def test_every_setting_the_compose_file_passes_is_one_recstream_reads():
    env = yaml.safe_load(COMPOSE.read_text())["x-recstream-env"]
    known = set(Settings.variables())
    unknown = sorted(k for k in env if k.startswith("RECSTREAM_") and k not in known)
    assert not unknown, f"docker-compose.yml sets variables recstream does not read: {unknown}"


@pytest.mark.parametrize("service", ["worker", "scheduler"])
def test_long_running_services_share_only_the_bucket_and_it_exists_before_they_start(service):
    compose = yaml.safe_load(COMPOSE.read_text())
    env, svc = compose["x-recstream-env"], compose["services"][service]
    assert "volumes" not in svc  # nothing shared through a host's disk
    assert env["RECSTREAM_ARTEFACT_URL"].startswith("s3://") and env["RECSTREAM_DRIFT_REPORT_DIR"].startswith("s3://")
    bucket = env["RECSTREAM_ARTEFACT_URL"][len("s3://"):].split("/")[0]
    assert f"local/{bucket}" in " ".join(compose["services"]["bucket"]["command"])
    assert svc["depends_on"]["bucket"] == {"condition": "service_completed_successfully"}


def test_no_secret_has_a_default_and_nothing_is_published_beyond_loopback():
    import re

    text = COMPOSE.read_text()
    compose = yaml.safe_load(text)
    secretish = re.compile(r"PASSWORD|TOKEN|SECRET|_KEY\b|ACCESS_KEY")
    for name, value in re.findall(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}", text):
        if secretish.search(name):
            assert value.startswith(":?"), f"${{{name}}} must be required (${{{name}:?...}}), not defaulted"
    assert "recstream:recstream@" not in text and "recstream-secret" not in text
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"service {name} publishes {port} on every interface"
    env = compose["x-recstream-env"]
    assert env["RECSTREAM_MODE"] == "production" and env["RECSTREAM_READ_TOKEN_REQUIRED"] == "true"
    assert "MINIO_ROOT" not in env["AWS_ACCESS_KEY_ID"]  # workers use the bucket-scoped user
    assert "prometheus" in compose["services"] and "read_token" in str(compose["services"]["prometheus"]["secrets"])

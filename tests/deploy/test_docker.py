"""The production image and the compose file, read as text (no Docker daemon needed): two stages
from one pinned base, no compilers and no root in the final one, a health check on /health/live;
compose migrates first, runs exactly one beat and holds no secret."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
IMAGE_UID = "10001"  # k8s/base: runAsUser
COMPILERS = re.compile(r"\b(gcc|g\+\+|cc|clang|build-essential|make|libpq-dev|python3-dev)\b")
# name:X.Y.Z[-variant][@sha256:<64 hex>], e.g. python:3.11.14-slim-bookworm@sha256:...
PINNED = re.compile(r"^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$")
SECRET_LIKE = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY")


@dataclass
class Stage:
    image: str
    name: str | None
    lines: list[str] = field(default_factory=list)


def instructions(text: str) -> list[str]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    joined: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    return joined


def stages(text: str) -> list[Stage]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for line in instructions(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not found and "=" in rest:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip().strip('"')
        elif keyword == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            found.append(Stage(image=image, name=name))
        elif found:
            found[-1].lines.append(line)
    return found


DOCKERFILE = (DOCKER / "Dockerfile").read_text()


def test_the_image_is_built_in_two_stages_from_one_pinned_base():
    built = stages(DOCKERFILE)
    assert len(built) >= 2
    names = {s.name for s in built if s.name}
    for stage in built:
        if stage.image in names:
            continue  # FROM an earlier stage
        assert PINNED.match(stage.image), f"base image not pinned to an exact version: {stage.image}"
        assert "latest" not in stage.image
    assert len({s.image for s in built}) == 1, "builder and runtime start from the same base"
    assert "@sha256:" in built[-1].image


def test_the_final_stage_runs_as_the_fixed_non_root_user():
    final = stages(DOCKERFILE)[-1]
    users = [line.split(None, 1)[1] for line in final.lines if line.upper().startswith("USER ")]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == IMAGE_UID


def test_the_final_stage_has_no_compilers():
    final = stages(DOCKERFILE)[-1]
    for line in final.lines:
        if line.upper().startswith("RUN "):
            assert not COMPILERS.search(line), line
            assert "apt-get install" not in line, f"the runtime needs no system package: {line}"
    builder = stages(DOCKERFILE)[0]
    assert any("build-essential" in line for line in builder.lines)  # the compilers live in the builder
    assert any(line.startswith("COPY --from=") for line in final.lines)


def test_the_final_stage_collects_static_files_and_checks_liveness():
    final = stages(DOCKERFILE)[-1]
    assert any("collectstatic" in line for line in final.lines if line.startswith("RUN "))
    (check,) = [line for line in final.lines if line.upper().startswith("HEALTHCHECK ")]
    assert "/health/live" in check
    assert any(line.startswith("CMD ") and "start-web.sh" in line for line in final.lines)


def test_local_state_and_env_files_stay_out_of_the_build_context():
    ignored = {line.strip() for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".env", "**/.env", "var", "*.egg-info"} <= ignored


def test_one_start_script_per_process():
    web = (DOCKER / "start-web.sh").read_text()
    worker = (DOCKER / "start-worker.sh").read_text()
    beat = (DOCKER / "start-beat.sh").read_text()
    migrate = (DOCKER / "start-migrate.sh").read_text()
    for script in (web, worker, beat, migrate):
        assert script.startswith("#!/bin/sh") and "set -eu" in script
    code = [line for line in web.splitlines() if not line.lstrip().startswith("#")]
    assert "exec gunicorn config.wsgi \\" in code
    assert not [line for line in code if "manage.py" in line], "the web process never migrates"

    assert '--queues "${CELERY_QUEUES' in worker
    assert "django_celery_beat.schedulers:DatabaseScheduler" in beat
    assert "manage.py migrate --noinput" in migrate and "manage.py setup_schedules" in migrate


# --- compose ------------------------------------------------------------------------------

COMPOSE = yaml.safe_load((DOCKER / "compose.yml").read_text())


def test_compose_migrates_once_before_anything_else_starts():
    services = COMPOSE["services"]
    assert services["migrate"]["command"] == ["/app/docker/start-migrate.sh"]
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        if "build" in service and name != "migrate":
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name


def test_compose_runs_exactly_one_beat_and_a_worker_per_queue_group():
    services = COMPOSE["services"]
    beats = [n for n, s in services.items() if s.get("command") == ["/app/docker/start-beat.sh"]]
    assert beats == ["beat"]
    assert services["beat"]["deploy"]["replicas"] == 1
    queues = [
        q
        for s in services.values()
        if s.get("command") == ["/app/docker/start-worker.sh"]
        for q in s["environment"]["CELERY_QUEUES"].split(",")
    ]
    assert sorted(queues) == ["brokers", "celery", "scheduled", "sequencers"]
    assert "/health/ready" in str(services["web"]["healthcheck"]["test"])


def test_compose_and_the_example_env_hold_no_secret():
    for service in COMPOSE["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_LIKE.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), f"{key} must come from docker/.env"
    example = {}
    for line in (DOCKER / "env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            example[key] = value
    secrets = {k: v for k, v in example.items() if SECRET_LIKE.search(k)}
    assert {"DJANGO_SECRET_KEY", "JWT_SIGNING_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"} <= set(secrets)
    assert all(v == "" for v in secrets.values()), "env.example ships empty secrets: nothing can start on a known one"

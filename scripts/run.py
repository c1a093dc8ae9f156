"""``make run``: the whole service on one machine, with nothing installed but Python.

1. A database: ``DATABASE_URL`` if set, else the embedded PostgreSQL (stopped on exit only if
   this script started it). A broker: ``CELERY_BROKER_URL`` if set, else the settings fall back
   to kombu's filesystem transport under ``var/celery``.
2. ``migrate``, ``collectstatic``, ``seed_demo`` (idempotent demo data) and ``setup_schedules``.
3. Three children: gunicorn (``config.wsgi`` on 127.0.0.1:$PORT, default 8000), a Celery worker
   and the one Celery beat (database scheduler, pid file under ``var/``). With
   ``FIX44_ENABLED=true``, two more: a local FIX venue (``manage.py fix_venue``) and the FIX
   gateway (``manage.py fix_gateway``), and orders go over FIX by default (``DEFAULT_BROKER``).
4. Once ``/health/`` answers, print the URLs and the demo log-ins.

Ctrl-C or SIGTERM stops every child (terminate, wait, then kill), then the embedded database if
this script started it. If a child dies on its own, everything stops and the exit status is 1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from config.embedded import DATA_DIR, embedded_database_url, stop_embedded  # noqa: E402

PY = sys.executable
VAR_DIR = BASE_DIR / "var"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class Shutdown(Exception):
    """A stop was asked for (Ctrl-C or SIGTERM)."""


class ChildFailed(Exception):
    """A setup step failed or a child process died on its own."""


STOP_REQUESTS: list[str] = []  # filled by the signal handler, checked by the loops below


def _on_signal(signum: int, frame: FrameType | None) -> None:
    STOP_REQUESTS.append(signal.Signals(signum).name)


def _check(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    if STOP_REQUESTS:
        raise Shutdown(STOP_REQUESTS[0])
    for name, proc in children:
        if proc.poll() is not None:
            raise ChildFailed(f"the {name} exited unexpectedly with status {proc.returncode}")


def _manage(env: dict[str, str], *args: str) -> None:
    print(f"--> manage.py {' '.join(args)}", flush=True)
    result = subprocess.run([PY, "manage.py", *args], cwd=BASE_DIR, env=env, check=False)
    _check([])
    if result.returncode != 0:
        raise ChildFailed(f"manage.py {' '.join(args)} failed with exit status {result.returncode}")


def _start(name: str, argv: list[str], env: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    # Its own session: a terminal's Ctrl-C reaches only this launcher, which stops the children in
    # order, and a kill of the process group also takes the child's own workers.
    return name, subprocess.Popen(argv, cwd=BASE_DIR, env=env, start_new_session=True)


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, proc in children:
        if proc.poll() is None:
            proc.terminate()  # gunicorn: graceful stop; celery: warm shutdown
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"--> the {name} did not stop within {STOP_TIMEOUT:.0f}s; killing it", flush=True)
            os.killpg(proc.pid, signal.SIGKILL)  # its own process group: its workers too
            proc.wait(timeout=10)


def _fix_commands(env: dict[str, str]) -> dict[str, list[str]]:
    """The local FIX venue and the gateway, when ``FIX44_ENABLED`` (docs/plugins.md)."""
    if env.get("FIX44_ENABLED", "").strip().lower() not in ("1", "true", "yes", "on"):
        return {}
    env.setdefault("DEFAULT_BROKER", "fix44")
    env.setdefault("FIX44_DATA_DIR", str(VAR_DIR / "fix"))
    port = env.setdefault("FIX44_PORT", "9878")
    venue = [PY, "manage.py", "fix_venue", "--port", port, "--data-dir", str(VAR_DIR / "fix-venue")]
    return {"FIX venue": venue, "FIX gateway": [PY, "manage.py", "fix_gateway"]}


def _commands(port: int) -> dict[str, list[str]]:
    beat_dir = VAR_DIR / "celery"
    beat_dir.mkdir(parents=True, exist_ok=True)
    gunicorn = [PY, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--access-logfile", "-"]
    celery = [PY, "-m", "celery", "-A", "config"]
    beat_files = ["--schedule", str(beat_dir / "beat-schedule"), "--pidfile", str(beat_dir / "beat.pid")]
    return {
        # threads: concurrent order requests in one process share a placement transaction (group commit)
        "web server": [*gunicorn, "--workers", "2", "--threads", "8", "--graceful-timeout", "10"],
        "Celery worker": [*celery, "worker", "-l", "info", "--concurrency", "2"],
        "Celery beat": [*celery, "beat", "-l", "info", *beat_files],
    }


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_healthy(url: str, children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        _check(children)
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise ChildFailed(f"{url} did not answer within {STARTUP_TIMEOUT:.0f}s")


def _banner(base_url: str, env: dict[str, str]) -> str:
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")})
    import django

    django.setup()
    from apps.core.management.commands.seed_demo import DEMO_LOGINS

    lines = [
        "",
        "The back office is running (Ctrl-C stops everything):",
        f"  admin    {base_url}/admin/",
        f"  health   {base_url}/health/",
        "Demo log-ins (user / password):",
        *(f"  {user:<11} {password:<16} {role}" for user, password, role in DEMO_LOGINS),
        "",
    ]
    if env.get("DEFAULT_BROKER") == "fix44":
        lines[-1:-1] = [f"Orders go over FIX 4.4 to the local venue on 127.0.0.1:{env.get('FIX44_PORT')}."]
    return "\n".join(lines)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    env["PYTHONUNBUFFERED"] = "1"
    port = int(env.get("PORT") or 8000)
    if not _port_free(port):
        print(f"run: port {port} on 127.0.0.1 is in use; set PORT to a free port.", file=sys.stderr)
        return 1
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)

    started_db = False
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        if not env.get("DATABASE_URL"):
            started_db = not (DATA_DIR / "postmaster.pid").exists()
            print(f"--> embedded PostgreSQL in {DATA_DIR}", flush=True)
            env["DATABASE_URL"] = embedded_database_url()
            _check([])
        _manage(env, "migrate", "--noinput")
        _manage(env, "collectstatic", "--noinput", "-v", "0")
        _manage(env, "seed_demo")
        _manage(env, "setup_schedules")

        fix = _fix_commands(env)
        for name, argv in {**_commands(port), **fix}.items():
            children.append(_start(name, argv, env))

        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(f"{base_url}/health/", children)
        print(_banner(base_url, env), flush=True)
        while True:
            _check(children)
            time.sleep(0.5)
    except Shutdown as stop:
        print(f"\n--> {stop}: stopping", flush=True)
        return 0
    except ChildFailed as exc:
        print(f"run: {exc}; stopping everything.", file=sys.stderr, flush=True)
        return 1
    finally:
        _stop(children)
        if started_db:
            print("--> stopping the embedded PostgreSQL", flush=True)
            stop_embedded()


if __name__ == "__main__":
    sys.exit(main())

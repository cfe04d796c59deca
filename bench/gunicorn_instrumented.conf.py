"""deploy/gunicorn.conf.py unchanged, plus the hooks of bench/instrument.py (bench runs only)."""

from __future__ import annotations

from pathlib import Path

_deploy = Path(__file__).resolve().parents[1] / "deploy" / "gunicorn.conf.py"
exec(compile(_deploy.read_text(), str(_deploy), "exec"))  # noqa: S102 (our own config file)


def post_fork(server: object, worker: object) -> None:
    from bench import instrument

    instrument.install()


def pre_request(worker: object, req: object) -> None:
    from bench import instrument

    instrument.begin()


def post_request(worker: object, req: object, environ: dict, resp: object) -> None:
    from bench import instrument

    instrument.end(environ.get("PATH_INFO", ""))


def worker_exit(server: object, worker: object) -> None:
    from bench import instrument

    instrument.dump()

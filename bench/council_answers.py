"""Benchmark: residents answering a consultation on the last evening, through the real HTTP path.

    .venv/bin/python -m bench.council_answers [--flats 2000] [--clients 16] [--max-seconds 150]

The issue's setting: a big compound of 2,000 flats all answering in the same ten minutes, i.e.
3.3 answers/s sustained. Starts council (gunicorn, instrumented by bench/instrument.py, and its
worker) on the real stack (SecantusDB, RabbitMQ), seeds the household register (`--flats` flats in
buildings of 100), creates and opens a questionnaire (five questions: single, multiple, ranking,
matrix, long text) and issues every flat's slip code through council's own functions, as the
committee and building leaders would. Then each simulated flat does what a phone does, with its own
cookie jar and its own client address (X-Forwarded-For behind one trusted proxy hop, as in
production behind the ingress; per-client rate limits stay on):
`GET /c/<id>` → `POST /c/<id>/code` (slip code) → `GET /c/<id>/answer` → `POST /c/<id>/answer`.

The run is closed-loop with `--clients` concurrent residents, as fast as the server answers, so it
measures the capacity (answers/s) and per-request latencies under saturation; the ten-minute window
needs 3.3/s. It is bounded by `--max-seconds` (the flats not reached by then are reported, not
waited for). At the end every completed answer must be one ballot in the database. The request
split (database / broker / ours) comes from the instrumented gunicorn workers. Writes
bench/results/council_answers.json and .md.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import threading
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench import report
from bench.stack import (
    Stack,
    Watch,
    header_md,
    machine,
    md_table,
    now_iso,
    summary_ms,
    terminate_on_signal,
    write_results,
)
from services.council import consultations, slips
from services.council.bootstrap import bootstrap, ensure_indexes
from shared.auth import Staff
from shared.messaging.envelope import utcnow

COMMUNITY = "lianhua"
WINDOW_SECONDS = 600  # the issue: 2,000 flats in the same ten minutes
FLATS_PER_BUILDING = 100
COMMITTEE = Staff("bench-wei", "魏芳", frozenset({"committee_member"}), community=COMMUNITY)
QUESTIONS = [
    {
        "key": "gate",
        "kind": "single",
        "prompt": "是否同意更换小区大门",
        "mandatory": True,
        "options": [{"key": "yes", "label": "同意"}, {"key": "no", "label": "不同意"}],
    },
    {
        "key": "works",
        "kind": "multiple",
        "prompt": "最需要的改造项目",
        "options": [
            {"key": "paint", "label": "粉刷外墙"},
            {"key": "pave", "label": "硬化庭院"},
            {"key": "heat", "label": "集中供暖"},
            {"key": "cctv", "label": "监控门禁"},
        ],
    },
    {
        "key": "order",
        "kind": "ranking",
        "prompt": "施工先后",
        "options": [
            {"key": "a", "label": "大门"},
            {"key": "b", "label": "楼道"},
            {"key": "c", "label": "庭院"},
        ],
    },
    {
        "key": "service",
        "kind": "matrix",
        "prompt": "对物业服务的评价",
        "rows": [{"key": "clean", "label": "保洁"}, {"key": "guard", "label": "安保"}],
        "options": [
            {"key": "good", "label": "满意"},
            {"key": "fair", "label": "一般"},
            {"key": "bad", "label": "不满意"},
        ],
    },
    {"key": "remarks", "kind": "long_text", "prompt": "其他意见"},
]
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def seed(stack: Stack, flats: int) -> tuple[str, list[str]]:
    """The register, an open questionnaire and every flat's slip code; returns (id, codes)."""
    council = bootstrap(stack.settings)
    ensure_indexes(council.db)
    rows = []
    for i in range(flats):
        building, n = divmod(i, FLATS_PER_BUILDING)
        rows.append(
            {
                "_id": f"bf{i:05d}",
                "community": COMMUNITY,
                "building": str(building + 1),
                "unit": str(n // 25 + 1),
                "flat": f"{n % 25 + 1:02d}01",
                "area_hundredths": 6000 + (i % 50) * 100,
                "owner_names": [f"业主{i}"],
                "phones": [f"139{i:08d}"],
                "owner_key": f"o{i}",
                "occupancy": "owner",
                "developer_held": False,
            }
        )
    council.db.flats.insert_many(rows)
    now = utcnow()
    doc = consultations.create(
        council,
        COMMITTEE,
        {
            "community": COMMUNITY,
            "kind": "questionnaire",
            "title": {"zh-CN": "老旧小区改造意见征询", "en": "Renovation of the old compound"},
            "description": {"zh-CN": "每户一份。", "en": "One answer per flat."},
            "questions": QUESTIONS,
            "opens_at": now - timedelta(minutes=1),
            "closes_at": now + timedelta(days=1),
        },
        now - timedelta(minutes=2),
    )
    consultations.open_(council, COMMITTEE, doc["_id"], now)
    codes: list[str] = []
    for building in sorted({r["building"] for r in rows}, key=int):
        codes += [f["code"] for f in slips.issue(council, COMMITTEE, doc["_id"], building, now)]
    return doc["_id"], codes


class Phone:
    """One resident's browser: a keep-alive connection, a cookie jar and a client address."""

    def __init__(self, base: str, address: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.address = address

    def request(self, method: str, path: str, form: dict[str, Any] | None = None) -> tuple[int, str, float]:
        headers = {"X-Forwarded-For": self.address, "Accept-Language": "zh-CN"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        elapsed = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, text, elapsed

    def close(self) -> None:
        self.conn.close()


def answers(rng: random.Random) -> dict[str, Any]:
    """A plausible filled-in form (field names as the answering page names them)."""
    form: dict[str, Any] = {
        "q-gate": rng.choice(["yes", "yes", "no"]),
        "q-works": rng.sample(["paint", "pave", "heat", "cctv"], rng.randint(1, 3)),
        "q-service-clean": rng.choice(["good", "fair", "bad"]),
        "q-service-guard": rng.choice(["good", "fair", "bad"]),
    }
    order = rng.sample(["a", "b", "c"], 3)
    for position, key in enumerate(order, start=1):
        form[f"q-order-r{position}"] = key
    if rng.random() < 0.3:
        form["q-remarks"] = "希望尽快开工，注意施工安全。"  # noqa: RUF001
    return form


def one_flat(base: str, cid: str, code: str, index: int, rng: random.Random) -> dict[str, Any]:
    """A resident answering start to end; the latency of each step and the flat's total."""
    phone = Phone(base, f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}")
    steps: dict[str, float] = {}
    started = time.perf_counter()
    try:
        status, page, steps["GET /c/<id>"] = phone.request("GET", f"/c/{cid}?lang=zh-CN")
        token = TOKEN.search(page)
        if status != 200 or token is None:
            return {"ok": False, "error": f"start {status}"}
        status, _, steps["POST /c/<id>/code"] = phone.request(
            "POST", f"/c/{cid}/code", {"csrf_token": token.group(1), "code": code}
        )
        if status != 303:
            return {"ok": False, "error": f"code {status}"}
        status, page, steps["GET /c/<id>/answer"] = phone.request("GET", f"/c/{cid}/answer?lang=zh-CN")
        token = TOKEN.search(page)
        if status != 200 or token is None:
            return {"ok": False, "error": f"questions {status}"}
        status, page, steps["POST /c/<id>/answer"] = phone.request(
            "POST", f"/c/{cid}/answer", {"csrf_token": token.group(1), **answers(rng)}
        )
        if status != 303:
            return {"ok": False, "error": f"answer {status}: {page[:200]}"}
    except (OSError, http.client.HTTPException) as err:
        return {"ok": False, "error": type(err).__name__}
    finally:
        phone.close()
    return {"ok": True, "steps": steps, "total": time.perf_counter() - started}


def drive(base: str, cid: str, codes: list[str], clients: int, max_seconds: float) -> dict[str, Any]:
    """`clients` residents at a time until every flat answered or `max_seconds` passed."""
    queue = list(enumerate(codes))
    random.Random(7).shuffle(queue)
    lock = threading.Lock()
    outcomes: list[dict[str, Any]] = []
    completions: list[float] = []
    deadline = time.monotonic() + max_seconds
    started = time.monotonic()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    return
                index, code = queue.pop()
            outcome = one_flat(base, cid, code, index, rng)
            with lock:
                outcomes.append(outcome)
                completions.append(time.monotonic() - started)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ok = [o for o in outcomes if o["ok"]]
    by_step: dict[str, list[float]] = defaultdict(list)
    for o in ok:
        for step, seconds in o["steps"].items():
            by_step[step].append(seconds)
    errors: dict[str, int] = defaultdict(int)
    for o in outcomes:
        if not o["ok"]:
            errors[o["error"]] += 1
    # Steady state: the middle of the run, without the ramp-up and the tail of the last clients.
    middle = [t for t in completions if elapsed * 0.1 <= t <= elapsed * 0.9]
    return {
        "elapsed_seconds": round(elapsed, 1),
        "answered": len(ok),
        "failed": len(outcomes) - len(ok),
        "not_reached": len(queue),
        "errors": dict(errors),
        "answers_per_second": round(len(ok) / elapsed, 2) if elapsed else 0.0,
        "steady_answers_per_second": round(len(middle) / (elapsed * 0.8), 2) if elapsed else 0.0,
        "flat_total_ms": summary_ms([o["total"] for o in ok]),
        "steps_ms": {step: summary_ms(values) for step, values in by_step.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--readme-only",
        action="store_true",
        help="only rewrite bench/README.md's table from the results files",
    )
    parser.add_argument("--flats", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=150.0)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    args = parser.parse_args()
    if args.readme_only:
        report.update_readme()
        return
    result: dict[str, Any] = {
        "at": now_iso(),
        "machine": machine(),
        "settings": {
            "flats": args.flats,
            "clients": args.clients,
            "max_seconds": args.max_seconds,
            "gunicorn_workers": args.gunicorn_workers,
            "requests_per_answer": 4,
        },
    }
    required = args.flats / WINDOW_SECONDS
    with (
        terminate_on_signal(),
        Stack(
            web=("council",),
            workers=("council",),
            gunicorn_workers=args.gunicorn_workers,
            smtp=False,
            instrument=True,
            env={"TRUSTED_PROXY_HOPS": "1"},
        ) as stack,
    ):
        seeded = time.perf_counter()
        cid, codes = seed(stack, args.flats)
        result["seed_seconds"] = round(time.perf_counter() - seeded, 1)
        with Watch(stack) as watch:
            run = drive(stack.url("council"), cid, codes, args.clients, args.max_seconds)
        result["run"] = run
        result["disturbed"] = watch.disturbed
        result["watch"] = watch.report
        ballots = stack.db("council").ballots.count_documents({"consultation_id": cid})
        result["ballots_stored"] = ballots
        result["one_ballot_per_answer"] = ballots == run["answered"]
        result["split"] = stack.profile("council")
    result["required_answers_per_second"] = round(required, 2)
    result["meets_window"] = run["answers_per_second"] >= required and run["failed"] == 0
    write_results("council_answers", result, markdown(result))  # also rewrites the README's table


def markdown(r: dict[str, Any]) -> str:
    run, s = r["run"], r["settings"]
    lines = [
        header_md("Council: residents answering on the last evening", r),
        f"{s['flats']} flats, {s['clients']} residents at a time (closed loop), gunicorn "
        f"{s['gunicorn_workers']} workers; each answer = {s['requests_per_answer']} requests "
        "(start page, slip code, questions, answers). "
        + ("**Disturbed run: rerun.**" if r.get("disturbed") else "Undisturbed."),
        "",
        md_table(
            ["figure", "value", "target", "met"],
            [
                [
                    "answers/s (whole run)",
                    run["answers_per_second"],
                    f"≥ {r['required_answers_per_second']} ({s['flats']} in 10 min)",
                    "yes" if r["meets_window"] else "no",
                ],
                ["answers/s (steady, middle 80 %)", run["steady_answers_per_second"], "", ""],
                [
                    "answered / failed / not reached",
                    f"{run['answered']} / {run['failed']} / {run['not_reached']} "
                    f"in {run['elapsed_seconds']} s",
                    "0 failed",
                    "yes" if run["failed"] == 0 else "no",
                ],
                [
                    "ballots stored = answers",
                    r["ballots_stored"],
                    "equal",
                    "yes" if r["one_ballot_per_answer"] else "no",
                ],
                [
                    "one resident start to end (ms)",
                    f"p50 {run['flat_total_ms']['p50']}, p95 {run['flat_total_ms']['p95']}, "
                    f"p99 {run['flat_total_ms']['p99']}",
                    "",
                    "",
                ],
            ],
        ),
        "",
        "Per request (client side, ms) and where the server's time goes (instrumented gunicorn; the "
        "split is per path, so GET and POST of /c/<id>/answer share one row of server figures):",
        "",
        md_table(
            ["request", "p50", "p95", "p99", "server ms", "database ms (calls)", "database share"],
            [
                [
                    step,
                    v["p50"],
                    v["p95"],
                    v["p99"],
                    _split(r, step).get("server_ms_per_request", ""),
                    f"{_split(r, step).get('database_ms', '')} ({_split(r, step).get('database_calls', '')})",
                    _split(r, step).get("database_share", ""),
                ]
                for step, v in run["steps_ms"].items()
            ],
        ),
    ]
    if run["errors"]:
        lines += ["", f"Errors: {run['errors']}"]
    return "\n".join(lines)


def _split(r: dict[str, Any], step: str) -> dict[str, Any]:
    """The instrumented split of a step's path (`/c/<id>...` with the consultation's id put back)."""
    method, path = step.split(" ", 1)
    del method
    for key, value in r.get("split", {}).items():
        if re.fullmatch(path.replace("<id>", "[^/]+"), key):
            return value
    return {}


if __name__ == "__main__":
    main()

"""The viewer's web app: server-rendered pages over the query layer, GET only, no scripts.

Jinja2 autoescapes every value, and the Content-Security-Policy forbids scripts outright, so a
generated text or row value holding HTML or `<script>` stays inert text twice over.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware

from jobs.errors import InputError
from jobs.quality import truncation_warning
from jobs.query import load_committed_runs, run_row
from jobs.state import RecordCache
from jobs.ui.chart import night_chart
from jobs.ui.images import ImageIndex, image_for
from jobs.ui.rows import PAGE_SIZE, RowFilters, age, connection, diff_pieces, prompts, rows_page
from schemas.state import RunStateName

HERE = Path(__file__).resolve().parent
POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


LOCAL_HOSTS = ("127.0.0.1", "localhost")


def create_app(output_uri: str, *, page_size: int = PAGE_SIZE, hosts: tuple[str, ...] = ()) -> FastAPI:
    """The read-only viewer of the committed runs under one output root. Only requests naming
    this machine (`127.0.0.1`, `localhost`) or one of `hosts` in their Host header are answered,
    on any port; any other gets 400: a page of another origin cannot read outputs through DNS
    rebinding (its requests carry its own host name)."""
    app = FastAPI(title="pressroom", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[*LOCAL_HOSTS, *hosts])
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(output_uri=output_uri, with_params=with_params)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # Manifests read once and kept by their listing's ETag: a page costs one listing per job and
    # the reads of what changed since the last page, not a read of every manifest under the root.
    cache = RecordCache()
    images = ImageIndex()  # where each row of an input file lies: one row group read per image

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(InputError)
    async def _missing(request: Request, exc: InputError):
        return templates.TemplateResponse(request, "missing.html", {"message": str(exc)}, status_code=404)

    @app.get("/", response_class=HTMLResponse)
    def jobs(request: Request):
        committed = load_committed_runs(output_uri, cache=cache)
        by_job = defaultdict(list)
        for run in committed.runs:
            by_job[run.job].append(run_row(run))
        rows = []
        for job, runs in sorted(by_job.items()):
            last = max(runs, key=lambda r: (r["finished_at"], r["run_id"]))
            rows.append(
                {**last, "age": age(last["finished_at"]), "nights": len(runs), "latest": committed.latest.get(job)}
            )
        return templates.TemplateResponse(request, "jobs.html", {"jobs": rows, "unreadable": committed.unreadable})

    @app.get("/jobs/{job}", response_class=HTMLResponse)
    def job_history(request: Request, job: str):
        committed = load_committed_runs(output_uri, job=job, cache=cache)
        runs = sorted((run_row(r) for r in committed.runs), key=lambda r: (r["finished_at"], r["run_id"]))
        if not runs:
            raise InputError(f"job {job} has no committed run under {output_uri}")
        return templates.TemplateResponse(
            request,
            "job.html",
            {
                "job": job,
                "runs": runs[::-1],
                "latest": committed.latest.get(job),
                "chart": night_chart(runs),
                "unreadable": committed.unreadable,
            },
        )

    @app.get("/jobs/{job}/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, job: str, run_id: str, filters: Annotated[RowFilters, Query()]):
        con, committed = connection(output_uri, job, cache)
        run = committed.run(job, run_id)
        rows = rows_page(con, run, filters.query(size=page_size))
        return templates.TemplateResponse(
            request,
            "run.html",
            {
                "job": job,
                "run": run,
                "manifest": run.manifest,
                "page": rows,
                "prompts": prompts(run, rows.rows),
                "latest": committed.latest.get(job),
                "params": _params(request),
                "truncation": truncation_warning(run.manifest),
                "has_earlier": bool(_earlier_runs(committed, run)),
            },
        )

    @app.get("/jobs/{job}/runs/{run_id}/image")
    def image(job: str, run_id: str, id: str):
        run = load_committed_runs(output_uri, job=job, cache=cache).run(job, run_id)
        found = image_for(run, id, images)
        if isinstance(found, str):
            return Response(found, status_code=404, media_type="text/plain; charset=utf-8")
        data, media_type = found
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/jobs/{job}/compare", response_class=HTMLResponse)
    def compare(
        request: Request, job: str, a: str | None = None, b: str | None = None, change: str | None = None, page: int = 1
    ):
        con, committed = connection(output_uri, job, cache)
        runs = _succeeded_runs(committed)
        newer = committed.run(job, b or "latest")
        if a is None:
            earlier = _earlier_runs(committed, newer)
            if not earlier:
                raise InputError(f"job {job}: run {newer.run_id} has no earlier committed run to compare with")
            older = earlier[-1]
        else:
            older = committed.run(job, a)
        counts = dict(
            con.execute(
                "SELECT change, count(*) FROM changes(?, ?, ?) GROUP BY 1", [job, older.run_id, newer.run_id]
            ).fetchall()
        )
        size = page_size
        kind = change if change in ("added", "removed", "changed") else None
        sql = (
            "SELECT * FROM changes(?, ?, ?)"
            + (" WHERE change = ?" if kind else "")
            + " ORDER BY change, row_id, sample_index LIMIT ? OFFSET ?"
        )
        params = [job, older.run_id, newer.run_id, *([kind] if kind else []), size, (max(page, 1) - 1) * size]
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        for row in rows:
            row["pieces"] = diff_pieces(row["text_a"], row["text_b"]) if row["change"] == "changed" else []
        total = sum(counts.get(k, 0) for k in ([kind] if kind else ("added", "removed", "changed")))
        return templates.TemplateResponse(
            request,
            "compare.html",
            {
                "job": job,
                "a": older,
                "b": newer,
                "runs": runs[::-1],
                "counts": counts,
                "rows": rows,
                "change": kind,
                "page": max(page, 1),
                "pages": max(1, -(-total // size)),
                "params": _params(request),
            },
        )

    return app


def with_params(params: dict[str, str], **changes) -> str:
    """'?a=1&page=2': the page's query with some parameters changed (None drops one)."""
    from urllib.parse import urlencode

    merged = {**params, **dict(changes.items())}
    return "?" + urlencode({k: v for k, v in merged.items() if v is not None and v != ""})


def _params(request: Request) -> dict[str, str]:
    """The page's query parameters, for links that change one of them."""
    return {k: v for k, v in request.query_params.items() if v != ""}


def _succeeded_runs(committed) -> list:
    """The job's succeeded runs, oldest commit first: what "compare" chooses from."""
    succeeded = (r for r in committed.runs if r.manifest.state == RunStateName.SUCCEEDED)
    return sorted(succeeded, key=lambda r: (r.manifest.finished_at, r.run_id))


def _earlier_runs(committed, run) -> list:
    """The succeeded runs committed before `run`, oldest first."""
    before = (run.manifest.finished_at, run.run_id)
    return [r for r in _succeeded_runs(committed) if (r.manifest.finished_at, r.run_id) < before]

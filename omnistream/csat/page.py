"""The public survey page: GET /csat/{token} (a form: 1-5 and a comment box) and POST
/csat/{token} (the answer), no sign-in: the token is the key.

The token is 32 random bytes (URL-safe base64) in the survey's link; only its SHA-256 is
stored (csat_surveys.token_hash). The page speaks the survey's language. Answers: 404 for
an unknown (forged) token, 410 once the survey has expired (7 days after it was sent),
409 when it is answered already (first answer wins, by the page or a tap), 413 for a body
over MAX_BODY bytes, 422 for a score outside 1-5 or a comment over FEEDBACK_MAX
characters. Each survey takes one answer, so a token cannot be used to write more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.context import Ctx
from omnistream.csat import queries, service
from omnistream.csat.schemas import DEFAULT_TEXTS, FEEDBACK_MAX, SurveyTexts
from omnistream.db.pool import transaction
from omnistream.events.outbox import emit_many

router = APIRouter(tags=["csat"])
Public = Annotated[None, requires(Perm.PUBLIC)]
MAX_BODY = 16 * 1024  # a score and a 2000-character comment, percent-encoded, fit easily
MAX_TOKEN = 100
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;"
    "color:#1f2933}fieldset{border:0;padding:0;display:flex;flex-direction:column;gap:.5rem}"
    "label{display:block}textarea{width:100%;min-height:6rem}button{margin-top:1rem;"
    "padding:.5rem 1.5rem}"
)


def _page(status: int, language: str, title: str, body: str) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _message(status: int, language: str, texts: SurveyTexts, text: str) -> HTMLResponse:
    return _page(status, language, texts.page_title, f"<p>{escape(text)}</p>")


def _invalid() -> HTMLResponse:
    """404 in both languages: an unknown token says nothing about the survey."""
    en, id_ = DEFAULT_TEXTS["en"], DEFAULT_TEXTS["id"]
    body = f'<p>{escape(en.page_invalid)}</p><p lang="id">{escape(id_.page_invalid)}</p>'
    return _page(404, "en", en.page_title, body)


def _form(texts: SurveyTexts, language: str, error: str | None = None) -> HTMLResponse:
    choices = "".join(
        f'<label><input type="radio" name="score" value="{n}" required> {escape(label)}</label>'
        for n, label in enumerate(texts.options, start=1)
    )
    problem = f'<p role="alert">{escape(error)}</p>' if error else ""
    body = (
        f'{problem}<form method="post"><p>{escape(texts.question)}</p>'
        f"<fieldset>{choices}</fieldset>"
        f'<p><label for="comment">{escape(texts.page_comment)}</label>'
        f'<textarea id="comment" name="comment" maxlength="{FEEDBACK_MAX}"></textarea></p>'
        f'<button type="submit">{escape(texts.page_submit)}</button></form>'
    )
    return _page(422 if error else 200, language, texts.page_title, body)


def _expired(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= datetime.now(UTC)


@router.get("/csat/{token}", include_in_schema=False)
async def survey_page(ctx: Ctx, token: str, _: Public) -> HTMLResponse:
    if len(token) > MAX_TOKEN:
        return _invalid()
    async with ctx.pool.acquire() as conn:
        survey = await queries.by_token(conn, service.token_hash(token), lock=False)
        if survey is None:
            return _invalid()
        texts = (await service.get_settings(conn)).texts.of(survey["language"])
    language = survey["language"]
    if _expired(survey["expires_at"]):
        return _message(410, language, texts, texts.page_expired)
    if survey["status"] == "answered":
        return _message(200, language, texts, texts.page_done)
    return _form(texts, language)


@router.post("/csat/{token}", include_in_schema=False)
async def answer_page(ctx: Ctx, token: str, request: Request, _: Public) -> HTMLResponse:
    if len(token) > MAX_TOKEN:
        return _invalid()
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return _page(413, "en", "413", "<p>Too large.</p>")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            return _page(413, "en", "413", "<p>Too large.</p>")
    form = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=10)
    async with transaction(ctx.pool) as tx:
        conn = tx.conn
        survey = await queries.by_token(conn, service.token_hash(token), lock=True)
        if survey is None:
            return _invalid()
        language = survey["language"]
        texts = (await service.get_settings(conn)).texts.of(language)
        if _expired(survey["expires_at"]):
            return _message(410, language, texts, texts.page_expired)
        if survey["status"] == "answered":
            return _message(409, language, texts, texts.page_done)
        score = (form.get("score") or [""])[0]
        comment = (form.get("comment") or [""])[0].strip()
        if score not in ("1", "2", "3", "4", "5"):
            return _form(texts, language, "score: choose 1 to 5")
        if len(comment) > FEEDBACK_MAX:
            return _form(texts, language, f"comment: at most {FEEDBACK_MAX} characters")
        now = datetime.now(UTC)
        row = await queries.record_answer(
            conn,
            survey["id"],
            score=int(score),
            responded_at=now,
            answered_via="page",
            answer_message_id=None,
            feedback=comment or None,
            feedback_at=now if comment else None,
        )
        await emit_many(conn, [service.answered_draft(row)])
    return _message(200, language, texts, texts.page_done)

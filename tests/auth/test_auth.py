"""Login, lockout, refresh rotation, logout, token validation, password change."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest

from omnistream.auth import tokens
from omnistream.auth.passwords import Passwords
from tests.conftest import PASSWORD, Actors, Agent, fields, problem

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


async def login(client, email: str, password: str):
    return await client.post(LOGIN, json={"email": email, "password": password})


async def test_good_login_returns_token_pair_and_logs(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent", login=False)
    r = await login(client, agent.email.upper(), PASSWORD)  # emails are case-insensitive
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(agent.id) and claims["exp"] - claims["iat"] == 900
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == str(agent.id)
    assert "password_hash" not in me.text
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT agent_id, action FROM activity_logs WHERE action='login'")
        stored = await conn.fetchval("SELECT count(*) FROM refresh_tokens")
    assert row["agent_id"] == agent.id
    assert stored == 1
    async with ctx.pool.acquire() as conn:
        hashes = await conn.fetch("SELECT token_hash FROM refresh_tokens")
    assert body["refresh_token"].encode() not in [h["token_hash"] for h in hashes]


async def test_bad_logins(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent", login=False)
    problem(await login(client, agent.email, "wrong password"), 401)
    problem(await login(client, "nobody@example.com", PASSWORD), 401)
    body = problem(await client.post(LOGIN, json={"email": agent.email}), 422)
    assert fields(body) == {"password"}
    body = problem(
        await client.post(
            LOGIN, content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
    )
    assert body["type"].endswith("malformed-json")
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT agent_id, metadata_json FROM activity_logs WHERE action='login_failed' ORDER BY created_at"
        )
    assert [r["agent_id"] for r in rows] == [agent.id, None]
    assert rows[1]["metadata_json"]["email"] == "nobody@example.com"


async def test_lockout_and_expiry(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent", login=False)
    for _ in range(5):
        problem(await login(client, agent.email, "nope-nope"), 401)
    locked = problem(await login(client, agent.email, PASSWORD), 429)  # even the right password
    retry = int((await login(client, agent.email, PASSWORD)).headers["Retry-After"])
    assert 880 <= retry <= 900, retry
    assert locked["retry_after"] > 0
    # Said in whole minutes, rounded up (15 for a 900 s window); the seconds stay exact.
    assert locked["detail"].endswith("; try again in 15 minutes")
    # Another email is not affected.
    other = await actors.make("agent", login=False)
    assert (await login(client, other.email, PASSWORD)).status_code == 200
    # The window passes: move the recorded failures 16 minutes into the past.
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE login_attempts SET attempted_at = attempted_at - interval '16 minutes'"
        )
    assert (await login(client, agent.email, PASSWORD)).status_code == 200
    async with ctx.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM activity_logs WHERE action='login_locked'")
            == 2
        )


async def test_success_resets_failure_count(client, actors: Actors) -> None:
    agent = await actors.make("agent", login=False)
    for _ in range(4):
        problem(await login(client, agent.email, "nope-nope"), 401)
    assert (await login(client, agent.email, PASSWORD)).status_code == 200
    for _ in range(4):
        problem(await login(client, agent.email, "nope-nope"), 401)
    assert (await login(client, agent.email, PASSWORD)).status_code == 200


async def test_parallel_guesses_cannot_exceed_limit(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent", login=False)
    results = await asyncio.gather(*(login(client, agent.email, f"guess-{i}") for i in range(12)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(401) == 5 and codes.count(429) == 7, codes


async def test_refresh_rotation_and_reuse(client, actors: Actors) -> None:
    agent = await actors.make("agent")
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": agent.refresh})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["refresh_token"] != agent.refresh
    assert (
        await client.get(ME, headers={"Authorization": f"Bearer {new['access_token']}"})
    ).status_code == 200
    # The used token is refused, and its reuse ends the session (theft response).
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": agent.refresh}), 401)
    problem(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]}), 401
    )
    problem(await client.get(ME, headers={"Authorization": f"Bearer {new['access_token']}"}), 401)
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43}), 401)
    body = problem(await client.post("/api/v1/auth/refresh", json={}), 422)
    assert fields(body) == {"refresh_token"}


async def test_logout_ends_session(client, actors: Actors) -> None:
    agent = await actors.make("agent")
    other = await actors.login(Agent(agent.id, agent.email, PASSWORD, "agent"))
    assert (await client.post("/api/v1/auth/logout", headers=agent.headers)).status_code == 204
    problem(await client.get(ME, headers=agent.headers), 401)
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": agent.refresh}), 401)
    # Only that session ended.
    assert (await client.get(ME, headers=other.headers)).status_code == 200


async def test_deactivated_agent(client, actors: Actors, admin: Agent) -> None:
    agent = await actors.make("agent")
    r = await client.patch(
        f"/api/v1/agents/{agent.id}", json={"is_active": False}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    problem(await client.get(ME, headers=agent.headers), 401)
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": agent.refresh}), 401)
    body = problem(await login(client, agent.email, PASSWORD), 401)
    assert "deactivated" in body["detail"]


async def test_deactivation_reaches_other_processes_cache(
    client, actors: Actors, admin: Agent, ctx
) -> None:
    """A change made outside this process (another API) arrives by NOTIFY and evicts at once."""
    agent = await actors.make("agent")
    assert (await client.get(ME, headers=agent.headers)).status_code == 200  # now cached
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE agents SET is_active = false WHERE id = $1", agent.id)
        await conn.execute("SELECT pg_notify('omnistream_auth', $1)", str(agent.id))
    for _ in range(50):
        if (await client.get(ME, headers=agent.headers)).status_code == 401:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the cached principal survived the notification")


async def test_expired_and_tampered_tokens(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent")
    claims = jwt.decode(agent.token, options={"verify_signature": False})
    key = ctx.settings.signing_key
    expired = jwt.encode(
        {**claims, "iat": int(time.time()) - 1000, "exp": int(time.time()) - 10},
        key,
        algorithm="HS256",
    )
    assert (
        "expired"
        in problem(await client.get(ME, headers={"Authorization": f"Bearer {expired}"}), 401)[
            "detail"
        ]
    )
    foreign = jwt.encode(claims, "another-key-" + "y" * 40, algorithm="HS256")
    problem(await client.get(ME, headers={"Authorization": f"Bearer {foreign}"}), 401)
    head, _payload, sig = agent.token.split(".")
    forged = dict(claims, sub="00000000-0000-0000-0000-000000000001")
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    problem(
        await client.get(ME, headers={"Authorization": f"Bearer {head}.{forged_payload}.{sig}"}),
        401,
    )
    none_alg = jwt.encode(claims, None, algorithm="none")
    problem(await client.get(ME, headers={"Authorization": f"Bearer {none_alg}"}), 401)
    # A valid signature on a session that is not the agent's is refused too.
    wrong_session = tokens.issue_access(key, agent.id, agent.id, 60)
    problem(await client.get(ME, headers={"Authorization": f"Bearer {wrong_session}"}), 401)
    problem(await client.get(ME), 401)
    problem(await client.get(ME, headers={"Authorization": "Basic abc"}), 401)
    r = await client.get(ME)
    assert r.headers["www-authenticate"] == "Bearer"


async def test_password_change_revokes_other_sessions(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent")
    other = await actors.login(Agent(agent.id, agent.email, PASSWORD, "agent"))
    url = "/api/v1/auth/password"
    body = problem(
        await client.post(
            url,
            json={"current_password": "wrong!!", "new_password": "n3w-secret-pass"},
            headers=agent.headers,
        ),
        422,
    )
    assert fields(body) == {"current_password"}
    body = problem(
        await client.post(
            url, json={"current_password": PASSWORD, "new_password": "short"}, headers=agent.headers
        ),
        422,
    )
    assert fields(body) == {"new_password"}
    r = await client.post(
        url,
        json={"current_password": PASSWORD, "new_password": "n3w-secret-pass"},
        headers=agent.headers,
    )
    assert r.status_code == 204, r.text
    assert (await client.get(ME, headers=agent.headers)).status_code == 200
    problem(await client.get(ME, headers=other.headers), 401)
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": other.refresh}), 401)
    problem(await login(client, agent.email, PASSWORD), 401)
    assert (await login(client, agent.email, "n3w-secret-pass")).status_code == 200
    async with ctx.pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM activity_logs WHERE action='password_changed'"
            )
            == 1
        )


async def test_rehash_when_parameters_change(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent", login=False)
    async with ctx.pool.acquire() as conn:
        before = await conn.fetchval("SELECT password_hash FROM agents WHERE id=$1", agent.id)
    assert before.startswith("$argon2id$") and "t=1," in before
    original = ctx.passwords
    ctx.passwords = Passwords(time_cost=2, memory_kib=2048, parallelism=1)
    try:
        assert (await login(client, agent.email, PASSWORD)).status_code == 200
    finally:
        ctx.passwords = original
    async with ctx.pool.acquire() as conn:
        after = await conn.fetchval("SELECT password_hash FROM agents WHERE id=$1", agent.id)
    assert after != before and "m=2048,t=2," in after
    assert (await login(client, agent.email, PASSWORD)).status_code == 200


async def test_last_seen_updated(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent")
    assert (await client.get(ME, headers=agent.headers)).status_code == 200
    for _ in range(50):
        async with ctx.pool.acquire() as conn:
            seen = await conn.fetchval("SELECT last_seen_at FROM agents WHERE id=$1", agent.id)
        if seen is not None:
            break
        await asyncio.sleep(0.02)
    assert seen is not None
    # At most once a minute: a second request does not move it.
    await client.get(ME, headers=agent.headers)
    await asyncio.sleep(0.1)
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT last_seen_at FROM agents WHERE id=$1", agent.id) == seen


async def test_wrong_current_passwords_count_against_the_login_limit(
    client, actors: Actors, ctx
) -> None:
    """A stolen access token must not allow unlimited guesses of the password."""
    agent = await actors.make("agent")
    url = "/api/v1/auth/password"

    async def change(current: str):
        body = {"current_password": current, "new_password": "n3w-secret-pass"}
        return await client.post(url, json=body, headers=agent.headers)

    for i in range(5):
        assert fields(problem(await change(f"guess-{i}-xx"), 422)) == {"current_password"}
    locked = await change(PASSWORD)  # even the right one, until the window passes
    problem(locked, 429)
    assert 880 <= int(locked.headers["Retry-After"]) <= 900
    problem(await login(client, agent.email, PASSWORD), 429)  # the same limit as sign-in
    async with ctx.pool.acquire() as conn:
        failed = await conn.fetchval(
            "SELECT count(*) FROM activity_logs WHERE action = 'password_change_failed' "
            "AND agent_id = $1",
            agent.id,
        )
        assert failed == 5
        await conn.execute(
            "UPDATE login_attempts SET attempted_at = attempted_at - interval '16 minutes'"
        )
    assert (await change(PASSWORD)).status_code == 204


async def test_a_successful_refresh_is_in_the_activity_log(client, actors: Actors, ctx) -> None:
    agent = await actors.make("agent")
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": agent.refresh})
    assert r.status_code == 200
    async with ctx.pool.acquire() as conn:
        logged = await conn.fetchval(
            "SELECT count(*) FROM activity_logs WHERE action = 'refresh' AND agent_id = $1",
            agent.id,
        )
    assert logged == 1

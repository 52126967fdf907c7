"""The first admin's password is never lost: a start that failed after creating the admin,
or a password nobody used, is followed by a start that shows a new, working one; once
somebody signed in no start prints a password, and an admin made with `create-admin`
keeps its own."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import asyncpg

from tests.cli.serving import BIN, PANEL_PASSWORD, Serve, cli_env, login
from tests.processes import free_port


async def test_a_start_that_failed_after_creating_the_admin_is_followed_by_a_usable_password(
    fresh_dsn: str, tmp_path: Path
) -> None:
    env = cli_env(fresh_dsn, tmp_path / "var")
    with socket.socket() as taken:  # something else holds the sandbox's port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        failed = Serve(env | {"OMNISTREAM_SANDBOX_PORT": str(taken.getsockname()[1])}, "--demo")
        failed.finish()
    assert failed.proc.returncode != 0
    assert "OMNISTREAM_SANDBOX_PORT" in failed.stderr  # what to do about it
    assert "password" not in failed.stdout  # a start that fails shows no password
    conn = await asyncpg.connect(fresh_dsn)
    try:  # ... after the admin was created: its password was never shown
        assert await conn.fetchval("SELECT count(*) FROM agents WHERE role = 'admin'") == 1
    finally:
        await conn.close()

    second = Serve(env | {"OMNISTREAM_SANDBOX_PORT": str(free_port())}, "--demo")
    password = second.wait_for_stdout(PANEL_PASSWORD)[1]
    second.wait_ready()
    signed_in = login(second.base, "admin@example.com", password)
    second.stop()
    assert signed_in.status_code == 200, signed_in.text
    assert "was never used" in second.stdout and "replaced" in second.stdout

    # Somebody signed in: no later start prints or changes a password.
    third = Serve(env)
    third.wait_ready()
    still = login(third.base, "admin@example.com", password)
    third.stop()
    assert still.status_code == 200, still.text
    assert third.proc.returncode == 0
    assert "password" not in third.stdout, third.stdout


async def test_an_unused_password_is_replaced_on_the_next_start_and_the_old_one_stops_working(
    fresh_dsn: str, tmp_path: Path
) -> None:
    env = cli_env(fresh_dsn, tmp_path / "var", OMNISTREAM_NEW_ADMIN_PASSWORD="chosen-by-the-boss")
    first = Serve(env)
    old = first.wait_for_stdout(PANEL_PASSWORD)[1]
    first.stop()
    assert "account created" in first.stdout and "never used" not in first.stdout
    made = subprocess.run(  # an admin with a password of its own, not signed in yet either
        [str(BIN), "create-admin", "--email", "boss@example.com", "--name", "Boss"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr

    second = Serve(env)
    new = second.wait_for_stdout(PANEL_PASSWORD)[1]
    second.wait_ready()
    refused = login(second.base, "admin@example.com", old)
    accepted = login(second.base, "admin@example.com", new)
    boss = login(second.base, "boss@example.com", "chosen-by-the-boss")  # not touched
    second.stop()
    assert new != old
    assert refused.status_code == 401 and accepted.status_code == 200, accepted.text
    assert boss.status_code == 200, boss.text
    conn = await asyncpg.connect(fresh_dsn)
    try:  # the replacement is in the audit trail, with no password in it
        audit = await conn.fetch(
            "SELECT action, agent_id, metadata_json::text AS meta FROM activity_logs "
            "WHERE action IN ('create_agent', 'reset_password') AND target_id = "
            "(SELECT id FROM agents WHERE email = 'admin@example.com') ORDER BY created_at"
        )
    finally:
        await conn.close()
    assert [r["action"] for r in audit] == ["create_agent", "reset_password"]
    assert audit[1]["agent_id"] is None  # done by the system, not by an agent
    assert all(old not in r["meta"] and new not in r["meta"] for r in audit)


async def test_a_process_starting_while_another_shows_the_password_leaves_it_valid(
    fresh_dsn: str, tmp_path: Path
) -> None:
    env = cli_env(fresh_dsn, tmp_path / "var")
    showing = Serve(env)
    try:
        password = showing.wait_for_stdout(PANEL_PASSWORD)[1]
        other = Serve(env)
        other.wait_for_stdout(re.compile(r"shown by another OmniStream process"))
        other.wait_ready()
        via_other = login(other.base, "admin@example.com", password)
        other.stop()
    finally:
        showing.stop()
    assert via_other.status_code == 200, via_other.text
    assert "password:" not in other.stdout

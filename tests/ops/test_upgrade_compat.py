"""A rolling upgrade (docs/operations.md#upgrading): the code from before the newest migration
runs on a database migrated to head, beside the new code, and its main calls work.

The old code is `git archive` of the commit before the newest migration file was added (or
HEAD while that file is not committed yet), run with this checkout's virtualenv. Releases
older than the migration runner that accepts a newer database (omnistream/db/migrate.py)
refuse to start on one; for them the test puts today's runner in the old tree, and
docs/operations.md says so: from such a release, stop the old processes before migrating.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.cli.serving import Serve, cli_env, login
from tests.conftest import scratch_database
from tests.processes import create_admin

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = "omnistream/migrations"
TOLERANT_RUNNER = "another line of versions"  # a phrase only the tolerant runner has
EMAIL, PASSWORD = "upgrade@example.com", "correct horse battery"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _old_commit() -> tuple[str, str]:
    """The commit before the newest migration, and that migration's file name."""
    newest = sorted(p.name for p in (ROOT / MIGRATIONS).glob("*.sql"))[-1]
    try:
        if _git("rev-parse", "--is-shallow-repository") == "true":
            pytest.skip("a shallow clone: the commit before the newest migration is not here")
        added = _git("log", "-1", "--format=%H", "--diff-filter=A", "--", f"{MIGRATIONS}/{newest}")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no git history to take the old code from: {exc}")
    return (_git("rev-parse", f"{added}^") if added else _git("rev-parse", "HEAD")), newest


@pytest.fixture(scope="module")
def old_code(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, bool]:
    """The old tree's directory, its commit, and whether today's runner was put in it."""
    commit, newest = _old_commit()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "omnistream"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    target = tmp_path_factory.mktemp("old-code")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    assert not (target / MIGRATIONS / newest).exists(), f"{commit} already has {newest}"
    runner = target / "omnistream/db/migrate.py"
    patched = TOLERANT_RUNNER not in runner.read_text()
    if patched:
        shutil.copy(ROOT / "omnistream/db/migrate.py", runner)
    return target, commit, patched


@pytest.fixture
async def head_dsn(admin_dsn: str) -> AsyncIterator[str]:
    async for dsn in scratch_database(admin_dsn, "upgrade"):
        yield dsn


@pytest.mark.timeout(180)
async def test_the_code_before_the_newest_migration_runs_on_the_migrated_database(
    old_code: tuple[Path, str, bool], head_dsn: str, tmp_path: Path
) -> None:
    tree, commit, patched = old_code
    env = cli_env(head_dsn, tmp_path, OMNISTREAM_LOG_LEVEL="WARNING")
    create_admin(env, EMAIL, "Upgrade Admin", PASSWORD)  # today's code: migrates to head
    conn = await asyncpg.connect(head_dsn)
    try:
        head = await conn.fetchval("SELECT max(version) FROM schema_migrations")
        contact = await conn.fetchval(
            "INSERT INTO contacts (name, phone) VALUES ('Sari', '6281200000001') RETURNING id"
        )
        conversation = await conn.fetchval(
            "INSERT INTO conversations (contact_id, channel, last_inbound_at) "
            "VALUES ($1, 'whatsapp', now()) RETURNING id",
            contact,
        )
    finally:
        await conn.close()

    which = subprocess.run(
        [sys.executable, "-c", "import omnistream; print(omnistream.__file__)"],
        env=env | {"PYTHONPATH": str(tree)},
        cwd=tmp_path,  # as the console script: its folder (no omnistream), then PYTHONPATH
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert which.startswith(str(tree)), f"the old code is not the one imported: {which}"

    # The console script's own folder comes first on its path, then PYTHONPATH: the old tree.
    old = Serve(env | {"PYTHONPATH": str(tree)})
    new = Serve(env)
    try:
        old.wait_ready()  # /readyz: the old code's migrations are all there
        new.wait_ready()
        token = login(old.base, EMAIL, PASSWORD).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=10) as client:
            listed = await client.get(f"{old.base}/api/v1/conversations", headers=auth)
            assert listed.status_code == 200, listed.text
            assert [c["id"] for c in listed.json()["items"]] == [str(conversation)]
            reply = await client.post(
                f"{old.base}/api/v1/conversations/{conversation}/messages",
                headers=auth,
                json={"type": "text", "text": "Balasan dari versi lama"},
            )
            assert reply.status_code == 201, reply.text
            # The new code reads what the old one wrote, with the same token.
            seen = await client.get(
                f"{new.base}/api/v1/conversations/{conversation}/messages", headers=auth
            )
            assert seen.status_code == 200, seen.text
            texts = [m["content"].get("text") for m in seen.json()["items"]]
            assert "Balasan dari versi lama" in texts
    finally:
        old.stop()
        new.stop()
    conn = await asyncpg.connect(head_dsn)
    try:  # the old process applied nothing and removed nothing
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == head
    finally:
        await conn.close()
    assert "newer OmniStream" in old.stderr, old.stderr[-2000:]
    print(f"old code {commit[:7]} (runner {'from today' if patched else 'its own'}) on {head:04d}")

"""A duplicate contact's 409 names the holder only to a caller who may see it: an agent
must not learn the id (or the existence under an id) of a contact outside their
conversations."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.conftest import Actors, fields, problem

CONTACTS = "/api/v1/contacts"


async def test_duplicate_of_an_invisible_contact_hides_its_id(client, ctx, actors: Actors) -> None:
    div_a, div_b = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[div_a])
    supervisor = await actors.make("supervisor")
    hidden = await factories.contact(ctx, name="Hidden", phone="6281200000001", email="h@x.id")
    await factories.conversation(ctx, contact_id=hidden, division_id=div_b)
    shown = await factories.contact(ctx, name="Shown", phone="6281200000002")
    await factories.conversation(ctx, contact_id=shown, division_id=div_a)

    async def post(who: Any, **body: Any) -> dict[str, Any]:
        r = await client.post(CONTACTS, json={"name": "Dup", **body}, headers=who.headers)
        return problem(r, 409)

    for body, names in (
        ({"phone": "0812 0000 0001"}, {"phone"}),
        ({"email": "H@X.ID"}, {"email"}),
        ({"phone": "6281200000001", "email": "h@x.id"}, {"phone", "email"}),
    ):
        err = await post(agent, **body)
        assert fields(err) == names  # still a 409 naming the field
        assert "existing_contact_id" not in err, err
        assert str(hidden) not in str(err), err
    # Whoever may see the holder learns who it is.
    err = await post(agent, phone="6281200000002")
    assert fields(err) == {"phone"} and err["existing_contact_id"] == str(shown)
    err = await post(supervisor, phone="6281200000001")
    assert err["existing_contact_id"] == str(hidden) and str(hidden) in err["errors"][0]["message"]
    # The same on update: the agent's own visible contact taking the hidden one's phone.
    r = await client.patch(
        f"{CONTACTS}/{shown}", json={"phone": "+62 812 0000 0001"}, headers=agent.headers
    )
    err = problem(r, 409)
    assert fields(err) == {"phone"} and str(hidden) not in r.text
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 2
        assert await conn.fetchval("SELECT phone FROM contacts WHERE id = $1", shown) == (
            "6281200000002"
        )

"""What a query finds: words in English and Indonesian, word beginnings, accents, captions,
notes, contact name / email / phone fragments; the hit shown and its safe snippet."""

from __future__ import annotations

import httpx

from omnistream.context import AppContext
from tests import factories
from tests.conftest import Agent
from tests.search.support import conversation_ids, found, message, note, search


async def test_words_in_english_and_indonesian(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    c1 = await factories.conversation(ctx)
    c2 = await factories.conversation(ctx)
    m1 = await message(ctx, c1, "Halo kak, apakah barang-barang ini READY stock?", minutes=1)
    m2 = await message(ctx, c2, "I need a refund for order 40123, please.", minutes=2)

    items = await found(client, admin, "barang")
    assert conversation_ids(items) == [str(c1)]
    assert items[0]["hit"]["kind"] == "message" and items[0]["hit"]["id"] == str(m1)
    assert conversation_ids(await found(client, admin, "ready STOCK")) == [str(c1)]
    assert conversation_ids(await found(client, admin, "Refund")) == [str(c2)]
    assert conversation_ids(await found(client, admin, "order 40123")) == [str(c2)]
    hit = (await found(client, admin, "refund"))[0]["hit"]
    assert hit["id"] == str(m2)
    assert hit["snippet"] == "I need a <mark>refund</mark> for order 40123, please."
    # No stemming: "refunds" is another word; every word must be in the same message.
    assert await found(client, admin, "refunds") == []
    assert await found(client, admin, "refund barang") == []
    # Only punctuation: no words, no results.
    assert await found(client, admin, "?!") == []


async def test_word_beginnings_and_accents(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    c = await factories.conversation(ctx)
    await message(ctx, c, "Terima kasih, José! Pengiriman ke Surabaya sudah dijadwalkan.")
    assert conversation_ids(await found(client, admin, "pengir")) == [str(c)]
    assert conversation_ids(await found(client, admin, "jose")) == [str(c)]
    assert conversation_ids(await found(client, admin, "JOSÉ")) == [str(c)]
    hit = (await found(client, admin, "suraba"))[0]["hit"]
    assert "<mark>Surabaya</mark>" in hit["snippet"]
    assert "<mark>José</mark>" in (await found(client, admin, "jose"))[0]["hit"]["snippet"]
    # A word's middle is not a beginning (messages are matched by word beginnings).
    assert await found(client, admin, "iriman") == []


async def test_captions_are_searched_and_other_content_is_not(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    c = await factories.conversation(ctx)
    photo = await message(ctx, c, kind="image", caption="foto kerusakan paket")
    await message(ctx, c, kind="reaction")
    items = await found(client, admin, "kerusakan")
    assert items[0]["hit"]["id"] == str(photo)
    assert await found(client, admin, "image") == []


async def test_notes_are_hits_and_the_newest_hit_is_shown(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    c = await factories.conversation(ctx)
    await message(ctx, c, "promo weekend masih berlaku?", minutes=1)
    newer = await message(ctx, c, "promo sudah habis", minutes=5)
    n = await note(ctx, c, "Customer was promised the promo price on Friday", minutes=3)
    items = await found(client, admin, "promo")
    assert len(items) == 1  # one result per conversation
    assert items[0]["hit"] == {
        "kind": "message",
        "id": str(newer),
        "created_at": items[0]["hit"]["created_at"],
        "snippet": "<mark>promo</mark> sudah habis",
        "message_cursor": items[0]["hit"]["message_cursor"],
    }
    hit = (await found(client, admin, "promised friday"))[0]["hit"]
    assert (hit["kind"], hit["id"]) == ("note", str(n))
    around = await client.get(
        f"/api/v1/conversations/{c}/messages",
        params={"cursor": hit["message_cursor"], "limit": 5},
        headers=admin.headers,
    )
    assert [m["content"]["text"] for m in around.json()["items"]] == [
        "promo weekend masih berlaku?"
    ]
    assert hit["snippet"] == (
        "Customer was <mark>promised</mark> the promo price on <mark>Friday</mark>"
    )


async def test_contact_name_email_and_phone_fragments(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    lucia = await factories.contact(
        ctx, name="Lucía Santoso", phone="6281234563456", email="lucia.s@contoh.co.id"
    )
    other = await factories.contact(ctx, name="Budi", phone="6285700001111")
    c = await factories.conversation(ctx, contact_id=lucia)
    await factories.conversation(ctx, contact_id=other)
    for q in ("lucia", "Lucía", "antos", "contoh.co", "0812", "3456", "+62 812", "0812-3456"):
        items = await found(client, admin, q)
        assert conversation_ids(items) == [str(c)], q
        assert items[0]["hit"]["kind"] == "contact" and items[0]["hit"]["id"] == str(lucia)
    snippet = (await found(client, admin, "0812"))[0]["hit"]["snippet"]
    assert snippet == "Lucía Santoso · lucia.s@contoh.co.id · <mark>62812</mark>34563456"
    snippet = (await found(client, admin, "lucia"))[0]["hit"]["snippet"]
    assert snippet.startswith("<mark>Lucía</mark> Santoso · <mark>lucia</mark>.s@")
    # A message hit wins over the contact (it says where to look).
    m = await message(ctx, c, "Lucía here again")
    assert (await found(client, admin, "lucia"))[0]["hit"]["id"] == str(m)


async def test_snippets_are_escaped_and_cut_around_the_match(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    c = await factories.conversation(ctx)
    await message(ctx, c, "<b>refund</b> & <script>alert(1)</script>", minutes=1)
    snippet = (await found(client, admin, "refund"))[0]["hit"]["snippet"]
    assert snippet == (
        "&lt;b&gt;<mark>refund</mark>&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"
    )
    long_text = "kata " * 100 + "invoice 77 " + "lain " * 100
    await message(ctx, c, long_text, minutes=2)
    snippet = (await found(client, admin, "invoice"))[0]["hit"]["snippet"]
    assert snippet.startswith("…") and snippet.endswith("…") and len(snippet) < 220
    assert "<mark>invoice</mark> 77" in snippet


async def test_message_cursor_pages_around_the_hit(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    c = await factories.conversation(ctx)
    ids = [await message(ctx, c, f"pesan nomor {i}", minutes=2 * i) for i in range(7)]
    await message(ctx, c, "the rare zebra word", minutes=7, direction="outbound")
    hit = (await found(client, admin, "zebra"))[0]["hit"]
    base = f"/api/v1/conversations/{c}/messages"
    older = await client.get(
        base, params={"cursor": hit["message_cursor"], "limit": 2}, headers=admin.headers
    )
    newer = await client.get(
        base,
        params={"cursor": hit["message_cursor"], "order": "asc", "limit": 2},
        headers=admin.headers,
    )
    assert [m["id"] for m in older.json()["items"]] == [str(ids[3]), str(ids[2])]
    assert [m["id"] for m in newer.json()["items"]] == [str(ids[4]), str(ids[5])]


async def test_any_characters_are_words_or_nothing(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    c = await factories.conversation(ctx)
    await message(ctx, c, "O'Reilly bilang 100% siap_kirim \\ C:\\temp (ok)")
    for q in ("o'reilly", "100%", "siap_kirim", "C:\\temp", "'", "\\", "%", "_", "&|!:*()", "é"):
        r = await search(client, admin, q)
        assert r.status_code == 200, (q, r.text)
    assert conversation_ids(await found(client, admin, "o'reilly")) == [str(c)]
    assert conversation_ids(await found(client, admin, "siap_kirim")) == [str(c)]
    assert await found(client, admin, "%") == []

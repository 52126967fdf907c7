"""docs/events.md documents every event type with a complete, valid JSON example: each
```json block under an event-type heading parses, is a whole envelope of a type its heading
names, and the conversations, messages, notes, transfers, contacts and outgoing-webhook
endpoints inside carry exactly the API models' fields."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from omnistream.contacts.schemas import ContactOut
from omnistream.conversations.schemas import ConversationOut, TransferOut
from omnistream.events.envelope import EventEnvelope
from omnistream.events.types import EventType
from omnistream.labels.schemas import LabelOut
from omnistream.messages.schemas import MessageOut
from omnistream.notes.schemas import NoteOut
from omnistream.webhooks.schemas import WebhookOut

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
BLOCK = re.compile(r"^```json\n(.*?)^```$", re.S | re.M)


def heading_types(heading: str) -> set[str]:
    """ "scheduled_message.created / .updated" -> {"scheduled_message.created", ...}."""
    names = [n.strip().strip("`") for n in heading.split("/")]
    family = names[0].split(".")[0]
    return {family + n if n.startswith(".") else n for n in names}


def sections() -> list[tuple[str, list[str]]]:
    """(heading, json blocks) of every ### heading under "## Event types"."""
    text = DOC.read_text()
    start = text.index("\n## Event types")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else None]
    parts = re.split(r"^### (.+)$", body, flags=re.M)
    return [(h.strip(), BLOCK.findall(b)) for h, b in zip(parts[1::2], parts[2::2], strict=True)]


def examples() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for heading, blocks in sections():
        for block in blocks:
            try:
                value = json.loads(block)
            except json.JSONDecodeError as exc:
                pytest.fail(f"docs/events.md, {heading!r}: invalid JSON ({exc}):\n{block}")
            out.append((heading, value))
    return out


def test_every_event_type_has_a_valid_example_under_its_heading() -> None:
    found: dict[str, int] = {}
    for heading, example in examples():
        EventEnvelope.model_validate(example)  # id, seq, type, occurred_at, actor, data, …
        assert set(example) == set(EventEnvelope.model_fields), (heading, sorted(example))
        assert example["type"] in heading_types(heading), (heading, example["type"])
        found[example["type"]] = found.get(example["type"], 0) + 1
    missing = sorted(t.value for t in EventType if t.value not in found)
    assert not missing, f"event types without an example in docs/events.md: {missing}"
    unknown = sorted(set(found) - {t.value for t in EventType})
    assert not unknown, f"examples of types the code does not have: {unknown}"


# Objects of `data` whose fields are an API model's (key in data -> model).
NESTED: dict[str, type[BaseModel]] = {
    "conversation": ConversationOut,
    "message": MessageOut,
    "transfer": TransferOut,
    "label": LabelOut,
}
CONTACT_TYPES = {"contact.created", "contact.updated", "contact.deleted", "contact.merged"}
WEBHOOK_TYPES = {"webhook.created", "webhook.updated", "webhook.deleted", "webhook.disabled"}
# The test event's data (webhooks/deliveries.ping_envelope): its `message` is a sentence.
PING_DATA = {"webhook_id", "url", "message"}


def test_example_payloads_have_the_models_fields() -> None:
    checked = 0
    for heading, example in examples():
        data, kind = example["data"], example["type"]
        if kind == "webhook.ping":
            assert set(data) == PING_DATA, heading
            checked += 1
            continue
        for key, model in NESTED.items():
            if key in data:
                assert set(data[key]) == set(model.model_fields), (heading, key)
                model.model_validate(data[key])
                checked += 1
        if kind == "note.created":
            NoteOut.model_validate(data["note"])
            assert set(data["note"]) == set(NoteOut.model_fields)
            checked += 1
        if kind in CONTACT_TYPES:
            extra = {"merged_contact_id"} if kind == "contact.merged" else set()
            assert set(data) == set(ContactOut.model_fields) | extra, heading
            ContactOut.model_validate({k: v for k, v in data.items() if k not in extra})
            checked += 1
        if kind in WEBHOOK_TYPES:
            assert set(data["webhook"]) == set(WebhookOut.model_fields), heading
            WebhookOut.model_validate(data["webhook"])
            assert set(data) == (
                {"webhook", "changed"} if kind == "webhook.updated" else {"webhook"}
            )
            checked += 1
    assert checked >= 18


def test_heading_types_reads_the_short_form() -> None:
    assert heading_types("scheduled_message.created / .updated / .sent") == {
        "scheduled_message.created",
        "scheduled_message.updated",
        "scheduled_message.sent",
    }
    assert heading_types("contact.created / contact.deleted") == {
        "contact.created",
        "contact.deleted",
    }

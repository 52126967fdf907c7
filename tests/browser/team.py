"""Two agents of one division, each in a browser, with customers waiting in the division's
unassigned pool: the start of the tests of what agents see of each other's work live."""

from __future__ import annotations

from playwright.async_api import Locator, Page

from tests.browser.conftest import OpenPage, Person, World


def row(page: Page, name: str) -> Locator:
    """The conversation list's row of a customer."""
    return page.locator(".conv-row", has_text=name)


async def two_agents_and_customers(
    world: World, open_page: OpenPage, agents: tuple[str, str], customers: dict[str, str]
) -> tuple[tuple[Person, Page], tuple[Person, Page]]:
    """Agents named `agents` in a division "Sales", customers (phone -> name) written in and
    moved to it; each agent's inbox open in its own browser page."""
    sales = await world.division("Sales")
    first = await world.agent(name=agents[0], divisions=[sales])
    second = await world.agent(name=agents[1], divisions=[sales])
    for sender, name in customers.items():
        await world.customer(sender, "Halo, tolong dibantu", name=name)
        conversation = await world.conversation_of(sender)
        await world.call(
            "POST",
            f"/api/v1/conversations/{conversation['id']}/transfer",
            json={"division_id": sales, "reason": "triage"},
        )
    return (first, await open_page(first)), (second, await open_page(second))

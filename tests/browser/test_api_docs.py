"""The interactive API docs (/api/v1/docs): Swagger UI 5 served by OmniStream itself renders
the OpenAPI 3.1 document offline, with every operation and its problem+json errors."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Route, expect

from tests.browser.conftest import OpenPage, Stack, shot


async def test_the_docs_list_every_operation_offline(stack: Stack, open_page: OpenPage) -> None:
    page = await open_page(None)
    outside: list[str] = []

    async def only_loopback(route: Route) -> None:
        # The docs must not need the internet: anything not on loopback is refused.
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_loopback)
    await page.goto(f"{stack.url}/api/v1/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("OmniStream API")
    await expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
    document = (await stack.http.get("/api/v1/openapi.json")).json()
    operations = sum(len(ops) for ops in document["paths"].values())
    assert operations > 50
    await expect(page.locator(".opblock")).to_have_count(operations)
    create_division = page.locator("#operations-divisions-create_division_api_v1_divisions_post")
    await expect(create_division.locator(".opblock-summary-path")).to_have_text("/api/v1/divisions")
    await create_division.locator(".opblock-summary").click()
    responses = create_division.locator(".responses-table .response")
    await expect(responses.locator(".response-col_status")).to_contain_text(
        ["201", "400", "401", "403", "409", "413", "422"]
    )
    conflict = responses.filter(has=page.locator(".response-col_status", has_text="409"))
    await expect(conflict.locator(".response-control-media-type")).to_contain_text(
        "application/problem+json"
    )
    await shot(page, "api-docs")
    assert outside == []

"""WhatsApp template API shapes: list and detail, the sync result, and the parameters of a
template send (the `template` member of an agent's reply, messages/schemas.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

# A parameter value: WhatsApp refuses empty ones; the body as a whole is checked after
# rendering (1024 characters).
Value = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
_POSITIONAL: TypeAdapter[list[str]] = TypeAdapter(list[Value])
_NAMED: TypeAdapter[dict[str, str]] = TypeAdapter(dict[str, Value])


class TemplateSummary(BaseModel):
    id: UUID
    integration_id: UUID
    external_id: str | None = Field(description="Meta's template id.")
    name: str
    language: str
    category: Literal["AUTHENTICATION", "MARKETING", "UTILITY"]
    status: Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"]
    status_reason: str | None = Field(description="Meta's reason for the last status change.")
    parameter_format: Literal["POSITIONAL", "NAMED"]
    header_type: Literal["TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"] | None
    body_text: str
    footer_text: str | None
    removed_at_meta: datetime | None = Field(
        description="Set when the template disappeared from Meta's listing (kept, not deleted)."
    )
    synced_at: datetime
    updated_at: datetime


class BodyParameter(BaseModel):
    name: str = Field(description="`1`, `2`, ... (positional) or the placeholder's name.")
    placeholder: str = Field(description="As written in the text, e.g. `{{1}}`.")
    example: str | None = Field(description="Meta's example value, if the template has one.")


class HeaderParameter(BaseModel):
    type: Literal["text", "image", "video", "document", "location"]
    required: bool = Field(description="False: the header is fixed text; send nothing for it.")
    name: str | None = Field(None, description="The placeholder of a text header, if any.")
    media_example_url: str | None = None


class ButtonParameter(BaseModel):
    index: int
    type: str = Field(description="Meta's button type (QUICK_REPLY, URL, COPY_CODE, OTP, ...).")
    text: str
    sub_type: Literal["url", "quick_reply", "copy_code", "flow"] | None = Field(
        description="The sub_type a send names for this button; null: it takes no parameter."
    )
    parameter: Literal["required", "optional", "none"]
    takes: str | None = Field(description="What the parameter is: URL suffix, payload, ...")
    url: str | None = None


class ParameterSpec(BaseModel):
    format: Literal["positional", "named"]
    header: HeaderParameter | None
    body: list[BodyParameter]
    buttons: list[ButtonParameter]
    sendable: bool = Field(description="APPROVED, still at Meta, and of a supported shape.")
    not_sendable_because: str | None = None


class TemplateOut(TemplateSummary):
    header_media_url: str | None = Field(description="Meta's sample of a media header.")
    components: list[dict[str, Any]] = Field(description="Meta's components, as listed.")
    parameters: ParameterSpec


class SyncOut(BaseModel):
    integration_id: UUID
    added: int
    updated: int = Field(description="Changed at Meta (status, text, components) or back again.")
    removed: int = Field(description="No longer listed by Meta: marked removed_at_meta.")
    unchanged: int
    total: int = Field(description="Templates Meta listed.")
    synced_at: datetime


# Sending --------------------------------------------------------------------------------------


class HeaderValue(BaseModel):
    """The header's parameter: {type: text, text} for a text header with a placeholder;
    {type: image|video|document, link, filename?} for a media header; {type: location,
    latitude, longitude, name?, address?}."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "image", "video", "document", "location"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    link: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    filename: Annotated[str, StringConstraints(min_length=1, max_length=240)] | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    name: Annotated[str, StringConstraints(max_length=1000)] | None = None
    address: Annotated[str, StringConstraints(max_length=1000)] | None = None


class ButtonValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, le=9, description="The button's position in the template, from 0.")
    sub_type: Literal["url", "quick_reply", "copy_code", "flow"]
    parameter: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="url: the URL suffix; quick_reply: the payload; copy_code: the code; "
        "flow: the flow token."
    )


class TemplateValues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: HeaderValue | None = None
    body: list[Value] | dict[str, Value] | None = Field(
        None,
        description="Positional templates: a list, the value of {{1}} first. Named templates: "
        'an object, e.g. {"order_id": "A-1001"}.',
    )
    buttons: list[ButtonValue] | None = Field(None, max_length=10)

    @field_validator("body", mode="wrap")
    @classmethod
    def _body(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Validated as the one shape given, so an error names body or body.<n> rather than
        the union's member names (body.list[constrained-str].0, ...)."""
        if value is None:
            return None
        if isinstance(value, list):
            adapter: TypeAdapter[Any] = _POSITIONAL
        elif isinstance(value, dict):
            adapter = _NAMED
        else:
            raise PydanticCustomError(
                "body_type", "must be a list (positional parameters) or an object (named)"
            )
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:  # re-raised with the same locations under body
            raise ValidationError.from_exception_data(
                "body",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(e["type"], e["msg"], e.get("ctx")),
                        loc=e["loc"],
                        input=e["input"],
                    )
                    for e in exc.errors()
                ],
            ) from None


class TemplateSend(BaseModel):
    """Which template (template_id, or name + language, of the conversation's WhatsApp
    integration) and its parameters, checked against its components before Meta is called."""

    model_config = ConfigDict(extra="forbid")

    template_id: UUID | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    language: Annotated[str, StringConstraints(min_length=2, max_length=20)] | None = None
    parameters: TemplateValues = Field(default_factory=TemplateValues)

"""Phone numbers of an audience file read with the shortcut of
omnistream/campaigns/audience_phones.py: always what whatsapp_id reads."""

from __future__ import annotations

import phonenumbers
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata, PhoneNumberType

from omnistream.campaigns.audience_phones import Shortcut, number_reader
from omnistream.contacts.phones import whatsapp_id

BUDI = "6281234567890"  # 0812-3456-7890 in Indonesia

# Regions whose numbers the shortcut reads (Indonesia; Russia, whose national prefix is
# "8", so "8" + a Korean number's WhatsApp id is read as Korean; Italy, with leading zeros;
# the US, whose code is its prefix) and some it leaves to whatsapp_id (Argentina rewrites
# national numbers).
_REGIONS = ["ID", "RU", "IT", "US", "GB", "IN", "MY", "SG", "DE", "BR", "AR"]
_ELSEWHERE = [*_REGIONS, "KR", "JP", "CN", "VN", "FR", "AU", "NG"]


@st.composite
def near(draw: st.DrawFn, region: str) -> str:
    """A national number of `region`, some of its digits changed and some cut off."""
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert example is not None
    national = list(str(example.national_number))
    for _ in range(draw(st.integers(0, 3))):
        national[draw(st.integers(0, len(national) - 1))] = draw(st.sampled_from("0123456789"))
    return "".join(national[: draw(st.integers(1, len(national)))])


@st.composite
def written(draw: st.DrawFn) -> tuple[str, str]:
    """(region, a string of digits as numbers of the region, or of others, are written)."""
    region = draw(st.sampled_from(_REGIONS))
    meta = PhoneMetadata.metadata_for_region(region)
    assert meta is not None
    abroad = draw(st.sampled_from(_ELSEWHERE))
    digits = draw(
        st.one_of(
            st.from_regex(r"\A[0-9]{1,19}\Z"),
            near(region),
            near(abroad).map(lambda n: f"{phonenumbers.country_code_for_region(abroad)}{n}"),
        )
    )
    starts = ["", "0", "00", "+", f"+{meta.country_code}", f"{meta.country_code}"]
    return region, draw(st.sampled_from([*starts, meta.national_prefix_for_parsing or ""])) + digits


@settings(max_examples=1000, deadline=None)
@given(written())
@example(("RU", "82183456389"))  # not a Russian number: a Korean one, read again with "+"
@example(("ID", "(0812) 3456 7890"))  # left to whatsapp_id
@example(("IT", "0612345678"))  # a leading zero is part of an Italian number
def test_the_shortcut_reads_what_whatsapp_id_reads(case: tuple[str, str]) -> None:
    region, raw = case
    assert number_reader(region)(raw) == whatsapp_id(raw, region)


def test_indonesian_numbers_take_the_shortcut() -> None:
    assert Shortcut.of("ID") is not None and Shortcut.of("AR") is None
    read = number_reader("ID")
    for raw in ("081234567890", "+6281234567890", "6281234567890"):
        assert read(raw) == BUDI
    assert read("0812") is None and read("+62812") is None and read("6299") is None

"""The WhatsApp ids of an audience file's numbers: omnistream.contacts.phones.whatsapp_id,
with a shortcut for the three ways a number of the region is usually written.

whatsapp_id(raw, region) reads `raw` with phonenumbers.parse, checks the result with
is_valid_number and formats it (E.164 without "+"); a number written without "+" that does
not start with "0" is read a second time with "+" in front if the first reading is not
valid. parse is two thirds of that time: it looks for a number in any text (RFC 3966,
extensions, letters, punctuation, international prefixes). For the strings below, made of
ASCII digits only, parse's result follows from the region's metadata; the shortcut builds
that PhoneNumber and asks is_valid_number itself, so the answer is whatsapp_id's.
Anything else goes to whatsapp_id.

With C the region's country code (ID: 62), P its national prefix (ID: "0"), M the
region's general number pattern (fullmatch) and L its possible lengths; N, R digit strings
not starting with P or "0":

- national, P N: no "+", no international prefix, not starting with C: parse keeps the
  region's code and strips P (when M does not match P N as it is, and len(N) is in L).
  -> C N if (C, N) is valid; else None when P N starts with "0" (no second reading; for
     another P, such as Russia's "8", whatsapp_id itself reads it again).
- international, "+" C N: C is read off (no shorter prefix of C is a country code), the
  region of C is this one, nothing is stripped from N. No second reading.
  -> C N if (C, N) is valid, else None.
- a WhatsApp id, C R (at most max(L) digits): parse strips C when M matches R but not C R,
  giving (C, R); otherwise it reads C R as a national number, (C, C R). The second reading,
  "+" C R, is (C, R).
  -> C R if (C, R) is valid and M(R) and not M(C R), else C C R if (C, C R) is valid,
     else C R if (C, R) is valid, else None.

The region's facts the shortcut relies on are checked when it is made (Shortcut.of);
tests/campaigns/test_audience_csv.py compares it with whatsapp_id.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from omnistream.contacts.phones import whatsapp_id

_MAX_NSN = 17  # phonenumbers refuses longer national numbers


@functools.cache
def number_reader(region: str) -> Callable[[str], str | None]:
    """A function of a phone string (as the file has it, trimmed) giving what
    whatsapp_id(raw, region) gives."""
    shortcut = Shortcut.of(region)
    return functools.partial(whatsapp_id, region=region) if shortcut is None else shortcut.read


@dataclass(frozen=True, slots=True)
class Shortcut:
    region: str
    code: str  # C
    prefix: str  # P
    general: re.Pattern[str]  # M
    lengths: frozenset[int]  # L
    international: re.Pattern[str] | None  # the region's international (IDD) prefix

    @classmethod
    def of(cls, region: str) -> Shortcut | None:
        """The region's shortcut, or None when its metadata is not of the kind above."""
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None or meta.general_desc is None or meta.country_code is None:
            return None
        code, prefix = str(meta.country_code), meta.national_prefix_for_parsing or ""
        if (
            COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, ())[:1] != (region,)
            or any(int(code[:i]) in COUNTRY_CODE_TO_REGION_CODE for i in range(1, len(code)))
            or not re.fullmatch(r"\d+", prefix)
            or meta.national_prefix_transform_rule
            or not meta.general_desc.national_number_pattern
            or set(meta.general_desc.possible_length_local_only)
            & set(meta.general_desc.possible_length)
        ):
            return None
        idd = meta.international_prefix
        return cls(
            region,
            code,
            prefix,
            re.compile(meta.general_desc.national_number_pattern),
            frozenset(meta.general_desc.possible_length),
            re.compile(idd) if idd else None,
        )

    def read(self, raw: str) -> str | None:
        code, prefix = self.code, self.prefix
        if raw.startswith("+"):
            number = raw[1 + len(code) :]
            if raw[1 : 1 + len(code)] == code and self._national(number):
                return code + number if self._valid(number) else None
        elif raw.isdigit() and raw.isascii() and not self._dialled_abroad(raw):
            if raw.startswith(code):
                rest = raw[len(code) :]
                if (
                    self._national(rest)
                    and len(raw) <= min(max(self.lengths), _MAX_NSN)
                    and not raw.startswith(prefix)
                ):
                    if self.general.fullmatch(rest) and not self.general.fullmatch(raw):
                        return raw if self._valid(rest) else None
                    if self._valid(raw):
                        return code + raw
                    return raw if self._valid(rest) else None
            elif raw.startswith(prefix):
                number = raw[len(prefix) :]
                if (
                    self._national(number)
                    and len(number) in self.lengths
                    and not self.general.fullmatch(raw)
                ):
                    if self._valid(number):
                        return code + number
                    if raw.startswith("0"):  # whatsapp_id reads it a second time otherwise
                        return None
        return whatsapp_id(raw, self.region)

    def _national(self, number: str) -> bool:
        """ASCII digits, not starting with "0" or the national prefix, at most 17."""
        return (
            2 <= len(number) <= _MAX_NSN
            and number.isdigit()
            and number.isascii()
            and number[0] != "0"
            and not number.startswith(self.prefix)
        )

    def _dialled_abroad(self, raw: str) -> bool:
        return self.international is not None and self.international.match(raw) is not None

    def _valid(self, number: str) -> bool:
        found = PhoneNumber(country_code=int(self.code), national_number=int(number))
        return bool(phonenumbers.is_valid_number(found))

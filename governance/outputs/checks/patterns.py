"""Patterns for direct identifiers, written in the common subset of Python `re` and RE2 (Arrow compute)."""

from __future__ import annotations

import re

# Quantifiers are bounded so that Python's backtracking engine stays linear on hostile input (a 1 MB
# line of word characters); the text scanner also anchors the local part with a lookbehind.
EMAIL = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}"
EMAIL_TEXT = r"(?<![A-Za-z0-9._%+-])" + EMAIL
# RE2 (Arrow) runs in linear time whatever the pattern, and is faster with unbounded repetition.
EMAIL_RE2 = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# UK numbers: +44 or 0, then 9-10 more digits in common groupings; international: + and 8-14 digits.
PHONE_UK = r"(?:\+44\s?\(?0?\)?\s?|\b0)\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}\b"
PHONE_INTL = r"\+[1-9]\d{0,2}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}\b"
POSTCODE = r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})\b"
NHS_CANDIDATE = r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b"
ISO_DATE = r"\b(?:18|19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b"
UK_DATE = r"\b(?:0?[1-9]|[12]\d|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:18|19|20)\d{2}\b"
BIRTH_WORDS = r"(?i)\b(?:d\.?o\.?b\.?|date of birth|birth ?date|born(?: on)?)\b"

# Digits glued to a decimal point or an exponent belong to a number (a mean, a coefficient, a standard
# error, a p-value), not to an identifier: in 0.0009765625, 12.3456789012, 9434765919.5 or 1.23e-10 no
# run of digits is a phone or NHS number. A whole number written as a float (9434765919.0, as pandas
# writes an integer column with a gap) is still a whole number and is still caught. These guards need
# look-around, which RE2 lacks: Arrow's RE2 kernels find candidate cells, these confirm them.
NOT_AFTER_NUMBER = r"(?<![\d.])(?<!\d[eE])(?<![eE][+-])"
NOT_BEFORE_FRACTION = r"(?!\.0*[1-9])(?![eE][+-]?\d)"
PHONE_TEXT = re.compile(f"{NOT_AFTER_NUMBER}(?:{PHONE_UK}|{PHONE_INTL}){NOT_BEFORE_FRACTION}")
NHS_TEXT = re.compile(f"{NOT_AFTER_NUMBER}{NHS_CANDIDATE}{NOT_BEFORE_FRACTION}")
_SIGNED_DECIMAL = re.compile(r"\+\d+\.\d+")
_NHS_RE = NHS_TEXT


def nhs_number_is_valid(digits: str) -> bool:
    """Modulus-11 check used by NHS (and CHI) numbers: weights 10..2 on the first nine digits."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def valid_nhs_numbers(text: str) -> list[tuple[int, str]]:
    """(offset, number) for every NHS-number-shaped token in `text` whose check digit is valid (digits
    that are part of a decimal number are not tokens)."""
    return [(start, digits) for start, _end, digits in nhs_number_spans(text)]


def nhs_number_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) of every valid NHS number in `text`."""
    found = []
    for match in _NHS_RE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if nhs_number_is_valid(digits):
            found.append((match.start(), match.end(), digits))
    return found


def phone_number_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every phone number in `text`; a signed decimal (+12.3456789012) is not one."""
    return [
        (match.start(), match.end())
        for match in PHONE_TEXT.finditer(text)
        if not _SIGNED_DECIMAL.fullmatch(match.group())
    ]


# Column names that announce direct identifiers. Matched against the normalised name (lower case,
# words joined by "_").
IDENTIFIER_COLUMNS: tuple[tuple[str, str], ...] = (
    (
        r"^(?:(?:first|last|given|family|full|middle|maiden|patient|person|client|participant)_)?names?$"
        r"|^(?:sur|fore|first|last|given|family)names?$",
        "a personal name",
    ),
    (r"^nhs$|(?:^|_)nhs_?(?:no|num|number|id)(?:_|$)|(?:^|_)chi_(?:no|number)(?:_|$)", "an NHS/CHI number"),
    (
        r"^(?:patient|person|subject|participant|pseudo|client|member|study)_?(?:id|no|number|key)$"
        r"|^mrn$|^hospital_(?:no|number)$|^medical_record_(?:no|number)$|^pid$",
        "a person identifier",
    ),
    (
        r"(?:^|_)(?:ni|national_insurance)_?(?:no|number)(?:_|$)|^ssn$|(?:^|_)passport(?:_|$)",
        "a national ID number",
    ),
    (r"(?:^|_)(?:address|street|addr)(?:_|$)|^address_line", "an address"),
    (r"^(?:post_?code|postal_code|zip|zip_?code)$", "a postcode"),
    (r"(?:^|_)e_?mail(?:_|$)", "an e-mail address"),
    (r"(?:^|_)(?:phone|telephone|mobile|tel)(?:_|$)", "a phone number"),
    (r"^(?:dob|d_o_b|date_of_birth|birth_?date|birthday|born)$|(?:^|_)dob(?:_|$)", "a date of birth"),
    (r"(?:^|_)ip(?:_address)?$", "an IP address"),
)
BIRTH_COLUMN = r"(?:^|_)(?:dob|d_o_b|birth|birthdate|birthday|born)(?:_|$)"
